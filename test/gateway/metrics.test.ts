import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { DEFAULT_REQUEST_DURATION_BUCKETS, GatewayMetrics, escapeLabelValue } from '../../src/gateway/metrics.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: string;
}

interface Exposition {
  samples: Sample[];
  help: Map<string, string>;
  type: Map<string, string>;
}

/** A strict parser of the text format 0.0.4: throws on any line it does not understand. */
function parse(text: string): Exposition {
  expect(text.endsWith('\n')).toBe(true);
  const samples: Sample[] = [];
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  const lines = text.slice(0, -1).split('\n');
  for (const line of lines) {
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      expect(help.has(m[1]!), `duplicate HELP for ${m[1]}`).toBe(false);
      help.set(m[1]!, m[2]!);
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) {
      expect(type.has(m[1]!), `duplicate TYPE for ${m[1]}`).toBe(false);
      type.set(m[1]!, m[2]!);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparseable line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const body = m[2].slice(1, -1);
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
      let pos = 0;
      while (pos < body.length) {
        re.lastIndex = pos;
        const lm = re.exec(body);
        if (!lm) throw new Error(`bad labels in line: ${JSON.stringify(line)}`);
        labels[lm[1]!] = lm[2]!.replace(/\\([\\"n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
        pos = re.lastIndex;
      }
    }
    const value = m[3]!;
    expect(value, `value of ${line}`).toMatch(/^(-?\d+(\.\d+)?(e[+-]?\d+)?|\+Inf|-Inf|NaN)$/);
    const family = m[1]!.replace(/_(bucket|sum|count)$/, '');
    expect(type.has(m[1]!) || type.get(family) === 'histogram', `sample ${m[1]} has no TYPE line before it`).toBe(true);
    samples.push({ name: m[1]!, labels, value });
  }
  const keys = samples.map((s) => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`);
  expect(new Set(keys).size, 'duplicate series').toBe(keys.length);
  return { samples, help, type };
}

function find(exp: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return exp.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

function value(exp: Exposition, name: string, labels: Record<string, string> = {}): string {
  const found = find(exp, name, labels);
  expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
  return found[0]!.value;
}

describe('GatewayMetrics', () => {
  it('renders every family with HELP and TYPE even before any observation', () => {
    const m = new GatewayMetrics();
    const exp = parse(m.render());
    expect(m.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(Object.fromEntries(exp.type)).toEqual({
      tokenwarden_requests_total: 'counter',
      tokenwarden_tokens_total: 'counter',
      tokenwarden_cost_usd_total: 'counter',
      tokenwarden_budget_refusals_total: 'counter',
      tokenwarden_refusals_total: 'counter',
      tokenwarden_overspend_tokens_total: 'counter',
      tokenwarden_provider_errors_total: 'counter',
      tokenwarden_request_duration_seconds: 'histogram',
      tokenwarden_provider_latency_seconds: 'histogram',
      tokenwarden_live_threads: 'gauge',
      tokenwarden_reserved_tokens: 'gauge',
      tokenwarden_gauge_collector_errors_total: 'counter',
    });
    for (const name of exp.type.keys()) expect(exp.help.get(name)?.length ?? 0).toBeGreaterThan(10);
    expect(value(exp, 'tokenwarden_budget_refusals_total')).toBe('0');
    expect(value(exp, 'tokenwarden_live_threads')).toBe('0');
    expect(value(exp, 'tokenwarden_reserved_tokens')).toBe('0');
    expect(find(exp, 'tokenwarden_requests_total')).toHaveLength(0);
  });

  it('counts requests by route and status, numbers and strings alike', () => {
    const m = new GatewayMetrics();
    m.observeRequest({ route: '/v1/chat/completions', status: 200, durationMs: 12 });
    m.observeRequest({ route: '/v1/chat/completions', status: 200, durationMs: 30 });
    m.observeRequest({ route: '/v1/chat/completions', status: 429, durationMs: 1 });
    m.observeRequest({ route: '/metrics', status: 200, durationMs: 1 });
    const exp = parse(m.render());
    expect(value(exp, 'tokenwarden_requests_total', { route: '/v1/chat/completions', status: '200' })).toBe('2');
    expect(value(exp, 'tokenwarden_requests_total', { route: '/v1/chat/completions', status: '429' })).toBe('1');
    expect(value(exp, 'tokenwarden_requests_total', { route: '/metrics', status: '200' })).toBe('1');
    m.providerError({ provider: 'openai', code: 503 });
    m.providerError({ provider: 'openai', code: '503' });
    m.providerError({ provider: 'anthropic', code: 'ETIMEDOUT' });
    m.budgetRefused();
    m.budgetRefused();
    const exp2 = parse(m.render());
    expect(value(exp2, 'tokenwarden_provider_errors_total', { provider: 'openai', code: '503' })).toBe('2');
    expect(value(exp2, 'tokenwarden_provider_errors_total', { provider: 'anthropic', code: 'ETIMEDOUT' })).toBe('1');
    expect(value(exp2, 'tokenwarden_budget_refusals_total')).toBe('2');
  });

  it('counts tokens by kind and sums cost exactly from nano-USD', () => {
    const m = new GatewayMetrics();
    // 0.1 USD ten times and 3 single nanos: floating-point addition would drift, this must not.
    for (let i = 0; i < 10; i++) {
      m.observeCompletion({ model: 'gpt-4o', provider: 'openai', promptTokens: 100, completionTokens: 20, costNanos: 100_000_000, latencyMs: 500 });
    }
    for (let i = 0; i < 3; i++) {
      m.observeCompletion({ model: 'gpt-4o', provider: 'openai', promptTokens: 1, completionTokens: 0, costNanos: 1, latencyMs: 5 });
    }
    m.observeCompletion({ model: 'claude', provider: 'anthropic', promptTokens: 7, completionTokens: 9, costNanos: 2_999_999_999 });
    m.observeCompletion({ model: 'claude', provider: 'anthropic', promptTokens: 1, completionTokens: 1, costNanos: 1_000_000_001 });
    m.observeCompletion({ model: 'local', provider: 'mock', promptTokens: 5, completionTokens: 5, costNanos: undefined });
    const exp = parse(m.render());
    expect(value(exp, 'tokenwarden_tokens_total', { model: 'gpt-4o', provider: 'openai', kind: 'prompt' })).toBe('1003');
    expect(value(exp, 'tokenwarden_tokens_total', { model: 'gpt-4o', provider: 'openai', kind: 'completion' })).toBe('200');
    expect(value(exp, 'tokenwarden_cost_usd_total', { model: 'gpt-4o', provider: 'openai' })).toBe('1.000000003');
    expect(value(exp, 'tokenwarden_cost_usd_total', { model: 'claude', provider: 'anthropic' })).toBe('4');
    expect(value(exp, 'tokenwarden_tokens_total', { model: 'local', kind: 'completion' })).toBe('5');
    expect(find(exp, 'tokenwarden_cost_usd_total', { model: 'local' })).toHaveLength(0);
    // No latency given: no provider latency histogram for anthropic.
    expect(find(exp, 'tokenwarden_provider_latency_seconds_count', { provider: 'anthropic' })).toHaveLength(0);
    expect(value(exp, 'tokenwarden_provider_latency_seconds_count', { provider: 'openai' })).toBe('13');
  });

  it('ignores negative, non-finite and missing numbers instead of throwing', () => {
    const m = new GatewayMetrics();
    m.observeCompletion({ model: 'x', provider: 'p', promptTokens: -5, completionTokens: Number.NaN, costNanos: -10, latencyMs: Infinity });
    m.observeRequest({ route: '/r', status: 200, durationMs: Number.NaN });
    const exp = parse(m.render());
    expect(find(exp, 'tokenwarden_tokens_total')).toHaveLength(0);
    expect(find(exp, 'tokenwarden_cost_usd_total')).toHaveLength(0);
    expect(value(exp, 'tokenwarden_provider_latency_seconds_sum', { provider: 'p' })).toBe('0');
    expect(value(exp, 'tokenwarden_request_duration_seconds_bucket', { route: '/r', le: '0.001' })).toBe('1');
  });

  it('escapes backslash, double quote and newline in label values', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    const m = new GatewayMetrics();
    const nasty = 'we"ird\\model\nname} 1\n# TYPE x counter';
    m.observeCompletion({ model: nasty, provider: 'p,q="r"', promptTokens: 3, completionTokens: 4, costNanos: 5 });
    const text = m.render();
    expect(text).toContain('model="we\\"ird\\\\model\\nname} 1\\n# TYPE x counter"');
    const exp = parse(text);
    expect(value(exp, 'tokenwarden_tokens_total', { model: nasty, provider: 'p,q="r"', kind: 'completion' })).toBe('4');
    expect(value(exp, 'tokenwarden_cost_usd_total', { model: nasty })).toBe('0.000000005');
  });

  it('renders cumulative histogram buckets with +Inf, _sum and _count', () => {
    const m = new GatewayMetrics({ requestDurationBuckets: [0.01, 0.1, 1] });
    for (const ms of [5, 10, 50, 100, 100.5, 999, 1000, 5000]) m.observeRequest({ route: '/v1/chat/completions', status: 200, durationMs: ms });
    const exp = parse(m.render());
    const route = { route: '/v1/chat/completions' };
    const buckets = find(exp, 'tokenwarden_request_duration_seconds_bucket', route).map((s) => [s.labels.le, s.value]);
    // `le` is inclusive: 10 ms falls in le=0.01, 100 ms in le=0.1, 1000 ms in le=1.
    expect(buckets).toEqual([
      ['0.01', '2'],
      ['0.1', '4'],
      ['1', '7'],
      ['+Inf', '8'],
    ]);
    expect(Number(value(exp, 'tokenwarden_request_duration_seconds_sum', route))).toBeCloseTo(7.2645, 9);
    expect(value(exp, 'tokenwarden_request_duration_seconds_count', route)).toBe('8');
  });

  it('uses sensible default buckets for both histograms', () => {
    const m = new GatewayMetrics();
    m.observeRequest({ route: '/r', status: 200, durationMs: 0.3 });
    m.observeCompletion({ model: 'm', provider: 'p', promptTokens: 1, completionTokens: 1, latencyMs: 250_000 });
    const exp = parse(m.render());
    const reqLes = find(exp, 'tokenwarden_request_duration_seconds_bucket').map((s) => s.labels.le);
    expect(reqLes).toEqual([...DEFAULT_REQUEST_DURATION_BUCKETS.map(String), '+Inf']);
    expect(reqLes[0]).toBe('0.001');
    const lat = find(exp, 'tokenwarden_provider_latency_seconds_bucket', { provider: 'p' });
    const values = lat.map((s) => Number(s.value));
    for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]!);
    expect(lat.find((s) => s.labels.le === '120')?.value).toBe('0');
    expect(lat.find((s) => s.labels.le === '300')?.value).toBe('1');
    expect(value(exp, 'tokenwarden_provider_latency_seconds_sum', { provider: 'p' })).toBe('250');
  });

  it('caps distinct label sets per metric and folds the overflow into `other`', () => {
    const m = new GatewayMetrics({ maxSeriesPerMetric: 4 });
    for (let i = 0; i < 10; i++) {
      m.observeCompletion({ model: `model-${i}`, provider: 'openai', promptTokens: 10, completionTokens: 1, costNanos: 1_000, latencyMs: 1 });
      m.observeRequest({ route: `/route-${i}`, status: 200, durationMs: 1 });
    }
    const exp = parse(m.render());
    const tokens = find(exp, 'tokenwarden_tokens_total');
    // 4 real label sets (model-0 and model-1, prompt and completion), then two overflow series keeping `kind`.
    expect(tokens.map((s) => `${s.labels.model}/${s.labels.provider}/${s.labels.kind}=${s.value}`)).toEqual([
      'model-0/openai/prompt=10',
      'model-0/openai/completion=1',
      'model-1/openai/prompt=10',
      'model-1/openai/completion=1',
      'other/other/prompt=80',
      'other/other/completion=8',
    ]);
    const cost = find(exp, 'tokenwarden_cost_usd_total');
    expect(cost).toHaveLength(5);
    expect(value(exp, 'tokenwarden_cost_usd_total', { model: 'other', provider: 'other' })).toBe('0.000006');
    expect(find(exp, 'tokenwarden_requests_total')).toHaveLength(5);
    expect(value(exp, 'tokenwarden_requests_total', { route: 'other', status: 'other' })).toBe('6');
    expect(value(exp, 'tokenwarden_request_duration_seconds_count', { route: 'other' })).toBe('6');
    // A label set seen before the cap keeps counting on its own series.
    m.observeRequest({ route: '/route-0', status: 200, durationMs: 1 });
    expect(value(parse(m.render()), 'tokenwarden_requests_total', { route: '/route-0' })).toBe('2');
  });

  it('cuts very long label values', () => {
    const m = new GatewayMetrics();
    m.observeCompletion({ model: 'x'.repeat(10_000), provider: 'p', promptTokens: 1, completionTokens: 0 });
    m.observeCompletion({ model: 'x'.repeat(20_000), provider: 'p', promptTokens: 1, completionTokens: 0 });
    const tokens = find(parse(m.render()), 'tokenwarden_tokens_total');
    expect(tokens).toHaveLength(1);
    expect(tokens[0]!.labels.model).toHaveLength(128);
    expect(tokens[0]!.value).toBe('2');
  });

  it('reads the gauges from the collector at every render', () => {
    const m = new GatewayMetrics();
    let live = 3;
    m.setGaugeCollector(() => ({ liveThreads: live, reservedTokens: 1200 }));
    let exp = parse(m.render());
    expect(value(exp, 'tokenwarden_live_threads')).toBe('3');
    expect(value(exp, 'tokenwarden_reserved_tokens')).toBe('1200');
    live = 5;
    expect(value(parse(m.render()), 'tokenwarden_live_threads')).toBe('5');
    m.setGaugeCollector(() => {
      throw new Error('ledger down');
    });
    exp = parse(m.render());
    expect(value(exp, 'tokenwarden_live_threads')).toBe('5');
    expect(value(exp, 'tokenwarden_gauge_collector_errors_total')).toBe('1');
    m.setGaugeCollector(() => ({ liveThreads: 0 }));
    exp = parse(m.render());
    expect(value(exp, 'tokenwarden_live_threads')).toBe('0');
    expect(value(exp, 'tokenwarden_reserved_tokens')).toBe('1200');
  });

  it('validates its options and names the bad one', () => {
    expect(() => new GatewayMetrics({ maxSeriesPerMetric: 0 })).toThrow(ValidationError);
    expect(() => new GatewayMetrics({ maxSeriesPerMetric: 1.5 })).toThrow(/options\.maxSeriesPerMetric/);
    expect(() => new GatewayMetrics({ requestDurationBuckets: [] })).toThrow(/options\.requestDurationBuckets/);
    expect(() => new GatewayMetrics({ providerLatencyBuckets: [1, 0.5] })).toThrow(/options\.providerLatencyBuckets\[1\]/);
    expect(() => new GatewayMetrics({ providerLatencyBuckets: [1, Infinity] })).toThrow(/options\.providerLatencyBuckets\[1\]/);
    const m = new GatewayMetrics();
    expect(() => m.setGaugeCollector(42 as unknown as () => object)).toThrow(/fn: must be a function/);
  });
});
