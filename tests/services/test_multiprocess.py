"""Limits and single use across processes: gunicorn -w 4, PostgreSQL, Redis."""

import urllib.parse

import pytest

from webapp.config import DEFAULTS

from .conftest import PASSWORD, WORKERS, run_parallel

pytestmark = pytest.mark.services


def _profile_post(client, token, *, email, phone):
    return lambda: client.post("/settings/profile", {
        "name": "", "email": email, "phone": phone, "csrf_token": token})


def _start_phone_change(server, client, email, phone, channel="email") -> str:
    """Start a phone change and pick `channel`: the challenge path /verify/<id>."""
    token = client.token("/settings/profile")
    r = client.post("/settings/profile", {"name": "", "email": email, "phone": phone,
                                          "csrf_token": token})
    assert r.status == 303, r.text[:500]
    verify = urllib.parse.urlsplit(r.headers["Location"]).path
    token = client.token(verify)
    r = client.post(verify + "/channel", {"channel": channel, "csrf_token": token})
    assert r.status == 303, r.text[:500]
    return verify


def _user_id(server, email) -> int:
    return server.scalar('SELECT id FROM "user" WHERE email = %s', email)


def test_server_really_runs_several_workers(gunicorn_server):
    """The races below are only meaningful if requests land on different processes."""
    out = gunicorn_server.log_path.read_text()
    assert out.count("Booting worker") >= WORKERS
    assert "memory://" not in out  # Redis is the limiter storage: no per-process warning


def test_daily_cap_holds_across_workers(gunicorn_server):
    """12 parallel phone-change attempts from 4 sessions: exactly 5 start a challenge."""
    cap = DEFAULTS["DAILY_CHANGE_LIMIT"]
    server = gunicorn_server
    email = "member@example.com"
    clients = [server.signin(email) for _ in range(4)]
    tokens = [c.token("/settings/profile") for c in clients]
    calls = [_profile_post(clients[i % 4], tokens[i % 4], email=email,
                           phone=f"+120255501{50 + i}")
             for i in range(12)]
    results = run_parallel(calls)

    statuses = sorted(r.status for r in results)
    assert statuses == [303] * cap + [429] * (12 - cap), results
    limited = [r for r in results if r.status == 429]
    assert all(f"limit of {cap} phone or email change attempts" in r.text for r in limited)
    assert all(int(r.headers["Retry-After"]) > 0 for r in limited)
    uid = _user_id(server, email)
    assert server.scalar("SELECT count(*) FROM challenge WHERE subject_id = %s "
                         "AND purpose = 'change_phone'", uid) == cap
    assert server.scalar("SELECT count(*) FROM audit_event WHERE subject_id = %s "
                         "AND event = 'change.limited'", uid) == 7


def _code_post(client, token, verify, code):
    return lambda: client.post(verify + "/code", {"code": code, "csrf_token": token})


def _wrong_code_run(server, email, clients, verify, *, parallel: bool, tries: int):
    tokens = [c.token(verify) for c in clients]
    n = len(clients)
    calls = [_code_post(clients[i % n], tokens[i % n], verify, "000000") for i in range(tries)]
    if parallel:
        return run_parallel(calls)
    results = []
    for call in calls:
        results.append(call())
    return results


def _outcomes(results):
    wrong = sum(1 for r in results if r.status == 422 and "left." in r.text)
    locked = sum(1 for r in results if r.status == 429 and "Too many wrong codes" in r.text)
    return wrong, locked


def test_failure_limit_counts_the_same_in_parallel_as_in_sequence(gunicorn_server):
    """Wrong codes from 4 sessions at once lock the method after the same count as one by one."""
    server = gunicorn_server
    limit = DEFAULTS["CODE_USER_FAILURE_LIMIT"]

    # One by one: the 10th wrong code locks email codes for the user.
    seq_email = "casey@example.com"
    seq_client = server.signin(seq_email)
    verify = _start_phone_change(server, seq_client, seq_email, "+12025550170")
    seq = _wrong_code_run(server, seq_email, [seq_client], verify, parallel=False, tries=14)
    assert [r.status for r in seq] == [422] * (limit - 1) + [429] * 5
    assert _outcomes(seq) == (limit - 1, 5)

    # All at once from four sessions of another user: the same counts.
    par_email = "admin@example.com"
    clients = [server.signin(par_email) for _ in range(4)]
    verify = _start_phone_change(server, clients[0], par_email, "+12025550171")
    par = _wrong_code_run(server, par_email, clients, verify, parallel=True, tries=24)
    assert _outcomes(par) == (limit - 1, 24 - (limit - 1)), [r.status for r in par]

    for email in (seq_email, par_email):
        uid = _user_id(server, email)
        assert server.scalar("SELECT count(*) FROM audit_event WHERE subject_id = %s "
                             "AND event = 'challenge.locked'", uid) == 1
        assert server.scalar("SELECT locked_until IS NOT NULL FROM code_failures "
                             "WHERE user_id = %s AND method = 'email'", uid)


