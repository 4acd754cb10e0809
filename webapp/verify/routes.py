"""The verification steps every sensitive action goes through: choose, receive, enter.

Each step is one partial with one root (#verify-step). With htmx the step swaps in place,
inside the modal or on the /verify/<id> page (sign-in); without JavaScript /verify/<id> is a
full page around the same partial.
"""

from flask import abort, flash, jsonify, redirect, request, session, url_for
from flask_babel import gettext, ngettext
from flask_login import current_user

from .. import audit
from ..auth.session import pending_login
from ..forms import CodeForm
from ..models import Challenge, User, utcnow
from ..passkeys import effects as passkey_effects
from ..passkeys.forms import CredentialForm
from ..prebuilt import Prebuilt
from ..security import channels as ch
from ..security import passkeys as pk
from ..security import stepup
from ..web import fragment, is_htmx, real_user, trigger
from . import bp, engine
from .effects import after_conflict
from .responses import render_step, return_url


def _with_subject(cid: str):
    return (Challenge.select(Challenge, User)
            .join(User, on=(Challenge.subject == User.id))
            .where(Challenge.id == cid)
            .limit(1))


# Every step of every verification runs it: SQL text built once (webapp/prebuilt.py).
WITH_SUBJECT = Prebuilt(_with_subject, (str,), models=(Challenge, User), joins=("subject",))


def load(cid: str, found: Challenge | None = None) -> Challenge:
    """The challenge, if this browser may act on it; 404 otherwise (no hint it exists).
    `found`: the row, when the caller read it already.

    :raise 404: unknown id or purpose, not this session's sign-in, or not this actor's.
    """
    c = found or WITH_SUBJECT.first(cid)
    if c is None:
        abort(404)
    engine.purpose(c.purpose)
    if c.purpose == "login":
        pending = pending_login()
        if not pending or pending.get("cid") != c.id:
            abort(404)
    else:
        actor = real_user()
        if actor is None or actor.id != c.actor_id:
            abort(404)
    return c


def _left_sign_in(c: Challenge | None):
    """Where a sign-in step this browser has left leads (browser Back after signing in or
    cancelling): My Profile when signed in as its person, else the sign-in page; None when
    `c` is no sign-in step. Only a sign-in no longer open redirects, so an id still waiting
    for someone else's second step answers 404 as before."""
    if c is None or c.purpose != "login":
        return None
    pending = pending_login()
    if pending and pending.get("cid") == c.id:
        return None
    if current_user.is_authenticated and current_user.id == c.subject_id:
        return redirect(url_for("profile.show"), 303)
    if c.consumed_at is not None or c.cancelled_at is not None:
        return redirect(url_for("auth.login"), 303)
    return None


@bp.get("/<cid>")
def show(cid):
    """The current step of a verification; a sign-in step already left leads on instead."""
    c = WITH_SUBJECT.first(cid)  # one read for both questions
    return _left_sign_in(c) or render_step(load(cid, c))


def _single(name: str):
    """One value for a field; duplicated parameters are refused rather than guessed."""
    values = request.form.getlist(name)
    if len(values) != 1:
        abort(400)
    return values[0]


@bp.post("/<cid>/channel")
def choose(cid):
    """Send a code over the chosen channel (or ask for the app or a backup code)."""
    c = load(cid)
    channel = _single("channel")
    if channel not in ch.CHANNELS:
        return render_step(c, 400, step="choose", error=gettext("Choose one of the options shown."))
    try:
        rule = engine.purpose(c.purpose).channels
        stepup.choose(c, channel, rule=rule, now=utcnow(), policy=engine.policy(),
                      key=engine.key(), deliver=engine.deliver,
                      has_backup_codes=rule == ch.SIGN_IN and engine.has_backup_codes(c.subject))
    except stepup.DeliveryFailed as exc:
        audit.record("challenge.delivery_failed", subject=c.subject, actor=c.actor_id,
                     outcome="failed", channel=channel, reason=exc.info.get("reason", "error"))
        return render_step(c, exc.status, step="choose", error=exc.text(gettext, ngettext))
    except stepup.ChallengeClosed as exc:
        return render_step(c, exc.status, step="closed", message=exc.text(gettext, ngettext))
    except stepup.StepUpError as exc:
        response = render_step(c, exc.status, step="choose", error=exc.text(gettext, ngettext))
        return _retry_after(response, exc)
    if not is_htmx():
        return redirect(url_for("verify.show", cid=c.id), 303)
    return render_step(c)


