"""/metrics: the counters move when the flows run, only allowed addresses read it, and no
label carries an address, a number, an id or a URL."""

import re

import pytest
from conftest import PASSWORD, csrf, last_code, post, signin, user
from prometheus_client.parser import text_string_to_metric_families

from webapp import config as settings
from webapp.extensions import db
from webapp.models import Challenge

EMAIL = "member@example.com"


def scrape(client, **kw) -> dict:
    """Every sample of /metrics as {(name, frozenset(labels)): value}."""
    r = client.get("/metrics", **kw)
    assert r.status_code == 200, r.status_code
    assert r.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(r.get_data(as_text=True)):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


class Meter:
    """Differences between two scrapes."""

    def __init__(self, client):
        self.client = client
        self.before = scrape(client)

    def delta(self, name, **labels) -> float:
        return value(scrape(self.client), name, **labels) - value(self.before, name, **labels)


def wrong_password(client, email=EMAIL):
    return client.post("/login", data={"email": email, "password": "not the password!!",
                                       "csrf_token": csrf(client)})


def test_a_sign_in_moves_its_counters(client):
    meter = Meter(client)
    signin(client, EMAIL)
    assert meter.delta("aesthetix_sign_ins_total", outcome="succeeded", method="email") == 1
    assert meter.delta("aesthetix_codes_sent_total", channel="email", outcome="sent") == 1
    # The code, and the new-device notice (this test client never signed in before).
    assert meter.delta("aesthetix_deliveries_total", channel="email", outcome="sent",
                       reason="none") == 2
    assert meter.delta("aesthetix_verifications_total", purpose="login",
                       outcome="verified") == 1
    assert meter.delta("aesthetix_request_duration_seconds_count", endpoint="auth.login",
                       method="POST") == 1
    assert meter.delta("aesthetix_request_duration_seconds_count", endpoint="verify.code",
                       method="POST") == 1


def test_failures_are_counted_by_step(client):
    meter = Meter(client)
    assert wrong_password(client).status_code == 422
    assert meter.delta("aesthetix_sign_ins_total", outcome="failed", method="password") == 1
    r = client.post("/login", data={"email": EMAIL, "password": PASSWORD,
                                    "csrf_token": csrf(client)})
    url = r.headers["Location"]
    token = csrf(client, url)
    client.post(url + "/channel", data={"channel": "email", "csrf_token": token})
    wrong = "000000" if last_code(EMAIL) != "000000" else "111111"
    assert client.post(url + "/code", data={"code": wrong, "csrf_token": token}).status_code == 422
    assert meter.delta("aesthetix_sign_ins_total", outcome="failed", method="email") == 1
    assert meter.delta("aesthetix_verifications_total", purpose="login",
                       outcome="wrong_code") == 1


@pytest.mark.config(CODE_USER_FAILURE_LIMIT=2, CODE_MAX_ATTEMPTS=10)
def test_a_lock_is_counted(client):
    meter = Meter(client)
    r = client.post("/login", data={"email": EMAIL, "password": PASSWORD,
                                    "csrf_token": csrf(client)})
    url = r.headers["Location"]
    token = csrf(client, url)
    client.post(url + "/channel", data={"channel": "email", "csrf_token": token})
    wrong = "000000" if last_code(EMAIL) != "000000" else "111111"
    statuses = [client.post(url + "/code", data={"code": wrong, "csrf_token": token}).status_code
                for _ in range(3)]
    assert statuses[-1] == 429
    assert meter.delta("aesthetix_code_locks_total", method="email") == 1
    assert meter.delta("aesthetix_verifications_total", purpose="login", outcome="locked") >= 1
    # A 429 answer is a rate-limit refusal on its endpoint.
    assert meter.delta("aesthetix_rate_limited_total", endpoint="verify.code") >= 1


@pytest.mark.config(LOGIN_FAILURES_PER_IP="2 per 15 minutes")
def test_a_rate_limited_request_is_counted_by_endpoint(client):
    meter = Meter(client)
    assert [wrong_password(client, f"u{i}@example.com").status_code for i in range(3)] == \
        [422, 422, 429]
    assert meter.delta("aesthetix_rate_limited_total", endpoint="auth.login") == 1


@pytest.mark.config(DAILY_CHANGE_LIMIT=1)
def test_a_daily_cap_refusal_is_counted(member_client):
    meter = Meter(member_client)
    me = user(EMAIL)
    for phone in ("+12025550177", "+12025550178"):
        r = post(member_client, "/settings/profile",
                 {"name": me.name, "email": me.email, "phone": phone})
    assert r.status_code == 429
    assert meter.delta("aesthetix_daily_cap_refusals_total") == 1


def test_login_as_and_deliveries_are_counted(client):
    signin(client, "admin@example.com")
    meter = Meter(client)
    r = post(client, f"/settings/team/{user(EMAIL).id}/login-as", {},
             token_from="/settings/team")
    assert r.status_code == 303
    assert meter.delta("aesthetix_impersonations_started_total") == 1


