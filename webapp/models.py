"""Tables: accounts, memberships, server-side sessions, step-up challenges, audit, outbox."""

import datetime as dt
import hashlib
import json
import secrets

from flask_login import UserMixin
from peewee import (
    JOIN,
    BigIntegerField,
    BlobField,
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
    fn,
)

from .extensions import db
from .prebuilt import Prebuilt


def clock() -> dt.datetime:
    """The real time; tests replace this one function to move the app's clock."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def utcnow() -> dt.datetime:
    """Naive UTC: both SQLite and PostgreSQL store it as written."""
    return clock()


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# The digest of a session parked under "Login as": no sha256 hex digest starts with it.
SUSPENDED = "~"


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class Organization(BaseModel):
    name = CharField(max_length=120)
    created_at = DateTimeField(default=utcnow)
    # 0014: the owner's security rules (Settings > Team > Security rules).
    # "Require an authenticator app or passkey": since when (None: off), and the grace
    # period in days each member gets from then (None: the STRONG_FACTOR_GRACE_DAYS default).
    strong_factor_required_at = DateTimeField(null=True)
    strong_factor_grace_days = IntegerField(null=True)
    allow_remember_browser = BooleanField(default=True)


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
    # 0012: "Remove from team" keeps the row (history) and ends its rights.
    removed_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("user", "organization"), True), (("organization", "id"), False))

    @classmethod
    def seat_query(cls, user_id: int):
        """A person's first live membership with its organisation (SEAT's text)."""
        return (cls.first_of(user_id, cls, Organization)
                .join(Organization, on=(cls.organization == Organization.id)))

    @classmethod
    def first_of(cls, user, *fields, include_removed: bool = False):
        """A query for a person's membership: their first organisation (one row at most).

        A removed membership grants nothing, so it is left out unless asked for (the audit
        still files a removed person's events under their organisation).
        """
        query = cls.select(*fields).where(cls.user == user)
        if not include_removed:
            query = query.where(cls.removed_at.is_null())
        return query.order_by(cls.id).limit(1)

    @classmethod
    def seat_in(cls, organization_id, user_id):
        """A person's live membership in an organisation, with the user, in one query (or None)."""
        return (cls.select(cls, User)
                .join(User, on=(cls.user == User.id))
                .where((cls.organization == organization_id) & (cls.user == user_id)
                       & cls.removed_at.is_null())
                .first())

    @classmethod
    def removed_everywhere(cls, user_id) -> bool:
        """The person was removed from their team and belongs to no other: no sign-in."""
        rows = list(cls.select(cls.removed_at).where(cls.user == user_id))
        return bool(rows) and all(r.removed_at is not None for r in rows)


class UserSession(BaseModel):
    """A signed-in browser. The cookie holds a random token; the table holds its digest."""

    token_hash = CharField(max_length=64, unique=True)
    user = ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    impersonator = ForeignKeyField(User, null=True, on_delete="CASCADE")
    # 0008: a "Login as" row points at the admin's own session, suspended while it runs.
    parent = ForeignKeyField("self", null=True, on_delete="CASCADE", backref="children")
    ip = CharField(max_length=64, default="")
    user_agent = CharField(max_length=255, default="")
    created_at = DateTimeField(default=utcnow)
    last_seen_at = DateTimeField(null=True)
    expires_at = DateTimeField()
    revoked_at = DateTimeField(null=True)
    # 0009: why it was revoked, when its own browser should be told ("password"); else None.
    revoked_reason = CharField(max_length=16, null=True)
    # "Recently verified" (sudo mode): until then this session may add a factor without a
    # second step-up. Opened only by a step-up verified in this session, never by sign-in.
    sudo_until = DateTimeField(null=True)

    class Meta:
        indexes = ((("user", "revoked_at"), False),)

    @classmethod
    def open(cls, user, *, ip, user_agent, now, lifetime, impersonator=None, parent=None):
        """Start a session row; returns (row, token).

        A "Login as" row never outlives the admin session it runs under (`parent`): the
        absolute limit counts from the admin's own sign-in, however often they switch.
        """
        token = secrets.token_urlsafe(32)
        expires_at = now + dt.timedelta(seconds=lifetime)
        if parent is not None:
            expires_at = min(expires_at, parent.expires_at)
        row = cls.create(
            token_hash=token_digest(token),
            user=user,
            impersonator=impersonator,
            parent=parent,
            ip=(ip or "")[:64],
            user_agent=(user_agent or "")[:255],
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
        )
        return row, token

    @classmethod
    def load(cls, token: str, now):
        """The live session for a token (None if none), with its user, and as `row.seat` the
        user's seat: their first live membership with its organisation (None when they have
        none), all in one query."""
        found = LIVE_SESSION.instances(token_digest(token), now)
        if found is None:
            return None
        row, user, seat, organization = found
        row.__rel__["user"] = user
        if seat is not None:
            seat.__rel__["organization"] = organization
        row.seat = seat
        return row

    @classmethod
    def live_query(cls, digest: str, now):
        """The live session with this token digest, joined to its user and the user's first
        live membership and its organisation (LIVE_SESSION's text; Membership.first_of's
        rule: removed memberships left out, the oldest first)."""
        return (
            cls.select(cls, User, Membership, Organization)
            .join(User, on=(cls.user == User.id))
            .join(Membership, JOIN.LEFT_OUTER,
                  on=((Membership.user == User.id) & Membership.removed_at.is_null()))
            .join(Organization, JOIN.LEFT_OUTER,
                  on=(Membership.organization == Organization.id))
            .where(
                (cls.token_hash == digest)
                & cls.revoked_at.is_null()
                & (cls.expires_at > now)
            )
            .order_by(Membership.id)
            .limit(1)
        )

    @classmethod
    def suspend(cls, row, now) -> bool:
        """Park a live session while its browser uses "Login as"; False if it is no longer live.

        The row keeps its created_at and expires_at for resume(); its digest becomes one no
        token can produce (SUSPENDED is not a hex digit), so the cookie, and any copy of it,
        stops working at once.
        """
        # The "recently verified" window ends here: it never crosses an impersonation.
        return (cls.update(token_hash=SUSPENDED + secrets.token_hex(31), sudo_until=None)
                .where((cls.id == row.id)
                       & cls.revoked_at.is_null()
                       & (cls.expires_at > now))
                .execute()) == 1

    @classmethod
    def resume(cls, row_id, user, now, *, idle_seconds: int) -> str | None:
        """A fresh token for a suspended session that is still live, once; else None.

        One conditional UPDATE: a revoke, an expiry or a second exit racing this one
        leaves nothing to resume.
        """
        token = secrets.token_urlsafe(32)
        updated = (cls.update(token_hash=token_digest(token), last_seen_at=now)
                   .where((cls.id == row_id)
                          & (cls.user == user)
                          & cls.token_hash.startswith(SUSPENDED)
                          & cls.revoked_at.is_null()
                          & (cls.expires_at > now)
                          & (fn.COALESCE(cls.last_seen_at, cls.created_at)
                             > now - dt.timedelta(seconds=idle_seconds)))
                   .execute())
        return token if updated == 1 else None

    @classmethod
    def revoke_all(cls, user, now, *, keep=None, reason=None) -> int:
        """Every session of the user and every "Login as" the user runs; returns how many.

        Counts browsers: the suspended admin sessions under the ended impersonations go too
        (nothing could resume them) but are not counted twice.
        """
        return cls._revoke((cls.user == user) | (cls.impersonator == user), now, keep=keep,
                           reason=reason)

    @classmethod
    def revoke_impersonations(cls, user, now) -> int:
        """Every "Login as" the user runs or is the subject of (a role or permission change)."""
        return cls._revoke((cls.impersonator == user)
                           | ((cls.user == user) & cls.impersonator.is_null(False)), now)

    @classmethod
    def _revoke(cls, which, now, *, keep=None, reason=None) -> int:
        live = cls.revoked_at.is_null()
        if keep is not None:
            which = which & (cls.id != keep.id)
        # Parents first: an exit racing this finds its admin session already gone.
        parents = cls.select(cls.parent).where(which & live & cls.parent.is_null(False))
        suspended = cls.id.in_(parents) & live
        if keep is not None:
            suspended = suspended & (cls.id != keep.id)
        cls.update(revoked_at=now, revoked_reason=reason).where(suspended).execute()
        return cls.update(revoked_at=now, revoked_reason=reason).where(which & live).execute()

    @classmethod
    def revoked_reason_for(cls, token: str) -> str | None:
        """Why the session a cookie names was revoked; only its own browser has the token."""
        row = (cls.select(cls.revoked_reason)
               .where((cls.token_hash == token_digest(token)) & cls.revoked_at.is_null(False))
               .first())
        return row.revoked_reason if row else None


# Every signed-in request runs these: SQL text built once per process and dialect (prebuilt.py).
LIVE_SESSION = Prebuilt(UserSession.live_query, (str, dt.datetime),
                        models=(UserSession, User, Membership, Organization))
SEAT = Prebuilt(Membership.seat_query, (int,), models=(Membership, Organization),
               joins=("organization",))


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


class Passkey(BaseModel):
    """A WebAuthn credential (passkey) of one account; its id is unique across accounts."""

    user = ForeignKeyField(User, backref="passkeys", on_delete="CASCADE")
    credential_id = CharField(max_length=1400, unique=True)  # base64url, as browsers send it
    public_key = BlobField()  # COSE key
    sign_count = BigIntegerField(default=0)
    user_handle = CharField(max_length=128)  # base64url; the same for every passkey of a user
    transports = CharField(max_length=200, default="")
    aaguid = CharField(max_length=36, default="")
    backed_up = BooleanField(default=False)
    name = CharField(max_length=60)
    created_at = DateTimeField(default=utcnow)
    last_used_at = DateTimeField(null=True)


class WebAuthnChallenge(BaseModel):
    """A WebAuthn challenge handed to one browser: single use, expiring, bound to that browser."""

    challenge = CharField(max_length=128, unique=True)  # base64url
    kind = CharField(max_length=16)  # register | verify | sign_in
    binding = CharField(max_length=128)  # the session it was issued to
    user = ForeignKeyField(User, null=True, on_delete="CASCADE")
    ref = CharField(max_length=64, null=True)  # the step-up challenge it answers
    expires_at = DateTimeField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "webauthn_challenge"
        indexes = ((("binding", "kind"), False),)


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


class Link(BaseModel):
    """A single-use emailed link (0011): the token's keyed digest, never the token."""

    token_hash = CharField(max_length=64, unique=True)
    purpose = CharField(max_length=32)
    user = ForeignKeyField(User, null=True, on_delete="CASCADE")  # None for an invitation
    payload = TextField(default="{}")  # what the link is about (a change, an invitation)
    # For password-bound purposes: a keyed fingerprint of the password hash at issue time.
    binding = CharField(max_length=64, null=True)
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("user", "purpose", "used_at"), False),)

    @property
    def data(self) -> dict:
        return json.loads(self.payload or "{}")


