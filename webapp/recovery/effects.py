"""What a reset link and a "Secure your account" link do, and how a notice's change reads.

Plain functions over the models, called inside the transaction that consumes the link
(`links.consume`), so the link is used exactly when its effect is applied.
"""

import datetime as dt

from flask_babel import format_datetime, gettext
from peewee import IntegrityError

from .. import audit, links
from ..auth import remember
from ..auth.session import close_verifications
from ..extensions import db
from ..models import Passkey, PendingTotp, User, UserSession
from ..security import N_, backup_codes
from ..security import channels as ch
from ..twofactor.effects import remove_factor

SECURED = "secured from notice"

# The kinds of change a notice can carry a "Secure your account" link for (notify(change=)).
PASSWORD, PASSWORD_RESET, EMAIL, PHONE = "password", "password_reset", "email", "phone"
TOTP_ADDED, TOTP_REMOVED, BACKUP_CODES = "totp_added", "totp_removed", "backup_codes"
TWO_FACTOR_RESET, SIGN_IN = "two_factor_reset", "sign_in"
PASSKEY_ADDED, PASSKEY_REMOVED = "passkey_added", "passkey_removed"


class Gone(Exception):
    """The link is no longer valid (used, expired, or its password changed meanwhile)."""


def reset_password(token: str, user: User, new_hash: str, now) -> None:
    """Use a reset link: the new password, every session and "Login as" of the account out.

    :raise Gone: the link was used by a parallel request, expired, or the password changed
        since it was shown (the hash is replaced only if it is still the one read then).
    """
    if links.consume(token, links.RESET_PASSWORD, now=now) is None:
        raise Gone
    updated = (User.update(password_hash=new_hash)
               .where((User.id == user.id) & (User.password_hash == user.password_hash))
               .execute())
    if updated != 1:
        raise Gone
    links.revoke_for(user, links.RESET_PASSWORD, now=now)  # other reset emails die too
    signed_out = UserSession.revoke_all(user, now, reason="password")
    remember.forget_all(user, "password")  # remembered browsers ask for the second step again
    close_verifications(user, now, sign_ins=True)
    audit.record("password.changed", subject=user, actor=user, method="reset",
                 sessions_revoked=signed_out)


def secure(token: str, now) -> tuple[User, list[str]]:
    """Use a "Secure your account" link: sign out everything, undo the change where that means
    something. Returns the user and what was undone (see UNDONE).

    :raise Gone: the link is used, expired or unknown.
    """
    link = links.consume(token, links.SECURE_ACCOUNT, now=now)
    if link is None or link.user_id is None:
        raise Gone
    user = User.get_by_id(link.user_id)
    change = link.data
    undone = _undo(user, change, now)
    signed_out = UserSession.revoke_all(user, now, reason="secured")
    remember.forget_all(user, "secure_account")
    close_verifications(user, now, sign_ins=True)
    PendingTotp.delete().where(PendingTotp.user == user.id).execute()
    # A reset link sent meanwhile (say, to an address the change put on the account) dies.
    links.revoke_for(user, links.RESET_PASSWORD, now=now)
    audit.record("account.secured", subject=user, actor=user, reason=SECURED,
                 change=change.get("kind"), undone=undone, sessions_revoked=signed_out)
    return User.get_by_id(user.id), undone


