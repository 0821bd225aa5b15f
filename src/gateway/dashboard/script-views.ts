/**
 * The dashboard script's views: KPIs, the daily chart (inline SVG), the model, agent and user breakdowns and the live-thread table.
 * Part of `DASHBOARD_JS` (script.ts) (one function scope across the parts: they are concatenated in order).
 */
export const SCRIPT_VIEWS = String.raw`  // ---- rendering ------------------------------------------------------------------------------------

  function renderAll() {
    renderKpis();
    renderDaily();
    renderBreakdown('models', state.summary ? state.summary.by_model : null, function (r) { return r.model; });
    renderBreakdown('agents', state.summary ? state.summary.by_agent : null, function (r) { return r.agent_id; });
    renderThreads();
    renderHourly();
    renderRefusals();
    renderBudgets();
  }

  function renderKpis() {
    var t = state.summary && state.summary.totals;
    if (t) {
      $('kpi-tokens').textContent = fmtInt(t.total_tokens);
      $('kpi-tokens-sub').textContent = fmtInt(t.prompt_tokens) + ' prompt · ' + fmtInt(t.completion_tokens) + ' completion';
      $('kpi-cost').textContent = fmtCost(t.cost_nanos);
      var req = num(t.request_count);
      var unpriced = num(t.unpriced_requests);
      var costSub = [];
      if (req > unpriced) costSub.push(fmtUsd(num(t.cost_nanos) / (req - unpriced)) + ' per ' + (unpriced ? 'priced ' : '') + 'request');
      if (unpriced) costSub.push(unpricedNote(unpriced));
      $('kpi-cost-sub').textContent = req ? costSub.join(' · ') : 'no calls yet';
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
        costCell('num', p),
      ]));
    });
  }

  function niceStep(raw) {
    var pow = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / pow;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * pow;
  }

  // Stacked bars of opts.days (points) for opts.series. Daily by default; opts.when(point) → Date,
  // opts.tick/opts.title(date) → axis label/tooltip heading, opts.noun ('days'), opts.peak(point) → where
  // the highest bar is (' on 2025-03-10'), opts.extra(point) → more tooltip lines, opts.empty → empty text.
  function drawBars(container, opts) {
    container.textContent = '';
    var width = Math.max(260, Math.floor(container.clientWidth || 560));
    var height = 220;
    var m = { top: 14, right: 8, bottom: 26, left: 58 };
    var pw = width - m.left - m.right;
    var ph = height - m.top - m.bottom;
    var days = opts.days;
    var when = opts.when || function (d) { return new Date(d.date + 'T00:00:00Z'); };
    var tick = opts.tick || function (date) { return dayLabel.format(date); };
    var title = opts.title || function (date) { return dayLong.format(date); };
    var peakAt = opts.peak || function (d) { return ' on ' + d.date; };
    var extra = opts.extra || function (d) { return ['Requests: ' + fmtInt(d.request_count)]; };
    var totals = days.map(function (d) {
      return opts.series.reduce(function (s, se) { return s + num(d[se.key]); }, 0);
    });
    var max = totals.reduce(function (a, b) { return Math.max(a, b); }, 0);
    var peak = totals.indexOf(max);
    var summary = max > 0
      ? opts.label + ' over ' + days.length + ' ' + (opts.noun || 'days') + '; highest ' + opts.value(max) + (opts.unit ? ' ' + opts.unit : '') + peakAt(days[peak])
      : opts.label + ': ' + (opts.empty || 'no usage yet in this period');
    var root = svg('svg', { class: 'chart', width: width, height: height, viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': summary });
    container.appendChild(root);
    if (max === 0) {
      root.appendChild(svg('line', { class: 'axis', x1: m.left, x2: width - m.right, y1: m.top + ph, y2: m.top + ph }));
      var emptyText = opts.empty ? opts.empty.charAt(0).toUpperCase() + opts.empty.slice(1) : 'No usage yet';
      root.appendChild(svg('text', { class: 'chart-empty', x: m.left + pw / 2, y: m.top + ph / 2, 'text-anchor': 'middle', text: emptyText }));
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
      var date = when(d);
      var lines = [title(date)].concat(opts.series.map(function (se) {
        return se.name + ': ' + (d[se.key] === null ? 'unpriced' : opts.value(num(d[se.key])));
      })).concat(extra(d));
      g.addEventListener('pointerenter', function () { showTip(tip, container, lines, x + bw / 2, y0); });
      g.addEventListener('pointerleave', function () { tip.hidden = true; });
      root.appendChild(g);
      if (i % every === 0) {
        root.appendChild(svg('text', { class: 'tick', x: m.left + i * slot + slot / 2, y: height - 8, 'text-anchor': 'middle', text: tick(date) }));
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
        costCell('num cost', r),
      ]));
    });
  }

  // The cost cell of an aggregate: "unpriced" (muted) when none of its requests is priced; a title
  // counts the unpriced requests left out of a priced sum.
  function costCell(cls, r) {
    var unpriced = num(r.unpriced_requests);
    return h('td', {
      class: cls + (r.cost_nanos === null ? ' muted' : ''),
      title: unpriced ? unpricedNote(unpriced) : null,
      'data-unpriced': unpriced || null,
      text: fmtCost(r.cost_nanos),
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

`;
