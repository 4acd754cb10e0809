"""The step-up engine wired to this app: policy from config, the purpose table, delivery with
its sending limits, the daily cap, and the "recently verified" window."""

import datetime as dt

import phonenumbers
from flask import abort, current_app, render_template
from flask_babel import gettext
from flask_login import current_user

from .. import audit, metrics
from ..delivery import DeliveryError, send_email, send_sms
from ..models import Challenge, User, UserSession, utcnow
from ..security import N_, backup_codes, stepup
from ..security import channels as ch
from ..throttle import Throttled, remaining, reserve
from ..web import client_info, is_impersonating, notify

CHOOSE = N_("Choose how to verify")
SELF, ADMIN = "self", "admin"  # who starts: the person on their own account; an admin
VERIFY_ITS_YOU = N_("Verify it's you")


def policy() -> stepup.Policy:
    return stepup.Policy.from_config(current_app.config)


def key() -> bytes:
    return current_app.config["SECRET_KEY"].encode()


def purposes() -> dict:
    """The purpose table wired by create_app (webapp/verify/purposes.py)."""
    return current_app.extensions["purposes"]


def purpose(name: str):
    """One purpose of the table.

    :raise 404: a purpose this app does not have (e.g. a stored challenge from an older one).
    """
    found = purposes().get(name)
    if found is None:
        abort(404)
    return found


def has_backup_codes(user: User) -> bool:
    return backup_codes.unused(user) > 0


def start(subject: User, actor: User, name: str, payload: dict, *, now=None) -> Challenge:
    """Open a challenge for a purpose of the table, bound to the session that starts it.

    :raise stepup.NoChannel: the subject has no channel for it (nothing is created).
    :raise 403: the purpose is not one this actor may start for this subject (its starters).
    """
    p = purpose(name)
    if (SELF if actor.id == subject.id else ADMIN) not in p.starters:
        abort(403, description=gettext("This verification can't be started for this person."))
    row = getattr(current_user, "session_row", None) if name != "login" else None
    c = stepup.start(subject, actor, name, payload, rule=p.channels, now=now or utcnow(),
                     policy=policy(),
                     has_backup_codes=p.channels == ch.SIGN_IN and has_backup_codes(subject),
                     session_id=row.id if row is not None else None)
    if name != "login":  # a sign-in is on record as login.* events
        audit.record("challenge.started", subject=subject, actor=actor, purpose=name)
    return c


def on_lock(user: User, method: str) -> None:
    audit.record("challenge.locked", subject=user, outcome="locked", channel=method)
    notify(user, gettext("Code entry locked on your Aesthetix CRM account"), "email/locked.txt",
           method=gettext(ch.LABELS[method]) if method in ch.LABELS else method)


def on_fail(c: Challenge, why: str) -> None:
    audit.record("challenge.failed", subject=c.subject, actor=c.actor_id, outcome="failed",
                 channel=c.channel, purpose=c.purpose, reason=why)
    if c.purpose == "login":
        audit.record("login.failed", subject=c.subject, actor=c.subject, outcome="failed",
                     channel=c.channel, step="code")


def verify(c: Challenge, code) -> stepup.Verified:
    """Check a code with the table's effects; a success opens this session's sudo window."""
    table = purposes()
    try:
        verified = stepup.verify(
            c, code, now=utcnow(), policy=policy(), key=key(),
            appliers={name: p.apply for name, p in table.items()},
            checks=current_app.extensions["code_checks"], on_lock=on_lock, on_fail=on_fail)
    except stepup.StepUpError as exc:
        metrics.count_verification(c.purpose, exc.reason)
        raise
    metrics.count_verification(c.purpose, "verified")
    if c.purpose != "login":
        open_sudo(c)
    return verified


def after(v: stepup.Verified):
    """What the person sees once the verified change is applied."""
    return purpose(v.challenge.purpose).after(v)


# --- "recently verified" (sudo mode) ----------------------------------------------------------


def open_sudo(c: Challenge) -> None:
    """A step-up verified in the session that started it opens that session's window.

    Never for a "Login as" session, never for another session of the same person.
    """
    row = getattr(current_user, "session_row", None)
    if row is None or c.session_id != row.id or is_impersonating():
        return
    until = utcnow() + dt.timedelta(seconds=policy().sudo_seconds)
    (UserSession.update(sudo_until=until)
     .where((UserSession.id == row.id) & UserSession.impersonator.is_null()
            & UserSession.revoked_at.is_null())
     .execute())
    row.sudo_until = until


def recently_verified() -> bool:
    """This session verified a step-up within the last SUDO_SECONDS."""
    row = getattr(current_user, "session_row", None)
    return (row is not None and row.impersonator_id is None and row.sudo_until is not None
            and row.sudo_until > utcnow())


# --- delivery and its limits ------------------------------------------------------------------


class SendLimited(stepup.StepUpError):
    status, reason = 429, "send_limited"


SEND_LIMITED = (N_("Too many codes were sent. You can ask for another in %(num)d minute. "
                   "Nothing was sent."),
                N_("Too many codes were sent. You can ask for another in %(num)d minutes. "
                   "Nothing was sent."))


