"""What the verification steps say and where they lead, in a real browser: Cancel at sign-in,
the change attempts left today, the lost-access help, and the wrong-code messages."""

import re

from conftest import last_code, outbox
from twofactor.helpers import enable_totp, next_code

from browser.conftest import browser_password_step, browser_signin
from webapp.extensions import db
from webapp.models import Challenge


def test_cancel_at_sign_in_returns_to_the_sign_in_page(any_page):
    """Bug 1: Cancel on "Choose how to verify" leads back to /login, JavaScript on or off."""
    page = any_page
    browser_password_step(page)
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
    browser_password_step(page)
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


def code_step(page, channel, email="member@example.com"):
    browser_password_step(page, email)
    page.check(f"input[name=channel][value={channel}]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")


def enter(page, code):
    """Type a code and read the error of the step that comes back (a new, empty field)."""
    page.fill("#code", code)
    page.click("[data-action=verify]")
    page.wait_for_function("() => { const f = document.querySelector('#code');"
                           " return f && f.value === ''; }")
    page.wait_for_selector("#code-error:not([hidden])")
    return page.locator("#code-error").inner_text()


def attempts_used():
    with db.connection_context():
        return Challenge.select().order_by(Challenge.created_at.desc()).first().attempts


def test_a_code_of_the_wrong_shape_uses_no_attempt_and_counts_are_in_words(any_page):
    """Bug 12: "abc" is a format error that uses nothing; "1 attempt left", "4 attempts left"."""
    page = any_page
    code_step(page, "email")
    assert enter(page, "abc") == "Enter the 6 digits of the code, like 123 456."
    assert attempts_used() == 0
    code = last_code("member@example.com")
    wrong = "000000" if code != "000000" else "111111"
    assert enter(page, wrong) == "That code isn't right. 4 attempts left."
    for _ in range(3):
        message = enter(page, wrong)
    assert message == "That code isn't right. 1 attempt left."
    assert not page.errors


def test_the_code_help_says_how_long_a_code_works_as_the_email_does(any_page):
    """Bug 12: the help text quotes the code's lifetime from the settings, like the email."""
    page = any_page
    code_step(page, "email")
    assert "expires after 5 minutes" in page.locator("[data-help=not-received]").inner_text()
    assert "expires in 5 minutes" in outbox("email", to="member@example.com")[-1].body


def test_a_wrong_app_code_gets_the_clock_hint(any_page, app):
    """Bug 12: an authenticator code can be wrong because the phone's clock is off."""
    page = any_page
    secret, _ = enable_totp(app, "member@example.com")
    code_step(page, "totp")
    good, _ = next_code(secret)
    wrong = f"{(int(good) + 500_000) % 10**6:06d}"
    assert enter(page, wrong) == (
        "That code isn't right. Check that your phone sets its time automatically, then "
        "enter the code your app shows now. 4 attempts left.")
    assert not page.errors


def test_a_backup_code_used_before_says_so(any_page, app):
    """Bug 12: a reused backup code is told apart from a wrong one."""
    page = any_page
    _, codes = enable_totp(app, "member@example.com")
    code_step(page, "backup")
    page.fill("#code", codes[0])
    page.click("[data-action=verify]")
    page.wait_for_url(re.compile(r"/settings/profile"))
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/login"))
    code_step(page, "backup")
    assert enter(page, codes[0]) == ("That backup code was already used; each one works once. "
                                     "Enter another of your codes. 4 attempts left.")
    assert enter(page, "ABCD") == ("Enter a backup code: 12 letters and digits, "
                                   "like 7KQM-R2XD-9PWA.")
    assert not page.errors
