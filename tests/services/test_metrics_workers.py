"""/metrics under `gunicorn -w 4`: every worker's counts add up in every scrape."""

import re
import tempfile
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import run_parallel

pytestmark = pytest.mark.services

METRICS_DIR = tempfile.mkdtemp(prefix="aesthetix-metrics-test-")
SERVER_ENV = {"PROMETHEUS_MULTIPROC_DIR": METRICS_DIR}


def scrape(server) -> dict:
    r = server.client().get("/metrics")
    assert r.status == 200, r.status
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def healthz_count(samples) -> float:
    return samples.get(("aesthetix_request_duration_seconds_count",
                        frozenset({"endpoint": "healthz", "method": "GET"}.items())), 0.0)


def sign_ins(samples) -> float:
    return samples.get(("aesthetix_sign_ins_total",
                        frozenset({"outcome": "succeeded", "method": "email"}.items())), 0.0)


def test_counts_from_all_workers_add_up(gunicorn_server):
    before = scrape(gunicorn_server)
    # 60 requests at once, each on its own connection: the four workers share them.
    results = run_parallel([lambda: gunicorn_server.client().get("/healthz").status
                            for _ in range(60)])
    assert results == [200] * 60
    # Sign-ins (one after another: each reads the latest code from the outbox), each step a
    # new connection, so the workers share them too.
    for _ in range(6):
        gunicorn_server.signin("member@example.com")
    # Every scrape, whichever worker answers it, sees the same totals.
    scrapes = [scrape(gunicorn_server) for _ in range(8)]
    for after in scrapes:
        assert healthz_count(after) - healthz_count(before) == 60
        assert sign_ins(after) - sign_ins(before) == 6
    # More than one worker did the counting (one file per worker process).
    pids = {re.search(r"_(\d+)\.db$", p.name).group(1) for p in Path(METRICS_DIR).glob("*.db")}
    assert len(pids) >= 2, pids
