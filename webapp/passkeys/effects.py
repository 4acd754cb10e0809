"""Passkeys in the step-up engine: the relying party, the session binding, the engine's
passkey check, and the effects of the verifications that add or remove a passkey."""

import secrets
from urllib.parse import urlsplit

from flask import current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user

from .. import audit
from ..auth import remember
from ..auth.session import sign_out_other_sessions
from ..config import ConfigError
from ..models import Passkey, User, utcnow
from ..security import N_, stepup
from ..security import passkeys as pk
from ..verify.responses import finish_in_page, return_url, to_modal
from ..web import card_or_fragment, fragment, is_htmx, notify, notify_phone


def check_config(app) -> None:
    """Production names its relying party: a passkey is bound to it for good."""
    config = app.config
    if config.get("ENV_NAME") == "production" and not (
            config.get("WEBAUTHN_RP_ID") and config.get("WEBAUTHN_ORIGIN")):
        raise ConfigError("WEBAUTHN_RP_ID and WEBAUTHN_ORIGIN must be set in production "
                          "(AESTHETIX_ENV=production), e.g. crm.example.com and "
                          "https://crm.example.com.")


def relying_party() -> pk.RelyingParty:
    """From config; in development, unset values come from the request's host."""
    config = current_app.config
    here = urlsplit(request.host_url)
    return pk.RelyingParty(
        id=config["WEBAUTHN_RP_ID"] or here.hostname or "localhost",
        name=config["WEBAUTHN_RP_NAME"],
        origin=config["WEBAUTHN_ORIGIN"] or f"{here.scheme}://{here.netloc}")


def ttl() -> int:
    return current_app.config["WEBAUTHN_CHALLENGE_SECONDS"]


def timeout_ms() -> int:
    return ttl() * 1000


def binding() -> str:
    """The browser session a WebAuthn challenge belongs to: the signed-in session's row, or
    (before sign-in) a random value kept in this browser's signed session cookie."""
    row = getattr(current_user, "session_row", None) if current_user.is_authenticated else None
    if row is not None:
        return f"session:{row.id}"
    nonce = session.get("webauthn")
    if not isinstance(nonce, str) or not nonce:
        nonce = session["webauthn"] = secrets.token_urlsafe(24)
    return f"browser:{nonce}"


def limit() -> int:
    return current_app.config["PASSKEYS_PER_ACCOUNT"]


# --- the engine's check (channel "passkey") ------------------------------------------------------

# A refusal's reason -> the engine's "why" (stepup.WRONG_CODE keys "<why>_passkey").
WHY = {"invalid": "wrong", "stale": "stale", "unknown": "unknown", "cloned": "cloned"}


def check_passkey(user: User, assertion: pk.Assertion, now) -> tuple[bool, str]:
    """The browser's assertion for a step-up or second step: the WebAuthn challenge issued to
    this session for this verification (taken once), a passkey of this account, the
    library's checks, and the counter moving forward."""
    credential = assertion.credential
    try:
        taken = pk.consume(pk.client_challenge(credential), pk.VERIFY, binding=binding(),
                           now=now, user_id=user.id, ref=assertion.cid)
        used = pk.check_assertion(credential, rp=relying_party(),
                                  expected_challenge=taken.challenge, now=now, user_id=user.id)
    except pk.Cloned as exc:
        cloned(user, exc)
        return False, "cloned"
    except pk.PasskeyError as exc:
        audit.record("passkey.refused", subject=user, outcome="refused", channel="passkey",
                     reason=exc.reason)
        return False, WHY[exc.reason]
    audit.record("passkey.used", subject=user, actor=user, channel="passkey",
                 name=used.passkey.name, user_verified=used.user_verified)
    return True, "ok"


def cloned(user: User, exc: pk.Cloned) -> None:
    """A counter that went back: refused, on record, and the person is told."""
    passkey = exc.info["passkey"]
    audit.record("passkey.cloned", subject=user, actor=user, outcome="refused",
                 channel="passkey", name=passkey.name, stored=passkey.sign_count,
                 seen=exc.info["seen"])
    notify(user, gettext("A passkey on your Aesthetix CRM account was refused"),
           "email/passkey_cloned.txt", name=passkey.name)


CHECKS = {"passkey": check_passkey}


# --- add ---------------------------------------------------------------------------------------


def apply_add(c, subject: User, now) -> dict:
    """The step-up before adding a passkey: nothing changes yet; the browser's dialog follows."""
    if Passkey.select().where(Passkey.user == subject.id).count() >= limit():
        raise stepup.Conflict(N_("You already have %(limit)s passkeys. Remove one to add "
                                 "another."), {"limit": limit()})
    return {}


