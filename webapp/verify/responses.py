"""What the person sees around a verification: the steps, the modal, messages, the way back.

Shared by every blueprint that starts a verification (profile, team, two-factor), so no
blueprint imports another blueprint's routes.
"""

import datetime as dt
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext, ngettext
from werkzeug.exceptions import HTTPException

from .. import audit
from ..auth import remember
from ..auth.session import last_sign_in_channel
from ..extensions import role_name
from ..forms import CodeForm, EmptyForm
from ..hotpath import LazyForm
from ..models import Challenge, User, utcnow
from ..security import N_, passkeys, stepup
from ..security import channels as ch
from ..web import card_or_fragment, fragment, is_htmx, is_impersonating, trigger
from . import engine


def _member_name(c: Challenge) -> str:
    member = User.get_or_none(User.id == int(c.data["member_id"]))
    return member.display_name if member is not None else ""


# What a verification approves, said above the channel choice: purpose name -> (challenge,
# whether an admin acts for a member) -> one line. A purpose without an entry (sign-in,
# verifying the own email or phone) is already said by its title.
SUMMARIES: dict[str, Callable[[Challenge, bool], str]] = {
    "change_phone": lambda c, for_member: (
        gettext("New phone for %(name)s: %(phone)s", name=c.subject.display_name,
                phone=ch.display_phone(c.data["phone"])) if for_member
        else gettext("New phone: %(phone)s", phone=ch.display_phone(c.data["phone"]))),
    "change_email": lambda c, for_member: (
        gettext("New email for %(name)s: %(email)s", name=c.subject.display_name,
                email=ch.mask_email(c.data["email"])) if for_member
        else gettext("New email: %(email)s", email=ch.mask_email(c.data["email"]))),
    "enable_totp": lambda c, for_member: gettext("Add an authenticator app"),
    "regenerate_backup_codes": lambda c, for_member: gettext(
        "Create new backup codes: your old codes stop working"),
    "disable_totp": lambda c, for_member: gettext(
        "Remove the authenticator app: your backup codes stop working too"),
    "add_passkey": lambda c, for_member: gettext("Add a passkey"),
    "remove_passkey": lambda c, for_member: gettext(
        "Remove the passkey “%(name)s”: it can no longer sign in", name=c.data.get("name", "")),
    "reset_member_2fa": lambda c, for_member: gettext(
        "Reset %(name)s's two-factor authentication: their authenticator app and backup "
        "codes stop working", name=_member_name(c)),
    "invite_privileged": lambda c, for_member: gettext(
        "Invite %(email)s as %(role)s", email=c.data["email"], role=role_name(c.data["role"])),
    "change_rules": lambda c, for_member: _rules_summary(c.data),
    "change_access": lambda c, for_member: (
        gettext("Make %(name)s Admin, with the right to edit team members",
                name=_member_name(c))
        if c.data["role"] == "admin" and c.data["can_edit_team_profiles"]
        else gettext("Make %(name)s %(role)s", name=_member_name(c),
                     role=role_name(c.data["role"]))),
}


def _rules_summary(new: dict) -> str:
    """What a verified rules change lowers, in the words of the rules page."""
    if not new["require_strong_factor"]:
        return gettext("Stop requiring an authenticator app or passkey")
    if new["allow_remember"]:
        return gettext("Save the security rules: “Remember this browser” allowed, a grace "
                       "period of %(days)s day(s)", days=new["grace_days"])
    return gettext("Save the security rules: a grace period of %(days)s day(s)",
                   days=new["grace_days"])


def change_summary(c: Challenge) -> str | None:
    """The one line that says what this verification approves, or None."""
    summary = SUMMARIES.get(c.purpose)
    return summary(c, c.actor_id != c.subject_id) if summary else None


def _for_member_option(option: ch.Option, name: str) -> ch.Option:
    """A channel as the admin sees it: the member's app, not "your app"."""
    if option.channel != "totp":
        return option
    return ch.Option(option.channel, option.label,
                     gettext("enter the 6-digit code from %(name)s's app", name=name))


