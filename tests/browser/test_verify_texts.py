"""What the verification says it approves, and to whom, in a real browser: the change named
before the channel choice and again on success, an admin spoken to about the member, and a
next step out of the no-channel dialog."""

import re

from conftest import last_code, user
from playwright.sync_api import expect
from twofactor.helpers import enable_totp, next_code

from browser.conftest import browser_signin
from webapp.extensions import db
from webapp.models import User


def wait_for_step(page, step="choose"):
    if page.js:
        page.wait_for_selector(f"#modal dialog[open] [data-step={step}]")
    else:
        page.wait_for_selector(f"[data-step={step}]")


def change_phone(page, number):
    page.fill("#phone", number)
    page.click("[data-action=update-profile]")


def finish_with_email_code(page, email, back):
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    page.fill("#code", last_code(email))
    page.click("[data-action=verify]")
    if page.js:
        page.wait_for_selector("#modal dialog", state="detached")
    else:
        page.wait_for_url(re.compile(back))


def open_member(page, name):
    page.click("nav >> text=Team")
    page.wait_for_url(re.compile(r"/settings/team$"))
    page.click(f"#team-rows >> text={name}")
    page.wait_for_url(re.compile(r"/settings/team/\d+$"))


def test_the_phone_change_is_named_before_the_choice_and_on_success(any_page):
    """Bug 8: "New phone: +1 202-555-0144" above the channels; the toast restates it."""
    page = any_page
    browser_signin(page)
    change_phone(page, "+1 202 555 0144")
    wait_for_step(page)
    expect(page.locator("[data-summary]")).to_have_text("New phone: +1 202-555-0144")
    finish_with_email_code(page, "member@example.com", r"/settings/profile$")
    expect(page.locator("#toasts")).to_contain_text(
        "Phone number updated to +1 202-555-0144. Verify the new number to use it for codes.")
    assert not page.errors


def test_the_email_change_is_named_masked(any_page):
    page = any_page
    browser_signin(page)
    page.fill("#email", "new.mia@example.com")
    page.click("[data-action=update-profile]")
    wait_for_step(page)
    expect(page.locator("[data-summary]")).to_have_text("New email: n***@example.com")
    assert not page.errors


def test_two_factor_changes_are_named(any_page, app):
    """Bug 8: new backup codes say what they do before the choice."""
    page = any_page
    enable_totp(app, "member@example.com")
    browser_signin(page)
    page.click("[data-action=regenerate-backup-codes]")
    wait_for_step(page)
    expect(page.locator("[data-summary]")).to_have_text(
        "Create new backup codes: your old codes stop working")
    assert not page.errors


def test_a_members_reset_is_named(any_page, app):
    page = any_page
    enable_totp(app, "member@example.com")
    browser_signin(page, "admin@example.com")
    open_member(page, "Mia Member")
    page.click("[data-action=reset-2fa]")
    wait_for_step(page)
    expect(page.locator("[data-summary]")).to_have_text(
        "Reset Mia Member's two-factor authentication: their authenticator app and backup "
        "codes stop working")
    assert not page.errors


def step_text(page):
    return page.locator("#verify-step").inner_text()


def test_an_admin_is_spoken_to_about_the_member(any_page, app):
    """Bug 9: every text of the steps and the success message is about Mia, not "your"."""
    page = any_page
    secret, _ = enable_totp(app, "member@example.com")
    browser_signin(page, "admin@example.com")
    open_member(page, "Mia Member")
    change_phone(page, "+1 202 555 0177")
    wait_for_step(page)
    page.click("[data-help=lost-access] summary")
    text = step_text(page)
    assert "New phone for Mia Member: +1 202-555-0177" in text
    assert "enter the 6-digit code from Mia Member's app" in text
    assert "Mia Member's profile" in text
    assert not re.search(r"\byour\b", text, re.I), text
    page.check("input[name=channel][value=totp]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    expect(page.locator("label[for=code]")).to_have_text(
        "Enter the 6-digit code from Mia Member's authenticator app")
    assert not re.search(r"\byour\b", step_text(page), re.I)
    page.fill("#code", next_code(secret)[0])
    page.click("[data-action=verify]")
    if page.js:
        page.wait_for_selector("#modal dialog", state="detached")
    else:
        page.wait_for_url(re.compile(r"/settings/team/\d+$"))
    toast = page.locator("#toasts").inner_text()
    assert "Mia Member's phone is now +1 202-555-0177" in toast
    assert "Mia Member can verify the new number from their profile" in toast
    assert not re.search(r"\byour\b", toast, re.I)
    assert user("member@example.com").phone == "+12025550177"
    assert not page.errors


def unverify(email):
    # Signing in with an email code proves the address; take that back.
    with db.connection_context():
        User.update(email_verified_at=None).where(User.email == email).execute()


def test_no_channel_offers_verifying_the_email(any_page):
    """Bug 10: the dialog's button starts the email verification; then the change works."""
    page = any_page
    browser_signin(page, "newbie@example.com")
    unverify("newbie@example.com")
    page.goto("/settings/profile")
    change_phone(page, "+1 202 555 0155")
    wait_for_step(page, "message")
    help_text = page.locator("[data-help=no-channel]").inner_text()
    assert "authenticator" not in help_text
    page.click("[data-step=message] [data-next-step=verify-email]")
    wait_for_step(page)
    expect(page.locator("#verify-title")).to_have_text("Verify your email")
    finish_with_email_code(page, "newbie@example.com", r"/settings/profile$")
    expect(page.locator("#toasts")).to_contain_text("Email address verified.")
    assert user("newbie@example.com").email_verified_at is not None
    change_phone(page, "+1 202 555 0155")
    wait_for_step(page)
    expect(page.locator("[data-summary]")).to_have_text("New phone: +1 202-555-0155")
    assert not page.errors


def test_two_factor_setup_offers_verifying_the_email_first(any_page):
    """Bug 10, authenticator side: the "verify your email first" note has the button; once
    the email is verified the section offers Setup."""
    page = any_page
    browser_signin(page, "newbie@example.com")
    unverify("newbie@example.com")
    page.goto("/settings/profile")
    section = page.locator("#two-factor")
    expect(section.locator("[data-needs-email]")).to_be_visible()
    assert section.locator("[data-action=setup-totp]").count() == 0
    section.locator("[data-next-step=verify-email]").click()
    wait_for_step(page)
    expect(page.locator("#verify-title")).to_have_text("Verify your email")
    finish_with_email_code(page, "newbie@example.com", r"/settings/profile$")
    assert user("newbie@example.com").email_verified_at is not None
    expect(page.locator("#two-factor [data-action=setup-totp]")).to_be_visible()
    assert not page.errors


def test_no_channel_tells_an_admin_what_the_member_must_do(any_page):
    """Bug 10, admin side: no button (it would verify the admin's email), the member's step."""
    page = any_page
    browser_signin(page, "admin@example.com")
    open_member(page, "Noah New")
    change_phone(page, "+1 202 555 0156")
    wait_for_step(page, "message")
    expect(page.locator("[data-message]")).to_contain_text("Noah New's account has no verified")
    expect(page.locator("[data-help=no-channel]")).to_contain_text(
        "Ask Noah New to sign in and verify their email address from their profile")
    assert page.locator("#modal [data-next-step=verify-email]").count() == 0
    assert not re.search(r"\byour\b", page.locator("#verify-step").inner_text(), re.I)
    assert not page.errors
