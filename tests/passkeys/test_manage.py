"""Settings > My Profile > Passkeys without JavaScript (plain form posts) and with htmx:
adding after a step-up (recorded registration payloads), the limit, one credential across
accounts, rename, remove after a step-up, and "Login as" refused."""

import html

import pytest
from conftest import HTMX, csrf, last_code, outbox, post, signin, user

from webapp.config import DEFAULTS
from webapp.extensions import db
from webapp.models import AuditEvent, Passkey, UserSession, WebAuthnChallenge

from .helpers import (
    MEMBER,
    OWNER,
    RP,
    account,
    credential_json,
    options,
    recently_verified,
    store_passkey,
)

PAGE = "/settings/profile/passkeys"
pytestmark = pytest.mark.config(**RP)


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def register(client, email=MEMBER, name="Work laptop", **kw):
    rec = account(email)
    options(client, PAGE + "/options", rec["registration"]["challenge"], token_from=PAGE)
    return post(client, PAGE, {"name": name,
                               "credential": credential_json(rec["registration"]["credential"])},
                token_from=PAGE, **kw)


def events(name):
    with db.connection_context():
        return list(AuditEvent.select().where(AuditEvent.event == name))


def count() -> int:
    with db.connection_context():
        return Passkey.select().count()


def test_adding_starts_with_a_step_up(member_client):
    r = post(member_client, PAGE + "/add", {}, token_from=PAGE)
    assert r.status_code == 303 and "/verify/" in r.headers["Location"]
    # No options, and nothing stored, before the step-up.
    r = member_client.post(PAGE + "/options", headers={"X-CSRFToken": csrf(member_client, PAGE)})
    assert r.status_code == 403
    assert register_without_options(member_client).status_code == 409
    assert count() == 0


def register_without_options(client):
    rec = account()
    return post(client, PAGE, {"name": "x",
                               "credential": credential_json(rec["registration"]["credential"])},
                token_from=PAGE)


def test_step_up_then_add_a_passkey(member_client):
    r = post(member_client, PAGE + "/add", {}, token_from=PAGE)
    verify_url = r.headers["Location"]
    token = csrf(member_client, verify_url)
    member_client.post(verify_url + "/channel", data={"channel": "email", "csrf_token": token})
    r = member_client.post(verify_url + "/code", data={"code": last_code(MEMBER),
                                                       "csrf_token": token})
    assert r.status_code == 303 and r.headers["Location"].endswith(PAGE + "/new")
    page = member_client.get(PAGE + "/new")
    assert page.status_code == 200 and 'data-passkey="register"' in text(page)
    r = register(member_client)
    assert r.status_code == 303 and r.headers["Location"].endswith(PAGE)
    with db.connection_context():
        (row,) = Passkey.select()
        assert (row.user_id, row.name) == (user(MEMBER).id, "Work laptop")
    listing = text(member_client.get(PAGE))
    assert "Work laptop" in listing and "Never used" in listing
    assert len(events("passkey.added")) == 1
    assert any("Passkey added" in m.subject for m in outbox("email", MEMBER))


def test_registration_options_prefer_resident_keys_and_user_verification(member_client):
    recently_verified()
    store_passkey(name="Old")
    r = member_client.post(PAGE + "/options", headers={"X-CSRFToken": csrf(member_client, PAGE)})
    body = r.get_json()
    assert body["authenticatorSelection"]["residentKey"] == "preferred"
    assert body["authenticatorSelection"]["userVerification"] == "preferred"
    assert body["rp"] == {"id": RP["WEBAUTHN_RP_ID"], "name": DEFAULTS["WEBAUTHN_RP_NAME"]}
    assert body["user"]["name"] == MEMBER
    # The account's passkeys are excluded, and its user handle is kept for the new one.
    assert [c["id"] for c in body["excludeCredentials"]] == [
        account()["registration"]["credential"]["id"]]
    assert body["user"]["id"] == account()["user_handle"]


@pytest.mark.parametrize("setting, value", [("WEBAUTHN_ORIGIN", "https://phishing.example"),
                                            ("WEBAUTHN_RP_ID", "example.com")])
def test_a_registration_for_another_site_is_refused(app_factory, setting, value):
    app = app_factory(**{**RP, setting: value})
    client = app.test_client()
    signin(client)
    recently_verified()
    r = register(client)
    assert r.status_code == 422 and "couldn't be verified" in text(r)
    assert count() == 0


def test_a_registration_answer_works_once(member_client):
    recently_verified()
    assert register(member_client).status_code == 303
    with db.connection_context():
        Passkey.delete().execute()
    r = register_without_options(member_client)  # the same answer, its challenge used
    assert r.status_code == 422 and "expired or was already used" in text(r)
    assert count() == 0


def test_one_credential_belongs_to_one_account(app, member_client):
    # The member's recorded credential, already registered to the owner's account.
    rec = account(MEMBER)
    with db.connection_context():
        Passkey.create(user=user(OWNER).id, credential_id=rec["registration"]["credential"]["id"],
                       public_key=b"k", user_handle="h", name="Owner's")
    recently_verified()
    r = register(member_client)
    assert r.status_code == 422 and "already registered" in text(r)
    with db.connection_context():
        assert [p.user_id for p in Passkey.select()] == [user(OWNER).id]


