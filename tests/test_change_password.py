"""Change password: every error inline, the success path, other sessions, notice, audit."""

import pytest
from conftest import HTMX, PASSWORD, csrf, outbox, post, signin, user

from webapp.models import AuditEvent, User

NEW = "violet tuesday harbour lantern"
URL = "/settings/profile/password"


def change(client, current=PASSWORD, new=NEW, confirm=None, htmx=False):
    data = {"current_password": current, "new_password": new,
            "confirm_password": new if confirm is None else confirm}
    return post(client, URL, data, htmx=htmx)


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("kwargs, field, message", [
    ({"current": "not my password"}, "current_password", "isn&#39;t your current password"),
    ({"confirm": "something else entirely"}, "confirm_password", "don&#39;t match"),
    ({"new": "short1"}, "new_password", "at least 12"),
    ({"new": "y" * 129}, "new_password", "at most 128"),
    ({"new": PASSWORD}, "new_password", ""),
    ({"new": "password123456"}, "new_password", "too easy to guess"),
    ({"new": "", "confirm": ""}, "new_password", "Enter a new password"),
])
def test_errors_are_inline_and_change_nothing(member_client, dbconn, htmx, kwargs, field,
                                              message):
    before = user("member@example.com").password_hash
    r = change(member_client, htmx=htmx, **kwargs)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert ("<html" in html) is (not htmx)
    assert f'id="{field}" ' in html and 'aria-invalid="true"' in html
    assert message in html
    assert user("member@example.com").password_hash == before
    assert not AuditEvent.select().where(AuditEvent.event == "password.changed").exists()


def test_same_as_current_is_refused(member_client, dbconn):
    # The demo password passes the strength rules, so this reaches the "different" check.
    r = change(member_client, new=PASSWORD)
    assert "different from your current" in r.get_data(as_text=True)


def test_success_htmx_reloads_the_page_with_the_message(member_client, dbconn):
    # The session and its CSRF token were rotated: a section swap would leave every other
    # form with a stale token, so the whole page is loaded again.
    r = change(member_client, htmx=True)
    assert r.status_code == 204
    assert r.headers["HX-Redirect"] == "/settings/profile"
    assert "Password updated" in member_client.get("/settings/profile").get_data(as_text=True)


@pytest.mark.parametrize("htmx", [False, True])
def test_after_success_the_reloaded_page_forms_work(member_client, dbconn, htmx):
    assert change(member_client, htmx=htmx).status_code in (204, 303)
    r = post(member_client, "/settings/profile",
             {"name": "Mia Renamed", "email": "member@example.com",
              "phone": user("member@example.com").phone or ""})
    assert r.status_code == 303
    assert user("member@example.com").name == "Mia Renamed"


def test_success_plain_post_redirects_with_message(member_client, dbconn):
    r = change(member_client)
    assert r.status_code == 303 and r.headers["Location"] == "/settings/profile"
    assert "Password updated" in member_client.get("/settings/profile").get_data(as_text=True)


def test_success_signs_out_other_sessions_and_keeps_this_one(app, dbconn):
    mine, other = app.test_client(), app.test_client()
    signin(mine)
    signin(other)
    old_cookie = mine.get_cookie("session").value
    assert change(mine).status_code == 303
    assert mine.get("/settings/profile").status_code == 200
    assert other.get("/settings/profile").status_code == 303
    # A copy of this browser's cookie from before the change no longer works either.
    replay = app.test_client()
    replay.set_cookie("session", old_cookie)
    assert replay.get("/settings/profile").status_code == 303
    # The new password works, the old one doesn't.
    fresh = app.test_client()
    data = {"email": "member@example.com", "password": PASSWORD, "csrf_token": csrf(fresh)}
    assert fresh.post("/login", data=data).status_code == 422
    data = {"email": "member@example.com", "password": NEW, "csrf_token": csrf(fresh)}
    assert fresh.post("/login", data=data).status_code == 303


def test_success_is_audited_and_noticed_via_outbox(member_client, dbconn):
    change(member_client)
    row = AuditEvent.get(AuditEvent.event == "password.changed")
    assert row.subject.email == "member@example.com" and NEW not in row.details
    notices = [m for m in outbox("email", "member@example.com") if "password was changed" in
               m.subject]
    assert len(notices) == 1
    assert "Not you?" in notices[0].body and NEW not in notices[0].body


def test_notice_goes_through_a_real_smtp_server(app_factory, smtp_server):
    app = app_factory(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    client = app.test_client()
    # Sign in through SMTP as well: the login code arrives at the loopback server.
    token = csrf(client)
    r = client.post("/login", data={"email": "member@example.com", "password": PASSWORD,
                                    "csrf_token": token})
    verify_url = r.headers["Location"]
    token = csrf(client, verify_url)
    client.post(verify_url + "/channel", data={"channel": "email", "csrf_token": token})
    import re

    code = re.search(r"\b(\d{6})\b", smtp_server.messages[-1]["body"]).group(1)
    assert client.post(verify_url + "/code",
                       data={"code": code, "csrf_token": token}).status_code == 303
    assert change(client).status_code == 303
    notice = smtp_server.messages[-1]
    assert notice["to"] == ["member@example.com"]
    assert notice["subject"] == "Your password was changed"
    assert "Not you?" in notice["body"]


def test_change_without_csrf_is_refused(member_client, dbconn):
    before = user("member@example.com").password_hash
    r = member_client.post(URL, data={"current_password": PASSWORD, "new_password": NEW,
                                      "confirm_password": NEW})
    assert r.status_code == 400
    r = member_client.post(URL, headers=HTMX, data={
        "current_password": PASSWORD, "new_password": NEW, "confirm_password": NEW,
        "csrf_token": "forged"})
    assert r.status_code == 400 and r.headers["HX-Retarget"] == "#toasts"
    assert User.get(User.email == "member@example.com").password_hash == before


def test_change_rate_limited_on_wrong_current_password(member_client, dbconn):
    for _ in range(10):
        assert change(member_client, current="not my password").status_code == 422
    assert change(member_client).status_code == 429
    assert user("member@example.com").password_hash != ""


def test_signed_out_cannot_change(client):
    r = client.post(URL, data={"csrf_token": csrf(client)})
    assert r.status_code == 303 and "/login" in r.headers["Location"]
