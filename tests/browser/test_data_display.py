"""How data reads on the settings pages in a real browser (JavaScript on): phones in
international format, devices by name, the activity log and the team list at 1280 and 360 px."""

import datetime as dt
import re

import pytest
from conftest import signin, user
from playwright.sync_api import expect

from browser.conftest import browser_signin
from webapp.extensions import db
from webapp.models import UserSession, utcnow

CHROME_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36")
FIREFOX_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 "
                   "Firefox/125.0")


@pytest.fixture
def open_page(browser, live_server):
    """A JavaScript-on page at a chosen width (and user agent)."""
    contexts = []

    def make(width=1280, user_agent=None):
        options = {"base_url": live_server.url, "viewport": {"width": width, "height": 900}}
        if user_agent:
            options["user_agent"] = user_agent
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def test_phone_is_shown_in_international_format(open_page):
    page = open_page()
    browser_signin(page)
    expect(page.locator("#personal-data [data-field=phone]")).to_have_text("+1 202-555-0103")


def test_member_phone_in_international_format_and_masked_in_the_list(open_page):
    page = open_page()
    browser_signin(page, "admin@example.com")
    page.goto("/settings/team")
    row = page.locator(f"#team-rows tr[data-member='{user('member@example.com').id}']")
    expect(row).to_contain_text("0103")
    assert "202-555-0103" not in row.inner_text()  # the list stays masked
    row.locator("a").first.click()
    page.wait_for_url(re.compile(r"/settings/team/\d+"))
    expect(page.locator("#member-personal [data-field=phone]")).to_have_text("+1 202-555-0103")


def test_devices_are_named_not_raw_user_agents(open_page, app):
    other = app.test_client()
    other.environ_base.update(HTTP_USER_AGENT=FIREFOX_WINDOWS, REMOTE_ADDR="203.0.113.7")
    signin(other)
    with db.connection_context():
        (UserSession.update(last_seen_at=utcnow() - dt.timedelta(minutes=5))
         .where(UserSession.user_agent == FIREFOX_WINDOWS)
         .execute())
    page = open_page(user_agent=CHROME_MAC)
    browser_signin(page)
    lines = page.locator("[data-session] [data-session-line]")
    expect(lines).to_have_count(2)
    expect(page.locator("[data-session][data-current] [data-session-line]")).to_have_text(
        "Chrome on macOS · 127.0.0.1 · just now")
    expect(page.locator("[data-session]:not([data-current]) [data-session-line]")).to_have_text(
        "Firefox on Windows · 203.0.113.7 · 5 minutes ago")
    assert "Mozilla/5.0" not in page.locator("#sessions").inner_text()
