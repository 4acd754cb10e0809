"""Security events in people's words: one table for the rows and the event filter.

`NAMES` holds the label of every event the log may hold; `describe()` turns an event's
details (masked values only: the log never holds a full number or address) into one line.
"""

# The request's catalog, looked up once a request: a page of 50 events says ~200 labels.
from ..extensions import template_gettext as gettext
from ..security import N_
from ..security import channels as ch

# Filter order: the events people look for first.
NAMES = {
    "login.succeeded": N_("Signed in"),
    "login.failed": N_("Sign-in failed"),
    "password.changed": N_("Password changed"),
    "password.change_failed": N_("Password change failed"),
    "phone.changed": N_("Phone changed"),
    "phone.verified": N_("Phone verified"),
    "email.changed": N_("Email changed"),
    "email.verified": N_("Email verified"),
    "email.change_refused": N_("Email change refused"),
    "name.changed": N_("Name changed"),
    "totp.enabled": N_("Authenticator app set up"),
    "totp.disabled": N_("Authenticator app removed"),
    "totp.replay_refused": N_("Authenticator code reused"),
    "backup_codes.regenerated": N_("Backup codes regenerated"),
    "backup_code.used": N_("Backup code used"),
    "passkey.added": N_("Passkey added"),
    "passkey.removed": N_("Passkey removed"),
    "passkey.renamed": N_("Passkey renamed"),
    "passkey.used": N_("Passkey used"),
    "passkey.refused": N_("Passkey refused"),
    "passkey.cloned": N_("Copied passkey refused"),
    "challenge.started": N_("Verification started"),
    "challenge.code_sent": N_("Verification code sent"),
    "challenge.failed": N_("Wrong verification code"),
    "challenge.locked": N_("Code entry locked"),
    "challenge.refused": N_("Verification refused"),
    "challenge.delivery_failed": N_("Code not delivered"),
    "change.limited": N_("Daily change limit reached"),
    "sessions.revoked": N_("Other devices signed out"),
    "impersonation.started": N_("Login as started"),
    "impersonation.ended": N_("Login as ended"),
    "impersonation.denied": N_("Refused during Login as"),
    "authz.denied": N_("Permission refused"),
    "membership.changed": N_("Role changed"),
    # Recovery by emailed link (webapp/links.py, webapp/recovery/).
    "password.reset_requested": N_("Password reset link asked for"),
    "account.secured": N_("Account secured from a notice"),
    "backup_codes.removed": N_("Backup codes removed"),
    "link.issued": N_("Emailed link sent"),
    "link.used": N_("Emailed link used"),
    "invitation.sent": N_("Invitation sent"),
    "invitation.resent": N_("Invitation sent again"),
    "invitation.revoked": N_("Invitation revoked"),
    "invitation.refused": N_("Invitation link refused"),
    "member.joined": N_("Joined the team"),
    "member.removed": N_("Removed from the team"),
    "browser.remembered": N_("Browser remembered"),
    "browser.forgotten": N_("Remembered browsers forgotten"),
    "rules.changed": N_("Security rules changed"),
}

# Why remembered browsers were forgotten (auth/remember.py).
FORGOTTEN = {
    "forgotten": N_("forgotten by you"), "forget_all": N_("all forgotten by you"),
    "password": N_("password changed"), "factor": N_("a sign-in method changed"),
    "org_rule": N_("your organisation turned remembering off"),
    "secure_account": N_("account secured"),
}

ROLES = {"owner": N_("Owner"), "admin": N_("Admin"), "member": N_("Member")}

PURPOSES = {
    "login": N_("sign-in"), "change_phone": N_("phone change"), "change_email": N_("email change"),
    "verify_phone": N_("phone verification"), "verify_email": N_("email verification"),
    "regenerate_backup_codes": N_("new backup codes"), "disable_totp": N_("removing the app"),
    "enable_totp": N_("setting up the app"), "reset_member_2fa": N_("two-factor reset"),
    "add_passkey": N_("adding a passkey"), "remove_passkey": N_("removing a passkey"),
}

LINK_PURPOSES = {
    "reset_password": N_("Password reset"), "secure_account": N_("Secure your account"),
    "invitation": N_("Invitation"),
}

ACTIONS = {
    "login_as": N_("Login as"), "view_team": N_("Team list"), "view_member": N_("Member page"),
    "edit_member": N_("Member change"),
    "remove_member": N_("Remove from team"), "invite": N_("Invitation"),
}


def event_name(event: str) -> str:
    """The translated label; an event this version doesn't know is shown as stored."""
    return gettext(NAMES[event]) if event in NAMES else event


