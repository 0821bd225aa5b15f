/**
 * The dashboard script's views of the last 24 hours: usage per UTC hour (`v1/usage/hourly`) and refusals
 * by reason (`v1/metrics/refusals`), both as stacked bars drawn by `drawBars`.
 * Part of `DASHBOARD_JS` (script.ts) (one function scope across the parts: they are concatenated in order).
 */
export const SCRIPT_SERIES = String.raw`  // ---- last 24 hours: usage per hour --------------------------------------------------------------

  function hourKey(ms) { return new Date(ms).toISOString().slice(0, 13) + ':00:00Z'; }

  // One point per UTC hour from the range's start to the current hour, hours without usage as zeros.
  function fillHours(points, since) {
    var byHour = {};
    points.forEach(function (p) { byHour[p.hour] = p; });
    var end = Math.floor(Date.now() / HOUR) * HOUR;
    var start = typeof since === 'number' ? Math.floor(since / HOUR) * HOUR : end - 23 * HOUR;
    if (!isFinite(start) || (end - start) / HOUR > 800) return points.slice();
    var out = [];
    for (var t = start; t <= end; t += HOUR) {
      var key = hourKey(t);
      out.push(byHour[key] || { hour: key, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, request_count: 0, cost_nanos: 0 });
    }
    return out;
  }

  function hourOf(d) { return new Date(d.hour); }
  function hourTitle(date) { return hourLong.format(date) + ' UTC'; }

  function renderHourly() {
    if (!state.hourly) return;
    var points = Array.isArray(state.hourly.data) ? state.hourly.data.slice() : [];
    points.sort(function (a, b) { return a.hour < b.hour ? -1 : a.hour > b.hour ? 1 : 0; });
    var hours = fillHours(points, state.hourly.since);
    var common = {
      days: hours,
      noun: 'hours',
      when: hourOf,
      tick: function (date) { return hourLabel.format(date); },
      title: hourTitle,
      peak: function (d) { return ' at ' + hourTitle(hourOf(d)); },
      empty: 'no usage in the last 24 hours',
    };
    drawBars($('chart-hourly-tokens'), Object.assign({
      label: 'Tokens per hour',
      series: [
        { key: 'prompt_tokens', name: 'Prompt', cls: 'bar-prompt' },
        { key: 'completion_tokens', name: 'Completion', cls: 'bar-completion' },
      ],
      axis: function (v) { return compact.format(v); },
      value: function (v) { return fmtInt(v); },
      unit: 'tokens',
    }, common));
    drawBars($('chart-hourly-cost'), Object.assign({
      label: 'Cost per hour',
      series: [{ key: 'cost_nanos', name: 'Cost', cls: 'bar-cost' }],
      axis: function (v) { return usdAxis.format(v / 1e9); },
      value: function (v) { return fmtUsd(v); },
      unit: '',
    }, common));
    var tbody = $('hourly-rows');
    tbody.textContent = '';
    if (!points.length) {
      tbody.appendChild(h('tr', null, h('td', { colspan: 5, class: 'empty', text: 'No usage in the last 24 hours.' })));
      return;
    }
    points.slice().reverse().forEach(function (p) {
      tbody.appendChild(h('tr', { 'data-hour': p.hour }, [
        h('th', { scope: 'row', text: p.hour.slice(0, 10) + ' ' + p.hour.slice(11, 16) }),
        h('td', { class: 'num', text: fmtInt(p.request_count) }),
        h('td', { class: 'num', text: fmtInt(p.prompt_tokens) }),
        h('td', { class: 'num', text: fmtInt(p.completion_tokens) }),
        costCell('num', p),
      ]));
    });
  }

  // ---- last 24 hours: refusals by reason --------------------------------------------------------------

  var REASON_COLORS = 6;
  var REASON_TEXT = {
    thread_budget_exhausted: 'a thread spent its token budget',
    rate_limit_exceeded: 'a request or token rate limit (rpm, tpm)',
    model_not_priced: 'a model without a price under a USD policy',
    too_many_threads: 'too many live threads',
    invalid_api_key: 'a missing or unknown gateway key',
    admin_required: 'a tenant key asked for an admin route',
    forbidden: 'a key asked for another org',
    org_mismatch: 'a key asked for another org',
    model_not_found: 'a model no backend serves',
  };

  function reasonText(reason) {
    if (Object.prototype.hasOwnProperty.call(REASON_TEXT, reason)) return REASON_TEXT[reason];
    var m = /^([a-z]+)_budget_exhausted$/.exec(reason);
    if (m) return 'a ' + m[1] + ' budget policy is spent';
    return '';
  }

  function renderRefusals() {
    var r = state.refusals;
    if (!r) return;
    var box = $('chart-refusals');
    var tbody = $('refusals-rows');
    var legend = $('refusals-legend');
    legend.textContent = '';
    tbody.textContent = '';
    if (r.forbidden || r.missing) {
      chartNote(box, r.forbidden
        ? 'Refusals are counted for the whole gateway: an admin key is needed to see them.'
        : 'This gateway does not keep a refusal history.');
      tbody.appendChild(h('tr', null, h('td', { colspan: 2, class: 'empty', text: '—' })));
      return;
    }
    var reasons = Array.isArray(r.reasons) ? r.reasons : [];
    var shown = reasons.slice(0, reasons.length > REASON_COLORS ? REASON_COLORS - 1 : REASON_COLORS);
    var rest = reasons.slice(shown.length);
    var series = shown.map(function (reason, i) { return { key: 'r' + i, name: reason, cls: 'reason-' + i }; });
    if (rest.length) series.push({ key: 'rest', name: 'other reasons', cls: 'reason-rest' });
    var step = num(r.step_minutes) || 15;
    var points = (Array.isArray(r.data) ? r.data : []).map(function (b) {
      var p = { start: b.start, total: 0 };
      shown.forEach(function (reason, i) { p['r' + i] = num(b.counts && b.counts[reason]); });
      p.rest = rest.reduce(function (s, reason) { return s + num(b.counts && b.counts[reason]); }, 0);
      p.total = Object.keys(b.counts || {}).reduce(function (s, k) { return s + num(b.counts[k]); }, 0);
      return p;
    });
    drawBars(box, {
      label: 'Refusals',
      days: points,
      series: series.length ? series : [{ key: 'total', name: 'Refusals', cls: 'reason-0' }],
      noun: 'buckets of ' + step + ' min',
      when: function (p) { return new Date(p.start); },
      tick: function (date) { return hourLabel.format(date); },
      title: function (date) { return hourTitle(date) + ' · ' + step + ' min'; },
      peak: function (p) { return ' at ' + hourTitle(new Date(p.start)); },
      extra: function (p) { return series.length > 1 ? ['Total: ' + fmtInt(p.total)] : []; },
      axis: function (v) { return compact.format(v); },
      value: function (v) { return fmtInt(v); },
      unit: 'refusals',
      empty: 'no refusals in the last 24 hours',
    });
    series.forEach(function (se, i) {
      append(legend, [i ? ' ' : null, h('span', { class: 'swatch ' + se.cls, 'aria-hidden': 'true' }), se.name]);
    });
    if (!reasons.length) {
      tbody.appendChild(h('tr', null, h('td', { colspan: 2, class: 'empty', text: 'No refusals in the last 24 hours.' })));
      return;
    }
    reasons.forEach(function (reason, i) {
      var text = reasonText(reason);
      tbody.appendChild(h('tr', { 'data-reason': reason }, [
        h('th', { scope: 'row' }, [
          h('span', { class: 'swatch ' + (i < shown.length ? 'reason-' + i : 'reason-rest'), 'aria-hidden': 'true' }),
          ' ',
          h('code', { text: reason }),
          text ? ' ' : null,
          text ? h('span', { class: 'sub', text: text }) : null,
        ]),
        h('td', { class: 'num', text: fmtInt(r.totals ? r.totals[reason] : 0) }),
      ]));
    });
  }

`;
