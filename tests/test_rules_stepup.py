"""A rule change that lowers every member's guard waits for the owner's own verification;
one that only raises it is saved at once. A copied owner session cookie alone can't turn
"Require an authenticator app or passkey" off."""

import json
import re

import pytest
from conftest import choose_channel, last_code, outbox, post, signin, user, verify_by_email
from security.helpers import events

from webapp.extensions import db
from webapp.models import Challenge, Membership, Organization
from webapp.rules.effects import weakens

RULES = "/settings/team/rules"
ON = {"require_strong_factor": "y", "grace_days": "3", "allow_remember": "y"}


def org() -> Organization:
    with db.connection_context():
        return Organization.get()


def save(client, data, *, htmx=False):
    return post(client, RULES, data, htmx=htmx, token_from=RULES)


@pytest.fixture
def owner(client):
    signin(client, "owner@example.com")
    assert save(client, ON).status_code == 303  # turning the rule on: saved at once
    assert org().strong_factor_required_at is not None
    return client


def verify(client, cid, *, htmx=False):
    return verify_by_email(client, cid, "owner@example.com", htmx=htmx)


B = {"require_strong_factor": True, "grace_days": 7, "allow_remember": False}


@pytest.mark.parametrize("new, weaker", [
    ({**B, "require_strong_factor": False}, True),
    ({**B, "grace_days": 8}, True),
    ({**B, "allow_remember": True}, True),
    ({**B, "grace_days": 6}, False),
    ({**B, "grace_days": 0}, False),
    # With the requirement off, its grace period guards no one.
    ({**B, "require_strong_factor": False, "grace_days": 7}, True),
])
def test_which_changes_weaken(new, weaker):
    assert weakens(B, new) is weaker
    off = {**B, "require_strong_factor": False}
    assert weakens(off, {**off, "grace_days": 30}) is False
    assert weakens(off, B) is False


def test_turning_the_requirement_off_waits_for_the_owners_code(owner):
    page = owner.get(RULES).get_data(as_text=True)
    assert 'id="rules-stepup-hint"' in page and "asks you to verify it's you first" in page
    r = save(owner, {"grace_days": "3", "allow_remember": "y"})
    assert r.status_code == 303 and r.headers["Location"].startswith("/verify/")
    assert org().strong_factor_required_at is not None  # nothing saved yet
    step = owner.get(r.headers["Location"]).get_data(as_text=True)
    assert "Stop requiring an authenticator app or passkey" in step
    assert "o***@example.com" in step
    r = verify(owner, r.headers["Location"].rsplit("/", 1)[1])
    assert r.status_code == 303 and r.headers["Location"] == RULES
    assert org().strong_factor_required_at is None
    event = events("rules.changed")[-1]
    assert event.data["new"]["require_strong_factor"] is False
    assert event.actor_id == user("owner@example.com").id
    page = owner.get(RULES).get_data(as_text=True)
    assert "Security rules saved" in page
    mail = [m for m in outbox("email", "owner@example.com")
            if "Security rules changed" in m.subject][-1]
    assert "Require an authenticator app or passkey: off (was on)" in mail.body


def test_with_htmx_the_modal_opens_over_the_saved_rules_then_they_refresh(owner):
    r = save(owner, {"require_strong_factor": "y", "grace_days": "30", "allow_remember": "y"},
             htmx=True)
    assert r.status_code == 200 and r.headers["HX-Retarget"] == "#modal"
    body = r.get_data(as_text=True)
    assert "<dialog" in body and "a grace period of 30 day(s)" in body
    # The section under the modal, out of band, still shows what is saved (3 days).
    section = body[body.index('<section id="security-rules"'):]
    assert 'hx-swap-oob="true"' in section and re.search(r'name="grace_days"[^>]*value="3"',
                                                         section)
    cid = re.search(r"/verify/([\w-]+)/channel", body).group(1)
    r = verify(owner, cid, htmx=True)
    assert r.status_code == 200 and json.loads(r.headers["HX-Trigger"])["closeModal"]
    answer = r.get_data(as_text=True)
    assert '<section id="security-rules"' in answer and 'hx-swap-oob="true"' in answer
    assert re.search(r'name="grace_days"[^>]*value="30"', answer)
    assert org().strong_factor_grace_days == 30


def test_a_cancelled_verification_changes_nothing(owner):
    r = save(owner, {"grace_days": "3", "allow_remember": "y"})
    url = r.headers["Location"]
    r = post(owner, url + "/cancel", {}, token_from=url)
    assert r.status_code == 303 and r.headers["Location"] == RULES
    assert org().strong_factor_required_at is not None
    assert len(events("rules.changed")) == 1


def test_allowing_remembering_again_needs_the_code_forbidding_it_does_not(owner):
    assert save(owner, {**ON, "allow_remember": ""}).status_code == 303
    assert org().allow_remember_browser is False
    r = save(owner, ON)
    assert r.headers["Location"].startswith("/verify/")
    assert org().allow_remember_browser is False


def test_another_session_of_the_owner_is_not_covered_by_this_ones_window(app, owner):
    r = save(owner, {**ON, "grace_days": "5"})
    verify(owner, r.headers["Location"].rsplit("/", 1)[1])
    # Recently verified: the next weakening change is saved at once in this session...
    assert save(owner, {**ON, "grace_days": "6"}).headers["Location"] == RULES
    assert org().strong_factor_grace_days == 6
    # ...but not in another one (a copied cookie is another session).
    other = app.test_client()
    signin(other, "owner@example.com")
    assert save(other, {"grace_days": "6", "allow_remember": "y"}).headers[
        "Location"].startswith("/verify/")
    assert org().strong_factor_required_at is not None


def test_an_owner_demoted_before_the_code_saves_nothing(owner):
    r = save(owner, {"grace_days": "3", "allow_remember": "y"})
    url = choose_channel(owner, r.headers["Location"].rsplit("/", 1)[1])
    (Membership.update(role="admin")
     .where(Membership.user == user("owner@example.com").id).execute())
    r = post(owner, url + "/code", {"code": last_code("owner@example.com")}, token_from=url)
    assert r.status_code == 409 and "Only an owner" in r.get_data(as_text=True)
    assert org().strong_factor_required_at is not None
    assert not Challenge.select().where(Challenge.consumed_at.is_null(False)
                                        & (Challenge.purpose == "change_rules")).exists()
