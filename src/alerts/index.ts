/**
 * Budget alerts delivered as signed webhooks (Standard Webhooks 1.0), with a durable outbox. The server
 * wires a ledger to it: `ledger.onAlert((alert) => alerts.send(alert))`.
 */
export { WebhookAlerts, type WebhookAlertStats } from './webhook-alerts.js';
export type { WebhookAlertsOptions, WebhookEndpoint, AlertKind, AlertWarning } from './webhook-options.js';
export { alertEvent, type AlertEvent, type AlertEventType } from './alert-event.js';
export { signWebhook, webhookKey } from './webhook-signing.js';
