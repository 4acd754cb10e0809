"""Templates per locale: literal `_("...")` translated once, when the template is compiled.

A page says `{{ _("Save") }}` dozens of times (a team page of 50 rows, some 400 times), and
each call is a catalog lookup and a `Markup(...) % {}` at render time, for a text that is the
same for every request in that language. Here the application's template environment keeps
one overlay per locale (`Environment.overlay`, Jinja's public API for this), each with its
own template cache; `FoldedGettext`, a Jinja extension, rewrites `_("literal")` in that
overlay's token stream (`Extension.filter_stream`) into the translated literal marked safe,
which Jinja then folds into the compiled template as constant text.

The result is what the i18n extension's newstyle `_()` gives at render time: the catalog's
text, `Markup` in an autoescaped template (a translation may carry markup), plain text
otherwise. Only the plain form is folded: one string literal and nothing else, no `%` in
the text (newstyle `_()` formats its result, so `%` stays with it), not an attribute
(`x._("...")`). Everything else (`_()` with variables, `ngettext`, `{% trans %}`, `_t()`)
still runs per render through the request's catalog.

Which overlay renders is decided by the request's locale (`flask_babel.get_locale`), each
time a template is looked up, so `force_locale` (an email in its reader's language) is
honoured. Outside an application context the base environment renders, unfolded.
"""

from flask import has_app_context
from flask.templating import Environment as FlaskEnvironment
from flask_babel import get_locale
from jinja2.ext import Extension
from jinja2.lexer import (
    TOKEN_DOT,
    TOKEN_LPAREN,
    TOKEN_NAME,
    TOKEN_PIPE,
    TOKEN_RPAREN,
    TOKEN_STRING,
    Token,
)

from .extensions import request_translations

# Jinja's default cache size: each locale keeps as many compiled templates as the base would.
_CACHE_SIZE = 400


class FoldedGettext(Extension):
    """`_("literal")` becomes the overlay's translation, as a constant, at compile time."""

    def __init__(self, environment):
        super().__init__(environment)
        environment.extend(folded_catalog=None)

    def filter_stream(self, stream):
        catalog = self.environment.folded_catalog
        if catalog is None:  # the base environment: nothing is folded
            return stream
        autoescape = self.environment.autoescape
        if callable(autoescape):
            autoescape = autoescape(stream.name)
        return _fold(list(stream), catalog, bool(autoescape))


def _fold(tokens: list, catalog, autoescape: bool):
    i, end = 0, len(tokens)
    while i < end:
        token = tokens[i]
        if (token.type == TOKEN_NAME and token.value == "_" and i + 3 < end
                and tokens[i + 1].type == TOKEN_LPAREN and tokens[i + 2].type == TOKEN_STRING
                and tokens[i + 3].type == TOKEN_RPAREN
                and (i == 0 or tokens[i - 1].type != TOKEN_DOT)):
            msgid = tokens[i + 2].value
            text = catalog.ugettext(msgid)
            if "%" not in msgid and "%" not in text:
                line = token.lineno
                if autoescape:  # ("text"|safe): Markup, as newstyle _() gives
                    yield Token(line, TOKEN_LPAREN, "(")
                    yield Token(line, TOKEN_STRING, text)
                    yield Token(line, TOKEN_PIPE, "|")
                    yield Token(line, TOKEN_NAME, "safe")
                    yield Token(line, TOKEN_RPAREN, ")")
                else:
                    yield Token(line, TOKEN_STRING, text)
                i += 4
                continue
        yield token
        i += 1


class LocaleEnvironment(FlaskEnvironment):
    """Flask's environment, handing each template lookup to the request locale's overlay."""

    locale_key: str | None = None  # set on the overlays, which render themselves

    def __init__(self, app, **options):
        super().__init__(app, **options)
        self.by_locale: dict[str, LocaleEnvironment] = {}

    def for_locale(self):
        if self.locale_key is not None or not has_app_context():
            return self
        locale = str(get_locale() or "en")
        env = self.by_locale.get(locale)
        if env is None:
            env = self.overlay(cache_size=_CACHE_SIZE)
            env.locale_key = locale
            env.folded_catalog = request_translations()
            self.by_locale[locale] = env
        return env

    def get_template(self, name, parent=None, globals=None):
        env = self.for_locale()
        if env is self:
            return super().get_template(name, parent, globals)
        return env.get_template(name, parent, globals)

    def select_template(self, names, parent=None, globals=None):
        env = self.for_locale()
        if env is self:
            return super().select_template(names, parent, globals)
        return env.select_template(names, parent, globals)


def init_app(app) -> None:
    """Before anything reads `app.jinja_env`: the environment class and the extension."""
    app.jinja_environment = LocaleEnvironment
    app.jinja_options = {**app.jinja_options,
                         "extensions": [*app.jinja_options.get("extensions", ()), FoldedGettext]}
