"""Tables: accounts, memberships, server-side sessions, step-up challenges, audit, outbox."""

import datetime as dt
import hashlib
import json
import secrets

from flask_login import UserMixin
from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from .extensions import db


def clock() -> dt.datetime:
    """The real time; tests replace this one function to move the app's clock."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def utcnow() -> dt.datetime:
    """Naive UTC: both SQLite and PostgreSQL store it as written."""
    return clock()


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class Organization(BaseModel):
    name = CharField(max_length=120)
    created_at = DateTimeField(default=utcnow)


class User(UserMixin, BaseModel):
    # Stored normalised (lower-cased) so uniqueness is case-insensitive on every database.
    email = CharField(max_length=254, unique=True)
    name = CharField(max_length=120, default="")
    password_hash = CharField(max_length=255)
    phone = CharField(max_length=20, null=True)
    email_verified_at = DateTimeField(null=True)
    phone_verified_at = DateTimeField(null=True)
    totp_secret = TextField(null=True)  # Fernet token, never the plain secret
    totp_enabled_at = DateTimeField(null=True)
    totp_last_step = BigIntegerField(default=0)
    last_login_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    # Set for the request by the session loader: Flask-Login's id is the session token.
    session_token = None
    session_row = None

    def get_id(self):
        return self.session_token

    @property
    def display_name(self) -> str:
        return self.name or self.email

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def phone_verified(self) -> bool:
        return bool(self.phone) and self.phone_verified_at is not None

    @property
    def totp_enabled(self) -> bool:
        return self.totp_enabled_at is not None and self.totp_secret is not None

    @classmethod
    def by_email(cls, email: str):
        return cls.get_or_none(cls.email == email.strip().lower())


class Membership(BaseModel):
    ROLES = ("owner", "admin", "member")

    user = ForeignKeyField(User, backref="memberships", on_delete="CASCADE")
    organization = ForeignKeyField(Organization, backref="memberships", on_delete="CASCADE")
    role = CharField(max_length=16, default="member")
    can_edit_team_profiles = BooleanField(default=False)
    can_edit_own_profile = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("user", "organization"), True), (("organization", "id"), False))

    @classmethod
    def first_of(cls, user, *fields):
        """A query for a person's membership: their first organisation (one row at most)."""
        return cls.select(*fields).where(cls.user == user).order_by(cls.id).limit(1)

    @classmethod
    def seat_in(cls, organization_id, user_id):
        """A person's membership in an organisation, with the user, in one query (or None)."""
        return (cls.select(cls, User)
                .join(User, on=(cls.user == User.id))
                .where((cls.organization == organization_id) & (cls.user == user_id))
                .first())


class UserSession(BaseModel):
    """A signed-in browser. The cookie holds a random token; the table holds its digest."""

    token_hash = CharField(max_length=64, unique=True)
    user = ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    impersonator = ForeignKeyField(User, null=True, on_delete="CASCADE")
    ip = CharField(max_length=64, default="")
    user_agent = CharField(max_length=255, default="")
    created_at = DateTimeField(default=utcnow)
    last_seen_at = DateTimeField(null=True)
    expires_at = DateTimeField()
    revoked_at = DateTimeField(null=True)
    # "Recently verified" (sudo mode): until then this session may add a factor without a
    # second step-up. Opened only by a step-up verified in this session, never by sign-in.
    sudo_until = DateTimeField(null=True)

    class Meta:
        indexes = ((("user", "revoked_at"), False),)

    @classmethod
    def open(cls, user, *, ip, user_agent, now, lifetime, impersonator=None):
        """Start a session row; returns (row, token)."""
        token = secrets.token_urlsafe(32)
        row = cls.create(
            token_hash=token_digest(token),
            user=user,
            impersonator=impersonator,
            ip=(ip or "")[:64],
            user_agent=(user_agent or "")[:255],
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(seconds=lifetime),
        )
        return row, token

    @classmethod
    def load(cls, token: str, now):
        """The live session for a token, with its user, in one query."""
        return (
            cls.select(cls, User)
            .join(User, on=(cls.user == User.id))
            .where(
                (cls.token_hash == token_digest(token))
                & cls.revoked_at.is_null()
                & (cls.expires_at > now)
            )
            .first()
        )

    @classmethod
    def revoke_all(cls, user, now, *, keep=None) -> int:
        query = cls.update(revoked_at=now).where((cls.user == user) & cls.revoked_at.is_null())
        if keep is not None:
            query = query.where(cls.id != keep.id)
        return query.execute()


