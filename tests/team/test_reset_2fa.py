"""An admin resets a member's two-factor after the admin's own step-up."""

import json
import re

from conftest import HTMX, last_code, outbox, post, user
from twofactor.helpers import enable_totp

from webapp.extensions import db
from webapp.models import AuditEvent, BackupCode, Challenge, Membership, Passkey, User


def start_reset(client, email="member@example.com", htmx=False):
    return post(client, f"/settings/team/{user(email).id}/reset-2fa", {}, htmx=htmx,
                token_from="/settings/team")


def totp_state(email="member@example.com"):
    with db.connection_context():
        u = User.by_email(email)
        return (u.totp_secret, u.totp_enabled_at,
                BackupCode.select().where(BackupCode.user == u.id).count())


def test_reset_without_javascript(app, admin_client, dbconn):
    enable_totp(app, "member@example.com")
    mia = user("member@example.com")
    assert totp_state()[2] == 10
    page = admin_client.get(f"/settings/team/{mia.id}").get_data(as_text=True)
    assert 'data-totp="on"' in page and 'data-action="reset-2fa"' in page
    sent_before = len(outbox())
    r = start_reset(admin_client)
    assert r.status_code == 303
    url = r.headers["Location"]
    step = admin_client.get(url).get_data(as_text=True)
    # The admin proves it's them with their own channels, not the member's.
    assert "a***@example.com" in step and "m***@example.com" not in step
    r = post(admin_client, url + "/channel", {"channel": "email"}, token_from=url)
    assert r.status_code == 303
    assert [m.to for m in outbox()[sent_before:]] == ["admin@example.com"]
    code = last_code("admin@example.com")
    r = post(admin_client, url + "/code", {"code": code}, token_from=url)
    assert r.status_code == 303 and r.headers["Location"] == f"/settings/team/{mia.id}"
    assert totp_state() == (None, None, 0)
    page = admin_client.get(f"/settings/team/{mia.id}").get_data(as_text=True)
    assert 'data-totp="off"' in page and "Two-factor authentication reset for Mia Member" in page
    notice = outbox("email", "member@example.com")[-1]
    assert "Two-factor authentication was reset" in notice.subject
    assert "Adam Admin" in notice.body and code not in notice.body
    row = AuditEvent.get(AuditEvent.event == "totp.disabled")
    assert (row.actor_id, row.subject_id) == (user("admin@example.com").id, mia.id)
    assert row.data["reset_by_admin"] is True and row.data["backup_codes_removed"] == 10


def test_reset_with_htmx(app, admin_client, dbconn):
    enable_totp(app, "member@example.com")
    r = start_reset(admin_client, htmx=True)
    # The reset form says hx-target="#modal" itself: no retargeting header.
    assert r.status_code == 200 and "HX-Retarget" not in r.headers
    cid = re.search(r"/verify/([\w-]+)/channel", r.get_data(as_text=True)).group(1)
    url = f"/verify/{cid}"
    post(admin_client, url + "/channel", {"channel": "sms"}, htmx=True, token_from=url)
    code = last_code("+12025550102", "sms")
    r = post(admin_client, url + "/code", {"code": code}, htmx=True, token_from=url)
    assert r.status_code == 200 and json.loads(r.headers["HX-Trigger"])["closeModal"]
    answer = r.get_data(as_text=True)
    assert answer.lstrip().startswith('<section id="member-security"')
    assert 'hx-swap-oob="true"' in answer and 'data-totp="off"' in answer
    assert totp_state() == (None, None, 0)
    section = admin_client.get(f"/settings/team/{user('member@example.com').id}/security",
                               headers=HTMX).get_data(as_text=True)
    assert 'data-totp="off"' in section and "<html" not in section


def test_nothing_to_reset(admin_client, dbconn):
    r = start_reset(admin_client, htmx=True)
    assert r.status_code == 409 and "Nothing to reset" in r.get_data(as_text=True)
    assert not Challenge.select().where(Challenge.purpose == "reset_member_2fa").exists()


def test_permission_is_checked_again_when_the_code_is_entered(app, admin_client, dbconn):
    enable_totp(app, "member@example.com")
    r = start_reset(admin_client)
    url = r.headers["Location"]
    post(admin_client, url + "/channel", {"channel": "email"}, token_from=url)
    Membership.update(can_edit_team_profiles=False).where(
        Membership.user == user("admin@example.com").id).execute()
    r = post(admin_client, url + "/code", {"code": last_code("admin@example.com")},
             token_from=url)
    assert r.status_code == 409 and "no longer" in r.get_data(as_text=True)
    assert totp_state()[0] is not None and totp_state()[2] == 10


def test_a_reset_challenge_cannot_be_used_by_another_admin(app, admin_client, owner_client,
                                                             dbconn):
    enable_totp(app, "member@example.com")
    url = start_reset(admin_client).headers["Location"]
    r = post(owner_client, url + "/channel", {"channel": "email"}, token_from="/settings/team")
    assert r.status_code == 404
    assert totp_state()[2] == 10


def test_cancelling_a_reset_returns_to_the_member_page(app, admin_client, dbconn):
    enable_totp(app, "member@example.com")
    mia = user("member@example.com")
    url = start_reset(admin_client).headers["Location"]
    r = post(admin_client, url + "/cancel", {}, token_from=url)
    assert r.status_code == 303 and r.headers["Location"] == f"/settings/team/{mia.id}"
    assert f'href="/settings/team/{mia.id}"' in admin_client.get(url).get_data(as_text=True)
    assert totp_state()[2] == 10


def test_a_reset_removes_the_members_passkeys_too(app, admin_client, dbconn):
    """A lost phone may hold a passkey, which signs in on its own: the reset removes it."""
    from passkeys.helpers import store_passkey

    store_passkey("member@example.com", name="Old phone")
    mia = user("member@example.com")
    page = admin_client.get(f"/settings/team/{mia.id}").get_data(as_text=True)
    # A passkey alone is something to reset.
    assert 'data-passkeys="1"' in page and 'data-action="reset-2fa"' in page
    r = start_reset(admin_client)
    assert r.status_code == 303
    url = r.headers["Location"]
    post(admin_client, url + "/channel", {"channel": "email"}, token_from=url)
    r = post(admin_client, url + "/code", {"code": last_code("admin@example.com")},
             token_from=url)
    assert r.status_code == 303
    assert Passkey.select().where(Passkey.user == mia.id).count() == 0
    page = admin_client.get(f"/settings/team/{mia.id}").get_data(as_text=True)
    assert 'data-passkeys="0"' in page and 'data-action="reset-2fa"' not in page
    row = AuditEvent.get(AuditEvent.event == "totp.disabled")
    assert row.data["passkeys_removed"] == 1
    notice = outbox("email", "member@example.com")[-1]
    assert "passkeys no longer work" in notice.body
