"""Literal `_("...")` folded into a locale's compiled templates gives what `_()` gives at
render time, and nothing else is folded (webapp/templating.py)."""

import pytest
from jinja2 import DictLoader
from markupsafe import Markup

TEMPLATES = {
    "page.html": '<p title="{{ _("Save") }}">{{ _("Save") }} {{ _(\'Cancel\') }}</p>',
    "mail.txt": '{{ _("Save") }} & {{ _("Cancel") }}',
    "percent.html": '{{ _("100%% sure") }}',
    "variables.html": '{{ _("Hello %(name)s", name=who) }}',
    "attribute.html": '{{ helper._("Save") }}',
    "joined.html": '{% set label = _("Save") %}{{ label ~ "&" ~ value }}',
}
# Newstyle gettext formats every result, so a literal "%" is written "%%" in the msgid too.
CATALOG = {"Save": "Sichern <b>&</b>", "Cancel": "Abbrechen", "100%% sure": "zu 100%% sicher",
           "Hello %(name)s": "Hallo %(name)s"}


class Catalog:
    """A catalog that counts its lookups."""

    def __init__(self):
        self.calls = []

    def ugettext(self, text):
        self.calls.append(text)
        return CATALOG.get(text, text)


@pytest.fixture
def envs(app):
    """The app's base environment and a locale overlay folding with `Catalog`, both reading
    TEMPLATES; the base one translates at render time through the same catalog."""
    base = app.jinja_env.overlay(loader=DictLoader(TEMPLATES), cache_size=0)
    folded = base.overlay(cache_size=0)
    folded.locale_key, folded.folded_catalog = "de", Catalog()
    runtime = Catalog()
    base.install_gettext_callables(gettext=runtime.ugettext,
                                   ngettext=lambda s, p, n: s if n == 1 else p, newstyle=True)
    folded.globals = base.globals  # the same callables for what is not folded
    return base, folded, runtime


@pytest.mark.parametrize("name", ["page.html", "mail.txt", "percent.html", "variables.html",
                                  "joined.html"])
def test_folded_output_is_the_render_time_output(envs, name):
    base, folded, _ = envs
    context = {"who": "<Mia>", "value": "<x>"}
    with_runtime = base.get_template(name).render(**context)
    with_folding = folded.get_template(name).render(**context)
    assert with_folding == with_runtime


def test_literals_are_translated_once_at_compile_time_and_carry_their_markup(envs):
    _, folded, runtime = envs
    template = folded.get_template("page.html")
    compiled_lookups = list(folded.folded_catalog.calls)
    assert compiled_lookups == ["Save", "Save", "Cancel"]
    for _ in range(3):
        html = template.render()
    assert html == '<p title="Sichern <b>&</b>">Sichern <b>&</b> Abbrechen</p>'
    assert runtime.calls == []  # nothing left for render time
    assert folded.folded_catalog.calls == compiled_lookups


def test_plain_text_templates_get_plain_text(envs):
    _, folded, _ = envs
    assert folded.get_template("mail.txt").render() == "Sichern <b>&</b> & Abbrechen"


def test_only_a_lone_literal_is_folded(envs):
    _, folded, runtime = envs
    assert folded.get_template("percent.html").render() == "zu 100% sicher"
    assert folded.get_template("variables.html").render(who="<Mia>") == "Hallo &lt;Mia&gt;"
    assert runtime.calls == ["100%% sure", "Hello %(name)s"]  # both left to render time

    class Helper:
        def _(self, text):
            return Markup("own:") + text

    assert folded.get_template("attribute.html").render(helper=Helper()) == "own:Save"


def test_each_request_renders_with_its_own_locale(app):
    """The app's environment hands a lookup to the overlay of the request's locale."""
    with app.test_request_context("/"):
        template = app.jinja_env.get_template("partials/team/rows.html")
        assert template.environment.locale_key == "en"
        assert template.environment is app.jinja_env.by_locale["en"]
    assert app.jinja_env.get_template("partials/team/rows.html").environment is app.jinja_env
