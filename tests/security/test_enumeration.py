"""A-11 / MFA-12: unknown email, wrong password and locked account look alike."""

import difflib
import re
import time

from conftest import csrf, without_csrf_tokens

EMAIL, UNKNOWN = "member@example.com", "nobody-here@example.com"
# The CSRF token differs per session: in the hidden field and in <body hx-headers>.
WAIT_RE = re.compile(r"Try again in \d+ minute")


def attempt(client, email, password="a wrong password!!"):
    token = csrf(client)
    start = time.perf_counter()
    r = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    return r, time.perf_counter() - start


def normalised(response, email):
    body = response.get_data(as_text=True).replace(email, "EMAIL")
    # The wait is rounded from the clock, so two lockouts a second apart may say 15 or 16.
    body = WAIT_RE.sub("Try again in N minute", body)
    return without_csrf_tokens(body)


def test_a11_unknown_email_and_wrong_password_get_the_same_answer(app):
    """A-11: same status, same body (CSRF token and the typed email normalised)."""
    unknown, _ = attempt(app.test_client(), UNKNOWN)
    wrong, _ = attempt(app.test_client(), EMAIL)
    assert unknown.status_code == wrong.status_code == 422
    assert normalised(unknown, UNKNOWN) == normalised(wrong, EMAIL)
    assert "Incorrect email or password." in wrong.get_data(as_text=True)
    assert set(unknown.headers.keys()) == set(wrong.headers.keys())


def test_a11_locked_account_and_locked_unknown_email_look_alike(app_factory):
    """A-11: the per-account throttle counts typed emails, so it reveals nothing either."""
    app = app_factory(LOGIN_FAILURES_PER_ACCOUNT="3 per 15 minutes")
    answers = {}
    for email in (EMAIL, UNKNOWN):
        client = app.test_client()
        for _ in range(3):
            assert attempt(client, email)[0].status_code == 422
        # Locked: even the right password gets the same 429 as an unknown address.
        r, _ = attempt(client, email, "demo-password-aesthetix")
        answers[email] = r
    assert answers[EMAIL].status_code == answers[UNKNOWN].status_code == 429
    known, unknown = normalised(answers[EMAIL], EMAIL), normalised(answers[UNKNOWN], UNKNOWN)
    assert known == unknown, list(difflib.unified_diff(known.splitlines(), unknown.splitlines()))
    assert answers[EMAIL].headers.get("Retry-After") and answers[UNKNOWN].headers.get(
        "Retry-After")


def test_a11_unknown_email_takes_as_long_as_a_wrong_password(app_factory):
    """A-11: a dummy hash is verified for unknown emails; fastest times within a factor of 2
    (the fastest of many is the one least disturbed by other work on the machine: noise only
    ever adds time, while skipping the hash would take it away from every attempt)."""
    # The production argon2 profile, so the hash dominates the request time.
    app = app_factory(ARGON2_TIME_COST=2, ARGON2_MEMORY_COST=19456,
                      LOGIN_FAILURES_PER_ACCOUNT="1000 per minute",
                      LOGIN_FAILURES_PER_IP="1000 per minute")
    client = app.test_client()
    attempt(client, UNKNOWN), attempt(client, EMAIL)  # warm up: the dummy hash is made once
    times = {UNKNOWN: [], EMAIL: []}
    for _ in range(11):  # interleaved, so machine noise hits both alike
        for email in times:
            times[email].append(attempt(client, email)[1])
    ratio = min(times[UNKNOWN]) / min(times[EMAIL])
    assert 0.5 < ratio < 2, (ratio, times)
