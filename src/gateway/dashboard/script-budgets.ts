/**
 * The dashboard script's budgets view: each policy of `v1/budgets` with its top entities
 * (`v1/budgets/{policy}?top=20`, admin) or, for a tenant key, its own standings, as spend-against-limit
 * bars with the time the window resets; an empty state that says how to configure policies.
 * Part of `DASHBOARD_JS` (script.ts) (one function scope across the parts: they are concatenated in order).
 */
export const SCRIPT_BUDGETS = String.raw`  // ---- budgets ---------------------------------------------------------------------------------------

  var POLICY_EXAMPLE = 'budgets:\n  policies:\n    - { name: user-daily, scope: user, max_usd: 5, window: 1d }\n' +
    '    - { name: acme-monthly, scope: org, match: { org: acme }, max_usd: 500, window: 1mo }\n' +
    '    - { name: key-rate, scope: key, rpm: 60, tpm: 100000 }';

  function budgetsNote(text) {
    var box = $('budgets');
    box.textContent = '';
    box.appendChild(h('p', { class: 'chart-note', text: text }));
  }

  function usd(v) { return fmtUsd(num(v) * 1e9); }

  function fmtIn(ms) {
    var s = Math.max(0, Math.round((ms - Date.now()) / 1000));
    if (s < 60) return 'in ' + s + ' s';
    if (s < 3600) return 'in ' + Math.round(s / 60) + ' min';
    if (s < 172800) return 'in ' + Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' min';
    return 'in ' + Math.round(s / 86400) + ' d';
  }

  function resetText(iso) {
    if (iso === null || iso === undefined) return 'never (lifetime)';
    var t = Date.parse(iso);
    return isFinite(t) ? fmtIn(t) : String(iso);
  }

  function policyMeta(p) {
    var parts = ['scope ' + p.scope];
    var per = p.window ? ' per ' + p.window : ' (lifetime)';
    if (p.max_usd !== null && p.max_usd !== undefined) parts.push(usd(p.max_usd) + per);
    if (p.max_tokens !== null && p.max_tokens !== undefined) parts.push(fmtInt(p.max_tokens) + ' tokens' + per);
    if (p.rpm) parts.push(fmtInt(p.rpm) + ' requests/min');
    if (p.tpm) parts.push(fmtInt(p.tpm) + ' tokens/min');
    var match = p.match && typeof p.match === 'object' ? Object.keys(p.match) : [];
    if (match.length) parts.push('match ' + match.map(function (k) { return k + '=' + p.match[k]; }).join(', '));
    return parts.join(' · ');
  }

  var METER_NAMES = { usd: 'USD spent', tokens: 'Tokens used', rpm: 'Requests this minute', tpm: 'Tokens this minute' };

  // The meters of one standing: USD and tokens over the window, requests and tokens over the minute.
  function metersOf(s) {
    var out = [];
    if (s.max_usd !== null && s.max_usd !== undefined) {
      out.push({ kind: 'usd', used: num(s.spent_usd), reserved: num(s.reserved_usd), max: num(s.max_usd), remaining: s.remaining_usd, fmt: usd, unit: '' });
    }
    if (s.max_tokens !== null && s.max_tokens !== undefined) {
      out.push({ kind: 'tokens', used: num(s.used_tokens), reserved: num(s.reserved_tokens), max: num(s.max_tokens), remaining: s.remaining_tokens, fmt: fmtInt, unit: ' tokens' });
    }
    var r = s.rate;
    if (r && r.rpm) out.push({ kind: 'rpm', used: num(r.requests), reserved: 0, max: num(r.rpm), remaining: r.remaining_requests, fmt: fmtInt, unit: ' requests this minute' });
    if (r && r.tpm) out.push({ kind: 'tpm', used: num(r.tokens), reserved: 0, max: num(r.tpm), remaining: r.remaining_tokens, fmt: fmtInt, unit: ' tokens this minute' });
    return out;
  }

  function meterNode(mt, entity) {
    var pct = mt.max > 0 ? (mt.used / mt.max) * 100 : mt.used > 0 ? 100 : 0;
    var usedPct = Math.min(100, pct);
    var reservedPct = mt.max > 0 ? Math.min(100 - usedPct, (mt.reserved / mt.max) * 100) : 0;
    var lv = level(pct);
    var fillUsed = h('span', { class: 'budget-used' });
    fillUsed.style.width = usedPct.toFixed(2) + '%';
    var fillReserved = h('span', { class: 'budget-reserved' });
    fillReserved.style.width = reservedPct.toFixed(2) + '%';
    var text = mt.fmt(mt.used) + ' of ' + mt.fmt(mt.max) + mt.unit + ' (' + pct1.format(pct) + ' %)' + (mt.reserved ? ', ' + mt.fmt(mt.reserved) + ' reserved' : '');
    return h('div', { class: 'meter', 'data-kind': mt.kind }, [
      h('div', {
        class: 'budget level-' + lv,
        role: 'progressbar',
        'aria-label': METER_NAMES[mt.kind] + ' of ' + entity,
        'aria-valuemin': 0,
        'aria-valuemax': mt.max,
        'aria-valuenow': Math.min(mt.used, mt.max),
        'aria-valuetext': text,
        'data-level': lv,
      }, [fillUsed, fillReserved]),
      h('span', { class: 'budget-caption' }, [
        h('span', { class: 'pct level-' + lv, text: pct1.format(pct) + ' %' }),
        ' ' + mt.fmt(mt.used) + ' / ' + mt.fmt(mt.max) + mt.unit + (mt.reserved ? ' · ' + mt.fmt(mt.reserved) + ' reserved' : ''),
      ]),
    ]);
  }

  function standingRow(s) {
    var meters = metersOf(s);
    var first = meters[0];
    var remaining = first && first.remaining !== null && first.remaining !== undefined ? first.fmt(first.remaining) + first.unit.replace(' this minute', '') : '—';
    var rateOnly = (s.max_usd === null || s.max_usd === undefined) && (s.max_tokens === null || s.max_tokens === undefined) && s.rate;
    var resets = rateOnly ? s.rate.resets_at : s.resets_at;
    return h('tr', { 'data-entity': s.entity }, [
      h('th', { scope: 'row' }, h('code', { class: 'name', title: s.entity, text: s.entity })),
      h('td', { class: 'budget-cell' }, meters.length
        ? meters.reduce(function (out, mt, i) { return out.concat(i ? [' ', meterNode(mt, s.entity)] : [meterNode(mt, s.entity)]); }, [])
        : h('span', { class: 'muted', text: 'no limit' })),
      h('td', { class: 'num', text: remaining }),
      h('td', { class: 'num muted', title: resets || null, text: resetText(resets) }),
    ]);
  }

  function policyBlock(p, top, own) {
    var rows = null;
    var note = '';
    if (top && top.status === 'fulfilled' && Array.isArray(top.value.data)) rows = top.value.data;
    else if (top && top.status === 'rejected' && top.reason && top.reason.status === 403) {
      rows = own.filter(function (s) { return s.policy === p.name; });
      note = 'Your key sees its own standing only; the top entities need an admin key.';
    } else if (top && top.status === 'rejected') note = 'Could not load its entities: ' + (top.reason && top.reason.message ? top.reason.message : String(top.reason));
    else if (!top) note = 'Entities not loaded: the dashboard loads those of the first ' + MAX_POLICY_TOPS + ' policies (GET /v1/budgets/' + p.name + '?top=20 has them).';
    var tbody = h('tbody');
    if (rows && rows.length) rows.forEach(function (s) { tbody.appendChild(standingRow(s)); });
    else if (rows) {
      var rateOnly = (p.max_usd === null || p.max_usd === undefined) && (p.max_tokens === null || p.max_tokens === undefined);
      tbody.appendChild(h('tr', null, h('td', {
        colspan: 4,
        class: 'empty',
        text: rateOnly
          ? 'Rate limits only: counted per minute, nothing to rank by spend. One entity: GET /v1/budgets/' + p.name + '/{entity}.'
          : 'No spend in the current window yet.',
      })));
    }
    var reset = rows && rows.length ? rows[0].resets_at : undefined;
    return h('div', { class: 'policy', 'data-policy': p.name }, [
      h('div', { class: 'policy-head' }, [
        h('h3', { text: p.name }),
        h('span', { class: 'policy-meta', text: policyMeta(p) }),
        reset !== undefined ? h('span', { class: 'policy-meta policy-reset', title: reset || null, text: 'resets ' + resetText(reset) }) : null,
      ]),
      note ? h('p', { class: 'policy-note', text: note }) : null,
      rows ? h('div', { class: 'table-wrap' }, h('table', null, [
        h('caption', { class: 'sr-only', text: 'Entities of policy ' + p.name + ' with the most spend in the current window' }),
        h('thead', null, h('tr', null, [
          h('th', { scope: 'col', text: 'Entity' }),
          h('th', { scope: 'col', class: 'budget-col', text: 'Spend against limit' }),
          h('th', { scope: 'col', class: 'num', text: 'Remaining' }),
          h('th', { scope: 'col', class: 'num', text: 'Resets' }),
        ])),
        tbody,
      ])) : null,
    ]);
  }

  function renderBudgets() {
    var b = state.budgets;
    if (!b) return;
    var box = $('budgets');
    box.textContent = '';
    if (b.note && b.note.forbidden) { budgetsNote('This key may not read the budgets: ' + b.note.message); return; }
    var policies = b.list && Array.isArray(b.list.policies) ? b.list.policies : [];
    if (!policies.length) {
      box.appendChild(h('div', { class: 'empty-state' }, [
        h('p', null, [h('strong', { text: 'No budget policies configured. ' }),
          'Policies cap spend, tokens and request rates per user, org, key, agent, model or thread over a time window. ' +
          'Add them under budgets.policies in the gateway\'s config (tokenwarden.yaml) and restart it:']),
        h('pre', null, h('code', { text: POLICY_EXAMPLE })),
      ]));
      return;
    }
    var own = Array.isArray(b.list.data) ? b.list.data : [];
    policies.forEach(function (p, i) { box.appendChild(policyBlock(p, b.tops[i], own)); });
  }

`;
