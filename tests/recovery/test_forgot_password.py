"""Forgot password without JavaScript and with htmx: same answer for every address, a link
that works once for 30 minutes and dies with any password change, every session out after,
and the second step at the next sign-in."""

import pytest
from conftest import CSRF_RE, PASSWORD, outbox, post, signin, user
from security.helpers import password_step

from recovery.helpers import last_email, reset_link
from webapp.config import DEFAULTS
from webapp.models import AuditEvent, UserSession

EMAIL = "member@example.com"
NEW = "violet tuesday harbour lantern"
pytestmark = pytest.mark.config(LINK_REQUEST_MIN_MS=0)


def ask(client, email=EMAIL, htmx=False):
    """Ask for a link; the email goes once the answer is closed, as a WSGI server does."""
    r = post(client, "/password/forgot", {"email": email}, htmx=htmx,
             token_from="/password/forgot")
    r.get_data()
    r.close()
    return r


def choose(client, path, new=NEW, confirm=None, htmx=False):
    return post(client, path, {"new_password": new,
                               "confirm_password": new if confirm is None else confirm},
                htmx=htmx, token_from=path)


def test_sign_in_page_links_to_forgot_password(client):
    html = client.get("/login").get_data(as_text=True)
    assert 'href="/password/forgot"' in html and "Forgot password?" in html


@pytest.mark.parametrize("htmx", [False, True])
def test_forgot_then_reset_then_sign_in_asks_the_second_step(client, dbconn, htmx):
    r = client.get("/password/forgot")
    assert r.status_code == 200 and 'name="email"' in r.get_data(as_text=True)
    r = ask(client, htmx=htmx)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "If that address has an account, we sent a link" in html
    assert ("<html" in html) is (not htmx)
    mail = last_email(EMAIL)
    assert mail.subject == "Reset your Aesthetix CRM password"
    minutes = DEFAULTS["LINK_RESET_SECONDS"] // 60
    assert f"works once, for {minutes} minutes" in mail.body
    path = reset_link(EMAIL)
    page = client.get(path)
    assert page.status_code == 200 and "Choose a new password" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    before = user(EMAIL).password_hash
    r = choose(client, path, htmx=htmx)
    if htmx:
        assert r.status_code == 204 and r.headers["HX-Redirect"] == "/login"
    else:
        assert r.status_code == 303 and r.headers["Location"] == "/login"
    assert user(EMAIL).password_hash != before
    assert "Sign in with your new password" in client.get("/login").get_data(as_text=True)
    # A reset never signs in, and never skips the second step.
    assert client.get("/settings/profile").status_code == 303
    r = password_step(client, EMAIL, NEW)
    assert r.status_code == 303 and r.headers["Location"].startswith("/verify/")
    assert client.get("/settings/profile").status_code == 303
    assert password_step(client.application.test_client(), EMAIL, PASSWORD).status_code == 422
    event = AuditEvent.get(AuditEvent.event == "password.changed")
    assert event.data["method"] == "reset"
    notice = last_email(EMAIL)
    assert notice.subject == "Your password was reset" and "/secure/" in notice.body


def test_reset_signs_out_every_session_and_login_as(app, client, dbconn):
    member = app.test_client()
    signin(member, EMAIL)
    admin = app.test_client()
    signin(admin, "owner@example.com")
    assert post(admin, f"/settings/team/{user(EMAIL).id}/login-as").status_code in (303, 204)
    assert "Mia Member" in admin.get("/settings/profile").get_data(as_text=True)
    ask(client)
    assert choose(client, reset_link(EMAIL)).status_code == 303
    live = UserSession.select().where((UserSession.user == user(EMAIL).id)
                                      & UserSession.revoked_at.is_null()).count()
    assert live == 0
    assert member.get("/settings/profile").status_code == 303
    assert admin.get("/settings/profile").status_code == 303


def test_the_link_works_once(client, dbconn):
    ask(client)
    path = reset_link(EMAIL)
    assert choose(client, path).status_code == 303
    r = client.get(path)
    assert r.status_code == 404 and "This link no longer works" in r.get_data(as_text=True)
    again = post(client, path, {"new_password": NEW + " two", "confirm_password": NEW + " two"},
                 token_from="/password/forgot")
    assert again.status_code == 404


def test_the_link_expires_after_30_minutes(client, dbconn, clock):
    ask(client)
    path = reset_link(EMAIL)
    clock.advance(DEFAULTS["LINK_RESET_SECONDS"] + 1)
    assert client.get(path).status_code == 404
    assert post(client, path, {"new_password": NEW, "confirm_password": NEW},
                token_from="/password/forgot").status_code == 404
    assert user(EMAIL).password_hash  # unchanged below
    assert not AuditEvent.select().where(AuditEvent.event == "password.changed").exists()


def test_a_password_change_voids_the_link(app, client, dbconn):
    ask(client)
    path = reset_link(EMAIL)
    member = app.test_client()
    signin(member, EMAIL)
    r = post(member, "/settings/profile/password",
             {"current_password": PASSWORD, "new_password": "orange piano meadow flight",
              "confirm_password": "orange piano meadow flight"})
    assert r.status_code == 303
    changed = user(EMAIL).password_hash
    assert client.get(path).status_code == 404
    assert post(client, path, {"new_password": NEW, "confirm_password": NEW},
                token_from="/password/forgot").status_code == 404
    assert user(EMAIL).password_hash == changed


