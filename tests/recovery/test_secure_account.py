"""'Not you? Secure your account': every notice about a change carries a 7-day single-use
link; its page names the change; its button signs out everything, undoes the change where
that means something, and leads to choosing a new password. Plain posts and htmx."""

import datetime as dt

import pytest
from conftest import PASSWORD, csrf, last_code, post, signin, user
from twofactor.helpers import enable_totp, next_code, open_setup, secret_in, token_in

from recovery.helpers import last_email, link_in, secure_link
from webapp.config import DEFAULTS
from webapp.models import AuditEvent, BackupCode, Link, UserSession

EMAIL = "member@example.com"
NEW_PHONE = "+12025550144"
CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                  "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36")


def profile_change(client, **fields):
    """Change the profile through the step-up (email code); returns the final response."""
    me = user(EMAIL)
    data = {"name": me.name, "email": me.email, "phone": me.phone or ""}
    data.update(fields)
    r = post(client, "/settings/profile", data)
    assert r.status_code == 303, r.get_data(as_text=True)
    url = r.headers["Location"]
    token = csrf(client, url)
    assert client.post(url + "/channel", data={"channel": "email",
                                               "csrf_token": token}).status_code == 303
    r = client.post(url + "/code", data={"code": last_code(EMAIL), "csrf_token": token})
    assert r.status_code == 303, r.get_data(as_text=True)
    return r


def press(client, path, htmx=False):
    return post(client, path, {}, htmx=htmx, token_from="/password/forgot")


def live_sessions(email=EMAIL):
    return (UserSession.select()
            .where((UserSession.user == user(email).id) & UserSession.revoked_at.is_null())
            .count())


@pytest.fixture
def attacker(app):
    """A browser signed in to the member's account (Chrome on Windows)."""
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = CHROME_WINDOWS
    client.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    signin(client, EMAIL)
    return client


@pytest.mark.parametrize("htmx", [False, True])
def test_phone_change_secured_from_the_notice(app, client, attacker, dbconn, clock, htmx):
    profile_change(attacker, phone=NEW_PHONE)
    assert user(EMAIL).phone == NEW_PHONE
    notice = last_email(EMAIL)
    assert notice.subject == "Your phone number was changed"
    assert "Not you? Secure your account:" in notice.body
    days = DEFAULTS["LINK_SECURE_SECONDS"] // 86400
    assert f"It works once, for {days} days." in notice.body
    path = secure_link(EMAIL)
    page = client.get(path)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    when = f"{clock.now.day} {clock.now:%b} at {clock.now:%H:%M} UTC"
    assert (f"Your phone number was changed to •••• 0144 on {when} from Chrome on Windows."
            in html)
    assert "203.0.113.7" in html and "Your phone number goes back to •••• 0103." in html
    assert "Secure my account" in html
    # Looking at the page uses nothing.
    assert client.get(path).status_code == 200
    r = press(client, path, htmx=htmx)
    target = r.headers["HX-Redirect"] if htmx else r.headers["Location"]
    assert r.status_code == (204 if htmx else 303)
    assert target.startswith("/password/reset/")
    member = user(EMAIL)
    assert member.phone == "+12025550103" and member.phone_verified  # verified, as before
    assert live_sessions() == 0
    assert attacker.get("/settings/profile").status_code == 303
    event = AuditEvent.get(AuditEvent.event == "account.secured")
    assert event.data["reason"] == "secured from notice" and event.data["undone"] == ["phone"]
    reverted = AuditEvent.select().where(AuditEvent.event == "phone.changed").order_by(
        AuditEvent.id.desc()).first()
    assert reverted.data["reason"] == "secured from notice"
    # Then the reset flow: a new password, and the sign-in still asks for the second step.
    html = client.get(target).get_data(as_text=True)
    assert "Choose a new password" in html and "Your account is secured" in html
    new = "violet tuesday harbour lantern"
    r = post(client, target, {"new_password": new, "confirm_password": new}, token_from=target)
    assert r.status_code == 303 and r.headers["Location"] == "/login"
    # The link is used.
    assert client.get(path).status_code == 404
    assert press(client, path).status_code == 404


def test_email_change_notice_goes_to_the_old_address_and_secure_puts_it_back(
        client, attacker, dbconn):
    profile_change(attacker, email="thief@example.net")
    assert user("thief@example.net") is not None
    notice = last_email(EMAIL)  # the OLD address
    assert notice.subject == "Your email address was changed"
    path = link_in(notice.body, "secure")
    # The thief asks for a reset link at the new address before the owner reacts.
    post(client, "/password/forgot", {"email": "thief@example.net"},
         token_from="/password/forgot").close()  # the email goes after the answer
    thief_reset = link_in(last_email("thief@example.net").body, "password/reset")
    html = client.get(path).get_data(as_text=True)
    assert "Your email address was changed to t***@example.net" in html
    assert "Your email address goes back to m***@example.com." in html
    assert press(client, path).status_code == 303
    member = user(EMAIL)
    assert member is not None and member.email_verified  # back, and still verified
    assert user("thief@example.net") is None
    assert client.get(thief_reset).status_code == 404  # the thief's reset link died
    assert live_sessions() == 0


def test_totp_added_is_removed_with_its_backup_codes(app, client, attacker, dbconn):
    html = open_setup(attacker).get_data(as_text=True)
    secret, token = secret_in(html), token_in(html)
    code, _ = next_code(secret)
    r = attacker.post("/settings/profile/2fa/setup", data={"code": code, "csrf_token": token})
    assert r.status_code == 200 and user(EMAIL).totp_enabled
    notice = last_email(EMAIL)
    assert notice.subject == "Authenticator app added to your Aesthetix CRM account"
    path = secure_link(EMAIL)
    assert ("The authenticator app that was added is removed"
            in client.get(path).get_data(as_text=True))
    assert press(client, path).status_code == 303
    assert not user(EMAIL).totp_enabled
    assert BackupCode.select().where(BackupCode.user == user(EMAIL).id).count() == 0


