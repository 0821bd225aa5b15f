/** The dashboard's stylesheet, served as `dashboard/app.css`. Light and dark themes follow the system. */
export const DASHBOARD_CSS = `:root {
  --bg: #f5f6f8;
  --card: #ffffff;
  --text: #1b1f24;
  --muted: #5f6b7a;
  --border: #e2e5ea;
  --grid: #eceef2;
  --accent: #4f46e5;
  --prompt: #4f46e5;
  --completion: #38bdf8;
  --cost: #0d9488;
  --ok: #16a34a;
  --warning: #d97706;
  --critical: #ea580c;
  --final: #dc2626;
  --track: #e9ecf1;
  --reserved: #94a3b8;
  --r0: #dc2626;
  --r1: #d97706;
  --r2: #7c3aed;
  --r3: #2563eb;
  --r4: #0d9488;
  --r5: #db2777;
  --r-rest: #64748b;
  --shadow: 0 1px 2px rgba(16, 24, 40, .06), 0 1px 3px rgba(16, 24, 40, .05);
  --radius: 10px;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f1218;
    --card: #171b23;
    --text: #e6e9ef;
    --muted: #98a2b3;
    --border: #2a303b;
    --grid: #232935;
    --accent: #818cf8;
    --prompt: #818cf8;
    --completion: #38bdf8;
    --cost: #2dd4bf;
    --track: #262c38;
    --reserved: #64748b;
    --shadow: none;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0;
  background: var(--bg);
  color: var(--text);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: .92em; }
.sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
.skip { position: absolute; left: -9999px; top: 0; }
.skip:focus { left: 12px; top: 12px; z-index: 10; background: var(--card); padding: 6px 10px; border-radius: 6px; }
.muted { color: var(--muted); }

.topbar {
  position: sticky; top: 0; z-index: 5;
  display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 12px;
  padding: 12px 24px;
  background: var(--card);
  border-bottom: 1px solid var(--border);
}
.brand { display: flex; align-items: center; gap: 10px; }
.logo { width: 26px; height: 26px; fill: var(--accent); }
.logo-mark { fill: none; stroke: #fff; stroke-width: 1.8; stroke-linecap: round; }
.brand-name { font-weight: 700; font-size: 17px; letter-spacing: -.01em; }
.brand-sub { color: var(--muted); font-size: 13px; padding-left: 10px; border-left: 1px solid var(--border); }
.controls { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; }
.control { display: inline-flex; align-items: center; gap: 6px; color: var(--muted); font-size: 13px; }
.control.check { cursor: pointer; }
select, input[type=password], input[type=text] {
  font: inherit; color: var(--text); background: var(--card);
  border: 1px solid var(--border); border-radius: 7px; padding: 6px 10px;
}
select { padding-right: 6px; }
.btn {
  font: inherit; font-size: 13px; font-weight: 500; cursor: pointer;
  color: var(--text); background: var(--card);
  border: 1px solid var(--border); border-radius: 7px; padding: 6px 12px;
}
.btn:hover { border-color: var(--muted); }
.btn-primary { background: var(--accent); border-color: var(--accent); color: #fff; }
.btn-primary:hover { filter: brightness(1.08); border-color: var(--accent); }
.btn-quiet { background: transparent; }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.status { color: var(--muted); font-size: 12px; min-width: 140px; font-variant-numeric: tabular-nums; }

main { max-width: 1320px; margin: 0 auto; padding: 20px 24px 8px; outline: none; }
main.stale .kpis, main.stale .card { opacity: .72; }

.banner { border-radius: var(--radius); padding: 14px 18px; margin-bottom: 16px; border: 1px solid; }
.banner h2 { margin: 0 0 4px; font-size: 15px; }
.banner p { margin: 0 0 10px; }
.banner-auth { background: color-mix(in srgb, var(--accent) 8%, var(--card)); border-color: color-mix(in srgb, var(--accent) 35%, var(--border)); }
.banner-error { background: color-mix(in srgb, var(--final) 8%, var(--card)); border-color: color-mix(in srgb, var(--final) 40%, var(--border)); color: var(--text); }
.key-form { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; margin-bottom: 8px; }
.key-form label { font-weight: 600; }
.key-form input { min-width: 320px; flex: 0 1 420px; }
.hint { color: var(--muted); font-size: 12px; margin: 0 !important; }

.kpis { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 16px; margin-bottom: 16px; }
.kpi { background: var(--card); border: 1px solid var(--border); border-radius: var(--radius); padding: 14px 18px; box-shadow: var(--shadow); min-width: 0; }
.kpi-label { margin: 0; font-size: 12px; font-weight: 600; color: var(--muted); text-transform: uppercase; letter-spacing: .05em; }
.kpi-value { margin: 4px 0 2px; font-size: 28px; font-weight: 650; letter-spacing: -.02em; font-variant-numeric: tabular-nums; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.kpi-sub { margin: 0; font-size: 12px; color: var(--muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }

.card { background: var(--card); border: 1px solid var(--border); border-radius: var(--radius); padding: 16px 18px; margin-bottom: 16px; box-shadow: var(--shadow); min-width: 0; }
.card-head { display: flex; align-items: baseline; justify-content: space-between; gap: 12px; margin-bottom: 10px; flex-wrap: wrap; }
.card-head h2 { margin: 0; font-size: 15px; font-weight: 650; }
.card-note { margin: 0; color: var(--muted); font-size: 12px; }
.grid-2 { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 0 16px; }
.grid-2 > .card { margin-bottom: 16px; }

.charts { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 24px; }
.chart-figure { margin: 0; position: relative; min-width: 0; }
.chart-figure figcaption { display: flex; justify-content: space-between; align-items: center; gap: 8px; font-size: 13px; font-weight: 600; margin-bottom: 6px; }
.chart-box { width: 100%; min-width: 0; min-height: 220px; }
.chart { display: block; max-width: 100%; overflow: visible; }
.chart .grid { stroke: var(--grid); stroke-width: 1; }
.chart .axis { stroke: var(--border); stroke-width: 1; }
.chart .tick { fill: var(--muted); font-size: 11px; font-variant-numeric: tabular-nums; }
.chart-empty { fill: var(--muted); font-size: 13px; }
.chart-note { display: flex; align-items: center; justify-content: center; min-height: 220px; margin: 0; color: var(--muted); font-size: 13px; }
.chart .hit { fill: transparent; }
.chart .bar:hover .hit { fill: color-mix(in srgb, var(--text) 5%, transparent); }
.bar-prompt { fill: var(--prompt); background: var(--prompt); }
.bar-completion { fill: var(--completion); background: var(--completion); }
.bar-cost { fill: var(--cost); background: var(--cost); }
.tooltip {
  position: absolute; pointer-events: none; z-index: 3;
  display: flex; flex-direction: column; gap: 1px;
  background: var(--text); color: var(--bg);
  padding: 7px 10px; border-radius: 7px; font-size: 12px; white-space: nowrap;
  font-variant-numeric: tabular-nums; box-shadow: 0 4px 14px rgba(0, 0, 0, .18);
}
.tooltip[hidden] { display: none; }
.legend { display: inline-flex; align-items: center; gap: 6px; font-weight: 400; font-size: 12px; color: var(--muted); flex-wrap: wrap; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 3px; margin-left: 6px; }
.swatch.level-ok { background: var(--ok); }
.swatch.level-warning { background: var(--warning); }
.swatch.level-critical { background: var(--critical); }
.swatch.level-final { background: var(--final); }
.swatch-reserved { background: var(--reserved); }

.data-table { margin-top: 10px; }
.data-table summary { cursor: pointer; color: var(--muted); font-size: 12px; }
.table-wrap { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 8px 10px; border-bottom: 1px solid var(--border); text-align: left; vertical-align: middle; }
thead th { font-size: 11.5px; font-weight: 600; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; white-space: nowrap; }
tbody tr:last-child > * { border-bottom: 0; }
tbody tr:hover > * { background: color-mix(in srgb, var(--accent) 4%, transparent); }
tbody th { font-weight: 550; }
.num { text-align: right; white-space: nowrap; }
td.num .sub { display: block; font-size: 11.5px; color: var(--muted); }
.name { display: block; max-width: 240px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; vertical-align: bottom; }
td.empty { text-align: center; color: var(--muted); padding: 28px 10px; }
.th-note { text-transform: none; letter-spacing: 0; font-weight: 400; }
.share { display: flex; align-items: center; gap: 8px; margin-top: 5px; }
.share-track { flex: 1 1 auto; max-width: 200px; min-width: 60px; height: 6px; background: var(--track); border-radius: 3px; overflow: hidden; }
.share-fill { display: block; height: 100%; background: var(--accent); border-radius: 3px; }
.share-text { flex: 0 0 46px; text-align: right; font-size: 11.5px; font-weight: 400; color: var(--muted); white-space: nowrap; }

.budget-col { min-width: 260px; }
.budget-cell { min-width: 260px; }
.budget { display: flex; height: 10px; background: var(--track); border-radius: 5px; overflow: hidden; }
.budget-used { display: block; height: 100%; background: var(--ok); }
.budget.level-warning .budget-used { background: var(--warning); }
.budget.level-critical .budget-used { background: var(--critical); }
.budget.level-final .budget-used { background: var(--final); }
.budget-reserved {
  display: block; height: 100%;
  background: repeating-linear-gradient(135deg, var(--reserved) 0 3px, transparent 3px 6px);
}
.budget-caption { display: block; margin-top: 4px; font-size: 12px; color: var(--muted); }
.pct { font-weight: 650; color: var(--ok); }
.pct.level-warning { color: var(--warning); }
.pct.level-critical { color: var(--critical); }
.pct.level-final { color: var(--final); }

.reason-0 { fill: var(--r0); background: var(--r0); }
.reason-1 { fill: var(--r1); background: var(--r1); }
.reason-2 { fill: var(--r2); background: var(--r2); }
.reason-3 { fill: var(--r3); background: var(--r3); }
.reason-4 { fill: var(--r4); background: var(--r4); }
.reason-5 { fill: var(--r5); background: var(--r5); }
.reason-rest { fill: var(--r-rest); background: var(--r-rest); }
#refusals-rows .sub { display: block; font-size: 11.5px; font-weight: 400; color: var(--muted); }
#refusals-rows .swatch { margin-left: 0; }

.policy { border-top: 1px solid var(--border); padding-top: 12px; margin-top: 12px; }
.policy:first-child { border-top: 0; padding-top: 0; margin-top: 0; }
.policy-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 14px; margin-bottom: 4px; }
.policy-head h3 { margin: 0; font-size: 14px; font-weight: 650; }
.policy-meta, .policy-note { color: var(--muted); font-size: 12px; margin: 0; }
.policy-reset { margin-left: auto; }
.meter + .meter { margin-top: 8px; }
.empty-state { color: var(--muted); }
.empty-state p { margin: 4px 0 10px; }
.empty-state strong { color: var(--text); }
.empty-state pre { margin: 0; padding: 10px 12px; background: var(--bg); border: 1px solid var(--border); border-radius: 7px; overflow-x: auto; color: var(--text); }

.footer { max-width: 1320px; margin: 0 auto; padding: 4px 24px 24px; color: var(--muted); font-size: 12px; }

@media (max-width: 1100px) {
  .kpis { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .grid-2, .charts { grid-template-columns: minmax(0, 1fr); }
}
@media (max-width: 560px) {
  .kpis { grid-template-columns: minmax(0, 1fr); }
  .topbar, main { padding-left: 12px; padding-right: 12px; }
  .key-form input { min-width: 0; width: 100%; }
}
`;
