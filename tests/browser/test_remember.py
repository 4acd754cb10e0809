"""'Remember this browser' and the organisation's security rules in a real browser, JavaScript
on and off: tick the box, sign in again with the password alone, forget the browser; an owner
requires an authenticator and a member is taken to its setup."""

import re

import pytest
from conftest import PASSWORD, last_code, user
from playwright.sync_api import expect
from twofactor.helpers import enable_totp, next_code

from browser.conftest import (
    browser_done_in_place,
    browser_password_step,
    browser_signin,
    browser_verify_with_email,
)
from browser.test_a11y import WIDTHS, check
from webapp import config
from webapp.extensions import db
from webapp.models import Organization, RememberedBrowser

pytestmark = pytest.mark.browser
DAYS = config.DEFAULTS["REMEMBER_BROWSER_DAYS"]


def sign_in_remembering(page, email="member@example.com"):
    browser_password_step(page, email)
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    box = page.locator("input[name=remember]")
    expect(page.get_by_text(f"Don't ask again on this browser for {DAYS} days")).to_be_visible()
    box.check()
    page.fill("#code", last_code(email))
    page.click("[data-action=verify]")
    page.wait_for_url(re.compile(r"/settings/profile"))


def sign_out(page):
    page.click("header button:has-text('Sign out')")
    page.wait_for_url(re.compile(r"/login"))


def password_only(page, email="member@example.com"):
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def test_remember_this_browser_then_forget_it(any_page):
    page = any_page
    sign_in_remembering(page)
    cookie = next(c for c in page.context.cookies() if c["name"] == "aesthetix_remember")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    sign_out(page)
    password_only(page)
    page.wait_for_url(re.compile(r"/settings/profile$"))  # no second step this time
    listed = page.locator("[data-remembered-browser]")
    expect(listed).to_have_count(1)
    expect(listed.locator(".badge", has_text="This browser")).to_be_visible()
    page.click("[data-action=forget-browser]")
    if page.js:
        expect(page.locator("[data-no-remembered]")).to_be_visible()
        expect(page.locator("#toasts")).to_contain_text("Browser forgotten")
    else:
        page.wait_for_selector("[data-no-remembered]")
    with db.connection_context():
        assert RememberedBrowser.get().forgotten_reason == "forgotten"
    sign_out(page)
    password_only(page)
    page.wait_for_url(re.compile(r"/verify/"))  # asked again
    assert not page.errors


def test_forget_all_and_step_up_still_asks(any_page):
    page = any_page
    sign_in_remembering(page)
    sign_out(page)
    password_only(page)
    page.wait_for_url(re.compile(r"/settings/profile$"))
    # A change still asks for a code, however the browser signed in.
    page.fill("#phone", "+1 202 555 0177")
    page.click("[data-action=update-profile]")
    if page.js:
        page.wait_for_selector("#modal dialog[open] #verify-step[data-step=choose]")
        page.click("#modal [data-close-modal]")
    else:
        page.wait_for_url(re.compile(r"/verify/"))
        page.goto("/settings/profile")
    assert user("member@example.com").phone == "+12025550103"
    page.click("[data-action=forget-all-browsers]")
    page.wait_for_selector("[data-no-remembered]")
    sign_out(page)
    password_only(page)
    page.wait_for_url(re.compile(r"/verify/"))


def test_owner_requires_an_authenticator_and_a_member_is_taken_to_setup(any_page, app):
    page = any_page
    enable_totp(app, "owner@example.com")
    browser_signin(page, "owner@example.com")
    page.goto("/settings/team")
    page.click("[data-action=security-rules]")
    page.wait_for_url(re.compile(r"/settings/team/rules"))
    page.check("input[name=require_strong_factor]")
    page.fill("input[name=grace_days]", "0")
    page.uncheck("input[name=allow_remember]")
    page.click("[data-action=save-rules]")
    if page.js:
        expect(page.locator("#toasts")).to_contain_text("Security rules saved")
    else:
        page.wait_for_selector(".toast")
    with db.connection_context():
        org = Organization.get()
        assert org.strong_factor_required_at is not None and not org.allow_remember_browser
    page.goto("/settings/team?missing=1")
    expect(page.locator("[data-badge=missing-strong-factor]")).to_have_count(4)
    sign_out(page)
    # The member: no "remember" box any more, and straight to the setup after signing in.
    browser_password_step(page, "member@example.com")
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    expect(page.locator("input[name=remember]")).to_have_count(0)
    page.fill("#code", last_code("member@example.com"))
    page.click("[data-action=verify]")
    page.wait_for_url(re.compile(r"/2fa/setup$"))
    expect(page.locator("[data-strong-factor-banner][data-blocked]")).to_be_visible()
    for elsewhere in ("/settings/activity", "/settings/profile"):
        page.goto(elsewhere)
        page.wait_for_url(re.compile(r"/2fa/setup$"))
    if page.js:
        # An htmx request elsewhere is told to go to the setup too (HX-Redirect).
        page.evaluate("htmx.ajax('GET', '/settings/profile/personal', '#main')")
        page.wait_for_url(re.compile(r"/2fa/setup$"))
    # Setup: verify with an email code, then the app's first code.
    page.click("[data-action=setup-totp]")
    page.wait_for_selector("#verify-step[data-step=choose]")
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    page.fill("#code", last_code("member@example.com"))
    page.click("[data-action=verify]")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.fill("#totp-code", next_code(secret)[0])
    page.click("[data-action=totp-next]")
    page.wait_for_selector("#backup-codes li")
    page.goto("/settings/activity")
    assert page.url.endswith("/settings/activity")
    expect(page.locator("[data-strong-factor-banner]")).to_have_count(0)
    assert not page.errors


