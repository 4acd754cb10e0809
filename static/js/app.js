// Modal, toasts, countdown and copy buttons. Everything else is htmx and plain forms.
(function () {
  "use strict";
  var opener = null;
  function modal() { return document.querySelector("#modal dialog"); }
  function closeModal() {
    var d = modal();
    if (d && d.open) d.close();
  }
  function focusFirst(root) {
    var el = root.querySelector("[autofocus], input:not([type=hidden]):not([disabled]), button, a[href]");
    if (el) el.focus();
  }
  function toast(message, level) {
    var t = document.createElement("div");
    t.className = "toast toast-" + (level || "success");
    t.textContent = message;
    document.getElementById("toasts").appendChild(t);
    setTimeout(function () { t.remove(); }, 8000);
  }
  function countdowns(root) {
    root.querySelectorAll("[data-countdown]").forEach(function (btn) {
      var left = parseInt(btn.getAttribute("data-countdown"), 10) || 0;
      if (left <= 0) return;
      btn.disabled = true;
      var label = btn.querySelector("[data-seconds]");
      var timer = setInterval(function () {
        left -= 1;
        if (label) label.textContent = left;
        if (left <= 0 || !btn.isConnected) {
          clearInterval(timer);
          btn.disabled = false;
          btn.removeAttribute("aria-disabled");
          var c = btn.querySelector(".countdown");
          if (c) c.remove();
        }
      }, 1000);
    });
  }
  document.addEventListener("click", function (e) {
    var copy = e.target.closest("[data-copy]");
    if (copy && navigator.clipboard) {
      var src = document.querySelector(copy.getAttribute("data-copy"));
      navigator.clipboard.writeText(src.innerText.trim()).then(function () { toast("Copied."); });
    }
    var print = e.target.closest("[data-print]");
    if (print) window.print();
    var close = e.target.closest("[data-close-modal]");
    if (close && modal() && modal().contains(close) && close.tagName === "A") {
      e.preventDefault();
      closeModal();
    }
    if (e.target.closest("[hx-post], form[hx-post] button")) opener = opener || document.activeElement;
  });
  document.addEventListener("submit", function () { opener = document.activeElement; }, true);
  document.addEventListener("htmx:load", function (e) {
    var el = e.detail.elt;
    countdowns(el);
    var d = el.matches && el.matches("dialog[data-modal]") ? el : el.querySelector && el.querySelector("dialog[data-modal]");
    if (d && !d.open) {
      d.addEventListener("close", function () {
        d.remove();
        if (opener && opener.isConnected) opener.focus();
        opener = null;
      });
      d.showModal();
      focusFirst(d);
    } else if (el.id === "verify-step") {
      focusFirst(el);
    }
  });
  document.body && countdowns(document.body);
  document.addEventListener("DOMContentLoaded", function () { countdowns(document.body); });
  document.addEventListener("closeModal", closeModal);
  document.addEventListener("toast", function (e) { toast(e.detail.message, e.detail.level); });
})();
