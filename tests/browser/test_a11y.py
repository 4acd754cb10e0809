"""WCAG 2.2 AA checks with axe-core on every page and every modal step, light and dark;
visible focus, 360 px phones and reduced motion."""

import re

import pytest
from conftest import PASSWORD, last_code
from playwright.sync_api import expect

from browser.a11y import assert_accessible
from browser.conftest import browser_signin
from webapp.extensions import db
from webapp.models import User

pytestmark = [pytest.mark.browser, pytest.mark.presentation]

WIDTHS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True},
}


@pytest.fixture(params=list(WIDTHS))
def page_at(request, browser, live_server):
    """A JS-on page at desktop width, then at 360 px (a phone)."""
    context = browser.new_context(base_url=live_server.url, **WIDTHS[request.param])
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


def check(page, where: str):
    """axe in light and dark, and nothing wider than the screen (no sideways scroll)."""
    assert_accessible(page, f"{where} at {page.viewport_size['width']} px")
    width = page.viewport_size["width"]
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{where} is {scroll} px wide at {width} px"
    dialog = page.locator("#modal dialog[open]")
    if dialog.count():
        box = dialog.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"{where}: modal off screen"


def open_phone_modal(page, number="+1 202 555 0199"):
    page.fill("#phone", number)
    page.click("[data-action=update-profile]")
    page.locator("#modal dialog[open]").wait_for()


def test_sign_in_pages(page_at):
    page = page_at
    page.goto("/login")
    check(page, "sign in")
    page.fill("#email", "member@example.com")
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    page.locator("[aria-invalid=true]").first.wait_for()
    check(page, "sign in, wrong password")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/verify/"))
    assert page.locator("h1").count() == 1
    check(page, "sign-in verification: choose")
    page.click("[data-action=continue]")
    page.locator("#code").wait_for()
    assert page.locator("h1").count() == 1, "the step lost its page heading after the swap"
    check(page, "sign-in verification: code")


def test_profile_activity_and_error_pages(page_at):
    page = page_at
    browser_signin(page)
    check(page, "My Profile")
    page.fill("#phone", "not a number")
    page.click("[data-action=update-profile]")
    page.locator("#phone[aria-invalid=true]").wait_for()
    check(page, "My Profile with a field error")
    page.goto("/settings/activity")
    check(page, "Activity")
    page.goto("/settings/no-such-page")
    assert page.locator("[data-status='404']").count() == 1
    check(page, "404 page")
    page.goto("/verify/not-a-challenge")
    check(page, "unknown verification")


def test_every_modal_step(page_at):
    page = page_at
    browser_signin(page)
    open_phone_modal(page)
    check(page, "modal: choose how to verify")
    page.click("[data-action=continue]")
    page.locator("#modal #code").wait_for()
    check(page, "modal: enter the code")
    page.fill("#code", "000000")
    page.click("[data-action=verify]")
    page.locator("#code[aria-invalid=true]").wait_for()
    check(page, "modal: wrong code")
    for _ in range(10):
        if page.locator("[data-step=closed]").count():
            break
        page.fill("#code", "000000")
        page.click("[data-action=verify]")
        page.wait_for_function("() => !document.querySelector('#code[disabled], button[disabled]')")
    expect(page.locator("[data-step=closed]")).to_be_visible()
    check(page, "modal: too many wrong codes")
    page.keyboard.press("Escape")
    page.locator("#modal dialog").wait_for(state="detached")
    # Attempts so far: 1 of 5 a day. Use up the rest, then the limit message.
    for _ in range(4):
        open_phone_modal(page)
        page.keyboard.press("Escape")
        page.locator("#modal dialog").wait_for(state="detached")
    open_phone_modal(page)
    expect(page.locator("#message-title")).to_have_text("Daily limit reached")
    check(page, "modal: daily limit reached")


def test_success_and_no_channel(page_at):
    from conftest import last_code

    page = page_at
    browser_signin(page)
    open_phone_modal(page)
    page.click("[data-action=continue]")
    page.locator("#modal #code").wait_for()
    page.fill("#code", last_code("member@example.com"))
    page.click("[data-action=verify]")
    expect(page.locator("#toasts")).to_contain_text("Phone number updated")
    check(page, "after a verified change (toast, refreshed section)")
    page.context.clear_cookies()
    browser_signin(page, "newbie@example.com")
    with db.connection_context():
        User.update(email_verified_at=None).where(User.email == "newbie@example.com").execute()
    page.goto("/settings/profile")
    open_phone_modal(page)
    check(page, "modal: no way to verify")


def test_full_page_steps_without_javascript(page_nojs):
    page = page_nojs
    browser_signin(page)
    page.fill("#phone", "+1 202 555 0199")
    page.click("[data-action=update-profile]")
    page.wait_for_url(re.compile(r"/verify/"))
    page.click("[data-action=continue]")
    page.locator("#code").wait_for()
    page.fill("#code", "12")
    page.click("[data-action=verify]")
    page.locator("#code[aria-invalid=true]").wait_for()
    url = page.url
    # axe needs scripts: look at the same pages in a scripted tab of this signed-in context.
    scripted = page.context.browser.new_context(
        base_url=url.split("/verify/")[0], storage_state=page.context.storage_state())
    try:
        other = scripted.new_page()
        other.goto(url)
        assert_accessible(other, "verify page without the modal")
    finally:
        scripted.close()


