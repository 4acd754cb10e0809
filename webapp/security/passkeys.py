"""Passkeys (WebAuthn) on the Peewee models: the challenges handed to browsers, registration,
assertion checks and the signature counter.

WebAuthn itself (origin, RP ID, challenge, signature, flags) is checked by py_webauthn; this
module keeps what the library leaves to us: a challenge is single use (one DELETE … RETURNING
takes it), expires, and is bound to the browser session it was issued to; a credential id is
unique across accounts (a unique index); an account holds a bounded number of passkeys
(counted inside the write that adds one); a signature counter that does not move forward is
a cloned authenticator (one conditional UPDATE). Nothing here reads a request: callers pass
the relying party, the session binding and the clock.
"""

import datetime as dt
import json
import secrets
from dataclasses import dataclass

import webauthn
from peewee import IntegrityError
from webauthn.helpers import bytes_to_base64url, parse_client_data_json
from webauthn.helpers.base64url_to_bytes import base64url_to_bytes
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ..db import atomic_write, is_sqlite
from ..extensions import db
from ..models import Passkey, User, WebAuthnChallenge
from ..prebuilt import Prebuilt
from . import N_

# The kinds of challenge, each consumed only as its own kind.
REGISTER, VERIFY, SIGN_IN = "register", "verify", "sign_in"
# A credential as a browser posts it is about 1-2 KB; anything far larger is not one.
MAX_CREDENTIAL_JSON = 16_000
NAME_MAX = 60
TRANSPORTS = {t.value for t in AuthenticatorTransport}
# Anything the library or the decoding can raise for a malformed or forged credential.
BAD_INPUT = (WebAuthnException, ValueError, TypeError, KeyError, AttributeError)


@dataclass(frozen=True)
class RelyingParty:
    """Who the passkeys are for: the RP ID (a host name), its name and the page origin."""

    id: str
    name: str
    origin: str


class PasskeyError(Exception):
    """A refusal with a message for the person (a msgid) and its reason for the log."""

    reason = "invalid"

    def __init__(self, message: str, **info):
        super().__init__(message)
        self.msgid = message
        self.info = info


def _refusal(name: str, reason: str, doc: str) -> type[PasskeyError]:
    return type(name, (PasskeyError,), {"reason": reason, "__doc__": doc})


Invalid = _refusal("Invalid", "invalid",
                   "Not a valid answer for this site and challenge (origin, RP ID, signature).")
Stale = _refusal("Stale", "stale",
                 "No open challenge matches: expired, used, or issued to another session.")
Unknown = _refusal("Unknown", "unknown", "Not a passkey of this account (or of any account).")
Cloned = _refusal("Cloned", "cloned",
                  "The signature counter did not move forward: a copy of the authenticator.")
TooMany = _refusal("TooMany", "too_many", "The account already has the most passkeys allowed.")
Duplicate = _refusal("Duplicate", "duplicate", "This passkey is already registered.")

INVALID = N_("This passkey couldn't be verified. Try again.")
STALE = N_("This passkey request expired or was already used. Try again.")
UNKNOWN = N_("This passkey isn't registered for this account.")
CLONED = N_("This passkey was refused: it looks like a copy of your security key or device. "
            "We sent you a notice. Remove it and add it again.")


# --- what the browser posts ----------------------------------------------------------------------


@dataclass(frozen=True)
class Assertion:
    """A browser's answer to navigator.credentials.get() for the step-up challenge `cid`.

    The route builds it from the challenge it loaded, so the engine can bind the WebAuthn
    challenge to that verification; a typed "code" is never one.
    """

    cid: str
    credential: dict


def parse_credential(raw) -> dict | None:
    """The credential JSON a browser posted, if it has the shape of one; else None."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_CREDENTIAL_JSON:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if (not isinstance(data, dict) or not isinstance(data.get("id"), str)
            or not isinstance(data.get("response"), dict)):
        return None
    return data


def client_challenge(credential: dict) -> str | None:
    """The challenge the browser signed (base64url), read from its clientDataJSON."""
    try:
        raw = base64url_to_bytes(credential["response"]["clientDataJSON"])
        return bytes_to_base64url(parse_client_data_json(raw).challenge)
    except BAD_INPUT:
        return None


def clean_name(raw) -> str | None:
    """A passkey's name as the person typed it (trimmed, one line), or None when unusable."""
    if not isinstance(raw, str):
        return None
    name = " ".join(raw.split())
    if not name or len(name) > NAME_MAX:
        return None
    return name


