"""Which channels may carry a code for a purpose, and how their destinations are shown."""

from dataclasses import dataclass

CHANNELS = ("email", "sms", "totp", "backup")

LABELS = {
    "email": "Email",
    "sms": "Text message",
    "totp": "Use Authenticator App",
    "backup": "Use a backup code",
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


def option(user, channel: str) -> Option:
    hint = {
        "email": f"code sent to {mask_email(user.email)}",
        "sms": f"code sent to {mask_phone(user.phone)}",
        "totp": "enter the 6-digit code from your app",
        "backup": "enter one of your saved backup codes",
    }[channel]
    return Option(channel, LABELS[channel], hint)
