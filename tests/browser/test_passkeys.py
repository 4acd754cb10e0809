"""Passkeys in Chromium with a virtual authenticator (DevTools WebAuthn domain): add one after
a step-up, sign in without a password, use one as the second step and for a phone change,
remove it, refuse a cloned authenticator, and keep the password when the authenticator
does not verify the user. Without JavaScript no passkey control shows and sign-in works.

Browsers refuse passkeys on an IP address, so these pages are opened at localhost."""

import re

import pytest
from conftest import PASSWORD, last_code, outbox, user
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

    def __init__(self, page, *, verifies_user=True):
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        self.id = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": verifies_user,
            "automaticPresenceSimulation": True}})["authenticatorId"]

    def credentials(self) -> list[dict]:
        return self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})["credentials"]

    def set_sign_count(self, count: int) -> None:
        (credential,) = self.credentials()
        self.cdp.send("WebAuthn.removeCredential", {"authenticatorId": self.id,
                                                     "credentialId": credential["credentialId"]})
        self.cdp.send("WebAuthn.addCredential", {"authenticatorId": self.id,
                                                  "credential": {**credential, "signCount": count}})

    def verifies_user(self, on: bool) -> None:
        self.cdp.send("WebAuthn.setUserVerified", {"authenticatorId": self.id,
                                                    "isUserVerified": on})


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
