"""Signing in and out: server-side session rows behind Flask-Login's alternative id."""

import datetime as dt

from flask import (
    after_this_request,
    current_app,
    g,
    make_response,
    redirect,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user, login_user, logout_user

from ..audit import record
from ..db import atomic_write
from ..extensions import login_manager
from ..models import AuditEvent, Challenge, User, UserSession, utcnow
from ..web import client_info, is_htmx, notify, safe_next
from . import devices, remember


@login_manager.user_loader
def load_user(token: str):
    """The user for the session cookie's token, if that session is still live (one query)."""
    if not token:
        return None
    now = utcnow()
    row = UserSession.load(token, now)
    if row is None:
        return None
    last_seen = row.last_seen_at or row.created_at
    # A "Login as" browser is also its admin's: the suspended admin session idles with it,
    # and dies with it when it idles out (nothing else could ever resume it).
    rows = [row.id] if row.parent_id is None else [row.id, row.parent_id]
    if (now - last_seen).total_seconds() > current_app.config["SESSION_IDLE_SECONDS"]:
        UserSession.update(revoked_at=now).where(UserSession.id.in_(rows)).execute()
        return None
    if (now - last_seen).total_seconds() > 60:  # one write a minute at most, not per request
        UserSession.update(last_seen_at=now).where(UserSession.id.in_(rows)).execute()
        row.last_seen_at = now
    user = row.user
    user.session_token, user.session_row = token, row
    # The seat and its organisation came with the session (one query): this request's
    # own_seat() (webapp/web.py), which the rule gate reads too.
    g.own_seat = row.seat
    user.impersonator = User.get_by_id(row.impersonator_id) if row.impersonator_id else None
    return user


def start_session(user: User, *, impersonator: User | None = None, parent=None,
                  lifetime=None) -> None:
    """A brand-new session: planted keys are dropped and a new token is issued."""
    ip, agent = client_info()
    now = utcnow()
    row, token = UserSession.open(
        user, ip=ip, user_agent=agent, now=now, impersonator=impersonator, parent=parent,
        lifetime=lifetime or current_app.config["PERMANENT_SESSION_LIFETIME"],
    )
    _log_in(user, token, row, impersonator)


def _log_in(user: User, token: str, row, impersonator) -> None:
    session.clear()
    user.session_token, user.session_row, user.impersonator = token, row, impersonator
    login_user(user)


def impersonate(admin: User, member: User, lifetime: int) -> bool:
    """"Login as": park the admin's session and open the member's under it.

    False when the admin's session is no longer live. The admin's row is suspended, not
    revoked, so "Return to your account" can resume it (same row, same absolute limit);
    no cookie reaches it meanwhile, so a copy of the admin's cookie is useless too.
    """
    parent = admin.session_row
    now = utcnow()
    with atomic_write():
        if parent is None or not UserSession.suspend(parent, now):
            return False
        ip, agent = client_info()
        row, token = UserSession.open(member, ip=ip, user_agent=agent, now=now,
                                      impersonator=admin, parent=parent, lifetime=lifetime)
    _log_in(member, token, row, admin)
    return True


def leave_impersonation(member: User, *, allowed: bool) -> User | None:
    """End "Login as" and resume the admin's own suspended session; never open a new one.

    `allowed` is the caller's fresh check that the admin may still impersonate this member.
    Returns the admin when their original session was still live (not revoked, not expired,
    not idle) and is now this browser's again; otherwise the browser is signed out and the
    suspended session is revoked with the impersonation.
    """
    row, admin = member.session_row, member.impersonator
    now = utcnow()
    token = None
    with atomic_write():
        UserSession.update(revoked_at=now).where(UserSession.id == row.id).execute()
        if allowed and row.parent_id is not None:
            token = UserSession.resume(row.parent_id, admin, now,
                                       idle_seconds=current_app.config["SESSION_IDLE_SECONDS"])
        if token is None and row.parent_id is not None:
            (UserSession.update(revoked_at=now)
             .where((UserSession.id == row.parent_id) & UserSession.revoked_at.is_null())
             .execute())
    logout_user()
    session.clear()
    if token is None:
        return None
    _log_in(admin, token, UserSession.get_by_id(row.parent_id), None)
    return admin


def sign_in(user: User, *, channel: str | None, **details) -> None:
    new_device = not devices.knows(user.email)
    start_session(user)
    now = utcnow()
    User.update(last_login_at=now).where(User.id == user.id).execute()
    record("login.succeeded", subject=user, actor=user, channel=channel, **details)
    if new_device:  # a browser that never completed a sign-in to this account
        notify(user, gettext("New sign-in to your Aesthetix CRM account"),
               "email/new_sign_in.txt", change={"kind": "sign_in"})
    # A browser that completed both steps keeps its own wrong-password allowance from now
    # on, so a stranger locking the account's shared one does not lock this person out.
    after_this_request(lambda response: devices.remember(response, user.email))


def close_verifications(user: User, now, *, sign_ins: bool = False) -> int:
    """Verifications a person started die with a sign-out or a password change (SU-4).

    A password change (`sign_ins=True`) also closes every verification about the account,
    sign-ins waiting for their second step included: a sign-in started with the old
    password cannot be finished after the change (S-9).
    """
    if sign_ins:
        whose = (Challenge.actor == user) | (Challenge.subject == user)
    else:
        whose = (Challenge.actor == user) & (Challenge.purpose != "login")
    return (Challenge.update(cancelled_at=now)
            .where(whose & Challenge.consumed_at.is_null() & Challenge.cancelled_at.is_null())
            .execute())


def end_session(user) -> None:
    row = getattr(user, "session_row", None)
    if row is not None:
        # Signing out of "Login as" signs the browser out of the admin session under it too.
        rows = [row.id] if row.parent_id is None else [row.id, row.parent_id]
        UserSession.update(revoked_at=utcnow()).where(UserSession.id.in_(rows)).execute()
    if getattr(user, "impersonator", None) is None:
        close_verifications(user, utcnow())
    logout_user()
    session.clear()


def sign_out_other_sessions(user: User) -> int:
    """Revoke every session of the user but this browser's; returns how many."""
    keep = getattr(user, "session_row", None)
    if keep is None and current_user.is_authenticated and current_user.id == user.id:
        keep = current_user.session_row
    return UserSession.revoke_all(user, utcnow(), keep=keep)


def rotate_sessions(user: User) -> None:
    """Sign out every session of the user (after a password change), then give this browser a
    fresh one. The other browsers are told why when they next open the sign-in page."""
    UserSession.revoke_all(user, utcnow(), reason="password")
    close_verifications(user, utcnow(), sign_ins=True)
    remember.forget_all(user, "password")  # a remembered browser signs in again with a code
    start_session(user)


def signed_out_reason() -> str | None:
    """Why this browser's session was revoked ("password"), read with its own cookie only.

    Flask-Login keeps the token of a session the loader refused; nobody without that
    cookie can learn anything here.
    """
    token = session.get("_user_id")
    if current_user.is_authenticated or not isinstance(token, str) or not token:
        return None
    return UserSession.revoked_reason_for(token)


def last_sign_in_channel(user_id: int) -> str | None:
    """The second step the user last signed in with, from the log (None if never)."""
    row = (AuditEvent.select(AuditEvent.channel)
           .where((AuditEvent.subject == user_id)
                  & (AuditEvent.event == "login.succeeded")
                  & AuditEvent.channel.is_null(False))
           .order_by(AuditEvent.id.desc())
           .first())
    return row.channel if row else None


def pending_login() -> dict | None:
    """The half-signed-in state after the password: grants nothing but the second step."""
    pending = session.get("pending_login")
    if not isinstance(pending, dict):
        return None
    expires = pending.get("exp", 0)
    if utcnow().replace(tzinfo=dt.UTC).timestamp() > expires:
        session.pop("pending_login", None)
        return None
    return pending


@login_manager.unauthorized_handler
def unauthorized():
    """Plain requests go to the sign-in page; htmx requests are told to go there."""
    # Only a page can be returned to: after signing in, a POST's URL would answer 405.
    back = request.full_path.rstrip("?") if request.method == "GET" else None
    target = url_for("auth.login", next=safe_next(back, None) or None)
    if is_htmx():
        response = make_response("", 401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)
