"""Small savings on every rendered page, each the same output for less work.

`url_for` in templates: a URL without arguments (or a static file's) is the same string for
every request under the same script root (no rule here matches on host or subdomain, and no
URL defaults are injected), so it is built by Flask once and kept. Anything else goes to
Flask's `url_for`.

Flask-Limiter's `before_request` check: since Flask-Limiter 4 a decorated limit
(`@limiter.limit`) is checked by its decorator; the hook is left with the limits that apply
to many routes at once (default, application, meta and blueprint limits, and the in-memory
fallback). This app has none (its guess limits are claimed by `throttle.reserve`), so the
hook, which would find nothing to check on every request, is not run. Any of those
configured brings it back.
"""

from flask import has_request_context, request, url_for

from .extensions import limiter

# Endpoints × script roots: a handful in practice; the bound only keeps a misconfigured
# proxy from growing it.
_MAX_KEPT = 1024


def init_app(app) -> None:
    kept: dict[tuple[str, str, str], str] = {}

    def template_url_for(endpoint: str, **values) -> str:
        static = endpoint == "static" and values.keys() == {"filename"}
        if ((values and not static) or endpoint[:1] == "." or not has_request_context()
                or app.url_default_functions or app.url_map.host_matching):
            return url_for(endpoint, **values)
        key = (endpoint, request.script_root, values.get("filename", ""))
        url = kept.get(key)
        if url is None:
            url = url_for(endpoint, **values)
            if len(kept) < _MAX_KEPT:
                kept[key] = url
        return url

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
