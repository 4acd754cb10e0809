"""Screenshots for the README: My Profile, the verify modal, the code email, the authenticator
setup and the backup codes, the invite dialog and "Join <organisation>", "Forgot password?"
and "Secure your account", passkeys, "Remember this browser" and the team's Security rules,
on a desktop and at 360 px phone width.

Runs the app on a throwaway SQLite database with the demo team, drives Debian's chromium
through Playwright and writes docs/screenshots/*.png.  Usage: `make screenshots`.
"""

import logging
import re
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import pyotp
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webapp import create_app  # noqa: E402
from webapp.cli import DEMO_PASSWORD, seed_demo  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import OutboxMessage  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
SIZES = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 360, "height": 760}}


def serve(tmp: Path, **overrides):
    app = create_app({
        "DATABASE_URL": f"sqlite:///{tmp / 'screens.db'}",
        "SECRET_KEY": "screenshots-only-" + "x" * 32,
        "RATELIMIT_STORAGE_URI": "memory://",
        "MAIL_BACKEND": "outbox",
        "SMS_BACKEND": "outbox",
        **overrides,
    })
    from webapp.db import migrate

    with app.app_context():
        migrate()
        with db.connection_context():
            seed_demo(DEMO_PASSWORD)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return app, server


def last_email_code(app, to: str) -> str:
    with app.app_context(), db.connection_context():
        msg = (OutboxMessage.select()
               .where((OutboxMessage.to == to) & (OutboxMessage.kind == "email"))
               .order_by(OutboxMessage.id.desc()).first())
    return re.search(r"\b(\d{6})\b", msg.body).group(1)


def last_email_html(app, to: str) -> str:
    with app.app_context(), db.connection_context():
        msg = (OutboxMessage.select()
               .where((OutboxMessage.to == to) & (OutboxMessage.kind == "email"))
               .order_by(OutboxMessage.id.desc()).first())
    return msg.html


def shoot_email(browser, app, email: str, size: str, scheme: str = "light"):
    """The HTML part of the last email (the code), as a mail client would show it."""
    context = browser.new_context(viewport=SIZES[size], color_scheme=scheme,
                                  is_mobile=size == "phone", java_script_enabled=False)
    page = context.new_page()
    page.set_content(last_email_html(app, email))
    suffix = "" if scheme == "light" else f"-{scheme}"
    shoot(page, "email-code" + suffix, size, full=True)
    context.close()


def sign_in(page, app, email: str):
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/verify/"))
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    page.fill("#code", last_email_code(app, email))
    page.click("[data-action=verify]")
    page.wait_for_url(re.compile(r"/settings/profile"))


def shoot(page, name: str, size: str, *, full=False):
    page.evaluate("document.activeElement?.blur()")
    page.wait_for_timeout(150)
    path = OUT / f"{name}-{size}.png"
    page.screenshot(path=str(path), full_page=full)
    print(f"wrote {path.relative_to(ROOT)}")


def run(browser, app, server, size: str, email: str):
    context = browser.new_context(base_url=f"http://127.0.0.1:{server.server_port}",
                                  viewport=SIZES[size], reduced_motion="reduce",
                                  color_scheme="light", is_mobile=size == "phone")
    page = context.new_page()
    sign_in(page, app, email)
    shoot(page, "profile", size, full=True)

    page.fill("#phone", "+1 202 555 0199")
    page.click("[data-action=update-profile]")
    page.wait_for_selector("#modal dialog[open]")
    shoot(page, "verify-choose", size)
    page.click("[data-action=continue]")
    page.wait_for_selector("#modal #code")
    shoot(page, "verify-code", size)
    shoot_email(page.context.browser, app, email, size)
    if size == "phone":
        shoot_email(page.context.browser, app, email, size, scheme="dark")
    page.keyboard.press("Escape")
    page.wait_for_selector("#modal dialog", state="detached")

    # Adding an authenticator is a step-up: a code from a trusted channel, then the QR code.
    page.click("[data-action=setup-totp]")
    page.wait_for_selector("#modal dialog[open] #verify-step")
    page.click("[data-action=continue]")
    page.wait_for_selector("#modal #code")
    page.fill("#code", last_email_code(app, email))
    page.click("[data-action=verify]")
    page.wait_for_selector("#modal dialog[open] #totp-secret")
    shoot(page, "totp-setup", size)
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.fill("#totp-code", pyotp.TOTP(secret).now())
    page.click("[data-action=totp-next]")
    page.wait_for_selector("#backup-codes li")
    shoot(page, "backup-codes", size, full=True)
    context.close()
    recovery(browser, app, server, size, email)