def _undo(user: User, change: dict, now) -> list[str]:
    kind = change.get("kind")
    if kind == EMAIL and change.get("old") and user.email != change["old"]:
        try:
            with db.atomic():  # a savepoint: a clash must not abort the transaction
                # The old address opened this link, so it is proven again.
                User.update(email=change["old"], email_verified_at=now).where(
                    User.id == user.id).execute()
        except IntegrityError:  # someone registered the old address meanwhile
            return []
        audit.record("email.changed", subject=user, actor=user, reason=SECURED,
                     old=ch.mask_email(user.email), new=ch.mask_email(change["old"]))
        return ["email"]
    if kind == PHONE and user.phone != change.get("old"):
        old = change.get("old")
        verified = now if old and change.get("old_verified") else None
        User.update(phone=old, phone_verified_at=verified).where(User.id == user.id).execute()
        audit.record("phone.changed", subject=user, actor=user, reason=SECURED,
                     old=ch.mask_phone(user.phone), new=ch.mask_phone(old))
        return ["phone"]
    if kind == TOTP_ADDED and user.totp_secret is not None:
        _, removed = remove_factor(user, now)
        audit.record("totp.disabled", subject=user, actor=user, reason=SECURED,
                     backup_codes_removed=removed)
        return ["totp"]
    if kind == PASSKEY_ADDED and change.get("passkey_id"):
        removed = (Passkey.delete()
                   .where((Passkey.id == int(change["passkey_id"])) & (Passkey.user == user.id))
                   .execute())
        if removed:
            audit.record("passkey.removed", subject=user, actor=user, reason=SECURED,
                         name=change.get("name", ""))
            return ["passkey"]
        return []
    if kind == BACKUP_CODES and backup_codes.remove_all(user):
        # Whoever made them has seen them: none of them may sign in.
        audit.record("backup_codes.removed", subject=user, actor=user, reason=SECURED)
        return ["backup_codes"]
    return []


def _when(change: dict) -> str:
    try:
        at = dt.datetime.fromisoformat(change.get("at", ""))
    except ValueError:
        return ""
    return gettext("%(day)s at %(time)s UTC", day=format_datetime(at, "d MMM"),
                   time=format_datetime(at, "HH:mm"))


KIND_TEXTS = {
    PASSWORD: N_("Your password was changed"),
    PASSWORD_RESET: N_("Your password was reset with a link sent by email"),
    TOTP_ADDED: N_("An authenticator app was added to your account"),
    TOTP_REMOVED: N_("The authenticator app was removed from your account"),
    BACKUP_CODES: N_("New backup codes were created for your account"),
    TWO_FACTOR_RESET: N_("Two-factor authentication was reset on your account"),
    SIGN_IN: N_("Someone signed in to your account on a new device"),
    PASSKEY_ADDED: N_("A passkey was added to your account"),
    PASSKEY_REMOVED: N_("A passkey was removed from your account"),
}


def describe(change: dict, device: str) -> str:
    """One sentence: "Your phone number was changed to •••• 0144 on 29 Nov at 14:02 UTC from
    Chrome on Windows"."""
    kind, when = change.get("kind"), _when(change)
    if kind == PHONE:
        what = (gettext("Your phone number was changed to %(new)s", new=change.get("new_masked"))
                if change.get("new_masked") else gettext("Your phone number was removed"))
    elif kind == EMAIL:
        what = gettext("Your email address was changed to %(new)s",
                       new=change.get("new_masked", ""))
    else:
        what = gettext(KIND_TEXTS.get(kind, N_("Your account was changed")))
    return gettext("%(what)s on %(when)s from %(device)s.", what=what, when=when, device=device)


# What "Secure my account" will undo, said before the button and after it.
UNDO_TEXTS = {
    EMAIL: N_("Your email address goes back to %(old)s."),
    PHONE: N_("Your phone number goes back to %(old)s."),
    TOTP_ADDED: N_("The authenticator app that was added is removed, with its backup codes."),
    BACKUP_CODES: N_("The new backup codes stop working."),
    PASSKEY_ADDED: N_("The passkey that was added is removed."),
}


def will_undo(change: dict) -> str | None:
    """What the button undoes for this change, in words; None when nothing can be undone."""
    kind = change.get("kind")
    text = UNDO_TEXTS.get(kind)
    if text is None:
        return None
    if kind == EMAIL:
        return gettext(text, old=ch.mask_email(change.get("old")))
    if kind == PHONE:
        if not change.get("old"):
            return gettext("The new phone number is removed.")
        return gettext(text, old=ch.mask_phone(change.get("old")))
    return gettext(text)
