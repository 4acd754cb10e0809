"""New-device sign-in notice: a browser without a device cookie for the account gets the
verified email a notice with a Secure-your-account link; a known browser gets none."""

import re

from conftest import PASSWORD, outbox, post, signin, user, verify_by_email

from recovery.helpers import last_email, link_in
from webapp.models import User, UserSession

EMAIL = "member@example.com"
SUBJECT = "New sign-in to your Aesthetix CRM account"
CHROME_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36")


def notices(to=EMAIL):
    return [m for m in outbox("email", to) if m.subject == SUBJECT]


def browser(app, ip="203.0.113.7"):
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = CHROME_MAC
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def test_first_sign_in_on_a_browser_sends_the_notice(app, dbconn, clock):
    signin(browser(app), EMAIL)
    [notice] = notices()
    when = f"{clock.now:%d %b %H:%M}"
    assert (f"New sign-in to your Aesthetix CRM account: Chrome on macOS, 203.0.113.7, "
            f"{when} UTC" in notice.body)
    assert "Not you? Secure your account:" in notice.body
    assert link_in(notice.body, "secure")
    assert re.search(r"\b\d{6}\b", notice.body) is None  # nothing that reads like a code


def test_a_known_browser_gets_no_email(app, dbconn):
    client = browser(app)
    signin(client, EMAIL)
    post(client, "/logout", {})
    assert client.get("/settings/profile").status_code == 303
    signin(client, EMAIL)
    assert len(notices()) == 1
    signin(browser(app, ip="198.51.100.9"), EMAIL)  # another browser: a notice again
    assert len(notices()) == 2 and "198.51.100.9" in notices()[-1].body


def test_a_cookie_for_another_account_or_forged_is_not_known(app, dbconn):
    client = browser(app)
    signin(client, "admin@example.com")
    post(client, "/logout", {})
    signin(client, EMAIL)  # this browser knows the admin, not the member
    assert len(notices()) == 1
    forged = browser(app)
    forged.set_cookie("aesthetix_device", "eyJuIjoiYWFhYWFhYWFhYWFhYWFhYWFhYWEiLCJhIjpbXX0.x.y")
    signin(forged, EMAIL)
    assert len(notices()) == 2


def test_only_a_verified_email_gets_the_notice(app, dbconn):
    User.update(email_verified_at=None).where(User.email == EMAIL).execute()
    signin(browser(app), EMAIL, channel="sms")  # the email stays unverified: nothing to it
    assert notices() == []
    signin(browser(app), "newbie@example.com")  # the sign-in email code proves the address
    assert user("newbie@example.com").email_verified
    assert len(notices("newbie@example.com")) == 1


def test_securing_from_the_sign_in_notice_signs_that_browser_out(app, client, dbconn):
    stranger = browser(app)
    signin(stranger, EMAIL)
    path = link_in(last_email(EMAIL).body, "secure")
    html = client.get(path).get_data(as_text=True)
    assert "Someone signed in to your account on a new device on" in html
    assert "from Chrome on macOS" in html
    r = post(client, path, {}, token_from="/password/forgot")
    assert r.status_code == 303 and r.headers["Location"].startswith("/password/reset/")
    assert stranger.get("/settings/profile").status_code == 303
    assert UserSession.select().where((UserSession.user == user(EMAIL).id)
                                      & UserSession.revoked_at.is_null()).count() == 0
    assert PASSWORD  # the password is unchanged until the owner chooses a new one


def change_email(client, new):
    me = user(EMAIL)
    r = post(client, "/settings/profile", {"name": me.name, "email": new, "phone": me.phone})
    r = verify_by_email(client, r.headers["Location"].rsplit("/", 1)[1], EMAIL)
    assert r.status_code == 303 and user(new) is not None


def test_the_browser_that_changed_the_email_stays_known_under_the_new_one(app, dbconn):
    client = browser(app)
    signin(client, EMAIL)
    change_email(client, "mia.new@example.com")
    post(client, "/logout", {})
    # The sign-in's email code proves the new address; this browser is not new to it.
    signin(client, "mia.new@example.com")
    assert notices("mia.new@example.com") == []
    # Another browser is.
    signin(browser(app, ip="198.51.100.9"), "mia.new@example.com")
    assert len(notices("mia.new@example.com")) == 1


def test_a_browser_new_to_the_account_is_not_made_known_by_changing_the_email(app, dbconn):
    client = browser(app)
    client.set_cookie("aesthetix_device", "not ours")
    signin(client, EMAIL)  # a notice: new browser; the sign-in then makes it known
    assert len(notices()) == 1
    other = browser(app, ip="198.51.100.9")
    signin(other, "admin@example.com")  # this browser knows only the admin
    other.set_cookie("session", client.get_cookie("session").value)  # a copied session
    change_email(other, "mia.new@example.com")
    post(client, "/logout", {})
    signin(other, "mia.new@example.com")
    assert len(notices("mia.new@example.com")) == 1
