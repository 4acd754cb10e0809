"""Settings > Team: the organisation's members, a member's page, admin changes, "Login as"."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from .. import audit, ids
from ..auth.session import impersonate, leave_impersonation
from ..forms import EmptyForm
from ..models import Invitation, Membership, User, utcnow
from ..prebuilt import PrebuiltByShape
from ..rules import policy as rules_policy
from ..security import N_, backup_codes
from ..security import channels as ch
from ..security import passkeys as pk
from ..throttle import Throttled
from ..verify import engine
from ..verify.responses import (
    begin_change,
    message_modal,
    refreshes,
    start_modal,
    to_modal,
    with_section,
)
from ..web import (
    card_or_fragment,
    done,
    fragment,
    is_htmx,
    is_impersonating,
    notify,
    own_seat,
    page_or_fragment,
    refuse_while_impersonating,
    tell,
    trigger,
)
from . import authz, bp, effects, invitations
from .forms import AccessForm, InviteForm, MemberForm

PAGE_SIZE = 50
SEARCH_MAX = 100


@bp.before_request
@login_required
def _signed_in():
    """Every team route needs a signed-in user."""


# --- who is asking, about whom -------------------------------------------------------------


def seat_of(user_id: int):
    """A person's membership (their first organisation), or None."""
    if user_id == current_user.id:
        return own_seat()  # read once a request, shared with the Team link in the header
    return Membership.first_of(user_id).first()


def member_seat(actor, user_id: int):
    """The target's membership in the actor's organisation, with the user, in one query."""
    if actor is None:
        return None
    return Membership.seat_in(actor.organization_id, user_id)


def _deny(actor, user_id, action: str, code: int):
    audit.record("authz.denied", subject=None, outcome="denied",
                 organization=actor.organization_id if actor else None,
                 action=action, target=user_id, status=code)
    if code == authz.NOT_FOUND:
        abort(404)
    abort(403, description=gettext("You don't have permission to do that for this person."))


def guard(decision, user_id: int, action: str):
    """The actor's and target's memberships when the decision allows it.

    :raise 403: impersonating, or the actor may not do this to this person.
    :raise 404: the person isn't in the actor's organisation (or doesn't exist).
    """
    # A "Login as" session acts as the member, never with the admin's team powers.
    refuse_while_impersonating("team_pages")
    actor = seat_of(current_user.id)
    target = member_seat(actor, user_id)
    code = authz.status(decision, actor, target)
    if code != authz.OK:
        _deny(actor, user_id, action, code)
    return actor, target


def edit_target(user_id: int, action: str):
    """(actor's seat, member's seat, the member, the admin at the keyboard) for an edit.

    :raise 403: impersonating, or no permission to edit this person.
    :raise 404: the person isn't in the actor's organisation.
    """
    actor, target = guard(authz.may_edit, user_id, action)
    return actor, target, target.user, current_user._get_current_object()


def guard_team():
    """:raise 403: impersonating, or not an owner or admin."""
    refuse_while_impersonating("team_pages")
    actor = seat_of(current_user.id)
    if not authz.may_view_team(actor):
        _deny(actor, None, "view_team", authz.FORBIDDEN)
    return actor


# --- the team list ---------------------------------------------------------------------------


def _members_query(organization_id, q: str, after, missing: bool):
    query = (Membership.select(Membership, User)
             .join(User, on=(Membership.user == User.id))
             .where((Membership.organization == organization_id)
                    & Membership.removed_at.is_null())
             .order_by(Membership.id)
             .limit(PAGE_SIZE + 1))
    if q:
        query = query.where(User.name.contains(q) | User.email.contains(q))
    if after:
        query = query.where(Membership.id > after)
    if missing:
        query = query.where(rules_policy.missing_strong_factor())
    return query


# A page without a search, SQL text built once per process and dialect for each of its
# four shapes (first page or later, everyone or only those missing a strong factor).
_PAGES = PrebuiltByShape(
    lambda missing, organization_id, after: _members_query(organization_id, "", after, missing),
    (int, int), models=(Membership, User), joins=("user",))


