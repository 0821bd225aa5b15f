/**
 * The dashboard page served at `GET /`. Styles and script are separate same-origin assets
 * (`dashboard/app.css`, `dashboard/app.js`) so the page runs under a strict Content-Security-Policy.
 * Asset URLs are relative, so the page also works when a proxy mounts the gateway under a sub-path.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>tokenwarden · usage dashboard</title>
<link rel="icon" href="dashboard/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="dashboard/app.css">
<script src="dashboard/app.js" defer></script>
</head>
<body>
<a class="skip" href="#content">Skip to content</a>
<header class="topbar">
  <div class="brand">
    <svg class="logo" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M12 2 3 6v6c0 5 3.8 9.3 9 10 5.2-.7 9-5 9-10V6l-9-4Z"/><path class="logo-mark" d="M8 12.5h8M8 9h8M8 16h5"/></svg>
    <span class="brand-name">tokenwarden</span>
    <span class="brand-sub">gateway usage</span>
  </div>
  <div class="controls" role="group" aria-label="Dashboard controls">
    <label class="control" for="period">Period
      <select id="period">
        <option value="24h">Last 24 hours</option>
        <option value="7d">Last 7 days</option>
        <option value="30d" selected>Last 30 days</option>
        <option value="90d">Last 90 days</option>
        <option value="all">All time</option>
      </select>
    </label>
    <label class="control check" for="auto"><input id="auto" type="checkbox" checked> Auto-refresh (5 s)</label>
    <button id="refresh" type="button" class="btn">Refresh</button>
    <button id="key-button" type="button" class="btn btn-quiet">Gateway key</button>
    <span id="status" class="status" role="status" aria-live="polite">Loading…</span>
  </div>
</header>

<main id="content" tabindex="-1">
  <section id="auth" class="banner banner-auth" aria-labelledby="auth-title" hidden>
    <h2 id="auth-title">Gateway key</h2>
    <p id="auth-message"></p>
    <form id="key-form" class="key-form" autocomplete="off">
      <label for="key-input">Key</label>
      <input id="key-input" name="key" type="password" spellcheck="false" autocapitalize="off" placeholder="tw-…" aria-describedby="key-hint">
      <button type="submit" class="btn btn-primary">Use key</button>
      <button type="button" id="key-clear" class="btn btn-quiet" hidden>Forget key</button>
      <button type="button" id="key-cancel" class="btn btn-quiet">Close</button>
    </form>
    <p id="key-hint" class="hint">Kept in this browser tab only (sessionStorage) and sent to this gateway as <code>Authorization: Bearer</code>.</p>
  </section>

  <div id="error" class="banner banner-error" role="alert" hidden></div>

  <section class="kpis" aria-label="Totals for the selected period">
    <div class="kpi">
      <h2 class="kpi-label">Tokens</h2>
      <p id="kpi-tokens" class="kpi-value">—</p>
      <p id="kpi-tokens-sub" class="kpi-sub">&nbsp;</p>
    </div>
    <div class="kpi">
      <h2 class="kpi-label">Estimated cost</h2>
      <p id="kpi-cost" class="kpi-value">—</p>
      <p id="kpi-cost-sub" class="kpi-sub">&nbsp;</p>
    </div>
    <div class="kpi">
      <h2 class="kpi-label">Requests</h2>
      <p id="kpi-requests" class="kpi-value">—</p>
      <p id="kpi-requests-sub" class="kpi-sub">&nbsp;</p>
    </div>
    <div class="kpi">
      <h2 class="kpi-label">Live threads</h2>
      <p id="kpi-threads" class="kpi-value">—</p>
      <p id="kpi-threads-sub" class="kpi-sub">&nbsp;</p>
    </div>
  </section>

  <section class="card" aria-labelledby="daily-title">
    <div class="card-head">
      <h2 id="daily-title">Usage over time</h2>
      <p class="card-note">UTC days</p>
    </div>
    <div class="charts">
      <figure class="chart-figure">
        <figcaption>Tokens per day
          <span class="legend"><span class="swatch bar-prompt" aria-hidden="true"></span>Prompt <span class="swatch bar-completion" aria-hidden="true"></span>Completion</span>
        </figcaption>
        <div id="chart-tokens" class="chart-box"></div>
        <div class="tooltip" hidden></div>
      </figure>
      <figure class="chart-figure">
        <figcaption>Cost per day <span class="legend"><span class="swatch bar-cost" aria-hidden="true"></span>USD</span></figcaption>
        <div id="chart-cost" class="chart-box"></div>
        <div class="tooltip" hidden></div>
      </figure>
    </div>
    <details class="data-table">
      <summary>Daily figures as a table</summary>
      <div class="table-wrap">
        <table>
          <caption class="sr-only">Usage per UTC day, newest first</caption>
          <thead><tr><th scope="col">Day</th><th scope="col" class="num">Requests</th><th scope="col" class="num">Prompt tokens</th><th scope="col" class="num">Completion tokens</th><th scope="col" class="num">Cost</th></tr></thead>
          <tbody id="daily-rows"><tr><td colspan="5" class="empty">Loading…</td></tr></tbody>
        </table>
      </div>
    </details>
  </section>

  <section class="card" aria-labelledby="hourly-title">
    <div class="card-head">
      <h2 id="hourly-title">Last 24 hours</h2>
      <p class="card-note">UTC hours, whatever the period above</p>
    </div>
    <div class="charts">
      <figure class="chart-figure">
        <figcaption>Tokens per hour
          <span class="legend"><span class="swatch bar-prompt" aria-hidden="true"></span>Prompt <span class="swatch bar-completion" aria-hidden="true"></span>Completion</span>
        </figcaption>
        <div id="chart-hourly-tokens" class="chart-box"></div>
        <div class="tooltip" hidden></div>
      </figure>
      <figure class="chart-figure">
        <figcaption>Cost per hour <span class="legend"><span class="swatch bar-cost" aria-hidden="true"></span>USD</span></figcaption>
        <div id="chart-hourly-cost" class="chart-box"></div>
        <div class="tooltip" hidden></div>
      </figure>
    </div>
    <details class="data-table">
      <summary>Hourly figures as a table</summary>
      <div class="table-wrap">
        <table>
          <caption class="sr-only">Usage per UTC hour over the last 24 hours, newest first</caption>
          <thead><tr><th scope="col">Hour (UTC)</th><th scope="col" class="num">Requests</th><th scope="col" class="num">Prompt tokens</th><th scope="col" class="num">Completion tokens</th><th scope="col" class="num">Cost</th></tr></thead>
          <tbody id="hourly-rows"><tr><td colspan="5" class="empty">Loading…</td></tr></tbody>
        </table>
      </div>
    </details>
  </section>

  <div class="grid-2">
    <section class="card" aria-labelledby="models-title">
      <div class="card-head"><h2 id="models-title">By model</h2></div>
      <div class="table-wrap">
        <table id="models-table">
          <caption class="sr-only">Usage by model for the selected period</caption>
          <thead><tr><th scope="col">Model <span class="th-note">· share of tokens</span></th><th scope="col" class="num">Calls</th><th scope="col" class="num">Tokens</th><th scope="col" class="num">Cost</th></tr></thead>
          <tbody id="models-rows"><tr><td colspan="4" class="empty">Loading…</td></tr></tbody>
        </table>
      </div>
    </section>
    <section class="card" aria-labelledby="agents-title">
      <div class="card-head"><h2 id="agents-title">By agent</h2></div>
      <div class="table-wrap">
        <table id="agents-table">
          <caption class="sr-only">Usage by agent for the selected period</caption>
          <thead><tr><th scope="col">Agent <span class="th-note">· share of tokens</span></th><th scope="col" class="num">Calls</th><th scope="col" class="num">Tokens</th><th scope="col" class="num">Cost</th></tr></thead>
          <tbody id="agents-rows"><tr><td colspan="4" class="empty">Loading…</td></tr></tbody>
        </table>
      </div>
    </section>
  </div>

  <section class="card" aria-labelledby="budgets-title">
    <div class="card-head">
      <h2 id="budgets-title">Budgets</h2>
      <p class="card-note">each policy's entities with the most spend in the current window</p>
    </div>
    <div id="budgets"><p class="chart-note">Loading…</p></div>
  </section>

  <section class="card" aria-labelledby="refusals-title">
    <div class="card-head">
      <h2 id="refusals-title">Refusals</h2>
      <p class="card-note">calls this gateway refused, by reason · last 24 hours, UTC</p>
    </div>
    <div class="charts">
      <figure class="chart-figure">
        <figcaption>Refused calls <span id="refusals-legend" class="legend"></span></figcaption>
        <div id="chart-refusals" class="chart-box"></div>
        <div class="tooltip" hidden></div>
      </figure>
      <div class="table-wrap">
        <table id="refusals-table">
          <caption class="sr-only">Refusals by reason over the last 24 hours</caption>
          <thead><tr><th scope="col">Reason</th><th scope="col" class="num">Refusals</th></tr></thead>
          <tbody id="refusals-rows"><tr><td colspan="2" class="empty">Loading…</td></tr></tbody>
        </table>
      </div>
    </div>
  </section>

  <section class="card" aria-labelledby="threads-title">
    <div class="card-head">
      <h2 id="threads-title">Live threads</h2>
      <p class="card-note legend">
        <span class="swatch level-ok" aria-hidden="true"></span>under 75 %
        <span class="swatch level-warning" aria-hidden="true"></span>75 %
        <span class="swatch level-critical" aria-hidden="true"></span>90 %
        <span class="swatch level-final" aria-hidden="true"></span>95 %
        <span class="swatch swatch-reserved" aria-hidden="true"></span>reserved
      </p>
    </div>
    <div class="table-wrap">
      <table id="threads-table">
        <caption class="sr-only">Threads with a live budget, most recently active first</caption>
        <thead><tr><th scope="col">Thread</th><th scope="col">Org</th><th scope="col" class="num">Calls</th><th scope="col" class="budget-col">Budget used</th><th scope="col" class="num">Remaining</th><th scope="col" class="num">Last call</th></tr></thead>
        <tbody id="threads-rows"><tr><td colspan="6" class="empty">Loading…</td></tr></tbody>
      </table>
    </div>
  </section>
</main>
<footer class="footer">tokenwarden gateway · Prometheus metrics at <code>/metrics</code></footer>
</body>
</html>
`;
