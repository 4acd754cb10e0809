"""The step-up engine: one challenge object for every verification.

A challenge is bound to (subject, actor, purpose, pending payload, channel). Its code is
checked against that challenge only; the payload is applied by `verify` alone, inside one
transaction, by a conditional UPDATE that can succeed once. Nothing here reads a request:
callers pass the clock, the key and the delivery function.
"""

import datetime as dt
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from peewee import Case, fn

from ..db import atomic_write, is_sqlite
from ..models import Challenge, CodeFailures, User
from ..prebuilt import Prebuilt
from . import N_, backup_codes, english, passkeys, totp
from . import channels as ch
from .codes import code_digest, digests_equal, new_code, normalise_code

SENT_CHANNELS = ("email", "sms")


@dataclass(frozen=True)
class Policy:
    """The engine's numbers, always read from the app's config (config.DEFAULTS documents them)."""

    challenge_ttl: int
    code_ttl: int
    max_attempts: int
    resend_after: int
    max_resends: int
    user_failure_limit: int
    user_failure_window: int
    user_lock: int
    sudo_seconds: int

    @classmethod
    def from_config(cls, c) -> "Policy":
        return cls(
            challenge_ttl=c["LOGIN_PENDING_SECONDS"],
            code_ttl=c["CODE_TTL_SECONDS"],
            max_attempts=c["CODE_MAX_ATTEMPTS"],
            resend_after=c["CODE_RESEND_AFTER_SECONDS"],
            max_resends=c["CODE_MAX_RESENDS"],
            user_failure_limit=c["CODE_USER_FAILURE_LIMIT"],
            user_failure_window=c["CODE_USER_FAILURE_WINDOW_SECONDS"],
            user_lock=c["CODE_USER_LOCK_SECONDS"],
            sudo_seconds=c["SUDO_SECONDS"],
        )


class StepUpError(Exception):
    """A refusal with a message for the person and an HTTP status for the route."""

    status = 400
    reason = "refused"

    def __init__(self, message: str, params: dict | None = None, *,
                 plural: str | None = None, **info):
        self.msgid = message
        self.plural = plural  # with a plural form, params["num"] picks singular or plural
        self.params = params or {}
        super().__init__(self.text())
        self.message = self.text()
        self.info = info

    def text(self, translate=english, ntranslate=None) -> str:
        """The message in the caller's language (`translate` is a gettext, `ntranslate` an
        ngettext: a count needs the language's own plural rule)."""
        if self.plural is None:
            return translate(self.msgid, **self.params)
        if ntranslate is None:
            ntranslate = english_plural
        params = {k: v for k, v in self.params.items() if k != "num"}  # ngettext adds num
        return ntranslate(self.msgid, self.plural, self.params["num"], **params)


def english_plural(singular: str, plural: str, num: int, **params) -> str:
    """The untranslated singular or plural, placeholders filled: the default `ntranslate`."""
    return english(singular if num == 1 else plural, num=num, **params)


def _refusal(name: str, status: int, reason: str, doc: str) -> type[StepUpError]:
    return type(name, (StepUpError,), {"status": status, "reason": reason, "__doc__": doc})


# Every refusal the engine gives: its HTTP status for the route and its name for the audit.
NotEligible = _refusal("NotEligible", 400, "not_eligible",
                       "A channel or step the account or the challenge does not offer.")
NoChannel = _refusal("NoChannel", 409, "no_channel",
                     "The account has no trusted channel for this purpose (nothing is started).")
ChallengeClosed = _refusal("ChallengeClosed", 409, "closed",
                           "Used, replaced, cancelled, expired or out of attempts: start again.")
WrongCode = _refusal("WrongCode", 422, "wrong_code",
                     "A wrong or expired code; the challenge stays open while attempts are left.")
BadFormat = _refusal("BadFormat", 422, "malformed",
                     "Not the shape of a code for this method: refused before anything is "
                     "claimed or compared, so it uses no attempt.")
TooSoon = _refusal("TooSoon", 429, "too_soon",
                   "A new code was asked for before the resend wait, or past the resends allowed.")
Locked = _refusal("Locked", 429, "locked",
                  "Code entry for this (account, method) is locked for a while.")
DeliveryFailed = _refusal("DeliveryFailed", 503, "delivery_failed",
                          "The provider did not take the message; nothing was used up.")