class Invitation(BaseModel):
    """An invitation to join an organisation, sent by email as a single-use signed link.

    Pending while neither accepted nor revoked; each (re)send bumps `sends`, and only the
    link of the latest send is honoured (the link carries the number it was sent with).
    """

    organization = ForeignKeyField(Organization, backref="invitations", on_delete="CASCADE")
    email = CharField(max_length=254)
    role = CharField(max_length=16, default="member")
    invited_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    sends = IntegerField(default=1)
    last_sent_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    accepted_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)
    user = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="invitation")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("organization", "email"), False),)

    @classmethod
    def open_in(cls, organization_id):
        """Invitations of an organisation neither accepted nor revoked (expired ones too)."""
        return (cls.select()
                .where((cls.organization == organization_id)
                       & cls.accepted_at.is_null() & cls.revoked_at.is_null())
                .order_by(cls.id))
class RememberedBrowser(BaseModel):
    """A browser that may skip the sign-in's second step (never a step-up) for one account.

    The cookie holds a random token; the table holds only its digest. 0014.
    """

    user = ForeignKeyField(User, backref="remembered_browsers", on_delete="CASCADE")
    token_hash = CharField(max_length=64, unique=True)
    ip = CharField(max_length=64, default="")
    user_agent = CharField(max_length=255, default="")
    created_at = DateTimeField(default=utcnow)
    last_used_at = DateTimeField(null=True)
    expires_at = DateTimeField()
    forgotten_at = DateTimeField(null=True)
    # Why: "forgotten", "forget_all", "password", "factor", "org_rule", "secure_account".
    forgotten_reason = CharField(max_length=16, null=True)

    class Meta:
        indexes = ((("user", "forgotten_at"), False),)


