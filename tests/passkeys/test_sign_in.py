"""Sign in with a passkey (no email typed), replaying recorded assertions: what signs in, and
every way an assertion is refused (origin, RP ID, replay, expiry, another session, counter,
user verification), without JavaScript: plain form posts, as passkeys.js sends them."""

import html

import pytest
from conftest import csrf, outbox, user

from webapp.extensions import db
from webapp.models import AuditEvent, Passkey, WebAuthnChallenge

from .helpers import MEMBER, OWNER, RP, assertion, credential_json, options, store_passkey

OPTIONS, SIGN_IN = "/login/passkey/options", "/login/passkey"


def sign_in(client, answer, **extra):
    return client.post(SIGN_IN, data={"credential": credential_json(answer["credential"]),
                                      "csrf_token": csrf(client, "/login"), **extra})


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def signed_in(client) -> bool:
    return client.get("/settings/profile").status_code == 200


def events(name):
    with db.connection_context():
        return list(AuditEvent.select().where(AuditEvent.event == name).order_by(AuditEvent.id))


@pytest.mark.config(**RP)
def test_a_verified_passkey_signs_in_with_no_second_step(client):
    store_passkey()
    answer = assertion()
    r = options(client, OPTIONS, answer["challenge"])
    # Discoverable: no account named, no credentials listed; user verification preferred.
    body = r.get_json()
    assert body["rpId"] == RP["WEBAUTHN_RP_ID"]
    assert body.get("allowCredentials", []) == []
    assert body["userVerification"] == "preferred"
    assert r.headers["Cache-Control"] == "no-store"
    r = sign_in(client, answer, next="/settings/activity")
    assert r.status_code == 303 and r.headers["Location"].endswith("/settings/activity")
    assert signed_in(client)
    (ok,) = events("login.succeeded")
    assert (ok.subject_id, ok.channel) == (user(MEMBER).id, "passkey")
    with db.connection_context():
        row = Passkey.get()
        assert row.last_used_at is not None and row.sign_count >= 1
        assert WebAuthnChallenge.select().count() == 0  # taken
    assert any("New sign-in with a passkey" in m.subject for m in outbox("email", MEMBER))


@pytest.mark.config(**RP)
def test_a_replayed_assertion_is_refused(app):
    store_passkey()
    answer = assertion()
    first = app.test_client()
    options(first, OPTIONS, answer["challenge"])
    assert sign_in(first, answer).status_code == 303
    # The same answer again, from the same browser: its challenge was used up.
    first.post("/logout", data={"csrf_token": csrf(first, "/settings/profile")})
    r = sign_in(first, answer)
    assert r.status_code == 422 and "expired or was already used" in text(r)
    assert not signed_in(first)
    assert events("login.failed")[-1].data["reason"] == "stale"


@pytest.mark.config(**RP)
def test_a_challenge_belongs_to_the_session_it_was_issued_to(app):
    store_passkey()
    answer = assertion()
    victim, attacker = app.test_client(), app.test_client()
    options(victim, OPTIONS, answer["challenge"])
    r = sign_in(attacker, answer)  # a captured answer posted from another browser
    assert r.status_code == 422 and not signed_in(attacker)
    with db.connection_context():
        assert WebAuthnChallenge.select().count() == 1  # the victim's is still open


@pytest.mark.config(**RP)
def test_a_challenge_expires_after_five_minutes(client, clock):
    from webapp.config import DEFAULTS

    store_passkey()
    answer = assertion()
    options(client, OPTIONS, answer["challenge"])
    clock.advance(DEFAULTS["WEBAUTHN_CHALLENGE_SECONDS"])
    r = sign_in(client, answer)
    assert r.status_code == 422 and not signed_in(client)
    assert DEFAULTS["WEBAUTHN_CHALLENGE_SECONDS"] == 300


@pytest.mark.parametrize("setting, value", [
    ("WEBAUTHN_ORIGIN", "https://phishing.example"),  # signed on another site
    ("WEBAUTHN_ORIGIN", RP["WEBAUTHN_ORIGIN"].replace("http:", "https:")),
    ("WEBAUTHN_RP_ID", "example.com"),  # made for another relying party
])
def test_wrong_origin_or_rp_id_is_refused(app_factory, setting, value):
    app = app_factory(**{**RP, setting: value})
    client = app.test_client()
    store_passkey()
    answer = assertion()
    options(client, OPTIONS, answer["challenge"])
    r = sign_in(client, answer)
    assert r.status_code == 422
    assert "couldn't be verified" in text(r)
    assert not signed_in(client)
    with db.connection_context():
        assert Passkey.get().last_used_at is None


@pytest.mark.config(**RP)
def test_without_user_verification_the_password_is_needed(client):
    store_passkey()
    answer = assertion(n=2)
    assert answer["user_verified"] is False
    options(client, OPTIONS, answer["challenge"])
    r = sign_in(client, answer)
    assert r.status_code == 422
    assert "can't sign you in on its own" in text(r)
    assert not signed_in(client)
    assert events("login.succeeded") == []


@pytest.mark.config(**RP)
def test_a_counter_that_goes_back_is_a_cloned_authenticator(client):
    store_passkey()
    answer = assertion()
    with db.connection_context():
        Passkey.update(sign_count=50).execute()  # the original has been used 50 times
    options(client, OPTIONS, answer["challenge"])
    r = sign_in(client, answer)
    assert r.status_code == 422 and "looks like a copy" in text(r)
    assert not signed_in(client)
    with db.connection_context():
        assert Passkey.get().sign_count == 50
    (cloned,) = events("passkey.cloned")
    assert cloned.data["stored"] == 50
    assert any("was refused" in m.subject for m in outbox("email", MEMBER))


@pytest.mark.config(**RP)
def test_an_unregistered_passkey_signs_nobody_in(client):
    store_passkey(OWNER)  # only the owner's is registered
    answer = assertion(MEMBER)
    options(client, OPTIONS, answer["challenge"])
    r = sign_in(client, answer)
    assert r.status_code == 422 and "isn't registered" in text(r)
    assert not signed_in(client)


@pytest.mark.config(**RP)
@pytest.mark.parametrize("credential", ["", "not json", "[]", '{"id": 1}', "x" * 20_000,
                                        '{"id": "a", "response": {"clientDataJSON": "!!"}}'])
def test_malformed_answers_get_a_form_error(client, credential):
    store_passkey()
    options(client, OPTIONS, assertion()["challenge"])
    r = client.post(SIGN_IN, data={"credential": credential,
                                   "csrf_token": csrf(client, "/login")})
    assert r.status_code == 422
    assert not signed_in(client)


@pytest.mark.config(**RP)
def test_the_user_handle_must_be_the_passkeys(client):
    store_passkey()
    answer = assertion()
    answer["credential"]["response"]["userHandle"] = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI"
    options(client, OPTIONS, answer["challenge"])
    assert sign_in(client, answer).status_code == 422
    assert not signed_in(client)


@pytest.mark.config(**RP)
def test_options_need_the_csrf_token(client):
    assert client.post(OPTIONS).status_code == 400


@pytest.mark.config(**RP, PASSKEY_SIGN_IN_STARTS_PER_IP="2 per minute")
def test_passkey_sign_ins_started_per_address_are_limited(client):
    token = csrf(client, "/login")
    statuses = [client.post(OPTIONS, headers={"X-CSRFToken": token}).status_code
                for _ in range(3)]
    assert statuses == [200, 200, 429]
    with db.connection_context():
        assert WebAuthnChallenge.select().count() == 1  # one per session; none for the third
