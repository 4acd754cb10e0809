"""S-4 across processes: wrong-password limits under gunicorn -w 4, PostgreSQL and Redis.

A module of its own, so its server (and its per-address count: the server trusts no proxy,
so every request here comes from 127.0.0.1) is not shared with the other services tests.
"""

import urllib.parse

import pytest

from .conftest import PASSWORD, run_parallel

pytestmark = pytest.mark.services

LIMIT = 10  # LOGIN_FAILURES_PER_ACCOUNT and PASSWORD_CHANGE_FAILURES defaults
WRONG = "not the password at all"
NEW_PASSWORD = "violet tuesday harbour lantern"


def _user_id(server, email) -> int:
    return server.scalar('SELECT id FROM "user" WHERE email = %s', email)


def _checked_passwords(server, email) -> int:
    """Password comparisons that ran: each failed one records login.failed, step password."""
    return server.scalar("SELECT count(*) FROM audit_event WHERE event = 'login.failed' "
                         "AND subject_id = %s AND details LIKE %s",
                         _user_id(server, email), '%"step": "password"%')


def _password_post(client, email, password):
    token = client.token("/login")
    return lambda: client.post("/login", {"email": email, "password": password,
                                          "csrf_token": token})


def _finish_sign_in(server, client, response, email):
    assert response.status == 303, response.text[:500]
    verify = urllib.parse.urlsplit(response.headers["Location"]).path
    token = client.token(verify)
    r = client.post(verify + "/channel", {"channel": "email", "csrf_token": token})
    assert r.status == 303, r.text[:500]
    r = client.post(verify + "/code", {"code": server.last_code(email), "csrf_token": token})
    assert r.status == 303, r.text[:500]
    assert client.get("/settings/profile").status == 200


def test_a_burst_of_wrong_passwords_checks_at_most_the_limit_and_known_browsers_get_in(
        gunicorn_server):
    """100 parallel wrong passwords: 10 checked; then strangers wait, the owner's browser not."""
    server, email = gunicorn_server, "member@example.com"
    # The owner's browser signed in fully before the attack; it holds the device cookie.
    known = server.signin(email)
    r = known.post("/logout", {"csrf_token": known.token("/settings/profile")})
    assert r.status == 303
    assert any(c.name == "aesthetix_device" for c in known.jar)

    attackers = [server.client() for _ in range(100)]
    results = run_parallel([_password_post(c, email, WRONG) for c in attackers])
    statuses = sorted(r.status for r in results)
    assert statuses == [422] * LIMIT + [429] * (100 - LIMIT), statuses
    assert _checked_passwords(server, email) == LIMIT

    # An unknown browser with the right password is refused until the window ends.
    r = _password_post(server.client(), email, PASSWORD)()
    assert r.status == 429 and "Try again in" in r.text
    assert int(r.headers["Retry-After"]) > 0
    # The owner's browser signs in: its failures are counted on its own key.
    r = _password_post(known, email, PASSWORD)()
    _finish_sign_in(server, known, r, email)


def test_a_burst_of_wrong_current_passwords_checks_at_most_the_limit(gunicorn_server):
    """30 parallel wrong current passwords on "Change password" from 3 sessions: 10 checked."""
    server, email = gunicorn_server, "admin@example.com"
    clients = [server.signin(email) for _ in range(3)]
    tokens = [c.token("/settings/profile") for c in clients]

    def change(i):
        return lambda: clients[i % 3].post("/settings/profile/password", {
            "current_password": WRONG, "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD, "csrf_token": tokens[i % 3]})

    statuses = sorted(r.status for r in run_parallel([change(i) for i in range(30)]))
    assert statuses == [422] * LIMIT + [429] * (30 - LIMIT), statuses
    assert server.scalar("SELECT count(*) FROM audit_event WHERE event = "
                         "'password.change_failed' AND subject_id = %s",
                         _user_id(server, email)) == LIMIT
