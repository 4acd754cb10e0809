"""A live server on loopback and Debian's chromium driven by Playwright, JavaScript on and off."""

import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import CSRF_RE, PASSWORD, last_code
from playwright.sync_api import expect
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def pytest_configure(config):
    """`expect(...)` waits as long as any other browser step (the context's 10 s), not
    Playwright's default 5 s: on a loaded 2-core CI machine a virtual-authenticator round
    trip or an htmx swap can take longer than that without anything being wrong."""
    expect.set_options(timeout=10_000)


def pytest_collection_modifyitems(config, items):
    """Every test here drives the browser: marked so, whether or not its module says so."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def live_server(app):
    """The test app served by werkzeug in a thread on a free loopback port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _page(browser, live_server, js: bool):
    context = browser.new_context(java_script_enabled=js, base_url=live_server.url,
                                  viewport={"width": 1100, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return context, page


@pytest.fixture
def page_js(browser, live_server):
    context, page = _page(browser, live_server, js=True)
    yield page
    context.close()


@pytest.fixture
def page_nojs(browser, live_server):
    context, page = _page(browser, live_server, js=False)
    yield page
    context.close()


@pytest.fixture(params=["js", "nojs"])
def any_page(request, browser, live_server):
    """Runs the test twice: JavaScript on, then off."""
    context, page = _page(browser, live_server, js=request.param == "js")
    page.js = request.param == "js"
    yield page
    context.close()


def browser_password_step(page, email="member@example.com", password=PASSWORD):
    """The sign-in page's email and password: the browser lands on the second step."""
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/verify/"))


def browser_second_step(page, email, password, channel, code_for):
    """Password, then choose `channel` and type `code_for()` (read once the code field shows)."""
    browser_password_step(page, email, password)
    page.check(f"input[name=channel][value={channel}]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    page.fill("#code", code_for())
    page.click("[data-action=verify]")


def browser_verify_with_email(page, email):
    """"Verify it's you" by email: choose Email, Continue, then the code and Verify."""
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    page.fill("#code", last_code(email))
    page.click("[data-action=verify]")


def browser_done_in_place(page, toast, back):
    """A verified change made from a page: the modal closes with a toast, or without
    JavaScript the page at `back` (a regex) comes back with the same message."""
    if page.js:
        page.locator("#modal dialog[open]").wait_for(state="detached")
        expect(page.locator("#toasts")).to_contain_text(toast)
    else:
        page.wait_for_url(re.compile(back))
        expect(page.locator(".toast")).to_contain_text(toast)


def browser_signin_through_pages(page, email="member@example.com", password=PASSWORD):
    """Sign in by typing into the real pages, with an email code; lands on My Profile."""
    browser_second_step(page, email, password, "email", lambda: last_code(email))
    page.wait_for_url(re.compile(r"/settings/profile"))


def browser_signin(page, email="member@example.com", password=PASSWORD):
    """Signed in with an email code, then on My Profile.

    The sign-in endpoints are posted by the browser context's own HTTP client (its cookies
    are the page's, its User-Agent the browser's), not typed into the pages: a test that is
    about something else needs a signed-in browser, not another walk through the sign-in
    pages (`browser_signin_through_pages` and tests/browser/test_signin*.py walk them).
    """
    http = page.context.request
    agent = {"User-Agent": page.evaluate("navigator.userAgent")}

    def token(path):
        return CSRF_RE.search(http.get(path, headers=agent).text()).group(1)

    def post(path, form):
        r = http.post(path, form=form, headers=agent, max_redirects=0)
        assert r.status == 303, (path, r.status, r.text()[:300])
        return r

    r = post("/login", {"email": email, "password": password, "csrf_token": token("/login")})
    verify = urlsplit(r.headers["location"]).path
    form_token = token(verify)
    post(verify + "/channel", {"channel": "email", "csrf_token": form_token})
    post(verify + "/code", {"code": last_code(email), "csrf_token": form_token})
    page.goto("/settings/profile")