def team_page(actor, q: str, after: int | None, missing: bool = False):
    """One page of members in the order they joined, keyset-paginated: a single query.

    It walks the (organization, id) index of memberships, so no page sorts the whole team.
    `missing`: only those without an authenticator app or passkey (the organisation's rule).
    """
    if q:  # a search: its LIKE pattern is made from the words, so peewee writes it
        rows = list(_members_query(actor.organization_id, q, after, missing))
    else:
        rows = _PAGES.all((missing,), actor.organization_id, after or None)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return rows, (rows[-1].id if more else None)


@bp.get("/settings/team")
def index():
    """The organisation's members; `q` searches name and email, `after` pages on.

    :raise 403: members, and sessions using "Login as".
    """
    actor = guard_team()
    q = (request.args.get("q") or "").strip()[:SEARCH_MAX]
    after = ids.id_arg("after")
    missing = request.args.get("missing") == "1"
    rows, next_after = team_page(actor, q, after, missing)
    # The organisation came with the actor's seat (rules.routes): no query of its own.
    rule_on = actor.organization.strong_factor_required_at is not None
    return page_or_fragment("team/index.html", "partials/team/rows.html",
                            rows=rows, q=q, next_after=next_after, mask_phone=ch.mask_phone,
                            searched=bool(q) or missing, first_page=after is None,
                            missing=missing, rule_on=rule_on,
                            # One passkey query for the page, not one per row.
                            has_strong_factor=(rules_policy.strong_factor_test(
                                [m.user for m in rows]) if rule_on else None),
                            is_owner=authz.may_manage_rules(actor),
                            # Only the full page shows them: the rows fragment stays one query.
                            **({} if is_htmx() else _invitations_context(actor)))


# --- a member's page ------------------------------------------------------------------------


def _context(actor, target, **kw):
    member = target.user
    ctx = {
        "actor": actor,
        "seat": target,
        "member": member,
        "form": EmptyForm(),
        "member_form": kw.pop("member_form", None) or MemberForm(
            formdata=None, name=member.name, phone=member.phone or ""),
        "access_form": kw.pop("access_form", None) or AccessForm(
            formdata=None, role=target.role,
            can_edit_team_profiles=target.can_edit_team_profiles,
            can_edit_own_profile=target.can_edit_own_profile),
        "can_edit": authz.may_edit(actor, target),
        "can_impersonate": authz.may_impersonate(actor, target),
        "can_manage": authz.may_manage_access(actor, target),
        "can_remove": authz.may_remove(actor, target),
        "backup_left": backup_codes.unused(member),
        "passkey_count": len(pk.of_user(member.id)),
        "mask_phone": ch.mask_phone,
    }
    ctx.update(kw)
    return ctx


@bp.get("/settings/team/<int:user_id>", endpoint="member")
@bp.get("/settings/team/<int:user_id>/personal", endpoint="personal")
def member(user_id):
    """A member's page: personal data, two-factor, access, "Login as"; for htmx the Personal
    Data section alone. One's own id leads to My Profile.

    :raise 404: not in the actor's organisation.
    :raise 403: not an owner or admin.
    """
    refuse_while_impersonating("team_pages")
    if user_id == current_user.id and authz.may_view_team(seat_of(current_user.id)):
        # An admin's own row: one's own profile is changed on My Profile, verified with
        # one's own channels; the member page would only say "no permission".
        return to_own_profile()
    actor, target = guard(authz.may_view, user_id, "view_member")
    return page_or_fragment("team/member.html", "partials/team/personal.html",
                            **_context(actor, target))


def to_own_profile():
    """303 to My Profile; HX-Redirect for htmx, which must not follow a redirect itself."""
    target = url_for("profile.show")
    if is_htmx():
        response = current_app.make_response(("", 204))
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)


