"""The `passkey` channel of "Choose how to verify": as the sign-in's second step and for a
step-up (phone change), through plain form posts with recorded assertions; where it is not
offered (an admin's change for a member); and what is refused (another account's passkey, an
answer for another verification, a typed code, a cloned authenticator)."""

import html

import pytest
from conftest import PASSWORD, csrf, outbox, post, signin, user

from webapp.config import DEFAULTS
from webapp.extensions import db
from webapp.models import AuditEvent, Challenge, Passkey
from webapp.security import channels as ch

from .helpers import MEMBER, OWNER, RP, account, assertion, credential_json, options, store_passkey

pytestmark = pytest.mark.config(**RP)


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def password_step(client, email=MEMBER) -> str:
    r = client.post("/login", data={"email": email, "password": PASSWORD,
                                    "csrf_token": csrf(client, "/login")})
    assert r.status_code == 303
    return r.headers["Location"]


def choose_passkey(client, verify_url):
    return client.post(verify_url + "/channel", data={"channel": "passkey",
                                                      "csrf_token": csrf(client, verify_url)})


def answer(client, verify_url, recorded, *, token_from=None):
    options(client, verify_url + "/passkey/options", recorded["challenge"],
            token_from=token_from or verify_url)
    return client.post(verify_url + "/passkey", data={
        "credential": credential_json(recorded["credential"]),
        "csrf_token": csrf(client, token_from or verify_url)})


def events(name):
    with db.connection_context():
        return list(AuditEvent.select().where(AuditEvent.event == name).order_by(AuditEvent.id))


def signed_in(client) -> bool:
    return client.get("/settings/profile").status_code == 200


def test_the_second_step_offers_a_passkey_and_accepts_one(client):
    store_passkey()
    url = password_step(client)
    page = text(client.get(url))
    assert 'value="passkey"' in page and "Use a passkey" in page
    assert 'data-passkey-only hidden' in page  # shown by passkeys.js only
    assert choose_passkey(client, url).status_code == 303
    step = text(client.get(url))
    assert 'data-passkey="verify"' in step and 'name="code"' not in step
    r = client.post(url + "/passkey/options", headers={"X-CSRFToken": csrf(client, url)})
    body = r.get_json()
    # This account's passkeys only, user verification preferred (not required here).
    assert [c["id"] for c in body["allowCredentials"]] == [account()["registration"]
                                                           ["credential"]["id"]]
    assert body["userVerification"] == "preferred"
    r = answer(client, url, assertion(n=2))  # without user verification: fine after a password
    assert r.status_code == 303 and r.headers["Location"].endswith("/settings/profile")
    assert signed_in(client)
    assert events("login.succeeded")[-1].channel == "passkey"


def test_another_accounts_passkey_is_refused(client):
    store_passkey(MEMBER)
    store_passkey(OWNER)
    url = password_step(client, MEMBER)
    choose_passkey(client, url)
    r = answer(client, url, assertion(OWNER))
    assert r.status_code == 422 and "isn't registered for this account" in text(r)
    assert not signed_in(client)
    assert events("passkey.refused")[-1].data["reason"] == "unknown"
    with db.connection_context():
        assert Challenge.get(Challenge.purpose == "login").attempts == 1  # it counted


def test_an_answer_is_for_its_own_verification_only(app):
    """Options fetched for one verification, the answer posted to another: refused."""
    store_passkey()
    client = app.test_client()
    first = password_step(client)
    choose_passkey(client, first)
    recorded = assertion()
    options(client, first + "/passkey/options", recorded["challenge"], token_from=first)
    client.post("/login/cancel", data={"csrf_token": csrf(client, first)})
    second = password_step(client)
    choose_passkey(client, second)
    r = client.post(second + "/passkey", data={
        "credential": credential_json(recorded["credential"]),
        "csrf_token": csrf(client, second)})
    assert r.status_code == 422 and "expired or was already used" in text(r)
    assert not signed_in(client)


