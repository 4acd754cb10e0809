"""Issue 13, bugs 14-16 in a real browser: who is signing in, the last method, Back after
signing in, why a browser was signed out; the resend wait and Copy/Print without JavaScript;
the current password kept after an error."""

import re

import pytest
from conftest import PASSWORD, last_code, post, signin
from playwright.sync_api import expect
from twofactor.helpers import enable_totp, next_code

from browser.conftest import (
    browser_password_step,
    browser_second_step,
    browser_signin,
    browser_signin_through_pages,
)

pytestmark = pytest.mark.browser


def test_second_step_says_who_and_not_you_goes_back(any_page):
    page = any_page
    browser_password_step(page)
    verify_url = page.url
    expect(page.locator("[data-signing-in]")).to_contain_text("m***@example.com")
    page.click("[data-action=not-you]")
    page.wait_for_url(re.compile(r"/login$"))
    expect(page.locator("h1")).to_have_text("Sign in")
    page.goto(verify_url)  # the step was left: back to the sign-in page, not "Not found"
    assert page.url.endswith("/login")
    assert not page.errors


def test_the_app_is_preselected_for_who_last_used_it(page_js, app):
    page = page_js
    secret, _ = enable_totp(app, "member@example.com")
    browser_second_step(page, "member@example.com", PASSWORD, "totp",
                        lambda: next_code(secret)[0])
    page.wait_for_url(re.compile(r"/settings/profile"))
    page.context.clear_cookies()
    browser_password_step(page)
    expect(page.locator("input[name=channel][value=totp]")).to_be_checked()
    expect(page.locator("input[name=channel][value=email]")).not_to_be_checked()


def test_back_after_signing_in_is_not_not_found(page_js):
    page = page_js
    browser_signin_through_pages(page)
    page.go_back()
    page.wait_for_url(re.compile(r"/settings/profile"))
    expect(page.locator("h1")).to_have_text("My Profile")
    assert not page.errors


def test_signed_out_by_a_password_change_elsewhere_is_told_why(page_js, client):
    page = page_js
    browser_signin(page)
    signin(client)
    r = post(client, "/settings/profile/password", {
        "current_password": PASSWORD, "new_password": "a quite different passphrase 42",
        "confirm_password": "a quite different passphrase 42"})
    assert r.status_code == 303
    page.goto("/settings/profile")
    page.wait_for_url(re.compile(r"/login"))
    expect(page.locator("[data-signed-out=password]")).to_have_text(
        "You were signed out because your password was changed.")


def code_step(page):
    browser_password_step(page)
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")


def test_resend_wait_without_javascript_is_a_time_and_early_resend_stays(page_nojs):
    page = page_nojs
    code_step(page)
    verify_url = page.url
    button = page.locator("[data-action=resend]")
    expect(button).to_contain_text(re.compile(r"available at \d\d:\d\d UTC"))
    assert "seconds" not in button.inner_text()
    button.click(force=True)  # aria-disabled, still a plain submit button without JS
    page.wait_for_load_state()
    assert page.url == verify_url  # a 303 back to the step, not a POST answer
    expect(page.locator("#toasts")).to_contain_text("You can ask for a new code")
    page.reload()  # no "resend the form?" and still the step
    expect(page.locator("#code")).to_be_visible()


def test_resend_wait_with_javascript_counts_down(page_js):
    page = page_js
    code_step(page)
    button = page.locator("[data-action=resend]")
    expect(button).to_contain_text(re.compile(r"available in \d+ seconds"))
    assert "UTC" not in button.inner_text()


def test_copy_and_print_only_where_they_work(any_page, app):
    page = any_page
    enable_totp(app, "member@example.com")
    browser_signin(page)
    page.click("[data-action=regenerate-backup-codes]")
    page.wait_for_selector("input[name=channel][value=email]")
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    page.fill("#code", last_code("member@example.com"))
    page.click("[data-action=verify]")
    page.wait_for_selector("#backup-codes li")
    for action in ("copy-codes", "print-codes"):
        control = page.locator(f"[data-action={action}]")
        if page.js:
            expect(control).to_be_visible()
        else:
            expect(control).to_be_hidden()
    expect(page.locator("[data-action=download-codes]")).to_be_visible()


@pytest.mark.parametrize("wrong_current", [False, True])
def test_password_error_keeps_the_current_password_unless_it_was_wrong(any_page, wrong_current):
    page = any_page
    browser_signin(page)
    current = "not my password at all" if wrong_current else PASSWORD
    page.fill("#current_password", current)
    page.fill("#new_password", "a quite different passphrase 42")
    page.fill("#confirm_password", "another different passphrase 43")
    page.click("[data-action=update-password]")
    page.wait_for_selector("#change-password .has-error")
    expected = "" if wrong_current else PASSWORD
    expect(page.locator("#current_password")).to_have_value(expected)
