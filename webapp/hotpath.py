"""Small savings on every rendered page, each the same output for less work.

`url_for` in templates: a URL without arguments (or a static file's) is the same string for
every request under the same script root (no rule here matches on host or subdomain, and no
URL defaults are injected), so it is built by Flask once and kept. A URL with one argument
that is an id (a row id, or a random id or token of letters, digits, "-" and "_", which no
URL quoting changes) is built by Flask once with a marker in its place and kept as the text
around it: a team page of 50 rows builds one member URL, not 50. Anything else goes to
Flask's `url_for`.

Flask-Limiter's `before_request` check: since Flask-Limiter 4 a decorated limit
(`@limiter.limit`) is checked by its decorator; the hook is left with the limits that apply
to many routes at once (default, application, meta and blueprint limits, and the in-memory
fallback). This app has none (its guess limits are claimed by `throttle.reserve`), so the
hook, which would find nothing to check on every request, is not run. Any of those
configured brings it back.
"""

import re

from flask import has_request_context, request, url_for

from .extensions import limiter
from .ids import MAX_ID

# Endpoints × script roots: a handful in practice; the bound only keeps a misconfigured
# proxy from growing it.
_MAX_KEPT = 1024


# One argument that is an id: an int a row id can be, or a string of characters that no URL
# quoting changes (letters, digits, "-" and "_", as the random ids and tokens here are).
_ID_TEXT = re.compile(r"[A-Za-z0-9_-]{1,200}")
_INT_MARKER, _TEXT_MARKER = 7_340_032_719, "zq0hotpath0marker0qz"
_UNKEPT = ("", "")  # a URL the marker cannot stand in for: always built by Flask


def _id_kind(value) -> str | None:
    if value.__class__ is int:
        return "int" if 0 <= value <= MAX_ID else None
    if value.__class__ is str:
        return "str" if _ID_TEXT.fullmatch(value) else None
    return None


def init_app(app) -> None:
    # Per endpoint and script root: a URL (no argument, or a static file), or for one id
    # argument the text before and after it, found by building the URL once with a marker.
    kept: dict[tuple, str | tuple[str, str]] = {}

    def template_url_for(endpoint: str, **values) -> str:
        if (len(values) > 1 or endpoint[:1] == "." or not has_request_context()
                or app.url_default_functions or app.url_map.host_matching):
            return url_for(endpoint, **values)
        if not values:
            key = (endpoint, request.script_root, "", "")
        else:
            (name, value), = values.items()
            if endpoint == "static" and name == "filename":
                key = (endpoint, request.script_root, "filename", value)
            else:
                kind = _id_kind(value)
                if kind is None:
                    return url_for(endpoint, **values)
                key = (endpoint, request.script_root, name, kind)
        url = kept.get(key)
        if url is None:
            url = _build(endpoint, key[2], key[3], values)
            if len(kept) < _MAX_KEPT:
                kept[key] = url
        if url.__class__ is str:
            return url
        if url is _UNKEPT:
            return url_for(endpoint, **values)
        return f"{url[0]}{values[key[2]]}{url[1]}"

    def _build(endpoint, name, kind, values):
        if kind not in ("int", "str"):  # no argument, or a static file: the URL itself
            return url_for(endpoint, **values)
        marker = _INT_MARKER if kind == "int" else _TEXT_MARKER
        url = url_for(endpoint, **{name: marker})
        if url.count(str(marker)) != 1:  # not with these markers; exact all the same
            return _UNKEPT
        head, tail = url.split(str(marker))
        return (head, tail)

    app.jinja_env.globals["url_for"] = template_url_for

    if not limiter_hook_needed(app):
        hooks = app.before_request_funcs.get(None, [])
        hooks[:] = [f for f in hooks if getattr(f, "__self__", None) is not limiter]


def limiter_hook_needed(app) -> bool:
    """Whether any limit is left for Flask-Limiter's before_request hook to check."""
    manager = limiter.limit_manager
    return bool(
        manager.application_limits or manager.default_limits
        or any(app.config.get(key) for key in (
            "RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META",
            "RATELIMIT_IN_MEMORY_FALLBACK"))
        or any(manager.blueprint_limits(app, name) for name in app.blueprints)
    )


class LazyForm:
    """A form that is only displayed, built the first time a template reads from it.

    A page renders some of the forms its context offers (a fragment: one section's); the
    others are never built: no WTForms fields, no CSRF field. Reading any attribute builds
    the real form once and answers from it, so templates use it as the form itself.
    """

    __slots__ = ("_make", "_form")

    def __init__(self, make):
        self._make = make
        self._form = None

    def __getattr__(self, name):
        form = self._form
        if form is None:
            form = self._form = self._make()
        return getattr(form, name)
