"""Extensions built once, bound to an app in create_app()."""

from pathlib import Path

from flask import current_app, g, has_app_context, has_request_context, request
from flask_babel import Babel, get_locale, get_translations
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from peewee import DatabaseProxy

from .security import N_

db = DatabaseProxy()
csrf = CSRFProtect()
login_manager = LoginManager()


def client_ip() -> str:
    """The client address; ProxyFix (TRUSTED_PROXIES) decides what remote_addr means."""
    return request.remote_addr or "unknown"


limiter = Limiter(key_func=client_ip)


def shipped_locales(app) -> list[str]:
    """English (the source language) and every locale with a compiled catalog."""
    found = {"en"}
    for directory in app.config.get("BABEL_TRANSLATION_DIRECTORIES", "translations").split(";"):
        base = Path(app.root_path, directory)
        found.update(p.parent.parent.name for p in base.glob("*/LC_MESSAGES/messages.mo"))
    return sorted(found)


def select_locale() -> str:
    """The best of the shipped locales for the request's Accept-Language, else English."""
    if not has_request_context():  # the command line, in an app context only
        return "en"
    return request.accept_languages.best_match(current_app.config["LANGUAGES"]) or "en"


ROLE_NAMES = {"owner": N_("Owner"), "admin": N_("Admin"), "member": N_("Member")}


def role_name(role: str) -> str:
    return template_gettext(ROLE_NAMES[role]) if role in ROLE_NAMES else role.capitalize()


def request_translations():
    """The catalog for this request's locale, looked up through Flask-Babel once a request.

    Flask-Babel repeats the lookup (domain, context, locale, cache key) on every string; a
    page has dozens. The pair is kept on `g` with the locale it was made for, so a locale
    changed mid-request (`force_locale`) is looked up again.
    """
    if not has_app_context():
        return get_translations()
    locale = get_locale()
    kept = g.get("_catalog")
    if kept is None or kept[0] is not locale:
        kept = g._catalog = (locale, get_translations())
    return kept[1]


def template_gettext(string: str, **variables) -> str:
    """Flask-Babel's `gettext` with the request's catalog looked up once (`_t` in templates)."""
    text = request_translations().ugettext(string)
    return text if not variables else text % variables


def init_babel(app) -> Babel:
    """One Babel per app: Flask-Babel caches catalogs per instance, by locale only."""
    app.config.setdefault("LANGUAGES", shipped_locales(app))
    babel = Babel(app, locale_selector=select_locale)
    # Templates: _() for text written in the template (a translation may carry markup), and
    # _t() for text that takes the place of a value: plain text, escaped like any value.
    app.jinja_env.globals.update(_t=template_gettext, role_name=role_name,
                                 current_locale=lambda: str(get_locale() or "en"))
    # Flask-Babel's own callables, through the per-request catalog (Jinja's public i18n API).
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: request_translations().ugettext(s),
        ngettext=lambda s, p, n: request_translations().ungettext(s, p, n),
        pgettext=lambda c, s: request_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: request_translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
    return babel
