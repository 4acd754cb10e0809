"""Inviting an owner or admin takes the inviter's own step-up: a copied session cookie must
not be able to hand lasting rights to an address of its own."""

import json
import re
import threading

from conftest import choose_channel, csrf, last_code, outbox, post, signin, user

from webapp.extensions import db
from webapp.models import AuditEvent, Challenge, Invitation, Membership

JOIN_RE = re.compile(r"https?://[^/\s]+(/join/[\w-]+)")


def invite(client, email="new.boss@example.com", role="admin", *, htmx=False):
    return post(client, "/settings/team", {"email": email, "role": role}, htmx=htmx,
                token_from="/settings/team")


def invitations(email="new.boss@example.com"):
    with db.connection_context():
        return list(Invitation.select().where(Invitation.email == email))


def test_an_admin_invitation_waits_for_the_inviters_code_without_javascript(owner_client,
                                                                            dbconn):
    form = owner_client.get("/settings/team/invite").get_data(as_text=True)
    assert "Inviting an owner or admin asks you to verify it's you first." in form
    assert 'aria-describedby="invite-role-hint invite-role-error"' in form
    sent_before = len(outbox())
    r = invite(owner_client)
    assert r.status_code == 303 and r.headers["Location"].startswith("/verify/")
    # Nothing is created or sent before the code.
    assert invitations() == [] and outbox("email", "new.boss@example.com") == []
    url = r.headers["Location"]
    step = owner_client.get(url).get_data(as_text=True)
    assert "Verify it" in step and "Invite new.boss@example.com as Admin" in step
    # The inviter's own channels.
    assert "o***@example.com" in step
    url = choose_channel(owner_client, url.rsplit("/", 1)[1])
    assert [m.to for m in outbox()[sent_before:]] == ["owner@example.com"]
    assert invitations() == []
    r = post(owner_client, url + "/code", {"code": last_code("owner@example.com")},
             token_from=url)
    assert r.status_code == 303 and r.headers["Location"] == "/settings/team"
    [inv] = invitations()
    assert inv.role == "admin" and inv.invited_by_id == user("owner@example.com").id
    mail = outbox("email", "new.boss@example.com")[-1]
    assert JOIN_RE.search(mail.body), mail.body
    page = owner_client.get("/settings/team").get_data(as_text=True)
    assert "Invitation sent to new.boss@example.com." in page
    assert 'data-email="new.boss@example.com"' in page and 'data-role="admin"' in page
    event = AuditEvent.get(AuditEvent.event == "invitation.sent")
    assert event.actor_id == user("owner@example.com").id and event.data["role"] == "admin"
    # The link's token lives only in the email: not in the verification's payload.
    token = JOIN_RE.search(mail.body).group(1).rsplit("/", 1)[1]
    c = Challenge.get(Challenge.purpose == "invite_privileged")
    assert token not in c.payload and c.consumed_at is not None


def test_an_owner_invitation_with_htmx_opens_the_modal_then_refreshes_the_list(owner_client,
                                                                                dbconn):
    r = invite(owner_client, role="owner", htmx=True)
    assert r.status_code == 200
    assert r.headers["HX-Retarget"] == "#modal" and r.headers["HX-Reswap"] == "innerHTML"
    body = r.get_data(as_text=True)
    assert "<dialog" in body and "Invite new.boss@example.com as Owner" in body
    cid = re.search(r"/verify/([\w-]+)/channel", body).group(1)
    url = choose_channel(owner_client, cid, htmx=True)
    r = post(owner_client, url + "/code", {"code": last_code("owner@example.com")}, htmx=True,
             token_from=url)
    assert r.status_code == 200
    events = json.loads(r.headers["HX-Trigger"])
    assert events["closeModal"] and events["toast"]["message"] == (
        "Invitation sent to new.boss@example.com.")
    answer = r.get_data(as_text=True)
    assert '<section id="invitations"' in answer and 'hx-swap-oob="true"' in answer
    assert 'data-email="new.boss@example.com"' in answer and 'data-role="owner"' in answer
    assert [i.role for i in invitations()] == ["owner"]


def test_a_member_invitation_needs_no_step_up(owner_client, dbconn):
    r = invite(owner_client, "plain@example.com", "member")
    assert r.status_code == 303 and r.headers["Location"] == "/settings/team"
    assert len(invitations("plain@example.com")) == 1
    assert not Challenge.select().where(Challenge.purpose == "invite_privileged").exists()


