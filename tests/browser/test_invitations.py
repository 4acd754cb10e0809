"""Invitations and "Remove from team" in a real browser, JavaScript on and off."""

import re

from conftest import PASSWORD, last_code, outbox, user
from playwright.sync_api import expect

from browser.conftest import (
    _page,
    browser_second_step,
    browser_signin,
    browser_verify_with_email,
)

NEW_PASSWORD = "violet tractor harbour 42"
JOIN_RE = re.compile(r"https?://\S+/join/[\w-]+")


def test_invite_join_and_sign_in(any_page, browser, live_server):
    page = any_page
    browser_signin(page, "owner@example.com")
    page.goto("/settings/team")
    page.click("[data-action=invite]")
    if page.js:
        page.locator("#modal dialog[open]").wait_for()
    else:
        page.wait_for_url(re.compile(r"/settings/team/invite$"))
    page.fill("#email", "not an address")
    page.click("[data-action=send-invitation]")
    expect(page.locator("#email-error")).to_contain_text("valid email")
    page.fill("#email", "nina@example.com")
    page.select_option("#role", "admin")
    page.click("[data-action=send-invitation]")
    # Admin rights last: the owner verifies it's them first, and that sends the invitation.
    expect(page.locator("#verify-step [data-summary]")).to_have_text(
        "Invite nina@example.com as Admin")
    assert outbox("email", "nina@example.com") == []
    browser_verify_with_email(page, "owner@example.com")
    if page.js:
        page.locator("#modal dialog[open]").wait_for(state="detached")
    else:
        page.wait_for_url(re.compile(r"/settings/team$"))
    row = page.locator("[data-invitation][data-email='nina@example.com']")
    expect(row).to_contain_text("Admin")
    expect(page.locator("#toasts")).to_contain_text(
        "Invitation sent to nina@example.com.")
    link = JOIN_RE.search(outbox("email", "nina@example.com")[-1].body).group(0)

    # The invitee, in a browser of their own (same JavaScript setting).
    context, invitee = _page(browser, live_server, js=page.js)
    try:
        invitee.goto(link)
        expect(invitee.locator("h1")).to_have_text("Join Aesthetix Demo")
        invitee.fill("#name", "Nina New")
        invitee.fill("#new_password", NEW_PASSWORD)
        invitee.fill("#confirm_password", NEW_PASSWORD + "!")
        invitee.click("[data-action=join]")
        expect(invitee.locator("#confirm_password-error")).to_contain_text("don't match")
        invitee.fill("#new_password", NEW_PASSWORD)
        invitee.fill("#confirm_password", NEW_PASSWORD)
        invitee.click("[data-action=join]")
        invitee.wait_for_url(re.compile(r"/login$"))
        expect(invitee.locator("#toasts")).to_contain_text("Welcome to Aesthetix Demo")
        # The email code as the second step, as for everyone.
        browser_second_step(invitee, "nina@example.com", NEW_PASSWORD, "email",
                            lambda: last_code("nina@example.com"))
        invitee.wait_for_url(re.compile(r"/settings/profile"))
        expect(invitee.locator("[data-badge=email-verified]")).to_be_visible()
        # The link worked once.
        invitee.goto(link)
        expect(invitee.locator("#join-title")).to_have_text("This invitation link can't be used")
        assert not invitee.errors
    finally:
        context.close()
    page.goto("/settings/team")
    expect(page.locator("#team-rows")).to_contain_text("Nina New")
    expect(page.locator("[data-invitation]")).to_have_count(0)
    assert not page.errors


def test_resend_and_revoke(any_page):
    page = any_page
    browser_signin(page, "owner@example.com")
    page.goto("/settings/team/invite")
    page.fill("#email", "nina@example.com")
    page.click("[data-action=send-invitation]")
    page.wait_for_url(re.compile(r"/settings/team$"))
    row = page.locator("[data-invitation][data-email='nina@example.com']")
    row.locator("[data-action=resend-invitation]").click()
    expect(page.locator("#toasts")).to_contain_text("Invitation sent again")
    assert len(outbox("email", "nina@example.com")) == 2
    row.locator("[data-action=revoke-invitation]").click()
    expect(page.locator("#invitations [data-empty]")).to_have_text("No pending invitations.")
    assert not page.errors


def test_remove_from_team(any_page, browser, live_server):
    page = any_page
    # Mia is signed in somewhere else.
    context, mia = _page(browser, live_server, js=page.js)
    try:
        browser_signin(mia, "member@example.com")
        browser_signin(page, "owner@example.com")
        page.goto(f"/settings/team/{user('member@example.com').id}")
        page.click("[data-action=remove]")
        if page.js:
            page.locator("#modal dialog[open]").wait_for()
        expect(page.locator("#remove-title")).to_have_text(
            "Remove Mia Member from Aesthetix Demo?")
        page.click("[data-action=confirm-remove]")
        page.wait_for_url(re.compile(r"/settings/team$"))
        expect(page.locator("#toasts")).to_contain_text("Mia Member was removed from the team")
        expect(page.locator("#team-rows")).not_to_contain_text("member@example.com")
        # Her browser is signed out and told why; signing in again is refused clearly.
        mia.goto("/settings/profile")
        mia.wait_for_url(re.compile(r"/login"))
        expect(mia.locator("[data-signed-out=removed]")).to_be_visible()
        mia.fill("#email", "member@example.com")
        mia.fill("#password", PASSWORD)
        mia.click("button[type=submit]")
        expect(mia.locator("#password-error")).to_contain_text("You were removed from your team")
        assert not mia.errors
    finally:
        context.close()
    assert not page.errors
