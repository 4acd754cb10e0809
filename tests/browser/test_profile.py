"""Change password on My Profile in a real browser: htmx swaps the section in place with
JavaScript on; plain posts re-render the page with the same errors with JavaScript off."""

import re

from conftest import PASSWORD, outbox, signin, user
from playwright.sync_api import expect

from browser.conftest import browser_signin

NEW_PASSWORD = "a calmer harbour at dawn 42"


def submit_password(page, current, new, confirm):
    page.fill("#current_password", current)
    page.fill("#new_password", new)
    page.fill("#confirm_password", confirm)
    page.click("[data-action=update-password]")


def test_wrong_current_password_is_shown_inline(any_page):
    page = any_page
    browser_signin(page)
    page.evaluate("window.__noReload = 1") if page.js else None
    submit_password(page, "not my password", NEW_PASSWORD, NEW_PASSWORD)
    field = page.locator("#current_password[aria-invalid=true]")
    field.wait_for()
    error = page.locator("#current_password-error")
    expect(error).to_have_text("That isn't your current password.")
    assert "current_password-error" in field.get_attribute("aria-describedby")
    expect(field).to_be_focused()
    if page.js:
        assert page.evaluate("window.__noReload") == 1, "the page reloaded"
    else:
        assert page.locator("h1").inner_text() == "My Profile"
    # Nothing secret is sent back into the form.
    assert page.locator("#current_password").input_value() == ""


def test_the_field_in_error_has_focus_the_moment_its_message_appears(page_js):
    """Focus moves in the same task that shows the error, not a settle delay later: typing
    right after the message appears (a quick user, a password manager) lands in the field
    the user types into, never in the one focus jumps to a moment later."""
    page = page_js
    browser_signin(page)
    page.evaluate("""() => {
        window.__focusAtError = null;
        new MutationObserver(() => {
            const error = document.getElementById("current_password-error");
            if (window.__focusAtError === null && error && error.textContent.trim())
                window.__focusAtError = document.activeElement.id || document.activeElement.tagName;
        }).observe(document.body, {childList: true, subtree: true});
    }""")
    submit_password(page, "not my password", NEW_PASSWORD, NEW_PASSWORD)
    expect(page.locator("#current_password-error")).to_have_text(
        "That isn't your current password.")
    assert page.evaluate("window.__focusAtError") == "current_password"


def test_mismatch_and_weak_password(any_page):
    page = any_page
    browser_signin(page)
    submit_password(page, PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x")
    expect(page.locator("#confirm_password-error")).to_have_text("The new passwords don't match.")
    assert page.locator("#confirm_password").get_attribute("aria-invalid") == "true"
    submit_password(page, PASSWORD, "password", "password")
    page.locator("#new_password[aria-invalid=true]").wait_for()
    assert page.locator("#new_password-error").inner_text()
    # The hint stays linked to the field next to the error.
    assert page.locator("#new_password").get_attribute("aria-describedby") == (
        "new_password-hint new_password-error")


def test_password_changed(any_page):
    page = any_page
    browser_signin(page)
    submit_password(page, PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
    expect(page.locator("#toasts")).to_contain_text("Password updated")
    # The page is loaded again, with and without JavaScript: the session was rotated.
    assert re.search(r"/settings/profile$", page.url)
    assert page.locator("#new_password").input_value() == ""
    assert any("password was changed" in m.subject.lower() for m in outbox("email"))
    # Still signed in on this device, with the new password working next time.
    page.goto("/settings/profile")
    assert page.locator("h1").inner_text() == "My Profile"
    assert not page.errors


def test_after_a_password_change_the_other_forms_work(page_js, app):
    """The session and its CSRF token are rotated: the next form on the page still works, and
    the device just signed out is no longer listed."""
    page = page_js
    signin(app.test_client())  # another device
    browser_signin(page)
    expect(page.locator("[data-session]")).to_have_count(2)
    submit_password(page, PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
    expect(page.locator("#toasts")).to_contain_text("Password updated")
    expect(page.locator("[data-session]")).to_have_count(1)
    page.fill("#name", "Mia Renamed")
    page.click("[data-action=update-profile]")
    expect(page.locator("#toasts")).to_contain_text("Profile saved.")
    assert user("member@example.com").name == "Mia Renamed"
    assert not page.errors


def test_cancelled_phone_change_shows_the_saved_values(page_js):
    """Esc in the verification modal: the phone input shows the saved number again, and the
    name saved on the way says so."""
    page = page_js
    browser_signin(page)
    saved = user("member@example.com").phone
    page.fill("#name", "Mia Renamed")
    page.fill("#phone", "+1 202 555 0177")
    page.click("[data-action=update-profile]")
    page.locator("#modal dialog[open]").wait_for()
    expect(page.locator("#toasts")).to_contain_text("Name saved.")
    page.keyboard.press("Escape")
    page.locator("#modal dialog").wait_for(state="detached")
    expect(page.locator("#phone")).to_have_value(saved)
    expect(page.locator("#name")).to_have_value("Mia Renamed")
    assert user("member@example.com").phone == saved
    assert not page.errors
