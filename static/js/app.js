// Modal, toasts, focus, resend countdown, copy/print. The rest is htmx and plain forms.
(function () {
  "use strict";
  var opener = null, action = null, $ = function (s, r) { return (r || document).querySelector(s); };
  function dlg() { return $("#modal dialog"); }
  function closeModal() { var d = dlg(); if (d && d.open) d.close(); }
  function toast(msg, level) {
    var t = document.createElement("div");
    t.className = "toast toast-" + (level || "success");
    t.textContent = msg;
    $("#toasts").appendChild(t);
    setTimeout(function () { t.remove(); }, 10000);
  }
  function countdowns(root) {
    root.querySelectorAll("[data-countdown]").forEach(function (b) {
      var left = +b.dataset.countdown, s = $("[data-seconds]", b);
      if (left > 0) var t = setInterval(function () {
        if (s) s.textContent = --left;
        if (left <= 0 || !b.isConnected) {
          clearInterval(t);
          b.removeAttribute("aria-disabled");
          var c = $(".countdown", b); if (c) c.remove();
        }
      }, 1000);
    });
  }
  document.addEventListener("click", function (e) {
    var t = e.target, c = t.closest("[data-copy]");
    if (c && navigator.clipboard) navigator.clipboard.writeText($(c.dataset.copy).innerText.trim()).then(function () { toast("Copied."); });
    if (t.closest("[data-print]")) window.print();
    if (t.closest("[aria-disabled=true]")) e.preventDefault();
    var x = t.closest("a[data-close-modal]");
    if (x && dlg() && dlg().contains(x)) { e.preventDefault(); closeModal(); }
  });
  // Tab and Shift+Tab wrap around inside the open modal instead of leaving for the browser UI.
  document.addEventListener("keydown", function (e) {
    var d = dlg();
    if (e.key !== "Tab" || !d || !d.open) return;
    var f = [].filter.call(d.querySelectorAll("a[href],button,input,summary"), function (x) {
      return !x.disabled && x.type !== "hidden" && x.getClientRects().length && !(x.type === "radio" && !x.checked);
    }), a = document.activeElement, i = f.indexOf(a.type === "radio" ? $("input[name=" + a.name + "]:checked", d) || a : a);
    if (e.shiftKey ? i <= 0 : i === f.length - 1) { e.preventDefault(); f[e.shiftKey ? f.length - 1 : 0].focus(); }
  });
  // Who opened the modal, and which button started a request: focus goes back there.
  document.addEventListener("htmx:beforeRequest", function (e) {
    var a = document.activeElement, el = e.detail.elt, k = a.form ? $("[data-action]", a.form) : a;
    if (a.closest("dialog") || !el.contains(a)) return;
    opener = a;
    if (k && k.dataset && k.dataset.action) action = k.dataset.action;
  });
  document.addEventListener("htmx:load", function (e) {
    var el = e.detail.elt, d = el.matches("dialog[data-modal]") ? el : $("dialog[data-modal]", el);
    countdowns(el);
    if (d && !d.open) {
      d.addEventListener("cancel", function () { var f = $("#verify-cancel", d); if (f) htmx.trigger(f, "submit"); });
      d.addEventListener("close", function () {
        d.remove();
        var o = opener && opener.isConnected ? opener : action && $('[data-action="' + action + '"]');
        if (o) o.focus();
      });
      d.showModal();
    }
    var a = document.activeElement;
    if (d || el.id === "verify-step" || !a || a === document.body) {
      var f = $("[aria-invalid=true], [autofocus]", el) || (d || el.id === "verify-step") && $("input:not([type=hidden]), button, a[href]", el)
        || action && $('[data-action="' + action + '"]', el);
      if (f) f.focus();
    }
  });
  document.addEventListener("DOMContentLoaded", function () { countdowns(document); });
  document.addEventListener("closeModal", closeModal);
  document.addEventListener("toast", function (e) { toast(e.detail.message, e.detail.level); });
})();
