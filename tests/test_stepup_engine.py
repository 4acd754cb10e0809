"""The step-up engine with an injected clock: eligibility, binding, expiry, limits, single use."""

import datetime as dt
import threading
from types import SimpleNamespace

import pytest

from webapp.config import DEFAULTS
from webapp.extensions import db
from webapp.models import Challenge, CodeFailures, User
from webapp.security import channels, stepup
from webapp.verify.purposes import TABLE

T0 = dt.datetime(2026, 11, 28, 12, 0, 0)
KEY = b"k" * 32
# The documented defaults, not the running app's config: a changed default is caught here.
POLICY = stepup.Policy.from_config(DEFAULTS)
APPLIERS = {name: p.apply for name, p in TABLE.items()}
SECOND = dt.timedelta(seconds=1)
CODE_TTL = dt.timedelta(seconds=POLICY.code_ttl)
CHALLENGE_TTL = dt.timedelta(seconds=POLICY.challenge_ttl)
RESEND_AFTER = dt.timedelta(seconds=POLICY.resend_after)
USER_LOCK = dt.timedelta(seconds=POLICY.user_lock)


def test_policy_numbers_are_the_documented_ones():
    assert (POLICY.code_ttl, POLICY.max_attempts, POLICY.resend_after, POLICY.max_resends) == (
        300, 5, 30, 3)
    assert (POLICY.user_failure_limit, POLICY.user_failure_window, POLICY.user_lock) == (
        10, 900, 900)
    assert (POLICY.challenge_ttl, POLICY.sudo_seconds) == (600, 600)


class Outbox:
    def __init__(self):
        self.sent = []

    def __call__(self, channel, to, code, challenge):
        self.sent.append(SimpleNamespace(channel=channel, to=to, code=code, cid=challenge.id))

    @property
    def code(self):
        return self.sent[-1].code


def fake_user(email=True, phone=True, totp=False):
    return SimpleNamespace(
        email="p@example.com", email_verified_at=T0 if email else None,
        phone="+12025550101", phone_verified_at=T0 if phone else None,
        totp_enabled=totp)


@pytest.mark.parametrize("email", [False, True])
@pytest.mark.parametrize("phone", [False, True])
@pytest.mark.parametrize("totp", [False, True])
def test_eligibility_for_every_combination(email, phone, totp):
    u = fake_user(email, phone, totp)
    expected = [c for c, on in (("email", email), ("sms", phone), ("totp", totp)) if on]
    assert channels.eligible_channels(u, channels.TRUSTED) == expected
    assert channels.eligible_channels(u, channels.TRUSTED) == expected


def test_login_offers_unverified_email_and_backup_codes():
    u = fake_user(email=False, phone=False)
    assert channels.eligible_channels(u, channels.SIGN_IN) == ["email"]
    assert channels.eligible_channels(u, channels.SIGN_IN, has_backup_codes=True) == [
        "email", "backup"]
    assert "backup" not in channels.eligible_channels(u, channels.TRUSTED, has_backup_codes=True)


def test_an_unknown_channel_rule_is_a_programming_error():
    with pytest.raises(ValueError):
        channels.eligible_channels(fake_user(), "change_phone")


def test_unverified_phone_number_has_no_sms():
    u = fake_user(phone=False)
    assert "sms" not in channels.eligible_channels(u, channels.TRUSTED)


def test_masking():
    assert channels.mask_email("pat@example.com") == "p***@example.com"
    assert channels.mask_phone("+12025550101") == "•••• 0101"


@pytest.fixture
def member(dbconn, app):
    # An applier writes its notice (rendered from a template) in the change's transaction,
    # as it does in the verify request.
    with app.test_request_context():
        yield User.by_email("member@example.com")


def start(member, phone="+12025550177", now=T0, purpose="change_phone"):
    return stepup.start(member, member, purpose, {"phone": phone}, rule=TABLE[purpose].channels,
                        now=now, policy=POLICY)


def resend(c, now, **kw):
    return stepup.resend(Challenge.get_by_id(c.id), rule=channels.TRUSTED, now=now, **kw)


