"""S-6 to S-9: a verification acts only on the state it was started for.

S-6 a resend never reaches a number or address that changed since the code was first sent;
S-7 a sign-in email code proves only the address it went to; S-8 the profile form is no
account-existence oracle; S-9 a password change closes pending sign-ins and every applier
re-checks the actor's permission.
"""

import re

import pytest
from conftest import csrf, last_code, outbox, post, signin, user

from security.helpers import challenge, cid_from, events, password_step
from webapp.extensions import db
from webapp.models import Challenge, Membership, User

EMAIL = "member@example.com"
OLD_PHONE, NEW_PHONE = "+12025550103", "+12025550177"


def profile(client, **fields):
    me = user(fields.pop("who", EMAIL))
    data = {"name": me.name, "email": me.email, "phone": me.phone or ""}
    data.update(fields)
    return post(client, "/settings/profile", data)


def send(client, cid, channel):
    return post(client, f"/verify/{cid}/channel", {"channel": channel},
                token_from=f"/verify/{cid}")


def enter(client, cid, code):
    return post(client, f"/verify/{cid}/code", {"code": code}, token_from="/settings/profile")


def change_phone(client, new=NEW_PHONE, channel="email"):
    cid = cid_from(profile(client, phone=new))
    send(client, cid, channel)
    r = enter(client, cid, last_code(EMAIL if channel == "email" else user(EMAIL).phone,
                                     channel))
    assert r.status_code == 303, r.get_data(as_text=True)


# --- S-6 -----------------------------------------------------------------------------------


def test_s6_changing_the_phone_closes_an_email_change_verified_by_sms(member_client):
    first = cid_from(profile(member_client, email="mia.new@example.com"))
    assert send(member_client, first, "sms").status_code == 303
    assert len(outbox("sms", OLD_PHONE)) == 1
    change_phone(member_client)  # in another verification
    r = post(member_client, f"/verify/{first}/resend", {}, token_from="/settings/profile")
    assert r.status_code == 409
    assert outbox("sms", NEW_PHONE) == []  # before: the new, unproven number got a code
    assert challenge(first).cancelled_at is not None
    assert user(EMAIL).email == EMAIL


def test_s6_a_resend_refuses_a_destination_that_changed(member_client):
    """Even without the closing above: resend checks the destination it first used."""
    cid = cid_from(profile(member_client, email="mia.new@example.com"))
    send(member_client, cid, "sms")
    with db.connection_context():  # the number changes behind the verification's back
        User.update(phone=NEW_PHONE).where(User.email == EMAIL).execute()
    r = post(member_client, f"/verify/{cid}/resend", {}, token_from="/settings/profile")
    body = r.get_data(as_text=True)
    assert r.status_code == 409 and "changed since this verification started" in body
    assert outbox("sms", NEW_PHONE) == []
    assert challenge(cid).cancelled_at is not None


def test_s6_a_resend_refuses_a_channel_no_longer_trusted(member_client):
    cid = cid_from(profile(member_client, email="mia.new@example.com"))
    send(member_client, cid, "sms")
    with db.connection_context():
        User.update(phone_verified_at=None).where(User.email == EMAIL).execute()
    r = post(member_client, f"/verify/{cid}/resend", {}, token_from="/settings/profile")
    assert r.status_code == 409
    assert len(outbox("sms", OLD_PHONE)) == 1


def test_s6_any_contact_or_factor_change_closes_the_accounts_other_verifications(app,
                                                                                 member_client):
    other = app.test_client()
    url = password_step(other, EMAIL).headers["Location"]  # a sign-in elsewhere
    pending = cid_from(profile(member_client, email="mia.new@example.com"))
    change_phone(member_client)
    with db.connection_context():
        open_ones = Challenge.select().where(Challenge.consumed_at.is_null()
                                             & Challenge.cancelled_at.is_null()).count()
    assert open_ones == 0
    assert challenge(pending).cancelled_at is not None
    assert challenge(url.rsplit("/", 1)[1]).cancelled_at is not None


# --- S-7 -----------------------------------------------------------------------------------


def test_s7_a_sign_in_code_sent_to_the_old_address_never_verifies_the_new_one(app,
                                                                              member_client):
    with db.connection_context():
        User.update(email_verified_at=None).where(User.email == EMAIL).execute()
    browser_b = app.test_client()
    url = password_step(browser_b, EMAIL).headers["Location"]
    token = csrf(browser_b, url)
    browser_b.post(url + "/channel", data={"channel": "email", "csrf_token": token})
    old_code = last_code(EMAIL)
    # Browser A changes the address (verified by SMS: the email is not verified).
    cid = cid_from(profile(member_client, email="mia.new@example.com"))
    send(member_client, cid, "sms")
    assert enter(member_client, cid, last_code(OLD_PHONE, "sms")).status_code == 303
    r = browser_b.post(url + "/code", data={"code": old_code, "csrf_token": token})
    assert r.status_code == 409
    assert user("mia.new@example.com").email_verified_at is None  # before: "Verified"


def test_s7_the_login_applier_checks_the_address_itself(app):
    """The address changes between send and entry without closing the sign-in: the sign-in
    works, the new address stays unverified."""
    with db.connection_context():
        User.update(email_verified_at=None).where(User.email == EMAIL).execute()
    client = app.test_client()
    url = password_step(client, EMAIL).headers["Location"]
    token = csrf(client, url)
    client.post(url + "/channel", data={"channel": "email", "csrf_token": token})
    code = last_code(EMAIL)
    with db.connection_context():
        User.update(email="mia.new@example.com").where(User.email == EMAIL).execute()
    r = client.post(url + "/code", data={"code": code, "csrf_token": token})
    assert r.status_code == 303
    assert user("mia.new@example.com").email_verified_at is None


