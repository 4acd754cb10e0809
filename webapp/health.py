"""Operations: /healthz, request ids, and the checks a multi-process deployment needs."""

import re
import secrets

from flask import g, jsonify, request

from .extensions import db, limiter

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept only when it looks like an id (it ends up in logs).
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")

MEMORY_STORAGE_WARNING = (
    "RATELIMIT_STORAGE_URI is {uri!r} with {workers} worker processes: every rate limit and "
    "the daily change cap are counted per process, so they are {workers} times looser than "
    "configured. Use a shared storage such as redis://host:6379/0 in production."
)


def memory_storage_warning(uri: str | None, workers: int) -> str | None:
    """The warning for limits kept per process, or None when they are shared (or one process)."""
    uri = uri or "memory://"
    if workers > 1 and uri.startswith("memory://"):
        return MEMORY_STORAGE_WARNING.format(uri=uri, workers=workers)
    return None


def check_database() -> bool:
    try:
        with db.connection_context():
            db.execute_sql("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure is reported, not raised
        return False
    return True


def check_limiter() -> bool:
    """The rate-limit storage answers (a Redis PING; always true for memory://)."""
    try:
        return bool(limiter.storage.check())
    except Exception:  # noqa: BLE001 - any failure is reported, not raised
        return False


def register(app) -> None:
    @app.before_request
    def _request_id():
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _SAFE_ID.match(incoming) else secrets.token_hex(8)

    @app.after_request
    def _echo_request_id(response):
        # gunicorn's access log prints it (%({x-request-id}o)s).
        response.headers.setdefault(REQUEST_ID_HEADER, g.get("request_id", ""))
        return response

    @app.get("/healthz")
    def healthz():
        """Readiness: a database round trip and a ping of the rate-limit storage."""
        checks = {
            "database": "ok" if check_database() else "error",
            "limiter": "ok" if check_limiter() else "error",
        }
        healthy = all(v == "ok" for v in checks.values())
        response = jsonify(status="ok" if healthy else "error", checks=checks)
        response.headers["Cache-Control"] = "no-store"
        return response, 200 if healthy else 503
