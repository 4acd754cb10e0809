"""Signing in and out: server-side session rows behind Flask-Login's alternative id."""

import datetime as dt

from flask import current_app, session
from flask_login import current_user, login_user, logout_user

from ..audit import record
from ..extensions import login_manager
from ..models import Challenge, User, UserSession, utcnow
from ..web import client_info


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
    if (now - last_seen).total_seconds() > current_app.config["SESSION_IDLE_SECONDS"]:
        UserSession.update(revoked_at=now).where(UserSession.id == row.id).execute()
        return None
    if (now - last_seen).total_seconds() > 60:  # one write a minute at most, not per request
        UserSession.update(last_seen_at=now).where(UserSession.id == row.id).execute()
        row.last_seen_at = now
    user = row.user
    user.session_token, user.session_row = token, row
    user.impersonator = User.get_by_id(row.impersonator_id) if row.impersonator_id else None
    return user


def start_session(user: User, *, impersonator: User | None = None, lifetime=None) -> None:
    """A brand-new session: planted keys are dropped and a new token is issued."""
    session.clear()
    ip, agent = client_info()
    now = utcnow()
    row, token = UserSession.open(
        user, ip=ip, user_agent=agent, now=now, impersonator=impersonator,
        lifetime=lifetime or current_app.config["PERMANENT_SESSION_LIFETIME"],
    )
    user.session_token, user.session_row, user.impersonator = token, row, impersonator
    login_user(user)


def sign_in(user: User, *, channel: str | None) -> None:
    start_session(user)
    now = utcnow()
    User.update(last_login_at=now).where(User.id == user.id).execute()
    record("login.succeeded", subject=user, actor=user, channel=channel)


def close_verifications(user: User, now) -> int:
    """Verifications a person started die with a sign-out or a password change (SU-4)."""
    return (Challenge.update(cancelled_at=now)
            .where((Challenge.actor == user)
                   & (Challenge.purpose != "login")
                   & Challenge.consumed_at.is_null()
                   & Challenge.cancelled_at.is_null())
            .execute())


def end_session(user) -> None:
    row = getattr(user, "session_row", None)
    if row is not None:
        UserSession.update(revoked_at=utcnow()).where(UserSession.id == row.id).execute()
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
    """Sign out every session of the user, then give this browser a fresh one."""
    UserSession.revoke_all(user, utcnow())
    close_verifications(user, utcnow())
    start_session(user)


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
    from flask import make_response, redirect, request, url_for

    from ..web import is_htmx, safe_next

    target = url_for("auth.login", next=safe_next(request.full_path.rstrip("?"), None) or None)
    if is_htmx():
        response = make_response("", 401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)
