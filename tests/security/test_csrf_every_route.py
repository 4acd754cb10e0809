"""CSRF on every state-changing route, generated from the URL map: a new route is covered.

For each route, signed in as the person it is for (the sign-in routes signed out): no token,
another session's valid token, and htmx with another session's token in X-CSRFToken are all
refused with 400 and write nothing; the same request with this session's own token gets past
the check, so the refusals are the token's doing and not a bad request.
"""

import hashlib

import pytest
from conftest import HTMX, PASSWORD, csrf, last_code, signin, user
from peewee import Table

from security.helpers import cid_from, password_step
from webapp import create_app, links
from webapp.extensions import db
from webapp.models import Passkey

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Routes that take no CSRF token by design, each with the reason. None today: /logout checks
# it too (a forged sign-out is a nuisance an attacker's page must not be able to cause).
CSRF_EXEMPT_BY_DESIGN: dict[str, str] = {}
CSRF_MESSAGE = "came from another site"
NEW_PHONE = "+12025550177"
NEW_PASSWORD = "a brand new passphrase 42"


def state_changing_routes() -> list[tuple[str, str]]:
    """(method, rule) for every route that writes, read from the app's URL map."""
    # Only the URL map is read: no request is made and no database is opened.
    app = create_app({"TESTING": True, "SECRET_KEY": "x" * 40,
                      "DATABASE_URL": "sqlite:///:memory:"})
    return sorted((method, rule.rule) for rule in app.url_map.iter_rules()
                  for method in rule.methods & WRITE_METHODS)


def who_for(rule: str) -> str:
    """Who a route is for: the state it is exercised in."""
    if rule.startswith(("/login", "/password/", "/secure/", "/join/")):
        return "signed_out"
    if rule.startswith("/impersonation/"):
        return "impersonating"
    if rule.startswith("/settings/team/"):
        return "owner"
    return "member"  # My Profile, two-factor, the verification steps, sign-out


