"""The look, measured: the Settings navigation beside the page (a row above it on phones),
notices that say their kind in colour, and the authenticator setup within one screen."""

import pytest
from conftest import last_code

from browser.a11y import assert_accessible
from browser.conftest import browser_signin
from browser.test_twofactor import read_qr

pytestmark = [pytest.mark.browser, pytest.mark.presentation]

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


def style_of(page, selector, prop):
    return page.locator(selector).first.evaluate(
        f"(el) => getComputedStyle(el).getPropertyValue('{prop}')")


NOTICES = """(main) => {
  const box = document.createElement("section");
  box.className = "card"; box.setAttribute("aria-label", "Notices");
  for (const kind of ["success", "warning", "error"]) {
    const p = document.createElement("p");
    p.className = kind === "warning" ? "notice" : "notice " + kind;
    p.dataset.kind = kind; p.textContent = "A " + kind + " notice with a link-free sentence.";
    box.append(p);
    const t = document.createElement("div");
    t.className = "toast toast-" + kind; t.dataset.toast = kind; t.textContent = kind;
    box.append(t);
  }
  main.prepend(box);
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_notices_say_their_kind_in_colour(sized, scheme):
    page = sized(scheme=scheme)
    browser_signin(page)
    page.locator("main").evaluate(NOTICES)
    backgrounds = {kind: style_of(page, f"p[data-kind={kind}]", "background-color")
                   for kind in ("success", "warning", "error")}
    assert len(set(backgrounds.values())) == 3, backgrounds
    edges = {kind: style_of(page, f"p[data-kind={kind}]", "border-left-color")
             for kind in ("success", "warning", "error")}
    assert len(set(edges.values())) == 3, edges
    # The same three colours as the toasts of the same kind.
    for kind in ("success", "error"):
        assert style_of(page, f"[data-toast={kind}]", "background-color") == backgrounds[kind]
    assert style_of(page, "[data-toast=warning]", "background-color") == backgrounds["warning"]
    assert_accessible(page, f"notices, {scheme}")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_role_badge_is_not_the_unverified_colour(sized, scheme):
    page = sized(scheme=scheme)
    browser_signin(page, "admin@example.com")
    page.goto("/settings/team")
    page.locator("#team-rows tr[data-member] a:not([data-self])").first.click()
    page.locator("h1 [data-role]").wait_for()
    page.locator("main h1").evaluate(
        "(h) => h.insertAdjacentHTML('afterend', "
        "'<p><span class=\"badge warn\" data-badge=\"x-unverified\">Unverified</span></p>')")
    role = (style_of(page, "h1 [data-role]", "background-color"),
            style_of(page, "h1 [data-role]", "color"))
    unverified = (style_of(page, "[data-badge=x-unverified]", "background-color"),
                  style_of(page, "[data-badge=x-unverified]", "color"))
    assert role[0] != unverified[0] and role[1] != unverified[1]
    assert_accessible(page, f"member page, {scheme}")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "360"])
def test_verification_choices_are_one_size(sized, viewport):
    page = sized(viewport)
    browser_signin(page)
    page.fill("#phone", "+1 202 555 0199")
    page.click("[data-action=update-profile]")
    page.locator("#modal dialog[open] label.option").first.wait_for()
    # A longer label, as a translation or a long address would make it.
    page.locator("#modal label.option .hint").first.evaluate(
        "(el) => el.textContent = '(' + 'a long address at an example domain '.repeat(3) + ')'")
    options = page.locator("#modal label.option").all()
    assert len(options) >= 2
    sizes = {(round(o.bounding_box()["width"]), round(o.bounding_box()["height"]))
             for o in options}
    assert len(sizes) == 1, f"the choices differ in size: {sizes}"
    assert_accessible(page, "choices")


def open_totp_setup(page):
    """My Profile > Setup, the step-up by email code, then the QR step in the modal."""
    page.click("[data-action=setup-totp]")
    page.wait_for_selector("#modal dialog[open] #verify-step[data-step=choose]")
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    page.fill("#code", last_code("member@example.com"))
    page.click("[data-action=verify]")
    page.wait_for_selector("#modal dialog[open] svg#totp-qr")


def within(inner, outer):
    return (inner["x"] >= outer["x"] - 0.5 and inner["y"] >= outer["y"] - 0.5
            and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5
            and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 0.5)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_authenticator_setup_fits_a_desktop_screen(sized, scheme):
    page = sized(DESKTOP, scheme)
    browser_signin(page)
    open_totp_setup(page)
    screen = {"x": 0, "y": 0, **DESKTOP}
    for action in ("[data-action=totp-next]", "#modal [data-close-modal]"):
        assert within(box(page, f"#modal {action}" if "#modal" not in action else action),
                      screen), f"{action} is off screen"
    assert page.locator("#modal dialog").evaluate("(d) => d.scrollHeight <= d.clientHeight")
    link = page.locator("#modal a[data-action=open-authenticator]")
    assert link.inner_text() == "Open in your authenticator app"
    assert link.get_attribute("href") == read_qr(page)
    assert_accessible(page, f"authenticator setup at 1280 px, {scheme}")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_authenticator_setup_on_a_phone_opens_at_its_top_qr_centred(sized, scheme):
    page = sized(PHONE, scheme)
    browser_signin(page)
    open_totp_setup(page)
    dialog = page.locator("#modal dialog")
    page.wait_for_timeout(300)  # focus and any scrolling settle
    assert dialog.evaluate("(d) => d.scrollTop") == 0, "the modal opened scrolled down"
    title = box(page, "#totp-setup-title")
    assert 0 <= title["y"] < PHONE["height"] / 2
    qr, frame = box(page, "#modal svg#totp-qr"), dialog.bounding_box()
    assert within(qr, frame)
    assert abs((qr["x"] + qr["width"] / 2) - (frame["x"] + frame["width"] / 2)) <= 2, \
        "the QR code is not centred in the dialog"
    link = page.locator("#modal a[data-action=open-authenticator]")
    assert link.get_attribute("href").startswith("otpauth://totp/Aesthetix%20CRM:member@")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert_accessible(page, f"authenticator setup at 360 px, {scheme}")
