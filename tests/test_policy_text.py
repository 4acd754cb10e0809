"""Policy numbers in pages and notices come from the settings: change one, the text follows."""

import datetime as dt
import re

import pytest
from conftest import HTMX, post, signin, user
from flask import render_template

from webapp.extensions import db
from webapp.security import passwords


def change_phone(client, number, htmx=False):
    me = user("member@example.com")
    return post(client, "/settings/profile",
                {"name": me.name, "email": me.email, "phone": number}, htmx=htmx)


@pytest.mark.config(DAILY_CHANGE_LIMIT=2)
@pytest.mark.parametrize("htmx", [False, True])
def test_the_daily_limit_help_quotes_the_configured_limit(client, htmx):
    signin(client)
    for i in range(2):
        assert change_phone(client, f"+1202555016{i}", htmx).status_code in (200, 303)
    r = change_phone(client, "+12025550169", htmx)
    assert r.status_code == 429
    html = r.get_data(as_text=True)
    help_text = re.search(r'data-help="limit">(.*?)</p>', html, re.S).group(1)
    assert "The limit of 2 phone or email change attempts a day" in help_text
    assert "limit of 5" not in html


@pytest.mark.config(DAILY_CHANGE_LIMIT=1)
def test_a_limit_of_one_reads_in_the_singular(client):
    signin(client)
    change_phone(client, "+12025550160")
    html = change_phone(client, "+12025550161").get_data(as_text=True)
    assert "The limit of 1 phone or email change attempt a day" in html


@pytest.mark.config(IMPERSONATION_SECONDS=600)
def test_login_as_quotes_the_configured_duration(client):
    signin(client, "admin@example.com")
    html = client.get(f"/settings/team/{user('member@example.com').id}").get_data(as_text=True)
    assert 'data-action="login-as"' in html
    assert re.search(r"sees it, for up to 10 minutes\.", html)
    assert "30 minutes" not in html


@pytest.mark.config(CODE_TTL_SECONDS=600)
def test_the_code_step_quotes_the_configured_code_lifetime(client):
    signin(client)
    cid = change_phone(client, "+12025550177").headers["Location"].rsplit("/", 1)[1]
    post(client, f"/verify/{cid}/channel", {"channel": "email"})
    html = client.get(f"/verify/{cid}").get_data(as_text=True)
    assert "Each code works once and expires after 10 minutes." in html


def test_the_password_hint_quotes_the_minimum_length(client, monkeypatch):
    signin(client)
    monkeypatch.setattr(passwords, "MIN_LENGTH", 14)
    html = client.get("/settings/profile").get_data(as_text=True)
    assert "At least 14 characters." in html


@pytest.mark.config(CODE_USER_LOCK_SECONDS=1200)
def test_the_lock_notice_quotes_the_configured_pause(app):
    with app.test_request_context(), db.connection_context():
        body = render_template("email/locked.txt", user=user("member@example.com"),
                               when=dt.datetime(2025, 1, 31, 12, 0), ip="192.0.2.1",
                               method="Email")
    assert "paused for 20 minutes." in body


def test_the_name_length_error_quotes_the_field_limit(client):
    signin(client)
    me = user("member@example.com")
    r = post(client, "/settings/profile",
             {"name": "x" * 121, "email": me.email, "phone": me.phone}, headers=HTMX)
    assert r.status_code == 422 and "Use at most 120 characters." in r.get_data(as_text=True)