def send(c, channel="email", now=T0):
    box = Outbox()
    stepup.choose(c, channel, rule=channels.TRUSTED, now=now, policy=POLICY, key=KEY,
                  deliver=box)
    return box


def verify(c, code, now=T0, **kw):
    fresh = Challenge.get_by_id(c.id)
    return stepup.verify(fresh, code, now=now, policy=POLICY, key=KEY, appliers=APPLIERS,
                         checks={}, **kw)


def test_code_goes_to_stored_channel_never_the_new_number(member):
    c = start(member)
    box = send(c, "sms")
    assert box.sent[0].to == "+12025550103" != "+12025550177"
    stored = Challenge.get_by_id(c.id)
    assert stored.code_hash and box.code not in stored.code_hash
    assert stored.destination == box.sent[0].to


def test_ineligible_channel_refused_and_nothing_sent(dbconn):
    casey = User.by_email("casey@example.com")  # phone not verified
    c = start(casey)
    box = Outbox()
    for channel in ("sms", "totp", "backup", "carrier-pigeon"):
        with pytest.raises(stepup.NotEligible):
            stepup.choose(c, channel, rule=channels.TRUSTED, now=T0, policy=POLICY, key=KEY,
                          deliver=box)
    assert box.sent == []


def test_no_channel_creates_nothing(dbconn):
    newbie = User.by_email("newbie@example.com")
    with pytest.raises(stepup.NoChannel):
        start(newbie)
    assert Challenge.select().count() == 0


def test_correct_code_applies_payload_once(member):
    c = start(member)
    box = send(c)
    verify(c, box.code)
    assert User.get_by_id(member.id).phone == "+12025550177"
    assert User.get_by_id(member.id).phone_verified_at is None
    with pytest.raises(stepup.ChallengeClosed, match="already been used"):
        verify(c, box.code)


def test_code_is_bound_to_its_payload(member):
    a = start(member, "+12025550177")
    code_a = send(a).code
    b = start(member, "+12025550199")  # a new value means a new challenge; A is cancelled
    send(b)
    with pytest.raises(stepup.ChallengeClosed):
        verify(a, code_a)
    with pytest.raises(stepup.WrongCode):
        verify(b, code_a)  # code for 0177 cannot save 0199
    assert User.get_by_id(member.id).phone == "+12025550103"


def test_code_expires_after_five_minutes(member):
    c = start(member)
    code = send(c).code
    with pytest.raises(stepup.WrongCode, match="expired"):
        verify(c, code, now=T0 + CODE_TTL + SECOND)
    assert User.get_by_id(member.id).phone == "+12025550103"


def test_challenge_closes_after_ten_minutes(member):
    c = start(member)
    send(c)
    with pytest.raises(stepup.ChallengeClosed, match="expired"):
        verify(c, "123456", now=T0 + CHALLENGE_TTL)


def test_five_wrong_codes_kill_the_challenge(member):
    c = start(member)
    code = send(c).code
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(POLICY.max_attempts - 1):
        with pytest.raises(stepup.WrongCode):
            verify(c, wrong)
    with pytest.raises(stepup.ChallengeClosed):
        verify(c, wrong)
    with pytest.raises(stepup.ChallengeClosed):
        verify(c, code)  # even the right code
    assert User.get_by_id(member.id).phone == "+12025550103"


@pytest.mark.parametrize("raw", ["", " ", "12345", "1234567", "１２３４５６", "١٢٣٤٥٦", "12345６",
                                 "+12345", "1e5", "0x1E240", "x" * 10_000, None, ["123456"]])
def test_malformed_codes_use_nothing_and_are_never_compared(member, raw):
    """A code of the wrong shape can never match: it is refused before either limit is
    claimed, so it uses no attempt of the challenge and no slot of the account."""
    c = start(member)
    send(c)
    with pytest.raises(stepup.BadFormat, match="6 digits"):
        verify(c, raw)
    assert Challenge.get_by_id(c.id).attempts == 0
    assert CodeFailures.select().count() == 0