def test_s7_a_sign_in_code_still_proves_the_address_it_went_to(app):
    with db.connection_context():
        User.update(email_verified_at=None).where(User.email == EMAIL).execute()
    signin(app.test_client(), EMAIL)
    assert user(EMAIL).email_verified_at is not None


# --- S-8 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_s8_a_taken_address_gets_the_same_answer_as_a_free_one(member_client, htmx):
    taken = post(member_client, "/settings/profile", {
        "name": "Mia Member", "email": "admin@example.com", "phone": OLD_PHONE}, htmx=htmx)
    free = post(member_client, "/settings/profile", {
        "name": "Mia Member", "email": "nobody-here@example.com", "phone": OLD_PHONE}, htmx=htmx)
    assert taken.status_code == free.status_code == (200 if htmx else 303)

    def shape(r):
        """The answer with the challenge id and the typed address taken out."""
        text = r.get_data(as_text=True) + r.headers.get("Location", "")
        # The changes left today differ by one (each answer took an attempt), not by address.
        text = re.sub(r'data-changes-left="\d+">\d+ of', "", text)
        # CSRF tokens carry their signing second: two answers may straddle one.
        text = re.sub(r'name="csrf_token" value="[^"]+"', "TOKEN", text)
        # The modal restates the typed address (masked) above the choice: that is the input.
        text = re.sub(r"data-summary><strong>[^<]*", "", text)
        return (text.replace(cid_from(r), "CID").replace("admin@example.com", "X")
                .replace("nobody-here@example.com", "X"))

    assert shape(taken) == shape(free)
    assert "can&#39;t be used" not in taken.get_data(as_text=True)


def test_s8_the_clash_is_refused_after_the_code_and_the_owner_is_told(member_client):
    cid = cid_from(profile(member_client, email="admin@example.com"))
    send(member_client, cid, "email")
    r = enter(member_client, cid, last_code(EMAIL))
    body = r.get_data(as_text=True)
    assert r.status_code == 409
    assert "couldn&#39;t change the email address to that one" in body
    assert user(EMAIL).email == EMAIL and user("admin@example.com").name == "Adam Admin"
    notice = outbox("email", "admin@example.com")[-1]
    assert notice.subject == "Someone tried to use your email address"
    assert "Nothing was changed" in notice.body
    assert len(events("email.change_refused")) == 1


def test_s8_the_attempt_counts_against_the_daily_cap(member_client):
    for _ in range(5):
        profile(member_client, email="admin@example.com")
    r = profile(member_client, email="owner@example.com")
    assert r.status_code == 429


# --- S-9 -----------------------------------------------------------------------------------


def test_s9_a_password_change_closes_sign_ins_started_before_it(app, member_client):
    other = app.test_client()
    url = password_step(other, EMAIL).headers["Location"]
    token = csrf(other, url)
    other.post(url + "/channel", data={"channel": "sms", "csrf_token": token})
    code = last_code(OLD_PHONE, "sms")
    r = post(member_client, "/settings/profile/password", {
        "current_password": "demo-password-aesthetix",
        "new_password": "a brand new passphrase 4 Mia", "confirm_password":
        "a brand new passphrase 4 Mia"})
    assert r.status_code == 303
    r = other.post(url + "/code", data={"code": code, "csrf_token": token})
    assert r.status_code == 409  # before: signed in with the old password's sign-in
    assert other.get("/settings/profile").status_code == 303


def _member_phone_change_by_admin(admin):
    mia = user(EMAIL)
    r = post(admin, f"/settings/team/{mia.id}", {"name": mia.name, "phone": NEW_PHONE},
             token_from=f"/settings/team/{mia.id}")
    cid = cid_from(r)
    send(admin, cid, "email")
    return cid


def test_s9_a_demoted_admin_cannot_finish_a_members_phone_change(app):
    admin, owner = app.test_client(), app.test_client()
    signin(admin, "admin@example.com")
    signin(owner, "owner@example.com")
    with db.connection_context():
        Membership.update(can_edit_team_profiles=True).where(
            Membership.user == User.by_email("admin@example.com")).execute()
    cid = _member_phone_change_by_admin(admin)
    adam = user("admin@example.com")
    r = post(owner, f"/settings/team/{adam.id}/access", {"role": "member"},
             token_from=f"/settings/team/{adam.id}")
    assert r.status_code == 303
    r = enter(admin, cid, last_code(EMAIL))
    assert r.status_code == 409
    assert "no longer change this person" in r.get_data(as_text=True)
    assert user(EMAIL).phone == OLD_PHONE
    assert challenge(cid).consumed_at is None


def test_s9_losing_the_own_profile_permission_stops_a_change_in_flight(app, member_client):
    cid = cid_from(profile(member_client, phone=NEW_PHONE))
    send(member_client, cid, "email")
    with db.connection_context():
        Membership.update(can_edit_own_profile=False).where(
            Membership.user == User.by_email(EMAIL)).execute()
    r = enter(member_client, cid, last_code(EMAIL))
    assert r.status_code == 409 and user(EMAIL).phone == OLD_PHONE
