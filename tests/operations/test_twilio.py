"""SMS_BACKEND=twilio against a loopback double of Twilio's Messages endpoint: what is sent,
how each provider failure reads to the person, what is audited, and what start-up refuses."""

import base64
import json
import re
import time
from urllib.parse import urlsplit

import pytest
from conftest import HTMX, PASSWORD, csrf, free_port, user
from fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FROM, SERVICE_SID

from webapp import config as settings
from webapp.delivery import send_sms, twilio
from webapp.extensions import db
from webapp.models import AuditEvent, Challenge

EMAIL, PHONE = "member@example.com", "+12025550103"
GENERIC = "We couldn\u2019t send the code"


def _text(response) -> str:
    return response.get_data(as_text=True).replace("&#39;", "'").replace("\u2019", "'")


def password_step(client, email=EMAIL) -> str:
    r = client.post("/login", data={"email": email, "password": PASSWORD,
                                    "csrf_token": csrf(client)})
    assert r.status_code == 303, r.get_data(as_text=True)
    return r.headers["Location"]


def choose_sms(client, url, htmx=False):
    token = csrf(client, url)
    return client.post(url + "/channel", data={"channel": "sms", "csrf_token": token},
                       headers=HTMX if htmx else {})


def challenge(url) -> Challenge:
    with db.connection_context():
        return Challenge.get_by_id(urlsplit(url).path.rsplit("/", 1)[1])


def failures():
    with db.connection_context():
        return [(e.channel, e.outcome, json.loads(e.details)) for e in
                AuditEvent.select().where(AuditEvent.event == "challenge.delivery_failed")
                .order_by(AuditEvent.id)]


@pytest.fixture
def twilio_app(app_factory, twilio_api):
    return app_factory(**twilio_api.settings())


