"""The HTML part of the emails in Chromium: a phone's width without sideways scrolling, a
large monospace code, dark colours when the reader's client asks, readable contrast.

The notice comes from a real password change in the browser (JavaScript on and off), through
the delivery table, to the dev outbox page, which still lists it."""

import re

import pytest
from conftest import PASSWORD
from flask import render_template

from browser.conftest import browser_signin
from webapp.extensions import db
from webapp.models import OutboxMessage, User

NEW_PASSWORD = "a calmer harbour at dawn 42"
NOTICE = "Your password was changed"

LUMINANCE = """(el) => {
  const rgb = (s) => s.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
  const lum = (c) => { const [r, g, b] = c.map((v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  let node = el, bg = 'rgba(0, 0, 0, 0)';
  while (node && (bg === 'rgba(0, 0, 0, 0)' || bg === 'transparent')) {
    bg = getComputedStyle(node).backgroundColor; node = node.parentElement; }
  const fg = lum(rgb(getComputedStyle(el).color)), back = lum(rgb(bg));
  return {fg, back, ratio: (Math.max(fg, back) + 0.05) / (Math.min(fg, back) + 0.05)};
}"""


def last_email(subject_part: str) -> OutboxMessage:
    with db.connection_context():
        return (OutboxMessage.select()
                .where((OutboxMessage.kind == "email")
                       & OutboxMessage.subject.contains(subject_part))
                .order_by(OutboxMessage.id.desc()).first())


def look_at(browser, html: str, scheme: str, width: int = 360):
    context = browser.new_context(viewport={"width": width, "height": 760},
                                  color_scheme=scheme, java_script_enabled=True)
    page = context.new_page()
    page.set_content(html)
    return context, page


def assert_readable(page, selector: str, scheme: str):
    found = page.eval_on_selector(selector, LUMINANCE)
    assert found["ratio"] >= 4.5, (selector, scheme, found)
    if scheme == "dark":
        assert found["back"] < 0.05 and found["fg"] > 0.5, (selector, found)
    else:
        assert found["back"] > 0.8 and found["fg"] < 0.1, (selector, found)


@pytest.mark.config(DEV_OUTBOX=True)
def test_password_change_notice_in_the_browser_and_its_html_part(any_page, browser):
    page = any_page
    browser_signin(page)
    page.fill("#current_password", PASSWORD)
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#confirm_password", NEW_PASSWORD)
    page.click("[data-action=update-password]")
    page.wait_for_url(re.compile(r"/settings/profile"))
    page.get_by_text("Password updated").first.wait_for()
    # Sent right after the change committed; the dev outbox lists it as before.
    page.goto("/dev/outbox")
    notice = page.locator("article.message[data-kind=email]", has_text=NOTICE).first
    notice.wait_for()
    msg = last_email(NOTICE)
    assert msg.html
    for scheme in ("light", "dark"):
        context, email = look_at(browser, msg.html, scheme)
        try:
            assert email.evaluate("document.documentElement.scrollWidth") <= 360
            assert_readable(email, ".card p", scheme)
            assert "changed on" in email.locator(".card").inner_text()
        finally:
            context.close()


def test_the_code_email_shows_a_large_monospace_code_on_a_phone(app, browser):
    with app.test_request_context(), db.connection_context():
        member = User.by_email("member@example.com")
        html = render_template("email/code.html", code="482913", minutes=5,
                               purpose="change your phone number", actor=member,
                               subject=member, change=None)
    for scheme in ("light", "dark"):
        context, page = look_at(browser, html, scheme)
        try:
            assert page.evaluate("document.documentElement.scrollWidth") <= 360
            code = page.locator("[data-code]")
            assert code.inner_text().strip() == "482913"
            style = code.evaluate("(el) => ({size: parseFloat(getComputedStyle(el).fontSize),"
                                  " family: getComputedStyle(el).fontFamily,"
                                  " width: el.getBoundingClientRect().width})")
            assert style["size"] >= 28 and "monospace" in style["family"], style
            assert style["width"] <= 340
            assert_readable(page, "[data-code]", scheme)
        finally:
            context.close()
