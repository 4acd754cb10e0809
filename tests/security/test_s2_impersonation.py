"""S-2: "Login as" dies with its admin's sessions and rights; exit resumes the admin's own session.

The review's reproduction, one scenario per test: an impersonation outlived the admin's
password change, "sign out other devices", 2FA removal and demotion, and exiting it minted a
new 12-hour admin session. Here each of those ends the impersonation, and exit returns to the
admin's original session row (same id, same absolute limit) or to the sign-in page.
"""

import datetime as dt

import pytest
from conftest import PASSWORD, csrf, last_code, post, signin, user
from twofactor.helpers import enable_totp

from webapp.extensions import db
from webapp.models import AuditEvent, Membership, User, UserSession, utcnow

ADMIN, MEMBER, OWNER = "admin@example.com", "member@example.com", "owner@example.com"
NEW_PASSWORD = "violet tuesday harbour lantern"
PROFILE = "/settings/profile"


def browser(app, email):
    client = app.test_client()
    signin(client, email)
    return client


@pytest.fixture
def admin(app):
    return browser(app, ADMIN)


def login_as(client, email=MEMBER):
    return post(client, f"/settings/team/{user(email).id}/login-as", {},
                token_from="/settings/team")


def exit_(client, token=None, **kw):
    """The banner's "Return to your account" (its form's token, from a page already open)."""
    return client.post("/impersonation/exit",
                       data={"csrf_token": token or csrf(client, PROFILE)}, **kw)


def live(email=None, *, impersonations=False) -> list[UserSession]:
    """Live session rows: a person's own, or every "Login as" row."""
    with db.connection_context():
        query = UserSession.select().where(UserSession.revoked_at.is_null()
                                           & (UserSession.expires_at > utcnow()))
        if impersonations:
            query = query.where(UserSession.impersonator.is_null(False))
        else:
            query = query.where((UserSession.user == user(email).id)
                                & UserSession.impersonator.is_null())
        return list(query.order_by(UserSession.id))


def impersonating(client) -> bool:
    r = client.get(PROFILE)
    return r.status_code == 200 and "data-impersonation" in r.get_data(as_text=True)


def signed_out(client) -> bool:
    r = client.get(PROFILE)
    return r.status_code == 303 and r.headers["Location"].startswith("/login")


def start_impersonating(client, email=MEMBER) -> str:
    """"Login as"; returns the CSRF token of the page showing the banner."""
    r = login_as(client, email)
    assert r.status_code == 303, r.get_data(as_text=True)
    assert impersonating(client)
    return csrf(client, PROFILE)


def assert_exit_goes_to_sign_in(client, token):
    """Exit answers with the sign-in page and leaves no session in this browser."""
    r = exit_(client, token)
    assert r.status_code == 303 and r.headers["Location"].startswith("/login")
    assert signed_out(client)


def step_up(client, response, email):
    """Finish a step-up the response opened, with an email code."""
    assert response.status_code == 303, response.get_data(as_text=True)
    url = response.headers["Location"]
    r = post(client, url + "/channel", {"channel": "email"}, token_from=url)
    assert r.status_code == 303, r.get_data(as_text=True)
    return post(client, url + "/code", {"code": last_code(email)}, token_from=url)


# --- every revocation of the admin's sessions ends the impersonation -----------------------------