class Challenge(BaseModel):
    """One step-up verification: who, for whom, why, what it will apply, and how it is proved."""

    id = CharField(primary_key=True, max_length=64)
    subject = ForeignKeyField(User, backref="challenges", on_delete="CASCADE")
    actor = ForeignKeyField(User, on_delete="CASCADE")
    purpose = CharField(max_length=32)
    # The session that started it (None for a sign-in): only a verification finished in
    # that same session opens its "recently verified" window.
    session_id = IntegerField(null=True)
    payload = TextField(default="{}")
    channel = CharField(max_length=16, null=True)
    destination = CharField(max_length=254, null=True)
    code_hash = CharField(max_length=64, null=True)
    code_expires_at = DateTimeField(null=True)
    sends = IntegerField(default=0)
    last_sent_at = DateTimeField(null=True)
    attempts = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    consumed_at = DateTimeField(null=True)
    cancelled_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("subject", "purpose", "consumed_at"), False),)

    @property
    def data(self) -> dict:
        return json.loads(self.payload or "{}")


class CodeFailures(BaseModel):
    """Wrong codes per user and method, summed over every challenge and session."""

    user = ForeignKeyField(User, on_delete="CASCADE")
    method = CharField(max_length=16)
    failures = IntegerField(default=0)
    window_start = DateTimeField()
    locked_until = DateTimeField(null=True)

    class Meta:
        indexes = ((("user", "method"), True),)


class BackupCode(BaseModel):
    user = ForeignKeyField(User, backref="backup_codes", on_delete="CASCADE")
    code_hash = CharField(max_length=64, unique=True)
    used_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)


class PendingTotp(BaseModel):
    """An authenticator secret shown on the setup page, not yet confirmed."""

    user = ForeignKeyField(User, on_delete="CASCADE")
    session = ForeignKeyField(UserSession, on_delete="CASCADE")
    secret = TextField()  # Fernet token
    expires_at = DateTimeField()
    created_at = DateTimeField(default=utcnow)


class AuditEvent(BaseModel):
    """Append-only security log; the app has no route that updates or deletes rows."""

    organization = ForeignKeyField(Organization, null=True, on_delete="CASCADE")
    actor = ForeignKeyField(User, null=True, on_delete="SET NULL")
    subject = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="audit_events")
    event = CharField(max_length=48)
    outcome = CharField(max_length=16, default="ok")
    channel = CharField(max_length=16, null=True)
    ip = CharField(max_length=64, default="")
    user_agent = CharField(max_length=255, default="")
    details = TextField(default="{}")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("subject", "id"), False),
            (("organization", "id"), False),
            # 0005: activity filters by event type and by the person who acted.
            (("organization", "event", "id"), False),
            (("actor", "id"), False),
        )

    @property
    def data(self) -> dict:
        return json.loads(self.details or "{}")


class OutboxMessage(BaseModel):
    """Mail and SMS captured by the outbox backends (development and tests)."""

    kind = CharField(max_length=8)  # email | sms
    to = CharField(max_length=254)
    subject = CharField(max_length=255, default="")
    body = TextField()
    created_at = DateTimeField(default=utcnow)


MODELS = [
    Organization,
    User,
    Membership,
    UserSession,
    Challenge,
    CodeFailures,
    BackupCode,
    PendingTotp,
    AuditEvent,
    OutboxMessage,
]
