"""How stored values read on a page: phones, devices, times since.

Registered app-wide from the activity blueprint, so every template (profile, team, activity)
shows a number or a device the same way. Pure functions, testable without a request.
"""

import datetime as dt
from functools import lru_cache

from flask_babel import format_timedelta
from ua_parser import parse as parse_ua

from ..extensions import template_gettext as gettext  # the request's catalog, once
from ..models import utcnow
from ..security import channels as ch
from . import bp

# ua-parser's family names, in the words people use for them.
OS_NAMES = {"Mac OS X": "macOS", "Mac OS": "macOS", "Windows": "Windows", "Ubuntu": "Ubuntu",
            "Chrome OS": "ChromeOS"}


# `+12025550103` -> `+1 202-555-0103` in templates.
bp.add_app_template_filter(ch.display_phone, "phone")


def warm_up() -> None:
    """Build ua-parser's matchers now, at start-up: lazily they cost a quarter to almost a
    second, once a process, in the first request that shows a device (a sign-in's notice)."""
    import ua_parser

    ua_parser.parser  # noqa: B018 (the library's documented way to initialise it eagerly)


@lru_cache(maxsize=512)
def _device(user_agent: str) -> tuple[str, str]:
    result = parse_ua(user_agent)
    browser = result.user_agent.family if result.user_agent else ""
    system = result.os.family if result.os else ""
    browser = "" if browser == "Other" else browser
    system = "" if system == "Other" else OS_NAMES.get(system, system)
    return browser, system


@bp.app_template_filter("device")
def device_name(user_agent: str | None) -> str:
    """`Mozilla/5.0 (Macintosh; ...) Chrome/124...` -> `Chrome on macOS`."""
    browser, system = _device((user_agent or "")[:512]) if user_agent else ("", "")
    if browser and system:
        return gettext("%(browser)s on %(system)s", browser=browser, system=system)
    return browser or system or gettext("Unknown device")


@bp.app_template_filter("ago")
def time_ago(when: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """`5 minutes ago`, from the app's clock (UTC, naive like the stored times)."""
    if when is None:
        return ""
    delta = when - (now or utcnow())
    if abs(delta) < dt.timedelta(minutes=1):
        return gettext("just now")
    return format_timedelta(delta, granularity="minute", add_direction=True)
