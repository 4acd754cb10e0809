"""Where an htmx answer goes: written in the markup when it never depends on the outcome,
retargeted by the server (HX-Retarget) only for forms whose answer is either their own
section or the verification modal."""

import re

import pytest
from conftest import HTMX, post, signin, user
from twofactor.helpers import enable_totp

from webapp.extensions import db
from webapp.models import User


def form_tag(html: str, action: str) -> str:
    """The opening <form> tag that posts to `action`."""
    match = re.search(r'<form method="post" action="' + re.escape(action) + r'"[^>]*>', html)
    assert match, f"no form for {action}"
    return match.group(0)


def test_forms_that_always_open_a_modal_say_so_in_the_markup(app, client):
    enable_totp(app, "member@example.com")
    signin(client, "member@example.com")
    with app.app_context(), db.connection_context():  # both Verify buttons show
        User.update(email_verified_at=None, phone_verified_at=None).where(
            User.email == "member@example.com").execute()
    html = client.get("/settings/profile").get_data(as_text=True)
    for action in ("/settings/profile/verify-email", "/settings/profile/verify-phone",
                   "/settings/profile/2fa/backup-codes", "/settings/profile/2fa/remove"):
        tag = form_tag(html, action)
        assert 'hx-target="#modal"' in tag and 'hx-swap="innerHTML"' in tag, tag


def test_the_setup_form_targets_the_modal(client):
    signin(client)
    tag = form_tag(client.get("/settings/profile").get_data(as_text=True),
                   "/settings/profile/2fa/setup/start")
    assert 'hx-target="#modal"' in tag and 'hx-swap="innerHTML"' in tag


def test_the_reset_form_targets_the_modal(app, client):
    enable_totp(app, "member@example.com")
    signin(client, "admin@example.com")
    member = user("member@example.com").id
    html = client.get(f"/settings/team/{member}").get_data(as_text=True)
    tag = form_tag(html, f"/settings/team/{member}/reset-2fa")
    assert 'hx-target="#modal"' in tag and 'hx-swap="innerHTML"' in tag


def test_sections_no_longer_fetch_themselves_after_a_change(app, client):
    enable_totp(app, "member@example.com")
    signin(client, "admin@example.com")
    pages = [client.get("/settings/profile").get_data(as_text=True),
             client.get(f"/settings/team/{user('member@example.com').id}").get_data(as_text=True)]
    for html in pages:
        assert "hx-trigger" not in html and "Changed from:body" not in html
        assert "hx-swap-oob" not in html


@pytest.mark.parametrize("fields, retargeted", [
    ({"phone": "not a number"}, False),  # errors: the section itself, where the form points
    ({"phone": "+12025550177"}, True),  # a new number: the modal instead
])
def test_the_profile_form_is_retargeted_only_to_open_the_modal(client, fields, retargeted):
    signin(client)
    me = user("member@example.com")
    data = {"name": me.name, "email": me.email, "phone": me.phone, **fields}
    r = post(client, "/settings/profile", data, htmx=True)
    assert (r.headers.get("HX-Retarget") == "#modal") is retargeted
    assert ("<dialog" in r.get_data(as_text=True)) is retargeted


def test_the_modal_opens_without_a_retarget_header(client):
    signin(client, "casey@example.com")
    r = post(client, "/settings/profile/verify-phone", {}, headers=HTMX)
    assert r.status_code == 200 and "<dialog" in r.get_data(as_text=True)
    assert "HX-Retarget" not in r.headers and "HX-Reswap" not in r.headers
