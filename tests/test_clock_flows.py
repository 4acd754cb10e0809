"""The running app's timing, proved by moving its clock: code lifetime, resend wait, challenge life.

The numbers are the documented defaults (webapp.config.DEFAULTS), never the app's config.
"""

import re

import pytest
from conftest import csrf, last_code, outbox, post, user
from security.helpers import cid_from, password_step

from webapp.config import DEFAULTS

CODE_TTL = DEFAULTS["CODE_TTL_SECONDS"]
RESEND_AFTER = DEFAULTS["CODE_RESEND_AFTER_SECONDS"]
PENDING = DEFAULTS["LOGIN_PENDING_SECONDS"]
EMAIL, OLD_PHONE, NEW_PHONE = "member@example.com", "+12025550103", "+12025550177"


def start_phone_change(client) -> str:
    """My Profile with a new number, then "Email": the code step, a code sent at the clock's now."""
    r = post(client, "/settings/profile", {"name": "Mia Member", "email": EMAIL,
                                           "phone": NEW_PHONE})
    cid = cid_from(r)
    r = post(client, f"/verify/{cid}/channel", {"channel": "email"})
    assert r.status_code == 303
    return cid


@pytest.mark.parametrize("after,status,phone", [
    (CODE_TTL - 1, 303, NEW_PHONE),  # 4:59: the code still works
    (CODE_TTL + 1, 422, OLD_PHONE),  # 5:01: refused as expired
])
def test_a_phone_change_code_lives_five_minutes(member_client, clock, after, status, phone):
    cid = start_phone_change(member_client)
    code = last_code(EMAIL)
    clock.advance(after)
    r = post(member_client, f"/verify/{cid}/code", {"code": code})
    assert r.status_code == status
    if status == 303:
        assert r.headers["Location"] == "/settings/profile"
    else:
        assert "This code has expired. Ask for a new one." in r.get_data(as_text=True)
    assert user(EMAIL).phone == phone


def test_resend_waits_thirty_seconds(member_client, clock):
    cid = start_phone_change(member_client)
    page = member_client.get(f"/verify/{cid}").get_data(as_text=True)
    assert f'data-countdown="{RESEND_AFTER}"' in page
    clock.advance(RESEND_AFTER - 1)
    r = post(member_client, f"/verify/{cid}/resend", {}, htmx=True)
    # One second to go; the wait is rounded up past the boundary, never early.
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "2"
    assert "You can ask for a new code in 2 seconds." in r.get_data(as_text=True)
    # Without JavaScript the early click goes back to the step, which says why.
    r = post(member_client, f"/verify/{cid}/resend", {})
    assert r.status_code == 303 and r.headers["Location"] == f"/verify/{cid}"
    page = member_client.get(f"/verify/{cid}").get_data(as_text=True)
    assert "You can ask for a new code in 2 seconds." in page
    codes = [m for m in outbox("email", EMAIL) if m.subject.startswith("Your Aesthetix CRM code")]
    assert len(codes) == 2  # the sign-in code and the first one only
    clock.advance(2)
    r = post(member_client, f"/verify/{cid}/resend", {})
    assert r.status_code == 303 and r.headers["Location"] == f"/verify/{cid}"
    codes = [m for m in outbox("email", EMAIL) if m.subject.startswith("Your Aesthetix CRM code")]
    assert len(codes) == 3
    r = post(member_client, f"/verify/{cid}/code", {"code": last_code(EMAIL)})
    assert r.status_code == 303 and user(EMAIL).phone == NEW_PHONE


def test_a_verification_closes_after_its_lifetime_even_with_a_fresh_code(member_client, clock):
    r = post(member_client, "/settings/profile", {"name": "Mia Member", "email": EMAIL,
                                                  "phone": NEW_PHONE})
    cid = cid_from(r)
    clock.advance(PENDING - 1)  # still open: a code can be sent...
    r = post(member_client, f"/verify/{cid}/channel", {"channel": "email"})
    assert r.status_code == 303
    code = last_code(EMAIL)
    clock.advance(2)  # ...but the verification ends before that code does
    r = post(member_client, f"/verify/{cid}/code", {"code": code})
    assert r.status_code == 409
    assert "This verification has expired. Start again." in r.get_data(as_text=True)
    assert user(EMAIL).phone == OLD_PHONE


@pytest.mark.parametrize("late,signed_in", [(0, True), (2, False)])
def test_the_sign_in_second_step_ends_after_its_lifetime(client, clock, late, signed_in):
    r = password_step(client)
    url = r.headers["Location"]
    token = csrf(client, url)
    clock.advance(PENDING - 1)  # a second before the end: a code can still be sent
    assert client.post(url + "/channel", data={"channel": "email",
                                               "csrf_token": token}).status_code == 303
    clock.advance(late)
    r = client.post(url + "/code", data={"code": last_code(EMAIL), "csrf_token": token})
    if signed_in:
        assert r.status_code == 303 and r.headers["Location"] == "/settings/profile"
        assert client.get("/settings/profile").status_code == 200
    else:
        # The half-signed-in state is gone: the step is not found, nothing is granted.
        assert r.status_code == 404
        r = client.get("/settings/profile")
        assert r.status_code == 303 and re.match(r"/login\b", r.headers["Location"])
