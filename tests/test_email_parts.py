"""Every email is multipart: the text part and an HTML part carrying the same facts."""

import re
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from conftest import csrf, post, signin, user
from flask import render_template
from security.helpers import cid_from

from webapp import web
from webapp.config import ROOT
from webapp.extensions import db
from webapp.models import Delivery, User
from webapp.security import channels as ch

EMAIL = "member@example.com"
SECURE = "https://crm.example/secure/tok_abc123"
# "2026-11-29 14:02", or "29 Nov 14:02" (the new sign-in notice)
TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}|\d{2} [A-Z][a-z]{2} \d{2}:\d{2}")


class _Visible(HTMLParser):
    """The text a reader sees: no <head>, <style> or <title>; tags end words."""

    def __init__(self):
        super().__init__()
        self.parts, self.hidden, self.links = [], 0, []

    def handle_starttag(self, tag, attrs):
        if tag in ("head", "style", "title", "script"):
            self.hidden += 1
        if tag == "a":
            self.links.append(dict(attrs).get("href"))
        self.parts.append(" ")

    def handle_endtag(self, tag):
        if tag in ("head", "style", "title", "script"):
            self.hidden -= 1
        self.parts.append(" ")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible(html: str) -> tuple[str, list]:
    parser = _Visible()
    parser.feed(html)
    return " ".join("".join(parser.parts).split()), parser.links


def words(text: str) -> str:
    return " ".join(text.split())


# (template, notify context): every email notice the app sends, in each of its variants.
def notices(admin: User) -> list[tuple[str, dict]]:
    return [
        ("email/password_changed.txt", {}),
        ("email/phone_changed.txt", {"actor": admin, "for_member": False,
                                     "new": ch.mask_phone("+12025550177")}),
        ("email/phone_changed.txt", {"actor": admin, "for_member": True,
                                     "new": ch.mask_phone("+12025550177")}),
        ("email/email_changed.txt", {"actor": admin, "for_member": False,
                                     "old": ch.mask_email(EMAIL),
                                     "new": ch.mask_email("new.address@example.org")}),
        ("email/email_changed.txt", {"actor": admin, "for_member": True,
                                     "old": ch.mask_email(EMAIL),
                                     "new": ch.mask_email("new.address@example.org")}),
        ("email/address_in_use.txt", {}),
        ("email/backup_code_used.txt", {"left": 2, "low": True}),
        ("email/backup_code_used.txt", {"left": 7, "low": False}),
        ("email/backup_codes_regenerated.txt", {}),
        ("email/locked.txt", {"method": "Text message"}),
        ("email/totp_enabled.txt", {}),
        ("email/totp_disabled.txt", {}),
        ("team/email/two_factor_reset.txt", {"actor": admin}),
        ("email/new_sign_in.txt", {"secure_url": SECURE, "secure_days": 7}),
        ("email/password_reset_done.txt", {"secure_url": SECURE, "secure_days": 7}),
        ("email/password_reset.txt", {"url": "https://crm.example/password/reset/tok_x",
                                      "minutes": 30}),
        ("team/email/invitation.txt", {"url": "https://crm.example/join/tok_y",
                                       "organization": "Aesthetix Demo", "inviter": admin,
                                       "days": 7}),
        ("team/email/invitation_address_in_use.txt", {"organization": "Aesthetix Demo",
                                                      "inviter": admin}),
        ("team/email/removed.txt", {"organization": "Aesthetix Demo"}),
        ("email/passkey_added.txt", {"name": "MacBook Touch ID"}),
        ("email/passkey_added.txt", {"name": "MacBook Touch ID", "secure_url": SECURE,
                                     "secure_days": 7}),
        ("email/passkey_removed.txt", {"name": "MacBook Touch ID"}),
        ("email/passkey_cloned.txt", {"name": "YubiKey 5"}),
        ("email/passkey_sign_in.txt", {"name": "YubiKey 5"}),
        ("rules/email/rules_changed.txt", {
            "org": SimpleNamespace(name="Aesthetix Demo"), "actor": admin, "forgotten": 2,
            "old": {"require_strong_factor": False, "grace_days": 7, "allow_remember": True},
            "new": {"require_strong_factor": True, "grace_days": 3, "allow_remember": False}}),
    ]


def email_templates() -> set[str]:
    found = set()
    for folder in (ROOT / "templates").rglob("email"):
        for path in folder.glob("*.txt"):
            if path.name.startswith("_"):  # an include (email/_secure.txt), not an email
                continue
            found.add(path.relative_to(ROOT / "templates").as_posix())
    return found


def render_notice(app, template, context, secure_url=None) -> Delivery:
    """Through web.notify itself: the row it keeps holds both parts."""
    extra = {"secure_url": secure_url, "secure_days": 7} if secure_url else {}
    with app.test_request_context(environ_base={"REMOTE_ADDR": "203.0.113.9"}), \
            db.connection_context():
        member = User.by_email(EMAIL)
        assert web.notify(member, "subject", template, **context, **extra)
        return Delivery.select().order_by(Delivery.id.desc()).get()


def assert_same_facts(text: str, html: str, facts: list[str]) -> None:
    seen, _ = visible(html)
    # Every line of the text part reads the same in the HTML part ...
    for line in text.splitlines():
        if line.strip():
            assert words(line) in seen, (line, seen)
    # ... and the facts that matter are in both, spelled the same.
    for fact in facts:
        assert fact in text, (fact, text)
        assert fact in seen, (fact, seen)