def test_deliveries_that_fail_are_counted_with_their_reason(app_factory, twilio_api):
    app = app_factory(**twilio_api.settings())
    client = app.test_client()
    meter = Meter(client)
    r = client.post("/login", data={"email": EMAIL, "password": PASSWORD,
                                    "csrf_token": csrf(client)})
    url = r.headers["Location"]
    twilio_api.fail("invalid_number")
    r = client.post(url + "/channel", data={"channel": "sms", "csrf_token": csrf(client, url)})
    assert r.status_code == 503
    assert meter.delta("aesthetix_deliveries_total", channel="sms", outcome="failed",
                       reason="invalid_number") == 1
    assert meter.delta("aesthetix_codes_sent_total", channel="sms", outcome="failed") == 1
    assert meter.delta("aesthetix_codes_sent_total", channel="sms", outcome="sent") == 0


def test_no_label_carries_personal_data(app_factory, twilio_api):
    """After sign-ins, a phone change, failures and unknown URLs, every label value is a
    word from a fixed set: no address, number, id, code or path."""
    app = app_factory(**twilio_api.settings())
    client = app.test_client()
    signin(client, EMAIL)
    me = user(EMAIL)
    r = post(client, "/settings/profile", {"name": me.name, "email": me.email,
                                           "phone": "+12025550177"})
    cid = r.headers["Location"].rsplit("/", 1)[1]
    client.get(f"/verify/{cid}")
    client.get(f"/settings/team/{me.id}")
    client.get("/no/such/page/member@example.com")
    wrong_password(app.test_client(), "someone.else@example.org")
    text = client.get("/metrics").get_data(as_text=True)
    ours = "\n".join(line for line in text.splitlines() if line.startswith("aesthetix_"))
    labels = re.findall(r'(\w+)="([^"]*)"', ours)
    assert labels
    assert {name for name, _ in labels} <= {"outcome", "method", "channel", "purpose",
                                            "endpoint", "reason", "state", "le"}
    for name, val in labels:
        assert re.fullmatch(r"[a-z_.+0-9A-Z-]*", val), (name, val)
        assert "@" not in val and "/" not in val
    with db.connection_context():
        ids = {str(c.id) for c in Challenge.select()}
    # Names and labels only: a sample's value (a latency like 0.0177…) may hold any digits.
    series = "\n".join(line.rsplit(" ", 1)[0] for line in ours.splitlines()
                       if not line.startswith("#"))
    for secret in ids | {EMAIL, "someone.else@example.org", "12025550177", "0177",
                         str(me.id) + '"'}:
        assert secret not in series, secret
    endpoints = {v for n, v in labels if n == "endpoint"}
    assert "unmatched" in endpoints and "verify.show" in endpoints


def test_the_backlog_gauge_reads_the_delivery_table(client):
    from webapp.delivery import notices
    from webapp.models import Delivery, utcnow

    samples = scrape(client)
    assert value(samples, "aesthetix_delivery_backlog", state="pending") == 0
    assert value(samples, "aesthetix_delivery_backlog", state="failed") == 0
    with db.connection_context():
        for _ in range(3):
            notices.enqueue("email", EMAIL, "subject", "body", now=utcnow())
        failed = notices.enqueue("sms", "+12025550177", "", "body", now=utcnow())
        Delivery.update(status=notices.FAILED).where(Delivery.id == failed.id).execute()
    samples = scrape(client)
    assert value(samples, "aesthetix_delivery_backlog", state="pending") == 3
    assert value(samples, "aesthetix_delivery_backlog", state="failed") == 1


# --- who may read it ---------------------------------------------------------------------------


def test_only_loopback_reads_metrics_by_default(client):
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    refused = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    unknown = client.get("/no-such-page", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert refused.status_code == 404
    assert "aesthetix_" not in refused.get_data(as_text=True)
    # Refused looks exactly like a page that does not exist.
    assert refused.get_data(as_text=True) == unknown.get_data(as_text=True)


def test_a_forwarded_address_is_not_believed_without_trusted_proxies(client):
    r = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"},
                   headers={"X-Forwarded-For": "127.0.0.1"})
    assert r.status_code == 404


@pytest.mark.config(TRUSTED_PROXIES=1)
def test_behind_a_proxy_the_client_address_decides(client):
    # The proxy on loopback forwards an outside client: refused.
    r = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 404
    # A scrape from the proxy host itself, forwarded as loopback: allowed.
    r = client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert r.status_code == 200


@pytest.mark.config(METRICS_ALLOWED_IPS="10.0.0.0/8, 192.0.2.7")
def test_allowed_networks_come_from_settings(client):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.9.8.7"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.8"}).status_code == 404
    assert client.get("/metrics").status_code == 404  # loopback is no longer listed


@pytest.mark.config(METRICS_ALLOWED_IPS="")
def test_an_empty_list_closes_metrics(client):
    assert client.get("/metrics").status_code == 404


def test_a_mistyped_allowed_list_does_not_start(tmp_path):
    with pytest.raises(settings.ConfigError, match="METRICS_ALLOWED_IPS"):
        settings.finish({**settings.DEFAULTS, "SECRET_KEY": "k" * 48,
                         "METRICS_ALLOWED_IPS": "127.0.0.1,10.0.0.300"}, tmp_path)


def test_an_unknown_method_is_one_label_not_many(client):
    for verb in ("PROPFIND", "BREW", "X-ANYTHING"):
        client.open("/healthz", method=verb)
    text = client.get("/metrics").get_data(as_text=True)
    # A method no route has is a 405 before routing: no endpoint either.
    assert 'aesthetix_request_duration_seconds_count{endpoint="unmatched",method="other"} 3.0' \
        in text
    for verb in ("PROPFIND", "BREW", "X-ANYTHING"):
        assert verb not in text