def test_wrong_codes_say_how_many_attempts_are_left_in_words(member):
    c = start(member)
    code = send(c).code
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        with pytest.raises(stepup.WrongCode) as exc:
            verify(c, wrong)
        assert exc.value.message == ("That code isn't right. 1 attempt left." if left == 1 else
                                     f"That code isn't right. {left} attempts left.")


def test_spaces_in_a_pasted_code_are_fine(member):
    c = start(member)
    code = send(c).code
    verify(c, f" {code[:3]} {code[3:]} ")
    assert User.get_by_id(member.id).phone == "+12025550177"


def test_resend_waits_thirty_seconds_and_stops_after_three(member):
    c = start(member)
    box = Outbox()
    stepup.choose(c, "email", rule=channels.TRUSTED, now=T0, policy=POLICY, key=KEY,
                  deliver=box)
    with pytest.raises(stepup.TooSoon):
        resend(c, now=T0 + RESEND_AFTER - SECOND,
                      policy=POLICY, key=KEY, deliver=box)
    now = T0
    for _ in range(POLICY.max_resends):
        now += RESEND_AFTER
        resend(c, now=now, policy=POLICY, key=KEY, deliver=box)
    with pytest.raises(stepup.TooSoon, match="most codes"):
        resend(c, now=now + dt.timedelta(minutes=1),
                      policy=POLICY, key=KEY, deliver=box)
    assert len(box.sent) == 1 + POLICY.max_resends
    # Only the newest code works.
    with pytest.raises(stepup.WrongCode):
        verify(c, box.sent[0].code, now=now)
    verify(c, box.sent[-1].code, now=now)


def test_failed_delivery_consumes_nothing(member):
    c = start(member)

    def broken(*_):
        raise OSError("smtp down")

    with pytest.raises(stepup.DeliveryFailed):
        stepup.choose(c, "email", rule=channels.TRUSTED, now=T0, policy=POLICY, key=KEY,
                      deliver=broken)
    stored = Challenge.get_by_id(c.id)
    assert stored.sends == 0 and stored.code_hash is None and stored.consumed_at is None
    send(stored)  # and the user can simply try again


def test_per_user_failures_span_challenges_and_lock(member):
    locked = []
    now, wrong = T0, 0
    with pytest.raises(stepup.Locked):
        while wrong < 2 * POLICY.user_failure_limit:  # no single challenge dies
            c = start(member, now=now)
            send(c, now=now)
            for _ in range(POLICY.max_attempts - 1):
                wrong += 1
                with pytest.raises(stepup.WrongCode):
                    verify(c, "999999", now=now, on_lock=lambda u, m: locked.append(m))
            now += RESEND_AFTER + SECOND
    assert wrong == POLICY.user_failure_limit
    assert locked == ["email"]
    # Locked: even the right code of a fresh challenge fails, but another method works.
    c = start(member, now=now)
    code = send(c, now=now).code
    with pytest.raises(stepup.Locked):
        verify(c, code, now=now)
    c = start(member, now=now)
    code = send(c, "sms", now=now).code
    verify(c, code, now=now)
    # After the lock the email method works again.
    later = now + USER_LOCK + SECOND
    c = start(member, "+12025550188", now=later)
    verify(c, send(c, now=later).code, now=later)
    assert User.get_by_id(member.id).phone == "+12025550188"


def test_generating_new_codes_does_not_reset_the_failure_count(member):
    now = T0
    for _ in range(POLICY.user_failure_limit - 1):
        c = start(member, now=now)
        send(c, now=now)
        with pytest.raises(stepup.WrongCode):
            verify(c, "999999", now=now)
        now += dt.timedelta(seconds=1)
    c = start(member, now=now)
    send(c, now=now)
    with pytest.raises(stepup.Locked):
        verify(c, "999999", now=now)


