"""Phone change from My Profile in a real browser: the "Choose how to verify" modal with
JavaScript on (mouse and keyboard only), the same steps as full pages with JavaScript off."""

import re

from conftest import last_code, outbox, user
from playwright.sync_api import expect

from browser.conftest import browser_signin
from webapp.extensions import db
from webapp.models import Challenge, User

NEW_PHONE = "+1 202 555 0199"
NEW_E164 = "+12025550199"
NEW_SHOWN = "+1 202-555-0199"  # international format on the page


def start_phone_change(page, number=NEW_PHONE):
    page.fill("#phone", number)
    page.click("[data-action=update-profile]")


def channels_offered(page):
    return page.locator("input[name=channel]").evaluate_all("els => els.map(e => e.value)")


def mark(page):
    page.evaluate("window.__noReload = 'still here'")


def still_marked(page):
    return page.evaluate("window.__noReload") == "still here"


def phone_shown(page):
    return page.locator("#personal-data [data-field=phone]").inner_text()


def test_phone_change_in_the_modal(page_js):
    page = page_js
    browser_signin(page, "member@example.com")
    mark(page)
    start_phone_change(page)
    dialog = page.locator("#modal dialog[open]")
    dialog.wait_for()
    assert channels_offered(page) == ["email", "sms"]
    assert dialog.evaluate("d => d.contains(document.activeElement)")
    assert page.locator("#verify-title").inner_text() == "Choose how to verify"

    page.check("input[name=channel][value=sms]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#modal #code")
    # The code goes to the number already verified, never to the new one.
    assert outbox("sms", to=NEW_E164) == []
    code = last_code("+12025550103", "sms")
    label = page.locator("label[for=code]").inner_text()
    assert label == "Enter the 6-digit code we sent to •••• 0103"
    expect(page.locator("#code")).to_be_focused()
    # The modal's step has an h2 under the page's one h1, also after the swap.
    assert page.locator("#modal h2#verify-title").count() == 1
    assert page.locator("h1").all_inner_texts() == ["My Profile"]

    page.fill("#code", f"{code[:3]} {code[3:]}")  # pasted with a space, as many apps show it
    page.click("[data-action=verify]")
    page.wait_for_selector("#modal dialog", state="detached")
    expect(page.locator("#personal-data [data-field=phone]")).to_have_text(NEW_SHOWN)
    assert page.locator("[data-badge=phone-unverified]").is_visible()
    assert "Phone number updated" in page.locator("#toasts").inner_text()
    assert still_marked(page), "the page reloaded"
    assert user("member@example.com").phone == NEW_E164
    assert not page.errors


def test_the_verified_change_and_the_refreshed_section_come_in_one_answer(page_js):
    """The code's answer closes the modal and carries the new Personal Data (out of band):
    no event makes the section fetch itself with a second request."""
    page = page_js
    browser_signin(page, "member@example.com")
    start_phone_change(page)
    page.wait_for_selector("#modal dialog[open]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#modal #code")
    page.fill("#code", last_code("member@example.com"))
    requests = []
    page.on("request", lambda r: requests.append((r.method, r.url.split("/", 3)[3])))
    page.click("[data-action=verify]")
    page.wait_for_selector("#modal dialog", state="detached")
    expect(page.locator("#personal-data [data-field=phone]")).to_have_text(NEW_SHOWN)
    page.wait_for_timeout(500)  # time for a second request, if anything asked for one
    assert [m for m, _ in requests] == ["POST"] and requests[0][1].endswith("/code")
    assert page.locator("#personal-data[hx-swap-oob]").count() == 0
    assert "Phone number updated" in page.locator("#toasts").inner_text()
    assert not page.errors


def test_wrong_code_is_announced_inline(page_js):
    page = page_js
    browser_signin(page, "member@example.com")
    start_phone_change(page)
    page.click("[data-action=continue]")
    page.fill("#code", "000000")
    page.click("[data-action=verify]")
    field = page.locator("#code[aria-invalid=true]")
    field.wait_for()
    assert field.get_attribute("aria-describedby").split()[0] == "code-error"
    error = page.locator("#code-error")
    assert error.is_visible() and error.get_attribute("role") == "alert"
    expect(page.locator("#code")).to_be_focused()
    assert page.locator("#modal dialog[open]").count() == 1


def test_unverified_phone_is_not_offered(page_js):
    page = page_js
    browser_signin(page, "casey@example.com")
    start_phone_change(page)
    page.wait_for_selector("#modal dialog[open]")
    assert channels_offered(page) == ["email"]
    assert "current phone number isn't verified" in page.locator("[data-help=no-sms]").inner_text()


def test_escape_closes_cancels_and_returns_focus(page_js):
    page = page_js
    browser_signin(page, "member@example.com")
    start_phone_change(page)
    page.wait_for_selector("#modal dialog[open]")
    page.keyboard.press("Escape")
    page.wait_for_selector("#modal dialog", state="detached")
    assert page.evaluate("document.activeElement.dataset.action") == "update-profile"
    with db.connection_context():
        page.wait_for_timeout(300)
        assert Challenge.select().where(Challenge.cancelled_at.is_null(False)).count() == 1
    assert user("member@example.com").phone == "+12025550103"


