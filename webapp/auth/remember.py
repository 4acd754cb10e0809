"""Remembered browsers: skip the sign-in's second step on a browser the person trusts.

After a correct second-step code with "Don't ask again on this browser" ticked, the browser
gets a signed, HttpOnly cookie holding a random token per account (a shared browser keeps a
few accounts); the server keeps only the token's digest in a `RememberedBrowser` row. At the
next sign-in on that browser, after the correct password (the password is always asked, and
its throttling applies first), a live row for that same account replaces the second step.
Nothing else ever reads the cookie: step-up verifications never skip a code.

A row is forgotten by the person (Forget, Forget all), on a password change, on any change
of a factor (authenticator added or removed, backup codes regenerated, phone or email
changed), when the organisation turns remembering off, by "Secure my account"
(`forget_all`), and it expires after REMEMBER_BROWSER_DAYS.
"""

import datetime as dt
import secrets

from flask import after_this_request, current_app, request
from itsdangerous import BadData, URLSafeTimedSerializer

from .. import audit
from ..models import Membership, Organization, RememberedBrowser, token_digest, utcnow
from ..prebuilt import Prebuilt

COOKIE = "aesthetix_remember"
SALT = "remember-browser"
MAX_ACCOUNTS = 5  # a shared browser remembers a few accounts, newest first
MAX_COOKIE_LENGTH = 2048
LISTED = 20  # rows shown under Signed-in devices


def days() -> int:
    return int(current_app.config["REMEMBER_BROWSER_DAYS"])


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _read() -> list[tuple[int, str]]:
    """The (user id, token) pairs of this browser's cookie if it is ours and intact, else []."""
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > MAX_COOKIE_LENGTH:
        return []
    try:
        data = _serializer().loads(raw, max_age=days() * 24 * 3600)
    except BadData:
        return []
    if not isinstance(data, list):
        return []
    pairs = []
    for item in data[:MAX_ACCOUNTS]:
        if (isinstance(item, list) and len(item) == 2 and isinstance(item[0], int)
                and isinstance(item[1], str) and 32 <= len(item[1]) <= 64):
            pairs.append((item[0], item[1]))
    return pairs


def allowed_for(user_id: int) -> bool:
    """Whether the person's organisation lets its members remember browsers (on by default)."""
    org = (Organization.select(Organization.allow_remember_browser)
           .join(Membership, on=(Membership.organization == Organization.id))
           .where(Membership.user == user_id)
           .order_by(Membership.id)
           .first())
    return org is None or bool(org.allow_remember_browser)


def _live(now):
    return RememberedBrowser.forgotten_at.is_null() & (RememberedBrowser.expires_at > now)


def recognised(user) -> RememberedBrowser | None:
    """This browser's live row for `user`, when its cookie names one; marks it used.

    Only called after the correct password. A cookie made for another account, a forged or
    altered cookie, a forgotten or expired row, or an organisation that turned remembering
    off: None, and the second step is asked as usual.
    """
    tokens = [token for uid, token in _read() if uid == user.id]
    if not tokens or not allowed_for(user.id):
        return None
    now = utcnow()
    row = (RememberedBrowser.select()
           .where((RememberedBrowser.user == user.id)
                  & RememberedBrowser.token_hash.in_([token_digest(t) for t in tokens])
                  & _live(now))
           .first())
    if row is not None:
        (RememberedBrowser.update(last_used_at=now)
         .where(RememberedBrowser.id == row.id).execute())
    return row


def remember(user) -> RememberedBrowser:
    """A new row for this browser and account; the response sets the cookie naming it
    (this account first, the browser's other accounts after it)."""
    now = utcnow()
    token = secrets.token_urlsafe(32)
    row = RememberedBrowser.create(
        user=user.id, token_hash=token_digest(token),
        ip=(request.remote_addr or "")[:64],
        user_agent=(request.user_agent.string or "")[:255],
        created_at=now, last_used_at=now,
        expires_at=now + dt.timedelta(days=days()))
    audit.record("browser.remembered", subject=user, actor=user, days=days())
    pairs = [[user.id, token]] + [[uid, t] for uid, t in _read() if uid != user.id]
    value = _serializer().dumps(pairs[:MAX_ACCOUNTS])

    @after_this_request
    def set_cookie(response):
        response.set_cookie(COOKIE, value, max_age=days() * 24 * 3600, path="/",
                            httponly=True, samesite="Lax",
                            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE"))
                            or request.is_secure)
        return response

    return row


def current_row_ids(user) -> set[int]:
    """Which of the person's rows this very browser holds (for "This browser")."""
    tokens = [token for uid, token in _read() if uid == user.id]
    if not tokens:
        return set()
    return {r.id for r in RememberedBrowser.select(RememberedBrowser.id)
            .where((RememberedBrowser.user == user.id)
                   & RememberedBrowser.token_hash.in_([token_digest(t) for t in tokens]))}


def _listed_query(user_id: int, now):
    return (RememberedBrowser.select()
            .where((RememberedBrowser.user == user_id) & _live(now))
            .order_by(RememberedBrowser.id.desc())
            .limit(LISTED))


_LISTED = Prebuilt(_listed_query, (int, dt.datetime), models=(RememberedBrowser,))


def listed(user) -> list[RememberedBrowser]:
    """The person's live remembered browsers, newest first (My Profile lists them)."""
    return _LISTED.all(user.id, utcnow())


def forget(user, row_id: int) -> bool:
    """Forget one of the person's own browsers; False when it is not theirs or already gone."""
    now = utcnow()
    done = (RememberedBrowser
            .update(forgotten_at=now, forgotten_reason="forgotten")
            .where((RememberedBrowser.id == row_id) & (RememberedBrowser.user == user.id)
                   & _live(now))
            .execute()) == 1
    if done:
        audit.record("browser.forgotten", subject=user, reason="forgotten", count=1)
    return done


def forget_all(user, reason: str) -> int:
    """Forget every remembered browser of the person; returns how many (one UPDATE).

    `reason`: "forget_all" (the person), "password", "factor" (authenticator, backup codes,
    phone or email changed), "secure_account". Safe inside the caller's transaction.
    """
    now = utcnow()
    user_id = user if isinstance(user, int) else user.id
    count = (RememberedBrowser
             .update(forgotten_at=now, forgotten_reason=reason[:16])
             .where((RememberedBrowser.user == user_id) & _live(now))
             .execute())
    if count:
        audit.record("browser.forgotten", subject=user, reason=reason, count=count)
    return count


def forget_organization(organization_id: int, reason: str = "org_rule") -> int:
    """Forget every remembered browser of an organisation's members (remembering turned off)."""
    now = utcnow()
    members = Membership.select(Membership.user).where(
        Membership.organization == organization_id)
    return (RememberedBrowser
            .update(forgotten_at=now, forgotten_reason=reason)
            .where(RememberedBrowser.user.in_(members) & _live(now))
            .execute())
