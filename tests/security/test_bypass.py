"""A-4 / SU-4 / A-23 / RL-3: nothing is saved without a code checked against its own challenge."""


import pytest
from conftest import PASSWORD, csrf, last_code, post, signin, user
from twofactor.helpers import enable_totp

from security.helpers import challenge, cid_from, events, snapshot
from webapp.config import DEFAULTS

EMAIL = "member@example.com"
OLD_PHONE, PHONE_A, PHONE_B = "+12025550103", "+12025550177", "+12025550188"
# Fields a forged request might add to claim "already verified".
FORGED = {"verified": "1", "stepped_up": "true", "code": "123456", "channel": "totp",
          "challenge": "x", "grant": "1", "confirmed": "yes"}


def profile_post(client, **fields):
    me = user(EMAIL)
    data = {"name": me.name, "email": me.email, "phone": me.phone or ""}
    data.update(fields)
    return post(client, "/settings/profile", data)


def start_phone_change(client, phone=PHONE_A, channel="email"):
    """A change_phone challenge with a code sent; returns (cid, token, code)."""
    r = profile_post(client, phone=phone)
    assert r.status_code == 303, r.get_data(as_text=True)
    cid = cid_from(r)
    token = csrf(client, f"/verify/{cid}")
    r = client.post(f"/verify/{cid}/channel", data={"channel": channel, "csrf_token": token})
    assert r.status_code == 303
    return cid, token, last_code(EMAIL if channel == "email" else OLD_PHONE, channel)


def submit(client, cid, code, token=None):
    token = token or csrf(client, "/settings/profile")
    return client.post(f"/verify/{cid}/code", data={"code": code, "csrf_token": token})


def phone_now() -> str:
    return user(EMAIL).phone


@pytest.mark.parametrize("path, fields", [
    ("/settings/profile", {"phone": PHONE_A}),
    ("/settings/profile", {"email": "new-address@example.com"}),
])
def test_a4_save_endpoints_never_save_a_new_value_directly(member_client, path, fields):
    """A-4: forged "verified" fields do not save a phone or email; a challenge starts instead."""
    me = user(EMAIL)
    data = {"name": me.name, "email": me.email, "phone": me.phone, **FORGED, **fields}
    before = snapshot(EMAIL)
    r = post(member_client, path, data)
    assert r.status_code == 303 and r.headers["Location"].startswith("/verify/")
    assert snapshot(EMAIL)["users"] == before["users"]
    assert challenge(cid_from(r)).consumed_at is None


def test_a4_admin_save_of_a_member_phone_needs_the_members_code(app):
    """A-4 / ADM-4: an admin's save with forged fields starts a challenge; nothing is saved."""
    admin = app.test_client()
    signin(admin, "admin@example.com")
    member = user(EMAIL)
    before = snapshot(EMAIL)
    r = post(admin, f"/settings/team/{member.id}",
             {"name": member.name, "phone": PHONE_A, **FORGED},
             token_from=f"/settings/team/{member.id}")
    assert r.status_code == 303 and r.headers["Location"].startswith("/verify/")
    assert snapshot(EMAIL)["users"] == before["users"]


@pytest.mark.parametrize("path", ["/settings/profile/2fa/backup-codes",
                                  "/settings/profile/2fa/remove"])
def test_a4_backup_codes_and_removal_need_a_verified_challenge(app, path):
    """A-4: regenerate/remove with forged fields only opens a verification."""
    enable_totp(app, EMAIL)
    client = app.test_client()
    signin(client, EMAIL)
    before = snapshot(EMAIL)
    r = post(client, path, FORGED)
    assert r.status_code == 303 and r.headers["Location"].startswith("/verify/")
    assert snapshot(EMAIL) == before


def test_a4_code_before_choosing_a_channel_is_refused(member_client):
    """A-4 / RL-3: the code step cannot be reached before a channel sent a code."""
    r = profile_post(member_client, phone=PHONE_A)
    cid = cid_from(r)
    for guess, status in (("000000", 400), ("123456", 400), ("", 422)):
        r = submit(member_client, cid, guess)  # no channel yet: 400; no code at all: 422
        assert r.status_code == status, guess
    assert phone_now() == OLD_PHONE


def test_a4_expired_challenge_is_refused_and_audited_nothing_changes(member_client, clock):
    """A-4: with the right code, an expired challenge saves nothing (409)."""
    cid, token, code = start_phone_change(member_client)
    clock.advance(DEFAULTS["LOGIN_PENDING_SECONDS"] + 1)
    r = submit(member_client, cid, code, token)
    assert r.status_code == 409 and "expired" in r.get_data(as_text=True)
    assert phone_now() == OLD_PHONE
    assert challenge(cid).consumed_at is None
    assert events("challenge.refused", outcome="refused")


