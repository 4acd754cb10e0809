"""The verification steps every sensitive action goes through: choose, receive, enter.

Each step is one partial with one root (#verify-step). With htmx the step swaps in place
inside the modal; without JavaScript /verify/<id> is a full page around the same partial.
"""

from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext

from .. import audit
from ..auth.session import pending_login, sign_in
from ..forms import CodeForm, EmptyForm
from ..models import Challenge, User, utcnow
from ..security import N_, stepup
from ..security import channels as ch
from ..web import fragment, is_htmx, page_or_fragment, real_user, trigger
from . import bp
from .engine import (
    AFTER,
    APPLIERS,
    CODE_CHECKS,
    deliver,
    has_backup_codes,
    key,
    on_lock,
    policy,
    take_change_attempt,
)


def return_url(c: Challenge) -> str:
    if c.purpose == "login":
        return url_for("auth.cancel_login")
    if c.actor_id != c.subject_id:
        return url_for("team.member", user_id=c.subject_id)
    if c.purpose == "reset_member_2fa":  # the admin verifies themself for a member
        return url_for("team.member", user_id=c.data["member_id"])
    return url_for("profile.show")


def load(cid: str) -> Challenge:
    """The challenge, if this browser may act on it; 404 otherwise (no hint it exists).

    :raise 404: unknown id, or not this session's sign-in, or not this actor's challenge.
    """
    c = (Challenge.select(Challenge, User)
         .join(User, on=(Challenge.subject == User.id))
         .where(Challenge.id == cid)
         .first())
    if c is None:
        abort(404)
    if c.purpose == "login":
        pending = pending_login()
        if not pending or pending.get("cid") != c.id:
            abort(404)
    else:
        actor = real_user()
        if actor is None or actor.id != c.actor_id:
            abort(404)
    return c


def step_context(c: Challenge, *, step=None, error=None, message=None):
    now = utcnow()
    subject = c.subject
    pol = policy()
    backups = c.purpose == "login" and has_backup_codes(subject)
    options = [ch.option(subject, name, translate=gettext)
               for name in ch.eligible_channels(subject, c.purpose, has_backup_codes=backups)]
    if step is None:
        if not stepup.is_open(c, now) or c.attempts >= pol.max_attempts:
            step = "closed"
        elif c.channel is None or request.args.get("choose"):
            step = "choose"
        else:
            step = "code"
    resend_in = None
    if step == "code" and c.channel in stepup.SENT_CHANNELS:
        ready = stepup.can_resend_at(c, pol)
        resend_in = None if ready is None else max(0, int((ready - now).total_seconds()))
    return {
        "challenge": c,
        "subject": subject,
        "for_member": c.actor_id != c.subject_id,
        "options": options,
        "step": step,
        "error": error,
        "message": message,
        "resend_in": resend_in,
        "can_resend": stepup.can_resend_at(c, pol) is not None,
        "masked": (ch.mask_email(c.destination) if c.channel == "email"
                   else ch.mask_phone(c.destination)),
        "return_url": return_url(c),
        "purpose_title": gettext(TITLES.get(c.purpose, VERIFY_ITS_YOU)),
        # Sign-in and contact changes ask "Choose how to verify" first, then "Enter your code".
        "generic_title": TITLES.get(c.purpose) == CHOOSE,
        "form": EmptyForm(),
        "code_form": CodeForm(formdata=None),
    }


CHOOSE = N_("Choose how to verify")
VERIFY_ITS_YOU = N_("Verify it's you")
TITLES = {
    "login": CHOOSE,
    "change_phone": CHOOSE,
    "change_email": CHOOSE,
    "verify_email": N_("Verify your email"),
    "verify_phone": N_("Verify your phone"),
    "regenerate_backup_codes": VERIFY_ITS_YOU,
    "disable_totp": VERIFY_ITS_YOU,
    "reset_member_2fa": VERIFY_ITS_YOU,
}

# Message titles that come with a help paragraph (partials/verify/message.html).
HELP = {
    "Daily limit reached": "limit",
    "No way to verify this change": "no-channel",
    "Nothing to verify": "no-channel",
}


def render_step(c: Challenge, status: int = 200, **kw):
    return page_or_fragment("verify/page.html", "partials/verify/step.html", status,
                            **step_context(c, **kw))