@bp.get("/settings/team/<int:user_id>/security")
def security(user_id):
    """The member's two-factor section alone; one's own id leads to My Profile."""
    refuse_while_impersonating("team_pages")
    if user_id == current_user.id and authz.may_view_team(seat_of(current_user.id)):
        return to_own_profile()
    actor, target = guard(authz.may_view, user_id, "view_member")
    return page_or_fragment("team/member.html", "partials/team/security.html",
                            **_context(actor, target))


@refreshes("team.member", "profileChanged")
def refreshed_personal(user_id) -> str:
    """The member's Personal Data for an out-of-band swap, after a verified change."""
    actor, target = guard(authz.may_view, user_id, "view_member")
    return render_template("partials/team/personal.html", oob=True, **_context(actor, target))


@refreshes("team.member", "accessChanged")
def refreshed_access(user_id) -> str:
    """The member's role and permissions for an out-of-band swap, after a verified change."""
    actor, target = guard(authz.may_manage_access, user_id, "manage_access")
    return render_template("partials/team/access.html", oob=True, **_context(actor, target))


@refreshes("team.member", "memberChanged")
def refreshed_security(user_id) -> str:
    """The member's two-factor section for an out-of-band swap, after a reset."""
    actor, target = guard(authz.may_view, user_id, "view_member")
    return render_template("partials/team/security.html", oob=True, **_context(actor, target))


@bp.post("/settings/team/<int:user_id>")
def update(user_id):
    """Save the member's name; a new phone starts a step-up with the member's channels.

    :raise 404: not in the actor's organisation.
    :raise 403: no permission to edit this person.
    """
    actor, target, member, admin = edit_target(user_id, "edit_member")
    form = MemberForm()
    if not form.validate_on_submit():
        return page_or_fragment("team/member.html", "partials/team/personal.html", 422,
                                **_context(actor, target, member_form=form))
    name = (form.name.data or "").strip()

    def save_name():
        User.update(name=name).where(User.id == member.id).execute()
        audit.record("name.changed", subject=member, actor=admin)
        member.name = name

    back = url_for("team.member", user_id=member.id)
    if form.phone.normalised != member.phone:
        response = begin_change(member, admin, "change_phone",
                                {"phone": form.phone.normalised}, back=back)
        # As on My Profile: a new name is saved only when the verification opened, and says
        # so; the section under the modal comes back as saved, so a cancelled verification
        # leaves no unsaved number in the form.
        if name != member.name and response.status_code < 400:
            save_name()
            tell(response, gettext("Name saved."))
        return with_section(response, "profileChanged", back)
    if name != member.name:
        save_name()
    if not is_htmx():
        flash(gettext("Profile saved."), "success")
        return redirect(back, 303)
    response = page_or_fragment("team/member.html", "partials/team/personal.html",
                                **_context(actor, target))
    return trigger(response, toast={"message": gettext("Profile saved."), "level": "success"})


@bp.post("/settings/team/<int:user_id>/access")
def access(user_id):
    """Set the member's role and permissions (owners only, never their own).

    :raise 404: not in the actor's organisation.
    :raise 403: not an owner, or the owner's own membership.
    """
    actor, target = guard(authz.may_manage_access, user_id, "manage_access")
    form = AccessForm()
    if not form.validate_on_submit():
        return page_or_fragment("team/member.html", "partials/team/access.html", 422,
                                **_context(actor, target, access_form=form))
    new = {
        "role": form.role.data,
        # Owners always edit team profiles; members never do.
        "can_edit_team_profiles": (form.role.data == "owner"
                                   or (form.role.data == "admin"
                                       and form.can_edit_team_profiles.data)),
        "can_edit_own_profile": bool(form.can_edit_own_profile.data),
    }
    old = {k: getattr(target, k) for k in new}
    owner = current_user._get_current_object()
    if effects.grants_more(old, new) and not engine.recently_verified():
        # Rights that outlast this session (an invitation as a member, then a promotion,
        # would otherwise get round the invitation's step-up): the owner verifies first.
        back = url_for("team.member", user_id=user_id)
        response = to_modal(start_modal(owner, owner, "change_access",
                                        {"member_id": target.user_id, **new}, back=back))
        # Under the modal the section shows the access as saved.
        return with_section(response, "accessChanged", back)
    if new != old:
        effects.save_access(target, new, owner, utcnow())
    message = gettext("Access updated.")
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for("team.member", user_id=user_id), 303)
    response = page_or_fragment("team/member.html", "partials/team/access.html",
                                **_context(actor, target))
    return trigger(response, toast={"message": message, "level": "success"})


