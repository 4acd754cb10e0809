"""Sign-in (password, then the second step) and sign-out."""

import datetime as dt

from flask import current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from ..audit import record
from ..extensions import client_ip
from ..models import Challenge, Membership, User, utcnow
from ..security import N_, passwords, stepup
from ..security.stepup import NoChannel
from ..throttle import reserve
from ..verify import engine
from ..web import safe_next
from . import bp, devices, remember
from .forms import LoginForm
from .session import end_session, pending_login, sign_in, signed_out_reason

GENERIC_ERROR = N_("Incorrect email or password.")
# Told only after the right password: it reveals nothing to someone who doesn't know it.
REMOVED = N_("You were removed from your team, so you can no longer sign in. If this is a "
             "mistake, ask your team's owner to invite you again.")


def _reserve_password_check(email: str):
    """One slot per address and one per account (or per known browser), taken before the check.

    :raise Throttled: either is used up (the existing 429 page, with Retry-After).
    """
    config = current_app.config
    return reserve((config["LOGIN_FAILURES_PER_IP"], "login-ip", client_ip()),
                   (config["LOGIN_FAILURES_PER_ACCOUNT"], *devices.password_key(email)))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Email and password; on success the second step starts.

    :raise 429: too many wrong passwords from this address, or for this account from a
        browser that never signed in to it.
    """
    if current_user.is_authenticated:
        return redirect(url_for("profile.show"), 303)  # also answers a POST
    form = LoginForm()
    next_url = safe_next(request.values.get("next"), url_for("profile.show"))
    if not form.validate_on_submit():
        if request.method == "POST":
            return render_template("auth/login.html", form=form, next=next_url), 422
        return render_template("auth/login.html", form=form, next=next_url,
                               signed_out=signed_out_reason())
    # Reserve, then check: the attempt is counted before the password is compared, so a
    # burst of parallel guesses compares no more passwords than the limit allows.
    reservation = _reserve_password_check(form.email.data)
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
    reservation.give_back()  # only wrong passwords count
    if Membership.removed_everywhere(user.id):
        record("login.failed", subject=user, actor=user, outcome="denied", step="removed")
        form.password.errors = [gettext(REMOVED)]
        return render_template("auth/login.html", form=form, next=next_url), 403
    if remember.recognised(user) is not None:
        # A browser this person chose to remember (and still may) skips the second step of
        # this sign-in only; the password above was checked and throttled as always.
        sign_in(user, channel=None, remembered=True)
        return redirect(next_url, 303)
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
    """Leave the second step and start over ("Not you?"; a POST: leaving changes the session).

    The waiting verification is cancelled too, so its code stops working.
    """
    pending = pending_login()
    if pending:
        challenge = Challenge.get_or_none(Challenge.id == pending.get("cid"))
        if challenge is not None:
            stepup.cancel(challenge, utcnow())
        session.pop("pending_login", None)
    return redirect(url_for("auth.login"), 303)