def test_at_most_ten_passkeys(member_client):
    limit = DEFAULTS["PASSKEYS_PER_ACCOUNT"]
    assert limit == 10
    with db.connection_context():
        for n in range(limit):
            Passkey.create(user=user(MEMBER).id, credential_id=f"c{n}", public_key=b"k",
                           user_handle="aGg", name=f"Key {n}")
    recently_verified()
    r = member_client.post(PAGE + "/options", headers={"X-CSRFToken": csrf(member_client, PAGE)})
    assert r.status_code == 409 and "already have 10 passkeys" in r.get_json()["error"]
    r = register_without_options(member_client)
    assert r.status_code == 422 and count() == limit
    r = post(member_client, PAGE + "/add", {}, token_from=PAGE)
    assert r.status_code == 409
    assert "data-passkey-limit" in text(member_client.get(PAGE))
    assert count() == limit


@pytest.mark.parametrize("name, error", [("", "Give the passkey a name."),
                                         ("   ", "Give the passkey a name."),
                                         ("x" * 61, "at most 60 characters")])
def test_a_name_is_required_and_short(member_client, name, error):
    recently_verified()
    r = register(member_client, name=name)
    assert r.status_code == 422 and error in text(r)
    assert count() == 0


def test_rename_without_javascript_and_with_htmx(member_client):
    passkey = store_passkey()
    field = f"pk{passkey.id}-name"
    r = post(member_client, f"{PAGE}/{passkey.id}/rename", {field: "  Home   desktop "},
             token_from=PAGE)
    assert r.status_code == 303
    with db.connection_context():
        assert Passkey.get().name == "Home desktop"
    r = post(member_client, f"{PAGE}/{passkey.id}/rename", {field: ""}, token_from=PAGE,
             htmx=True)
    assert r.status_code == 422 and 'id="passkeys"' in text(r)
    assert "Give the passkey a name." in text(r)
    r = post(member_client, f"{PAGE}/{passkey.id}/rename", {field: "Desk"}, token_from=PAGE,
             htmx=True)
    assert r.status_code == 200 and "Desk" in text(r) and "renamed" in r.headers["HX-Trigger"]
    assert len(events("passkey.renamed")) == 2


def test_someone_elses_passkey_is_not_found(member_client):
    theirs = store_passkey(OWNER)
    field = f"pk{theirs.id}-name"
    assert post(member_client, f"{PAGE}/{theirs.id}/rename", {field: "Mine"},
                token_from=PAGE).status_code == 404
    assert post(member_client, f"{PAGE}/{theirs.id}/remove", {},
                token_from=PAGE).status_code == 404
    with db.connection_context():
        assert Passkey.get().name == "Laptop"


def test_remove_after_a_step_up(member_client):
    passkey = store_passkey()
    r = post(member_client, f"{PAGE}/{passkey.id}/remove", {}, token_from=PAGE, htmx=True)
    assert r.status_code == 200 and "Remove the passkey “Laptop”" in text(r)
    assert count() == 1  # nothing removed before the verification
    r = post(member_client, f"{PAGE}/{passkey.id}/remove", {}, token_from=PAGE)
    verify_url = r.headers["Location"]
    token = csrf(member_client, verify_url)
    member_client.post(verify_url + "/channel", data={"channel": "email", "csrf_token": token})
    r = member_client.post(verify_url + "/code", data={"code": last_code(MEMBER),
                                                       "csrf_token": token})
    assert r.status_code == 303
    assert count() == 0
    (removed,) = events("passkey.removed")
    assert removed.data["name"] == "Laptop"
    assert any("Passkey removed" in m.subject for m in outbox("email", MEMBER))


def test_login_as_may_not_add_rename_or_remove(app):
    admin = app.test_client()
    signin(admin, "admin@example.com")
    passkey = store_passkey()
    post(admin, f"/settings/team/{user(MEMBER).id}/login-as", {}, token_from="/settings/team")
    page = text(admin.get(PAGE))
    assert "data-impersonation-note" in page and 'data-action="add-passkey"' not in page
    for path, data in ((PAGE + "/add", {}), (PAGE + "/options", {}), (PAGE, {"name": "x"}),
                       (f"{PAGE}/{passkey.id}/rename", {f"pk{passkey.id}-name": "x"}),
                       (f"{PAGE}/{passkey.id}/remove", {})):
        r = post(admin, path, data, token_from="/settings/profile")
        assert r.status_code == 403, path
    assert len(events("impersonation.denied")) == 5
    with db.connection_context():
        assert Passkey.get().name == "Laptop"
        assert WebAuthnChallenge.select().count() == 0


def test_another_sessions_window_does_not_count(app):
    """The "recently verified" window is this session's: another browser's does not open
    the dialog here."""
    first, second = app.test_client(), app.test_client()
    signin(first)
    signin(second)
    with db.connection_context():
        newest = UserSession.select().order_by(UserSession.id.desc()).first()
        other = UserSession.select().where(UserSession.id != newest.id).order_by(
            UserSession.id.desc()).first()
        import datetime as dt

        from webapp.models import utcnow
        UserSession.update(sudo_until=utcnow() + dt.timedelta(minutes=5)).where(
            UserSession.id == other.id).execute()
    r = second.post(PAGE + "/options", headers={"X-CSRFToken": csrf(second, PAGE)})
    assert r.status_code == 403
    assert HTMX  # the htmx header constant is shared with the other tests