def open_modal(c: Challenge, status: int = 200, **kw):
    """First step of a step-up started from a page: the modal for htmx, the page otherwise."""
    if not is_htmx():
        return redirect(url_for("verify.show", cid=c.id), 303)
    response = fragment("partials/verify/modal.html", status, **step_context(c, **kw))
    response.headers["HX-Retarget"] = "#modal"
    response.headers["HX-Reswap"] = "innerHTML"
    return response


def message_modal(title: str, message: str, status: int, *, back: str):
    """A modal (or page) that only explains: no channel, limit reached.

    `title` is the English msgid (marked with N_), translated here; `message` comes translated.
    """
    template = "partials/verify/message_modal.html" if is_htmx() else "verify/message.html"
    response = fragment(template, status, title=gettext(title), message=message, back=back,
                        help=HELP.get(title))
    if is_htmx():
        response.headers["HX-Retarget"] = "#modal"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


def begin_change(subject, actor, purpose: str, payload: dict, *, back: str):
    """Start a phone/email change: eligibility first, then the daily cap, then the challenge."""
    now = utcnow()
    if not ch.eligible_channels(subject, purpose):
        return message_modal(N_("No way to verify this change"),
                             stepup.no_channel_message(subject, purpose, actor, gettext), 409,
                             back=back)
    allowed, reset = take_change_attempt(subject, now)
    if not allowed:
        audit.record("change.limited", subject=subject, actor=actor, outcome="limited",
                     purpose=purpose)
        limit = current_app.config["DAILY_CHANGE_LIMIT"]
        hours, rest = divmod(int((reset - now).total_seconds()), 3600)
        if actor.id != subject.id:
            text = gettext(
                "You've reached the limit of %(limit)s phone or email change attempts per day "
                "for this member's profile. It resets at midnight UTC (in %(hours)s h "
                "%(minutes)s min). If you didn't make these attempts, check whether someone "
                "else, such as an admin, changed the profile today.",
                limit=limit, hours=hours, minutes=rest // 60)
        else:
            text = gettext(
                "You've reached the limit of %(limit)s phone or email change attempts per day "
                "for your profile. It resets at midnight UTC (in %(hours)s h %(minutes)s min). "
                "If you didn't make these attempts, check whether someone else, such as an "
                "admin, changed the profile today.",
                limit=limit, hours=hours, minutes=rest // 60)
        response = message_modal(N_("Daily limit reached"), text, 429, back=back)
        response.headers["Retry-After"] = str(int((reset - now).total_seconds()))
        return response
    c = stepup.start(subject, actor, purpose, payload, now=now, policy=policy())
    audit.record("challenge.started", subject=subject, actor=actor, purpose=purpose)
    return open_modal(c)


@bp.get("/<cid>")
def show(cid):
    """The current step of a verification."""
    return render_step(load(cid))


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
        stepup.choose(c, channel, now=utcnow(), policy=policy(), key=key(), deliver=deliver,
                      has_backup_codes=c.purpose == "login" and has_backup_codes(c.subject))
    except stepup.DeliveryFailed as exc:
        audit.record("challenge.delivery_failed", subject=c.subject, actor=c.actor_id,
                     outcome="failed", channel=channel)
        return render_step(c, exc.status, step="choose", error=exc.text(gettext))
    except stepup.ChallengeClosed as exc:
        return render_step(c, exc.status, step="closed", message=exc.text(gettext))
    except stepup.StepUpError as exc:
        return render_step(c, exc.status, step="choose", error=exc.text(gettext))
    if not is_htmx():
        return redirect(url_for("verify.show", cid=c.id), 303)
    return render_step(c)


@bp.post("/<cid>/resend")
def resend(cid):
    """A new code over the same channel, once the wait is over."""
    c = load(cid)
    try:
        stepup.resend(c, now=utcnow(), policy=policy(), key=key(), deliver=deliver)
    except stepup.ChallengeClosed as exc:
        return render_step(c, exc.status, step="closed", message=exc.text(gettext))
    except stepup.StepUpError as exc:
        return render_step(c, exc.status, step="code", error=exc.text(gettext))
    if not is_htmx():
        flash(gettext("We sent a new code."), "success")
        return redirect(url_for("verify.show", cid=c.id), 303)
    return render_step(c, message=gettext("We sent a new code."))


def _failed(c, why):
    audit.record("challenge.failed", subject=c.subject, actor=c.actor_id, outcome="failed",
                 channel=c.channel, purpose=c.purpose, reason=why)
    if c.purpose == "login":
        audit.record("login.failed", subject=c.subject, actor=c.subject, outcome="failed",
                     channel=c.channel, step="code")


@bp.post("/<cid>/code")
def code(cid):
    """Check the code; on success the pending change is applied, once."""
    c = load(cid)
    form = CodeForm()
    if not form.validate_on_submit():
        return render_step(c, 422, step="code", error=gettext("Enter the code."))
    try:
        verified = stepup.verify(c, form.code.data, now=utcnow(), policy=policy(), key=key(),
                                 appliers=APPLIERS, checks=CODE_CHECKS, on_lock=on_lock,
                                 on_fail=_failed)
    except stepup.ChallengeClosed as exc:
        # A code for a used, replaced, cancelled or expired verification: a bypass attempt
        # or a stale tab; either way it is on record.
        audit.record("challenge.refused", subject=c.subject, actor=c.actor_id, outcome="refused",
                     channel=c.channel, purpose=c.purpose)
        return render_step(c, exc.status, step="closed", message=exc.text(gettext))
    except stepup.Conflict as exc:
        return render_step(c, exc.status, step="closed", message=exc.text(gettext))
    except stepup.NotEligible as exc:
        return render_step(c, exc.status, step="choose", error=exc.text(gettext))
    except stepup.StepUpError as exc:
        return render_step(c, exc.status, step="code", error=exc.text(gettext))
    return AFTER[c.purpose](verified)


@bp.post("/<cid>/cancel")
def cancel(cid):
    """Abandon the verification; nothing is changed."""
    c = load(cid)
    stepup.cancel(c, utcnow())
    if is_htmx():
        response = fragment("partials/empty.html")
        return trigger(response, closeModal=True)
    return redirect(return_url(c), 303)


# --- after a verified challenge ----------------------------------------------------------------


def finish_in_page(message: str, *, refresh: str, back: str):
    """Close the modal, refresh a page section, show a toast; or 303 back without JavaScript."""
    if not is_htmx():
        flash(message, "success")
        return redirect(back, 303)
    response = fragment("partials/empty.html")
    return trigger(response, closeModal=True, toast={"message": message, "level": "success"},
                   **{refresh: True})


def _after_login(v: stepup.Verified):
    from flask import session

    pending = pending_login() or {}
    target = pending.get("next") or url_for("profile.show")
    sign_in(v.subject, channel=v.challenge.channel)
    session.pop("pending_login", None)
    if is_htmx():
        response = fragment("partials/empty.html")
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)


def _after_profile_change(what: str):
    def after(v: stepup.Verified):
        from ..web import notify

        for_member = v.challenge.actor_id != v.subject.id
        if what == "phone":
            notify(v.subject, gettext("Your phone number was changed"), "email/phone_changed.txt",
                   actor=v.challenge.actor, for_member=for_member,
                   new=ch.mask_phone(v.result["new"]))
            message = gettext("Phone number updated. Verify the new number to use it for codes.")
        else:
            notify(v.subject, gettext("Your email address was changed"), "email/email_changed.txt",
                   to=v.result["old"], actor=v.challenge.actor, for_member=for_member,
                   new=ch.mask_email(v.result["new"]))
            message = gettext(
                "Email address updated. Verify the new address to use it for codes.")
        return finish_in_page(message, refresh="profileChanged", back=return_url(v.challenge))

    return after


def _after_verified(what: str):
    def after(v: stepup.Verified):
        audit.record(f"{what}.verified", subject=v.subject, channel=v.challenge.channel)
        message = (gettext("Email address verified.") if what == "email"
                   else gettext("Phone number verified."))
        return finish_in_page(message, refresh="profileChanged",
                              back=return_url(v.challenge))

    return after


AFTER.update({
    "login": _after_login,
    "change_phone": _after_profile_change("phone"),
    "change_email": _after_profile_change("email"),
    "verify_email": _after_verified("email"),
    "verify_phone": _after_verified("phone"),
})
