"""Sign-in in a real browser: password, then an email code, with JavaScript on and off."""

from browser.conftest import browser_signin_through_pages


def test_signin_with_email_code(any_page):
    browser_signin_through_pages(any_page)
    assert any_page.locator("h1").inner_text() == "My Profile"
    assert any_page.locator("[data-field=email]").inner_text() == "member@example.com"
    assert not any_page.errors