def test_stolen_cookie_impersonation_ends_with_the_admins_password_change(app, admin):
    """The reproduction: a copy of the admin's cookie, "Login as", then the admin acts."""
    thief = app.test_client()
    thief.set_cookie("session", admin.get_cookie("session").value)
    token = start_impersonating(thief)
    # "Login as" parks the session the stolen cookie named: its owner is signed out too.
    assert signed_out(admin)
    real = browser(app, ADMIN)
    r = post(real, "/settings/profile/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert r.status_code == 303, r.get_data(as_text=True)
    assert signed_out(thief)
    assert_exit_goes_to_sign_in(thief, token)
    assert live(impersonations=True) == []
    # Only the browser that changed the password is still the admin.
    (kept,) = live(ADMIN)
    assert real.get("/settings/team").status_code == 200


def test_sign_out_other_devices_ends_the_impersonation(app, admin):
    other = browser(app, ADMIN)
    token = start_impersonating(other)
    r = post(admin, "/settings/profile/sessions/sign-out-others", {})
    assert r.status_code == 303
    # One browser: its "Login as" and the admin session under it are one device.
    assert "Signed out 1 other device(s)." in admin.get("/settings/profile").get_data(as_text=True)
    assert signed_out(other)
    assert_exit_goes_to_sign_in(other, token)
    assert live(impersonations=True) == [] and len(live(ADMIN)) == 1


def test_removing_the_admins_authenticator_ends_the_impersonation(app):
    enable_totp(app, ADMIN)
    admin, other = browser(app, ADMIN), browser(app, ADMIN)
    token = start_impersonating(other)
    r = step_up(admin, post(admin, "/settings/profile/2fa/remove", {}), ADMIN)
    assert r.status_code == 303, r.get_data(as_text=True)
    assert user(ADMIN).totp_enabled_at is None
    assert signed_out(other)
    assert_exit_goes_to_sign_in(other, token)
    assert live(impersonations=True) == [] and len(live(ADMIN)) == 1


@pytest.mark.parametrize("change", [
    {"role": "member", "can_edit_own_profile": "y"},
    {"role": "admin", "can_edit_own_profile": "y"},  # can_edit_team_profiles taken away
], ids=["demoted", "permission-removed"])
def test_a_role_or_permission_change_ends_the_admins_impersonation(app, admin, change):
    owner = browser(app, OWNER)
    token = start_impersonating(admin)
    r = post(owner, f"/settings/team/{user(ADMIN).id}/access", change,
             token_from="/settings/team")
    assert r.status_code == 303, r.get_data(as_text=True)
    assert signed_out(admin)
    assert_exit_goes_to_sign_in(admin, token)
    # No admin session was revived, and the suspended one went with the impersonation.
    assert live(impersonations=True) == [] and live(ADMIN) == []
    changed = AuditEvent.get(AuditEvent.event == "membership.changed")
    assert changed.data["impersonations_ended"] == 1


def test_promoting_the_impersonated_member_ends_the_impersonation(app, admin):
    """An admin never keeps acting as someone who is now an owner."""
    owner = browser(app, OWNER)
    start_impersonating(admin)
    # A promotion is a step-up action for the owner (team/test_access_stepup.py).
    r = step_up(owner, post(owner, f"/settings/team/{user(MEMBER).id}/access",
                            {"role": "owner", "can_edit_own_profile": "y"},
                            token_from="/settings/team"), OWNER)
    assert r.status_code == 303
    assert signed_out(admin)
    assert live(impersonations=True) == []


def test_an_admin_resetting_2fa_signs_out_the_members_sessions_and_impersonations(app, admin):
    enable_totp(app, MEMBER)
    mia = browser(app, MEMBER)
    owner = browser(app, OWNER)
    start_impersonating(owner)  # the owner is "Login as" Mia
    r = step_up(admin, post(admin, f"/settings/team/{user(MEMBER).id}/reset-2fa", {},
                            token_from="/settings/team"), ADMIN)
    assert r.status_code == 303, r.get_data(as_text=True)
    assert signed_out(mia) and signed_out(owner)
    assert live(MEMBER) == [] and live(impersonations=True) == []
    assert admin.get("/settings/team").status_code == 200  # the resetting admin stays in
    reset = AuditEvent.get(AuditEvent.event == "totp.disabled")
    assert reset.data["sessions_revoked"] == 2


def test_removing_the_admins_account_removes_the_impersonation(app, admin):
    """Account removal is the foreign keys' ON DELETE CASCADE: nothing is left to resume."""
    start_impersonating(admin)
    with db.connection_context():
        User.delete().where(User.id == user(ADMIN).id).execute()
        assert UserSession.select().where(UserSession.impersonator.is_null(False)).count() == 0
    assert signed_out(admin)


def test_removing_the_admins_session_row_removes_the_impersonation_under_it(app, admin):
    (own,) = live(ADMIN)
    start_impersonating(admin)
    with db.connection_context():
        UserSession.delete().where(UserSession.id == own.id).execute()
    assert live(impersonations=True) == []
    assert signed_out(admin)


def test_signing_out_while_impersonating_signs_out_the_admin_session_too(app, admin):
    start_impersonating(admin)
    r = post(admin, "/logout", {})
    assert r.status_code == 303
    assert live(impersonations=True) == [] and live(ADMIN) == []


# --- exit ----------------------------------------------------------------------------------------


def test_exit_resumes_the_same_admin_session_with_its_original_limits(app, admin):
    (before,) = live(ADMIN)
    old_cookie = admin.get_cookie("session").value
    start_impersonating(admin)
    # Meanwhile the admin's cookie opens nothing: a copy of it can't be used either.
    copy = app.test_client()
    copy.set_cookie("session", old_cookie)
    assert signed_out(copy)
    r = exit_(admin)
    assert r.status_code == 303 and r.headers["Location"] == f"/settings/team/{user(MEMBER).id}"
    (after,) = live(ADMIN)
    assert (after.id, after.created_at, after.expires_at) == (
        before.id, before.created_at, before.expires_at)
    assert admin.get("/settings/team").status_code == 200 and not impersonating(admin)
    # The resumed session has a new token: the cookie from before "Login as" stays dead.
    assert admin.get_cookie("session").value != old_cookie
    copy.set_cookie("session", old_cookie)
    assert signed_out(copy)
    assert live(impersonations=True) == []


def test_repeated_login_as_and_exit_never_extend_the_absolute_limit(app, admin):
    (before,) = live(ADMIN)
    for _ in range(3):
        start_impersonating(admin)
        (row,) = live(impersonations=True)
        assert row.expires_at <= before.expires_at
        assert exit_(admin).status_code == 303
    assert [(s.id, s.expires_at) for s in live(ADMIN)] == [(before.id, before.expires_at)]


def test_an_impersonation_ends_when_the_admins_own_session_would(app, admin):
    """Five minutes left on the admin's session: "Login as" gets five minutes, not thirty."""
    (own,) = live(ADMIN)
    ends = utcnow().replace(microsecond=0) + dt.timedelta(minutes=5)
    with db.connection_context():
        UserSession.update(expires_at=ends).where(UserSession.id == own.id).execute()
    start_impersonating(admin)
    (row,) = live(impersonations=True)
    assert row.expires_at == ends


@pytest.mark.parametrize("ended", ["revoked", "expired", "idle"])
def test_exit_after_the_admins_session_ended_goes_to_sign_in(app, admin, ended):
    (own,) = live(ADMIN)
    start_impersonating(admin)
    past = utcnow() - dt.timedelta(seconds=1)
    field = {"revoked": {"revoked_at": past}, "expired": {"expires_at": past},
             "idle": {"last_seen_at": past - dt.timedelta(
                 seconds=app.config["SESSION_IDLE_SECONDS"])}}[ended]
    with db.connection_context():
        UserSession.update(**field).where(UserSession.id == own.id).execute()
    r = exit_(admin)
    assert r.status_code == 303 and r.headers["Location"] == "/login"
    page = admin.get("/login").get_data(as_text=True)
    assert "Your own session ended while you were signed in as Mia Member" in page
    assert signed_out(admin)
    assert live(ADMIN) == [] and live(impersonations=True) == []


def test_exit_after_a_demotion_refuses_to_return_to_the_admin_account(app, admin):
    """A demotion that lands without ending the impersonation (a race): exit checks again."""
    start_impersonating(admin)
    with db.connection_context():
        (Membership.update(role="member", can_edit_team_profiles=False)
         .where(Membership.user == user(ADMIN).id).execute())
    r = exit_(admin, headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/login"
    page = admin.get("/login").get_data(as_text=True)
    assert "You no longer have permission to sign in as Mia Member" in page
    assert signed_out(admin)
    assert live(ADMIN) == [] and live(impersonations=True) == []
    ended = AuditEvent.get(AuditEvent.event == "impersonation.ended")
    assert (ended.outcome, ended.data["reason"]) == ("signed_out", "permission")
