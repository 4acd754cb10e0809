"""The look, measured: the Settings navigation beside the page (a row above it on phones),
notices that say their kind in colour, and the authenticator setup within one screen."""

import pytest

from browser.a11y import assert_accessible
from browser.conftest import browser_signin

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}


@pytest.fixture
def sized(browser, live_server):
    """A JS-on page factory at a given viewport and colour scheme."""
    contexts = []

    def make(viewport=DESKTOP, scheme="light"):
        context = browser.new_context(base_url=live_server.url, viewport=viewport,
                                      color_scheme=scheme)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def box(page, selector):
    return page.locator(selector).first.bounding_box()


def current_links(page):
    return page.locator("nav[data-settings-nav] a[aria-current=page]").all_inner_texts()


def test_settings_navigation_beside_the_page_on_desktop(sized):
    page = sized()
    browser_signin(page)
    nav = page.get_by_role("navigation", name="Settings")
    assert nav.count() == 1
    assert current_links(page) == ["My Profile"]
    # A member sees only what they may use: no Team.
    assert nav.get_by_role("link").all_inner_texts() == ["My Profile", "Activity"]
    nav_box, heading = box(page, "nav[data-settings-nav]"), box(page, "main h1")
    assert nav_box["x"] + nav_box["width"] <= heading["x"], "the navigation is not beside the page"
    assert nav_box["y"] < 200
    nav.get_by_role("link", name="Activity").click()
    page.wait_for_url("**/settings/activity")
    assert current_links(page) == ["Activity"]


def test_settings_navigation_for_an_admin_marks_team(sized):
    page = sized()
    browser_signin(page, "admin@example.com")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Team").click()
    page.wait_for_url("**/settings/team")
    assert current_links(page) == ["Team"]
    page.locator("#team-rows a").first.click()
    page.wait_for_url("**/settings/team/*")
    assert current_links(page) == ["Team"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_settings_navigation_is_one_row_above_the_page_on_a_phone(sized, scheme):
    page = sized(PHONE, scheme)
    browser_signin(page)
    nav_box, heading = box(page, "nav[data-settings-nav]"), box(page, "main h1")
    assert nav_box["y"] + nav_box["height"] <= heading["y"], "the navigation is not above the page"
    assert nav_box["height"] < 60, "the navigation takes more than one row"
    links = page.locator("nav[data-settings-nav] a").all()
    assert len({round(link.bounding_box()["y"]) for link in links}) == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert current_links(page) == ["My Profile"]
    assert_accessible(page, f"My Profile at 360 px, {scheme}")