# Where a verification the actor makes for themself, from a page other than My Profile, leads
# back to: purpose name -> challenge -> URL.
RETURN_TO: dict[str, Callable[[Challenge], str]] = {
    "reset_member_2fa": lambda c: url_for("team.member", user_id=c.data["member_id"]),
    "change_access": lambda c: url_for("team.member", user_id=c.data["member_id"]),
    "invite_privileged": lambda c: url_for("team.index"),
    "change_rules": lambda c: url_for("rules.show"),
}


def return_url(c: Challenge) -> str:
    """Where Cancel and Close lead: the page the verification was started from."""
    if c.purpose == "login":
        return url_for("auth.login")
    if c.actor_id != c.subject_id:
        return url_for("team.member", user_id=c.subject_id)
    back = RETURN_TO.get(c.purpose)
    return back(c) if back else url_for("profile.show")


def step_context(c: Challenge, *, step=None, error=None, message=None):
    now = utcnow()
    subject = c.subject
    pol = engine.policy()
    purpose = engine.purpose(c.purpose)
    backups = purpose.channels == ch.SIGN_IN and engine.has_backup_codes(subject)
    for_member = c.actor_id != c.subject_id
    options = [ch.option(subject, name, translate=gettext)
               for name in ch.eligible_channels(subject, purpose.channels,
                                                has_backup_codes=backups,
                                                has_passkey=passkeys.has_passkey(subject.id),
                                                for_member=for_member)]
    if for_member:
        options = [_for_member_option(o, subject.display_name) for o in options]
    if step is None:
        if not stepup.is_open(c, now) or c.attempts >= pol.max_attempts:
            step = "closed"
        elif c.channel is None or request.args.get("choose"):
            step = "choose"
        else:
            step = "code"
    # The method checked first: at sign-in the one last used (not a backup code), else the first.
    # Never a passkey: without JavaScript it is not shown (passkeys.js shows it).
    offered = [o.channel for o in options if o.channel not in ch.IN_BROWSER]
    preselected = offered[0] if offered else None
    if c.purpose == "login" and step == "choose":
        last = last_sign_in_channel(c.subject_id)
        if last in offered and last != "backup":
            preselected = last
    changes_left = None
    if step == "choose" and c.purpose in engine.CAPPED:
        # Said before the cap is hit: this attempt already took its slot when it started.
        changes_left = engine.change_attempts_left(c.subject_id, now)
    resend_in = resend_at = None
    if step == "code" and c.channel in stepup.SENT_CHANNELS:
        ready = stepup.can_resend_at(c, pol)
        resend_in = None if ready is None else max(0, int((ready - now).total_seconds()))
        if resend_in:
            # Without JavaScript there is no live countdown: the time, rounded up a minute.
            at = ready.replace(second=0, microsecond=0)
            resend_at = (at if at >= ready else at + dt.timedelta(minutes=1)).strftime("%H:%M")
    return {
        "challenge": c,
        "subject": subject,
        "for_member": for_member,
        "summary": change_summary(c),
        "options": options,
        "preselected": preselected,
        # Sign-in says who is signing in (masked), with "Not you?" back to the first step.
        "signing_in_as": ch.mask_email(subject.email) if c.purpose == "login" else None,
        "step": step,
        "error": error,
        "message": message,
        "resend_in": resend_in,
        "resend_at": resend_at,
        "changes_left": changes_left,
        # The lost-access help names backup codes only where they are accepted (sign-in).
        "backup_accepted": purpose.channels == ch.SIGN_IN,
        "can_resend": stepup.can_resend_at(c, pol) is not None,
        "masked": (ch.mask_email(c.destination) if c.channel == "email"
                   else ch.mask_phone(c.destination)),
        "return_url": return_url(c),
        "purpose_title": gettext(purpose.title),
        # Sign-in and contact changes ask "Choose how to verify" first, then "Enter your code".
        "generic_title": purpose.title == engine.CHOOSE,
        # Built when the step's template reads them (each step shows one or the other).
        "form": LazyForm(EmptyForm),
        "code_form": LazyForm(lambda: CodeForm(formdata=None)),
        # The passkey script comes with a page that may show a passkey option.
        "passkey_script": "passkey" in [o.channel for o in options],
        # "Don't ask again on this browser": the sign-in's code step, where the organisation
        # allows remembering (auth/remember.py).
        "remember_days": (remember.days() if c.purpose == "login" and step == "code"
                          and remember.allowed_for(c.subject_id) else None),
    }


