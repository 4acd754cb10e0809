"""Log lines: JSON objects with the request id, the user id and the event (LOG_FORMAT=json),
plain text otherwise; never an address or a code."""

import io
import json
import logging

import pytest
from conftest import csrf, last_code, signin, user


@pytest.fixture
def log_lines():
    """What the app's log handler writes, for this test."""
    handler = next(h for h in logging.getLogger("webapp").handlers if getattr(h, "aesthetix", 0))
    buffer = io.StringIO()
    old = handler.setStream(buffer)
    yield lambda: buffer.getvalue().splitlines()
    handler.setStream(old)


@pytest.mark.config(LOG_FORMAT="json")
def test_json_lines_carry_request_id_user_and_event(client, log_lines):
    signin(client, "member@example.com")
    r = client.get("/settings/sessions/none-such", headers={"X-Request-ID": "probe-12345678"})
    assert r.headers["X-Request-ID"] == "probe-12345678"
    lines = [json.loads(line) for line in log_lines()]  # every line is one JSON object
    assert lines
    for entry in lines:
        assert {"time", "level", "logger", "message", "request_id", "user_id",
                "event"} <= entry.keys()
    signed_in = [e for e in lines if e["event"] == "login.succeeded"]
    assert len(signed_in) == 1
    assert signed_in[0]["user_id"] == user("member@example.com").id
    assert len(signed_in[0]["request_id"]) == 16 and signed_in[0]["level"] == "INFO"
    sent = next(e for e in lines if e["event"] == "challenge.code_sent")
    assert sent["user_id"] is None  # before the sign-in finished nobody is signed in
    text = "\n".join(log_lines())
    assert "member@example.com" not in text
    assert "+12025550103" not in text


@pytest.mark.config(LOG_FORMAT="json")
def test_a_request_id_from_the_proxy_reaches_the_log(client, log_lines):
    client.post("/login", data={"email": "member@example.com", "password": "wrong password!!",
                                "csrf_token": csrf(client)},
                headers={"X-Request-ID": "proxy-id-0001"})
    [failed] = [json.loads(line) for line in log_lines()
                if json.loads(line)["event"] == "login.failed"]
    assert failed["request_id"] == "proxy-id-0001" and failed["user_id"] is None


def test_plain_text_by_default(client, log_lines):
    signin(client, "member@example.com")
    lines = log_lines()
    assert lines and not lines[0].startswith("{")
    [line] = [x for x in lines if "login.succeeded" in x]
    assert " INFO webapp.audit rid=" in line
    assert f"user={user('member@example.com').id}" in line
    code = last_code("member@example.com")
    assert code not in "\n".join(lines)
