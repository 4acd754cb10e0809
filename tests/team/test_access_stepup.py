"""Giving a member more rights (a higher role, or an admin's right to edit team members)
takes the owner's own step-up; taking rights away does not. Without it, an invitation as a
member followed by a promotion would get round the step-up of an owner/admin invitation."""

import json
import re

import pytest
from conftest import choose_channel, last_code, post, signin, user, verify_by_email

from webapp.extensions import db
from webapp.models import AuditEvent, Challenge, Membership
from webapp.team.effects import grants_more

OWNER = "owner@example.com"


def access(client, email, role, *, edit_team=False, edit_own=True, htmx=False):
    data = {"role": role}
    if edit_team:
        data["can_edit_team_profiles"] = "y"
    if edit_own:
        data["can_edit_own_profile"] = "y"
    uid = user(email).id
    return post(client, f"/settings/team/{uid}/access", data, htmx=htmx,
                token_from=f"/settings/team/{uid}")


def seat(email):
    with db.connection_context():
        m = Membership.get(Membership.user == user(email).id)
        return m.role, m.can_edit_team_profiles


def verify(client, cid, *, htmx=False):
    return verify_by_email(client, cid, OWNER, htmx=htmx)


def team_right(html: str) -> str:
    """The "Can edit team profiles" checkbox."""
    return re.search(r'<input[^>]*name="can_edit_team_profiles"[^>]*>', html).group(0)


def old(role, edit=False):
    return {"role": role, "can_edit_team_profiles": edit, "can_edit_own_profile": True}


@pytest.mark.parametrize("before, after, more", [
    (old("member"), old("admin"), True),
    (old("member"), old("owner", True), True),
    (old("admin"), old("owner", True), True),
    (old("admin"), old("admin", True), True),
    (old("admin", True), old("admin"), False),
    (old("owner", True), old("admin", True), False),
    (old("admin", True), old("member"), False),
    (old("member"), {**old("member"), "can_edit_own_profile": False}, False),
])
def test_what_grants_more(before, after, more):
    assert grants_more(before, after) is more


def test_a_promotion_waits_for_the_owners_code_without_javascript(owner_client, dbconn):
    mia = user("member@example.com")
    page = owner_client.get(f"/settings/team/{mia.id}").get_data(as_text=True)
    assert "Giving more rights (a higher role, or the right to edit team profiles) asks you" in page
    r = access(owner_client, "member@example.com", "owner")
    assert r.status_code == 303 and r.headers["Location"].startswith("/verify/")
    assert seat("member@example.com") == ("member", False)
    step = owner_client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Make Mia Member Owner" in step and "o***@example.com" in step
    r = verify(owner_client, r.headers["Location"].rsplit("/", 1)[1])
    assert r.status_code == 303 and r.headers["Location"] == f"/settings/team/{mia.id}"
    assert seat("member@example.com") == ("owner", True)
    row = AuditEvent.get(AuditEvent.event == "membership.changed")
    assert row.actor_id == user(OWNER).id and row.data["new"]["role"] == "owner"
    page = owner_client.get(f"/settings/team/{mia.id}").get_data(as_text=True)
    assert "Access updated." in page


def test_giving_an_admin_the_team_right_with_htmx(owner_client, dbconn):
    access(owner_client, "admin@example.com", "admin")  # taking it away: at once
    assert seat("admin@example.com") == ("admin", False)
    r = access(owner_client, "admin@example.com", "admin", edit_team=True, htmx=True)
    assert r.status_code == 200 and r.headers["HX-Retarget"] == "#modal"
    body = r.get_data(as_text=True)
    assert "Make Adam Admin Admin, with the right to edit team members" in body
    # The section under the modal shows the access as saved.
    section = body[body.index('<section id="member-access"'):]
    assert 'hx-swap-oob="true"' in section
    assert " checked" not in team_right(section)
    cid = re.search(r"/verify/([\w-]+)/channel", body).group(1)
    r = verify(owner_client, cid, htmx=True)
    assert r.status_code == 200 and json.loads(r.headers["HX-Trigger"])["closeModal"]
    answer = r.get_data(as_text=True)
    assert '<section id="member-access"' in answer and 'hx-swap-oob="true"' in answer
    assert " checked" in team_right(answer)
    assert seat("admin@example.com") == ("admin", True)


def test_taking_rights_away_is_at_once(owner_client, dbconn):
    r = access(owner_client, "admin@example.com", "member")
    assert r.status_code == 303 and not r.headers["Location"].startswith("/verify/")
    assert seat("admin@example.com") == ("member", False)
    assert not Challenge.select().where(Challenge.purpose == "change_access").exists()


def test_invite_as_member_then_promote_is_no_way_round(app, owner_client, dbconn):
    """A second session of the owner (a copied cookie) with its own member account in the
    team: the promotion still asks for the owner's code."""
    thief = app.test_client()
    signin(thief, OWNER)
    r = access(thief, "casey@example.com", "owner")
    assert r.headers["Location"].startswith("/verify/")
    assert seat("casey@example.com")[0] == "member"


def test_a_demoted_owner_promotes_no_one(owner_client, dbconn):
    r = access(owner_client, "member@example.com", "admin")
    url = choose_channel(owner_client, r.headers["Location"].rsplit("/", 1)[1])
    (Membership.update(role="admin").where(Membership.user == user(OWNER).id).execute())
    r = post(owner_client, url + "/code", {"code": last_code(OWNER)}, token_from=url)
    assert r.status_code == 409 and "can no longer change this person" in r.get_data(
        as_text=True)
    assert seat("member@example.com") == ("member", False)
