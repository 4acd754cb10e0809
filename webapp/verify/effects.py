"""Effects of the verifications about sign-in and contact details, and what follows them.

An applier runs inside the transaction that consumes the challenge, re-checks that the
change is still allowed and writes its notice (the delivery table commits it with the
change); an after-hook runs once it committed (the response).
"""

from flask import redirect, request, session, url_for
from flask_babel import gettext
from peewee import IntegrityError

from .. import audit
from ..auth import devices, remember
from ..auth.session import pending_login, sign_in
from ..extensions import db
from ..models import Challenge, Membership, User
from ..security import N_, stepup
from ..security import channels as ch
from ..team import authz
from ..web import fragment, is_htmx, notify
from .responses import finish_in_page, return_url

EMAIL_REFUSED = N_("We couldn't change the email address to that one. Choose another address.")


def may_still_change(c: Challenge, subject: User) -> None:
    """The actor's permission, checked again when the change is applied (same rule as at start).

    :raise stepup.Conflict: the actor lost the permission since the change started.
    """
    if c.actor_id == subject.id:
        seat = Membership.first_of(subject.id).first()
        if seat is not None and not seat.can_edit_own_profile:
            raise stepup.Conflict(N_("Your profile can only be changed by your account owner."))
        return
    actor = Membership.first_of(c.actor_id).first()
    target = Membership.seat_in(actor.organization_id, subject.id) if actor else None
    if not authz.may_edit(actor, target):
        raise stepup.Conflict(N_("You can no longer change this person's profile."))


def apply_login(c: Challenge, subject: User, now) -> dict:
    # Removed from the team between the password and the code: no session.
    if Membership.removed_everywhere(subject.id):
        raise stepup.Conflict(N_("You were removed from your team, so you can no longer "
                                 "sign in."))
    # The sign-in email code proves the address it was sent to, and only while that is
    # still the account's address.
    if c.channel == "email":
        proven = (User.update(email_verified_at=now)
                  .where((User.id == subject.id) & (User.email == c.destination)
                         & User.email_verified_at.is_null())
                  .execute())
        if proven:  # the sign-in's notices go to the address it just proved
            subject.email_verified_at = now
    return {}


def _apply_verified(field: str, message: str):
    """The code proved the stored address or number it was sent to, if it is still that one."""

    def apply(c: Challenge, subject: User, now) -> dict:
        column = getattr(User, field)
        updated = (User.update({getattr(User, f"{field}_verified_at"): now})
                   .where((User.id == subject.id) & (column == c.data[field])
                          & (column == c.destination))
                   .execute())
        if updated != 1:
            raise stepup.Conflict(message)
        return {}

    return apply


apply_verify_email = _apply_verified(
    "email", N_("Your email address changed since this code was sent. Start again."))
apply_verify_phone = _apply_verified(
    "phone", N_("Your phone number changed since this code was sent. Start again."))


def apply_change_phone(c: Challenge, subject: User, now) -> dict:
    may_still_change(c, subject)
    new, old, old_verified = c.data["phone"], subject.phone, subject.phone_verified
    User.update(phone=new, phone_verified_at=None).where(User.id == subject.id).execute()
    stepup.close_others(subject.id, now, keep=c.id)
    remember.forget_all(subject, "factor")  # a changed factor: remembered browsers ask again
    audit.record("phone.changed", subject=subject, actor=c.actor_id, channel=c.channel,
                 old=ch.mask_phone(old), new=ch.mask_phone(new))
    # The notice commits with the change (the delivery table), so it can't be lost.
    notify(subject, gettext("Your phone number was changed"), "email/phone_changed.txt",
           actor=c.actor, for_member=c.actor_id != subject.id, new=ch.mask_phone(new),
           # "Secure your account" puts the old number back, verified if it was.
           change={"kind": "phone", "old": old, "new_masked": ch.mask_phone(new),
                   "old_verified": old_verified})
    subject.phone, subject.phone_verified_at = new, None
    return {"old": old, "new": new, "old_verified": old_verified}