def test_double_click_sends_one_code(page_js):
    page = page_js
    browser_signin(page, "member@example.com")
    before = len(outbox("email", to="member@example.com"))
    start_phone_change(page)
    page.wait_for_selector("#modal dialog[open]")
    page.dblclick("[data-action=continue]")
    page.wait_for_selector("#modal #code")
    page.wait_for_timeout(500)
    assert len(outbox("email", to="member@example.com")) == before + 1


def test_focus_stays_in_the_modal(page_js):
    page = page_js
    browser_signin(page, "member@example.com")
    start_phone_change(page)
    page.wait_for_selector("#modal dialog[open]")
    inside = "document.querySelector('#modal dialog').contains(document.activeElement)"
    for key in ["Tab"] * 8 + ["Shift+Tab"] * 8:
        page.keyboard.press(key)
        assert page.evaluate(inside), f"focus left the modal after {key}"


def focused(page):
    return page.evaluate("""() => {
        const el = document.activeElement, style = getComputedStyle(el);
        return {tag: el.tagName, id: el.id, action: el.dataset.action || null,
                value: el.value || null, outline: style.outlineStyle + ' ' + style.outlineWidth};
    }""")


def tab_to(page, predicate, *, back=False, limit=40):
    """Press Tab (or Shift+Tab) until the focused element matches; every stop shows focus."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        now = focused(page)
        if now["tag"] != "BODY":
            assert not now["outline"].startswith("none"), f"no visible focus on {now}"
        if predicate(now):
            return now
    raise AssertionError("never reached the element by keyboard")


def test_keyboard_only(page_js):
    """The whole change with Tab, Shift+Tab, Enter, Space, arrows and Esc; no mouse."""
    page = page_js
    browser_signin(page, "member@example.com")
    mark(page)
    page.locator("h1").focus()
    tab_to(page, lambda f: f["id"] == "phone")
    page.keyboard.press("Control+A")
    page.keyboard.type(NEW_PHONE)
    tab_to(page, lambda f: f["action"] == "update-profile")
    page.keyboard.press("Enter")
    page.wait_for_selector("#modal dialog[open]")
    # Esc first: the modal closes and focus is back on the button; the form shows the saved
    # number again, so type the new one and open it again.
    page.keyboard.press("Escape")
    page.wait_for_selector("#modal dialog", state="detached")
    assert focused(page)["action"] == "update-profile"
    page.fill("#phone", NEW_PHONE)
    page.locator("[data-action=update-profile]").focus()
    page.keyboard.press("Space")
    page.wait_for_selector("#modal dialog[open]")
    assert focused(page)["value"] == "email"
    page.keyboard.press("ArrowDown")
    assert focused(page)["value"] == "sms"
    tab_to(page, lambda f: f["action"] == "continue")
    tab_to(page, lambda f: f["value"] == "sms", back=True)
    tab_to(page, lambda f: f["action"] == "continue")
    page.keyboard.press("Enter")
    page.wait_for_selector("#modal #code")
    expect(page.locator("#code")).to_be_focused()
    page.keyboard.type(last_code("+12025550103", "sms"))
    page.keyboard.press("Enter")
    page.wait_for_selector("#modal dialog", state="detached")
    expect(page.locator("#personal-data [data-field=phone]")).to_have_text(NEW_SHOWN)
    assert still_marked(page)
    expect(page.locator("[data-action=update-profile]")).to_be_focused()


def test_phone_change_without_javascript(page_nojs):
    page = page_nojs
    browser_signin(page, "member@example.com")
    start_phone_change(page)
    page.wait_for_url(re.compile(r"/verify/"))
    assert page.locator("h1").inner_text() == "Choose how to verify"
    assert channels_offered(page) == ["email", "sms"]
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    page.fill("#code", "000000")
    page.click("[data-action=verify]")
    page.wait_for_selector("#code[aria-invalid=true]")
    assert page.locator("#code-error").is_visible()
    page.fill("#code", last_code("member@example.com"))
    page.click("[data-action=verify]")
    page.wait_for_url(re.compile(r"/settings/profile$"))
    assert phone_shown(page) == NEW_SHOWN
    assert page.locator("[data-badge=phone-unverified]").is_visible()
    assert "Phone number updated" in page.locator("#toasts").inner_text()


def test_nothing_verified_explains_and_changes_nothing(any_page):
    page = any_page
    browser_signin(page, "newbie@example.com")
    # Signing in with an email code proves the address; take that back to get "nothing verified".
    with db.connection_context():
        User.update(email_verified_at=None).where(User.email == "newbie@example.com").execute()
    page.goto("/settings/profile")
    sent = len(outbox())
    start_phone_change(page)
    if page.js:
        page.wait_for_selector("#modal dialog[open]")
    else:
        page.wait_for_selector("[data-message]")
    assert page.locator("#message-title").inner_text() == "No way to verify this change"
    assert "Verify your email address first" in (
        page.locator("[data-message]").inner_text())
    assert page.locator("[data-help=no-channel]").is_visible()
    assert user("newbie@example.com").phone is None
    assert len(outbox()) == sent
