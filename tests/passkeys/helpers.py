"""Recorded WebAuthn payloads (tests/passkeys/payloads.json, made by record_fixtures.py) and
the steps that replay them against the app."""

import copy
import datetime as dt
import json
from pathlib import Path

from conftest import csrf

from webapp.extensions import db
from webapp.models import Passkey, User, UserSession, WebAuthnChallenge, utcnow
from webapp.security import passkeys as pk

PAYLOADS = json.loads(Path(__file__).with_name("payloads.json").read_text())
RP = {"WEBAUTHN_RP_ID": PAYLOADS["rp_id"], "WEBAUTHN_ORIGIN": PAYLOADS["origin"]}
MEMBER, OWNER = "member@example.com", "owner@example.com"


def account(email=MEMBER) -> dict:
    return copy.deepcopy(PAYLOADS["accounts"][email])


def assertion(email=MEMBER, n=0) -> dict:
    """The n-th recorded assertion: 0 and 1 with user verification, 2 without."""
    return account(email)["assertions"][n]


def store_passkey(email=MEMBER, name="Laptop") -> Passkey:
    """The account's recorded passkey, registered through the app's own check."""
    rec = account(email)
    with db.connection_context():
        user = User.by_email(email)
        return pk.register(user, rec["registration"]["credential"],
                           rp=pk.RelyingParty(PAYLOADS["rp_id"], "Aesthetix CRM",
                                              PAYLOADS["origin"]),
                           expected_challenge=pk.base64url_to_bytes(
                               rec["registration"]["challenge"]),
                           handle=rec["user_handle"], name=name, now=utcnow(), limit=10)


def options(client, url: str, recorded_challenge: str, token_from="/login"):
    """Ask for options as the page's script does; then make the challenge the server handed
    this session the one the recorded answer signed (its binding, kind and expiry stay)."""
    r = client.post(url, headers={"X-CSRFToken": csrf(client, token_from)})
    assert r.status_code == 200, r.get_data(as_text=True)
    issued = pk.bytes_to_base64url(pk.base64url_to_bytes(r.get_json()["challenge"]))
    with db.connection_context():
        updated = (WebAuthnChallenge.update(challenge=recorded_challenge)
                   .where(WebAuthnChallenge.challenge == issued).execute())
    assert updated == 1
    return r


def recently_verified(email=MEMBER) -> None:
    """Open the "recently verified" window of the account's live sessions (as a verified
    step-up would)."""
    with db.connection_context():
        (UserSession.update(sudo_until=utcnow() + dt.timedelta(minutes=5))
         .where((UserSession.user == User.by_email(email).id)
                & UserSession.revoked_at.is_null())
         .execute())


def credential_json(credential: dict) -> str:
    return json.dumps(credential)