def test_every_email_template_has_an_html_part_and_is_covered_here(app):
    """A new email without an HTML sibling, or missing from this test, fails here."""
    with app.app_context(), db.connection_context():
        admin = User.by_email("admin@example.com")
        covered = {t for t, _ in notices(admin)} | {"email/code.txt"}
    assert email_templates() == covered
    for template in covered:
        assert (ROOT / "templates" / web.html_template(template)).exists(), template


def test_each_notice_carries_the_same_facts_in_both_parts(app):
    with app.app_context(), db.connection_context():
        admin = User.by_email("admin@example.com")
        cases = notices(admin)
    for template, context in cases:
        row = render_notice(app, template, context)
        text, html = row.body, row.html
        assert html and html.lstrip().lower().startswith("<!doctype html>"), template
        facts = TIME_RE.findall(text)
        if "url" in context:  # a link email (reset, invitation): the link, no time
            facts.append(context["url"])
            if context.get("minutes"):
                facts.append(f"{context['minutes']} minutes")
        if "inviter" in context:
            facts += [context["inviter"].display_name, context["organization"]]
        if "url" not in context and "inviter" not in context:
            assert facts, f"{template}: no time in the notice"
        facts += [v for v in (context.get("new"), context.get("old"), context.get("name"))
                  if isinstance(v, str)]
        if "203.0.113.9" in text:
            facts.append("203.0.113.9")
        if context.get("for_member") or "two_factor_reset" in template:
            facts.append(admin.display_name)
        if "left" in context:
            facts.append(str(context["left"]))
        if not template.endswith(("address_in_use.txt", "invitation.txt")):
            facts.append("Mia")  # the greeting names the member
        assert_same_facts(text, html, facts)
        # No "Not you? Secure your account" link unless one is given.
        if "secure_url" not in context:
            assert "/secure/" not in text and "/secure/" not in html


def test_the_secure_link_is_a_button_in_html_and_a_line_in_text(app):
    row = render_notice(app, "email/password_changed.txt", {}, secure_url=SECURE)
    seen, links = visible(row.html)
    assert SECURE in links
    assert re.search(r'<a class="button" href="' + re.escape(SECURE) + r'"[^>]*>'
                     r"Not you\? Secure your account</a>", row.html)
    assert SECURE in row.body and "Secure your account" in row.body


@pytest.mark.parametrize("admin_asks", [False, True])
def test_the_code_email_has_the_code_in_a_large_monospace_block(app, admin_asks):
    with app.test_request_context(), db.connection_context():
        member = User.by_email(EMAIL)
        admin = User.by_email("admin@example.com")
        data = dict(code="482913", minutes=5, purpose="change your phone number",
                    actor=admin if admin_asks else member, subject=member, change=None)
        text = render_template("email/code.txt", **data)
        html = render_template("email/code.html", **data)
    facts = ["482913", "5 minutes", "change your phone number"]
    if admin_asks:
        facts.append(admin.display_name)
    assert_same_facts(text, html, facts)
    block = re.search(r'<div class="code" style="([^"]+)"[^>]*>\s*482913\s*</div>', html)
    assert block, html
    style = block.group(1)
    assert "monospace" in style
    assert int(re.search(r"font-size:\s*(\d+)px", style).group(1)) >= 28


def test_html_parts_need_nothing_remote_and_suit_dark_mode_and_phones(app):
    with app.app_context(), db.connection_context():
        admin = User.by_email("admin@example.com")
        cases = notices(admin)
    for template, context in cases:
        html = render_notice(app, template, context).html
        assert not re.search(r"<img|<link|url\(|@import|<script", html, re.I), template
        assert not re.search(r'src="', html), template
        assert '<meta name="color-scheme" content="light dark">' in html
        assert "prefers-color-scheme: dark" in html
        assert 'name="viewport" content="width=device-width' in html
        assert "max-width:560px" in html


def test_an_email_sent_over_smtp_is_multipart_with_both_parts(app_factory, smtp_server,
                                                             sms_receiver):
    """At a real SMTP server: the code email and a notice, each text/plain + text/html."""
    app = app_factory(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    client = app.test_client()
    signin(client, EMAIL, channel="sms")
    me = user(EMAIL)
    cid = cid_from(post(client, "/settings/profile", {"name": me.name, "email": me.email,
                                                      "phone": "+12025550177"}))
    token = csrf(client, f"/verify/{cid}")
    client.post(f"/verify/{cid}/channel", data={"channel": "email", "csrf_token": token})
    [code_mail] = [m for m in smtp_server.messages if "code" in m["subject"]]
    code = re.search(r"\d{6}", code_mail["subject"]).group(0)
    assert code_mail["type"] == "multipart/alternative"
    assert code in code_mail["body"] and code in visible(code_mail["html"])[0]
    r = client.post(f"/verify/{cid}/code", data={"code": code, "csrf_token": token})
    assert r.status_code == 303
    [notice] = [m for m in smtp_server.messages if m["subject"] == "Your phone number was changed"]
    assert notice["type"] == "multipart/alternative"
    assert "0177" in notice["body"] and "0177" in visible(notice["html"])[0]