def test_a_code_goes_through_twilio_and_signs_in(twilio_app, twilio_api):
    client = twilio_app.test_client()
    url = password_step(client)
    assert choose_sms(client, url).status_code == 303
    [sent] = twilio_api.messages
    assert sent["To"] == PHONE and sent["From"] == FROM and "MessagingServiceSid" not in sent
    request = twilio_api.requests[-1]
    assert request["path"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request["content_type"] == "application/x-www-form-urlencoded"
    assert request["auth"] == "Basic " + base64.b64encode(
        f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    code = re.search(r"\b(\d{6})\b", sent["Body"]).group(1)
    r = client.post(url + "/code", data={"code": code, "csrf_token": csrf(client, url)})
    assert r.status_code == 303 and r.headers["Location"].endswith("/settings/profile")
    assert failures() == []


def test_a_messaging_service_replaces_the_sender_number(app_factory, twilio_api):
    app = app_factory(**twilio_api.settings(TWILIO_FROM="",
                                            TWILIO_MESSAGING_SERVICE_SID=SERVICE_SID))
    with app.app_context():
        send_sms(app.config, PHONE, "hello")
    [sent] = twilio_api.messages
    assert sent == {"To": PHONE, "MessagingServiceSid": SERVICE_SID, "Body": "hello"}


# What each provider failure tells the person (never the generic text, never a 500).
FAILURES = [
    ("invalid_number", "This phone number can't receive text messages"),
    ("region", "We can't send text messages to this country"),
    ("opted_out", "turned off our text messages (it replied STOP)"),
    ("rate_limited", "Text messages are busy right now"),
    ("server_error", "Text messages aren't available right now"),
    ("unavailable", "Text messages aren't available right now"),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize(("kind", "message"), FAILURES, ids=[k for k, _ in FAILURES])
def test_a_provider_refusal_is_clear_audited_and_uses_nothing(twilio_app, twilio_api, kind,
                                                              message, htmx):
    client = twilio_app.test_client()
    url = password_step(client)
    twilio_api.fail(kind)
    r = choose_sms(client, url, htmx=htmx)
    assert r.status_code == 503
    page = _text(r)
    assert message in page and GENERIC.replace("\u2019", "'") not in page
    assert PHONE not in page  # Twilio's own text quotes the number: it is never shown
    assert ("<html" in page) is not htmx
    c = challenge(url)
    assert c.sends == 0 and c.code_hash is None and c.consumed_at is None
    [(channel, outcome, details)] = failures()
    expected = "unavailable" if kind == "server_error" else kind
    assert (channel, outcome, details["reason"]) == ("sms", "failed", expected)
    # The person can pick another method at once and finish signing in.
    twilio_api.answer = None
    assert choose_sms(client, url).status_code == 303 and len(twilio_api.messages) == 1


def test_a_wrong_auth_token_is_an_operator_error_not_a_500(app_factory, twilio_api, caplog):
    app = app_factory(**twilio_api.settings(TWILIO_AUTH_TOKEN="0" * 32))
    client = app.test_client()
    url = password_step(client)
    r = choose_sms(client, url)
    assert r.status_code == 503 and "Text messages aren't available right now" in _text(r)
    assert failures()[0][2]["reason"] == "auth"
    # The operator reads the Twilio code in the log; the number and the token stay out.
    logged = [rec for rec in caplog.records if rec.name == "webapp.delivery.twilio"]
    assert logged and logged[0].levelname == "ERROR" and "code=20003" in logged[0].getMessage()
    assert PHONE not in caplog.text and "0" * 32 not in caplog.text


def test_a_hung_provider_times_out_and_says_so(twilio_app, twilio_api):
    twilio_api.delay = 10  # SMS_TIMEOUT is 1 s in these settings
    client = twilio_app.test_client()
    url = password_step(client)
    started = time.monotonic()
    r = choose_sms(client, url)
    # Cut off by the timeout, long before the double answers (room for a busy machine).
    assert time.monotonic() - started < 8
    assert r.status_code == 503 and "Text messages aren't available right now" in _text(r)
    assert failures()[0][2]["reason"] == "timeout"


def test_an_unreachable_provider_says_so(app_factory, twilio_api):
    app = app_factory(**twilio_api.settings(TWILIO_API_BASE=f"http://127.0.0.1:{free_port()}"))
    client = app.test_client()
    url = password_step(client)
    r = choose_sms(client, url)
    assert r.status_code == 503 and "Text messages aren't available right now" in _text(r)
    assert failures()[0][2]["reason"] == "unavailable"


def test_a_failed_resend_is_audited_with_its_reason(twilio_app, twilio_api, clock):
    client = twilio_app.test_client()
    url = password_step(client)
    assert choose_sms(client, url).status_code == 303
    clock.advance(twilio_app.config["CODE_RESEND_AFTER_SECONDS"] + 1)
    twilio_api.fail("rate_limited")
    r = client.post(url + "/resend", data={"csrf_token": csrf(client, url)}, headers=HTMX)
    assert r.status_code == 503 and "Text messages are busy right now" in _text(r)
    assert [(c, o, d["reason"]) for c, o, d in failures()] == [("sms", "failed", "rate_limited")]
    assert challenge(url).sends == 1


def test_a_phone_change_verified_over_twilio(twilio_app, twilio_api):
    """The step-up path: the code goes to the current verified phone, never the new one."""
    client = twilio_app.test_client()
    url = password_step(client)
    choose_sms(client, url)
    code = re.search(r"\d{6}", twilio_api.messages[-1]["Body"]).group(0)
    client.post(url + "/code", data={"code": code, "csrf_token": csrf(client, url)})
    me = user(EMAIL)
    r = client.post("/settings/profile", data={
        "name": me.name, "email": me.email, "phone": "+12025550177",
        "csrf_token": csrf(client, "/settings/profile")})
    change = r.headers["Location"]
    assert choose_sms(client, change).status_code == 303
    assert twilio_api.messages[-1]["To"] == PHONE
    code = re.search(r"\d{6}", twilio_api.messages[-1]["Body"]).group(0)
    r = client.post(change + "/code", data={"code": code, "csrf_token": csrf(client, change)})
    assert r.status_code == 303 and user(EMAIL).phone == "+12025550177"


# --- start-up checks -------------------------------------------------------------------------


def twilio_settings(**overrides):
    return {**settings.DEFAULTS, "SECRET_KEY": "t" * 48, "SMS_BACKEND": "twilio",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM": FROM, **overrides}


@pytest.mark.parametrize(("overrides", "names"), [
    ({"TWILIO_ACCOUNT_SID": ""}, ["TWILIO_ACCOUNT_SID"]),
    ({"TWILIO_AUTH_TOKEN": ""}, ["TWILIO_AUTH_TOKEN"]),
    ({"TWILIO_FROM": ""}, ["TWILIO_FROM", "TWILIO_MESSAGING_SERVICE_SID"]),
    ({"TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID}, ["TWILIO_FROM",
                                                     "TWILIO_MESSAGING_SERVICE_SID"]),
    ({"TWILIO_API_BASE": "ftp://127.0.0.1"}, ["TWILIO_API_BASE"]),
])
def test_twilio_without_its_settings_does_not_start(tmp_path, overrides, names):
    with pytest.raises(settings.ConfigError) as refused:
        settings.finish(twilio_settings(**overrides), tmp_path)
    for name in names:
        assert name in str(refused.value)


def test_twilio_settings_come_from_the_environment_and_production_accepts_them(tmp_path):
    env = {"SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID}
    assert settings.from_environment(env) == env
    config = twilio_settings(ENV_NAME="production", MAIL_BACKEND="smtp", TWILIO_FROM="",
                             PUBLIC_URL="https://crm.example.com",
                             **settings.from_environment(env))
    settings.finish(config, tmp_path)
    lines = settings.describe(config)
    assert "  SMS:         twilio (api.twilio.com)" in lines
    assert AUTH_TOKEN not in "\n".join(lines)


def test_errors_map_by_code_then_by_status():
    assert twilio.classify(400, 21211)[0] == "invalid_number"
    assert twilio.classify(400, 21408)[0] == "region"
    assert twilio.classify(401, 20003)[0] == "auth"
    assert twilio.classify(429, 429)[0] == "rate_limited"
    assert twilio.classify(502, 502)[0] == "unavailable"
    assert twilio.classify(400, 99999)[0] == "refused"
