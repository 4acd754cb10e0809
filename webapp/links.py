"""Single-use signed links: "Forgot password?", "Not you? Secure your account", invitations.

A link carries a random token (`secrets.token_urlsafe(32)`, 256 bits); the table keeps only
its HMAC-SHA-256 under a key derived from SECRET_KEY, so a copy of the database opens
nothing. Each link is bound to one purpose, optionally to one user, expires, and is used
once: `consume` is one conditional UPDATE (unused, unexpired, right purpose, still bound to
the same state) ... RETURNING, so of any number of parallel requests exactly one gets the
row. A password-bound purpose (reset) also stores a keyed fingerprint of the user's password
hash: a password change by any route changes the hash and voids the link.

This is a domain service: it reads the app's config (the key, the limits) but never the
request; callers pass what they know (the client IP for the sending limits).
"""

import datetime as dt
import hashlib
import hmac
import json
import secrets

from flask import current_app

from . import audit
from .models import Link, User, utcnow
from .security import crypto
from .throttle import Reservation, reserve

# Purpose names, not secrets (the linters read "PASSWORD" in the first one's name).
RESET_PASSWORD = "reset_password"  # noqa: S105  # nosec B105
SECURE_ACCOUNT = "secure_account"
INVITATION = "invitation"

# Purposes whose links die when the user's password changes.
PASSWORD_BOUND = frozenset({RESET_PASSWORD})

LINK_INFO = b"aesthetix/link-token/v1"
BINDING_INFO = b"aesthetix/link-password-binding/v1"
TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 128  # anything longer is not ours; never hashed


def _key(info: bytes) -> bytes:
    return crypto.derive_key(current_app.config["SECRET_KEY"], info)


def token_hash(token: str) -> str:
    """The stored form of a token: keyed, so the table alone opens no link."""
    return hmac.new(_key(LINK_INFO), token.encode(), hashlib.sha256).hexdigest()


def password_binding(password_hash: str) -> str:
    """A keyed fingerprint of the password hash (the hash itself is not copied anywhere)."""
    return hmac.new(_key(BINDING_INFO), password_hash.encode(), hashlib.sha256).hexdigest()


def lifetime(purpose: str) -> int:
    """Seconds a link of this purpose stays valid, from config (LINK_*_SECONDS)."""
    config = current_app.config
    return {RESET_PASSWORD: config["LINK_RESET_SECONDS"],
            SECURE_ACCOUNT: config["LINK_SECURE_SECONDS"],
            INVITATION: config["LINK_INVITATION_SECONDS"]}[purpose]


def claim_send(address: str, ip: str | None) -> Reservation:
    """One slot of the per-address and per-IP link-sending limits, taken before sending.

    Counted for unknown addresses too, so a limit says nothing about who has an account.

    :raise throttle.Throttled: either limit is used up.
    """
    config = current_app.config
    return reserve((config["LINK_SENDS_PER_ADDRESS"], "link-sends",
                    "to:" + address.strip().lower()[:254]),
                   (config["LINK_SENDS_PER_IP"], "link-sends", "ip:" + (ip or "unknown")))


def issue(purpose: str, *, user=None, seconds: int | None = None, data: dict | None = None,
          now=None) -> str:
    """A new link; returns its token (shown once, in the email). Audited as link.issued."""
    now = now or utcnow()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    binding = None
    if purpose in PASSWORD_BOUND:
        if user is None:
            raise ValueError(f"a {purpose} link needs a user")
        binding = password_binding(user.password_hash)
    seconds = lifetime(purpose) if seconds is None else seconds
    link = Link.create(token_hash=token_hash(token), purpose=purpose, user=user,
                       payload=json.dumps(data or {}, default=str), binding=binding,
                       created_at=now, expires_at=now + dt.timedelta(seconds=seconds))
    audit.record("link.issued", subject=user, actor=user, purpose=purpose, link=link.id,
                 expires_at=link.expires_at.isoformat(timespec="seconds"))
    return token


def _live(purpose: str, now):
    return ((Link.purpose == purpose)
            & Link.used_at.is_null()
            & Link.revoked_at.is_null()
            & (Link.expires_at > now))


def _candidate(token, purpose: str, now):
    """The live row a token names, or None (malformed, unknown, used, expired, other purpose)."""
    if not isinstance(token, str) or not 16 <= len(token) <= MAX_TOKEN_LENGTH:
        return None
    return (Link.select()
            .where((Link.token_hash == token_hash(token)) & _live(purpose, now))
            .first())


def _still_bound(link) -> str | None:
    """The binding the link must still match, or None when it is void (password changed)."""
    if link.binding is None:
        return ""
    row = User.select(User.password_hash).where(User.id == link.user_id).first()
    if row is None:
        return None
    current = password_binding(row.password_hash)
    return current if hmac.compare_digest(current, link.binding) else None


def peek(token, purpose: str, *, now=None):
    """The link, if it could be used now; consumes nothing (for showing the page on GET)."""
    now = now or utcnow()
    link = _candidate(token, purpose, now)
    if link is None or _still_bound(link) is None:
        return None
    return link


def consume(token, purpose: str, *, now=None):
    """Use the link once: one conditional UPDATE ... RETURNING; the winner gets the row.

    Returns None for a token that is malformed, unknown, used, expired, revoked, of another
    purpose, or whose password binding no longer matches. Call it inside the transaction
    that applies what the link allows, so both happen or neither.
    """
    now = now or utcnow()
    link = _candidate(token, purpose, now)
    if link is None:
        return None
    binding = _still_bound(link)
    if binding is None:
        return None
    where = (Link.id == link.id) & _live(purpose, now)
    if binding:
        where &= Link.binding == binding
    rows = list(Link.update(used_at=now).where(where).returning(Link).execute())
    if len(rows) != 1:
        return None  # a parallel request used it first
    used = rows[0]
    audit.record("link.used", subject=used.user_id, actor=used.user_id, purpose=purpose,
                 link=used.id)
    return used


def revoke_for(user, purpose: str, *, now=None) -> int:
    """Void every live link of this purpose for the user; returns how many."""
    now = now or utcnow()
    return (Link.update(revoked_at=now)
            .where((Link.user == user) & _live(purpose, now))
            .execute())