Conflict = _refusal("Conflict", 409, "conflict",
                    "The change can no longer be applied as it was asked (the state moved on).")


@dataclass
class Verified:
    """What a successful verification did."""

    challenge: Challenge
    subject: User
    result: dict


def canonical(payload: dict) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def _binding(c: Challenge, channel: str, destination: str | None) -> tuple[str, ...]:
    return (c.id, c.purpose, str(c.subject_id), str(c.actor_id), channel, destination or "",
            c.payload)


# --- starting and reading -------------------------------------------------------------------


def start(subject: User, actor: User, purpose: str, payload: dict, *, rule: str, now,
          policy: Policy, has_backup_codes: bool = False,
          session_id: int | None = None) -> Challenge:
    """Open a challenge; older open challenges of the same subject and purpose die with it.

    `rule` is the purpose's channel rule (security/channels.py). Raises NoChannel when the
    subject has no channel for it (nothing is created).
    """
    if not ch.eligible_channels(subject, rule, has_backup_codes=has_backup_codes,
                                has_passkey=passkeys.has_passkey(subject.id),
                                for_member=actor.id != subject.id):
        raise NoChannel(_no_channel_msgid(subject, rule, actor))
    with atomic_write():
        if not is_sqlite():
            # One open challenge per subject and purpose: parallel starts queue on the
            # subject's row (SQLite's IMMEDIATE transaction already serialises writers).
            User.select(User.id).where(User.id == subject.id).for_update().execute()
        # Changing the pending value means a new challenge: the old code stops working.
        (Challenge.update(cancelled_at=now)
         .where((Challenge.subject == subject)
                & (Challenge.purpose == purpose)
                & Challenge.consumed_at.is_null()
                & Challenge.cancelled_at.is_null())
         .execute())
        return Challenge.create(
            id=secrets.token_urlsafe(32),
            subject=subject,
            actor=actor,
            purpose=purpose,
            session_id=session_id,
            payload=canonical(payload),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=policy.challenge_ttl),
        )


def close_others(subject_id: int, now, keep: str | None = None) -> int:
    """An email, phone or factor changed: every other open challenge of the account dies.

    What was offered or sent under the old contacts must not be usable under the new ones.
    """
    query = (Challenge.update(cancelled_at=now)
             .where((Challenge.subject == subject_id)
                    & Challenge.consumed_at.is_null()
                    & Challenge.cancelled_at.is_null()))
    if keep is not None:
        query = query.where(Challenge.id != keep)
    return query.execute()


def _no_channel_msgid(subject: User, rule: str, actor: User | None = None) -> str:
    if rule == ch.OWN_PHONE:
        return N_("There is no phone number to verify. Add one first.")
    if actor is None or actor.id == subject.id:
        return N_("We can't verify this change: your account has no verified email, verified "
                  "phone or authenticator app. Verify the email address or set up an "
                  "authenticator app first.")
    return N_("We can't verify this change: the member's account has no verified email, "
              "verified phone or authenticator app. Verify the email address or set up an "
              "authenticator app first.")


def no_channel_message(subject: User, rule: str, actor: User | None = None,
                       translate=english) -> str:
    return translate(_no_channel_msgid(subject, rule, actor))


ALREADY_USED = N_("This code has already been used. Start again if you need to.")
TOO_MANY = N_("Too many wrong codes for this verification. Start again.")
NO_ATTEMPTS_LEFT = N_("This verification has no attempts left. Start again.")
CONTACT_CHANGED = N_("The account's email, phone or sign-in methods changed since this "
                     "verification started, so it was closed. Start again.")


def is_open(c: Challenge, now) -> bool:
    return c.consumed_at is None and c.cancelled_at is None and c.expires_at > now


def ensure_open(c: Challenge, now, policy: Policy) -> None:
    if c.consumed_at is not None:
        raise ChallengeClosed(ALREADY_USED)
    if c.cancelled_at is not None:
        raise ChallengeClosed(N_("This verification was replaced or cancelled. Start again."))
    if c.expires_at <= now:
        raise ChallengeClosed(N_("This verification has expired. Start again."))
    if c.attempts >= policy.max_attempts:
        raise ChallengeClosed(TOO_MANY)


def can_resend_at(c: Challenge, policy: Policy):
    """When the next code may be sent, or None when no more sends are allowed."""
    if c.channel not in SENT_CHANNELS:
        return None
    if c.sends >= 1 + policy.max_resends:
        return None
    return c.last_sent_at + dt.timedelta(seconds=policy.resend_after)