def render_step(c: Challenge, status: int = 200, **kw):
    """The step as the /verify page, or for htmx the step alone: with an h1 when it replaces
    a step of that page (its requests carry heading=h1), with an h2 in the modal."""
    on_page = not is_htmx() or request.values.get("heading") == "h1"
    context = step_context(c, **kw)
    return card_or_fragment("partials/verify/step.html", status,
                            page_title=context["purpose_title"], labelled_by="verify-title",
                            heading="h1" if on_page else "h2", **context)


def to_modal(response):
    """Send an htmx answer to #modal instead of the asking form's own target.

    Only for forms whose answer is either their own markup (errors, the next step) or a
    modal, depending on the outcome; a form that always opens a modal says
    hx-target="#modal" in its markup.
    """
    if is_htmx():
        response.headers["HX-Retarget"] = "#modal"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


def open_modal(c: Challenge, status: int = 200, **kw):
    """First step of a step-up started from a page: the modal for htmx, the page otherwise."""
    if not is_htmx():
        return redirect(url_for("verify.show", cid=c.id), 303)
    return fragment("partials/verify/modal.html", status, **step_context(c, **kw))


def message_modal(title: str, message: str, status: int, *, back: str, help: str | None = None,
                  member: str | None = None, verify_email: bool = False):
    """A modal (or page) that only explains: no channel, limit reached.

    `title` is the English msgid (marked with N_), translated here; `message` comes
    translated; `help` names a help paragraph of partials/verify/message.html, written to an
    admin about `member` (a name) when one is given; `verify_email` offers the "Verify your
    email" button, the next step when nothing is verified.
    """
    title = gettext(title)
    context = {"title": title, "message": message, "back": back, "help": help,
               "member": member, "verify_email": verify_email}
    if is_htmx():
        return fragment("partials/verify/message_modal.html", status, **context)
    return card_or_fragment("partials/verify/message.html", status, page_title=title,
                            labelled_by="message-title", **context)


NO_CHANNEL_TEXT = {
    "own": N_("We can't verify this change: your account has no verified email, verified "
              "phone or authenticator app. Verify your email address first, then try again."),
    "member": N_("We can't verify this change: %(name)s's account has no verified email, "
                 "verified phone or authenticator app, so there is nowhere to send them a "
                 "code."),
}


def no_channel_modal(subject, actor, title: str, *, back: str):
    """Nothing trusted to send a code to: say so, and offer the next real step.

    Every trusted channel needs a verified email first (an authenticator app can only be
    added after it), so that is the step offered: a button for the person themself, what
    to ask of the member for an admin (or for a "Login as" session, which can't verify it).
    """
    if actor.id != subject.id or is_impersonating():
        name = subject.display_name
        return message_modal(title, gettext(NO_CHANNEL_TEXT["member"], name=name), 409,
                             back=back, help="no-channel", member=name)
    return message_modal(title, gettext(NO_CHANNEL_TEXT["own"]), 409, back=back,
                         help="no-channel", verify_email=subject.email_verified_at is None)


# The page sections a verified change refreshes: (endpoint of the page the person returns
# to, what changed) -> a function of that page's URL values that renders the section for an
# out-of-band swap (its root carries hx-swap-oob). Filled by the blueprints with @refreshes.
SECTIONS: dict[tuple[str, str], Callable[..., str]] = {}


def refreshes(page: str, changed: str):
    """Register the renderer of the section of `page` that shows what `changed` changes."""
    def register(render):
        SECTIONS[(page, changed)] = render
        return render
    return register


