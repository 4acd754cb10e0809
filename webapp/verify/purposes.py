"""Every step-up purpose in one table.

A purpose says what the verification is called, what the code message says it is for, who
may start it, which channels prove it, what it applies (inside the transaction that consumes
the challenge) and what follows (after the commit). `create_app` wires the table into
`app.extensions["purposes"]`; the engine looks purposes up there, and an unknown purpose is
a 404, never a KeyError.

Adding a purpose: write its applier and after-hook in the feature's `effects.py`, add one
entry below, and start it with `verify.responses.start_modal` (or `begin_change`).
"""

from collections.abc import Callable
from dataclasses import dataclass

from ..passkeys import effects as passkeys
from ..rules import effects as rules
from ..security import N_, stepup
from ..security import channels as ch
from ..team import effects as team
from ..twofactor import effects as twofactor
from . import effects, engine


@dataclass(frozen=True)
class Purpose:
    name: str
    title: str  # heading of the verification (msgid)
    text: str  # completes "Use it to …" in the code message (msgid)
    starters: frozenset[str]  # who may start it: engine.SELF, engine.ADMIN (start checks)
    channels: str  # the channel rule of security/channels.py that proves it
    apply: Callable[..., dict]
    after: Callable[[stepup.Verified], object]


ME, ME_OR_ADMIN = frozenset({engine.SELF}), frozenset({engine.SELF, engine.ADMIN})

TABLE = {p.name: p for p in (
    # The sign-in's email code also proves the address; backup codes only sign in.
    Purpose("login", engine.CHOOSE, N_("sign in to Aesthetix CRM"), ME, ch.SIGN_IN,
            effects.apply_login, effects.after_login),
    Purpose("verify_email", N_("Verify your email"), N_("verify your email address"), ME,
            ch.OWN_EMAIL, effects.apply_verify_email, effects.after_verify_email),
    Purpose("verify_phone", N_("Verify your phone"), N_("verify your phone number"), ME,
            ch.OWN_PHONE, effects.apply_verify_phone, effects.after_verify_phone),
    # Contact changes: never a code to the new number or address.
    Purpose("change_phone", engine.CHOOSE, N_("confirm a phone number change"), ME_OR_ADMIN,
            ch.TRUSTED, effects.apply_change_phone, effects.after_change_phone),
    Purpose("change_email", engine.CHOOSE, N_("confirm an email address change"), ME,
            ch.TRUSTED, effects.apply_change_email, effects.after_change_email),
    # Adding a way to sign in is a step-up action (then the QR code, in this session).
    Purpose("enable_totp", engine.VERIFY_ITS_YOU, N_("add an authenticator app"), ME,
            ch.TRUSTED, twofactor.apply_enable, twofactor.after_enable),
    Purpose("regenerate_backup_codes", engine.VERIFY_ITS_YOU, N_("create new backup codes"),
            ME, ch.TRUSTED, twofactor.apply_regenerate, twofactor.after_regenerate),
    Purpose("disable_totp", engine.VERIFY_ITS_YOU, N_("remove your authenticator app"), ME,
            ch.TRUSTED, twofactor.apply_disable, twofactor.after_disable),
    # A passkey is a way to sign in: adding one is a step-up action (then the browser's
    # dialog, in this session's "recently verified" window), and so is removing one.
    Purpose("add_passkey", engine.VERIFY_ITS_YOU, N_("add a passkey"), ME, ch.TRUSTED,
            passkeys.apply_add, passkeys.after_add),
    Purpose("remove_passkey", engine.VERIFY_ITS_YOU, N_("remove a passkey"), ME, ch.TRUSTED,
            passkeys.apply_remove, passkeys.after_remove),
    # The admin verifies themself (the member is in the payload).
    Purpose("reset_member_2fa", engine.VERIFY_ITS_YOU, N_("reset two-factor authentication"),
            ME, ch.TRUSTED, team.apply_reset_member_2fa, team.after_reset_member_2fa),
    # Owner and admin rights outlast the session that grants them: the inviter verifies it's
    # them, and the verification sends the invitation.
    Purpose("invite_privileged", engine.VERIFY_ITS_YOU, N_("invite an owner or admin"), ME,
            ch.TRUSTED, team.apply_invite_privileged, team.after_invite_privileged),
    # A higher role, or an admin's right to edit team members, outlasts the owner's session.
    Purpose("change_access", engine.VERIFY_ITS_YOU, N_("give someone more rights in your team"),
            ME, ch.TRUSTED, team.apply_change_access, team.after_change_access),
    # A rule that lowers every member's guard (rules/effects.py `weakens`): the owner
    # verifies it's them; the verification saves the rules in the payload.
    Purpose("change_rules", engine.VERIFY_ITS_YOU, N_("change your team's security rules"),
            ME, ch.TRUSTED, rules.apply_change_rules, rules.after_change_rules),
)}


def init_app(app) -> None:
    """Wire the table and the code checks of the channels that are not sent."""
    app.extensions["purposes"] = TABLE
    app.extensions["code_checks"] = {**twofactor.CHECKS, **passkeys.CHECKS}
