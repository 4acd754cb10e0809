"""Sign-in (password, then the second step) and sign-out."""

import datetime as dt

from flask import current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from ..audit import record
from ..extensions import limiter
from ..models import User, utcnow
from ..security import N_, passwords
from ..security.stepup import NoChannel
from ..verify import engine
from ..web import safe_next
from . import bp
from .forms import LoginForm
from .session import end_session, pending_login


def _account_key() -> str:
    return "login-account:" + (request.form.get("email") or "").strip().lower()[:254]


def _failed(response) -> bool:
    return response.status_code == 422


GENERIC_ERROR = N_("Incorrect email or password.")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_FAILURES_PER_ACCOUNT"], key_func=_account_key,
               methods=["POST"], deduct_when=_failed)
@limiter.limit(lambda: current_app.config["LOGIN_FAILURES_PER_IP"], methods=["POST"],
               deduct_when=_failed)
def login():
    """Email and password; on success the second step starts."""
    if current_user.is_authenticated:
        return redirect(url_for("profile.show"), 303)  # also answers a POST
    form = LoginForm()
    next_url = safe_next(request.values.get("next"), url_for("profile.show"))
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("auth/login.html", form=form, next=next_url), status
    params = passwords.Argon2Params.from_config(current_app.config)
    user = User.by_email(form.email.data)
    if user is None:
        passwords.burn_equal_time(form.password.data, params)
        ok = False
    else:
        ok, needs_rehash = passwords.verify_password(user.password_hash, form.password.data,
                                                     params)
        if ok and needs_rehash:
            user.password_hash = passwords.hash_password(form.password.data, params)
            User.update(password_hash=user.password_hash).where(User.id == user.id).execute()
    if not ok:
        record("login.failed", subject=user, actor=user, outcome="failed", step="password")
        form.password.errors = [gettext(GENERIC_ERROR)]
        return render_template("auth/login.html", form=form, next=next_url), 422
    try:
        challenge = engine.start(user, user, "login", {})
    except NoChannel:  # pragma: no cover - login always offers the account's email
        form.password.errors = [gettext(GENERIC_ERROR)]
        return render_template("auth/login.html", form=form, next=next_url), 422
    session.clear()
    session["pending_login"] = {
        "uid": user.id,
        "cid": challenge.id,
        "exp": (utcnow().replace(tzinfo=dt.UTC)
                + dt.timedelta(seconds=current_app.config["LOGIN_PENDING_SECONDS"])).timestamp(),
        "next": next_url,
    }
    return redirect(url_for("verify.show", cid=challenge.id), 303)


@bp.post("/logout")
@login_required
def logout():
    """Sign out this browser; its session row is revoked so a copied cookie stops working."""
    end_session(current_user)
    return redirect(url_for("auth.login"), 303)


@bp.post("/login/cancel")
def cancel_login():
    """Leave the second step and start over (a POST: leaving changes the session)."""
    if pending_login():
        session.pop("pending_login", None)
    return redirect(url_for("auth.login"), 303)