def suggested_name() -> str:
    """A first name for a new passkey: the browser and system it is made on."""
    agent = request.user_agent.string or ""
    browser = next((b for b in ("Edg", "Firefox", "Chrome", "Safari") if b in agent), "")
    system = next((s for s in ("Windows", "Mac OS", "iPhone", "Android", "Linux", "CrOS")
                   if s in agent), "")
    names = {"Edg": "Edge", "Mac OS": "macOS", "CrOS": "ChromeOS"}
    parts = [names.get(browser, browser), names.get(system, system)]
    return gettext("%(browser)s on %(system)s", browser=parts[0], system=parts[1]) \
        if all(parts) else gettext("My passkey")


def register_response(form=None, *, error=None, status=200, first=False):
    """The name field and the "Create passkey" button: the modal after the step-up, or a page."""
    from .forms import RegisterForm

    context = {"form": form or RegisterForm(formdata=None, name=suggested_name()),
               "error": error, "back": url_for("passkeys.index"), "passkey_script": True}
    if first and is_htmx():
        return fragment("partials/passkeys/register_modal.html", status, **context)
    return card_or_fragment("partials/passkeys/register.html", status,
                            page_title=gettext("Add a passkey"),
                            labelled_by="passkey-register-title", **context)


def after_add(v: stepup.Verified):
    """Verified (this session is now recently verified): the browser's dialog comes next."""
    if not is_htmx():
        return redirect(url_for("passkeys.new"), 303)
    # The step's wrong-answer replies stay in the step; this one replaces the modal.
    return to_modal(register_response(first=True))


def after_added(user: User, passkey: Passkey):
    """A passkey was added in this session: other browsers sign in again, the person is told."""
    sign_out_other_sessions(user)
    remember.forget_all(user, "factor")  # a new factor: remembered browsers ask again
    notify(user, gettext("Passkey added to your Aesthetix CRM account"),
           "email/passkey_added.txt", name=passkey.name,
           change={"kind": "passkey_added", "passkey_id": passkey.id, "name": passkey.name})
    notify_phone(user, gettext("Aesthetix CRM: a passkey was added to your account. Not you? "
                               "Change your password now."))


# --- remove --------------------------------------------------------------------------------------


def apply_remove(c, subject: User, now) -> dict:
    passkey = Passkey.get_or_none((Passkey.id == int(c.data["passkey_id"]))
                                  & (Passkey.user == subject.id))
    removed = (Passkey.delete()
               .where((Passkey.id == int(c.data["passkey_id"])) & (Passkey.user == subject.id))
               .execute())
    if passkey is None or removed != 1:
        raise stepup.Conflict(N_("This passkey was already removed."))
    stepup.close_others(subject.id, now, keep=c.id)
    audit.record("passkey.removed", subject=subject, actor=c.actor_id, channel=c.channel,
                 name=passkey.name)
    return {"name": passkey.name}


def after_remove(v: stepup.Verified):
    sign_out_other_sessions(v.subject)
    remember.forget_all(v.subject, "factor")
    notify(v.subject, gettext("Passkey removed from your Aesthetix CRM account"),
           "email/passkey_removed.txt", name=v.result["name"], change={"kind": "passkey_removed"})
    return finish_in_page(gettext("Passkey “%(name)s” removed. It can no longer sign in.",
                                  name=v.result["name"]),
                          refresh="passkeysChanged", back=return_url(v.challenge))


def section_html(user: User, *, oob=False, error_for=None, error=None, forms=None) -> str:
    """The Passkeys section (My Profile and the Passkeys page show the same one)."""
    from ..forms import EmptyForm
    from ..hotpath import LazyForm

    return render_template("partials/passkeys/section.html", oob=oob, user=user,
                           passkeys=pk.of_user(user.id), limit=limit(), form=LazyForm(EmptyForm),
                           error_for=error_for, error=error, forms=forms or {})


def verify_options(c):
    """navigator.credentials.get() options for a step-up or second step, as JSON: the
    account's passkeys, and a challenge for this session and this verification only."""
    challenge = pk.issue(pk.VERIFY, binding=binding(), now=utcnow(), ttl=ttl(),
                         user_id=c.subject_id, ref=c.id)
    body = pk.authentication_options(relying_party(), challenge=challenge,
                                     timeout_ms=timeout_ms(), allow=pk.of_user(c.subject_id))
    response = current_app.response_class(body, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response
