"""Device cookies: browsers that signed in before keep their own password allowance.

OWASP "Slow Down Online Guessing Attacks with Device Cookies": a strict per-account limit
on wrong passwords would let anyone lock a person out by typing their email. After a full
sign-in (password and second step) the browser gets a signed, long-lived cookie naming the
account; at the password step such a browser counts its failures on its own key, while
unknown browsers share the strict per-account one. The cookie proves nothing by itself: it
only decides which counter a password attempt uses.
"""

import hashlib
import hmac
import secrets

from flask import current_app, request
from itsdangerous import BadData, URLSafeTimedSerializer

COOKIE = "aesthetix_device"
SALT = "device-cookie"
MAX_AGE = 180 * 24 * 3600
MAX_ACCOUNTS = 5  # a shared browser remembers a few accounts, newest first
MAX_COOKIE_LENGTH = 2048


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def account_digest(email: str) -> str:
    """Keyed, so the cookie does not name the account to anyone who reads it."""
    key = current_app.config["SECRET_KEY"].encode()
    normalised = email.strip().lower().encode()
    return hmac.new(key, b"device-account\0" + normalised, hashlib.sha256).hexdigest()[:32]


def _read() -> dict | None:
    """The cookie's content if it is ours, intact and not too old; anything else is ignored."""
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > MAX_COOKIE_LENGTH:
        return None
    try:
        data = _serializer().loads(raw, max_age=MAX_AGE)
    except BadData:
        return None
    if not isinstance(data, dict):
        return None
    nonce, accounts = data.get("n"), data.get("a")
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= 64:
        return None
    if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
        return None
    return {"n": nonce, "a": accounts[:MAX_ACCOUNTS]}


def password_key(email: str) -> tuple[str, ...]:
    """The counter a password attempt for `email` is charged to.

    This browser's own when its device cookie names the account, else the account's key,
    shared by every unknown browser (and by forged or other-account cookies).
    """
    data = _read()
    digest = account_digest(email)
    if data is not None and digest in data["a"]:
        return ("login-device", data["n"], digest)
    return ("login-account", email.strip().lower()[:254])


def knows(email: str) -> bool:
    """Whether this browser holds a valid device cookie naming the account (it signed in to
    it before); a forged, expired or other-account cookie is not knowing it."""
    data = _read()
    return data is not None and account_digest(email) in data["a"]


def remember(response, email: str):
    """After a full sign-in: set (or refresh) the cookie with this account first."""
    data = _read() or {"n": secrets.token_urlsafe(24), "a": []}
    digest = account_digest(email)
    accounts = [digest] + [a for a in data["a"] if a != digest]
    value = _serializer().dumps({"n": data["n"], "a": accounts[:MAX_ACCOUNTS]})
    response.set_cookie(COOKIE, value, max_age=MAX_AGE, path="/", httponly=True,
                        samesite="Lax",
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE"))
                        or request.is_secure)
    return response
