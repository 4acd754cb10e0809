"""Authenticator app codes (RFC 6238): secrets, the otpauth URI, checking, replay protection.

SHA1, 6 digits, 30-second steps: what every authenticator app supports. A code is accepted
for the current step or one step either side (RFC 6238 section 5.2), and only for a step
strictly later than the last one accepted for the user (totp_store.py claims it).

Pure: imports nothing from the app.
"""

import datetime as dt
import hashlib
import hmac
import re
from urllib.parse import quote

import pyotp

ISSUER = "Aesthetix CRM"
DIGITS = 6
INTERVAL = 30
WINDOW = 1
CODE_RE = re.compile(r"[0-9]{6}")


def new_secret() -> str:
    """160 random bits from the OS CSPRNG, base32 without padding (32 characters)."""
    return pyotp.random_base32()


def grouped(secret: str) -> str:
    """The setup key in groups of four, as people type it."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(secret: str, account: str, issuer: str = ISSUER) -> str:
    """otpauth://totp/<issuer>:<account>?secret=...&issuer=... (Key URI format, defaults)."""
    # ':' separates issuer and account, so neither may carry one; quote() encodes it.
    label = f"{quote(issuer, safe='')}:{quote(account, safe='@')}"
    return f"otpauth://totp/{label}?secret={secret}&issuer={quote(issuer, safe='')}"


def unix_time(now) -> int:
    """Seconds since the epoch for a naive-UTC or aware datetime, or a number."""
    if isinstance(now, dt.datetime):
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
        return int(now.timestamp())
    return int(now)


def time_step(now, interval: int = INTERVAL) -> int:
    return unix_time(now) // interval


def normalise(raw) -> str | None:
    """Six ASCII digits after removing spaces, else None.

    pyotp NFKC-normalises before comparing, which would turn full-width digits into ASCII
    ones: anything that is not plain ASCII is refused here, before pyotp sees it.
    """
    if not isinstance(raw, str) or len(raw) > 16:
        return None
    code = raw.replace(" ", "")
    if not code.isascii() or not CODE_RE.fullmatch(code):
        return None
    return code


def code_at(secret: str, step: int, *, digits: int = DIGITS, digest=hashlib.sha1) -> str:
    return pyotp.TOTP(secret, digits=digits, digest=digest, interval=INTERVAL).generate_otp(step)


def matching_step(secret: str, code: str, now, *, window: int = WINDOW, digits: int = DIGITS,
                  digest=hashlib.sha1) -> int | None:
    """The time step within ±window whose code equals `code`, or None.

    Every candidate is compared in constant time and none is skipped once one matches.
    """
    if not isinstance(code, str) or len(code) != digits or not code.isascii() \
            or not code.isdigit():
        return None
    current = time_step(now)
    found = None
    for step in range(current - window, current + window + 1):
        if step < 0:
            continue
        candidate = code_at(secret, step, digits=digits, digest=digest)
        if hmac.compare_digest(candidate.encode(), code.encode()) and found is None:
            found = step
    return found
