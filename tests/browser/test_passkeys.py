"""Passkeys in Chromium with a virtual authenticator (DevTools WebAuthn domain): add one after
a step-up, sign in without a password, use one as the second step and for a phone change,
remove it, refuse a cloned authenticator, and keep the password when the authenticator
does not verify the user. Without JavaScript no passkey control shows and sign-in works.

Browsers refuse passkeys on an IP address, so these pages are opened at localhost."""

import re

import pytest
from conftest import last_code, outbox, user
from playwright.sync_api import expect

from browser.conftest import browser_password_step
from webapp.extensions import db
from webapp.models import AuditEvent, Passkey

pytestmark = pytest.mark.browser

EMAIL = "member@example.com"


@pytest.fixture
def localhost(browser, live_server):
    """A page at http://localhost:<port> (a host name: passkeys need one)."""
    context = browser.new_context(base_url=live_server.url.replace("127.0.0.1", "localhost"),
                                  viewport={"width": 1100, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


class Authenticator:
    """A Chromium virtual authenticator attached to one page (CTAP2, built in, resident keys)."""

    def __init__(self, page):
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        self._add(can_verify=True, verifies=True)

    def _add(self, *, can_verify: bool, verifies: bool) -> None:
        self.id = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": can_verify, "isUserVerified": verifies,
            "automaticPresenceSimulation": True}})["authenticatorId"]

    def credentials(self) -> list[dict]:
        return self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})["credentials"]

    def move_to(self, *, can_verify: bool, verifies: bool) -> None:
        """The same passkeys on another authenticator: one without user verification (no PIN,
        no fingerprint: can_verify=False), or one whose check fails (verifies=False)."""
        held = self.credentials()
        self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.id})
        self._add(can_verify=can_verify, verifies=verifies)
        for credential in held:
            self.cdp.send("WebAuthn.addCredential", {"authenticatorId": self.id,
                                                      "credential": credential})

    def set_sign_count(self, count: int) -> None:
        (credential,) = self.credentials()
        self.cdp.send("WebAuthn.removeCredential", {"authenticatorId": self.id,
                                                     "credentialId": credential["credentialId"]})
        self.cdp.send("WebAuthn.addCredential", {"authenticatorId": self.id,
                                                  "credential": {**credential, "signCount": count}})



def sign_in_with_email_code(page, email=EMAIL):
    browser_password_step(page, email)
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    page.fill("#code", last_code(email))
    page.click("[data-action=verify]")
    page.wait_for_url(re.compile(r"/settings/profile"))


def add_passkey(page, name="Test laptop", *, step_up=True):
    """My Profile > Passkeys > Add a passkey: the step-up (email code), then the dialog."""
    page.click("[data-action=add-passkey]")
    if step_up:
        page.wait_for_selector("#modal dialog[open] #verify-step[data-step=choose]")
        page.check("input[name=channel][value=email]")
        page.click("[data-action=continue]")
        page.wait_for_selector("#code")
        page.fill("#code", last_code(EMAIL))
        page.click("[data-action=verify]")
    page.wait_for_selector("#modal dialog[open] #passkey-register")
    page.fill("#passkey-name", name)
    page.click("[data-action=create-passkey]")
    expect(page.locator("#passkeys [data-passkey-name]")).to_contain_text([name])
    expect(page.locator("#modal dialog[open]")).to_have_count(0)


def sign_out(page):
    page.click("header button:has-text('Sign out')")
    page.wait_for_url(re.compile(r"/login"))


def events(name: str) -> list[AuditEvent]:
    with db.connection_context():
        return list(AuditEvent.select().where(AuditEvent.event == name))


def test_add_a_passkey_then_sign_in_without_a_password(localhost):
    page = localhost
    auth = Authenticator(page)
    sign_in_with_email_code(page)
    add_passkey(page, "Work laptop")
    assert len(auth.credentials()) == 1
    assert auth.credentials()[0]["isResidentCredential"] is True
    with db.connection_context():
        (row,) = Passkey.select()
        assert (row.user_id, row.name) == (user(EMAIL).id, "Work laptop")
    assert any("Passkey added" in m.subject for m in outbox("email", EMAIL))
    assert len(events("passkey.added")) == 1

    sign_out(page)
    page.click("[data-action=passkey-sign-in]")
    page.wait_for_url(re.compile(r"/settings/profile"))
    expect(page.locator("#passkeys")).to_contain_text("Last used")
    assert [e.channel for e in events("login.succeeded")][-1] == "passkey"
    assert page.errors == []


