// Modal, focus, toasts, resend countdown, copy/print. The rest is htmx and plain forms.
(() => {
  "use strict";
  const D = document, $ = (s, r) => (r || D).querySelector(s), on = (t, f) => D.addEventListener(t, f);
  const dlg = () => $("#modal dialog"), close = () => dlg()?.open && dlg().close();
  let opener, action;
  const byAction = (root) => action && $(`[data-action="${action}"]`, root);
  const toast = (text, level) => {
    const t = D.createElement("div");
    t.className = "toast toast-" + (level || "success");
    t.textContent = text;
    $("#toasts").append(t);
    setTimeout(() => t.remove(), 1e4);
  };
  // The seconds are not a live region: readable on demand, never announced every tick.
  const countdowns = (root) => root.querySelectorAll("[aria-disabled][data-countdown]").forEach((b) => {
    let n = +b.dataset.countdown;
    const t = setInterval(() => {
      $("[data-seconds]", b).textContent = --n;
      if (n < 1 || !b.isConnected) {
        clearInterval(t);
        b.removeAttribute("aria-disabled");
        $(".countdown", b).remove();
      }
    }, 1e3);
  });
  on("click", (e) => {
    const t = e.target, c = t.closest("[data-copy]"), x = t.closest("a[data-close-modal]");
    if (c) navigator.clipboard?.writeText($(c.dataset.copy).innerText.trim()).then(() => toast("Copied."));
    if (t.closest("[data-print]")) print();
    if (t.closest("[aria-disabled=true]") || x?.closest("dialog")) e.preventDefault();
    if (x) close();
  });
  // Tab and Shift+Tab wrap around inside the open modal.
  on("keydown", (e) => {
    const d = dlg(), a = D.activeElement;
    if (e.key !== "Tab" || !d?.open) return;
    const f = [...d.querySelectorAll("a[href],button,input,summary")].filter((x) =>
      !x.disabled && x.type !== "hidden" && x.getClientRects().length && (x.type !== "radio" || x.checked));
    const i = f.indexOf(a.type === "radio" ? $(`[name=${a.name}]:checked`, d) || a : a);
    if (e.shiftKey ? i < 1 : i === f.length - 1) {
      e.preventDefault();
      f.at(e.shiftKey ? -1 : 0).focus();
    }
  });
  // Remember what the user acted on outside the modal: focus returns there afterwards.
  on("htmx:beforeRequest", (e) => {
    const a = D.activeElement, k = a.form ? $("[data-action]", a.form) : a;
    if (a.closest("dialog") || !e.detail.elt.contains(a)) return;
    opener = a;
    action = k?.dataset.action || action;
  });
  on("htmx:load", (e) => {
    const el = e.detail.elt, d = el.matches("dialog") ? el : $("dialog[data-modal]", el);
    const step = d || el.id === "verify-step", lost = D.activeElement === D.body;
    countdowns(el);
    if (d && !d.open) {
      // Esc cancels the verification like the Cancel button does.
      d.oncancel = () => { const f = $("#verify-cancel", d); if (f) htmx.trigger(f, "submit"); };
      d.onclose = () => {
        d.remove();
        (opener?.isConnected ? opener : byAction())?.focus();
      };
      d.showModal();
    }
    if (step || lost) {
      ($("[aria-invalid=true],[autofocus]", el)
        || step && $("input:not([type=hidden]),button,a[href]", el) || byAction(el))?.focus();
    }
  });
  on("DOMContentLoaded", () => countdowns(D));
  on("closeModal", close);
  on("toast", (e) => toast(e.detail.message, e.detail.level));
})();
