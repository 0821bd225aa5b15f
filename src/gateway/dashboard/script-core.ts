/**
 * The opening of the dashboard script: formatting helpers, DOM builders, the gateway key, the API client and the refresh loop.
 * Part of `DASHBOARD_JS` (script.ts) (one function scope across the parts: they are concatenated in order).
 */
export const SCRIPT_CORE = String.raw`(function () {
  'use strict';

  var KEY_STORAGE = 'tokenwarden.gatewayKey';
  var REFRESH_MS = 5000;
  var DAY = 86400000;
  var PERIODS = { '24h': DAY, '7d': 7 * DAY, '30d': 30 * DAY, '90d': 90 * DAY, all: 0 };
  var DEFAULT_PERIOD = '30d';
  var SVGNS = 'http://www.w3.org/2000/svg';

  // The script lives at <gateway root>/dashboard/app.js: the API is relative to that root, so the page
  // also works behind a reverse proxy that mounts the gateway under a sub-path.
  var script = document.currentScript;
  var base = script && script.src ? new URL('../', script.src) : new URL('./', location.href);

  var nf = new Intl.NumberFormat();
  var compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
  var pct1 = new Intl.NumberFormat(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  var usd2 = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 2 });
  var usd4 = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 4 });
  var usdSig = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD', maximumSignificantDigits: 3 });
  var usdAxis = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD', notation: 'compact', maximumSignificantDigits: 3 });
  var dayLabel = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
  var dayLong = new Intl.DateTimeFormat(undefined, { weekday: 'short', year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' });
  var clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  var hourLabel = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: 'UTC' });
  var hourLong = new Intl.DateTimeFormat(undefined, { weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: 'UTC' });
  var HOUR = 3600000;

  // hourly: GET v1/usage/hourly; refusals: GET v1/metrics/refusals (or { forbidden } for a tenant key);
  // budgets: { list: GET v1/budgets, tops: settled GET v1/budgets/{policy}?top=20 per policy }.
  var state = { summary: null, daily: null, threads: null, since: undefined, hourly: null, refusals: null, budgets: null };
  var seq = 0;
  var timer = null;

  function $(id) { return document.getElementById(id); }

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function svg(tag, attrs, children) {
    var node = document.createElementNS(SVGNS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) return;
      if (k === 'text') node.textContent = String(v);
      else node.setAttribute(k, String(v));
    });
  }

  function append(node, children) {
    if (children === undefined || children === null) return;
    (Array.isArray(children) ? children : [children]).forEach(function (c) {
      if (c === undefined || c === null || c === false) return;
      node.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    });
  }

  function num(v) { return typeof v === 'number' && isFinite(v) ? v : 0; }
  function fmtInt(v) { return nf.format(Math.round(num(v))); }

  function fmtUsd(nanos) {
    var usd = num(nanos) / 1e9;
    if (usd === 0) return usd2.format(0);
    if (usd >= 1) return usd2.format(usd);
    if (usd >= 0.01) return usd4.format(usd);
    return usdSig.format(usd);
  }

  // A cost of null is unpriced usage (no known price for its model): shown as such, never as $0.
  function fmtCost(nanos) { return nanos === null ? 'unpriced' : fmtUsd(nanos); }

  function unpricedNote(n) {
    return fmtInt(n) + ' unpriced ' + (n === 1 ? 'request' : 'requests') + ' not included';
  }

  function fmtAgo(ms) {
    if (!ms) return '—';
    var s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    if (s < 86400) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' d ago';
  }

  // ---- gateway key --------------------------------------------------------------------------------

  function getKey() {
    try { return sessionStorage.getItem(KEY_STORAGE) || ''; } catch (e) { return ''; }
  }

  function setKey(key) {
    try {
      if (key) sessionStorage.setItem(KEY_STORAGE, key);
      else sessionStorage.removeItem(KEY_STORAGE);
    } catch (e) { /* storage disabled: the key lives only until reload */ }
    updateKeyButton();
  }

  function updateKeyButton() {
    var has = !!getKey();
    $('key-button').textContent = has ? 'Change key' : 'Gateway key';
    $('key-clear').hidden = !has;
  }

  function showAuth(message) {
    var panel = $('auth');
    $('auth-message').textContent = message;
    panel.hidden = false;
    var input = $('key-input');
    if (document.activeElement !== input) input.focus();
  }

  function hideAuth() { $('auth').hidden = true; }

  // ---- API ------------------------------------------------------------------------------------------

  function api(path, params) {
    var url = new URL(path, base);
    Object.keys(params || {}).forEach(function (k) {
      if (params[k] !== undefined && params[k] !== null) url.searchParams.set(k, String(params[k]));
    });
    var headers = { Accept: 'application/json' };
    var key = getKey();
    if (key) headers.Authorization = 'Bearer ' + key;
    return fetch(url.href, { headers: headers, cache: 'no-store', credentials: 'same-origin' }).then(function (res) {
      return res.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
        if (!res.ok) {
          var msg = body && body.error && body.error.message ? body.error.message : 'HTTP ' + res.status + ' ' + res.statusText;
          var err = new Error(msg);
          err.status = res.status;
          err.code = body && body.error && body.error.code ? body.error.code : null;
          err.path = path;
          throw err;
        }
        if (body === null || typeof body !== 'object') throw new Error(path + ' answered with something that is not JSON');
        return body;
      });
    });
  }

  // A view that a key may not see (403) or a gateway does not have (404: no budget policies configured,
  // or an older gateway) is a state of that view, not a failure of the page: the view says why. Anything
  // else (401 included) still fails.
  var ABSENT = { route_not_found: true, no_budget_policies: true };
  function optional(promise) {
    return promise.catch(function (e) {
      if (e && e.status === 403) return { forbidden: true, message: e.message };
      if (e && e.status === 404 && ABSENT[e.code] === true) return { missing: true, message: e.message };
      throw e;
    });
  }

  // The policies, then each policy's top entities (admin only: a tenant key falls back to its own
  // standings), for the first MAX_POLICY_TOPS policies: a refresh stays a bounded number of requests.
  var MAX_POLICY_TOPS = 24;
  function loadBudgets() {
    return optional(api('v1/budgets')).then(function (list) {
      if (list.forbidden || list.missing) return { list: null, note: list, tops: [] };
      var policies = Array.isArray(list.policies) ? list.policies : [];
      return Promise.allSettled(policies.slice(0, MAX_POLICY_TOPS).map(function (p) {
        return api('v1/budgets/' + encodeURIComponent(p.name), { top: 20 });
      })).then(function (tops) { return { list: list, tops: tops }; });
    });
  }

  function selectedPeriod() {
    var v = $('period').value;
    return Object.prototype.hasOwnProperty.call(PERIODS, v) ? v : DEFAULT_PERIOD;
  }

  function refresh() {
    var my = ++seq;
    if (timer) { clearTimeout(timer); timer = null; }
    var span = PERIODS[selectedPeriod()];
    var since = span ? Date.now() - span : undefined;
    document.body.setAttribute('aria-busy', 'true');
    $('status').textContent = 'Updating…';
    Promise.allSettled([
      api('v1/usage/summary', { since: since }),
      api('v1/usage/daily', { since: since }),
      api('v1/threads', { limit: 100 }),
      api('v1/usage/hourly'),
      optional(api('v1/metrics/refusals')),
      loadBudgets(),
    ]).then(function (results) {
      if (my !== seq) return;
      document.body.removeAttribute('aria-busy');
      var failures = results.filter(function (r) { return r.status === 'rejected'; }).map(function (r) { return r.reason; });
      var unauthorized = failures.filter(function (e) { return e && e.status === 401; })[0];
      if (unauthorized) {
        showAuth(getKey()
          ? 'The gateway rejected this key: ' + unauthorized.message
          : 'This gateway requires a key. Paste a gateway key to see its usage.');
        $('status').textContent = 'Key required';
        markStale(true);
        schedule();
        return;
      }
      hideAuth();
      state.since = since;
      if (results[0].status === 'fulfilled') state.summary = results[0].value;
      if (results[1].status === 'fulfilled') state.daily = results[1].value;
      if (results[2].status === 'fulfilled') state.threads = results[2].value;
      if (results[3].status === 'fulfilled') state.hourly = results[3].value;
      if (results[4].status === 'fulfilled') state.refusals = results[4].value;
      if (results[5].status === 'fulfilled') state.budgets = results[5].value;
      renderAll();
      if (results[0].status === 'rejected' && !state.summary) {
        placeholder('models-rows', 4, 'Could not load usage by model.');
        placeholder('agents-rows', 4, 'Could not load usage by agent.');
      }
      if (results[1].status === 'rejected' && !state.daily) {
        chartNote($('chart-tokens'), 'Could not load the daily usage.');
        chartNote($('chart-cost'), 'Could not load the daily cost.');
        placeholder('daily-rows', 5, 'Could not load the daily usage.');
      }
      if (results[2].status === 'rejected' && !state.threads) placeholder('threads-rows', 6, 'Could not load the live threads.');
      if (results[3].status === 'rejected' && !state.hourly) {
        chartNote($('chart-hourly-tokens'), 'Could not load the hourly usage.');
        chartNote($('chart-hourly-cost'), 'Could not load the hourly cost.');
        placeholder('hourly-rows', 5, 'Could not load the hourly usage.');
      }
      if (results[4].status === 'rejected' && !state.refusals) chartNote($('chart-refusals'), 'Could not load the refusals.');
      if (results[5].status === 'rejected' && !state.budgets) budgetsNote('Could not load the budgets.');
      if (failures.length) {
        var messages = [];
        failures.forEach(function (e) {
          var line = (e && e.status === 403 ? 'Not allowed: ' : '') + (e && e.path ? e.path + ': ' : '') + (e && e.message ? e.message : String(e));
          if (messages.indexOf(line) < 0) messages.push(line);
        });
        showError(messages);
        $('status').textContent = 'Update failed at ' + clock.format(new Date());
        markStale(true);
      } else {
        showError([]);
        $('status').textContent = 'Updated ' + clock.format(new Date());
        markStale(false);
      }
      schedule();
    });
  }

  function schedule() {
    if (timer) clearTimeout(timer);
    timer = null;
    if ($('auto').checked && !document.hidden) timer = setTimeout(refresh, REFRESH_MS);
  }

  function placeholder(tbodyId, columns, text) {
    var tbody = $(tbodyId);
    tbody.textContent = '';
    tbody.appendChild(h('tr', null, h('td', { colspan: columns, class: 'empty', text: text })));
  }

  function chartNote(container, text) {
    container.textContent = '';
    container.appendChild(h('p', { class: 'chart-note', text: text }));
  }

  function markStale(stale) { $('content').classList.toggle('stale', stale); }

  function showError(messages) {
    var box = $('error');
    box.textContent = '';
    if (!messages.length) { box.hidden = true; return; }
    append(box, h('strong', { text: 'Could not load everything. ' }));
    append(box, messages.join(' · '));
    box.hidden = false;
  }

`;
