"""What saving the organisation's rules does, at once or after the owner's step-up.

A change that makes every member's sign-in weaker (the authenticator-or-passkey requirement
off, a longer grace period, "Remember this browser" allowed again) waits for the owner's own
verification: a copied session cookie must not be able to lower the whole team's guard.
A change that only makes it stronger is saved at once.
"""

from flask import current_app, url_for
from flask_babel import gettext

from .. import audit
from ..auth import remember
from ..db import atomic_write
from ..models import Membership, Organization, User
from ..security import N_, stepup
from ..team import authz
from ..verify.responses import finish_in_page
from ..web import notify
from . import policy


def default_grace_days() -> int:
    return int(current_app.config["STRONG_FACTOR_GRACE_DAYS"])


def snapshot(org) -> dict:
    """The rules as the form shows them (and as the audit and the owners' email say them)."""
    return {"require_strong_factor": org.strong_factor_required_at is not None,
            "grace_days": policy.grace_days(org, default_grace_days()),
            "allow_remember": bool(org.allow_remember_browser)}


def weakens(old: dict, new: dict) -> bool:
    """Whether `new` lowers any member's guard compared with `old`."""
    return ((old["require_strong_factor"] and not new["require_strong_factor"])
            or (new["require_strong_factor"] and new["grace_days"] > old["grace_days"])
            or (new["allow_remember"] and not old["allow_remember"]))


def save(org, new: dict, actor, now) -> dict:
    """Write the rules, audit them and tell every owner (the email commits with the change).

    Returns the old rules and how many remembered browsers were forgotten.
    """
    old = snapshot(org)
    # The grace period runs from when the requirement was turned on; changing only its
    # length keeps that start.
    since = (org.strong_factor_required_at or now) if new["require_strong_factor"] else None
    with atomic_write():
        (Organization
         .update(strong_factor_required_at=since, strong_factor_grace_days=new["grace_days"],
                 allow_remember_browser=new["allow_remember"])
         .where(Organization.id == org.id)
         .execute())
        forgotten = (remember.forget_organization(org.id)
                     if old["allow_remember"] and not new["allow_remember"] else 0)
        audit.record("rules.changed", subject=None, actor=actor, organization=org.id, old=old,
                     new=new, browsers_forgotten=forgotten)
        org.strong_factor_required_at, org.strong_factor_grace_days = since, new["grace_days"]
        org.allow_remember_browser = new["allow_remember"]
        owners = (User.select()
                  .join(Membership, on=(Membership.user == User.id))
                  .where((Membership.organization == org.id) & (Membership.role == "owner")
                         & Membership.removed_at.is_null()))
        for owner in owners:
            notify(owner, gettext("Security rules changed for %(org)s", org=org.name),
                   "rules/email/rules_changed.txt", org=org, actor=actor, old=old, new=new,
                   forgotten=forgotten)
    return {"old": old, "forgotten": forgotten}


SAVED = N_("Security rules saved. Every owner gets an email about the change.")


def apply_change_rules(c, subject, now) -> dict:
    """Runs inside the consuming transaction; the owner's right is checked again here."""
    seat = Membership.first_of(subject.id).first()
    if not authz.may_manage_rules(seat):
        raise stepup.Conflict(N_("Only an owner of your organisation can change its security "
                                 "rules."))
    org = Organization.get_by_id(seat.organization_id)
    new = {"require_strong_factor": bool(c.data["require_strong_factor"]),
           "grace_days": int(c.data["grace_days"]),
           "allow_remember": bool(c.data["allow_remember"])}
    return save(org, new, subject, now)


def after_change_rules(v: stepup.Verified):
    return finish_in_page(gettext(SAVED), refresh="rulesChanged", back=url_for("rules.show"))
