"""Issue 13, bugs 14-16 as plain forms (no JavaScript): Not you?, the last method, a left
sign-in step, the signed-out reason, the early resend, the password field, the notices."""

import re
from pathlib import Path

import pytest
from conftest import PASSWORD, csrf, last_code, outbox, post, signin
from twofactor.helpers import enable_totp, next_code

NEW_PASSWORD = "a quite different passphrase 42"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def password_step(client, email="member@example.com"):
    r = client.post("/login", data={"email": email, "password": PASSWORD,
                                    "csrf_token": csrf(client, "/login")})
    assert r.status_code == 303
    return r.headers["Location"]


def test_not_you_is_a_csrf_checked_post_that_cancels_the_step(client, dbconn):
    verify_url = password_step(client)
    page = client.get(verify_url).get_data(as_text=True)
    assert "Signing in as <strong>m***@example.com</strong>" in page
    assert 'id="login-cancel" method="post" action="/login/cancel"' in page
    assert client.post("/login/cancel").status_code == 400  # no CSRF token
    r = post(client, "/login/cancel", token_from=verify_url)
    assert r.status_code == 303 and r.headers["Location"] == "/login"
    r = client.get(verify_url)
    assert r.status_code == 303 and r.headers["Location"] == "/login"


def test_the_last_method_is_preselected(app, client, dbconn):
    secret, _ = enable_totp(app, "member@example.com")
    verify_url = password_step(client)
    checked = re.findall(r'value="(\w+)" checked', client.get(verify_url).get_data(as_text=True))
    assert checked == ["email"]  # nothing used yet: the first option
    token = csrf(client, verify_url)
    client.post(verify_url + "/channel", data={"channel": "totp", "csrf_token": token})
    r = client.post(verify_url + "/code", data={"code": next_code(secret)[0],
                                               "csrf_token": token})
    assert r.status_code == 303
    fresh = app.test_client()
    verify_url = password_step(fresh)
    checked = re.findall(r'value="(\w+)" checked', fresh.get(verify_url).get_data(as_text=True))
    assert checked == ["totp"]


def test_a_finished_sign_in_step_leads_to_my_profile_or_the_sign_in_page(app, client, dbconn):
    verify_url = password_step(client)
    token = csrf(client, verify_url)
    client.post(verify_url + "/channel", data={"channel": "email", "csrf_token": token})
    client.post(verify_url + "/code", data={"code": last_code("member@example.com"),
                                           "csrf_token": token})
    r = client.get(verify_url)
    assert r.status_code == 303 and r.headers["Location"] == "/settings/profile"
    fresh = app.test_client()
    r = fresh.get(verify_url)
    assert r.status_code == 303 and r.headers["Location"] == "/login"
    assert fresh.get("/verify/no-such-step").status_code == 404


def test_the_sign_in_page_says_why_only_to_the_signed_out_browser(app, dbconn):
    elsewhere, here, stranger = app.test_client(), app.test_client(), app.test_client()
    signin(here)
    signin(elsewhere)
    r = post(elsewhere, "/settings/profile/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert r.status_code == 303
    said = "You were signed out because your password was changed."
    assert said in here.get("/login").get_data(as_text=True)
    assert said not in stranger.get("/login").get_data(as_text=True)
    assert said not in elsewhere.get("/login", follow_redirects=True).get_data(as_text=True)


def test_sign_out_other_devices_gives_no_password_reason(app, dbconn):
    here, other = app.test_client(), app.test_client()
    signin(here)
    signin(other)
    r = post(other, "/settings/profile/sessions/sign-out-others")
    assert r.status_code in (200, 303)
    assert here.get("/settings/profile").status_code == 303  # signed out, but not by a password
    assert "password was changed" not in here.get("/login").get_data(as_text=True)


def test_an_early_resend_without_javascript_goes_back_to_the_step(client, dbconn):
    verify_url = password_step(client)
    token = csrf(client, verify_url)
    client.post(verify_url + "/channel", data={"channel": "email", "csrf_token": token})
    page = client.get(verify_url).get_data(as_text=True)
    assert re.search(r"available at \d\d:\d\d UTC", page)
    r = client.post(verify_url + "/resend", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["Location"] == verify_url
    assert "You can ask for a new code" in client.get(verify_url).get_data(as_text=True)


@pytest.mark.parametrize("current, kept", [(PASSWORD, True), ("not my password", False)])
def test_a_password_error_keeps_the_current_password_unless_wrong(member_client, dbconn,
                                                                  current, kept):
    r = post(member_client, "/settings/profile/password", {
        "current_password": current, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD + "x"})
    assert r.status_code == 422
    field = re.search(r'<input id="current_password"[^>]*>', r.get_data(as_text=True)).group(0)
    assert (f'value="{current}"' in field) == kept


@pytest.mark.parametrize("path", sorted(TEMPLATES.glob("**/email/*.txt")), ids=lambda p: p.name)
def test_notices_break_lines_only_between_sentences(path):
    text = path.read_text()
    for block in re.findall(r"\{% trans[^%]*%\}(.*?)\{% endtrans %\}", text, re.S):
        for part in block.split("{% pluralize"):
            for line in part.rstrip().splitlines()[:-1]:
                assert not line.strip() or line.rstrip()[-1] in ".:!?,", (path.name, line)


def test_the_email_changed_notice_masks_both_addresses_alike(member_client, dbconn):
    r = post(member_client, "/settings/profile",
             {"name": "Mia Member", "email": "newaddress@example.org", "phone": "+12025550103"})
    verify_url = r.headers["Location"]
    token = csrf(member_client, verify_url)
    member_client.post(verify_url + "/channel", data={"channel": "email", "csrf_token": token})
    member_client.post(verify_url + "/code", data={"code": last_code("member@example.com"),
                                                  "csrf_token": token})
    notice = outbox("email", "member@example.com")[-1].body
    assert "from m***@example.com to n***@example.org" in notice
    assert "newaddress@" not in notice