def _take_send_slots(to: str, subject_id: int) -> None:
    """Count this send against every limit before sending (reserve, then send), shared by
    every worker; a limited send takes no slot at all.

    :raise SendLimited: a limit is spent; nothing is sent.
    """
    config = current_app.config
    ip, _ = client_info()
    try:
        reserve((config["CODE_SENDS_PER_DESTINATION"], "code-sends", "to:" + to.lower()),
                (config["CODE_SENDS_PER_ACCOUNT"], "code-sends", f"account:{subject_id}"),
                (config["CODE_SENDS_PER_IP"], "code-sends", "ip:" + (ip or "unknown")))
    except Throttled as exc:
        raise SendLimited(SEND_LIMITED[0], {"num": exc.retry_minutes},
                          plural=SEND_LIMITED[1], retry_after=exc.retry_after) from exc


def sms_region_allowed(phone: str) -> bool:
    """SMS goes only to the countries the operator allows (SMS_ALLOWED_REGIONS, empty: all),
    and never to a premium-rate or shared-cost number (a number stored before that rule)."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return False
    if phonenumbers.number_type(number) in ch.NO_CODES_TO:
        return False
    allowed = {r.strip().upper() for r in current_app.config["SMS_ALLOWED_REGIONS"].split(",")
               if r.strip()}
    return not allowed or phonenumbers.region_code_for_number(number) in allowed


SMS_REGION_REFUSED = N_("We can't send text messages to this country. Choose another method.")


def _change_text(c: Challenge) -> str | None:
    """For a change an admin makes, what the member is approving by reading out the code."""
    if c.actor_id == c.subject_id:
        return None
    data = c.data
    if c.purpose == "change_phone":
        return gettext("%(name)s is changing your phone to %(phone)s. If you agree, read them "
                       "this code.", name=c.actor.display_name, phone=ch.mask_phone(data["phone"]))
    if c.purpose == "change_email":
        return gettext("%(name)s is changing your email to %(email)s. If you agree, read them "
                       "this code.", name=c.actor.display_name, email=ch.mask_email(data["email"]))
    return None


def deliver(channel: str, to: str, code: str, c: Challenge) -> None:
    """Send a code (below), counted by channel and outcome; a provider that says why it
    refused (a number that can't receive texts, a country, an outage) gives the person
    that reason instead of the general "couldn't send"."""
    try:
        _deliver(channel, to, code, c)
    except SendLimited:
        metrics.count_code(channel, "limited")
        raise
    except stepup.NotEligible:
        metrics.count_code(channel, "refused")
        raise
    except DeliveryError as exc:
        metrics.count_code(channel, "failed")
        if getattr(exc, "user_message", None):
            raise stepup.DeliveryFailed(exc.user_message, reason=exc.reason) from exc
        raise
    metrics.count_code(channel, "sent")


def _deliver(channel: str, to: str, code: str, c: Challenge) -> None:
    """Send a code to the stored destination the engine chose (never a pending value)."""
    config = current_app.config
    if channel == "sms" and not sms_region_allowed(to):
        raise stepup.NotEligible(SMS_REGION_REFUSED)
    _take_send_slots(to, c.subject_id)
    minutes = config["CODE_TTL_SECONDS"] // 60
    text = purpose(c.purpose).text
    what = gettext(text)
    change = _change_text(c)
    if channel == "email":
        data = dict(code=code, minutes=minutes, purpose=what, actor=c.actor, subject=c.subject,
                    change=change)
        # Sent now, never kept in the delivery table: the person is waiting for it.
        send_email(config, to, gettext("Your Aesthetix CRM code: %(code)s", code=code),
                   render_template("email/code.txt", **data),
                   render_template("email/code.html", **data))
    else:
        message = gettext("Aesthetix CRM code %(code)s to %(purpose)s. Expires in %(minutes)s "
                          "min. Never share it with anyone who calls you.",
                          code=code, purpose=what, minutes=minutes)
        send_sms(config, to, f"{change} {message}" if change else message)
    masked = ch.mask_email(to) if channel == "email" else ch.mask_phone(to)
    audit.record("challenge.code_sent", subject=c.subject, actor=c.actor_id, channel=channel,
                 purpose=c.purpose, to=masked)


# --- the daily cap on phone/email change attempts ----------------------------------------------


# The purposes that take a slot of the daily cap when they start (begin_change).
CAPPED = ("change_phone", "change_email")


def _cap_window(now: dt.datetime):
    day = now.date().isoformat()
    reset = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time())
    return day, reset


def _cap_claim(subject_id: int, now: dt.datetime) -> tuple[str, ...]:
    """The daily cap as a limiter claim: (limit, key, subject, UTC date)."""
    day, _ = _cap_window(now)
    return (f"{current_app.config['DAILY_CHANGE_LIMIT']} per day", "change-attempts",
            str(subject_id), day)


def take_change_attempt(subject: User, now: dt.datetime) -> tuple[bool, dt.datetime]:
    """Count one change attempt against the subject's UTC day; False when the cap is reached.

    Kept in the limiter storage (Redis at scale), keyed by subject and UTC date, so it is
    shared by every worker and resets at midnight UTC. Every attempt counts (never given
    back), cancelled ones included.
    """
    _, reset = _cap_window(now)
    try:
        reserve(_cap_claim(subject.id, now))
    except Throttled:
        return False, reset
    return True, reset


def change_attempts_left(subject_id: int, now: dt.datetime) -> int | None:
    """How many change attempts the subject has left today, read without taking one (so
    the modal can say it before the cap is hit); None while limits are off."""
    return remaining(*_cap_claim(subject_id, now))
