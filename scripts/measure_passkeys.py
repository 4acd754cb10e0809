"""Sign-in with a passkey against sign-in with a password and an emailed code: HTTP requests
to the app and wall time in Chromium (a virtual authenticator answers at once; the code is
read from the outbox, so neither includes a person's typing or reading time).

Usage: `.venv/bin/python scripts/measure_passkeys.py [rounds]` (prints medians).
"""

import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))

from screenshots import DEMO_PASSWORD, last_email_code, serve  # noqa: E402

EMAIL = "admin@example.com"


def counted(page):
    """The app requests a page makes (static files apart), from now on."""
    seen = {"app": 0, "static": 0}

    def on_request(request):
        seen["static" if "/static/" in request.url else "app"] += 1

    page.on("request", on_request)
    return seen, on_request


def password_and_code(page, app):
    page.fill("#email", EMAIL)
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/verify/"))
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    page.fill("#code", last_email_code(app, EMAIL))
    page.click("[data-action=verify]")
    page.wait_for_url(re.compile(r"/settings/profile$"))


def with_passkey(page, app):
    page.click("[data-action=passkey-sign-in]")
    page.wait_for_url(re.compile(r"/settings/profile$"))


def main(rounds: int = 5) -> int:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    results = {"password + email code": [], "passkey": []}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        # Many sign-ins in a row: the code-sending limits would stop the emailed codes.
        app, server = serve(Path(tmp), CODE_SENDS_PER_DESTINATION="1000 per hour",
                            CODE_SENDS_PER_ACCOUNT="1000 per hour")
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(base_url=f"http://localhost:{server.server_port}")
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable", {"enableUI": False})
        cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True,
            "automaticPresenceSimulation": True}})
        page.goto("/login")
        password_and_code(page, app)
        page.click("[data-action=add-passkey]")
        page.check("input[name=channel][value=email]")
        page.click("[data-action=continue]")
        page.wait_for_selector("#modal #code")
        page.fill("#code", last_email_code(app, EMAIL))
        page.click("[data-action=verify]")
        page.click("[data-action=create-passkey]")
        page.wait_for_selector("#modal dialog", state="detached")
        for _ in range(rounds):
            for name, flow in (("password + email code", password_and_code),
                               ("passkey", with_passkey)):
                page.click("header button:has-text('Sign out')")
                page.wait_for_url(re.compile(r"/login"))
                page.wait_for_load_state("load")
                seen, handler = counted(page)
                start = time.perf_counter()
                flow(page, app)
                page.wait_for_load_state("load")
                results[name].append((time.perf_counter() - start, seen["app"], seen["static"]))
                page.remove_listener("request", handler)
        browser.close()
        server.shutdown()
    for name, runs in results.items():
        seconds = statistics.median(r[0] for r in runs)
        app_requests = statistics.median(r[1] for r in runs)
        print(f"{name:<24} {app_requests:>3.0f} app requests (from the sign-in page to My "
              f"Profile), median {seconds * 1000:.0f} ms over {len(runs)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
