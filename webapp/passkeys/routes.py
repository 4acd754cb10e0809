"""Passkeys: the Settings page and its actions, and "Sign in with a passkey".

Adding a passkey is a step-up action, like adding an authenticator app: "Choose how to
verify" first, then (in this session's "recently verified" window) the browser's dialog.
Removing one is a step-up action too. Without JavaScript the passkeys are listed, renamed
and removed; adding and using one needs the browser's WebAuthn API (static/js/passkeys.js).
"""

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user, login_required

from .. import audit
from ..auth.session import sign_in
from ..extensions import client_ip
from ..forms import EmptyForm
from ..models import Passkey, User, utcnow
from ..security import N_
from ..security import passkeys as pk
from ..throttle import reserve
from ..verify import engine
from ..verify.responses import message_modal, refreshes, start_modal, to_modal
from ..web import (
    done,
    is_htmx,
    notify,
    page_or_fragment,
    refuse_while_impersonating,
    safe_next,
    tell,
)
from . import bp
from .effects import (
    after_added,
    binding,
    cloned,
    limit,
    register_response,
    relying_party,
    section_html,
    timeout_ms,
    ttl,
)
from .forms import CredentialForm, PasskeyNameForm, RegisterForm

PAGE = "/settings/profile/passkeys"


def _json(body: str, status: int = 200):
    response = current_app.response_class(body, status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _json_error(message: str, status: int):
    response = jsonify(error=message)
    response.status_code = status
    return response


@refreshes("profile.show", "passkeysChanged")
@refreshes("passkeys.index", "passkeysChanged")
def refreshed_section() -> str:
    """The Passkeys section for an out-of-band swap, as the account's passkeys are now."""
    return section_html(User.get_by_id(current_user.id), oob=True)


@bp.get(PAGE)
@login_required
def index():
    """Settings > My Profile > Passkeys: the list, rename, remove, and Add a passkey."""
    user = current_user._get_current_object()
    return page_or_fragment("passkeys/index.html", "partials/passkeys/section.html",
                            user=user, passkeys=pk.of_user(user.id), limit=limit(),
                            form=EmptyForm(), forms={}, error_for=None, error=None,
                            passkey_script=True)


def _cannot_add(user: User):
    """Why this account may not add a passkey now (an answer), or None."""
    if Passkey.select().where(Passkey.user == user.id).count() >= limit():
        return message_modal(N_("Passkey limit reached"),
                             gettext("You already have %(limit)s passkeys. Remove one to add "
                                     "another.", limit=limit()), 409,
                             back=url_for("passkeys.index"))
    return None


@bp.post(PAGE + "/add")
@login_required
def add():
    """"Add a passkey": verify it's you with a trusted channel, then the browser's dialog.

    Inside this session's "recently verified" window the dialog comes at once.

    :raise 403: while signed in as another person.
    """
    refuse_while_impersonating("add_passkey")
    user = current_user._get_current_object()
    refused = _cannot_add(user)
    if refused:
        return refused
    if engine.recently_verified():
        if not is_htmx():
            return redirect(url_for("passkeys.new"), 303)
        return register_response(first=True)
    return start_modal(user, user, "add_passkey", {}, back=url_for("passkeys.index"))


@bp.get(PAGE + "/new")
@login_required
def new():
    """The name field and "Create passkey", while recently verified; else the way to start.

    :raise 403: while signed in as another person.
    """
    refuse_while_impersonating("add_passkey")
    if not engine.recently_verified():
        flash(gettext("Choose Add a passkey and verify it's you first."), "error")
        return redirect(url_for("passkeys.index"), 303)
    return register_response()


@bp.post(PAGE + "/options")
@login_required
def registration_options():
    """The options for the browser's "create a passkey" dialog (JSON), with a fresh challenge
    bound to this session. Only while recently verified.

    :raise 403: while signed in as another person, or not recently verified.
    """
    refuse_while_impersonating("add_passkey")
    if not engine.recently_verified():
        return _json_error(gettext("Verify it's you again: choose Add a passkey."), 403)
    user = current_user._get_current_object()
    if Passkey.select().where(Passkey.user == user.id).count() >= limit():
        return _json_error(gettext("You already have %(limit)s passkeys. Remove one to add "
                                   "another.", limit=limit()), 409)
    handle = pk.user_handle(user.id)
    challenge = pk.issue(pk.REGISTER, binding=binding(), now=utcnow(), ttl=ttl(),
                         user_id=user.id, ref=handle)
    return _json(pk.registration_options(user, relying_party(), challenge=challenge,
                                         handle=handle, timeout_ms=timeout_ms()))


@bp.post(PAGE)
@login_required
def create():
    """Store the new passkey the browser made, under the name given.

    :raise 403: while signed in as another person.
    """
    # The form answers in place (errors); a refusal that ends the setup replaces the modal.
    refuse_while_impersonating("add_passkey")
    user = current_user._get_current_object()
    if not engine.recently_verified():
        return to_modal(message_modal(
            N_("Start again"), gettext("Verifying it's you expired. Choose Add a passkey "
                                       "again."), 409, back=url_for("passkeys.index")))
    form = RegisterForm()
    name = pk.clean_name(form.name.data)
    if not form.validate_on_submit() or name is None:
        error = (form.name.errors or form.credential.errors or [gettext("Give the passkey a "
                                                                        "name.")])[0]
        return register_response(form, error=error, status=422)
    credential = pk.parse_credential(form.credential.data)
    now = utcnow()
    try:
        if credential is None:
            raise pk.Invalid(pk.INVALID)
        taken = pk.consume(pk.client_challenge(credential), pk.REGISTER, binding=binding(),
                           now=now, user_id=user.id)
        passkey = pk.register(user, credential, rp=relying_party(),
                              expected_challenge=taken.challenge, handle=taken.ref or "",
                              name=name, now=now, limit=limit())
    except pk.PasskeyError as exc:
        audit.record("passkey.refused", subject=user, outcome="refused", channel="passkey",
                     reason=exc.reason, step="add")
        return register_response(form, error=gettext(exc.msgid, **exc.info), status=422)
    audit.record("passkey.added", subject=user, channel="passkey", name=passkey.name,
                 backed_up=passkey.backed_up)
    after_added(user, passkey)
    message = gettext("Passkey “%(name)s” added. Next time, choose “Sign in with a passkey”.",
                      name=passkey.name)
    if not is_htmx():
        return done(message, "passkeys.index")
    from ..verify.responses import finish_in_page

    return finish_in_page(message, refresh="passkeysChanged", back=request.referrer or PAGE)


def _own_passkey(pid: int) -> Passkey:
    """:raise 404: not a passkey of the signed-in account."""
    passkey = Passkey.get_or_none((Passkey.id == pid) & (Passkey.user == current_user.id))
    if passkey is None:
        abort(404)
    return passkey


@bp.post(PAGE + "/<int:pid>/rename")
@login_required
def rename(pid):
    """Give a passkey another name.

    :raise 403: while signed in as another person.
    :raise 404: not a passkey of this account.
    """
    refuse_while_impersonating("rename_passkey")
    passkey = _own_passkey(pid)
    user = current_user._get_current_object()
    form = PasskeyNameForm(prefix=f"pk{pid}")
    name = pk.clean_name(form.name.data)
    if not form.validate_on_submit() or name is None:
        error = (form.name.errors or [gettext("Give the passkey a name.")])[0]
        if is_htmx():
            return fragment_section(user, 422, error_for=pid, error=error, forms={pid: form})
        return page_or_fragment("passkeys/index.html", "partials/passkeys/section.html", 422,
                                user=user, passkeys=pk.of_user(user.id), limit=limit(),
                                form=EmptyForm(), forms={pid: form}, error_for=pid,
                                error=error, passkey_script=True)
    (Passkey.update(name=name)
     .where((Passkey.id == passkey.id) & (Passkey.user == user.id))
     .execute())
    audit.record("passkey.renamed", subject=user, channel="passkey", old=passkey.name, new=name)
    message = gettext("Passkey renamed to “%(name)s”.", name=name)
    if not is_htmx():
        return done(message, "passkeys.index")
    return tell(fragment_section(user), message)


def fragment_section(user: User, status: int = 200, **kw):
    response = current_app.make_response((section_html(user, **kw), status))
    response.vary.add("HX-Request")
    return response


@bp.post(PAGE + "/<int:pid>/remove")
@login_required
def remove(pid):
    """Remove a passkey, after verifying it's you.

    :raise 403: while signed in as another person.
    :raise 404: not a passkey of this account.
    """
    refuse_while_impersonating("remove_passkey")
    passkey = _own_passkey(pid)
    user = current_user._get_current_object()
    return start_modal(user, user, "remove_passkey", {"passkey_id": passkey.id,
                                                      "name": passkey.name},
                       back=url_for("passkeys.index"), no_channel_title=N_("No way to verify"))


# --- sign in with a passkey ---------------------------------------------------------------------


@bp.post("/login/passkey/options")
def sign_in_options():
    """The options for the browser's "choose a passkey" dialog (JSON): no account named, the
    browser offers the passkeys it holds for this site.

    :raise 429: too many passkey sign-ins started from this address.
    """
    if current_user.is_authenticated:
        return _json_error(gettext("You are already signed in."), 409)
    reserve((current_app.config["PASSKEY_SIGN_IN_STARTS_PER_IP"], "passkey-starts", client_ip()))
    challenge = pk.issue(pk.SIGN_IN, binding=binding(), now=utcnow(), ttl=ttl())
    return _json(pk.authentication_options(relying_party(), challenge=challenge,
                                           timeout_ms=timeout_ms()))


NO_UV = N_("This passkey didn't ask for your fingerprint, face, PIN or screen lock, so it "
           "can't sign you in on its own. Sign in with your email and password, then choose "
           "“Use a passkey”.")


def _login_page(error: str, status: int):
    from ..auth.forms import LoginForm

    form = LoginForm(formdata=None)
    next_url = safe_next(request.values.get("next"), url_for("profile.show"))
    return render_template("auth/login.html", form=form, next=next_url, passkey_error=error,
                           passkey_script=True), status


@bp.post("/login/passkey")
def sign_in_with_passkey():
    """Sign in with the passkey the browser chose. With user verification (fingerprint, face,
    PIN) it is both factors; without, it only replaces the second step after a password.

    :raise 429: too many failed sign-ins from this address.
    """
    if current_user.is_authenticated:
        return redirect(url_for("profile.show"), 303)
    form = CredentialForm()
    if not form.validate_on_submit():
        return _login_page(gettext("Use your passkey first."), 422)
    # Counted before the check, given back when it succeeds (the password's IP allowance).
    reservation = reserve((current_app.config["LOGIN_FAILURES_PER_IP"], "login-ip",
                           client_ip()))
    credential = pk.parse_credential(form.credential.data)
    now = utcnow()
    user = None
    try:
        if credential is None:
            raise pk.Invalid(pk.INVALID)
        taken = pk.consume(pk.client_challenge(credential), pk.SIGN_IN, binding=binding(),
                           now=now)
        used = pk.check_assertion(credential, rp=relying_party(),
                                  expected_challenge=taken.challenge, now=now)
        user = User.get_by_id(used.passkey.user_id)
    except pk.Cloned as exc:
        user = User.get_by_id(exc.info["passkey"].user_id)
        cloned(user, exc)
        audit.record("login.failed", subject=user, actor=user, outcome="failed",
                     channel="passkey", step="passkey", reason=exc.reason)
        return _login_page(gettext(pk.CLONED), 422)
    except pk.PasskeyError as exc:
        audit.record("login.failed", outcome="failed", channel="passkey", step="passkey",
                     reason=exc.reason)
        message = pk.UNKNOWN if exc.reason == "unknown" else exc.msgid
        return _login_page(gettext(message), 422)
    if not used.user_verified:
        # A valid passkey, but possession alone: the password is still needed.
        reservation.give_back()
        audit.record("passkey.refused", subject=user, actor=user, outcome="refused",
                     channel="passkey", reason="no_user_verification", name=used.passkey.name)
        return _login_page(gettext(NO_UV), 422)
    reservation.give_back()
    next_url = safe_next(request.values.get("next"), url_for("profile.show"))
    session.pop("pending_login", None)
    audit.record("passkey.used", subject=user, actor=user, channel="passkey",
                 name=used.passkey.name, user_verified=True)
    sign_in(user, channel="passkey")
    notify(user, gettext("New sign-in with a passkey on your Aesthetix CRM account"),
           "email/passkey_sign_in.txt", name=used.passkey.name)
    return redirect(next_url, 303)
