"""A-13 / WEB-8 / HX-4 / HX-5 / AUD-4: hostile names, emails, phones and agents render as text."""

from html.parser import HTMLParser

import pytest
from conftest import HTMX, csrf, outbox, post, signin, user

from webapp.extensions import db
from webapp.models import User

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "{{7*7}}",
    'x" hx-get="/logout" hx-trigger="load',
    "<div hx-post='/logout' hx-trigger=load>",
    "\u202eevil",
    "<img src=x onerror=alert(1)>" + "A" * 10_000,
]
EMAIL, ADMIN = "member@example.com", "admin@example.com"


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def assert_inert(body: str, where: str):
    """No tag, handler or htmx attribute in the markup came from the payloads."""
    parser = Tags()
    parser.feed(body)
    for tag, attrs in parser.tags:
        assert tag not in ("svg", "img") or not any(a.startswith("on") for a in attrs), \
            (where, tag, attrs)
        assert not (tag == "script" and not (attrs.get("src") or "").startswith("/static/")), \
            (where, tag, attrs)
        for name, value in attrs.items():
            assert not name.startswith("on"), (where, tag, name)
            if name.startswith("hx-") and value:
                assert "/logout" not in value or tag == "form", (where, tag, name, value)
        assert tag != "div" or "hx-post" not in attrs or attrs["hx-post"] != "/logout", where
    assert "<script>alert(1)</script>" not in body, where
    assert "<svg onload" not in body and "<img src=x onerror" not in body, where
    assert 'hx-get="/logout"' not in body, where


def set_hostile(payload: str):
    with db.connection_context():
        # The column holds 120 characters (PostgreSQL enforces it); the attack is at the start.
        name = payload[:User.name.max_length]
        User.update(name=name).where(User.email.in_([EMAIL, ADMIN])).execute()


def member_pages(member_id):
    return [
        ("/settings/profile", False), ("/settings/profile/personal", True),
        ("/settings/profile/2fa", True), ("/settings/activity", False),
        ("/settings/activity", True),
    ]


def admin_pages(member_id):
    return [
        ("/settings/team", False), ("/settings/team", True),
        (f"/settings/team/{member_id}", False), (f"/settings/team/{member_id}/personal", True),
        (f"/settings/team/{member_id}/security", True), ("/settings/activity", False),
        ("/settings/activity?who=all", False),
    ]


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_a13_names_render_as_text_on_every_page_and_fragment(app, payload):
    """A-13: hostile names (also in audit user agents) are inert in pages and fragments."""
    member, admin = app.test_client(), app.test_client()
    signin(member, EMAIL)
    signin(admin, ADMIN)
    # Audit rows carry the hostile value as the user agent (AUD-4: activity view escapes it).
    post(member, "/settings/profile/password", {"current_password": "wrong"},
         headers={"User-Agent": payload[:255]})
    set_hostile(payload)
    member_id = user(EMAIL).id
    for client, pages in ((member, member_pages(member_id)), (admin, admin_pages(member_id))):
        for path, htmx in pages:
            r = client.get(path, headers=HTMX if htmx else {})
            assert r.status_code == 200, (path, r.status_code)
            assert_inert(r.get_data(as_text=True), path)
    page = member.get("/settings/profile").get_data(as_text=True)
    if payload.startswith("<script>"):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    if payload == "{{7*7}}":
        assert "{{7*7}}" in page


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_a13_verify_modal_email_and_sms_bodies_carry_names_as_plain_text(app, payload):
    """A-13: the admin's hostile name reaches the member's code email only as plain text."""
    admin = app.test_client()
    signin(admin, ADMIN)
    set_hostile(payload)
    member_id = user(EMAIL).id
    r = post(admin, f"/settings/team/{member_id}", {"name": payload[:120], "phone": "+12025550177"},
             token_from=f"/settings/team/{member_id}", htmx=True)
    # The name check refuses text-direction characters (422, nothing started); the rest open
    # the modal and are only ever shown as text.
    refused = "\u202e" in payload
    assert r.status_code == (422 if refused else 200), r.status_code
    assert_inert(r.get_data(as_text=True), "modal")
    if refused:
        return
    cid = r.get_data(as_text=True).split("/verify/")[1].split("/")[0]
    token = csrf(admin, f"/verify/{cid}")
    before = len(outbox())
    for channel in ("email", "sms"):
        admin.post(f"/verify/{cid}/channel", data={"channel": channel, "csrf_token": token},
                   headers=HTMX)
    sent = outbox()[before:]
    assert {m.kind for m in sent} == {"email"} or {m.kind for m in sent} == {"email", "sms"}
    for m in sent:
        if m.kind == "sms":
            assert payload not in m.body and "<" not in m.body  # no user data in SMS at all
        else:
            assert "{{" not in m.body.replace(payload, "")  # no template ran on the name
            assert "\r" not in m.subject and "\n" not in m.subject
            assert payload in m.body or payload[:120] in m.body  # verbatim text, never markup


@pytest.mark.parametrize("name", ["Mia\u202eredrO", "Mia\u2066Member", "Mia\x00Member",
                                  "Mia\x1bMember"])
def test_a13_names_with_bidi_overrides_or_control_characters_are_refused(member_client, name):
    """A-13: a name that reorders or hides text on screen is refused; nothing saved."""
    me = user(EMAIL)
    r = post(member_client, "/settings/profile", {"name": name, "email": me.email,
                                                  "phone": me.phone})
    assert r.status_code == 422
    assert user(EMAIL).name == me.name
