"""Prometheus metrics: what the security flows did, how deliveries went, request latency.

Counters live in this process (prometheus_client); under gunicorn set PROMETHEUS_MULTIPROC_DIR
and every worker writes its own file that /metrics adds up (gunicorn.conf.py empties the
directory at start). Label values come from fixed sets in the code (outcomes, channels,
purposes, Flask endpoint names), never from a person: no address, number, id or URL.
"""

import functools
import ipaddress
import os
import time

from flask import Response, abort, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

# A `_created` timestamp beside every series doubles the scrape for nothing we alert on.
disable_created_metrics()

SIGN_INS = Counter("aesthetix_sign_ins", "Sign-in attempts by outcome and method "
                   "(method: password for the password step, else the second factor).",
                   ["outcome", "method"])
CODES_SENT = Counter("aesthetix_codes_sent", "Verification codes by channel and outcome "
                     "(sent, failed, limited: a sending limit, refused: a country not allowed).",
                     ["channel", "outcome"])
VERIFICATIONS = Counter("aesthetix_verifications", "Code checks by purpose and outcome "
                        "(verified, wrong_code, locked, closed, malformed, conflict, ...).",
                        ["purpose", "outcome"])
LOCKS = Counter("aesthetix_code_locks", "Code entry locked for an account and method.",
                ["method"])
DAILY_CAP = Counter("aesthetix_daily_cap_refusals",
                    "Phone/email changes refused by the daily cap.")
RATE_LIMITED = Counter("aesthetix_rate_limited", "Requests answered 429 Too Many Requests, by "
                       "endpoint.", ["endpoint"])
DELIVERIES = Counter("aesthetix_deliveries", "Messages handed to a transport, by channel and "
                     "outcome; reason says why one failed (none when sent).",
                     ["channel", "outcome", "reason"])
IMPERSONATIONS = Counter("aesthetix_impersonations_started", '"Login as" sessions started.')
LATENCY = Histogram("aesthetix_request_duration_seconds", "Request time by Flask endpoint.",
                    ["endpoint", "method"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

METHODS = {"password", "email", "sms", "totp", "backup", "passkey"}
CHANNELS = {"email", "sms", "totp", "backup", "passkey"}
HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def _one_of(value, allowed: set, other: str = "other") -> str:
    """A label value from a fixed set: anything else is `other`, never the raw value."""
    return value if value in allowed else other


# --- counting ----------------------------------------------------------------------------------


def count_event(event: str, outcome: str, channel) -> None:
    """The audit log's security events that are counted (called by audit.record)."""
    if event == "login.succeeded":
        SIGN_INS.labels("succeeded", _one_of(channel or "password", METHODS)).inc()
    elif event == "login.failed":
        SIGN_INS.labels("failed", _one_of(channel or "password", METHODS)).inc()
    elif event == "challenge.locked":
        LOCKS.labels(_one_of(channel, CHANNELS)).inc()
    elif event == "change.limited":
        DAILY_CAP.inc()
    elif event == "impersonation.started":
        IMPERSONATIONS.inc()


def count_code(channel: str, outcome: str) -> None:
    CODES_SENT.labels(_one_of(channel, CHANNELS), outcome).inc()


def count_verification(purpose: str, outcome: str) -> None:
    VERIFICATIONS.labels(purpose, outcome).inc()


def counted(channel: str):
    """Wrap a transport (send_email, send_sms) so every hand-off is counted."""
    def wrap(send):
        @functools.wraps(send)
        def counted_send(*args, **kwargs):
            try:
                result = send(*args, **kwargs)
            except Exception as exc:
                DELIVERIES.labels(channel, "failed", getattr(exc, "reason", "error")).inc()
                raise
            DELIVERIES.labels(channel, "sent", "none").inc()
            return result
        return counted_send
    return wrap


def delivery_backlog() -> dict[str, int]:
    """Security notices waiting for delivery, and those given up on (the `delivery` table)."""
    from .delivery import notices  # imported late: the delivery package imports the models

    counts = notices.counts()
    return {"pending": counts[notices.PENDING], "failed": counts[notices.FAILED]}


class _Backlog:
    """Read at scrape time by the worker that serves /metrics (a gauge per state)."""

    def collect(self):
        gauge = GaugeMetricFamily("aesthetix_delivery_backlog",
                                  "Security notices by delivery state (pending, failed).",
                                  labels=["state"])
        for state, count in delivery_backlog().items():
            gauge.add_metric([state], count)
        yield gauge


# --- the app side ------------------------------------------------------------------------------


def allowed_networks(config) -> list:
    return [ipaddress.ip_network(part.strip(), strict=False)
            for part in str(config["METRICS_ALLOWED_IPS"]).split(",") if part.strip()]


def _client_allowed(networks) -> bool:
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in net for net in networks)


def exposition() -> bytes:
    """Every counter in Prometheus text format: this process's, or all workers' files."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    backlog = CollectorRegistry(auto_describe=False)
    backlog.register(_Backlog())
    return generate_latest(registry) + generate_latest(backlog)


# The histogram's child per (endpoint, method), found without `labels()` and its lock on
# every request; bounded by the routes and methods.
_timers: dict = {}


def init_app(app) -> None:
    networks = allowed_networks(app.config)

    def start_timer():
        g.metrics_started = time.perf_counter()

    # First of all before_request hooks: the time includes the limiter and the session load.
    app.before_request_funcs.setdefault(None, []).insert(0, start_timer)

    @app.after_request
    def observe(response):
        endpoint = request.endpoint or "unmatched"
        started = g.get("metrics_started")
        if started is not None:
            key = (endpoint, _one_of(request.method, HTTP_METHODS))
            timer = _timers.get(key)
            if timer is None:
                timer = _timers[key] = LATENCY.labels(*key)
            timer.observe(time.perf_counter() - started)
        if response.status_code == 429:
            RATE_LIMITED.labels(endpoint).inc()
        return response

    @app.get("/metrics")
    def metrics():
        """Prometheus scrape target.

        :raise 404: the client address is not in METRICS_ALLOWED_IPS (it looks like no page).
        """
        if not _client_allowed(networks):
            abort(404)
        response = Response(exposition(), mimetype=CONTENT_TYPE_LATEST)
        response.headers["Cache-Control"] = "no-store"
        return response
