"""Team admin in a real browser, JavaScript on and off: a member's phone change, "Login as"."""

import re

from conftest import last_code, outbox, signin, user
from playwright.sync_api import expect

from browser.conftest import browser_done_in_place, browser_signin, browser_verify_with_email
from webapp.extensions import db
from webapp.models import Membership

NEW_E164 = "+12025550177"
NEW_SHOWN = "+1 202-555-0177"  # international format on the page


def open_member(page, name="Mia Member"):
    page.click("nav >> text=Team")
    page.wait_for_url(re.compile(r"/settings/team$"))
    page.click(f"#team-rows >> text={name}")
    page.wait_for_url(re.compile(r"/settings/team/\d+$"))


def test_admin_changes_a_members_phone(any_page):
    page = any_page
    browser_signin(page, "admin@example.com")
    open_member(page)
    page.fill("#phone", "+1 202 555 0177")
    page.click("[data-action=update-profile]")
    if page.js:
        page.locator("#modal dialog[open]").wait_for()
    else:
        page.wait_for_url(re.compile(r"/verify/"))
    step = page.locator("#verify-step")
    expect(step.locator("[data-for-member]")).to_contain_text("Mia Member")
    offered = page.locator("input[name=channel]").evaluate_all("els => els.map(e => e.value)")
    assert offered == ["email", "sms"]
    expect(step).to_contain_text("m***@example.com")
    expect(step).not_to_contain_text("a***@example.com")
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    expect(page.locator("label[for=code]")).to_have_text(
        "Enter the 6-digit code we sent to Mia Member's email m***@example.com")
    # The member reads the code out; it never went to the admin or the new number.
    assert [m.to for m in outbox("email")][-1] == "member@example.com"
    assert outbox("sms", to=NEW_E164) == []
    page.fill("#code", last_code("member@example.com"))
    page.click("[data-action=verify]")
    if page.js:
        page.locator("#modal dialog[open]").wait_for(state="detached")
    else:
        page.wait_for_url(re.compile(r"/settings/team/\d+$"))
    expect(page.locator("#member-personal [data-field=phone]")).to_have_text(NEW_SHOWN)
    expect(page.locator("#toasts")).to_contain_text("Phone number updated")
    assert user("member@example.com").phone == NEW_E164
    assert not page.errors


def test_login_as_and_return(any_page):
    page = any_page
    browser_signin(page, "admin@example.com")
    open_member(page)
    page.click("[data-action=login-as]")
    page.wait_for_url(re.compile(r"/settings/profile$"))
    banner = page.locator("[data-impersonation]")
    expect(banner).to_contain_text("You are signed in as Mia Member")
    expect(page.locator("#personal-data [data-field=email]")).to_have_text("member@example.com")
    # The admin's team pages are closed while acting as the member: no link to them, and
    # the address answers 403.
    assert page.locator("nav >> text=Team").count() == 0
    response = page.goto("/settings/team")
    assert response.status == 403
    expect(page.locator("body")).to_contain_text("Return to your account first")
    page.goto("/settings/profile")
    page.click("[data-impersonation] >> text=Return to your account")
    page.wait_for_url(re.compile(r"/settings/team/\d+$"))
    expect(page.locator("[data-impersonation]")).to_have_count(0)
    expect(page.locator("[data-action=login-as]")).to_be_visible()
    assert not page.errors


def test_admin_opening_their_own_row_gets_my_profile(page_js):
    page = page_js
    browser_signin(page, "admin@example.com")
    page.click("nav >> text=Team")
    page.wait_for_url(re.compile(r"/settings/team$"))
    page.click("#team-rows >> text=Adam Admin")
    page.wait_for_url(re.compile(r"/settings/profile$"))
    expect(page.locator("h1")).to_have_text("My Profile")
    expect(page.locator("#personal-data [data-action=update-profile]")).to_be_visible()
    # The address typed in leads there too.
    page.goto(f"/settings/team/{user('admin@example.com').id}")
    assert re.search(r"/settings/profile$", page.url)
    assert not page.errors


def test_cancelled_member_phone_change_shows_the_saved_values(page_js):
    page = page_js
    browser_signin(page, "admin@example.com")
    open_member(page)
    saved = user("member@example.com").phone
    page.fill("#name", "Mia M.")
    page.fill("#phone", "+1 202 555 0177")
    page.click("[data-action=update-profile]")
    page.locator("#modal dialog[open]").wait_for()
    expect(page.locator("#toasts")).to_contain_text("Name saved.")
    page.click("#modal button[form=verify-cancel]")
    page.locator("#modal dialog").wait_for(state="detached")
    expect(page.locator("#phone")).to_have_value(saved)
    expect(page.locator("#name")).to_have_value("Mia M.")
    assert not page.errors


def test_login_as_shows_the_refused_controls_disabled_with_the_reason(page_js, app):
    page = page_js
    signin(app.test_client(), "casey@example.com")  # a second device to sign out
    browser_signin(page, "admin@example.com")
    open_member(page, "Casey Unverified-Phone")
    page.click("[data-action=login-as]")
    page.wait_for_url(re.compile(r"/settings/profile$"))
    for control in ("#name", "#phone", "#email", "[data-action=update-profile]",
                    "[data-action=verify-phone]", "#current_password",
                    "[data-action=update-password]", "[data-action=sign-out-others]"):
        expect(page.locator(control)).to_be_disabled()
    for section in ("#personal-data", "#change-password", "#sessions", "#two-factor"):
        expect(page.locator(f"{section} [data-impersonation-note]")).to_be_visible()
    expect(page.locator("#personal-data [data-impersonation-note]")).to_contain_text(
        "can't change their name, email or phone")
    assert not page.errors


def test_an_owner_promotes_a_member_after_verifying(any_page):
    """A higher role is a step-up action for the owner: modal (or page), code, then the
    access section as saved."""
    page = any_page
    browser_signin(page, "owner@example.com")
    open_member(page)
    page.select_option("#role", "admin")
    page.click("[data-action=save-access]")
    expect(page.locator("#verify-step [data-summary]")).to_have_text("Make Mia Member Admin")
    assert role_of("member@example.com") == "member"
    browser_verify_with_email(page, "owner@example.com")
    browser_done_in_place(page, "Access updated.", r"/settings/team/\d+$")
    expect(page.locator("#role")).to_have_value("admin")
    assert role_of("member@example.com") == "admin"


def role_of(email):
    with db.connection_context():
        return Membership.get(Membership.user == user(email).id).role
