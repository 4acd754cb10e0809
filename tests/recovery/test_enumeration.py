"""'Forgot password?' tells nobody whether an address has an account: the same status and
body, in comparable time, with the email going through a real SMTP server on loopback."""

import re
import statistics
import time

import pytest
from conftest import HTMX, csrf

from recovery.helpers import link_in
from webapp.config import DEFAULTS

TOKEN_RE = re.compile(r'(csrf_token" value="|X-CSRFToken": ")[^"]+')


@pytest.fixture
def mailing(app_factory, smtp_server):
    app = app_factory(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port,
                      LINK_SENDS_PER_ADDRESS="100 per hour", LINK_SENDS_PER_IP="100 per hour")
    return app, smtp_server


def timed(client, token, email, htmx):
    started = time.perf_counter()
    r = client.post("/password/forgot", data={"email": email, "csrf_token": token},
                    headers=HTMX if htmx else {})
    r.get_data()
    elapsed = time.perf_counter() - started
    r.close()  # then the server closes the response: the link and its email go now
    return elapsed, r


@pytest.mark.parametrize("htmx", [True, False])
def test_same_answer_for_known_and_unknown_addresses(mailing, htmx):
    app, smtp = mailing
    client = app.test_client()
    token = csrf(client, "/password/forgot")
    _, known = timed(client, token, "member@example.com", htmx)
    _, unknown = timed(client, token, "nobody@example.com", htmx)
    assert known.status_code == unknown.status_code == 200
    same = [TOKEN_RE.sub(r"\1…", r.get_data(as_text=True)) for r in (known, unknown)]
    assert same[0] == same[1]
    assert known.headers.get("Set-Cookie") is None and unknown.headers.get("Set-Cookie") is None
    # Only the real account got mail, through the SMTP server.
    assert [m["to"] for m in smtp.messages] == [["member@example.com"]]
    assert link_in(smtp.messages[0]["body"], "password/reset")


def test_comparable_time_for_known_and_unknown_addresses(mailing):
    app, smtp = mailing
    client = app.test_client()
    token = csrf(client, "/password/forgot")
    timed(client, token, "admin@example.com", True)  # warm up both paths
    timed(client, token, "someone@example.com", True)
    known, unknown = [], []
    for i in range(8):
        known.append(timed(client, token, "member@example.com", True)[0])
        unknown.append(timed(client, token, f"nobody{i}@example.com", True)[0])
    floor = DEFAULTS["LINK_REQUEST_MIN_MS"] / 1000
    assert min(known) >= floor and min(unknown) >= floor
    gap = abs(statistics.median(known) - statistics.median(unknown))
    assert gap < 0.05, (known, unknown)
    assert len(smtp.messages) == 9
