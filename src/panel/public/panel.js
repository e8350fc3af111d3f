// Web Image Monitor: the only script (served locally; the CSP forbids inline scripts).
// Live state over server-sent events, the code countdown, and the copy button.
// Every word it shows comes from the page's data-wording attribute (src/panel/wording.ts): no copy here.
(function () {
  'use strict';

  var wording = { titles: {}, tones: {}, labels: {} };
  try { wording = JSON.parse(document.body.getAttribute('data-wording') || '{}'); } catch (e) { /* keep the server-rendered text */ }
  var labels = wording.labels || {};

  function mmss(total) {
    total = Math.max(0, Math.floor(total));
    var m = Math.floor(total / 60), s = total % 60;
    return (m < 10 ? '0' : '') + m + ':' + (s < 10 ? '0' : '') + s;
  }

  // Countdown of the device code; the server rendered the seconds left on the device clock.
  document.querySelectorAll('[data-countdown]').forEach(function (el) {
    var end = Date.now() + Number(el.getAttribute('data-countdown')) * 1000;
    var tick = function () {
      var left = (end - Date.now()) / 1000;
      el.textContent = mmss(left);
      if (left <= 0) { clearInterval(timer); el.textContent = labels.codeExpired || mmss(0); }
    };
    var timer = setInterval(tick, 1000);
    tick();
  });

  // Copy button: the clipboard API (127.0.0.1 is a secure context), falling back to selecting the text.
  document.querySelectorAll('[data-copy-target]').forEach(function (btn) {
    btn.addEventListener('click', function () {
      var target = document.getElementById(btn.getAttribute('data-copy-target'));
      if (!target) return;
      var text = target.textContent.trim();
      var idle = btn.textContent;
      var done = function () { btn.textContent = labels.copied || idle; setTimeout(function () { btn.textContent = idle; }, 2000); };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(done, function () { select(target); });
      } else { select(target); }
    });
  });
  function select(el) {
    var range = document.createRange(); range.selectNodeContents(el);
    var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
  }

  // Fields for the chosen method only (without the script every field shows; the server ignores the others).
  var method = document.getElementById('authMethod');
  if (method) {
    var showFor = function () {
      document.querySelectorAll('[data-methods]').forEach(function (row) {
        row.hidden = row.getAttribute('data-methods').split(' ').indexOf(method.value) < 0;
      });
    };
    method.addEventListener('change', showFor);
    showFor();
  }

  // Live updates: the header badge follows every transition; pages that show state reload on one.
  if (document.body.getAttribute('data-live') !== '1' || !window.EventSource) return;
  var reloadOnTransition = !!document.querySelector('[data-reload-on-transition]');
  var badge = document.getElementById('header-state');
  var titles = wording.titles || {};
  var tones = wording.tones || {};
  var shown = badge ? badge.getAttribute('data-state') : null;
  var reloading = false;
  function show(status) {
    if (!badge || !status) return;
    badge.textContent = titles[status.state] || status.state;
    badge.className = 'badge tone-' + (tones[status.state] || 'idle');
    badge.setAttribute('data-state', status.state);
  }
  function scheduleReload() {
    if (!reloadOnTransition || reloading) return;
    reloading = true;
    setTimeout(function () { window.location.reload(); }, 250);
  }
  var source = new EventSource('/api/events');
  source.addEventListener('status', function (e) {
    var status = JSON.parse(e.data); show(status);
    // The page may be older than the stream (e.g. rendered just before a transition): catch up once.
    if (shown && status.state !== shown) scheduleReload();
  });
  source.addEventListener('transition', function (e) { var t = JSON.parse(e.data); show(t.status); scheduleReload(); });
  source.addEventListener('boot', function (e) { show(JSON.parse(e.data)); scheduleReload(); });
  window.addEventListener('beforeunload', function () { source.close(); });
})();