def _retry_after(response, exc: stepup.StepUpError):
    if exc.info.get("retry_after"):
        response.headers["Retry-After"] = str(exc.info["retry_after"])
    return response


@bp.post("/<cid>/resend")
def resend(cid):
    """A new code over the same channel, once the wait is over."""
    c = load(cid)
    try:
        stepup.resend(c, rule=engine.purpose(c.purpose).channels, now=utcnow(),
                      policy=engine.policy(), key=engine.key(), deliver=engine.deliver)
    except stepup.ChallengeClosed as exc:
        return render_step(c, exc.status, step="closed", message=exc.text(gettext, ngettext))
    except stepup.StepUpError as exc:
        if isinstance(exc, stepup.DeliveryFailed):
            audit.record("challenge.delivery_failed", subject=c.subject, actor=c.actor_id,
                         outcome="failed", channel=c.channel,
                         reason=exc.info.get("reason", "error"))
        if not is_htmx():
            # Without JavaScript an early click is a plain POST: back to the step (303), so
            # a reload shows the step again rather than offering to resend the form.
            flash(exc.text(gettext, ngettext), "error")
            return redirect(url_for("verify.show", cid=c.id), 303)
        return _retry_after(render_step(c, exc.status, step="code",
                                        error=exc.text(gettext, ngettext)), exc)
    if not is_htmx():
        flash(gettext("We sent a new code."), "success")
        return redirect(url_for("verify.show", cid=c.id), 303)
    return render_step(c, message=gettext("We sent a new code."))


@bp.post("/<cid>/code")
def code(cid):
    """Check the code; on success the pending change is applied, once."""
    c = load(cid)
    form = CodeForm()
    if not form.validate_on_submit():
        return render_step(c, 422, step="code", error=gettext("Enter the code."))
    return _check(c, form.code.data)


@bp.post("/<cid>/passkey/options")
def passkey_options(cid):
    """The options for the browser's passkey dialog (JSON): this account's passkeys, and a
    fresh WebAuthn challenge bound to this session and this verification."""
    c = load(cid)
    if c.channel != "passkey" or not stepup.is_open(c, utcnow()):
        return _json_error(gettext("This verification is no longer open."), 409)
    return passkey_effects.verify_options(c)


@bp.post("/<cid>/passkey")
def passkey(cid):
    """Check the browser's passkey answer; on success the pending change is applied, once."""
    c = load(cid)
    form = CredentialForm()
    credential = pk.parse_credential(form.credential.data) if form.validate_on_submit() else None
    if credential is None:
        return render_step(c, 422, step="code", error=gettext(stepup.FORMAT_MESSAGES["passkey"]))
    return _check(c, pk.Assertion(cid=c.id, credential=credential))


def _json_error(message: str, status: int):
    response = jsonify(error=message)
    response.status_code = status
    return response


def _check(c: Challenge, answer):
    """The code or passkey answer against this verification, and what follows."""
    try:
        verified = engine.verify(c, answer)
    except stepup.ChallengeClosed as exc:
        # A code for a used, replaced, cancelled or expired verification: a bypass attempt
        # or a stale tab; either way it is on record.
        audit.record("challenge.refused", subject=c.subject, actor=c.actor_id, outcome="refused",
                     channel=c.channel, purpose=c.purpose)
        return render_step(c, exc.status, step="closed", message=exc.text(gettext, ngettext))
    except stepup.Conflict as exc:
        after_conflict(c, exc)
        return render_step(c, exc.status, step="closed", message=exc.text(gettext, ngettext))
    except stepup.NotEligible as exc:
        return render_step(c, exc.status, step="choose", error=exc.text(gettext, ngettext))
    except stepup.StepUpError as exc:
        return _retry_after(render_step(c, exc.status, step="code",
                                        error=exc.text(gettext, ngettext)), exc)
    return engine.after(verified)


@bp.post("/<cid>/cancel")
def cancel(cid):
    """Abandon the verification; nothing is changed. A sign-in starts over at the password."""
    c = load(cid)
    stepup.cancel(c, utcnow())
    back = return_url(c)
    if c.purpose == "login":
        session.pop("pending_login", None)
    if is_htmx():
        response = fragment("partials/empty.html")
        if c.purpose == "login":  # the step is the page: leave it
            response.headers["HX-Redirect"] = back
            return response
        return trigger(response, closeModal=True)
    return redirect(back, 303)
