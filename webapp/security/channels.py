"""Which channels may carry a code for a purpose, and how their destinations are shown."""

from dataclasses import dataclass

from . import N_, english

CHANNELS = ("email", "sms", "totp", "backup")

LABELS = {
    "email": N_("Email"),
    "sms": N_("Text message"),
    "totp": N_("Use Authenticator App"),
    "backup": N_("Use a backup code"),
}

HINTS = {
    "email": N_("code sent to %(destination)s"),
    "sms": N_("code sent to %(destination)s"),
    "totp": N_("enter the 6-digit code from your app"),
    "backup": N_("enter one of your saved backup codes"),
}


@dataclass(frozen=True)
class Option:
    channel: str
    label: str
    hint: str


def mask_email(email: str | None) -> str:
    if not email or "@" not in email:
        return ""
    local, domain = email.rsplit("@", 1)
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    return f"•••• {phone[-4:]}"


def eligible_channels(user, purpose: str, *, has_backup_codes: bool = False) -> list[str]:
    """Channels from the account as stored: a pending new number or address is never one."""
    if purpose == "verify_email":
        return ["email"] if user.email else []
    if purpose == "verify_phone":
        return ["sms"] if user.phone else []
    channels = []
    # At sign-in the email code also proves the address, so an unverified email is offered there.
    if user.email and (user.email_verified_at is not None or purpose == "login"):
        channels.append("email")
    if user.phone and user.phone_verified_at is not None:
        channels.append("sms")
    if user.totp_enabled:
        channels.append("totp")
    if purpose == "login" and has_backup_codes:
        channels.append("backup")
    return channels


def destination(user, channel: str) -> str | None:
    """Where a code for this channel goes: the subject's stored email or phone, nothing else."""
    if channel == "email":
        return user.email
    if channel == "sms":
        return user.phone
    return None


def option(user, channel: str, translate=english) -> Option:
    """A channel as offered to the person; `translate` is a gettext (English by default)."""
    params = {}
    if channel == "email":
        params["destination"] = mask_email(user.email)
    elif channel == "sms":
        params["destination"] = mask_phone(user.phone)
    return Option(channel, translate(LABELS[channel]), translate(HINTS[channel], **params))