# --- resetting a member's two-factor ------------------------------------------------------------


@bp.post("/settings/team/<int:user_id>/reset-2fa")
def reset_2fa(user_id):
    """Remove the member's authenticator, backup codes and passkeys, after the admin's own
    step-up (a lost phone may hold all three).

    :raise 404: not in the actor's organisation.
    :raise 403: no permission to edit this person.
    """
    _, _, member, admin = edit_target(user_id, "reset_2fa")
    back = url_for("team.member", user_id=member.id)
    if (not member.totp_secret and not backup_codes.unused(member)
            and not pk.has_passkey(member.id)):
        return message_modal(N_("Nothing to reset"),
                             gettext("%(name)s has no authenticator app, backup codes or "
                                     "passkeys.", name=member.display_name),
                             409, back=back)
    # The challenge is the admin's own: codes go to the admin's channels.
    return start_modal(admin, admin, "reset_member_2fa", {"member_id": member.id}, back=back)


# --- "Login as" --------------------------------------------------------------------------------


@bp.post("/settings/team/<int:user_id>/login-as")
def login_as(user_id):
    """Act as the member for at most IMPERSONATION_SECONDS (never as an owner, never as oneself).

    :raise 404: not in the actor's organisation.
    :raise 403: no permission, an owner, or oneself.
    """
    actor, target = guard(authz.may_impersonate, user_id, "login_as")
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400, description=gettext("Reload the page and try again."))
    admin, member = current_user._get_current_object(), target.user
    lifetime = current_app.config["IMPERSONATION_SECONDS"]
    # The admin's own session is suspended, not ended: "Return to your account" resumes it.
    if not impersonate(admin, member, lifetime):
        abort(409, description=gettext("Your session has ended. Sign in again."))
    audit.record("impersonation.started", subject=member, actor=admin)
    return done(gettext("You are now signed in as %(name)s.", name=member.display_name),
                "profile.show")


@bp.post("/impersonation/exit")
def exit_impersonation():
    """End "Login as" and return to the admin's own session, the one "Login as" suspended.

    Never a new session: when that one was revoked or expired, or the admin may no longer
    impersonate this member, the browser is signed out and goes to the sign-in page.
    """
    if not is_impersonating():
        return redirect(url_for("profile.show"), 303)
    member = current_user._get_current_object()
    admin = member.impersonator
    # Checked again now, on current memberships: rights may have changed since "Login as".
    actor = seat_of(admin.id)
    allowed = authz.may_impersonate(actor, member_seat(actor, member.id))
    resumed = leave_impersonation(member, allowed=allowed)
    audit.record("impersonation.ended", subject=member, actor=admin,
                 outcome="ok" if resumed else "signed_out",
                 reason=None if resumed else ("permission" if not allowed else "session_ended"))
    if resumed:
        return done(gettext("You are back in your own account. %(name)s was signed out.",
                            name=member.display_name),
                    "team.member", user_id=member.id)
    message = (gettext("You no longer have permission to sign in as %(name)s. Sign in again.",
                       name=member.display_name) if not allowed else
               gettext("Your own session ended while you were signed in as %(name)s. "
                       "Sign in again.", name=member.display_name))
    flash(message, "error")
    if is_htmx():
        response = current_app.make_response(("", 204))
        response.headers["HX-Redirect"] = url_for("auth.login")
        return response
    return redirect(url_for("auth.login"), 303)


# --- "Remove from team" ------------------------------------------------------------------------