# --- challenges ---------------------------------------------------------------------------------


def issue(kind: str, *, binding: str, now, ttl: int, user_id: int | None = None,
          ref: str | None = None) -> bytes:
    """A fresh random challenge for this browser session; its earlier one of this kind dies.

    Expired challenges of any browser are deleted on the way, so the table stays small.
    """
    value = secrets.token_bytes(32)
    with atomic_write():
        (WebAuthnChallenge.delete()
         .where((WebAuthnChallenge.expires_at <= now)
                | ((WebAuthnChallenge.binding == binding) & (WebAuthnChallenge.kind == kind)))
         .execute())
        WebAuthnChallenge.create(challenge=bytes_to_base64url(value), kind=kind, binding=binding,
                                 user=user_id, ref=ref, created_at=now,
                                 expires_at=now + dt.timedelta(seconds=ttl))
    return value


@dataclass(frozen=True)
class Taken:
    challenge: bytes
    ref: str | None


def consume(signed: str | None, kind: str, *, binding: str, now, user_id: int | None = None,
            ref: str | None = None) -> Taken:
    """Take the challenge the browser signed: one DELETE … RETURNING, so it works once.

    It must be of this kind, issued to this session (and account, and step-up challenge,
    when given) and not expired.

    :raise Stale: no such open challenge.
    """
    if not signed:
        raise Stale(STALE)
    query = (WebAuthnChallenge.delete()
             .where((WebAuthnChallenge.challenge == signed)
                    & (WebAuthnChallenge.kind == kind)
                    & (WebAuthnChallenge.binding == binding)
                    & (WebAuthnChallenge.expires_at > now)))
    if user_id is not None:
        query = query.where(WebAuthnChallenge.user == user_id)
    if ref is not None:
        query = query.where(WebAuthnChallenge.ref == ref)
    rows = list(query.returning(WebAuthnChallenge.challenge, WebAuthnChallenge.ref).execute())
    if not rows:
        raise Stale(STALE)
    return Taken(base64url_to_bytes(rows[0].challenge), rows[0].ref)


# --- registration --------------------------------------------------------------------------------


def _of_user_query(user_id: int):
    return Passkey.select().where(Passkey.user == user_id).order_by(Passkey.id)


_OF_USER = Prebuilt(_of_user_query, (int,), models=(Passkey,))  # My Profile shows them


def of_user(user_id: int) -> list[Passkey]:
    return _OF_USER.all(user_id)


def _any_query(user_id: int):
    return Passkey.select(Passkey.id).where(Passkey.user == user_id).limit(1)


_ANY = Prebuilt(_any_query, (int,))  # every "Choose how to verify" asks


def has_passkey(user_id: int) -> bool:
    return _ANY.scalar(user_id) is not None


def user_handle(user_id: int) -> str:
    """The account's WebAuthn user handle: random, no personal data, the same for each of its
    passkeys (so an authenticator keeps one passkey per account)."""
    row = Passkey.select(Passkey.user_handle).where(Passkey.user == user_id).first()
    return row.user_handle if row else bytes_to_base64url(secrets.token_bytes(32))


def _descriptor(p: Passkey) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in p.transports.split(",") if t in TRANSPORTS]
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id),
                                         transports=transports or None)


def registration_options(user: User, rp: RelyingParty, *, challenge: bytes, handle: str,
                         timeout_ms: int) -> str:
    """What navigator.credentials.create() needs (JSON): a discoverable credential and user
    verification preferred, the account's passkeys excluded (no second one on a device)."""
    options = webauthn.generate_registration_options(
        rp_id=rp.id, rp_name=rp.name, user_name=user.email,
        user_id=base64url_to_bytes(handle), user_display_name=user.display_name,
        challenge=challenge, timeout=timeout_ms,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED),
        exclude_credentials=[_descriptor(p) for p in of_user(user.id)])
    return webauthn.options_to_json(options)


