"""gunicorn settings for `make serve` and production: `gunicorn -c gunicorn.conf.py wsgi:app`.

Everything comes from the environment so one file serves every deployment:
WEB_CONCURRENCY (worker processes), HOST/PORT or BIND, GUNICORN_THREADS, GUNICORN_TIMEOUT,
PROMETHEUS_MULTIPROC_DIR (where workers keep their counters for /metrics).
"""

import multiprocessing
import os
import tempfile
from pathlib import Path

_host, _port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
bind = os.environ.get("BIND") or f"{_host}:{_port}"
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * multiprocessing.cpu_count() + 1, 8))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"

# A request that takes longer than this is stuck (argon2 is ~50 ms, SMTP/SMS have own timeouts).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so a slow leak never becomes an outage.
max_requests = 5000
max_requests_jitter = 500

# Behind a reverse proxy the app (TRUSTED_PROXIES -> ProxyFix) decides which X-Forwarded-For
# hop to believe; gunicorn itself trusts nothing forwarded.
forwarded_allow_ips = ""

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# The request id is the X-Request-ID the app echoes (the proxy's, or a fresh one).
access_log_format = (
    '%(h)s "%(r)s" %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s ua="%(a)s"'
)


# /metrics adds up every worker's counters through files in PROMETHEUS_MULTIPROC_DIR
# (prometheus-client's multi-process mode). Without one, a fresh private directory is made here,
# before any worker imports the app, so each scrape sees all workers, not the one answering.
if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="aesthetix-metrics-")


def on_starting(server):
    """Warn when rate limits would be counted per process; start the metrics from zero."""
    from webapp.health import memory_storage_warning

    message = memory_storage_warning(os.environ.get("RATELIMIT_STORAGE_URI"), server.cfg.workers)
    if message:
        server.log.warning(message)
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:
        # Files of an earlier run would be added to this one's counts.
        path = Path(metrics_dir)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for old in path.glob("*.db"):
            old.unlink()
        server.log.info("metrics: every worker's counters in %s", metrics_dir)


def child_exit(server, worker):
    """A worker that ended leaves its counters in place (they still add up) and its live
    gauges, if any, are dropped."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
