"""Forgot password, "Secure your account" and the new-device notice in a real browser, with
JavaScript on and off; mail goes through a real SMTP server on loopback."""

import re
import time

import pytest
from conftest import PASSWORD, csrf, post, user
from recovery.helpers import link_in

from browser.conftest import browser_password_step

EMAIL = "member@example.com"
NEW = "violet tuesday harbour lantern"


@pytest.fixture
def app(app_factory, smtp_server):
    """The app mails through the loopback SMTP server (smtp_server.messages)."""
    app = app_factory(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port,
                      LINK_REQUEST_MIN_MS=0)
    app.smtp = smtp_server
    return app


def mail(smtp, to, subject, count=1, timeout=10.0):
    """The `count`-th message to `to` whose subject starts so, waiting for it to arrive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in smtp.messages
                 if to in m["to"] and m["subject"].startswith(subject)]
        if len(found) >= count:
            return found[count - 1]
        time.sleep(0.05)
    raise AssertionError(f"no {subject!r} to {to}: {[m['subject'] for m in smtp.messages]}")


def code_from(smtp, to, count):
    body = mail(smtp, to, "Your Aesthetix CRM code", count)["body"]
    return re.search(r"\b(\d{6})\b", body).group(1)


def second_step_by_email(page, smtp, count):
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    page.fill("#code", code_from(smtp, EMAIL, count))
    page.click("[data-action=verify]")
    page.wait_for_url(re.compile(r"/settings/profile"))


def test_forgot_password_end_to_end(any_page, app):
    page, smtp = any_page, app.smtp
    page.goto("/login")
    page.click("[data-action=forgot-password]")
    page.wait_for_url(re.compile(r"/password/forgot$"))
    assert page.locator("h1").inner_text() == "Forgot password"
    page.fill("#email", "not an address")
    page.click("[data-action=send-reset-link]")
    page.wait_for_selector("#email-error:not([hidden])")
    assert "valid email" in page.locator("#email-error").inner_text()
    page.fill("#email", EMAIL)
    page.click("[data-action=send-reset-link]")
    page.wait_for_selector("[data-sent]")
    assert "If that address has an account, we sent a link" in page.inner_text("[data-sent]")
    assert page.url.endswith("/password/forgot")
    reset = link_in(mail(smtp, EMAIL, "Reset your Aesthetix CRM password")["body"],
                    "password/reset")
    page.goto(reset)
    assert page.locator("h1").inner_text() == "Choose a new password"
    page.fill("#new_password", NEW)
    page.fill("#confirm_password", NEW + " typo")
    page.click("[data-action=set-new-password]")
    page.wait_for_selector("#confirm_password-error:not([hidden])")
    assert "don't match" in page.locator("#confirm_password-error").inner_text()
    page.fill("#new_password", NEW)
    page.fill("#confirm_password", NEW)
    page.click("[data-action=set-new-password]")
    page.wait_for_url(re.compile(r"/login$"))
    assert "Sign in with your new password" in page.inner_text("#toasts")
    mail(smtp, EMAIL, "Your password was reset")
    # The second step is still asked for.
    browser_password_step(page, EMAIL, NEW)
    second_step_by_email(page, smtp, 1)
    assert page.locator("h1").inner_text() == "My Profile"
    page.goto(reset)
    assert page.locator("h1").inner_text() == "This link no longer works"
    assert not page.errors


def test_secure_account_from_a_phone_change_notice(any_page, app):
    page, smtp = any_page, app.smtp
    # Someone else, signed in to the member's account, changes the phone number.
    thief = app.test_client()
    signin_by_smtp(thief, smtp)
    me = user(EMAIL)
    r = post(thief, "/settings/profile", {"name": me.name, "email": EMAIL,
                                          "phone": "+12025550144"})
    url = r.headers["Location"]
    token = csrf(thief, url)
    thief.post(url + "/channel", data={"channel": "email", "csrf_token": token})
    r = thief.post(url + "/code", data={"code": code_from(smtp, EMAIL, 2), "csrf_token": token})
    assert r.status_code == 303 and user(EMAIL).phone == "+12025550144"
    notice = mail(smtp, EMAIL, "Your phone number was changed")
    page.goto(link_in(notice["body"], "secure"))
    assert page.locator("h1").inner_text() == "Secure your account"
    assert "Your phone number was changed to •••• 0144 on" in page.inner_text("[data-change]")
    assert "goes back to •••• 0103" in page.inner_text("[data-undo]")
    page.click("[data-action=secure-account]")
    page.wait_for_url(re.compile(r"/password/reset/"))
    assert "Your account is secured" in page.inner_text("#toasts")
    assert user(EMAIL).phone == "+12025550103"
    assert thief.get("/settings/profile").status_code == 303
    page.fill("#new_password", NEW)
    page.fill("#confirm_password", NEW)
    page.click("[data-action=set-new-password]")
    page.wait_for_url(re.compile(r"/login$"))
    assert not page.errors


def signin_by_smtp(client, smtp):
    """The test client's sign-in, reading the code from the SMTP server."""
    token = csrf(client, "/login")
    r = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    url = r.headers["Location"]
    token = csrf(client, url)
    count = len([m for m in smtp.messages if m["subject"].startswith("Your Aesthetix CRM code")])
    client.post(url + "/channel", data={"channel": "email", "csrf_token": token})
    r = client.post(url + "/code", data={"code": code_from(smtp, EMAIL, count + 1),
                                         "csrf_token": token})
    assert r.status_code == 303


