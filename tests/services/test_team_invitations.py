"""Invitations and removal across processes: gunicorn -w 4, PostgreSQL, Redis.

Twenty parallel joins with one invitation link make one account; two owners removing each
other at the same moment leave one owner (the organisation row is locked on PostgreSQL);
parallel resends stop at the per-address link limit on every worker.
"""

import re
import urllib.parse

import pytest

from .conftest import run_parallel

pytestmark = pytest.mark.services

SERVER_ENV = {"LINK_SENDS_PER_ADDRESS": "3 per hour"}
NEW_PASSWORD = "violet tractor harbour 42"
JOIN_RE = re.compile(r"https?://[^/\s]+(/join/[\w-]+)")


def _invite(server, owner, email, role="member"):
    r = owner.post("/settings/team", {"email": email, "role": role,
                                      "csrf_token": owner.token("/settings/team")})
    if role != "member":  # owner and admin invitations: the inviter verifies first
        r = server.step_up(owner, r, "owner@example.com")
    assert r.status == 303, r.text[:500]
    body = server.query('SELECT body FROM outbox_message WHERE "to" = %s ORDER BY id DESC '
                        "LIMIT 1", email)[0][0]
    return JOIN_RE.search(body).group(1)


def test_twenty_parallel_joins_make_one_account(gunicorn_server):
    server = gunicorn_server
    owner = server.signin("owner@example.com")
    path = _invite(server, owner, "racer@example.com")
    clients = [server.client() for _ in range(20)]
    tokens = [c.token("/login") for c in clients]

    def join(i):
        return clients[i].post(path, {"name": f"Racer {i}", "new_password": NEW_PASSWORD,
                                      "confirm_password": NEW_PASSWORD,
                                      "csrf_token": tokens[i]}).status

    statuses = run_parallel([lambda i=i: join(i) for i in range(20)])
    assert sorted(statuses) == [303] + [404] * 19
    assert server.scalar('SELECT count(*) FROM "user" WHERE email = %s', "racer@example.com") == 1
    assert server.scalar("SELECT count(*) FROM membership m JOIN \"user\" u ON u.id = m.user_id "
                         "WHERE u.email = %s", "racer@example.com") == 1
    assert server.scalar("SELECT count(*) FROM audit_event WHERE event = 'member.joined'") == 1
    assert server.scalar("SELECT count(*) FROM link WHERE used_at IS NOT NULL AND "
                         "purpose = 'invitation'") == 1


def test_owners_removing_each_other_at_once_leave_one(gunicorn_server):
    server = gunicorn_server
    owner = server.signin("owner@example.com")
    path = _invite(server, owner, "second.owner@example.com", "owner")
    joiner = server.client()
    r = joiner.post(path, {"name": "Otto Two", "new_password": NEW_PASSWORD,
                           "confirm_password": NEW_PASSWORD,
                           "csrf_token": joiner.token("/login")})
    assert r.status == 303
    second = server.signin("second.owner@example.com", NEW_PASSWORD)
    ids = {email: server.scalar('SELECT id FROM "user" WHERE email = %s', email)
           for email in ("owner@example.com", "second.owner@example.com")}
    org = server.scalar("SELECT organization_id FROM membership WHERE user_id = %s",
                        ids["owner@example.com"])
    for _ in range(5):  # five rounds: a race lost once in a while would show
        tokens = (owner.token("/settings/team"), second.token("/settings/team"))
        pairs = ((owner, ids["second.owner@example.com"], tokens[0]),
                 (second, ids["owner@example.com"], tokens[1]))
        statuses = run_parallel([
            lambda c=c, target=target, token=token: c.post(
                f"/settings/team/{target}/remove", {"csrf_token": token}).status
            for c, target, token in pairs])
        owners = server.scalar("SELECT count(*) FROM membership WHERE organization_id = %s "
                               "AND role = 'owner' AND removed_at IS NULL", org)
        assert owners == 1, statuses
        assert sorted(statuses)[0] == 303
        # Put the removed owner back for the next round (and sign both in again).
        server.query("UPDATE membership SET removed_at = NULL WHERE organization_id = %s "
                     "AND role = 'owner' RETURNING id", org)
        owner = server.signin("owner@example.com")
        second = server.signin("second.owner@example.com", NEW_PASSWORD)


def test_parallel_resends_stop_at_the_address_limit(gunicorn_server):
    server = gunicorn_server
    owner = server.signin("owner@example.com")
    email = "flooded@example.com"
    _invite(server, owner, email)  # one of the three sends this hour
    inv = server.scalar("SELECT id FROM invitation WHERE email = %s", email)
    token = owner.token("/settings/team")
    statuses = run_parallel([
        lambda: owner.post(f"/settings/team/invitations/{inv}/resend",
                           {"csrf_token": token}).status for _ in range(12)])
    assert sorted(statuses) == [303] * 2 + [429] * 10
    assert server.scalar('SELECT count(*) FROM outbox_message WHERE "to" = %s', email) == 3
    assert server.scalar("SELECT sends FROM invitation WHERE id = %s", inv) == 3


def test_join_link_is_absolute_and_single_use_across_workers(gunicorn_server):
    server = gunicorn_server
    owner = server.signin("owner@example.com")
    path = _invite(server, owner, "once@example.com")
    first, again = server.client(), server.client()
    data = {"name": "Once", "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    assert first.post(path, {**data, "csrf_token": first.token("/login")}).status == 303
    assert again.post(path, {**data, "csrf_token": again.token("/login")}).status == 404
    assert urllib.parse.urlsplit(path).path.startswith("/join/")


def test_ten_parallel_codes_send_one_admin_invitation(gunicorn_server):
    """An admin invitation waits for the inviter's code; ten posts of that code at once,
    across the workers, send one invitation and one email."""
    server = gunicorn_server
    owner = server.signin("owner@example.com")
    email = "raced.admin@example.com"
    r = owner.post("/settings/team", {"email": email, "role": "admin",
                                      "csrf_token": owner.token("/settings/team")})
    verify = urllib.parse.urlsplit(r.headers["Location"]).path
    assert verify.startswith("/verify/")
    assert server.scalar("SELECT count(*) FROM invitation WHERE email = %s", email) == 0
    token = owner.token(verify)
    assert owner.post(verify + "/channel", {"channel": "email", "csrf_token": token}).status == 303
    code = server.last_code("owner@example.com")
    answers = run_parallel([
        lambda: owner.post(verify + "/code", {"code": code, "csrf_token": token})
        for _ in range(10)])
    sent = [a for a in answers
            if a.status == 303 and a.headers["Location"].endswith("/settings/team")]
    assert len(sent) == 1, [a.status for a in answers]
    assert server.scalar("SELECT count(*) FROM invitation WHERE email = %s", email) == 1
    assert server.scalar('SELECT count(*) FROM outbox_message WHERE "to" = %s', email) == 1
    assert server.scalar("SELECT consumed_at IS NOT NULL FROM challenge WHERE id = %s",
                         verify.rsplit("/", 1)[1]) is True
