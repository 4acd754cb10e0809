"""Two-factor in a real browser, JavaScript on and off: set up from the QR code like an
authenticator app would, sign in with the app and with a backup code, regenerate codes."""

import io
import re
import time

import pytest
from conftest import PASSWORD, last_code, user
from playwright.sync_api import expect
from twofactor.helpers import enable_totp, next_code, parse_otpauth, rfc6238

from browser.conftest import browser_second_step, browser_signin

pytestmark = pytest.mark.browser


def watch_csp(page):
    page.csp = []
    page.on("console", lambda m: page.csp.append(m.text)
            if "Content Security Policy" in m.text else None)


def read_qr(page) -> str:
    """Photograph the QR code on the page and decode it with a standard QR reader."""
    import zxingcpp
    from PIL import Image

    # caret="initial": hiding the caret would put style="" on every input on the page.
    png = page.locator("svg#totp-qr").screenshot(caret="initial", animations="allow")
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    # The reader sometimes reports the same symbol twice: one QR code, one text.
    texts = {b.text for b in found if b.format == zxingcpp.BarcodeFormat.QRCode}
    assert len(texts) == 1, f"expected one QR code in the screenshot, read {texts}"
    return texts.pop()


def sign_in_with(page, channel: str, code_for):
    browser_second_step(page, "member@example.com", PASSWORD, channel, code_for)
    page.wait_for_url(re.compile(r"/settings/profile"))


def test_set_up_from_the_qr_code_then_sign_in_with_the_app(any_page):
    page = any_page
    watch_csp(page)
    browser_signin(page)
    page.click("[data-action=setup-totp]")
    # Adding a factor is a step-up: first a code from a channel the account already trusts.
    if page.js:
        page.wait_for_selector("#modal dialog[open] #verify-step[data-step=choose]")
    else:
        page.wait_for_url(re.compile(r"/verify/"))
    assert page.locator("svg#totp-qr").count() == 0
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    page.fill("#code", last_code("member@example.com"))
    page.click("[data-action=verify]")
    if page.js:
        page.wait_for_selector("#modal dialog[open] svg#totp-qr")
        assert page.url.endswith("/settings/profile")
    else:
        page.wait_for_url(re.compile(r"/2fa/setup$"))
    assert page.locator("svg#totp-qr title").count() == 1
    uri = read_qr(page)
    params = parse_otpauth(uri)
    assert uri.startswith("otpauth://totp/Aesthetix%20CRM:member@example.com?secret=")
    assert params["issuer"] == "Aesthetix CRM" and params["account"] == "member@example.com"
    secret = params["secret"]
    assert page.inner_text("#totp-secret").replace(" ", "") == secret

    # A wrong code first: the error shows and setup stays open with the same key.
    good = rfc6238(secret, time.time())
    page.fill("#totp-code", f"{(int(good) + 500_000) % 10**6:06d}")
    page.click("[data-action=totp-next]")
    page.wait_for_selector("#totp-code-error:not([hidden])")
    assert page.inner_text("#totp-secret").replace(" ", "") == secret

    code, step = next_code(secret)
    page.fill("#totp-code", code)
    page.click("[data-action=totp-next]")
    page.wait_for_selector("#backup-codes li")
    codes = page.locator("#backup-codes li").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", c)
                                    for c in codes)
    assert "Each code works once. Store them somewhere safe." in page.content()
    page.click("[data-action=codes-done]")
    if page.js:
        page.wait_for_selector("#modal dialog", state="detached")
    page.wait_for_selector("[data-totp=on]")
    assert "10 unused backup codes" in page.inner_text("#two-factor")

    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/login"))
    # The app's next code (the setup code's step is used up).
    sign_in_with(page, "totp", lambda: next_code(secret, step)[0])
    assert page.locator("h1").inner_text() == "My Profile"
    assert not page.errors and not page.csp


def test_sign_in_with_a_backup_code(any_page, app):
    page = any_page
    _, codes = enable_totp(app, "member@example.com")
    sign_in_with(page, "backup", lambda: codes[4].lower().replace("-", " "))
    assert "9 unused backup codes" in page.inner_text("#two-factor")
    assert not page.errors


def test_sign_in_with_the_app(any_page, app):
    page = any_page
    secret, _ = enable_totp(app, "member@example.com")
    sign_in_with(page, "totp", lambda: next_code(secret)[0])
    assert page.locator("[data-totp=on]").count() == 1
    assert not page.errors


def test_regenerate_backup_codes(any_page, app):
    page = any_page
    watch_csp(page)
    _, old = enable_totp(app, "member@example.com")
    browser_signin(page)
    page.click("[data-action=regenerate-backup-codes]")
    if page.js:
        page.wait_for_selector("#modal dialog[open] #verify-step")
    else:
        page.wait_for_url(re.compile(r"/verify/"))
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    page.fill("#code", last_code("member@example.com"))
    page.click("[data-action=verify]")
    page.wait_for_selector("#backup-codes li")
    new = page.locator("#backup-codes li").all_inner_texts()
    assert len(new) == 10 and not set(new) & set(old)
    if page.js:
        with page.expect_download() as info:
            page.click("[data-action=download-codes]")
        download = info.value
        assert download.suggested_filename == "aesthetix-backup-codes.txt"
        text = open(download.path()).read()
        assert all(code in text for code in new)
        # Copy: the codes go to the clipboard and the page's own "Copied." is the toast.
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        page.click("[data-action=copy-codes]")
        expect(page.locator("#toasts .toast").last).to_have_text("Copied.")
        assert page.evaluate("navigator.clipboard.readText()").split() == new
    page.click("[data-action=codes-done]")
    page.wait_for_selector("[data-backup-left='10']")
    assert user("member@example.com").totp_enabled
    assert not page.errors and not page.csp


def test_remove_the_app(any_page, app):
    page = any_page
    enable_totp(app, "member@example.com")
    browser_signin(page)
    page.click("[data-action=remove-totp]")
    page.wait_for_selector("input[name=channel][value=email]")
    page.check("input[name=channel][value=email]")
    page.click("[data-action=continue]")
    page.wait_for_selector("#code")
    page.fill("#code", last_code("member@example.com"))
    if page.js:  # one answer: the modal closes and the section comes along, out of band
        requests = []
        page.on("request", lambda r: requests.append(r.url))
    page.click("[data-action=verify]")
    page.wait_for_selector("[data-totp=off]")
    if page.js:
        page.wait_for_timeout(500)
        assert len(requests) == 1 and requests[0].endswith("/code")
        assert page.locator("#modal dialog").count() == 0
    assert not user("member@example.com").totp_enabled
    assert not page.errors