def test_visible_focus_everywhere(page_js):
    """Every Tab stop on My Profile draws a focus outline, in light and in dark."""
    page = page_js
    browser_signin(page)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.goto("/settings/profile")
        seen = set()
        for _ in range(30):
            page.keyboard.press("Tab")
            info = page.evaluate("""() => {
                const el = document.activeElement, s = getComputedStyle(el);
                const text = el.textContent.trim().slice(0, 20);
                return {name: el.tagName + '#' + el.id + (el.dataset.action || '') + text,
                        style: s.outlineStyle, width: parseFloat(s.outlineWidth)};
            }""")
            if info["name"].startswith("BODY") or info["name"] in seen:
                break
            seen.add(info["name"])
            assert info["style"] != "none" and info["width"] >= 2, info
        assert len(seen) >= 8


def test_reduced_motion(page_js):
    page = page_js
    browser_signin(page)
    page.emulate_media(reduced_motion="reduce")
    page.evaluate("document.dispatchEvent(new CustomEvent('toast', {detail: {message: 'Hi'}}))")
    toast = page.locator("#toasts .toast").last
    assert toast.evaluate("t => getComputedStyle(t).animationName") == "none"
    page.emulate_media(reduced_motion="no-preference")
    page.evaluate("document.dispatchEvent(new CustomEvent('toast', {detail: {message: 'Hi'}}))")
    assert page.locator("#toasts .toast").last.evaluate(
        "t => getComputedStyle(t).animationName") != "none"


def test_team_and_two_factor_pages(page_at):
    import pyotp

    page = page_at
    browser_signin(page, "owner@example.com")
    page.goto("/settings/team")
    check(page, "Team")
    page.locator("#team-rows a:not([data-self])").first.click()  # own row: My Profile
    page.wait_for_url(re.compile(r"/settings/team/\d+"))
    check(page, "Team member")
    page.goto("/settings/profile/2fa/setup")
    check(page, "authenticator setup: verify first")
    page.click("[data-action=setup-totp]")
    page.wait_for_url(re.compile(r"/verify/"))
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    page.fill("#code", last_code("owner@example.com"))
    page.click("[data-action=verify]")
    page.wait_for_selector("#modal dialog[open] svg#totp-qr")
    check(page, "authenticator setup")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.fill("#totp-code", pyotp.TOTP(secret).now())
    page.click("[data-action=totp-next]")
    page.locator("#backup-codes li").first.wait_for()
    check(page, "backup codes")
    page.goto("/settings/profile")
    check(page, "My Profile with the authenticator on")
    for action in ("regenerate-backup-codes", "remove-totp"):
        page.click(f"[data-action={action}]")
        page.locator("#modal dialog[open] #verify-step").wait_for()
        check(page, f"modal: {action}")
        page.keyboard.press("Escape")
        page.locator("#modal dialog").wait_for(state="detached")


def test_admin_pages_and_login_as(page_at):
    """An admin's view of a member: the member's verification, then "Login as"."""
    page = page_at
    browser_signin(page, "admin@example.com")
    page.goto("/settings/team")
    page.locator("#team-rows a", has_text="Mia Member").click()
    page.wait_for_url(re.compile(r"/settings/team/\d+$"))
    page.fill("#phone", "+1 202 555 0188")
    page.click("[data-action=update-profile]")
    page.locator("#modal dialog[open] #verify-step").wait_for()
    check(page, "modal: an admin verifies a member's change")
    page.keyboard.press("Escape")
    page.locator("#modal dialog").wait_for(state="detached")
    page.goto("/settings/activity")
    check(page, "Activity, admin (team-wide)")
    page.goto("/settings/team")
    page.locator("#team-rows a", has_text="Mia Member").click()
    page.wait_for_url(re.compile(r"/settings/team/\d+$"))
    page.click("[data-action=login-as]")
    page.wait_for_url(re.compile(r"/settings/profile$"))
    expect(page.locator("[data-impersonation]")).to_be_visible()
    check(page, "My Profile during Login as (banner, disabled controls)")
    response = page.goto("/settings/team")
    assert response.status == 403
    check(page, "Team refused during Login as")
    assert not page.errors


def test_team_invitations_and_removal(page_js, browser, live_server):
    """The invite dialog (and its error), the pending list, "Join", the removal dialog."""
    from conftest import outbox

    from browser.conftest import _page

    page = page_js
    browser_signin(page, "owner@example.com")
    page.goto("/settings/team")
    page.click("[data-action=invite]")
    page.locator("#modal dialog[open] #invite").wait_for()
    assert_accessible(page, "invite dialog")
    page.fill("#email", "not an address")
    page.click("[data-action=send-invitation]")
    page.locator("#email[aria-invalid=true]").wait_for()
    assert_accessible(page, "invite dialog with a field error")
    page.fill("#email", "nina@example.com")
    page.click("[data-action=send-invitation]")
    page.locator("[data-invitation]").wait_for()
    expect(page.locator("#toasts")).to_contain_text("Invitation sent")
    # Judged once the toast has faded in (mid-animation its colours are half-way).
    page.locator("#toasts .toast").last.evaluate(
        "t => Promise.all(t.getAnimations().map(a => a.finished))")
    assert_accessible(page, "Team with a pending invitation")
    page.goto(f"/settings/team/{_user_id('member@example.com')}")
    page.click("[data-action=remove]")
    page.locator("#modal dialog[open] #remove-member").wait_for()
    assert_accessible(page, "remove dialog")
    link = re.search(r"/join/[\w-]+", outbox("email", "nina@example.com")[-1].body).group(0)
    context, invitee = _page(browser, live_server, js=True)
    try:
        invitee.goto(link)
        assert_accessible(invitee, "Join")
        invitee.goto("/join/" + "x" * 43)
        assert_accessible(invitee, "Join, link refused")
    finally:
        context.close()


def _user_id(email):
    with db.connection_context():
        return User.by_email(email).id