def last_link(app, to: str, kind: str) -> str:
    """The path of the newest emailed link of that kind ("password/reset", "secure")."""
    with app.app_context(), db.connection_context():
        for msg in (OutboxMessage.select()
                    .where((OutboxMessage.to == to) & (OutboxMessage.kind == "email"))
                    .order_by(OutboxMessage.id.desc())):
            match = re.search(rf"https?://[^/\s]+(/{kind}/[A-Za-z0-9_-]+)", msg.body)
            if match:
                return match.group(1)
    raise SystemExit(f"no {kind} link to {to}")


def recovery(browser, app, server, size: str, email: str):
    """"Forgot password?" and the "Secure your account" page the authenticator notice links
    to, in a browser that is not signed in."""
    context = browser.new_context(base_url=f"http://127.0.0.1:{server.server_port}",
                                  viewport=SIZES[size], reduced_motion="reduce",
                                  color_scheme="light", is_mobile=size == "phone")
    page = context.new_page()
    page.goto("/login")
    page.click("[data-action=forgot-password]")
    page.wait_for_selector("#forgot")
    page.fill("#email", email)
    shoot(page, "forgot-password", size)
    page.goto(last_link(app, email, "secure"))
    page.wait_for_selector("[data-action=secure-account]")
    shoot(page, "secure-account", size, full=True)
    context.close()


def last_join_path(app, to: str) -> str:
    with app.app_context(), db.connection_context():
        msg = (OutboxMessage.select()
               .where((OutboxMessage.to == to) & (OutboxMessage.kind == "email"))
               .order_by(OutboxMessage.id.desc()).first())
    return re.search(r"/join/[\w-]+", msg.body).group(0)


def run_team(browser, app, server, size: str):
    """Settings > Team as an owner: the invite dialog, the pending list, "Join <organisation>"."""
    context = browser.new_context(base_url=f"http://127.0.0.1:{server.server_port}",
                                  viewport=SIZES[size], reduced_motion="reduce",
                                  color_scheme="light", is_mobile=size == "phone")
    page = context.new_page()
    sign_in(page, app, "owner@example.com")
    page.goto("/settings/team")
    page.click("[data-action=invite]")
    page.wait_for_selector("#modal dialog[open] #invite")
    invitee = f"nina.{size}@example.com"
    page.fill("#email", invitee)
    page.select_option("#role", "admin")
    shoot(page, "invite", size)
    page.click("[data-action=send-invitation]")
    page.wait_for_selector("#modal dialog", state="detached")
    page.wait_for_selector(f"[data-invitation][data-email='{invitee}']")
    page.locator("#invitations").scroll_into_view_if_needed()
    shoot(page, "invitations", size)
    context.close()
    # The invitee's side, in a browser of their own.
    context = browser.new_context(base_url=f"http://127.0.0.1:{server.server_port}",
                                  viewport=SIZES[size], reduced_motion="reduce",
                                  color_scheme="light", is_mobile=size == "phone")
    page = context.new_page()
    page.goto(last_join_path(app, invitee))
    page.fill("#name", "Nina New")
    shoot(page, "join", size)
    context.close()