def register(user: User, credential: dict, *, rp: RelyingParty, expected_challenge: bytes,
             handle: str, name: str, now, limit: int) -> Passkey:
    """Check a new credential and store it, within the account's limit, once across accounts.

    :raise Invalid: not a valid answer for this site and challenge.
    :raise TooMany: the account already has `limit` passkeys (counted in the same write).
    :raise Duplicate: this credential is registered already (here or on another account).
    """
    try:
        verified = webauthn.verify_registration_response(
            credential=credential, expected_challenge=expected_challenge,
            expected_rp_id=rp.id, expected_origin=rp.origin, require_user_verification=False)
    except BAD_INPUT as exc:
        raise Invalid(INVALID, detail=str(exc)[:200]) from exc
    transports = credential["response"].get("transports") or []
    if not isinstance(transports, list):
        transports = []
    with atomic_write():
        if not is_sqlite():
            # Parallel adds queue on the account's row, so the count below is the truth
            # (SQLite's IMMEDIATE transaction already serialises writers).
            User.select(User.id).where(User.id == user.id).for_update().execute()
        if Passkey.select().where(Passkey.user == user.id).count() >= limit:
            raise TooMany(N_("You already have %(limit)s passkeys. Remove one to add another."),
                          limit=limit)
        try:
            with db.atomic():  # a savepoint: the clash must not abort the transaction
                return Passkey.create(
                    user=user.id, credential_id=bytes_to_base64url(verified.credential_id),
                    public_key=verified.credential_public_key, sign_count=verified.sign_count,
                    user_handle=handle,
                    transports=",".join(t for t in transports if t in TRANSPORTS)[:200],
                    aaguid=verified.aaguid or "", backed_up=verified.credential_backed_up,
                    name=name, created_at=now)
        except IntegrityError as exc:
            raise Duplicate(N_("This passkey is already registered.")) from exc


# --- authentication ------------------------------------------------------------------------------


def authentication_options(rp: RelyingParty, *, challenge: bytes, timeout_ms: int,
                           allow: list[Passkey] | None = None) -> str:
    """What navigator.credentials.get() needs (JSON). Without `allow` the browser offers the
    passkeys it holds for this site (sign-in without typing an email)."""
    options = webauthn.generate_authentication_options(
        rp_id=rp.id, challenge=challenge, timeout=timeout_ms,
        allow_credentials=[_descriptor(p) for p in allow] if allow else None,
        user_verification=UserVerificationRequirement.PREFERRED)
    return webauthn.options_to_json(options)


@dataclass(frozen=True)
class Used:
    passkey: Passkey
    user_verified: bool


def check_assertion(credential: dict, *, rp: RelyingParty, expected_challenge: bytes, now,
                    user_id: int | None = None) -> Used:
    """Verify an assertion and move the passkey's counter forward.

    `user_id` limits the passkeys to one account's (a step-up or second step); without it
    any account's passkey signs in (the browser chose it).

    :raise Unknown: no such passkey (for this account).
    :raise Invalid: origin, RP ID, challenge, flags or signature wrong.
    :raise Cloned: the counter did not move forward; nothing else changed.
    """
    query = Passkey.select().where(Passkey.credential_id == str(credential.get("id")))
    if user_id is not None:
        query = query.where(Passkey.user == user_id)
    passkey = query.first()
    if passkey is None:
        raise Unknown(UNKNOWN)
    handle = credential["response"].get("userHandle")
    if handle and handle != passkey.user_handle:
        raise Invalid(INVALID, detail="user handle")
    try:
        # The counter is compared below, atomically, so a regression is told apart.
        verified = webauthn.verify_authentication_response(
            credential=credential, expected_challenge=expected_challenge,
            expected_rp_id=rp.id, expected_origin=rp.origin,
            credential_public_key=passkey.public_key, credential_current_sign_count=0,
            require_user_verification=False)
    except BAD_INPUT as exc:
        raise Invalid(INVALID, detail=str(exc)[:200]) from exc
    if not advance_counter(passkey, verified.new_sign_count, now):
        raise Cloned(CLONED, passkey=passkey, seen=verified.new_sign_count)
    passkey.sign_count, passkey.last_used_at = verified.new_sign_count, now
    return Used(passkey, verified.user_verified)


def advance_counter(passkey: Passkey, count: int, now) -> bool:
    """Record a use; False when the counter is not above the stored one (a cloned
    authenticator), unless both are zero (an authenticator that keeps no counter).

    One conditional UPDATE: two uses reporting the same counter cannot both pass.
    """
    moved = Passkey.sign_count == 0 if count == 0 else Passkey.sign_count < count
    return (Passkey.update(sign_count=count, last_used_at=now)
            .where((Passkey.id == passkey.id) & moved)
            .execute()) == 1