def signed_in_with_a_passkey(page, auth, name="Work laptop"):
    """Signed in with an email code, a passkey added, signed out: on the sign-in page."""
    sign_in_with_email_code(page)
    add_passkey(page, name)
    sign_out(page)


def test_a_passkey_as_the_second_step(localhost):
    page = localhost
    auth = Authenticator(page)
    signed_in_with_a_passkey(page, auth)
    browser_password_step(page)
    # Offered with the account's other channels; never preselected (it needs JavaScript).
    option = page.locator("input[name=channel][value=passkey]")
    expect(option).to_be_visible()
    assert not option.is_checked()
    option.check()
    page.click("[data-action=continue]")
    page.click("[data-action=use-passkey]")
    page.wait_for_url(re.compile(r"/settings/profile"))
    assert [e.channel for e in events("login.succeeded")][-1] == "passkey"
    assert len(events("passkey.used")) == 1


def test_a_passkey_approves_a_phone_change(localhost):
    page = localhost
    Authenticator(page)
    sign_in_with_email_code(page)
    add_passkey(page)
    page.fill("#phone", "+1 202 555 0199")
    page.click("[data-action=update-profile]")
    page.wait_for_selector("#modal dialog[open] #verify-step[data-step=choose]")
    page.check("input[name=channel][value=passkey]")
    page.click("[data-action=continue]")
    page.click("[data-action=use-passkey]")
    page.wait_for_selector("#modal dialog", state="detached")
    expect(page.locator("#personal-data [data-field=phone]")).to_have_text("+1 202-555-0199")
    assert user(EMAIL).phone == "+12025550199"
    (changed,) = events("phone.changed")
    assert changed.channel == "passkey"


def test_remove_a_passkey_after_verifying_with_it(localhost):
    page = localhost
    Authenticator(page)
    sign_in_with_email_code(page)
    add_passkey(page, "Old phone")
    page.click("[data-action=remove-passkey]")
    page.wait_for_selector("#modal dialog[open] #verify-step[data-step=choose]")
    expect(page.locator("[data-summary]")).to_contain_text("Old phone")
    page.check("input[name=channel][value=passkey]")
    page.click("[data-action=continue]")
    page.click("[data-action=use-passkey]")
    page.wait_for_selector("#modal dialog", state="detached")
    expect(page.locator("#passkeys [data-passkeys]")).to_have_attribute("data-passkeys", "0")
    assert "Passkey “Old phone” removed" in page.locator("#toasts").inner_text()
    with db.connection_context():
        assert Passkey.select().count() == 0
    assert any("Passkey removed" in m.subject for m in outbox("email", EMAIL))
    assert len(events("passkey.removed")) == 1


def test_a_cloned_authenticator_is_refused_and_the_person_told(localhost):
    page = localhost
    auth = Authenticator(page)
    signed_in_with_a_passkey(page, auth)
    page.click("[data-action=passkey-sign-in]")
    page.wait_for_url(re.compile(r"/settings/profile"))
    sign_out(page)
    with db.connection_context():
        stored = Passkey.get().sign_count
    assert stored >= 1
    # A copy of the authenticator made earlier: its counter is behind the server's.
    auth.set_sign_count(stored - 1)
    page.click("[data-action=passkey-sign-in]")
    expect(page.locator("[data-passkey-refused]")).to_contain_text("looks like a copy")
    assert "/login" in page.url
    assert len(events("passkey.cloned")) == 1
    assert any("was refused" in m.subject for m in outbox("email", EMAIL))
    with db.connection_context():
        assert Passkey.get().sign_count == stored  # the counter never goes back


def test_without_user_verification_the_password_is_still_needed(localhost):
    page = localhost
    auth = Authenticator(page)
    signed_in_with_a_passkey(page, auth)
    # The passkey on a key that can't verify the user: the browser finds no passkey it may
    # use without verification, so nothing signs in.
    auth.move_to(can_verify=False, verifies=False)
    page.click("[data-action=passkey-sign-in]")
    expect(page.locator("[data-passkey-error]")).to_be_visible()
    assert "/login" in page.url and events("login.succeeded")[-1].channel == "email"
    # After the password, the same key is the second step (user presence is enough there).
    browser_password_step(page)
    page.check("input[name=channel][value=passkey]")
    page.click("[data-action=continue]")
    page.click("[data-action=use-passkey]")
    page.wait_for_url(re.compile(r"/settings/profile"))
    assert [e.channel for e in events("login.succeeded")][-1] == "passkey"
    assert events("passkey.used")[-1].data["user_verified"] is False