def test_a4_expired_code_on_an_open_challenge_is_refused(member_client, clock):
    """A-4 / MFA-5: the code itself expires (CODE_TTL_SECONDS) even if the challenge is open."""
    cid, token, code = start_phone_change(member_client)
    clock.advance(DEFAULTS["CODE_TTL_SECONDS"] + 1)
    r = submit(member_client, cid, code, token)
    assert r.status_code == 422 and "expired" in r.get_data(as_text=True)
    assert phone_now() == OLD_PHONE
    assert events("challenge.failed", outcome="failed")


def test_a4_code_of_another_purpose_does_not_authorise_this_one(member_client):
    """A-4 / SU-4: a code sent for an email change is refused on a phone change."""
    r = profile_post(member_client, email="new-address@example.com")
    email_cid = cid_from(r)
    token = csrf(member_client, f"/verify/{email_cid}")
    member_client.post(f"/verify/{email_cid}/channel", data={"channel": "email",
                                                             "csrf_token": token})
    email_code = last_code(EMAIL)
    phone_cid, token, phone_code = start_phone_change(member_client)
    assert phone_code != email_code or True  # equal by chance is still a different binding
    if email_code != phone_code:
        r = submit(member_client, phone_cid, email_code, token)
        assert r.status_code == 422
    r = submit(member_client, email_cid, phone_code, token)
    assert r.status_code == 422
    me = user(EMAIL)
    assert me.phone == OLD_PHONE and me.email == EMAIL
    assert len(events("challenge.failed")) >= 1


def test_a23_code_from_the_previous_channel_fails_after_a_switch(member_client, clock):
    """A-23: a code is bound to the channel that sent it: switch email -> SMS, email code fails."""
    cid, token, email_code = start_phone_change(member_client, channel="email")
    clock.advance(DEFAULTS["CODE_RESEND_AFTER_SECONDS"] + 1)  # past the wait between two sends
    r = member_client.post(f"/verify/{cid}/channel", data={"channel": "sms", "csrf_token": token})
    assert r.status_code == 303
    sms_code = last_code(OLD_PHONE, "sms")
    if sms_code != email_code:
        r = submit(member_client, cid, email_code, token)
        assert r.status_code == 422
    assert phone_now() == OLD_PHONE
    assert challenge(cid).channel == "sms"


def test_a23_channel_the_account_does_not_have_is_refused(member_client):
    """A-23 / SU-1: switching to the authenticator app without one is refused; nothing sent."""
    cid, token, _ = start_phone_change(member_client)
    for channel in ("totp", "backup", "voice", ""):
        r = member_client.post(f"/verify/{cid}/channel",
                               data={"channel": channel, "csrf_token": token})
        assert r.status_code == 400
    assert challenge(cid).channel == "email"
    assert phone_now() == OLD_PHONE


def test_a4_code_for_another_payload_does_not_save_this_one(member_client):
    """A-4 / A-5 / SU-5: start A, restart with B: A's code fails on both; B's code saves B."""
    cid_a, token, code_a = start_phone_change(member_client, PHONE_A)
    cid_b, token, code_b = start_phone_change(member_client, PHONE_B)
    assert challenge(cid_a).cancelled_at is not None
    r = submit(member_client, cid_a, code_a, token)
    assert r.status_code == 409
    if code_a != code_b:
        r = submit(member_client, cid_b, code_a, token)
        assert r.status_code == 422
    assert phone_now() == OLD_PHONE
    r = submit(member_client, cid_b, code_b, token)
    assert r.status_code == 303 and phone_now() == PHONE_B


def test_a4_challenge_does_not_survive_logout(member_client, app):
    """A-4 / SU-4: after logout (even signing in again) the earlier challenge saves nothing."""
    cid, token, code = start_phone_change(member_client)
    assert post(member_client, "/logout", {}).status_code == 303
    # Signed out: the challenge is not even found.
    r = member_client.post(f"/verify/{cid}/code", data={"code": code,
                                                         "csrf_token": csrf(member_client)})
    assert r.status_code == 404
    signin(member_client, EMAIL)
    r = submit(member_client, cid, code)
    assert r.status_code == 409 and "replaced or cancelled" in r.get_data(as_text=True)
    assert phone_now() == OLD_PHONE
    assert challenge(cid).consumed_at is None


def test_a4_challenge_does_not_survive_a_password_change(member_client):
    """SU-4: a password change closes verifications started before it."""
    cid, token, code = start_phone_change(member_client)
    r = post(member_client, "/settings/profile/password", {
        "current_password": PASSWORD, "new_password": "a brand new long passphrase 42",
        "confirm_password": "a brand new long passphrase 42"})
    assert r.status_code == 303
    r = submit(member_client, cid, code)
    assert r.status_code == 409 and "replaced or cancelled" in r.get_data(as_text=True)
    assert phone_now() == OLD_PHONE


def test_a4_someone_else_cannot_finish_my_challenge(member_client, app):
    """A-4: another signed-in person posting my code to my challenge gets 404."""
    cid, token, code = start_phone_change(member_client)
    other = app.test_client()
    signin(other, "admin@example.com")
    r = submit(other, cid, code)
    assert r.status_code == 404
    assert phone_now() == OLD_PHONE and challenge(cid).consumed_at is None
