"""Settings > Team > Security rules (owners), and the gate that enforces them on every request.

With "Require an authenticator app or passkey" on, a member without one sees a banner counting
down their grace period; once it is over they are taken to authenticator setup and can do
nothing else until it is done: every route but the setup, its verification steps, verifying
the email it needs, sign-out and static files answers with a redirect to the setup (a
303, or HX-Redirect for htmx).
"""

from flask import (
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user, login_required

from .. import audit
from ..models import Challenge, Membership, Organization, User, utcnow
from ..team import authz
from ..verify import engine
from ..verify.responses import refreshes, start_modal, to_modal, with_section
from ..web import (
    is_htmx,
    is_impersonating,
    own_seat,
    page_or_fragment,
    refuse_while_impersonating,
    trigger,
)
from . import bp, effects, policy
from .effects import default_grace_days
from .forms import RulesForm

# What a member the rule blocks may still open: the setup, its verification steps (only for
# the purposes the setup needs, checked below), verifying the email the setup asks for first,
# sign-out and leaving a sign-in, static files and health checks. The dev outbox exists only
# with DEV_OUTBOX=1 (development), where it is how the setup's emailed code is read.
ALLOWED_WHEN_BLOCKED = frozenset({
    "twofactor.setup", "twofactor.begin", "twofactor.confirm",
    "verify.show", "verify.choose", "verify.resend", "verify.code", "verify.cancel",
    "profile.verify_email",
    # A passkey satisfies the rule too: adding one, and signing in with it.
    "passkeys.index", "passkeys.add", "passkeys.new", "passkeys.registration_options",
    "passkeys.create", "passkeys.sign_in_options", "passkeys.sign_in_with_passkey",
    "auth.logout", "auth.login", "auth.cancel_login",
    "static", "healthz", "dev.outbox",
})
SETUP_PURPOSES = frozenset({"enable_totp", "add_passkey", "verify_email", "login"})


def my_standing() -> policy.Standing:
    """This request's person's standing under their organisation's rule (once a request)."""
    if "standing" not in g:
        if not current_user.is_authenticated or is_impersonating():
            g.standing = policy.NOT_REQUIRED
        else:
            seat = own_seat()  # with its organisation, from the session's query
            g.standing = policy.standing(current_user, seat,
                                         seat.organization if seat else None, utcnow(),
                                         default_grace_days())
    return g.standing


def _allowed_while_blocked() -> bool:
    endpoint = request.endpoint or ""
    if endpoint not in ALLOWED_WHEN_BLOCKED:
        return False
    cid = (request.view_args or {}).get("cid")
    if endpoint.startswith("verify.") and cid is not None:
        # Only the verifications the setup needs, not a phone change left open earlier.
        c = Challenge.get_or_none(Challenge.id == cid)
        return c is None or c.purpose in SETUP_PURPOSES
    return True


@bp.before_app_request
def require_strong_factor():
    """Past the grace period, a member without a strong factor is sent to the setup."""
    if request.endpoint is None or request.endpoint == "static":
        return None
    # Nobody signed in: don't load the user (Flask-Login would rewrite an anonymous session).
    if "_user_id" not in session or not current_user.is_authenticated:
        return None
    standing = my_standing()
    if not standing.blocked or _allowed_while_blocked():
        return None
    target = url_for("twofactor.setup")
    if is_htmx():
        response = make_response("", 403)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)


@bp.app_context_processor
def banner():
    """The countdown banner's facts, computed only when a page asks (base.html)."""
    def strong_factor_notice():
        standing = my_standing()
        # Checked again: this very request may have just set the authenticator up.
        if (not standing.required or standing.compliant
                or policy.has_strong_factor(current_user)):
            return None
        return {"blocked": standing.blocked, "days": standing.days_left(utcnow()),
                "deadline": standing.deadline}
    return {"strong_factor_notice": strong_factor_notice}


# --- the owner's page ---------------------------------------------------------------------------


@bp.before_request
@login_required
def _signed_in():
    """Every rules route needs a signed-in user."""


def guard_owner():
    """The owner's membership with the organisation.

    :raise 403: not an owner, or while signed in as another person.
    """
    refuse_while_impersonating("team_pages")
    seat = own_seat()
    if not authz.may_manage_rules(seat):
        audit.record("authz.denied", subject=None, outcome="denied",
                     organization=seat.organization_id if seat else None,
                     action="security_rules", status=403)
        abort(403, description=gettext("Only an owner of your organisation can change its "
                                       "security rules."))
    return seat


def _context(seat, form=None):
    org = seat.organization
    values = effects.snapshot(org)
    return {
        "org": org,
        "form": form or RulesForm(formdata=None, **values),
        "values": values,
        "default_grace_days": default_grace_days(),
        "missing": (Membership.select()
                    .join(User, on=(Membership.user == User.id))
                    .where((Membership.organization == org.id) & policy.missing_strong_factor())
                    .count()),
    }


@bp.get("/settings/team/rules")
def show():
    """The organisation's security rules (owners only).

    :raise 403: not an owner, or while signed in as another person.
    """
    seat = guard_owner()
    return page_or_fragment("rules/show.html", "partials/rules/form.html", **_context(seat))


@bp.post("/settings/team/rules")
def save():
    """Save the rules; changes are audited and every owner is told by email.

    A change that weakens a rule waits for the owner's own verification (effects.weakens),
    unless this session was verified a moment ago. Turning "Remember this browser" off
    forgets every remembered browser of the organisation.

    :raise 403: not an owner, or while signed in as another person.
    """
    seat = guard_owner()
    org = seat.organization
    form = RulesForm()
    if not form.validate_on_submit():
        return page_or_fragment("rules/show.html", "partials/rules/form.html", 422,
                                **_context(seat, form))
    old = effects.snapshot(org)
    new = {"require_strong_factor": bool(form.require_strong_factor.data),
           "grace_days": int(form.grace_days.data),
           "allow_remember": bool(form.allow_remember.data)}
    if new == old:
        return _answer(seat, gettext("No changes to save."))
    if effects.weakens(old, new) and not engine.recently_verified():
        owner, back = current_user._get_current_object(), url_for("rules.show")
        response = to_modal(start_modal(owner, owner, "change_rules", new, back=back))
        # Under the modal the section shows the rules as saved: a cancelled verification
        # leaves no unsaved change in the form.
        return with_section(response, "rulesChanged", back)
    effects.save(org, new, current_user._get_current_object(), utcnow())
    g.pop("standing", None)  # the banner below answers under the new rules
    return _answer(seat, gettext(effects.SAVED))


@refreshes("rules.show", "rulesChanged")
def refreshed_rules() -> str:
    """The rules section for an out-of-band swap, after a verified change."""
    seat = guard_owner()
    # The seat came with the session, before the verification saved: read the rules again.
    seat.organization = Organization.get_by_id(seat.organization_id)
    return render_template("partials/rules/form.html", oob=True, **_context(seat))


def _answer(seat, message: str):
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for("rules.show"), 303)
    response = page_or_fragment("rules/show.html", "partials/rules/form.html",
                                **_context(seat))
    return trigger(response, toast={"message": message, "level": "success"})
