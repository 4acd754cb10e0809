// Beyond htmx and plain forms: the modal, toasts, the resend countdown, Copy and Print.
// Every page works without it.
(() => {
  "use strict";

  // What was acted on outside the modal (focus returns there), and its data-action to find
  // it again once htmx replaced it.
  let opener = null;
  let lastAction = null;

  const find = (selector, root) => (root || document).querySelector(selector);
  const modal = () => find("#modal dialog");

  function closeModal() {
    const dialog = modal();
    if (dialog && dialog.open) dialog.close();
  }

  function lastActionControl(root) {
    return lastAction && find(`[data-action="${lastAction}"]`, root);
  }

  function showToast(text, level) {
    const toast = document.createElement("div");
    toast.className = "toast toast-" + (level || "success");
    toast.textContent = text;
    find("#toasts").append(toast);
    setTimeout(() => toast.remove(), 10000);
  }

  // "Resend code" counts down, then works. The seconds are not a live region: readable on
  // demand, never announced every tick.
  function startCountdowns(root) {
    for (const button of root.querySelectorAll("[aria-disabled][data-countdown]")) {
      let seconds = Number(button.dataset.countdown);
      const timer = setInterval(() => {
        seconds -= 1;
        find("[data-seconds]", button).textContent = seconds;
        if (seconds < 1 || !button.isConnected) {
          clearInterval(timer);
          button.removeAttribute("aria-disabled");
          find(".countdown", button).remove();
        }
      }, 1000);
    }
    // data-js shows with JavaScript, data-nojs without.
    for (const el of root.querySelectorAll("[data-js]")) el.hidden = false;
    for (const el of root.querySelectorAll("[data-nojs]")) el.remove();
  }

  function onClick(event) {
    const target = event.target;
    const copy = target.closest("[data-copy]");
    const closer = target.closest("a[data-close-modal]");
    if (copy && navigator.clipboard) {
      const text = find(copy.dataset.copy).innerText.trim();
      navigator.clipboard.writeText(text).then(() => showToast(copy.dataset.copied));
    }
    if (target.closest("[data-print]")) print();
    // aria-disabled buttons do nothing; a Close link in the modal only closes it.
    if (target.closest("[aria-disabled=true]") || (closer && closer.closest("dialog"))) {
      event.preventDefault();
    }
    if (closer) closeModal();
  }

  // Of a radio group only the checked one is a Tab stop.
  function tabStops(dialog) {
    return [...dialog.querySelectorAll("a[href],button,input,summary")].filter((el) =>
      !el.disabled && el.type !== "hidden" && el.getClientRects().length
      && (el.type !== "radio" || el.checked));
  }

  // Tab and Shift+Tab wrap around inside the open modal.
  function onKeydown(event) {
    const dialog = modal();
    if (event.key !== "Tab" || !dialog || !dialog.open) return;
    const stops = tabStops(dialog);
    let current = document.activeElement;
    if (current.type === "radio") {
      current = find(`[name=${current.name}]:checked`, dialog) || current;
    }
    const index = stops.indexOf(current);
    if (event.shiftKey ? index < 1 : index === stops.length - 1) {
      event.preventDefault();
      stops.at(event.shiftKey ? -1 : 0).focus();
    }
  }

  function onBeforeRequest(event) {
    const active = document.activeElement;
    if (active.closest("dialog") || !event.detail.elt.contains(active)) return;
    const named = active.form ? find("[data-action]", active.form) : active;
    opener = active;
    lastAction = (named && named.dataset.action) || lastAction;
  }

  // Esc cancels like Cancel does; once closed the modal is removed, focus goes back.
  function openModal(dialog) {
    dialog.oncancel = () => {
      const cancel = find("#verify-cancel", dialog);
      if (cancel) htmx.trigger(cancel, "submit");
    };
    dialog.onclose = () => {
      dialog.remove();
      const back = opener && opener.isConnected ? opener : lastActionControl();
      if (back) back.focus();
    };
    dialog.showModal();
  }

  // New content: countdowns, open a modal that arrived, move focus on (an error, autofocus,
  // a step's first control) or back to the same control if the swap took focus away.
  function onLoad(event) {
    const element = event.detail.elt;
    const dialog = element.matches("dialog") ? element : find("dialog[data-modal]", element);
    const isStep = Boolean(dialog) || element.id === "verify-step";
    const focusLost = document.activeElement === document.body;
    startCountdowns(element);
    if (dialog && !dialog.open) openModal(dialog);
    if (isStep || focusLost) {
      const next = find("[aria-invalid=true],[autofocus]", element)
        || (isStep && find("input:not([type=hidden]),button,a[href]", element))
        || lastActionControl(element);
      if (next) next.focus();
    }
  }

  const on = (name, handler) => document.addEventListener(name, handler);
  on("click", onClick);
  on("keydown", onKeydown);
  on("htmx:beforeRequest", onBeforeRequest);
  on("htmx:load", onLoad);
  on("DOMContentLoaded", () => startCountdowns(document));
  // Events the server sends in HX-Trigger.
  on("closeModal", closeModal);
  on("toast", (event) => showToast(event.detail.message, event.detail.level));
})();
