"""Cross-cutting request hooks: security headers, error pages and fragments, template globals."""

import time

from flask import render_template, request
from flask_babel import gettext, ngettext
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from limits.errors import StorageError
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException

from .extensions import limiter
from .security import backup_codes, passwords
from .team import authz
from .throttle import Throttled
from .web import is_htmx, is_impersonating, own_seat, real_user

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# Every powerful feature the app does not use is off, for this page and any frame in it. The
# WebAuthn pair stays allowed for this origin only: passkeys are on the way. clipboard-write
# keeps its default: the "Copy" buttons for backup codes and the setup key use it. (Only
# names Chromium knows: an unknown one is a console warning on every page.)
PERMISSIONS_POLICY = ", ".join((
    "accelerometer=()", "autoplay=()", "camera=()", "display-capture=()",
    "encrypted-media=()", "fullscreen=()", "geolocation=()", "gyroscope=()", "hid=()",
    "idle-detection=()", "magnetometer=()", "microphone=()", "midi=()", "payment=()",
    "picture-in-picture=()", "publickey-credentials-create=(self)",
    "publickey-credentials-get=(self)", "screen-wake-lock=()", "serial=()", "usb=()",
    "xr-spatial-tracking=()",
))

NO_STORE_ENDPOINTS = {"verify.show", "verify.choose", "verify.resend", "verify.code"}

# Every response's security headers, added in one pass where the view set none of its own.
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", PERMISSIONS_POLICY),
    # A page this one opens (or that opened it) gets no handle on its window.
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def _minutes(seconds: int) -> int:
    """Whole minutes for a text, never rounded down to zero."""
    return max(1, -(-int(seconds) // 60))


def policy_numbers(config) -> dict:
    """The policy numbers that pages and notices quote, read from the settings (or the one
    constant that decides them), so no template types a number the app does not enforce."""
    return {
        "daily_change_limit": config["DAILY_CHANGE_LIMIT"],
        "code_minutes": _minutes(config["CODE_TTL_SECONDS"]),
        "lock_minutes": _minutes(config["CODE_USER_LOCK_SECONDS"]),
        "impersonation_minutes": _minutes(config["IMPERSONATION_SECONDS"]),
        "password_min_length": passwords.MIN_LENGTH,
        "backup_code_count": backup_codes.COUNT,
        "backup_codes_low": backup_codes.LOW,
        "reset_link_minutes": _minutes(config["LINK_RESET_SECONDS"]),
    }


def shows_team_link() -> bool:
    """The Team link is for the people the team pages are for (authz.may_view_team: owners
    and admins), and never in a "Login as" session, where those pages are refused."""
    return (current_user.is_authenticated and not is_impersonating()
            and authz.may_view_team(own_seat()))


def register(app):
    @app.after_request
    def security_headers(response):
        h = response.headers
        present = {name.lower() for name in h.keys()}
        h.extend([pair for pair in SECURITY_HEADERS if pair[0].lower() not in present])
        if request.is_secure and "strict-transport-security" not in present:
            h.add(*HSTS)
        if request.endpoint in NO_STORE_ENDPOINTS or getattr(request, "no_store", False):
            h["Cache-Control"] = "no-store"
        elif "cache-control" not in present and current_user and current_user.is_authenticated:
            h["Cache-Control"] = "private, no-cache"
        if response.status_code in (301, 302, 303, 307, 308):
            for name in [k for k in h.keys() if k.startswith("HX-")]:
                del h[name]
        return response

    def error_response(status: int, title: str, message: str, retry_after=None):
        if is_htmx():
            body = render_template("partials/error.html", status=status, title=title,
                                   message=message)
            response = app.make_response((body, status))
            response.headers["HX-Retarget"] = "#toasts"
            response.headers["HX-Reswap"] = "beforeend"
        else:
            body = render_template("errors/error.html", status=status, title=title,
                                   message=message)
            response = app.make_response((body, status))
        response.vary.add("HX-Request")
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return error_response(400, gettext("Your session expired"),
                              gettext("This form was open too long or came from another site. "
                                      "Reload the page and try again."))

    @app.errorhandler(RateLimitExceeded)
    @app.errorhandler(Throttled)
    def rate_limited(exc):
        # Throttled (reserve-then-check guess limits) knows its wait; decorated limits
        # leave theirs on the limiter.
        wait = getattr(exc, "retry_after", None)
        current = limiter.current_limit
        if wait is None and current is not None:
            wait = max(1, current.reset_at - int(time.time()))
        # reset_at is rounded up a second; do not let that turn 15 minutes into 16.
        minutes = max(1, ((wait or 60) - 1 + 59) // 60)
        return error_response(429, gettext("Too many attempts"),
                              ngettext("Too many attempts. Try again in %(num)d minute.",
                                       "Too many attempts. Try again in %(num)d minutes.",
                                       minutes),
                              retry_after=wait)

    @app.errorhandler(StorageError)
    @app.errorhandler(RedisError)
    def limiter_storage_down(exc):
        # Fail closed: a rate-limited action never runs unlimited while the storage is away.
        app.logger.error("rate-limit storage unavailable: %s", exc)
        return error_response(503, gettext("Temporarily unavailable"),
                              gettext("This action is paused for a few minutes while a security "
                                      "service is unavailable. Nothing was changed. Please try "
                                      "again shortly."),
                              retry_after=60)

    @app.errorhandler(HTTPException)
    def http_error(exc):
        titles = {400: gettext("Bad request"), 403: gettext("Not allowed"),
                  404: gettext("Not found"), 405: gettext("Not allowed"),
                  409: gettext("Conflict"), 413: gettext("Too large")}
        message = exc.description if exc.code in (400, 403, 409) else {
            404: gettext("There is nothing here."),
            405: gettext("That action isn't available here."),
        }.get(exc.code, gettext("Something went wrong."))
        return error_response(exc.code or 500, titles.get(exc.code, gettext("Error")), message)

    @app.errorhandler(Exception)
    def server_error(exc):
        app.logger.exception("unhandled error")
        return error_response(500, gettext("Something went wrong"),
                              gettext("Something went wrong on our side. Nothing was changed. "
                                      "Please try again."))

    @app.context_processor
    def globals_():
        return {
            "impersonating": is_impersonating(),
            "real_user": real_user(),
            "dev_outbox": app.config["DEV_OUTBOX"],
            "policy": policy_numbers(app.config),
            "shows_team_link": shows_team_link,
        }