def table_digest() -> dict:
    """Every table's row count and a digest of its rows (last_seen_at aside: a read may move it)."""
    out = {}
    with db.connection_context():
        for table in sorted(db.get_tables()):
            # (bytes as hex: PostgreSQL hands a BLOB back as a memoryview, whose repr is
            # its address)
            rows = sorted(repr(sorted((k, bytes(v).hex() if isinstance(v, memoryview) else v)
                                      for k, v in row.items() if k != "last_seen_at"))
                          for row in Table(table).select().bind(db).dicts())
            out[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return out


def is_csrf_refusal(response) -> bool:
    return response.status_code == 400 and CSRF_MESSAGE in response.get_data(as_text=True)


@pytest.fixture
def signed_in(app):
    """A client for each kind of person, plus the values that fill a route's path and form."""

    def invite(email):
        """A pending invitation and its link's token, as the owner sends it."""
        from webapp.models import Membership, utcnow
        from webapp.team import invitations

        with app.app_context(), db.connection_context():
            owner = user("owner@example.com")
            seat = Membership.get(Membership.user == owner.id)
            return invitations.create(seat.organization_id, owner, email, "member", utcnow())

    def make(who: str, *, plain: bool = False):
        client = app.test_client()
        if who == "signed_out":
            r = password_step(client)  # half-way through a sign-in: /login/cancel has a target
            assert r.status_code == 303
            return client, {**emailed_links(app), "join_token": invite("joiner@example.com")[1]}
        signin(client, "owner@example.com" if who in ("owner", "impersonating")
               else "member@example.com")
        if plain:
            return client, {}
        member_id = user("member@example.com").id
        if who == "impersonating":
            r = client.post(f"/settings/team/{member_id}/login-as",
                            data={"csrf_token": csrf(client, "/settings/profile")})
            assert r.status_code == 303
            return client, {"user_id": member_id}
        if who == "owner":
            return client, {"user_id": member_id,
                            "invitation_id": invite("pending@example.com")[0].id}
        # The member's own phone change, with a code sent: the verification steps' target.
        token = csrf(client, "/settings/profile")
        r = client.post("/settings/profile", data={
            "csrf_token": token, "name": "Mia Member", "email": "member@example.com",
            "phone": "+12025550199"})
        cid = cid_from(r)
        r = client.post(f"/verify/{cid}/channel", data={"channel": "email", "csrf_token": token})
        assert r.status_code == 303
        # A passkey of the member's: the passkey routes' target.
        with db.connection_context():
            passkey = Passkey.create(user=user("member@example.com").id, credential_id="AAAA",
                                     public_key=b"k", user_handle="aGg", name="Laptop")
        return client, {"cid": cid, "code": last_code("member@example.com"), "pid": passkey.id}

    return make


def emailed_links(app) -> dict:
    """A live reset link and a live Secure-your-account link of the member (their tokens)."""
    with app.app_context(), db.connection_context():
        member = user("member@example.com")
        return {"reset_token": links.issue(links.RESET_PASSWORD, user=member),
                "secure_token": links.issue(links.SECURE_ACCOUNT, user=member,
                                            data={"kind": "sign_in"})}


def form_for(seeded: dict) -> dict:
    """One form that every route finds its fields in (each ignores the others)."""
    return {"email": "member@example.com", "password": PASSWORD, "name": "Mia Member",
            "phone": NEW_PHONE, "channel": "email", "code": seeded.get("code", "123456"),
            "current_password": PASSWORD, "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD, "role": "admin", "can_edit_own_profile": "y"}


@pytest.mark.parametrize("method,rule", state_changing_routes())
def test_every_state_changing_route_refuses_a_missing_or_foreign_csrf_token(
        app, signed_in, method, rule):
    """No token, another session's token (form or htmx header): 400, and nothing written."""
    if rule in CSRF_EXEMPT_BY_DESIGN:
        pytest.fail(f"{rule} is CSRF-exempt ({CSRF_EXEMPT_BY_DESIGN[rule]}): test it on its own")
    who = who_for(rule)
    client, seeded = signed_in(who)
    # A valid token of another signed-in session of the same account.
    other, _ = signed_in("owner" if who in ("owner", "impersonating") else "member", plain=True)
    foreign = csrf(other, "/settings/profile")
    rule_obj = next(r for r in app.url_map.iter_rules() if r.rule == rule)
    if "reset_token" in seeded:  # the emailed-link pages: each its own kind of link
        seeded["token"] = seeded["secure_token" if rule.startswith("/secure/")
                                 else "join_token" if rule.startswith("/join/")
                                 else "reset_token"]
    missing = sorted(set(rule_obj.arguments) - set(seeded))
    if missing:
        pytest.fail(f"{method} {rule}: no seeded value for <{'>, <'.join(missing)}>; "
                    "seed a real one in the signed_in fixture")
    path = rule_obj.build({k: seeded[k] for k in rule_obj.arguments}, append_unknown=False)[1]
    form = form_for(seeded)
    attempts = {
        "no token": {"data": form},
        "htmx, no token": {"data": form, "headers": HTMX},
        "another session's token": {"data": {**form, "csrf_token": foreign}},
        "htmx, another session's token in X-CSRFToken": {
            "data": form, "headers": {**HTMX, "X-CSRFToken": foreign}},
    }
    for name, kwargs in attempts.items():
        before = table_digest()
        r = client.open(path, method=method, **kwargs)
        assert is_csrf_refusal(r), (f"{method} {rule}: {name}", r.status_code)
        assert table_digest() == before, f"{method} {rule}: {name} wrote to the database"
    # The same request with this session's own token gets past the check.
    own = csrf(client, "/login" if who == "signed_out" else "/settings/profile")
    r = client.open(path, method=method, data={**form, "csrf_token": own})
    assert not is_csrf_refusal(r), f"{method} {rule}: refused even with this session's token"

