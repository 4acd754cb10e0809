"""A-25 / LC-1 / A-10: the half-signed-in state grants nothing but the second step."""

from conftest import HTMX, csrf

from security.helpers import password_step, snapshot

EMAIL = "member@example.com"


def routes(app, member_id):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "healthz", "auth.login", "auth.cancel_login",
                             "passkeys.sign_in_options", "passkeys.sign_in_with_passkey"):
            continue
        if rule.endpoint.startswith("recovery."):
            continue  # the emailed-link pages are for people who are not signed in
        if rule.endpoint == "metrics.metrics" or rule.rule == "/metrics":
            continue  # no session at all: reachable from the allowed addresses only
        if rule.endpoint == "join.show":
            continue  # for people with no account: the emailed link is its credential
        if rule.rule.startswith("/verify/"):
            continue  # the one place the pending state may go (its own challenge only)
        path = (rule.rule.replace("<int:user_id>", str(member_id)).replace("<cid>", "x")
                .replace("<int:invitation_id>", "1").replace("<int:pid>", "1"))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path


def test_a25_pending_sign_in_reaches_no_authenticated_route(app):
    """A-25: after the password only, every page, fragment and action is refused."""
    client = app.test_client()
    r = password_step(client, EMAIL)
    assert r.status_code == 303 and r.headers["Location"].startswith("/verify/")
    token = csrf(client, r.headers["Location"])
    before = snapshot()
    seen = 0
    for method, path in routes(app, 3):
        for headers in ({}, HTMX):
            r = client.open(path, method=method, headers=headers,
                            data={"csrf_token": token} if method == "POST" else None)
            seen += 1
            if path == "/dev/outbox":
                assert r.status_code == 404
                continue
            # Signed out: a redirect to sign in (401 + HX-Redirect for htmx), never the content.
            if headers:
                assert r.status_code == 401, (method, path, r.status_code)
                assert r.headers["HX-Redirect"].startswith("/login"), (method, path)
            else:
                assert r.status_code == 303, (method, path, r.status_code)
                assert r.headers["Location"].startswith("/login"), (method, path)
    assert seen > 30
    assert snapshot() == before


def test_a25_pending_sign_in_cannot_open_another_challenge(app):
    """A-25: the pending state reaches only its own challenge; others are 404."""
    other = app.test_client()
    r = password_step(other, "admin@example.com")
    mine = r.headers["Location"]
    r = password_step(app.test_client(), EMAIL)
    theirs = r.headers["Location"]
    assert other.get(mine).status_code == 200
    assert other.get(theirs).status_code == 404