def passkeys(browser, app, server, size: str, email: str):
    """Passkeys with Chromium's virtual authenticator, at localhost (browsers refuse passkeys
    on an IP address): the dialog after the step-up, the list, and the sign-in button."""
    context = browser.new_context(base_url=f"http://localhost:{server.server_port}",
                                  viewport=SIZES[size], reduced_motion="reduce",
                                  color_scheme="light", is_mobile=size == "phone")
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})
    sign_in(page, app, email)
    page.click("[data-action=add-passkey]")
    page.wait_for_selector("#modal dialog[open] #verify-step")
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#modal #code")
    page.fill("#code", last_email_code(app, email))
    page.click("[data-action=verify]")
    page.wait_for_selector("#modal dialog[open] #passkey-register")
    shoot(page, "passkey-add", size)
    page.click("[data-action=create-passkey]")
    page.wait_for_selector("#modal dialog", state="detached")
    page.goto("/settings/profile/passkeys")
    shoot(page, "passkeys", size, full=True)
    page.click("header button:has-text('Sign out')")
    page.wait_for_url(re.compile(r"/login"))
    shoot(page, "passkey-sign-in", size)
    context.close()


def run_remember_and_rules(browser, app, server, size: str, email: str):
    """The sign-in code step with "Don't ask again on this browser", the Remembered browsers
    list, the owner's Security rules and the countdown banner a member then sees."""
    context = browser.new_context(base_url=f"http://127.0.0.1:{server.server_port}",
                                  viewport=SIZES[size], reduced_motion="reduce",
                                  color_scheme="light", is_mobile=size == "phone")
    page = context.new_page()
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/verify/"))
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    page.fill("#code", last_email_code(app, email))
    page.check("input[name=remember]")
    shoot(page, "remember-code", size)
    page.click("[data-action=verify]")
    page.wait_for_url(re.compile(r"/settings/profile"))
    page.locator("#sessions").scroll_into_view_if_needed()
    page.wait_for_timeout(150)
    page.locator("#sessions").screenshot(path=str(OUT / f"remembered-browsers-{size}.png"))
    print(f"wrote docs/screenshots/remembered-browsers-{size}.png")
    context.close()

    context = browser.new_context(base_url=f"http://127.0.0.1:{server.server_port}",
                                  viewport=SIZES[size], reduced_motion="reduce",
                                  color_scheme="light", is_mobile=size == "phone")
    page = context.new_page()
    page.goto("/login")
    page.fill("#email", "owner@example.com")
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/verify/"))
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    page.fill("#code", last_email_code(app, "owner@example.com"))
    page.click("[data-action=verify]")
    page.wait_for_url(re.compile(r"/settings/profile"))
    page.goto("/settings/team/rules")
    page.check("input[name=require_strong_factor]")
    page.click("[data-action=save-rules]")
    page.wait_for_selector("[data-missing]")
    shoot(page, "security-rules", size, full=True)
    context.close()

    context = browser.new_context(base_url=f"http://127.0.0.1:{server.server_port}",
                                  viewport=SIZES[size], reduced_motion="reduce",
                                  color_scheme="light", is_mobile=size == "phone")
    page = context.new_page()
    sign_in(page, app, "casey@example.com")
    page.wait_for_selector("[data-strong-factor-banner]")
    shoot(page, "strong-factor-banner", size)
    context.close()


def main() -> int:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        app, server = serve(Path(tmp))
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            run_team(browser, app, server, "desktop")
            run_team(browser, app, server, "phone")
            # A different account per size: each sets up its own authenticator app.
            run(browser, app, server, "desktop", "member@example.com")
            run(browser, app, server, "phone", "owner@example.com")
            passkeys(browser, app, server, "desktop", "admin@example.com")
            passkeys(browser, app, server, "phone", "casey@example.com")
            # Last: the rule they turn on applies to everyone after it.
            run_remember_and_rules(browser, app, server, "desktop", "admin@example.com")
            run_remember_and_rules(browser, app, server, "phone", "admin@example.com")
        finally:
            browser.close()
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