def event_choices() -> list[tuple[str, str]]:
    """(value, label) for the event filter, in the table's order."""
    return [(key, gettext(label)) for key, label in NAMES.items()]


def _method(channel) -> str:
    return gettext(ch.LABELS[channel]).lower() if channel in ch.LABELS else (channel or "")


def _words(table: dict, key) -> str:
    return gettext(table[key]) if key in table else str(key or "")


def describe(e) -> str:
    """One line from the event's details: what changed, how it was verified, why refused."""
    try:
        d = e.data
    except ValueError:
        return ""
    if not isinstance(d, dict):
        return ""
    by = _method(e.channel)
    if e.event in ("phone.changed", "email.changed") and d.get("new"):
        what = gettext("Phone") if e.event == "phone.changed" else gettext("Email")
        text = (gettext("%(what)s changed from %(old)s to %(new)s", what=what, old=d["old"],
                        new=d["new"]) if d.get("old")
                else gettext("%(what)s set to %(new)s", what=what, new=d["new"]))
        return text + (gettext(", verified by %(method)s", method=by) if by else "")
    if e.event == "login.succeeded" and d.get("remembered"):
        return gettext("Second step skipped: remembered browser")
    if e.event == "browser.remembered" and "days" in d:
        return gettext("Sign-in asks no code on this browser for %(days)s days", days=d["days"])
    if e.event == "browser.forgotten" and "count" in d:
        return gettext("%(count)s browser(s): %(reason)s", count=d["count"],
                       reason=_words(FORGOTTEN, d.get("reason")))
    if e.event == "rules.changed" and isinstance(d.get("new"), dict):
        return ", ".join(f"{k}: {v}" for k, v in d["new"].items())
    if e.event in ("login.succeeded",) and by:
        return gettext("Verified by %(method)s", method=by)
    if e.event == "login.failed" and d.get("step") == "removed":
        return gettext("Removed from the team")
    if e.event == "login.failed":
        return (gettext("Wrong password") if d.get("step") == "password"
                else gettext("Wrong code (%(method)s)", method=by) if by else gettext("Wrong code"))
    if e.event == "backup_code.used" and "left" in d:
        return gettext("%(left)s backup codes left", left=d["left"])
    if e.event in ("challenge.started", "challenge.failed", "change.limited") and d.get("purpose"):
        return gettext("For %(purpose)s", purpose=_words(PURPOSES, d["purpose"]))
    if e.event == "authz.denied" and d.get("action"):
        return gettext("%(action)s refused: no permission for this person",
                       action=_words(ACTIONS, d["action"]))
    if e.event == "impersonation.denied" and d.get("action"):
        return gettext("Login as refused: %(action)s is for the person themselves",
                       action=str(d["action"]).replace("_", " "))
    if e.event == "impersonation.ended" and d.get("reason"):
        return gettext("Ended: %(reason)s", reason=str(d["reason"]).replace("_", " "))
    if e.event == "membership.changed" and isinstance(d.get("new"), dict):
        return ", ".join(f"{k}: {v}" for k, v in d["new"].items())
    if e.event.startswith("passkey.") and d.get("name"):
        return gettext("Passkey “%(name)s”", name=d["name"])
    if e.event == "passkey.renamed" and d.get("new"):
        return gettext("“%(old)s” renamed to “%(new)s”", old=d.get("old", ""), new=d["new"])
    if e.event.startswith("passkey.") and d.get("reason"):
        return gettext("Refused: %(reason)s", reason=str(d["reason"]).replace("_", " "))
    if e.event == "email.change_refused":
        return gettext("The address is already in use")
    if d.get("reason") == "secured from notice":
        return gettext("Secured from notice")
    if e.event == "password.changed" and d.get("method") == "reset":
        return gettext("Reset with an emailed link")
    if e.event in ("link.issued", "link.used") and d.get("purpose"):
        return _words(LINK_PURPOSES, d["purpose"])
    if e.event.startswith("invitation.") and d.get("email"):
        if e.event == "invitation.refused":
            return gettext("Link for %(email)s: %(reason)s", email=d["email"],
                           reason=str(d.get("reason", "")).replace("_", " "))
        return gettext("%(email)s as %(role)s", email=d["email"],
                       role=_words(ROLES, d.get("role")))
    if e.event in ("member.joined", "member.removed") and d.get("role"):
        text = gettext("As %(role)s", role=_words(ROLES, d["role"]))
        if e.event == "member.removed" and "sessions_revoked" in d:
            text += gettext(", %(count)s devices signed out", count=d["sessions_revoked"])
        return text
    if e.event == "sessions.revoked" and "count" in d:
        return gettext("%(count)s devices signed out", count=d["count"])
    return ""
