/**
 * The dashboard's browser script (vanilla JS, no dependencies), served as `dashboard/app.js`.
 *
 * It fetches the gateway's usage API from the page's own origin only, draws the charts as inline SVG,
 * and refreshes every few seconds. Written without template literals so it can live in this string.
 */
import { SCRIPT_BUDGETS } from './script-budgets.js';
import { SCRIPT_CORE } from './script-core.js';
import { SCRIPT_SERIES } from './script-series.js';
import { SCRIPT_VIEWS } from './script-views.js';
import { SCRIPT_WIRING } from './script-wiring.js';

/** The whole script, its parts (split by concern to keep files small) concatenated. */
export const DASHBOARD_JS = SCRIPT_CORE + SCRIPT_VIEWS + SCRIPT_SERIES + SCRIPT_BUDGETS + SCRIPT_WIRING;
