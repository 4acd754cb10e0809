"""Helpers for the attack-matrix tests: database snapshots, password step, challenge lookups."""

import re

from conftest import CSRF_RE, PASSWORD, csrf

from webapp.extensions import db
from webapp.models import AuditEvent, BackupCode, Challenge, OutboxMessage, User, UserSession

USER_FIELDS = ("email", "name", "password_hash", "phone", "email_verified_at",
               "phone_verified_at", "totp_secret", "totp_enabled_at", "totp_last_step")
CID_RE = re.compile(r"/verify/([\w-]+)/(?:channel|code|resend|cancel)")


def snapshot(email: str | None = None) -> dict:
    """Every security-relevant column of every account (or one), plus counts that must not move."""
    with db.connection_context():
        users = User.select().order_by(User.id)
        if email:
            users = users.where(User.email == email)
        return {
            "users": [tuple(getattr(u, f) for f in USER_FIELDS) for u in users],
            "backup_codes": [(b.id, b.used_at)
                             for b in BackupCode.select().order_by(BackupCode.id)],
            "consumed": Challenge.select().where(Challenge.consumed_at.is_null(False)).count(),
            "live_sessions": UserSession.select().where(UserSession.revoked_at.is_null()).count(),
        }


def password_step(client, email="member@example.com", password=PASSWORD, **kw):
    """POST /login with a fresh CSRF token; the answer is the response."""
    token = csrf(client, "/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token},
                       **kw)


def token_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no csrf token"
    return match.group(1)


def cid_from(response) -> str:
    """The challenge id a response points at: a Location header or a form action."""
    location = response.headers.get("Location", "")
    if location.startswith("/verify/"):
        return location.rsplit("/", 1)[1]
    match = CID_RE.search(response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)[:500]
    return match.group(1)


def challenge(cid: str) -> Challenge:
    with db.connection_context():
        return Challenge.get_by_id(cid)


def events(name: str, **where) -> list[AuditEvent]:
    with db.connection_context():
        rows = list(AuditEvent.select().where(AuditEvent.event == name).order_by(AuditEvent.id))
    return [r for r in rows if all(getattr(r, k) == v for k, v in where.items())]


def emails(subject_part: str) -> list[OutboxMessage]:
    with db.connection_context():
        return list(OutboxMessage.select()
                    .where((OutboxMessage.kind == "email")
                           & OutboxMessage.subject.contains(subject_part))
                    .order_by(OutboxMessage.id))