def _remove_context(actor, target):
    return {"member": target.user, "seat": target,
            "organization": actor.organization.name, "form": EmptyForm()}


@bp.get("/settings/team/<int:user_id>/remove")
def confirm_remove(user_id):
    """"Remove from team?": the modal for htmx, a page of its own otherwise.

    :raise 404: not in the actor's organisation.
    :raise 403: no permission to remove this person.
    """
    actor, target = guard(authz.may_remove, user_id, "remove_member")
    if is_htmx():
        return fragment("partials/team/remove_modal.html", **_remove_context(actor, target))
    return card_or_fragment("partials/team/remove.html", page_title=gettext("Remove from team"),
                            labelled_by="remove-title", **_remove_context(actor, target))


@bp.post("/settings/team/<int:user_id>/remove")
def remove(user_id):
    """End the membership: the person is signed out everywhere and can no longer sign in.

    :raise 404: not in the actor's organisation (or already removed).
    :raise 403: no permission to remove this person.
    :raise 409: the organisation's last owner.
    """
    actor, target = guard(authz.may_remove, user_id, "remove_member")
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400, description=gettext("Reload the page and try again."))
    member = target.user
    try:
        effects.remove_member(target, current_user._get_current_object(), utcnow())
    except effects.LastOwner:
        abort(409, description=gettext("%(name)s is the last owner of this team and can't be "
                                       "removed. Make someone else an owner first.",
                                       name=member.display_name))
    except LookupError:
        abort(404)
    notify(member, gettext("You were removed from %(organization)s on Aesthetix CRM",
                           organization=actor.organization.name),
           "team/email/removed.txt", organization=actor.organization.name)
    return done(gettext("%(name)s was removed from the team and signed out everywhere.",
                        name=member.display_name), "team.index")


# --- invitations --------------------------------------------------------------------------------


def guard_invite():
    """:raise 403: impersonating, or neither an owner nor an admin who edits team profiles."""
    refuse_while_impersonating("team_pages")
    actor = seat_of(current_user.id)
    if not authz.may_invite(actor):
        _deny(actor, None, "invite", authz.FORBIDDEN)
    return actor


def _invite_form(actor, **kw):
    return InviteForm(authz.roles_to_invite(actor), **kw)


def _invite_answer(actor, form, status=200):
    """The invite form: the modal's content for htmx, a page of its own otherwise."""
    context = {"invite_form": form, "organization": actor.organization.name,
               "days": current_app.config["LINK_INVITATION_SECONDS"] // 86400,
               "in_modal": is_htmx()}
    if is_htmx():
        template = ("partials/team/invite_modal.html" if status == 200
                    else "partials/team/invite.html")
        return fragment(template, status, **context)
    return card_or_fragment("partials/team/invite.html", status,
                            page_title=gettext("Invite someone"),
                            labelled_by="invite-title", **context)


def _invitations_context(actor):
    return {"invitations": invitations.pending(actor.organization_id), "now": utcnow(),
            "may_handle": lambda inv: authz.may_handle_invitation(actor, inv.role),
            "may_invite": authz.may_invite(actor)}


@bp.get("/settings/team/invite")
def invite_form():
    """"Invite someone": email and role (admins can't invite owners).

    :raise 403: not allowed to invite.
    """
    actor = guard_invite()
    return _invite_answer(actor, _invite_form(actor, formdata=None))