def test_one_email_code_applies_once_across_workers(gunicorn_server):
    """The right code sent by 12 parallel requests from 4 sessions: exactly one applies."""
    server = gunicorn_server
    email = "owner@example.com"
    clients = [server.signin(email) for _ in range(4)]
    verify = _start_phone_change(server, clients[0], email, "+12025550180")
    code = server.last_code(email)
    tokens = [c.token(verify) for c in clients]
    calls = [_code_post(clients[i % 4], tokens[i % 4], verify, code) for i in range(12)]
    results = run_parallel(calls)

    statuses = sorted(r.status for r in results)
    assert statuses == [303] + [409] * 11, results
    uid = _user_id(server, email)
    assert server.scalar('SELECT phone FROM "user" WHERE id = %s', uid) == "+12025550180"
    assert server.scalar("SELECT count(*) FROM audit_event WHERE subject_id = %s "
                         "AND event = 'phone.changed'", uid) == 1
    assert server.scalar("SELECT count(*) FROM challenge WHERE subject_id = %s "
                         "AND purpose = 'change_phone' AND consumed_at IS NOT NULL", uid) == 1


def _enable_authenticator(server, email):
    """Set up the app through the real pages; returns (secret, backup codes)."""
    from twofactor.helpers import codes_in, next_code, secret_in, token_in

    client = server.signin(email)
    # Adding a factor is a step-up: "Setup", an email code, then the QR code.
    token = client.token("/settings/profile")
    r = client.post("/settings/profile/2fa/setup/start", {"csrf_token": token})
    assert r.status == 303, r.text[:500]
    verify = urllib.parse.urlsplit(r.headers["Location"]).path
    r = client.post(verify + "/channel", {"channel": "email", "csrf_token": token})
    assert r.status == 303, r.text[:500]
    r = client.post(verify + "/code", {"code": server.last_code(email), "csrf_token": token})
    assert r.status == 303 and r.headers["Location"].endswith("/2fa/setup"), r.text[:500]
    page = client.get("/settings/profile/2fa/setup").text
    secret = secret_in(page)
    code, step = next_code(secret)
    r = client.post("/settings/profile/2fa/setup", {"code": code, "csrf_token": token_in(page)})
    assert r.status == 200, r.text[:500]
    codes = codes_in(r.text)
    assert len(codes) == 10
    return secret, step, codes


def _at_second_step(server, email, channel) -> tuple:
    """A client past the password, with `channel` chosen: (client, verify path, token)."""
    c = server.client()
    r = c.post("/login", {"email": email, "password": PASSWORD, "csrf_token": c.token("/login")})
    assert r.status == 303, r.text[:500]
    verify = urllib.parse.urlsplit(r.headers["Location"]).path
    token = c.token(verify)
    r = c.post(verify + "/channel", {"channel": channel, "csrf_token": token})
    assert r.status == 303, r.text[:500]
    return c, verify, token


def test_one_backup_code_works_once_across_workers(gunicorn_server):
    """20 parallel submissions of one backup code over 4 workers: exactly one signs in."""
    server = gunicorn_server
    email = "member@example.com"
    _, _, codes = _enable_authenticator(server, email)
    client, verify, token = _at_second_step(server, email, "backup")
    results = run_parallel([_code_post(client, token, verify, codes[0]) for _ in range(20)])
    assert sorted(r.status for r in results).count(303) == 1, [r.status for r in results]
    uid = _user_id(server, email)
    assert server.scalar("SELECT count(*) FROM backup_code WHERE user_id = %s "
                         "AND used_at IS NOT NULL", uid) == 1


def test_one_totp_code_works_once_across_workers(gunicorn_server):
    """One authenticator code raced by two verifications on different workers (a sign-in and
    a phone change, so neither replaces the other): exactly one accepts it."""
    from twofactor.helpers import next_code

    server = gunicorn_server
    email = "owner@example.com"  # casey@ is locked out of email codes above
    secret, step, _ = _enable_authenticator(server, email)
    change = server.signin(email)  # first: a later sign-in would replace the racing one
    change_verify = _start_phone_change(server, change, email, "+12025550190", "totp")
    change_token = change.token(change_verify)
    login, login_verify, login_token = _at_second_step(server, email, "totp")
    code, _ = next_code(secret, step)
    results = run_parallel([_code_post(login, login_token, login_verify, code),
                            _code_post(change, change_token, change_verify, code)])
    statuses = sorted(r.status for r in results)
    assert statuses == [303, 422], [(r.status, r.text[:200]) for r in results]
    uid = _user_id(server, email)
    assert server.scalar("SELECT count(*) FROM audit_event WHERE subject_id = %s "
                         "AND event = 'totp.replay_refused'", uid) == 1
