"""Log lines for the app's loggers: plain text, or one JSON object a line (LOG_FORMAT=json).

Every line carries the request id (the X-Request-ID the app echoes), the signed-in user's id
and, for a security event, its name (`event`); outside a request those are null.
"""

import logging
import sys

from flask import g, has_request_context
from flask.logging import default_handler
from pythonjsonlogger.json import JsonFormatter

TEXT = "%(asctime)s %(levelname)s %(name)s rid=%(request_id)s user=%(user_id)s %(message)s"
JSON_FIELDS = ["asctime", "levelname", "name", "message", "request_id", "user_id", "event"]


class RequestContext(logging.Filter):
    """Adds request_id, user_id and event to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = record.user_id = None
        if has_request_context():
            record.request_id = g.get("request_id")
            # The user Flask-Login already loaded for this request; a log line never loads one.
            user = g.get("_login_user")
            record.user_id = getattr(user, "id", None)
        if not hasattr(record, "event"):
            record.event = None
        return True


def formatter(kind: str) -> logging.Formatter:
    if kind == "json":
        return JsonFormatter(JSON_FIELDS, rename_fields={
            "asctime": "time", "levelname": "level", "name": "logger"})
    return logging.Formatter(TEXT)


def init_app(app) -> None:
    """One handler on the app's logger ("webapp": every module's logger is below it), made
    once per process; each app sets its format and level."""
    logger = logging.getLogger("webapp")
    handler = next((h for h in logger.handlers if getattr(h, "aesthetix", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.aesthetix = True  # type: ignore[attr-defined]
        handler.addFilter(RequestContext())
        logger.addHandler(handler)
    logger.removeHandler(default_handler)  # Flask's own, if app.logger was made already
    handler.setFormatter(formatter(str(app.config["LOG_FORMAT"]).lower()))
    logger.setLevel(str(app.config["LOG_LEVEL"]).upper())
