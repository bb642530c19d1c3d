// Tails Server GUI: copy buttons, secret reveal, and live refresh of the
// page's live parts over server-sent events. Everything works without it.
(function () {
  'use strict';
  document.documentElement.classList.add('js');

  document.addEventListener('click', function (ev) {
    var b = ev.target.closest('[data-copy]');
    if (b) {
      var el = document.getElementById(b.getAttribute('data-copy'));
      if (!el) return;
      var done = function () {
        var old = b.firstChild.nodeValue;
        b.firstChild.nodeValue = 'Copied';
        setTimeout(function () { b.firstChild.nodeValue = old; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(el.value).then(done, function () { el.select(); });
      } else {
        el.select();
        try { document.execCommand('copy'); done(); } catch (e) { /* selected: the user copies */ }
      }
      return;
    }
    var r = ev.target.closest('[data-reveal]');
    if (r) {
      var input = document.getElementById(r.getAttribute('data-reveal'));
      if (!input) return;
      var show = input.type === 'password';
      input.type = show ? 'text' : 'password';
      r.setAttribute('aria-pressed', show ? 'true' : 'false');
      r.firstChild.nodeValue = show ? 'Hide' : 'Show';
    }
  });

  var src = document.body.getAttribute('data-events');
  if (!src || !window.EventSource) return;
  var es = new EventSource(src);
  es.addEventListener('live', function (ev) {
    var parts;
    try { parts = JSON.parse(ev.data); } catch (e) { return; }
    parts.forEach(function (p) {
      var el = document.getElementById(p.id);
      if (!el || el.getAttribute('data-live') === p.hash) return;
      var focused = document.activeElement && el.contains(document.activeElement) ? document.activeElement.id : '';
      el.innerHTML = p.html;
      el.setAttribute('data-live', p.hash);
      if (focused) {
        var f = document.getElementById(focused);
        if (f) f.focus();
      }
    });
  });
  es.addEventListener('login', function () { es.close(); location.reload(); });
  window.addEventListener('pagehide', function () { es.close(); });
})();