class OutboxMessage(BaseModel):
    """Mail and SMS captured by the outbox backends (development and tests)."""

    kind = CharField(max_length=8)  # email | sms
    to = CharField(max_length=254)
    subject = CharField(max_length=255, default="")
    body = TextField()
    html = TextField(null=True)  # the HTML part of an email, if it had one
    created_at = DateTimeField(default=utcnow)


class Delivery(BaseModel):
    """A security notice waiting to be sent, written in the transaction of the change it reports.

    Never a code: codes are sent at once, while the person waits. `status` is pending until
    the transport takes the message (sent) or the retry schedule is spent (failed); a sender
    holds a row by setting `claimed_until` in one conditional UPDATE.
    """

    kind = CharField(max_length=8)  # email | sms
    to = CharField(max_length=254)
    subject = CharField(max_length=255, default="")
    body = TextField()
    html = TextField(null=True)
    status = CharField(max_length=8, default="pending")  # pending | sent | failed
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(default=utcnow)
    claimed_until = DateTimeField(null=True)
    last_error = CharField(max_length=255, null=True)
    created_at = DateTimeField(default=utcnow)
    sent_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("status", "next_attempt_at"), False),)


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
    RememberedBrowser,
    OutboxMessage,
    Delivery,
    Link,
    Invitation,
    Passkey,
    WebAuthnChallenge,
]
