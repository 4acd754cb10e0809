"""What the verification steps say and where they lead, in a real browser: Cancel at sign-in,
the change attempts left today, the lost-access help, and the wrong-code messages."""

import re

from conftest import PASSWORD
from twofactor.helpers import enable_totp

from browser.conftest import browser_signin
from webapp.extensions import db
from webapp.models import Challenge


def password_step(page, email="member@example.com"):
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/verify/"))


def test_cancel_at_sign_in_returns_to_the_sign_in_page(any_page):
    """Bug 1: Cancel on "Choose how to verify" leads back to /login, JavaScript on or off."""
    page = any_page
    password_step(page)
    page.click("[data-step=choose] button[form=verify-cancel]")
    page.wait_for_url(re.compile(r"/login$"))
    assert page.locator("#email").is_visible() and page.locator("#password").is_visible()
    with db.connection_context():
        assert Challenge.select().where(Challenge.cancelled_at.is_null(False)).count() == 1
    assert not page.errors


def start_phone_change(page, number):
    page.goto("/settings/profile")
    page.fill("#phone", number)
    page.click("[data-action=update-profile]")
    if page.js:
        page.wait_for_selector("#modal dialog[open] [data-step=choose]")
    else:
        page.wait_for_url(re.compile(r"/verify/"))


def cancel_choice(page):
    if page.js:
        page.keyboard.press("Escape")
        page.wait_for_selector("#modal dialog", state="detached")
    else:
        page.click("[data-step=choose] button[form=verify-cancel]")
        page.wait_for_url(re.compile(r"/settings/profile$"))


def test_the_modal_says_how_many_changes_are_left_and_that_a_cancel_counts(any_page):
    """Bug 3: before the daily cap is hit, the person sees what is left; a cancel uses one."""
    page = any_page
    browser_signin(page)
    start_phone_change(page, "+1 202 555 0191")
    left = page.locator("[data-help=changes-left]")
    assert left.inner_text() == ("4 of 5 changes left today. Every attempt counts, "
                                 "including one you cancel.")
    cancel_choice(page)
    start_phone_change(page, "+1 202 555 0192")
    assert left.inner_text().startswith("3 of 5 changes left today.")
    assert not page.errors


def test_the_lost_access_help_names_backup_codes_only_where_they_work(any_page, app):
    """Bug 11: a phone change takes no backup code, so its help does not offer one; the
    sign-in, which does, still does."""
    page = any_page
    enable_totp(app, "member@example.com")
    password_step(page)
    page.click("[data-help=lost-access] summary")
    assert "backup code" in page.locator("[data-help=lost-access]").inner_text()
    assert page.locator("input[name=channel][value=backup]").count() == 1
    page.click("[data-step=choose] button[form=verify-cancel]")
    page.wait_for_url(re.compile(r"/login$"))

    browser_signin(page)
    start_phone_change(page, "+1 202 555 0193")
    page.click("[data-help=lost-access] summary")
    help_text = page.locator("[data-help=lost-access]").inner_text()
    assert "backup" not in help_text and "reset your two-factor" in help_text
    assert page.locator("input[name=channel][value=backup]").count() == 0
    assert not page.errors
