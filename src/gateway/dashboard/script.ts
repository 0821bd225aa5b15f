/**
 * The dashboard's browser script (vanilla JS, no dependencies), served as `dashboard/app.js`.
 *
 * It fetches the gateway's usage API from the page's own origin only, draws the charts as inline SVG,
 * and refreshes every few seconds. Written without template literals so it can live in this string.
 */
export const DASHBOARD_JS = String.raw`(function () {
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

  var state = { summary: null, daily: null, threads: null, since: undefined };
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
          err.path = path;
          throw err;
        }
        if (body === null || typeof body !== 'object') throw new Error(path + ' answered with something that is not JSON');
        return body;
      });
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

  // ---- rendering ------------------------------------------------------------------------------------

  function renderAll() {
    renderKpis();
    renderDaily();
    renderBreakdown('models', state.summary ? state.summary.by_model : null, function (r) { return r.model; });
    renderBreakdown('agents', state.summary ? state.summary.by_agent : null, function (r) { return r.agent_id; });
    renderThreads();
  }

  function renderKpis() {
    var t = state.summary && state.summary.totals;
    if (t) {
      $('kpi-tokens').textContent = fmtInt(t.total_tokens);
      $('kpi-tokens-sub').textContent = fmtInt(t.prompt_tokens) + ' prompt · ' + fmtInt(t.completion_tokens) + ' completion';
      $('kpi-cost').textContent = fmtUsd(t.cost_nanos);
      var req = num(t.request_count);
      $('kpi-cost-sub').textContent = req ? fmtUsd(num(t.cost_nanos) / req) + ' per request' : 'no calls yet';
      $('kpi-requests').textContent = fmtInt(req);
      $('kpi-requests-sub').textContent = req ? fmtInt(num(t.total_tokens) / req) + ' tokens per request' : 'no calls yet';
    }
    var threads = state.threads && Array.isArray(state.threads.data) ? state.threads.data : null;
    if (threads) {
      var hot = threads.filter(function (th) { return percentUsed(th) >= 75; }).length;
      var reserved = threads.reduce(function (s, th) { return s + num(th.reserved_tokens); }, 0);
      $('kpi-threads').textContent = fmtInt(threads.length) + (state.threads.has_more ? '+' : '');
      $('kpi-threads-sub').textContent = hot + ' at 75 % or more · ' + fmtInt(reserved) + ' tokens reserved';
    }
  }

  function fillDays(points, since) {
    var byDate = {};
    points.forEach(function (p) { byDate[p.date] = p; });
    var end = Math.floor(Date.now() / DAY) * DAY;
    var start = since ? Math.floor(since / DAY) * DAY : end;
    if (points.length) {
      start = Math.min(start, Date.parse(points[0].date + 'T00:00:00Z'));
      end = Math.max(end, Date.parse(points[points.length - 1].date + 'T00:00:00Z'));
    }
    if (!isFinite(start) || !isFinite(end) || (end - start) / DAY > 400) return points.slice();
    var out = [];
    for (var d = start; d <= end; d += DAY) {
      var key = new Date(d).toISOString().slice(0, 10);
      out.push(byDate[key] || { date: key, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, request_count: 0, cost_nanos: 0 });
    }
    return out;
  }

  function renderDaily() {
    if (!state.daily) return;
    var points = Array.isArray(state.daily.data) ? state.daily.data.slice() : [];
    points.sort(function (a, b) { return a.date < b.date ? -1 : a.date > b.date ? 1 : 0; });
    var days = fillDays(points, state.since);
    drawBars($('chart-tokens'), {
      label: 'Tokens per day',
      days: days,
      series: [
        { key: 'prompt_tokens', name: 'Prompt', cls: 'bar-prompt' },
        { key: 'completion_tokens', name: 'Completion', cls: 'bar-completion' },
      ],
      axis: function (v) { return compact.format(v); },
      value: function (v) { return fmtInt(v); },
      unit: 'tokens',
    });
    drawBars($('chart-cost'), {
      label: 'Cost per day',
      days: days,
      series: [{ key: 'cost_nanos', name: 'Cost', cls: 'bar-cost' }],
      axis: function (v) { return usdAxis.format(v / 1e9); },
      value: function (v) { return fmtUsd(v); },
      unit: '',
    });
    var tbody = $('daily-rows');
    tbody.textContent = '';
    if (!points.length) {
      tbody.appendChild(h('tr', null, h('td', { colspan: 5, class: 'empty', text: 'No usage yet in this period.' })));
      return;
    }
    points.slice().reverse().forEach(function (p) {
      tbody.appendChild(h('tr', null, [
        h('th', { scope: 'row', text: p.date }),
        h('td', { class: 'num', text: fmtInt(p.request_count) }),
        h('td', { class: 'num', text: fmtInt(p.prompt_tokens) }),
        h('td', { class: 'num', text: fmtInt(p.completion_tokens) }),
        h('td', { class: 'num', text: fmtUsd(p.cost_nanos) }),
      ]));
    });
  }

  function niceStep(raw) {
    var pow = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / pow;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * pow;
  }

  function drawBars(container, opts) {
    container.textContent = '';
    var width = Math.max(260, Math.floor(container.clientWidth || 560));
    var height = 220;
    var m = { top: 14, right: 8, bottom: 26, left: 58 };
    var pw = width - m.left - m.right;
    var ph = height - m.top - m.bottom;
    var days = opts.days;
    var totals = days.map(function (d) {
      return opts.series.reduce(function (s, se) { return s + num(d[se.key]); }, 0);
    });
    var max = totals.reduce(function (a, b) { return Math.max(a, b); }, 0);
    var peak = totals.indexOf(max);
    var summary = max > 0
      ? opts.label + ' over ' + days.length + ' days; highest ' + opts.value(max) + (opts.unit ? ' ' + opts.unit : '') + ' on ' + days[peak].date
      : opts.label + ': no usage yet in this period';
    var root = svg('svg', { class: 'chart', width: width, height: height, viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': summary });
    container.appendChild(root);
    if (max === 0) {
      root.appendChild(svg('line', { class: 'axis', x1: m.left, x2: width - m.right, y1: m.top + ph, y2: m.top + ph }));
      root.appendChild(svg('text', { class: 'chart-empty', x: m.left + pw / 2, y: m.top + ph / 2, 'text-anchor': 'middle', text: 'No usage yet' }));
      return;
    }
    var step = niceStep(max / 4);
    var top = Math.ceil(max / step) * step;
    for (var t = 0; t <= top + step / 2; t += step) {
      var y = m.top + ph - (t / top) * ph;
      root.appendChild(svg('line', { class: t === 0 ? 'axis' : 'grid', x1: m.left, x2: width - m.right, y1: y, y2: y }));
      root.appendChild(svg('text', { class: 'tick', x: m.left - 8, y: y + 4, 'text-anchor': 'end', text: opts.axis(t) }));
    }
    var slot = pw / days.length;
    var bw = Math.max(1, Math.min(40, slot * 0.72));
    var every = Math.max(1, Math.ceil(days.length / Math.max(2, Math.floor(pw / 64))));
    var tip = container.parentNode.querySelector('.tooltip');
    days.forEach(function (d, i) {
      var x = m.left + i * slot + (slot - bw) / 2;
      var g = svg('g', { class: 'bar' });
      var y0 = m.top + ph;
      opts.series.forEach(function (se) {
        var hgt = (num(d[se.key]) / top) * ph;
        if (hgt <= 0) return;
        g.appendChild(svg('rect', { class: se.cls, x: x.toFixed(2), y: (y0 - hgt).toFixed(2), width: bw.toFixed(2), height: hgt.toFixed(2), rx: Math.min(3, bw / 4) }));
        y0 -= hgt;
      });
      g.appendChild(svg('rect', { class: 'hit', x: (m.left + i * slot).toFixed(2), y: m.top, width: slot.toFixed(2), height: ph }));
      var date = new Date(d.date + 'T00:00:00Z');
      var lines = [dayLong.format(date)].concat(opts.series.map(function (se) {
        return se.name + ': ' + opts.value(num(d[se.key]));
      }));
      lines.push('Requests: ' + fmtInt(d.request_count));
      g.addEventListener('pointerenter', function () { showTip(tip, container, lines, x + bw / 2, y0); });
      g.addEventListener('pointerleave', function () { tip.hidden = true; });
      root.appendChild(g);
      if (i % every === 0) {
        root.appendChild(svg('text', { class: 'tick', x: m.left + i * slot + slot / 2, y: height - 8, 'text-anchor': 'middle', text: dayLabel.format(date) }));
      }
    });
  }

  function showTip(tip, container, lines, x, y) {
    tip.textContent = '';
    lines.forEach(function (line, i) { append(tip, h(i === 0 ? 'strong' : 'span', { text: line })); });
    tip.hidden = false;
    var left = Math.min(Math.max(0, x - tip.offsetWidth / 2), container.clientWidth - tip.offsetWidth);
    tip.style.left = left + container.offsetLeft + 'px';
    tip.style.top = Math.max(0, y - tip.offsetHeight - 8) + container.offsetTop + 'px';
  }

  function renderBreakdown(id, rows, nameOf) {
    if (!rows) return;
    var tbody = $(id + '-rows');
    tbody.textContent = '';
    rows = rows.slice().sort(function (a, b) { return num(b.total_tokens) - num(a.total_tokens) || num(b.cost_nanos) - num(a.cost_nanos); });
    var total = rows.reduce(function (s, r) { return s + num(r.total_tokens); }, 0);
    if (!rows.length) {
      tbody.appendChild(h('tr', null, h('td', { colspan: 4, class: 'empty', text: 'No usage yet in this period.' })));
      return;
    }
    rows.forEach(function (r) {
      var name = nameOf(r);
      var missing = name === null || name === undefined;
      var share = total ? (num(r.total_tokens) / total) * 100 : 0;
      var bar = h('span', { class: 'share-fill' });
      bar.style.width = share.toFixed(2) + '%';
      tbody.appendChild(h('tr', null, [
        h('th', { scope: 'row', class: missing ? 'muted' : '' }, [
          h('span', { class: 'name', title: missing ? null : String(name) }, missing ? '(no agent)' : String(name)),
          ' ',
          h('span', { class: 'share' }, [
            h('span', { class: 'share-track', 'aria-hidden': 'true' }, bar),
            ' ',
            h('span', { class: 'share-text', text: pct1.format(share) + ' %' }),
          ]),
        ]),
        h('td', { class: 'num' }, fmtInt(r.request_count)),
        h('td', { class: 'num' }, [
          h('span', { class: 'tokens-total', text: fmtInt(r.total_tokens) }),
          ' ',
          h('span', { class: 'sub', text: fmtInt(r.prompt_tokens) + ' in · ' + fmtInt(r.completion_tokens) + ' out' }),
        ]),
        h('td', { class: 'num cost', text: fmtUsd(r.cost_nanos) }),
      ]));
    });
  }

  function percentUsed(th) {
    var max = num(th.max_tokens);
    return max > 0 ? (num(th.total_tokens) / max) * 100 : 0;
  }

  function level(p) { return p >= 95 ? 'final' : p >= 90 ? 'critical' : p >= 75 ? 'warning' : 'ok'; }

  function renderThreads() {
    if (!state.threads) return;
    var rows = Array.isArray(state.threads.data) ? state.threads.data : [];
    var tbody = $('threads-rows');
    tbody.textContent = '';
    if (!rows.length) {
      tbody.appendChild(h('tr', null, h('td', { colspan: 6, class: 'empty', text: 'No live threads. Calls that carry an x-thread-id header show up here with their budgets.' })));
      return;
    }
    rows.forEach(function (th) {
      var max = num(th.max_tokens);
      var used = num(th.total_tokens);
      var reserved = num(th.reserved_tokens);
      var usedPct = max > 0 ? Math.min(100, (used / max) * 100) : 100;
      var reservedPct = max > 0 ? Math.min(100 - usedPct, (reserved / max) * 100) : 0;
      var lv = level(percentUsed(th));
      var fillUsed = h('span', { class: 'budget-used' });
      fillUsed.style.width = usedPct.toFixed(2) + '%';
      var fillReserved = h('span', { class: 'budget-reserved' });
      fillReserved.style.width = reservedPct.toFixed(2) + '%';
      var remaining = th.remaining_tokens !== undefined ? num(th.remaining_tokens) : Math.max(0, max - used - reserved);
      var meter = h('div', {
        class: 'budget level-' + lv,
        role: 'progressbar',
        'aria-label': 'Budget of thread ' + th.id,
        'aria-valuemin': 0,
        'aria-valuemax': max,
        'aria-valuenow': Math.min(used, max),
        'aria-valuetext': fmtInt(used) + ' of ' + fmtInt(max) + ' tokens used (' + pct1.format(percentUsed(th)) + ' %), ' + fmtInt(reserved) + ' reserved, ' + fmtInt(remaining) + ' remaining',
        'data-level': lv,
      }, [fillUsed, fillReserved]);
      tbody.appendChild(h('tr', { 'data-thread': th.id }, [
        h('th', { scope: 'row' }, h('code', { class: 'name', title: th.id, text: th.id })),
        h('td', { class: th.org_id ? '' : 'muted', text: th.org_id || '—' }),
        h('td', { class: 'num', text: fmtInt(th.request_count) }),
        h('td', { class: 'budget-cell' }, [
          meter,
          h('span', { class: 'budget-caption' }, [
            h('span', { class: 'pct level-' + lv, text: pct1.format(percentUsed(th)) + ' %' }),
            ' ' + fmtInt(used) + ' / ' + fmtInt(max) + (reserved ? ' · ' + fmtInt(reserved) + ' reserved' : ''),
          ]),
        ]),
        h('td', { class: 'num', text: fmtInt(remaining) }),
        h('td', { class: 'num muted', text: fmtAgo(th.last_activity) }),
      ]));
    });
  }

  // ---- wiring ---------------------------------------------------------------------------------------

  function readHashPeriod() {
    var m = /(?:^|[#&])period=([a-z0-9]+)/.exec(location.hash);
    return m && Object.prototype.hasOwnProperty.call(PERIODS, m[1]) ? m[1] : DEFAULT_PERIOD;
  }

  function init() {
    $('period').value = readHashPeriod();
    $('period').addEventListener('change', function () {
      history.replaceState(null, '', '#period=' + selectedPeriod());
      refresh();
    });
    $('refresh').addEventListener('click', refresh);
    $('auto').addEventListener('change', schedule);
    $('key-button').addEventListener('click', function () {
      showAuth(getKey() ? 'Replace the gateway key used by this tab.' : 'Paste a gateway key to use with this tab.');
    });
    $('key-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var input = $('key-input');
      var key = input.value.trim();
      input.value = '';
      if (!key) { input.focus(); return; }
      setKey(key);
      hideAuth();
      refresh();
    });
    $('key-clear').addEventListener('click', function () {
      setKey('');
      refresh();
    });
    $('key-cancel').addEventListener('click', hideAuth);
    document.addEventListener('visibilitychange', function () {
      if (document.hidden) { if (timer) clearTimeout(timer); timer = null; }
      else refresh();
    });
    if (typeof ResizeObserver === 'function') {
      var pending = false;
      var ro = new ResizeObserver(function () {
        if (pending) return;
        pending = true;
        requestAnimationFrame(function () {
          pending = false;
          if (state.daily) renderDaily();
        });
      });
      ro.observe($('chart-tokens'));
    }
    updateKeyButton();
    refresh();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
`;
