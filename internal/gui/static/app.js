// Tails Server GUI: copy buttons, secret reveal, the progress of a form
// of files, and live refresh of the page's live parts over server-sent
// events. Everything works without it.
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

  // A form of files is sent by the script when it can, to show how much
  // of it has gone; without the script the browser sends it and shows
  // its own progress. The answer says where to go next, or why not.
  document.addEventListener('submit', function (ev) {
    var form = ev.target.closest('form[data-upload]');
    if (!form || !window.FormData || !window.XMLHttpRequest) return;
    ev.preventDefault();
    var box = form.querySelector('.progress');
    var bar = box && box.querySelector('progress');
    var err = form.querySelector('.field-error');
    var button = form.querySelector('button[type=submit]');
    var xhr = new XMLHttpRequest();
    xhr.open('POST', form.action);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', function (p) {
      if (bar && p.lengthComputable) bar.value = Math.floor(100 * p.loaded / p.total);
    });
    xhr.addEventListener('load', function () {
      var a;
      try { a = JSON.parse(xhr.responseText); } catch (e) { a = { error: 'The daemon answered ' + xhr.status + '.' }; }
      if (a.location) { location.href = a.location; location.reload(); return; }
      if (box) box.hidden = true;
      if (button) button.disabled = false;
      if (err) { err.textContent = (a.error || 'The files were not added.') + (a.hint ? ' ' + a.hint : ''); err.hidden = false; }
    });
    xhr.addEventListener('error', function () {
      if (box) box.hidden = true;
      if (button) button.disabled = false;
      if (err) { err.textContent = 'The files could not be sent: the connection to Tails Server broke. Try again.'; err.hidden = false; }
    });
    if (err) err.hidden = true;
    if (box) box.hidden = false;
    if (bar) bar.value = 0;
    if (button) button.disabled = true;
    xhr.send(new FormData(form));
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