def test_ten_threads_racing_one_code_apply_once(member, app):
    c = start(member)
    code = send(c).code
    applied, refused, errors = [], [], []
    counting = dict(APPLIERS)

    def count_apply(ch, subject, now):
        applied.append(1)
        return APPLIERS["change_phone"](ch, subject, now)

    counting["change_phone"] = count_apply
    barrier = threading.Barrier(10)

    def attempt():
        try:
            with app.test_request_context(), db.connection_context():
                fresh = Challenge.get_by_id(c.id)
                barrier.wait()
                stepup.verify(fresh, code, now=T0, policy=POLICY, key=KEY,
                              appliers=counting, checks={})
        except stepup.ChallengeClosed as exc:
            refused.append(exc.message)
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))

    threads = [threading.Thread(target=attempt) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(applied) == 1
    # Every other request is refused as closed. Each submission takes one of the challenge's
    # five attempts before comparing (S-3), so past five parallel submissions the rest are
    # refused for attempts, the others for a used code: which, the race decides.
    assert len(refused) == 9
    no_attempts = stepup.english(stepup.NO_ATTEMPTS_LEFT)
    assert set(refused) <= {stepup.english(stepup.ALREADY_USED), no_attempts}
    assert refused.count(no_attempts) <= 10 - POLICY.max_attempts


def test_a_locked_method_gives_no_slot(member):
    until = T0 + USER_LOCK
    assert stepup.claim_attempt(member, "email", now=T0, policy=POLICY) == 1
    CodeFailures.update(locked_until=until, failures=0).execute()
    with pytest.raises(stepup.Locked):
        stepup.claim_attempt(member, "email", now=T0, policy=POLICY)
    row = CodeFailures.get()
    assert row.failures == 0 and row.locked_until == until
    # Once the lock is over, counting starts again from a fresh window.
    later = until + dt.timedelta(seconds=POLICY.user_failure_window) + SECOND
    assert stepup.claim_attempt(member, "email", now=later, policy=POLICY) == 1


def test_slots_are_claimed_before_comparing_and_a_right_code_gives_its_back(member):
    seen = []
    for _ in range(POLICY.user_failure_limit - 1):
        assert not stepup.checked(member, "email", lambda: seen.append(1) or False, now=T0,
                                  policy=POLICY)
    assert stepup.checked(member, "email", lambda: True, now=T0, policy=POLICY)
    assert CodeFailures.get().failures == POLICY.user_failure_limit - 1  # right one gave back
    with pytest.raises(stepup.Locked):  # the tenth wrong code locks the method
        stepup.checked(member, "email", lambda: seen.append(1) or False, now=T0, policy=POLICY)
    with pytest.raises(stepup.Locked):  # and nothing is compared while locked
        stepup.checked(member, "email", lambda: seen.append(1) or True, now=T0, policy=POLICY)
    assert len(seen) == POLICY.user_failure_limit


def test_parallel_comparisons_never_exceed_the_allowance(member, app):
    """Twenty threads, each holding its slot while comparing: at most ten compare."""
    compared, locked, errors = [], [], []
    barrier = threading.Barrier(20)

    def slow_wrong():
        compared.append(1)
        return False

    def attempt():
        try:
            with db.connection_context():
                barrier.wait()
                stepup.checked(member, "sms", slow_wrong, now=T0, policy=POLICY)
        except stepup.Locked:
            locked.append(1)
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(compared) == POLICY.user_failure_limit
    assert len(locked) == 20 - POLICY.user_failure_limit + 1


def test_lock_and_send_limit_messages_count_in_words():
    """"1 more minute", "15 more minutes": each language's own plural rule (ngettext)."""
    from webapp.verify.engine import SEND_LIMITED, SendLimited

    now = dt.datetime(2026, 1, 1, 12, 0)
    one = stepup._locked(now + dt.timedelta(seconds=40), now)
    many = stepup._locked(now + dt.timedelta(minutes=15), now)
    assert "locked for 1 more minute." in one.text()
    assert "locked for 15 more minutes." in many.text()
    sent = SendLimited(SEND_LIMITED[0], {"num": 1}, plural=SEND_LIMITED[1])
    assert "another in 1 minute." in sent.text()
    sent = SendLimited(SEND_LIMITED[0], {"num": 7}, plural=SEND_LIMITED[1])
    assert "another in 7 minutes." in sent.text()