@bp.post("/settings/team")
def invite():
    """Invite someone by email; the same answer whether or not the address has an account.

    :raise 403: not allowed to invite (or to give that role).
    :raise 429: a sending limit is used up (the form says when to try again).
    """
    actor = guard_invite()
    form = _invite_form(actor)
    if not form.validate_on_submit():
        return _invite_answer(actor, form, 422)
    email, role = form.email.normalised, form.role.data
    now = utcnow()
    if invitations.in_team(actor.organization_id, email):
        # Already on the Team page: saying so tells the inviter nothing new.
        form.email.errors = [gettext("%(email)s is already in your team.", email=email)]
        return _invite_answer(actor, form, 422)
    if invitations.open_for(actor.organization_id, email, now):
        form.email.errors = [gettext("%(email)s already has a pending invitation: use Resend "
                                     "below.", email=email)]
        return _invite_answer(actor, form, 422)
    inviter = current_user._get_current_object()
    if role in authz.PRIVILEGED and not engine.recently_verified():
        # Owner and admin rights last: a copied session cookie must not hand them to an
        # address of its own. The inviter verifies it's them; the verification sends it.
        return to_modal(start_modal(inviter, inviter, "invite_privileged",
                                    {"email": email, "role": role},
                                    back=url_for("team.index")))
    try:
        effects.claim_invitation_send(actor.organization_id, email)
    except Throttled as exc:
        form.email.errors = [effects.throttled_text(exc)]
        response = _invite_answer(actor, form, 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    # An address in use (in another organisation, or a removed member's) is answered and
    # listed like any other; only its owner learns, by email, why no link came.
    invitation, token = invitations.create(actor.organization_id, inviter, email, role, now)
    effects.send_invitation(invitation, token, actor.organization.name, inviter)
    return _invitations_done(actor, gettext("Invitation sent to %(email)s.", email=email))


@refreshes("team.index", "invitationsChanged")
def refreshed_invitations() -> str:
    """The pending invitations for an out-of-band swap, after a verified invitation."""
    actor = guard_invite()
    return render_template("partials/team/invitations.html", oob=True,
                           **_invitations_context(actor))


def _invitations_done(actor, message: str):
    """After an invitation action: back to the Team page, or (htmx) close the modal, toast
    and the pending list again."""
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for("team.index"), 303)
    response = fragment("partials/team/invitations.html", oob=True,
                        **_invitations_context(actor))
    return trigger(response, closeModal=True, toast={"message": message, "level": "success"})


def invitation_target(invitation_id: int, action: str):
    """(actor's seat, the invitation) when the actor may resend or revoke it.

    :raise 404: no such open invitation in the actor's organisation.
    :raise 403: not allowed (an admin and an owner's invitation).
    """
    actor = guard_invite()
    invitation = Invitation.get_or_none((Invitation.id == invitation_id)
                                        & (Invitation.organization == actor.organization_id)
                                        & Invitation.accepted_at.is_null()
                                        & Invitation.revoked_at.is_null())
    if invitation is None:
        abort(404)
    if not authz.may_handle_invitation(actor, invitation.role):
        _deny(actor, None, action, authz.FORBIDDEN)
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400, description=gettext("Reload the page and try again."))
    return actor, invitation


@bp.post("/settings/team/invitations/<int:invitation_id>/resend")
def resend_invitation(invitation_id):
    """Send a new link, valid the full time again; the earlier links stop working.

    :raise 404: no such open invitation in the actor's organisation.
    :raise 403: not allowed to handle this invitation.
    :raise 429: a sending limit is used up.
    """
    actor, invitation = invitation_target(invitation_id, "invite")
    effects.claim_invitation_send(actor.organization_id, invitation.email)  # Throttled: 429
    inviter = current_user._get_current_object()
    try:
        invitation, token = invitations.resend(invitation, inviter, utcnow())
    except LookupError:
        abort(404)
    effects.send_invitation(invitation, token, actor.organization.name, inviter)
    return _invitations_done(actor, gettext("Invitation sent again to %(email)s. Earlier links "
                                            "no longer work.", email=invitation.email))


@bp.post("/settings/team/invitations/<int:invitation_id>/revoke")
def revoke_invitation(invitation_id):
    """Revoke a pending invitation: its link stops working.

    :raise 404: no such open invitation in the actor's organisation.
    :raise 403: not allowed to handle this invitation.
    """
    actor, invitation = invitation_target(invitation_id, "invite")
    try:
        invitations.revoke(invitation, current_user._get_current_object(), utcnow())
    except LookupError:
        abort(404)
    return _invitations_done(actor, gettext("Invitation to %(email)s revoked.",
                                            email=invitation.email))