# --- sending ----------------------------------------------------------------------------------

Deliver = Callable[[str, str, str, Challenge], None]


def choose(c: Challenge, channel: str, *, rule: str, now, policy: Policy, key: bytes,
           deliver: Deliver, has_backup_codes: bool = False) -> Challenge:
    """Pick a channel; for email/SMS send a fresh code to the subject's stored destination."""
    ensure_open(c, now, policy)
    subject = c.subject
    offered = ch.eligible_channels(subject, rule, has_backup_codes=has_backup_codes,
                                   has_passkey=passkeys.has_passkey(subject.id),
                                   for_member=c.actor_id != c.subject_id)
    if channel not in offered:
        raise NotEligible(N_("That verification method isn't available for this account."))
    if channel not in SENT_CHANNELS:
        updated = (Challenge.update(channel=channel, destination=None, code_hash=None)
                   .where((Challenge.id == c.id) & Challenge.consumed_at.is_null())
                   .execute())
        if updated != 1:
            raise ChallengeClosed(ALREADY_USED)
        c.channel, c.destination, c.code_hash = channel, None, None
        return c
    return _send(c, channel, ch.destination(subject, channel), now=now, policy=policy, key=key,
                 deliver=deliver)


def resend(c: Challenge, *, rule: str, now, policy: Policy, key: bytes,
           deliver: Deliver) -> Challenge:
    """A new code to the destination the first one went to, and only while it still fits.

    The destination was fixed when the channel was chosen. If the channel is no longer
    eligible, or the account's stored address or number is no longer that destination,
    the challenge is closed: a resend never reaches a new, unproven number.
    """
    ensure_open(c, now, policy)
    if c.channel not in SENT_CHANNELS:
        raise NotEligible(N_("There is no code to resend for this method."))
    subject = c.subject
    if (c.channel not in ch.eligible_channels(subject, rule)
            or ch.destination(subject, c.channel) != c.destination):
        cancel(c, now)
        raise ChallengeClosed(CONTACT_CHANGED)
    return _send(c, c.channel, c.destination, now=now, policy=policy, key=key, deliver=deliver)


def _send(c: Challenge, channel: str, to: str | None, *, now, policy, key,
          deliver) -> Challenge:
    if c.sends:
        if c.sends >= 1 + policy.max_resends:
            raise TooSoon(N_("You've asked for the most codes allowed for this verification. "
                             "Use another method or start again later."))
        ready = c.last_sent_at + dt.timedelta(seconds=policy.resend_after)
        if ready > now:
            wait = int((ready - now).total_seconds()) + 1
            raise TooSoon(N_("You can ask for a new code in %(wait)s seconds."),
                          {"wait": wait}, retry_after=wait)
    if not to:
        raise NotEligible(N_("That verification method isn't available for this account."))
    code = new_code()
    digest = code_digest(key, code, *_binding(c, channel, to))
    # Claim the send slot first (conditional on the count we read), so two racing
    # requests cannot both send; a failed delivery gives the slot back below.
    claimed = (Challenge.update(sends=Challenge.sends + 1, last_sent_at=now)
               .where((Challenge.id == c.id)
                      & (Challenge.sends == c.sends)
                      & Challenge.consumed_at.is_null()
                      & Challenge.cancelled_at.is_null())
               .execute())
    if claimed != 1:
        raise TooSoon(N_("A code was just sent. Check your messages, or wait a moment."))
    try:
        deliver(channel, to, code, c)
    except Exception as exc:
        (Challenge.update(sends=Challenge.sends - 1, last_sent_at=c.last_sent_at)
         .where(Challenge.id == c.id).execute())
        if isinstance(exc, StepUpError):  # e.g. a sending limit: its own message
            raise
        raise DeliveryFailed(
            N_("We couldn't send the code — try again or choose another method.")
        ) from exc
    (Challenge.update(channel=channel, destination=to, code_hash=digest,
                      code_expires_at=now + dt.timedelta(seconds=policy.code_ttl))
     .where(Challenge.id == c.id).execute())
    c.channel, c.destination, c.code_hash = channel, to, digest
    c.sends, c.last_sent_at = c.sends + 1, now
    c.code_expires_at = now + dt.timedelta(seconds=policy.code_ttl)
    return c