def test_the_grace_banner_links_to_setup(any_page, app):
    page = any_page
    with app.app_context(), db.connection_context():
        from webapp.models import utcnow

        Organization.update(strong_factor_required_at=utcnow(),
                            strong_factor_grace_days=5).execute()
    browser_signin(page)
    banner = page.locator("[data-strong-factor-banner]")
    expect(banner).to_contain_text("within 5 days")
    page.goto("/settings/activity")
    assert page.url.endswith("/settings/activity")  # not blocked yet
    page.click("[data-action=setup-now]")
    page.wait_for_url(re.compile(r"/2fa/setup$"))


@pytest.fixture(params=list(WIDTHS))
def page_at(request, browser, live_server):
    """A JS-on page at desktop width, then at 360 px (as in test_a11y.py)."""
    context = browser.new_context(base_url=live_server.url, **WIDTHS[request.param])
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


@pytest.mark.presentation
def test_accessible_at_desktop_and_phone_width(page_at):
    """axe (light and dark) and no sideways scroll: the code step with the box, Remembered
    browsers, Security rules with the banner, the Team filter."""
    page = page_at
    browser_password_step(page, "owner@example.com")
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("input[name=remember]")
    check(page, "sign-in code step with Remember this browser")
    page.check("input[name=remember]")
    page.fill("#code", last_code("owner@example.com"))
    page.click("[data-action=verify]")
    page.wait_for_url(re.compile(r"/settings/profile"))
    page.locator("[data-remembered-browser]").wait_for()
    check(page, "My Profile with a remembered browser")
    page.goto("/settings/team/rules")
    check(page, "Security rules")
    page.check("input[name=require_strong_factor]")
    page.fill("input[name=grace_days]", "120")
    page.click("[data-action=save-rules]")
    page.locator("#grace_days[aria-invalid=true]").wait_for()
    check(page, "Security rules with an error")
    page.fill("input[name=grace_days]", "5")
    page.click("[data-action=save-rules]")
    expect(page.locator("#toasts")).to_contain_text("Security rules saved")
    page.goto("/settings/team?missing=1")
    page.locator("[data-badge=missing-strong-factor]").first.wait_for()
    page.locator("[data-strong-factor-banner]").wait_for()  # the owner has none either
    check(page, "Team, members without an authenticator")
    assert not page.errors


def test_turning_the_requirement_off_asks_the_owner_to_verify_first(any_page):
    """Weakening a rule is a step-up action: the modal (or the page without JavaScript),
    the owner's code, then the rules as saved."""
    page = any_page
    with db.connection_context():
        Organization.update(strong_factor_required_at=Organization.created_at,
                            strong_factor_grace_days=30).execute()
    browser_signin(page, "owner@example.com")
    page.goto("/settings/team/rules")
    page.uncheck("input[name=require_strong_factor]")
    page.click("[data-action=save-rules]")
    expect(page.locator("#verify-step [data-summary]")).to_have_text(
        "Stop requiring an authenticator app or passkey")
    with db.connection_context():
        assert Organization.get().strong_factor_required_at is not None
    browser_verify_with_email(page, "owner@example.com")
    browser_done_in_place(page, "Security rules saved", r"/settings/team/rules$")
    expect(page.locator("input[name=require_strong_factor]")).not_to_be_checked()
    with db.connection_context():
        assert Organization.get().strong_factor_required_at is None
