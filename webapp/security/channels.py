"""Which channels may carry a code for a purpose, and how their destinations are shown."""

import functools
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

from . import N_, english

# Number kinds that never get a code: premium-rate and shared-cost numbers charge the
# sender (toll fraud).
NO_CODES_TO = (PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST)

CHANNELS = ("email", "sms", "totp", "passkey", "backup")

LABELS = {
    "email": N_("Email"),
    "sms": N_("Text message"),
    "totp": N_("Use Authenticator App"),
    "passkey": N_("Use a passkey"),
    "backup": N_("Use a backup code"),
}

HINTS = {
    "email": N_("code sent to %(destination)s"),
    "sms": N_("code sent to %(destination)s"),
    "totp": N_("enter the 6-digit code from your app"),
    "passkey": N_("your fingerprint, face, screen lock or security key"),
    "backup": N_("enter one of your saved backup codes"),
}

# Channels that need the person at their own device, in this browser: a passkey signs in
# the browser it is used in, so it cannot prove an admin's change for a member (the
# member's passkey is on the member's device), and pages offer it only with JavaScript.
IN_BROWSER = ("passkey",)


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


@functools.lru_cache(maxsize=1024)  # pure, and parsed on every render that shows a phone
def display_phone(e164: str | None) -> str:
    """A stored E.164 number as people write it: +1 202-555-0144 (as stored if it won't parse)."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    return f"•••• {phone[-4:]}"


# Which channels may prove a purpose (each purpose names its rule in the purpose table):
SIGN_IN = "sign_in"  # the email (verified or not: the code proves it), phone, app, backup codes
OWN_EMAIL = "own_email"  # the stored address being verified, and nothing else
OWN_PHONE = "own_phone"  # the stored number being verified, and nothing else
TRUSTED = "trusted"  # what the account already trusts: verified email and phone, app, passkey
RULES = (SIGN_IN, OWN_EMAIL, OWN_PHONE, TRUSTED)


def eligible_channels(user, rule: str, *, has_backup_codes: bool = False,
                      has_passkey: bool = False, for_member: bool = False) -> list[str]:
    """Channels from the account as stored: a pending new number or address is never one.

    `for_member`: an admin acts for the member (the member reads a code out), so a passkey,
    which only works in the browser it is used in, is never offered.
    """
    if rule not in RULES:
        raise ValueError(f"unknown channel rule {rule!r}")
    if rule == OWN_EMAIL:
        return ["email"] if user.email else []
    if rule == OWN_PHONE:
        return ["sms"] if user.phone else []
    channels = []
    # At sign-in the email code also proves the address, so an unverified email is offered there.
    if user.email and (user.email_verified_at is not None or rule == SIGN_IN):
        channels.append("email")
    if user.phone and user.phone_verified_at is not None:
        channels.append("sms")
    if user.totp_enabled:
        channels.append("totp")
    if has_passkey and not for_member:
        channels.append("passkey")
    if rule == SIGN_IN and has_backup_codes:
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