def test_a_recently_verified_session_invites_at_once_and_only_that_session(app, owner_client,
                                                                            dbconn):
    r = invite(owner_client)
    url = choose_channel(owner_client, r.headers["Location"].rsplit("/", 1)[1])
    post(owner_client, url + "/code", {"code": last_code("owner@example.com")}, token_from=url)
    # Inside the window the next one is sent at once.
    r = invite(owner_client, "second.boss@example.com", "admin")
    assert r.status_code == 303 and r.headers["Location"] == "/settings/team"
    assert len(invitations("second.boss@example.com")) == 1
    # A copied cookie is another session: the owner's window is not its own. (A second
    # sign-in stands for it: same person, its own session row.)
    other = app.test_client()
    signin(other, "owner@example.com")
    r = invite(other, "thief@example.net", "owner")
    assert r.headers["Location"].startswith("/verify/")
    assert invitations("thief@example.net") == []


def test_rights_lost_before_the_code_send_nothing(admin_client, dbconn):
    r = invite(admin_client, role="admin")
    url = choose_channel(admin_client, r.headers["Location"].rsplit("/", 1)[1])
    # Meanwhile an owner takes the admin's right to manage the team away.
    (Membership.update(can_edit_team_profiles=False)
     .where(Membership.user == user("admin@example.com").id).execute())
    r = post(admin_client, url + "/code", {"code": last_code("admin@example.com")},
             token_from=url)
    assert r.status_code == 409
    assert "You can no longer invite people with this role." in r.get_data(as_text=True)
    assert invitations() == [] and outbox("email", "new.boss@example.com") == []


def test_an_address_invited_meanwhile_is_not_invited_twice(owner_client, admin_client, dbconn):
    r = invite(owner_client, role="admin")
    url = choose_channel(owner_client, r.headers["Location"].rsplit("/", 1)[1])
    assert invite(admin_client, role="member").status_code == 303  # sent at once
    r = post(owner_client, url + "/code", {"code": last_code("owner@example.com")},
             token_from=url)
    assert r.status_code == 409 and "already has a pending invitation" in r.get_data(
        as_text=True)
    assert [i.role for i in invitations()] == ["member"]
    assert len(outbox("email", "new.boss@example.com")) == 1


def test_the_organisations_daily_limit_is_claimed_when_the_code_sends_it(app, owner_client,
                                                                         dbconn):
    app.config["INVITATIONS_PER_ORGANIZATION"] = "1 per day"
    r = invite(owner_client, role="admin")
    url = choose_channel(owner_client, r.headers["Location"].rsplit("/", 1)[1])
    assert invite(owner_client, "first@example.com", "member").status_code == 303
    r = post(owner_client, url + "/code", {"code": last_code("owner@example.com")},
             token_from=url)
    assert r.status_code == 429
    assert "Too many invitations were sent" in r.get_data(as_text=True)
    assert invitations() == [] and outbox("email", "new.boss@example.com") == []


def test_an_admin_still_cannot_invite_an_owner(admin_client, dbconn):
    r = invite(admin_client, role="owner", htmx=True)
    assert r.status_code == 422
    assert not Challenge.select().where(Challenge.purpose == "invite_privileged").exists()



def test_ten_parallel_codes_send_one_invitation(app, owner_client, dbconn):
    """The same verification raced from ten copies of the session: one invitation, one
    email, one consumed verification."""
    r = invite(owner_client)
    url = choose_channel(owner_client, r.headers["Location"].rsplit("/", 1)[1])
    code = last_code("owner@example.com")
    cookie = owner_client.get_cookie("session").value
    clients = [app.test_client() for _ in range(10)]
    for c in clients:
        c.set_cookie("session", cookie)
    tokens = [csrf(c, url) for c in clients]
    barrier, statuses = threading.Barrier(10), []

    def go(i):
        barrier.wait()
        r = clients[i].post(url + "/code", data={"code": code, "csrf_token": tokens[i]})
        statuses.append((r.status_code, r.headers.get("Location")))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count((303, "/settings/team")) == 1, statuses
    assert len(invitations()) == 1
    assert len(outbox("email", "new.boss@example.com")) == 1
    assert AuditEvent.select().where(AuditEvent.event == "invitation.sent").count() == 1
