"""How data reads on the settings pages in a real browser (JavaScript on): phones in
international format, devices by name, the activity log and the team list at 1280 and 360 px."""

import datetime as dt
import json
import re

import pytest
from conftest import signin, user
from playwright.sync_api import expect

from browser.conftest import browser_signin
from webapp.extensions import db
from webapp.models import AuditEvent, Membership, UserSession, utcnow

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


def add_activity():
    """A phone change by email code and a refused Login as, on Mia's record."""
    mia, admin = user("member@example.com"), user("admin@example.com")
    with db.connection_context():
        org = Membership.get(Membership.user == mia.id).organization_id
        AuditEvent.create(organization=org, subject=mia, actor=mia, event="phone.changed",
                          channel="email", ip="203.0.113.7", user_agent=CHROME_MAC,
                          details=json.dumps({"old": "•••• 0103", "new": "•••• 0144"}))
        AuditEvent.create(organization=org, subject=None, actor=admin, event="authz.denied",
                          outcome="denied", ip="203.0.113.8", user_agent=FIREFOX_WINDOWS,
                          details=json.dumps({"action": "login_as", "target": mia.id}))


def activity_page(open_page, width):
    add_activity()
    page = open_page(width=width)
    browser_signin(page, "admin@example.com")
    page.goto("/settings/activity")
    return page


def test_activity_names_events_and_details_them(open_page):
    page = activity_page(open_page, 1280)
    phone = page.locator("#event-rows tr[data-event='phone.changed']").first
    expect(phone.locator("[data-event-name]")).to_have_text("Phone changed")
    expect(phone.locator("[data-details]")).to_have_text(
        "Phone changed from •••• 0103 to •••• 0144, verified by email")
    expect(phone.locator("td.agent")).to_have_text("Chrome on macOS")
    refused = page.locator("#event-rows tr[data-event='authz.denied']").first
    expect(refused.locator("[data-details]")).to_contain_text("Login as refused")
    # The filter offers the same words, and filtering by one keeps the stable event value.
    options = page.locator("#f-event option")
    expect(options.filter(has_text="Phone changed")).to_have_attribute("value", "phone.changed")
    assert "phone.changed" not in options.all_inner_texts()
    page.select_option("#f-event", label="Phone changed")
    page.click("[data-action=filter]")
    expect(page).to_have_url(re.compile(r"event=phone\.changed"))
    expect(page.locator("#event-rows tr[data-event]")).to_have_count(1)


def test_activity_at_desktop_width(open_page):
    page = activity_page(open_page, 1280)
    # The filters and their buttons share one line.
    tops = {round(page.locator(sel).bounding_box()["y"]) for sel in
            ("#f-person", "#f-event", "#f-from", "#f-to", "[data-action=filter]")}
    assert max(tops) - min(tops) <= 4, tops
    # Rows are one line high: no taller than the header row plus a little.
    line = page.locator("#event-rows tr[data-event='authz.denied'] td").first.evaluate(
        "td => parseFloat(getComputedStyle(td).lineHeight) || 20")
    for row in page.locator("#event-rows tr[data-event]").all():
        assert row.bounding_box()["height"] < 2 * line + 16, row.get_attribute("data-event")
    # The table uses the full content width beside the Settings nav: wider than the old
    # narrow 52rem column, filling its card, no scrolling.
    table, wrap = page.locator("table.events"), page.locator("#activity-log .table-wrap")
    assert table.bounding_box()["width"] > 52 * 16
    assert table.bounding_box()["width"] >= wrap.evaluate("w => w.clientWidth") - 2
    assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth + 2")


def test_activity_stacks_on_a_phone(open_page):
    page = activity_page(open_page, 360)
    row = page.locator("#event-rows tr[data-event='phone.changed']").first
    box = row.bounding_box()
    assert box["width"] <= 360 and box["height"] > 100  # a card of label: value lines
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    wrap = page.locator("#activity-log .table-wrap")
    assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth + 2")
    details = row.locator("[data-details]")
    assert "Details" in details.evaluate("td => getComputedStyle(td, '::before').content")


def team_page(open_page, width):
    with db.connection_context():  # one member with every badge, so the badges could wrap
        Membership.update(role="admin").where(
            Membership.user == user("member@example.com").id).execute()
    page = open_page(width=width)
    browser_signin(page, "owner@example.com")
    page.goto("/settings/team")
    return page


def test_team_list_at_desktop_width(open_page):
    page = team_page(open_page, 1280)
    # The search box and its button share one line.
    box, button = (page.locator(s).bounding_box() for s in ("#team-q", "[data-action=search]"))
    assert abs(box["y"] - button["y"]) <= 4
    # Badges never wrap: each row's badges sit on one line.
    for badges in page.locator("#team-rows .badges").all():
        tops = {round(b.bounding_box()["y"]) for b in badges.locator(".badge").all()}
        assert len(tops) <= 1, tops
    wrap = page.locator("section[aria-labelledby=team-title] .table-wrap")
    assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth + 2")


def test_team_list_stacks_on_a_phone(open_page):
    page = team_page(open_page, 360)
    row = page.locator("#team-rows tr[data-member]").first
    box = row.bounding_box()
    assert box["width"] <= 360 and box["height"] > 100  # a card of label: value lines
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    email = row.locator("td[data-label]").nth(1)
    assert "Email" in email.evaluate("td => getComputedStyle(td, '::before').content")
