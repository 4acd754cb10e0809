"""The single-use link mechanism (webapp/links.py): hashing, expiry, single use, binding."""

import threading

import pytest

from webapp import links
from webapp.config import DEFAULTS
from webapp.extensions import db
from webapp.models import AuditEvent, Link, User

EMAIL = "member@example.com"


@pytest.fixture
def ctx(app):
    with app.app_context(), db.connection_context():
        yield app


def test_issue_stores_only_a_keyed_digest_of_a_long_random_token(ctx):
    member = User.by_email(EMAIL)
    token = links.issue(links.RESET_PASSWORD, user=member)
    assert len(token) >= 43  # 32 bytes, url-safe base64
    row = Link.get()
    assert token not in row.token_hash and row.token_hash == links.token_hash(token)
    assert row.token_hash != __import__("hashlib").sha256(token.encode()).hexdigest()
    assert row.purpose == "reset_password" and row.user_id == member.id
    seconds = (row.expires_at - row.created_at).total_seconds()
    assert seconds == DEFAULTS["LINK_RESET_SECONDS"] == 30 * 60
    event = AuditEvent.get(AuditEvent.event == "link.issued")
    assert event.data["purpose"] == "reset_password" and token not in event.details


def test_lifetimes_come_from_config(ctx):
    assert links.lifetime(links.SECURE_ACCOUNT) == DEFAULTS["LINK_SECURE_SECONDS"] == 7 * 86400
    assert links.lifetime(links.INVITATION) == DEFAULTS["LINK_INVITATION_SECONDS"]


def test_peek_consumes_nothing_and_consume_works_once(ctx):
    member = User.by_email(EMAIL)
    token = links.issue(links.SECURE_ACCOUNT, user=member, data={"change": "phone"})
    assert links.peek(token, links.SECURE_ACCOUNT).data == {"change": "phone"}
    assert links.peek(token, links.SECURE_ACCOUNT) is not None
    used = links.consume(token, links.SECURE_ACCOUNT)
    assert used is not None and used.used_at is not None and used.user_id == member.id
    assert links.consume(token, links.SECURE_ACCOUNT) is None  # reused
    assert links.peek(token, links.SECURE_ACCOUNT) is None
    assert AuditEvent.select().where(AuditEvent.event == "link.used").count() == 1


def test_expired_link_is_refused(ctx, clock):
    token = links.issue(links.RESET_PASSWORD, user=User.by_email(EMAIL))
    clock.advance(DEFAULTS["LINK_RESET_SECONDS"] - 1)
    assert links.peek(token, links.RESET_PASSWORD) is not None
    clock.advance(1)
    assert links.peek(token, links.RESET_PASSWORD) is None
    assert links.consume(token, links.RESET_PASSWORD) is None


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
    lambda t: t[1:],
    lambda t: t + "x",
    lambda t: "",
    lambda t: "x" * 5000,
    lambda t: None,
])
def test_tampered_token_is_refused(ctx, tamper):
    token = links.issue(links.RESET_PASSWORD, user=User.by_email(EMAIL))
    assert links.peek(tamper(token), links.RESET_PASSWORD) is None
    assert links.consume(tamper(token), links.RESET_PASSWORD) is None
    assert links.consume(token, links.RESET_PASSWORD) is not None  # the real one still works


def test_wrong_purpose_is_refused_and_does_not_use_the_link(ctx):
    token = links.issue(links.SECURE_ACCOUNT, user=User.by_email(EMAIL))
    assert links.consume(token, links.RESET_PASSWORD) is None
    assert links.consume(token, links.INVITATION) is None
    assert links.consume(token, links.SECURE_ACCOUNT) is not None


def test_password_change_by_any_route_voids_a_reset_link(ctx):
    member = User.by_email(EMAIL)
    token = links.issue(links.RESET_PASSWORD, user=member)
    User.update(password_hash=member.password_hash + "x").where(User.id == member.id).execute()
    assert links.peek(token, links.RESET_PASSWORD) is None
    assert links.consume(token, links.RESET_PASSWORD) is None
    assert Link.get().used_at is None


def test_secure_link_survives_a_password_change(ctx):
    member = User.by_email(EMAIL)
    token = links.issue(links.SECURE_ACCOUNT, user=member)
    User.update(password_hash="changed").where(User.id == member.id).execute()
    assert links.consume(token, links.SECURE_ACCOUNT) is not None


def test_revoke_for_voids_the_users_live_links_of_that_purpose_only(ctx):
    member, other = User.by_email(EMAIL), User.by_email("admin@example.com")
    mine = links.issue(links.RESET_PASSWORD, user=member)
    theirs = links.issue(links.RESET_PASSWORD, user=other)
    secure = links.issue(links.SECURE_ACCOUNT, user=member)
    assert links.revoke_for(member, links.RESET_PASSWORD) == 1
    assert links.peek(mine, links.RESET_PASSWORD) is None
    assert links.peek(theirs, links.RESET_PASSWORD) is not None
    assert links.peek(secure, links.SECURE_ACCOUNT) is not None


def test_reset_link_needs_a_user(ctx):
    with pytest.raises(ValueError):
        links.issue(links.RESET_PASSWORD)
    assert links.issue(links.INVITATION, data={"email": "new@example.com"})


def test_twenty_parallel_consumes_exactly_one_wins(app, monkeypatch):
    with app.app_context(), db.connection_context():
        token = links.issue(links.RESET_PASSWORD, user=User.by_email(EMAIL))
    barrier, all_read = threading.Barrier(20), threading.Barrier(20)
    candidate = links._candidate

    def read_then_wait(*args):
        # Every request has read the live row before any of them writes: only the
        # conditional UPDATE can keep the link single use now.
        row = candidate(*args)
        all_read.wait()
        return row

    monkeypatch.setattr(links, "_candidate", read_then_wait)
    results, errors = [], []

    def run():
        try:
            with app.app_context(), db.connection_context():
                barrier.wait()
                results.append(links.consume(token, links.RESET_PASSWORD))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=run) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(results) == 20
    assert len([r for r in results if r is not None]) == 1
    with app.app_context(), db.connection_context():
        assert AuditEvent.select().where(AuditEvent.event == "link.used").count() == 1

