// Passkeys: the browser's WebAuthn dialog for forms marked data-passkey (sign-in, a step of
// "Choose how to verify", adding a passkey). The server makes the options and checks the
// answer; this script only carries them. Loaded only on pages that may show a passkey.
// Without it (or without WebAuthn, or on an IP address, where browsers refuse passkeys)
// every [data-passkey-only] control stays hidden and the rest of the page works as before.
(() => {
  "use strict";

  const usable = Boolean(window.PublicKeyCredential && navigator.credentials)
    && !/^[\d.]+$|^\[|:/.test(location.hostname);

  // base64url <-> ArrayBuffer, as WebAuthn's JSON forms write binary fields.
  const toBytes = (text) => {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0)).buffer;
  };
  const toText = (buffer) => {
    if (!buffer) return null;
    let raw = "";
    for (const byte of new Uint8Array(buffer)) raw += String.fromCharCode(byte);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const withIds = (list) => (list || []).map((c) => ({ ...c, id: toBytes(c.id) }));

  function creationOptions(o) {
    return { ...o, challenge: toBytes(o.challenge), user: { ...o.user, id: toBytes(o.user.id) },
      excludeCredentials: withIds(o.excludeCredentials) };
  }

  function requestOptions(o) {
    return { ...o, challenge: toBytes(o.challenge), allowCredentials: withIds(o.allowCredentials) };
  }

  function credentialJSON(cred) {
    const r = cred.response;
    const response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      response.userHandle = toText(r.userHandle);
    }
    return JSON.stringify({ id: cred.id, rawId: toText(cred.rawId), type: cred.type, response,
      authenticatorAttachment: cred.authenticatorAttachment || null,
      clientExtensionResults: cred.getClientExtensionResults() });
  }

  function show(root) {
    if (!usable) return;
    for (const el of root.querySelectorAll("[data-passkey-only]")) el.hidden = false;
    for (const el of root.querySelectorAll("[data-passkey-unavailable]")) el.remove();
  }

  function say(form, text) {
    const error = form.querySelector("[data-passkey-error]");
    error.textContent = text;
    error.hidden = !text;
  }

  async function ceremony(form, button) {
    const kind = form.dataset.passkey;
    const name = form.querySelector("input[name=name]");
    // No name yet: the server says so in its own words; no dialog is opened.
    if (name && !name.value.trim()) return form.requestSubmit();
    say(form, "");
    button.disabled = true;
    try {
      const token = form.querySelector("input[name=csrf_token]").value;
      const answer = await fetch(form.dataset.optionsUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRFToken": token, Accept: "application/json" },
      });
      const options = await answer.json();
      if (!answer.ok) return say(form, options.error || form.dataset.msgFailed);
      const cred = kind === "register"
        ? await navigator.credentials.create({ publicKey: creationOptions(options) })
        : await navigator.credentials.get({ publicKey: requestOptions(options) });
      form.querySelector("input[name=credential]").value = credentialJSON(cred);
      form.requestSubmit();
    } catch (error) {
      const excluded = error.name === "InvalidStateError" && form.dataset.msgExcluded;
      say(form, excluded || (error.name === "NotAllowedError" || error.name === "AbortError"
        ? form.dataset.msgCancelled : form.dataset.msgFailed));
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest(
      "[data-action=passkey-sign-in],[data-action=use-passkey],[data-action=create-passkey]");
    const form = button && button.closest("form[data-passkey]");
    if (form) ceremony(form, button);
  });
  document.addEventListener("htmx:load", (event) => show(event.target));
  show(document);
})();