def test_a_second_reset_voids_the_first_link(client, dbconn):
    ask(client)
    first = reset_link(EMAIL)
    ask(client)
    second = reset_link(EMAIL)
    assert first != second
    assert choose(client, second).status_code == 303
    assert client.get(first).status_code == 404


@pytest.mark.parametrize("tamper", ["x", "-", "A" * 43])
def test_a_tampered_link_is_refused(client, dbconn, tamper):
    ask(client)
    path = reset_link(EMAIL)
    assert client.get(path[:-1] + tamper).status_code == 404
    assert client.get(path + tamper).status_code == 404
    assert client.get("/password/reset/" + "A" * 43).status_code == 404
    assert client.get(path).status_code == 200


def test_a_secure_link_is_not_a_reset_link(client, dbconn):
    ask(client)
    path = reset_link(EMAIL)
    token = path.rsplit("/", 1)[1]
    assert client.get("/secure/" + token).status_code == 404  # wrong purpose
    assert post(client, "/secure/" + token, {}, token_from="/password/forgot").status_code == 404
    assert client.get(path).status_code == 200  # still unused


def test_another_accounts_link_changes_only_that_account(client, dbconn):
    ask(client, "admin@example.com")
    path = reset_link("admin@example.com")
    member_before = user(EMAIL).password_hash
    admin_before = user("admin@example.com").password_hash
    assert choose(client, path).status_code == 303
    assert user(EMAIL).password_hash == member_before
    assert user("admin@example.com").password_hash != admin_before


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("kwargs, field, message", [
    ({"confirm": "something else entirely"}, "confirm_password", "don&#39;t match"),
    ({"new": "short1"}, "new_password", "at least 12"),
    ({"new": "y" * 129}, "new_password", "at most 128"),
    ({"new": "password123456"}, "new_password", "too easy to guess"),
    ({"new": "", "confirm": ""}, "new_password", "Enter a new password"),
])
def test_reset_errors_are_inline_and_keep_the_link(client, dbconn, htmx, kwargs, field, message):
    ask(client)
    path = reset_link(EMAIL)
    before = user(EMAIL).password_hash
    r = choose(client, path, htmx=htmx, **kwargs)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert ("<html" in html) is (not htmx)
    assert f'id="{field}" ' in html and 'aria-invalid="true"' in html and message in html
    assert user(EMAIL).password_hash == before
    assert client.get(path).status_code == 200  # an error does not use the link


@pytest.mark.parametrize("htmx", [False, True])
def test_bad_email_is_a_form_error(client, dbconn, htmx):
    for value, message in (("", "Enter your email"), ("not an address", "valid email")):
        r = ask(client, value, htmx=htmx)
        assert r.status_code == 422 and message in r.get_data(as_text=True)
    assert outbox("email") == []


def test_unknown_address_gets_the_same_answer_and_no_email(client, dbconn):
    known = ask(client, EMAIL, htmx=True)
    unknown = ask(client, "nobody@example.com", htmx=True)
    assert known.status_code == unknown.status_code == 200
    assert known.get_data() == unknown.get_data()
    assert outbox("email", "nobody@example.com") == []
    assert len(outbox("email", EMAIL)) == 1


def test_unverified_address_gets_the_link_and_the_second_step_still_follows(client, dbconn):
    ask(client, "newbie@example.com")
    assert choose(client, reset_link("newbie@example.com")).status_code == 303
    r = password_step(client, "newbie@example.com", NEW)
    assert r.headers["Location"].startswith("/verify/")


def test_links_per_address_are_limited_for_known_and_unknown_alike(client, dbconn):
    limit = int(DEFAULTS["LINK_SENDS_PER_ADDRESS"].split()[0])
    for email in (EMAIL, "nobody@example.com"):
        statuses = [ask(client, email).status_code for _ in range(limit + 1)]
        assert statuses == [200] * limit + [429], email
    assert len(outbox("email", EMAIL)) == limit


@pytest.mark.config(LINK_REQUEST_MIN_MS=0, LINK_SENDS_PER_ADDRESS="100 per hour",
                    LINK_SENDS_PER_IP="4 per hour")
def test_links_per_ip_are_limited(client, dbconn):
    statuses = [ask(client, f"person{i}@example.com").status_code for i in range(5)]
    assert statuses == [200] * 4 + [429]
    html = ask(client, EMAIL, htmx=True)
    assert html.status_code == 429 and outbox("email", EMAIL) == []


def test_the_htmx_form_answers_in_place(client, dbconn):
    r = ask(client, htmx=True)
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="forgot"') and 'data-step="sent"' in html
    assert "HX-Request" in r.headers["Vary"]


def test_links_ignore_a_forged_host_header_when_public_url_is_set(app_factory):
    app = app_factory(LINK_REQUEST_MIN_MS=0, PUBLIC_URL="https://crm.example.com")
    client = app.test_client()
    evil = {"Host": "evil.example.net"}  # the sender's own request, token and all
    html = client.get("/password/forgot", headers=evil).get_data(as_text=True)
    token = CSRF_RE.search(html).group(1)
    r = client.post("/password/forgot", data={"email": EMAIL, "csrf_token": token},
                    headers=evil)
    assert r.status_code == 200, r.get_data(as_text=True)
    r.close()
    body = last_email(EMAIL).body
    assert "https://crm.example.com/password/reset/" in body and "evil.example.net" not in body
