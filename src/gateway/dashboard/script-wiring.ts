/**
 * The end of the dashboard script: period selection, key and refresh buttons, start-up.
 * Part of `DASHBOARD_JS` (script.ts) (one function scope across the parts: they are concatenated in order).
 */
export const SCRIPT_WIRING = String.raw`  // ---- wiring ---------------------------------------------------------------------------------------

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
          if (state.hourly) renderHourly();
          if (state.refusals) renderRefusals();
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
