"""The step-up engine wired to this app: configuration, delivery, effects, the daily cap."""

import datetime as dt

from flask import current_app, render_template
from flask_babel import gettext
from limits import parse

from .. import audit
from ..delivery import send_email, send_sms
from ..extensions import limiter
from ..models import Challenge, User
from ..security import N_
from ..security import channels as ch
from ..security.stepup import Conflict, Policy, unused_backup_codes

# Code checks for channels that are not sent (authenticator app, backup codes): the
# two-factor module registers them here.
CODE_CHECKS: dict = {}
# Effects of a verified challenge, by purpose; each runs inside the consuming transaction.
APPLIERS: dict = {}
# Notices and audit after the transaction commits, by purpose.
AFTER: dict = {}


def policy() -> Policy:
    return Policy.from_config(current_app.config)


def key() -> bytes:
    return current_app.config["SECRET_KEY"].encode()


def has_backup_codes(user: User) -> bool:
    return unused_backup_codes(user) > 0


# Completes "Use it to %(purpose)s." in the code email and "code %(code)s to %(purpose)s" by text.
PURPOSE_TEXT = {
    "login": N_("sign in to Aesthetix CRM"),
    "verify_email": N_("verify your email address"),
    "verify_phone": N_("verify your phone number"),
    "change_phone": N_("confirm a phone number change"),
    "change_email": N_("confirm an email address change"),
    "regenerate_backup_codes": N_("create new backup codes"),
    "disable_totp": N_("remove your authenticator app"),
    "reset_member_2fa": N_("reset two-factor authentication"),
}


def deliver(channel: str, to: str, code: str, c: Challenge) -> None:
    """Send a code to the stored destination the engine chose (never a pending value)."""
    config = current_app.config
    minutes = config["CODE_TTL_SECONDS"] // 60
    purpose = gettext(PURPOSE_TEXT.get(c.purpose, N_("verify")))
    if channel == "email":
        body = render_template("email/code.txt", code=code, minutes=minutes, purpose=purpose,
                               actor=c.actor, subject=c.subject)
        send_email(config, to, gettext("Your Aesthetix CRM code: %(code)s", code=code), body)
    else:
        send_sms(config, to, gettext("Aesthetix CRM code %(code)s to %(purpose)s. Expires in "
                                     "%(minutes)s min. Never share it with anyone who calls you.",
                                     code=code, purpose=purpose, minutes=minutes))
    masked = ch.mask_email(to) if channel == "email" else ch.mask_phone(to)
    audit.record("challenge.code_sent", subject=c.subject, actor=c.actor_id, channel=channel,
                 purpose=c.purpose, to=masked)


def on_lock(user: User, method: str) -> None:
    audit.record("challenge.locked", subject=user, outcome="locked", channel=method)
    from ..web import notify

    notify(user, gettext("Code entry locked on your Aesthetix CRM account"), "email/locked.txt",
           method=gettext(ch.LABELS[method]) if method in ch.LABELS else method)


# --- the daily cap on phone/email change attempts ----------------------------------------------


def _cap_window(now: dt.datetime):
    day = now.date().isoformat()
    reset = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time())
    return day, reset


def take_change_attempt(subject: User, now: dt.datetime) -> tuple[bool, dt.datetime]:
    """Count one change attempt against the subject's UTC day; False when the cap is reached.

    Kept in the limiter storage (Redis at scale), keyed by subject and UTC date, so it is
    shared by every worker and resets at midnight UTC.
    """
    limit = parse(f"{current_app.config['DAILY_CHANGE_LIMIT']} per day")
    day, reset = _cap_window(now)
    prefix = current_app.config["RATELIMIT_KEY_PREFIX"]
    allowed = limiter.limiter.hit(limit, prefix, "change-attempts", str(subject.id), day)
    return allowed, reset


# --- effects ---------------------------------------------------------------------------------


def _apply_login(c: Challenge, subject: User, now) -> dict:
    # The sign-in email code also proves the address.
    if c.channel == "email" and subject.email_verified_at is None:
        User.update(email_verified_at=now).where(User.id == subject.id).execute()
    return {}


def _apply_verify_email(c: Challenge, subject: User, now) -> dict:
    updated = (User.update(email_verified_at=now)
               .where((User.id == subject.id) & (User.email == c.data["email"]))
               .execute())
    if updated != 1:
        raise Conflict(N_("Your email address changed since this code was sent. Start again."))
    return {}


def _apply_verify_phone(c: Challenge, subject: User, now) -> dict:
    updated = (User.update(phone_verified_at=now)
               .where((User.id == subject.id) & (User.phone == c.data["phone"]))
               .execute())
    if updated != 1:
        raise Conflict(N_("Your phone number changed since this code was sent. Start again."))
    return {}


def _apply_change_phone(c: Challenge, subject: User, now) -> dict:
    new = c.data["phone"]
    old = subject.phone
    (User.update(phone=new, phone_verified_at=None).where(User.id == subject.id).execute())
    audit.record("phone.changed", subject=subject, actor=c.actor_id, channel=c.channel,
                 old=ch.mask_phone(old), new=ch.mask_phone(new))
    subject.phone, subject.phone_verified_at = new, None
    return {"old": old, "new": new}


def _apply_change_email(c: Challenge, subject: User, now) -> dict:
    new = c.data["email"]
    old = subject.email
    if User.select().where((User.email == new) & (User.id != subject.id)).exists():
        raise Conflict(N_("That email address can't be used. Choose another one."))
    (User.update(email=new, email_verified_at=None).where(User.id == subject.id).execute())
    audit.record("email.changed", subject=subject, actor=c.actor_id, channel=c.channel,
                 old=ch.mask_email(old), new=ch.mask_email(new))
    subject.email, subject.email_verified_at = new, None
    return {"old": old, "new": new}


APPLIERS.update({
    "login": _apply_login,
    "verify_email": _apply_verify_email,
    "verify_phone": _apply_verify_phone,
    "change_phone": _apply_change_phone,
    "change_email": _apply_change_email,
})
