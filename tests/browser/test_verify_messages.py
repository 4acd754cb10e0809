"""What the verification steps say and where they lead, in a real browser: Cancel at sign-in,
the change attempts left today, the lost-access help, and the wrong-code messages."""

import re

from conftest import PASSWORD, last_code
from twofactor.helpers import enable_totp

from browser.conftest import browser_signin
from webapp.extensions import db
from webapp.models import Challenge


def password_step(page, email="member@example.com"):
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/verify/"))


def test_cancel_at_sign_in_returns_to_the_sign_in_page(any_page):
    """Bug 1: Cancel on "Choose how to verify" leads back to /login, JavaScript on or off."""
    page = any_page
    password_step(page)
    page.click("[data-step=choose] button[form=verify-cancel]")
    page.wait_for_url(re.compile(r"/login$"))
    assert page.locator("#email").is_visible() and page.locator("#password").is_visible()
    with db.connection_context():
        assert Challenge.select().where(Challenge.cancelled_at.is_null(False)).count() == 1
    assert not page.errors