def test_a_typed_code_is_not_a_passkey(client):
    store_passkey()
    url = password_step(client)
    choose_passkey(client, url)
    r = client.post(url + "/code", data={"code": "123456", "csrf_token": csrf(client, url)})
    assert r.status_code == 422 and "Use your passkey" in text(r)
    with db.connection_context():
        assert Challenge.get(Challenge.purpose == "login").attempts == 0  # never compared


def test_options_only_for_the_passkey_step(client):
    store_passkey()
    url = password_step(client)
    client.post(url + "/channel", data={"channel": "email", "csrf_token": csrf(client, url)})
    r = client.post(url + "/passkey/options", headers={"X-CSRFToken": csrf(client, url)})
    assert r.status_code == 409


def test_not_offered_without_a_passkey(client):
    url = password_step(client)
    assert 'value="passkey"' not in text(client.get(url))
    r = choose_passkey(client, url)
    assert r.status_code == 400


def test_a_passkey_approves_a_phone_change(member_client):
    store_passkey()
    me = user(MEMBER)
    r = post(member_client, "/settings/profile",
             {"name": me.name, "email": me.email, "phone": "+12025550177"})
    url = r.headers["Location"]
    assert 'value="passkey"' in text(member_client.get(url))
    choose_passkey(member_client, url)
    r = answer(member_client, url, assertion())
    assert r.status_code == 303
    assert user(MEMBER).phone == "+12025550177"
    assert events("phone.changed")[-1].channel == "passkey"
    assert len(events("passkey.used")) == 1


def test_a_cloned_authenticator_is_refused_at_a_step_up(member_client):
    store_passkey()
    with db.connection_context():
        Passkey.update(sign_count=99).execute()
    me = user(MEMBER)
    r = post(member_client, "/settings/profile",
             {"name": me.name, "email": me.email, "phone": "+12025550177"})
    url = r.headers["Location"]
    choose_passkey(member_client, url)
    r = answer(member_client, url, assertion())
    assert r.status_code == 422 and "looks like a copy" in text(r)
    assert user(MEMBER).phone == "+12025550103"
    assert len(events("passkey.cloned")) == 1
    assert any("was refused" in m.subject for m in outbox("email", MEMBER))


def test_an_admins_change_for_a_member_never_offers_the_members_passkey(app):
    store_passkey(MEMBER)
    admin = app.test_client()
    signin(admin, "admin@example.com")
    member = user(MEMBER)
    r = post(admin, f"/settings/team/{member.id}", {"name": member.name, "phone": "+12025550177"},
             token_from="/settings/team")
    url = r.headers["Location"]
    assert 'value="passkey"' not in text(admin.get(url))
    r = choose_passkey(admin, url)
    assert r.status_code == 400 and "isn't available" in text(r)
    assert user(MEMBER).phone == "+12025550103"


@pytest.mark.parametrize("rule, for_member, offered", [
    (ch.SIGN_IN, False, True), (ch.TRUSTED, False, True), (ch.TRUSTED, True, False),
    (ch.OWN_EMAIL, False, False), (ch.OWN_PHONE, False, False)])
def test_channel_rules(app, rule, for_member, offered):
    with db.connection_context():
        member = user(MEMBER)
    channels = ch.eligible_channels(member, rule, has_passkey=True, for_member=for_member)
    assert ("passkey" in channels) is offered
    assert "passkey" not in ch.eligible_channels(member, rule, has_passkey=False)


def test_the_passkey_check_counts_towards_the_method_lock(client):
    """Wrong passkey answers use the (account, passkey) allowance like wrong codes."""
    store_passkey(MEMBER)
    store_passkey(OWNER)
    limit = DEFAULTS["CODE_MAX_ATTEMPTS"]
    url = password_step(client, MEMBER)
    choose_passkey(client, url)
    for _ in range(limit):
        answer(client, url, assertion(OWNER))
    r = answer(client, url, assertion(MEMBER))  # the right one, after the attempts ran out
    assert r.status_code == 409 and not signed_in(client)