def apply_change_email(c: Challenge, subject: User, now) -> dict:
    may_still_change(c, subject)
    new, old = c.data["email"], subject.email
    # The profile form never says whether an address is registered; a clash shows here,
    # after the verification, with the same words as any refusal, and the owner of the
    # address is told (after the transaction, see after_email_refused).
    taken = User.select().where((User.email == new) & (User.id != subject.id)).exists()
    if not taken:
        try:
            with db.atomic():  # a savepoint: the clash must not abort the transaction
                User.update(email=new, email_verified_at=None).where(
                    User.id == subject.id).execute()
        except IntegrityError:  # registered by someone else meanwhile
            taken = True
    if taken:
        raise stepup.Conflict(EMAIL_REFUSED, taken=new)
    stepup.close_others(subject.id, now, keep=c.id)
    remember.forget_all(subject, "factor")
    audit.record("email.changed", subject=subject, actor=c.actor_id, channel=c.channel,
                 old=ch.mask_email(old), new=ch.mask_email(new))
    # To the old address, in the change's transaction: the new one is not proven, and the
    # old owner must hear of it.
    notify(subject, gettext("Your email address was changed"), "email/email_changed.txt",
           to=old, actor=c.actor, for_member=c.actor_id != subject.id,
           old=ch.mask_email(old), new=ch.mask_email(new),
           # The link goes to the old address; it can put that address back.
           change={"kind": "email", "old": old, "new_masked": ch.mask_email(new)})
    subject.email, subject.email_verified_at = new, None
    return {"old": old, "new": new}


def after_conflict(c: Challenge, exc: stepup.Conflict) -> None:
    """Tell the owner of an address that someone tried to use it (S-8)."""
    taken = exc.info.get("taken")
    if not taken:
        return
    owner = User.by_email(taken)
    if owner is not None:
        notify(owner, gettext("Someone tried to use your email address"),
               "email/address_in_use.txt")
    audit.record("email.change_refused", subject=c.subject, actor=c.actor_id,
                 outcome="refused", reason="address_in_use")


def after_login(v: stepup.Verified):
    pending = pending_login() or {}
    target = pending.get("next") or url_for("profile.show")
    sign_in(v.subject, channel=v.challenge.channel)
    # "Don't ask again on this browser": ticked with a correct code, where the organisation
    # allows it. Only the next sign-ins' second step is skipped, never a step-up.
    if request.form.get("remember") and remember.allowed_for(v.subject.id):
        remember.remember(v.subject)
    session.pop("pending_login", None)
    if is_htmx():
        response = fragment("partials/empty.html")
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)


def after_change_phone(v: stepup.Verified):
    phone = ch.display_phone(v.result["new"])
    if v.challenge.actor_id != v.subject.id:  # said to the admin, about the member
        message = gettext("Phone number updated: %(name)s's phone is now %(phone)s. %(name)s "
                          "can verify the new number from their profile to use it for codes.",
                          name=v.subject.display_name, phone=phone)
    else:
        message = gettext("Phone number updated to %(phone)s. Verify the new number to use it "
                          "for codes.", phone=phone)
    return finish_in_page(message, refresh="profileChanged", back=return_url(v.challenge))


def after_change_email(v: stepup.Verified):
    email = ch.mask_email(v.result["new"])
    if v.challenge.actor_id != v.subject.id:  # said to the admin, about the member
        message = gettext("Email address updated: %(name)s's email is now %(email)s. %(name)s "
                          "can verify the new address from their profile to use it for codes.",
                          name=v.subject.display_name, email=email)
    else:
        message = gettext("Email address updated to %(email)s. Verify the new address to use "
                          "it for codes.", email=email)
    response = finish_in_page(message, refresh=("profileChanged", "twofactorChanged"),
                              back=return_url(v.challenge))
    if v.challenge.actor_id == v.subject.id and devices.knows(v.result["old"]):
        # The browser that made the change signed in to the account before: it stays known
        # under the new address (no new-device notice, its own password allowance). Only
        # this browser; others learn the new address by signing in with it.
        devices.remember(response, v.result["new"])
    return response


def after_verify_email(v: stepup.Verified):
    audit.record("email.verified", subject=v.subject, channel=v.challenge.channel)
    # The two-factor section offers authenticator setup only with a verified email.
    return finish_in_page(gettext("Email address verified."),
                          refresh=("profileChanged", "twofactorChanged"),
                          back=return_url(v.challenge))


def after_verify_phone(v: stepup.Verified):
    audit.record("phone.verified", subject=v.subject, channel=v.challenge.channel)
    return finish_in_page(gettext("Phone number verified."), refresh="profileChanged",
                          back=return_url(v.challenge))
