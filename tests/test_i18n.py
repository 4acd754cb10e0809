"""Translations: the marked strings are extractable, and a compiled catalog changes the pages."""

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from conftest import PASSWORD, outbox, post, signin

ROOT = Path(__file__).resolve().parent.parent
PYBABEL = str(Path(sys.executable).with_name("pybabel"))

# A made-up German catalog: enough to see each route a string takes to the page.
DUMMY = {
    "Update Password": "Passwort aktualisieren",  # template, _()
    "Current password": "Aktuelles Passwort",  # form label, lazy_gettext
    "Choose how to verify": "Bestätigungsweg wählen",  # N_ in Python, gettext in the route
    "Enter the 6-digit code we sent to %(destination)s":  # _t() with a placeholder
        "Den 6-stelligen Code an %(destination)s eingeben",
    "code sent to %(destination)s": "Code an %(destination)s",  # security/ (Flask-free)
    "Copied.": "Kopiert.",  # app.js shows it, read from the page (data-copied)
    "Your password was changed": "Ihr Passwort wurde geändert",  # a notice's subject
}
# A step-up refusal with a count: ngettext, so each language applies its own plural rule.
PLURALS = {
    ("That code isn't right. %(num)d attempt left.",
     "That code isn't right. %(num)d attempts left."):
        ("Falscher Code. Noch %(num)d Versuch.", "Falscher Code. Noch %(num)d Versuche."),
}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run([PYBABEL, "--quiet", "extract", "-F", "babel.cfg", "-k", "_l", "-k", "N_",
                    "-k", "_t", "-o", str(pot), "."], cwd=ROOT, check=True)
    with pot.open("rb") as f:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}


@pytest.mark.parametrize("msgid", [
    *DUMMY,
    *(singular for singular, _ in PLURALS),
    "Enter the 6-digit code we sent to %(name)s's phone %(destination)s",
    "Hello %(name)s,",  # the notice emails
    "Your Aesthetix CRM code: %(code)s",
    "%(num)d unused backup code.",  # ngettext
    "Each code works once. You have %(count)s unused backup code left.",  # {% pluralize %}
    "Incorrect email or password.",
    "We can't verify this change: the member's account has no verified email, verified phone "
    "or authenticator app. Verify the email address or set up an authenticator app first.",
    "Too many attempts. Try again in %(num)d minute.",  # ngettext
])
def test_extraction_finds_the_strings(extracted, msgid):
    assert msgid in extracted


def test_the_committed_template_has_the_key_strings():
    """Translators start from webapp/translations/messages.pot (`make messages`)."""
    with (ROOT / "webapp/translations/messages.pot").open("rb") as f:
        ids = {m.id for m in read_po(f) if m.id and isinstance(m.id, str)}
    assert {"Choose how to verify", "Update Password", "Verify it's you"} <= ids


@pytest.fixture
def german(tmp_path):
    catalog = Catalog(locale="de")
    for msgid, text in {**DUMMY, **PLURALS}.items():
        catalog.add(msgid, text)
    (tmp_path / "de/LC_MESSAGES").mkdir(parents=True)
    with (tmp_path / "de/LC_MESSAGES/messages.mo").open("wb") as f:
        write_mo(f, catalog)
    return tmp_path


def test_only_english_ships_and_is_the_fallback(client):
    assert client.application.config["LANGUAGES"] == ["en"]
    html = client.get("/login", headers={"Accept-Language": "de, fr;q=0.8"}).get_data(as_text=True)
    assert '<html lang="en">' in html and ">Sign in</h1>" in html


def test_a_compiled_catalog_translates_pages_forms_and_engine_messages(app_factory, german):
    app = app_factory(BABEL_TRANSLATION_DIRECTORIES=str(german))
    assert app.config["LANGUAGES"] == ["de", "en"]
    client = app.test_client()
    signin(client, "owner@example.com")

    english = client.get("/settings/profile").get_data(as_text=True)
    assert "Update Password" in english and "Passwort aktualisieren" not in english

    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de-DE,de;q=0.9,en;q=0.5"
    html = client.get("/settings/profile").get_data(as_text=True)
    assert '<html lang="de">' in html
    assert "Passwort aktualisieren" in html and "Update Password" not in html
    assert ">Aktuelles Passwort</label>" in html
    assert "Change password" in html  # not in the dummy catalog: English stays

    r = post(client, "/settings/profile", {"name": "Olivia Owner", "email": "owner@example.com",
                                           "phone": "+1 202 555 0199"})
    verify = r.headers["Location"]
    html = client.get(verify).get_data(as_text=True)
    assert "Bestätigungsweg wählen" in html and "Choose how to verify" not in html
    assert "(Code an o***@example.com)" in html

    post(client, verify + "/channel", {"channel": "email"}, token_from=verify)
    html = client.get(verify).get_data(as_text=True)
    assert "Den 6-stelligen Code an o***@example.com eingeben" in html

    r = post(client, verify + "/code", {"code": "000000"}, token_from=verify)
    assert r.status_code == 422
    assert "Falscher Code. Noch 4 Versuche." in r.get_data(as_text=True)


def test_the_copy_confirmation_comes_translated_from_the_page(app_factory, german):
    """app.js shows the text of data-copied, so "Copied." is translated like the page."""
    from flask import render_template

    app = app_factory(BABEL_TRANSLATION_DIRECTORIES=str(german))
    with app.test_request_context(headers={"Accept-Language": "de"}):
        codes = render_template("partials/twofactor/codes.html", codes=["ABCD-EFGH-JKLM"],
                                title="t", intro=None, download="data:,")
    assert 'data-copy="#backup-codes" data-copied="Kopiert."' in codes
    script = (ROOT / "static/js/app.js").read_text()
    assert "Copied" not in script and "dataset.copied" in script


def test_notice_subjects_are_translated(app_factory, german):
    app = app_factory(BABEL_TRANSLATION_DIRECTORIES=str(german))
    client = app.test_client()
    signin(client, "owner@example.com")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    new = "a calmer harbour at dawn 42"
    r = post(client, "/settings/profile/password", {
        "current_password": PASSWORD, "new_password": new, "confirm_password": new})
    assert r.status_code == 303
    subjects = [m.subject for m in outbox("email", "owner@example.com")]
    assert "Ihr Passwort wurde geändert" in subjects
    assert "Your password was changed" not in subjects
