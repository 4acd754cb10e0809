"""S-5: every code sent counts against per-destination, per-account and per-IP limits (shared by
all workers), counted before sending; over a limit nothing is sent and the person is told when
to try again. SMS goes only to the countries the operator allows."""

import pytest
from conftest import csrf, outbox, signin, user

from security.helpers import cid_from, password_step
from webapp.config import DEFAULTS

EMAIL = "member@example.com"
PHONE = "+12025550103"


def test_s5_documented_limits():
    assert DEFAULTS["CODE_SENDS_PER_DESTINATION"] == "5 per hour"
    assert DEFAULTS["CODE_SENDS_PER_ACCOUNT"] == "10 per hour"
    assert DEFAULTS["CODE_SENDS_PER_IP"] == "30 per hour"
    assert DEFAULTS["SMS_ALLOWED_REGIONS"] == ""


def _verify_phone_sms(client):
    """ "Verify" next to the phone, then Text message: the answer of the send."""
    token = csrf(client, "/settings/profile")
    cid = cid_from(client.post("/settings/profile/verify-phone", data={"csrf_token": token}))
    return client.post(f"/verify/{cid}/channel", data={"channel": "sms", "csrf_token": token})


def test_s5_twenty_five_verify_phone_starts_send_five_texts(member_client):
    answers = [_verify_phone_sms(member_client) for _ in range(25)]
    assert [r.status_code for r in answers] == [303] * 5 + [429] * 20
    assert len(outbox("sms", PHONE)) == 5  # before: 25
    refused = answers[-1]
    body = refused.get_data(as_text=True)
    assert "Too many codes were sent" in body and "Nothing was sent" in body
    assert 0 < int(refused.headers["Retry-After"]) <= 3600


@pytest.mark.config(CODE_SENDS_PER_DESTINATION="100 per hour")
def test_s5_an_account_gets_ten_codes_an_hour_whatever_the_destination(member_client):
    sent = 0
    for i in range(12):
        token = csrf(member_client, "/settings/profile")
        path = "/settings/profile/verify-phone" if i % 2 else "/settings/profile/verify-email"
        cid = cid_from(member_client.post(path, data={"csrf_token": token}))
        channel = "sms" if i % 2 else "email"
        r = member_client.post(f"/verify/{cid}/channel",
                               data={"channel": channel, "csrf_token": token})
        sent += r.status_code == 303
    # The sign-in itself sent one of the ten.
    assert sent == 9
    # (The email also got a new-device sign-in notice: not a code.)
    codes = [m for m in outbox("email", EMAIL) if m.subject.startswith("Your Aesthetix CRM code")]
    assert len(outbox("sms", PHONE)) + len(codes) == 10


@pytest.mark.config(CODE_SENDS_PER_IP="4 per hour", CODE_SENDS_PER_DESTINATION="100 per hour",
                    CODE_SENDS_PER_ACCOUNT="100 per hour")
def test_s5_one_address_cannot_spray_codes_over_many_accounts(app):
    """Password steps for several accounts from one IP: the IP's allowance is shared."""
    statuses = []
    for email in ("owner@example.com", "admin@example.com", EMAIL, "casey@example.com",
                  "owner@example.com", "admin@example.com"):
        client = app.test_client()
        url = password_step(client, email).headers["Location"]
        token = csrf(client, url)
        statuses.append(client.post(url + "/channel", data={"channel": "email",
                                                            "csrf_token": token}).status_code)
    assert statuses == [303] * 4 + [429] * 2
    assert len(outbox("email")) == 4


def test_s5_ten_password_steps_send_five_sign_in_texts(app):
    client = app.test_client()
    statuses = []
    for _ in range(10):
        url = password_step(client, EMAIL).headers["Location"]
        token = csrf(client, url)
        statuses.append(client.post(url + "/channel", data={"channel": "sms",
                                                            "csrf_token": token}).status_code)
    assert statuses == [303] * 5 + [429] * 5
    assert len(outbox("sms", PHONE)) == 5  # before: 10


def test_s5_resends_count_too(member_client, clock):
    """A resend is a send: the destination's five include them (the clock moves 31 s a time)."""
    token = csrf(member_client, "/settings/profile")
    cid = cid_from(member_client.post("/settings/profile/verify-phone",
                                      data={"csrf_token": token}))
    member_client.post(f"/verify/{cid}/channel", data={"channel": "sms", "csrf_token": token})
    statuses = []
    for _ in range(3):
        clock.advance(31)
        statuses.append(member_client.post(f"/verify/{cid}/resend",
                                           data={"csrf_token": token}).status_code)
    cid = cid_from(member_client.post("/settings/profile/verify-phone",
                                      data={"csrf_token": token}))
    for _ in range(2):
        statuses.append(member_client.post(f"/verify/{cid}/channel", data={
            "channel": "sms", "csrf_token": token}).status_code)
        clock.advance(31)
    assert statuses == [303, 303, 303, 303, 429]
    assert len(outbox("sms", PHONE)) == 5


@pytest.mark.config(SMS_ALLOWED_REGIONS="GB, IE")
def test_s5_texts_only_go_to_allowed_countries(member_client):
    r = _verify_phone_sms(member_client)
    assert r.status_code == 400
    assert "can&#39;t send text messages to this country" in r.get_data(as_text=True)
    assert outbox("sms", PHONE) == []


@pytest.mark.config(SMS_ALLOWED_REGIONS="US")
def test_s5_texts_to_an_allowed_country_are_sent(member_client):
    assert _verify_phone_sms(member_client).status_code == 303
    assert len(outbox("sms", PHONE)) == 1


def test_s5_nothing_is_sent_once_limited_even_by_another_session(app):
    """The limits are per destination and account, not per browser."""
    first, second = app.test_client(), app.test_client()
    signin(first, EMAIL)
    signin(second, EMAIL)
    for _ in range(3):
        _verify_phone_sms(first)
    answers = [_verify_phone_sms(second).status_code for _ in range(3)]
    assert answers == [303, 303, 429]
    assert len(outbox("sms", PHONE)) == 5
    assert user(EMAIL).phone == PHONE


@pytest.mark.parametrize(("number", "message"), [
    ("+1 900 555 0123", "can&#39;t receive codes"),  # premium rate
    ("+44 909 879 0000", "can&#39;t receive codes"),
    ("+1 202 555 0177 ext 12", "without an extension"),
])
def test_s5_numbers_that_cost_the_sender_are_refused(member_client, number, message):
    from conftest import post

    r = post(member_client, "/settings/profile", {"name": "Mia Member", "email": EMAIL,
                                                  "phone": number})
    assert r.status_code == 422 and message in r.get_data(as_text=True)
    assert user(EMAIL).phone == PHONE


def test_s5_a_premium_number_stored_earlier_gets_no_text(member_client):
    from webapp.extensions import db
    from webapp.models import User

    with db.connection_context():
        User.update(phone="+19005550123").where(User.email == EMAIL).execute()
    r = _verify_phone_sms(member_client)
    assert r.status_code == 400 and outbox("sms", "+19005550123") == []