def refreshed_section(changed: str, back: str) -> str:
    """The section of the page at `back` that `changed` names, marked for an out-of-band swap.

    Empty when that page has no such section, or the person may no longer see it.
    """
    try:
        endpoint, values = current_app.create_url_adapter(request).match(
            urlsplit(back).path, method="GET")
    except HTTPException:
        return ""
    render = SECTIONS.get((endpoint, changed))
    if render is None:
        return ""
    try:
        return render(**values)
    except HTTPException:  # refused now (permission gone): the toast still says it's done
        return ""


def with_section(response, changed: str | tuple[str, ...], back: str):
    """Add the refreshed section(s) to an htmx answer: one response, no second request."""
    if is_htmx():
        names = (changed,) if isinstance(changed, str) else changed
        response.set_data(response.get_data(as_text=True)
                          + "".join(refreshed_section(name, back) for name in names))
    return response


def finish_in_page(message: str, *, refresh: str | tuple[str, ...], back: str):
    """Close the modal, show a toast and the refreshed section (out of band), all in one
    answer; or 303 back to the page with a flash without JavaScript."""
    if not is_htmx():
        flash(message, "success")
        return redirect(back, 303)
    response = with_section(fragment("partials/empty.html"), refresh, back)
    return trigger(response, closeModal=True, toast={"message": message, "level": "success"})


def start_modal(subject, actor, purpose: str, payload: dict, *, back: str,
                no_channel_title: str = N_("No way to verify it's you")):
    """Start a verification and open its modal, or explain why there is no way to verify."""
    try:
        c = engine.start(subject, actor, purpose, payload)
    except stepup.NoChannel as exc:
        if engine.purpose(purpose).channels == ch.TRUSTED:
            return no_channel_modal(subject, actor, no_channel_title, back=back)
        return message_modal(no_channel_title, exc.text(gettext, ngettext), 409, back=back)
    return open_modal(c)


LIMIT_TEXT = {
    "member": N_("You've reached the limit of %(limit)s phone or email change attempts per day "
                 "for %(name)s's profile. It resets at midnight UTC (in %(hours)s h "
                 "%(minutes)s min). Attempts by %(name)s and by other admins count too: the "
                 "team's Activity page shows who made them."),
    "own": N_("You've reached the limit of %(limit)s phone or email change attempts per day "
              "for your profile. It resets at midnight UTC (in %(hours)s h %(minutes)s min). "
              "If you didn't make these attempts, check whether someone else, such as an "
              "admin, changed the profile today."),
}


def begin_change(subject, actor, purpose: str, payload: dict, *, back: str):
    """Start a phone/email change: eligibility first, then the daily cap, then the challenge.

    Called by the profile forms, whose other answers are their own section: every answer
    here goes to #modal (to_modal).
    """
    now = utcnow()
    rule = engine.purpose(purpose).channels
    if not ch.eligible_channels(subject, rule, has_passkey=passkeys.has_passkey(subject.id),
                                for_member=actor.id != subject.id):
        return to_modal(no_channel_modal(subject, actor, N_("No way to verify this change"),
                                         back=back))
    allowed, reset = engine.take_change_attempt(subject, now)
    if not allowed:
        audit.record("change.limited", subject=subject, actor=actor, outcome="limited",
                     purpose=purpose)
        limit = current_app.config["DAILY_CHANGE_LIMIT"]
        hours, rest = divmod(int((reset - now).total_seconds()), 3600)
        member = subject.display_name if actor.id != subject.id else None
        text = gettext(LIMIT_TEXT["member" if member else "own"], name=member,
                       limit=limit, hours=hours, minutes=rest // 60)
        response = message_modal(N_("Daily limit reached"), text, 429, back=back, help="limit",
                                 member=member)
        response.headers["Retry-After"] = str(int((reset - now).total_seconds()))
        return to_modal(response)
    return to_modal(open_modal(engine.start(subject, actor, purpose, payload, now=now)))