# --- the per-user failure allowance ---------------------------------------------------------------
#
# Every code comparison first claims one slot of the (user, method) allowance, atomically;
# a right code gives its slot back, a wrong one keeps it and the slot that reaches the limit
# locks the method. However many requests race, at most `user_failure_limit` comparisons
# run per window, and none while the method is locked.

LOCK_MESSAGE = (N_("Too many wrong codes. Code entry for this method is locked for %(num)d "
                   "more minute. Try another method, or wait and try again."),
                N_("Too many wrong codes. Code entry for this method is locked for %(num)d "
                   "more minutes. Try another method, or wait and try again."))


def lock_minutes(until, now) -> int:
    return max(1, int((until - now).total_seconds() + 59) // 60)


def _locked(until, now, **info) -> StepUpError:
    return Locked(LOCK_MESSAGE[0], {"num": lock_minutes(until, now)}, plural=LOCK_MESSAGE[1],
                  retry_after=max(1, int((until - now).total_seconds())), **info)


def _failures(user: User, method: str):
    return CodeFailures.get_or_none((CodeFailures.user == user) & (CodeFailures.method == method))


def method_locked_until(user: User, method: str, now):
    row = _failures(user, method)
    if row and row.locked_until and row.locked_until > now:
        return row.locked_until
    return None


def _claim_attempt_query(user_id: int, method: str, now, window_start, limit: int):
    stale = CodeFailures.window_start < window_start
    unlocked = CodeFailures.locked_until.is_null() | (CodeFailures.locked_until <= now)
    return (CodeFailures.insert(user=user_id, method=method, failures=1, window_start=now)
            .on_conflict(
                conflict_target=[CodeFailures.user, CodeFailures.method],
                update={
                    CodeFailures.failures: Case(None, [(stale, 1)], CodeFailures.failures + 1),
                    CodeFailures.window_start: Case(None, [(stale, now)],
                                                    CodeFailures.window_start),
                    CodeFailures.locked_until: None,
                },
                # Only while unlocked and under the limit: the claim is the check.
                where=(unlocked & (stale | (CodeFailures.failures < limit))))
            .returning(CodeFailures.failures))


# Every code comparison claims through these two: SQL text built once (webapp/prebuilt.py).
_CLAIM_ATTEMPT = Prebuilt(_claim_attempt_query, (int, str, dt.datetime, dt.datetime, int))


def claim_attempt(user: User, method: str, *, now, policy: Policy) -> int:
    """Take one comparison slot for (user, method) before comparing; returns the count.

    :raise Locked: the method is locked, or every slot of this window is taken.
    """
    window_start = now - dt.timedelta(seconds=policy.user_failure_window)
    with atomic_write():
        claimed = _CLAIM_ATTEMPT.cursor(user.id, method, now, window_start,
                                        policy.user_failure_limit).fetchall()
    if claimed:
        return claimed[0][0]
    until = method_locked_until(user, method, now)
    raise _locked(until or now + dt.timedelta(seconds=policy.user_lock), now)


def give_back(user: User, method: str) -> None:
    """A right code: its slot is returned, so successes never count towards the lock."""
    (CodeFailures.update(failures=CodeFailures.failures - 1)
     .where((CodeFailures.user == user) & (CodeFailures.method == method)
            & (CodeFailures.failures > 0))
     .execute())


def settle_failure(user: User, method: str, count: int, *, now, policy: Policy,
                   on_lock: Callable[[User, str], None] | None = None) -> None:
    """A wrong code keeps its slot; the one that used the last slot locks the method.

    :raise Locked: this failure locked the method.
    """
    if count < policy.user_failure_limit:
        return
    until = now + dt.timedelta(seconds=policy.user_lock)
    just_locked = (CodeFailures.update(locked_until=until, failures=0, window_start=now)
                   .where((CodeFailures.user == user) & (CodeFailures.method == method)
                          & (CodeFailures.locked_until.is_null()
                             | (CodeFailures.locked_until <= now)))
                   .execute()) == 1
    if just_locked and on_lock:
        on_lock(user, method)
    raise _locked(until, now, compared=True)


def checked(user: User, method: str, compare: Callable[[], bool], *, now, policy: Policy,
            on_lock: Callable[[User, str], None] | None = None,
            also_claim: Callable[[], None] | None = None) -> bool:
    """Run one code comparison inside the (user, method) allowance: claim, compare, settle.

    `also_claim` takes a further slot (the challenge's attempt) once this one is held; if it
    refuses, the slot is given back.

    :raise Locked: no slot was free, or this wrong code used the last one.
    """
    count = claim_attempt(user, method, now=now, policy=policy)
    try:
        if also_claim:
            also_claim()
        ok = compare()
    except BaseException:
        give_back(user, method)
        raise
    if ok:
        give_back(user, method)
        return True
    settle_failure(user, method, count, now=now, policy=policy, on_lock=on_lock)
    return False


# --- verifying ---------------------------------------------------------------------------------

Applier = Callable[[Challenge, User, dt.datetime], dict]
# A check of a code that is not sent (app, backup code): (matched, why) with why "ok",
# "wrong" or "used" (a backup code or an app code already used).
CodeCheck = Callable[[User, str, dt.datetime], tuple[bool, str]]

# The shape a code must have for each method; anything else can never match, so it is
# refused before any slot is claimed and is never compared.
FORMATS: dict[str, Callable[[object], object | None]] = {
    "email": normalise_code, "sms": normalise_code,
    "totp": totp.normalise, "backup": backup_codes.normalise,
    # A passkey answers with the browser's signed assertion, never a typed code.
    "passkey": lambda raw: raw if isinstance(raw, passkeys.Assertion) else None,
}
FORMAT_MESSAGES = {
    "email": N_("Enter the 6 digits of the code, like 123 456."),
    "sms": N_("Enter the 6 digits of the code, like 123 456."),
    "totp": N_("Enter the 6 digits your app shows, like 123 456."),
    "backup": N_("Enter a backup code: 12 letters and digits, like 7KQM-R2XD-9PWA."),
    "passkey": N_("Use your passkey with the button below, or choose another method."),
}
WRONG_CODE = {  # (singular, plural) by what was wrong; num is the attempts left
    "wrong": (N_("That code isn't right. %(num)d attempt left."),
              N_("That code isn't right. %(num)d attempts left.")),
    "wrong_totp": (N_("That code isn't right. Check that your phone sets its time "
                      "automatically, then enter the code your app shows now. %(num)d "
                      "attempt left."),
                   N_("That code isn't right. Check that your phone sets its time "
                      "automatically, then enter the code your app shows now. %(num)d "
                      "attempts left.")),
    "used_backup": (N_("That backup code was already used; each one works once. Enter "
                       "another of your codes. %(num)d attempt left."),
                    N_("That backup code was already used; each one works once. Enter "
                       "another of your codes. %(num)d attempts left.")),
    "used_totp": (N_("That code was already used. Wait for your app to show the next one. "
                     "%(num)d attempt left."),
                  N_("That code was already used. Wait for your app to show the next one. "
                     "%(num)d attempts left.")),
    "wrong_passkey": (N_("This passkey couldn't be verified. Try again. %(num)d attempt left."),
                      N_("This passkey couldn't be verified. Try again. %(num)d attempts left.")),
    "stale_passkey": (N_("This passkey request expired or was already used. Try again. "
                         "%(num)d attempt left."),
                      N_("This passkey request expired or was already used. Try again. "
                         "%(num)d attempts left.")),
    "unknown_passkey": (N_("This passkey isn't registered for this account. Use another "
                           "passkey or method. %(num)d attempt left."),
                        N_("This passkey isn't registered for this account. Use another "
                           "passkey or method. %(num)d attempts left.")),
    "cloned_passkey": (N_("This passkey was refused: it looks like a copy of your security key "
                          "or device. We sent you a notice. Use another method. %(num)d "
                          "attempt left."),
                       N_("This passkey was refused: it looks like a copy of your security key "
                          "or device. We sent you a notice. Use another method. %(num)d "
                          "attempts left.")),
}


def _claim_challenge_attempt_query(cid: str, max_attempts: int, now):
    return (Challenge.update(attempts=Challenge.attempts + 1)
            .where((Challenge.id == cid)
                   & (Challenge.attempts < max_attempts)
                   & Challenge.consumed_at.is_null()
                   & Challenge.cancelled_at.is_null()
                   & (Challenge.expires_at > now))
            .returning(Challenge.attempts))


_CLAIM_CHALLENGE_ATTEMPT = Prebuilt(_claim_challenge_attempt_query, (str, int, dt.datetime))


def _claim_challenge_attempt(c: Challenge, now, policy: Policy) -> None:
    """One of the challenge's `max_attempts` comparisons, taken before comparing."""
    counted = _CLAIM_CHALLENGE_ATTEMPT.cursor(c.id, policy.max_attempts, now).fetchall()
    if not counted:
        fresh = Challenge.get_by_id(c.id)
        if fresh.attempts < policy.max_attempts:
            ensure_open(fresh, now, policy)  # used, cancelled or expired: say which
        # Parallel submissions took the last attempts (wrong codes or not): no blame.
        raise ChallengeClosed(NO_ATTEMPTS_LEFT)
    c.attempts = counted[0][0]


def verify(c: Challenge, raw_code, *, now, policy: Policy, key: bytes,
           appliers: dict[str, Applier], checks: dict[str, CodeCheck],
           on_lock: Callable[[User, str], None] | None = None,
           on_fail: Callable[[Challenge, str], None] | None = None) -> Verified:
    """Check a code against this challenge and apply its payload exactly once.

    Both limits are claimed before the comparison (a conditional UPDATE each), so parallel
    requests get no more comparisons than sequential ones: at most `max_attempts` per
    challenge and `user_failure_limit` per (account, method) and window.
    """
    ensure_open(c, now, policy)
    subject = c.subject
    method = c.channel
    if method is None:
        raise NotEligible(N_("Choose how to verify first."))
    # A typo of the wrong shape ("abc") can never match: refused here, before either limit
    # is claimed and without a comparison, so it uses no attempt. Every well-formed code
    # still claims its slots before it is compared.
    if FORMATS[method](raw_code) is None:
        raise BadFormat(FORMAT_MESSAGES[method])
    expired = False
    why = "wrong"

    def compare() -> bool:
        nonlocal expired, why
        if method in SENT_CHANNELS:
            code = normalise_code(raw_code)
            expired = (code is not None and c.code_expires_at is not None
                       and c.code_expires_at <= now)
            return (code is not None and c.code_expires_at is not None
                    and c.code_expires_at > now
                    and digests_equal(c.code_hash,
                                      code_digest(key, code, *_binding(c, method, c.destination))))
        ok, why = checks[method](subject, raw_code, now)
        return ok

    try:
        ok = checked(subject, method, compare, now=now, policy=policy, on_lock=on_lock,
                     also_claim=lambda: _claim_challenge_attempt(c, now, policy))
    except Locked as exc:
        if on_fail:  # a wrong code that spent the last slot, or no slot at all
            on_fail(c, "wrong_code" if exc.info.get("compared") else "locked")
        raise
    if not ok:
        if on_fail:
            on_fail(c, "expired" if expired else "wrong_code")
        if expired:
            raise WrongCode(N_("This code has expired. Ask for a new one."))
        left = max(0, policy.max_attempts - c.attempts)
        if left == 0:
            raise ChallengeClosed(TOO_MANY)
        # By what was wrong and the method: "wrong_totp", "used_backup", ... else plain "wrong".
        singular, plural = WRONG_CODE.get(f"{why}_{method}", WRONG_CODE["wrong"])
        raise WrongCode(singular, {"num": left}, plural=plural, attempts_left=left)
    locked_now = (CodeFailures.select(CodeFailures.id)
                  .where((CodeFailures.user == subject.id) & (CodeFailures.method == method)
                         & (CodeFailures.locked_until > now)))
    with atomic_write():
        # Codes are single use: the challenge is consumed by exactly one request, and
        # never while its method is locked (a lock set by a parallel request holds).
        consumed = (Challenge.update(consumed_at=now)
                    .where((Challenge.id == c.id)
                           & Challenge.consumed_at.is_null()
                           & Challenge.cancelled_at.is_null()
                           & (Challenge.expires_at > now)
                           & ~fn.EXISTS(locked_now))
                    .execute())
        if consumed != 1:
            until = method_locked_until(subject, method, now)
            if until:
                raise _locked(until, now)
            raise ChallengeClosed(ALREADY_USED)
        c.consumed_at = now
        result = appliers[c.purpose](c, subject, now)
    return Verified(c, subject, result)


def cancel(c: Challenge, now) -> None:
    (Challenge.update(cancelled_at=now)
     .where((Challenge.id == c.id) & Challenge.consumed_at.is_null()
            & Challenge.cancelled_at.is_null())
     .execute())
