"""gunicorn settings for `make serve` and production: `gunicorn -c gunicorn.conf.py wsgi:app`.

Everything comes from the environment so one file serves every deployment:
WEB_CONCURRENCY (worker processes), HOST/PORT or BIND, GUNICORN_THREADS, GUNICORN_TIMEOUT.
"""

import multiprocessing
import os

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


def on_starting(server):
    """Warn when rate limits would be counted per process."""
    from webapp.health import memory_storage_warning

    message = memory_storage_warning(os.environ.get("RATELIMIT_STORAGE_URI"), server.cfg.workers)
    if message:
        server.log.warning(message)