def test_new_device_notice_only_for_a_new_browser(any_page, app):
    page, smtp = any_page, app.smtp
    browser_password_step(page)
    second_step_by_email(page, smtp, 1)
    notice = mail(smtp, EMAIL, "New sign-in to your Aesthetix CRM account")
    assert re.search(r"New sign-in to your Aesthetix CRM account: .+, 127\.0\.0\.1, "
                     r"\d\d \w{3} \d\d:\d\d UTC", notice["body"])
    assert "/secure/" in notice["body"]
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/login"))
    browser_password_step(page)
    second_step_by_email(page, smtp, 2)
    time.sleep(0.3)
    notices = [m for m in smtp.messages if m["subject"].startswith("New sign-in")]
    assert len(notices) == 1  # the browser is known now
    assert not page.errors


@pytest.mark.presentation
def test_recovery_pages_are_accessible(page_js, app):
    """axe-core (WCAG 2.2 A/AA) on the forgot, sent, reset, error and secure pages."""
    from browser.a11y import assert_accessible

    page, smtp = page_js, app.smtp
    page.goto("/password/forgot")
    assert_accessible(page, "forgot password")
    page.click("[data-action=send-reset-link]")
    page.wait_for_selector("#email[aria-invalid=true]")
    assert_accessible(page, "forgot password, no email")
    page.fill("#email", EMAIL)
    page.click("[data-action=send-reset-link]")
    page.wait_for_selector("[data-sent]")
    assert_accessible(page, "forgot password, sent")
    reset = link_in(mail(smtp, EMAIL, "Reset your Aesthetix CRM password")["body"],
                    "password/reset")
    page.goto(reset)
    assert_accessible(page, "choose a new password")
    page.click("[data-action=set-new-password]")
    page.wait_for_selector("#new_password[aria-invalid=true]")
    assert_accessible(page, "choose a new password, errors")
    page.goto("/password/reset/" + "A" * 43)
    assert_accessible(page, "link no longer works")
    thief = app.test_client()
    signin_by_smtp(thief, smtp)
    page.goto(link_in(mail(smtp, EMAIL, "New sign-in")["body"], "secure"))
    assert_accessible(page, "secure your account")
    assert page.locator("h1").count() == 1