def test_backup_codes_regenerated_are_voided(app, client, attacker, dbconn):
    enable_totp(app, EMAIL)
    token = csrf(attacker, "/settings/profile")
    r = attacker.post("/settings/profile/2fa/backup-codes", data={"csrf_token": token})
    cid = r.headers["Location"].rsplit("/", 1)[1]
    attacker.post(f"/verify/{cid}/channel", data={"channel": "email", "csrf_token": token})
    r = attacker.post(f"/verify/{cid}/code", data={"code": last_code(EMAIL), "csrf_token": token})
    assert r.status_code == 200
    assert last_email(EMAIL).subject == "New backup codes for your Aesthetix CRM account"
    assert press(client, secure_link(EMAIL)).status_code == 303
    assert BackupCode.select().where(BackupCode.user == user(EMAIL).id).count() == 0
    assert user(EMAIL).totp_enabled  # the app itself stays


def test_password_change_notice_secures_and_signs_out_login_as_too(app, client, attacker,
                                                                    dbconn):
    owner = app.test_client()
    signin(owner, "owner@example.com")
    assert post(owner, f"/settings/team/{user(EMAIL).id}/login-as").status_code == 303
    new = "orange piano meadow flight"
    r = post(attacker, "/settings/profile/password",
             {"current_password": PASSWORD, "new_password": new, "confirm_password": new})
    assert r.status_code == 303
    path = secure_link(EMAIL)
    assert "Your password was changed on" in client.get(path).get_data(as_text=True)
    assert press(client, path).status_code == 303
    assert live_sessions() == 0
    assert attacker.get("/settings/profile").status_code == 303
    assert owner.get("/settings/profile").status_code == 303  # the Login as ended too


def test_secure_link_expires_after_seven_days(client, attacker, dbconn, clock):
    profile_change(attacker, phone=NEW_PHONE)
    path = secure_link(EMAIL)
    clock.advance(DEFAULTS["LINK_SECURE_SECONDS"] - 60)
    assert client.get(path).status_code == 200
    clock.advance(61)
    r = client.get(path)
    assert r.status_code == 404 and "This link no longer works" in r.get_data(as_text=True)
    assert press(client, path).status_code == 404
    assert user(EMAIL).phone == NEW_PHONE


def test_tampered_and_wrong_purpose_secure_links_are_refused(client, attacker, dbconn):
    profile_change(attacker, phone=NEW_PHONE)
    path = secure_link(EMAIL)
    token = path.rsplit("/", 1)[1]
    for bad in ("/secure/" + token[:-1] + ("A" if token[-1] != "A" else "B"),
                "/secure/" + token + "x", "/secure/short"):
        assert client.get(bad).status_code == 404
        assert press(client, path.replace(path, bad)).status_code == 404
    assert client.get("/password/reset/" + token).status_code == 404  # not a reset link
    assert user(EMAIL).phone == NEW_PHONE and live_sessions() == 1
    assert client.get(path).status_code == 200


def test_each_notice_about_a_change_has_its_own_link(client, attacker, dbconn):
    profile_change(attacker, phone=NEW_PHONE)
    first = secure_link(EMAIL)
    profile_change(attacker, phone="+12025550155")
    second = secure_link(EMAIL)
    assert first != second
    assert Link.select().where(Link.purpose == "secure_account").count() >= 3  # + sign-in


def test_secure_needs_csrf(client, attacker, dbconn):
    profile_change(attacker, phone=NEW_PHONE)
    path = secure_link(EMAIL)
    client.get(path)
    r = client.post(path, data={})
    assert r.status_code == 400
    assert user(EMAIL).phone == NEW_PHONE and live_sessions() == 1


def test_secure_page_date_reads_in_words(app, dbconn):
    from webapp.recovery.effects import describe

    with app.test_request_context():
        text = describe({"kind": "phone", "new_masked": "•••• 0144",
                         "at": dt.datetime(2026, 11, 29, 14, 2).isoformat()}, "Chrome on Windows")
    assert text == ("Your phone number was changed to •••• 0144 on 29 Nov at 14:02 UTC "
                    "from Chrome on Windows.")


def test_passkey_added_is_removed_from_the_notice(app, client, attacker, dbconn):
    """The "passkey added" notice carries the link; Secure my account removes that passkey
    (and only it) and forgets the remembered browsers."""
    from webapp.models import Delivery, Passkey
    from webapp.passkeys.effects import after_added

    member = user(EMAIL)
    keep = Passkey.create(user=member, credential_id="kept-credential", public_key=b"k",
                          user_handle="h", name="Owner's laptop")
    added = Passkey.create(user=member, credential_id="attacker-credential", public_key=b"k",
                           user_handle="h", name="Attacker key")
    with app.test_request_context(environ_base={"REMOTE_ADDR": "203.0.113.7"}):
        after_added(member, added)
    notice = Delivery.select().where(Delivery.to == EMAIL).order_by(Delivery.id.desc()).get()
    assert notice.subject == "Passkey added to your Aesthetix CRM account"
    path = link_in(notice.body, "secure")
    assert "The passkey that was added is removed." in client.get(path).get_data(as_text=True)
    assert press(client, path).status_code == 303
    assert list(Passkey.select(Passkey.id).where(Passkey.user == member.id).tuples()) == [
        (keep.id,)]
    assert AuditEvent.select().where((AuditEvent.event == "passkey.removed")
                                     & (AuditEvent.subject == member.id)).count() == 1
