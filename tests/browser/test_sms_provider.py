"""Signing in with a text message through Twilio (a loopback double), JavaScript on and off:
a provider refusal says what went wrong in the step, and another try goes through."""

import re

import pytest

from .conftest import browser_password_step

pytestmark = pytest.mark.browser


@pytest.fixture
def app(app_factory, twilio_api):
    """The live server's app texts through the Twilio double."""
    return app_factory(**twilio_api.settings())


def test_a_number_twilio_refuses_is_explained_then_a_retry_signs_in(any_page, twilio_api):
    page = any_page
    browser_password_step(page)
    twilio_api.fail("invalid_number")
    page.check("input[name=channel][value=sms]")
    page.click("[data-action=continue]")
    error = page.get_by_text("This phone number can't receive text messages")
    error.wait_for()
    assert error.is_visible()
    assert page.locator("input[name=channel][value=sms]").count() == 1  # still choosing
    assert twilio_api.messages == []
    # The number works again (or the person fixed it with the provider): the same step sends.
    twilio_api.answer = None
    page.check("input[name=channel][value=sms]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    code = re.search(r"\d{6}", twilio_api.messages[-1]["Body"]).group(0)
    page.fill("#code", code)
    page.click("[data-action=verify]")
    page.wait_for_url(re.compile(r"/settings/profile"))
    assert page.errors == []