def test_an_assertion_without_user_verification_does_not_sign_in_alone(localhost):
    """A client that skips user verification (the options rewritten to "discouraged"): the
    server sees the UV flag off and asks for the password."""
    page = localhost
    auth = Authenticator(page)
    signed_in_with_a_passkey(page, auth)
    auth.move_to(can_verify=True, verifies=False)

    def discouraged(route):
        response = route.fetch()
        body = response.json()
        body["userVerification"] = "discouraged"
        route.fulfill(response=response, json=body)

    page.route("**/login/passkey/options", discouraged)
    page.click("[data-action=passkey-sign-in]")
    expect(page.locator("[data-passkey-refused]")).to_contain_text("can't sign you in on its own")
    assert "/login" in page.url
    assert events("passkey.refused")[-1].data["reason"] == "no_user_verification"
    assert [e.channel for e in events("login.succeeded")] == ["email"]


def test_without_javascript_no_passkey_control_shows(page_nojs, live_server):
    page = page_nojs
    with db.connection_context():
        member = user(EMAIL)
        Passkey.create(user=member.id, credential_id="AAAA", public_key=b"x", user_handle="h",
                       name="Laptop")
    page.goto(live_server.url.replace("127.0.0.1", "localhost") + "/login")
    expect(page.locator("[data-action=passkey-sign-in]")).to_be_hidden()
    browser_password_step(page)
    # The account has a passkey, but without JavaScript it is not offered.
    expect(page.locator("input[name=channel][value=passkey]")).to_be_hidden()
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.fill("#code", last_code(EMAIL))
    page.click("[data-action=verify]")
    page.wait_for_url(re.compile(r"/settings/profile"))
    # Listed (rename and remove work as forms); adding one is not offered.
    expect(page.locator("#passkeys [data-passkey-name]")).to_have_text("Laptop")
    expect(page.locator("[data-action=add-passkey]")).to_be_hidden()
    expect(page.locator("[data-passkey-unavailable]")).to_be_visible()
    page.fill("#pk1-name", "Old laptop")
    page.click("[data-action=rename-passkey]")
    expect(page.locator("#passkeys [data-passkey-name]")).to_have_text("Old laptop")


def test_passkeys_stay_hidden_on_an_ip_address(page_js):
    """Browsers refuse passkeys on 127.0.0.1: the button would only fail, so it isn't shown."""
    page = page_js
    page.goto("/login")
    page.wait_for_load_state("load")
    expect(page.locator("[data-action=passkey-sign-in]")).to_be_hidden()
    assert page.errors == []


@pytest.mark.presentation
@pytest.mark.parametrize("width", [1280, 360])
def test_passkey_pages_and_steps_are_accessible(localhost, width):
    from browser.a11y import assert_accessible

    page = localhost
    page.set_viewport_size({"width": width, "height": 800})
    Authenticator(page)
    page.goto("/login")
    expect(page.locator("[data-action=passkey-sign-in]")).to_be_visible()
    assert_accessible(page, f"sign-in with the passkey button at {width} px")
    sign_in_with_email_code(page)
    page.click("[data-action=add-passkey]")
    page.wait_for_selector("#modal dialog[open] #verify-step[data-step=choose]")
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    page.fill("#code", last_code(EMAIL))
    page.click("[data-action=verify]")
    page.wait_for_selector("#modal dialog[open] #passkey-register")
    assert_accessible(page, f"add a passkey at {width} px")
    page.click("[data-action=create-passkey]")
    page.wait_for_selector("#modal dialog", state="detached")
    page.goto("/settings/profile/passkeys")
    assert_accessible(page, f"passkeys page at {width} px")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.click("[data-action=remove-passkey]")
    page.wait_for_selector("#modal dialog[open] #verify-step[data-step=choose]")
    page.check("input[name=channel][value=passkey]")
    page.click("[data-action=continue]")
    page.wait_for_selector("[data-action=use-passkey]")
    assert_accessible(page, f"verify with a passkey at {width} px")
    assert page.errors == []
