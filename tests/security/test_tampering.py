"""A-6 / SU-1 / ADM-2: codes only ever reach the subject's stored, verified channels."""

import json

import pytest
from conftest import HTMX, csrf, outbox, post, signin, user
from werkzeug.datastructures import MultiDict

from security.helpers import challenge, cid_from

EMAIL, PHONE = "member@example.com", "+12025550103"
ATTACKER_PHONE, ATTACKER_EMAIL = "+12025550199", "attacker@evil.example"
TAMPER = {"to": ATTACKER_PHONE, "phone": ATTACKER_PHONE, "email": ATTACKER_EMAIL,
          "destination": ATTACKER_PHONE, "number": ATTACKER_PHONE, "address": ATTACKER_EMAIL}


def only_stored_destinations():
    sent = outbox()
    assert sent, "nothing was sent at all"
    assert {(m.kind, m.to) for m in sent} <= {("email", EMAIL), ("sms", PHONE)}, \
        [(m.kind, m.to) for m in sent]


def start_change(client, phone="+12025550177"):
    me = user(EMAIL)
    r = post(client, "/settings/profile", {"name": me.name, "email": me.email, "phone": phone})
    return cid_from(r)


@pytest.fixture
def member(app):
    client = app.test_client()
    signin(client, EMAIL, channel="sms")
    return client


@pytest.mark.parametrize("channel", ["email", "sms"])
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a6_extra_destination_fields_are_ignored(member, channel, htmx):
    """A-6: `to`/`phone`/`email` fields (as a form or as hx-vals) never redirect a code."""
    cid = start_change(member)
    token = csrf(member, f"/verify/{cid}")
    r = member.post(f"/verify/{cid}/channel", data={"channel": channel, "csrf_token": token,
                                                    **TAMPER},
                    query_string=TAMPER, headers=HTMX if htmx else {})
    assert r.status_code == (200 if htmx else 303)
    only_stored_destinations()
    assert outbox()[-1].to == (EMAIL if channel == "email" else PHONE)


def test_a6_duplicated_channel_parameter_is_refused(member):
    """A-6 / ASVS 15.3.7: channel=email&channel=sms is refused (400), nothing is sent."""
    cid = start_change(member)
    token = csrf(member, f"/verify/{cid}")
    before = len(outbox())
    r = member.post(f"/verify/{cid}/channel", data=MultiDict(
        [("channel", "email"), ("channel", "sms"), ("csrf_token", token)]))
    assert r.status_code == 400
    assert len(outbox()) == before


def test_a6_duplicated_phone_on_the_profile_form_never_texts_either_number(member):
    """A-6: phone=a&phone=b on the save: one value is taken; no code goes to either number."""
    me = user(EMAIL)
    r = member.post("/settings/profile", data=MultiDict([
        ("csrf_token", csrf(member, "/settings/profile")), ("name", me.name),
        ("email", me.email), ("phone", "+12025550177"), ("phone", ATTACKER_PHONE)]))
    # The first value is the one verified (WTForms reads the first); codes go to the
    # account's current number, never to either of these.
    assert r.status_code == 303
    cid = cid_from(r)
    assert challenge(cid).data == {"phone": "+12025550177"}
    token = csrf(member, f"/verify/{cid}")
    r = member.post(f"/verify/{cid}/channel", data={"channel": "sms", "csrf_token": token})
    assert r.status_code == 303
    only_stored_destinations()


def test_a6_json_body_is_not_a_way_around_the_form(member):
    """A-6: a JSON body with a destination is refused without sending anything."""
    cid = start_change(member)
    token = csrf(member, f"/verify/{cid}")
    before = len(outbox())
    r = member.post(f"/verify/{cid}/channel",
                    data=json.dumps({"channel": "sms", "to": ATTACKER_PHONE}),
                    content_type="application/json", headers={"X-CSRFToken": token})
    assert r.status_code == 400
    assert len(outbox()) == before


def test_a6_resend_and_login_step_ignore_destinations(app):
    """A-6: resend and the sign-in channel step take no destination either."""
    client = app.test_client()
    token = csrf(client)
    r = client.post("/login", data={"email": EMAIL, "password": "demo-password-aesthetix",
                                    "csrf_token": token})
    url = r.headers["Location"]
    token = csrf(client, url)
    client.post(url + "/channel", data={"channel": "sms", "csrf_token": token, **TAMPER})
    client.post(url + "/resend", data={"csrf_token": token, **TAMPER})
    only_stored_destinations()


def test_a6_admin_cannot_send_the_members_code_to_themselves(app):
    """A-6 / ADM-2: an admin's tampered fields never send the member's code to the admin."""
    admin = app.test_client()
    signin(admin, "admin@example.com")
    before = len(outbox())
    member_id = user(EMAIL).id
    r = post(admin, f"/settings/team/{member_id}",
             {"name": "Mia Member", "phone": "+12025550177", "user_id": "2"},
             token_from=f"/settings/team/{member_id}")
    cid = cid_from(r)
    token = csrf(admin, f"/verify/{cid}")
    for channel in ("email", "sms"):
        admin.post(f"/verify/{cid}/channel", data={
            "channel": channel, "csrf_token": token, "to": "admin@example.com",
            "phone": "+12025550102", "subject": "2"})
    sent = outbox()[before:]
    assert sent and all(m.to in (EMAIL, PHONE) for m in sent), [m.to for m in sent]
