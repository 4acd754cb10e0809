"""The hot pages render the same HTML, byte for byte, as before the performance work.

Each page and fragment that `make profile` measures is rendered through a fixed fixture (the
demo data, a stopped clock, one User-Agent) and compared with the file in tests/hot_html/,
written from the code before the prebuilt queries, the per-request catalog and the url_for
cache. Only what is random per run is replaced first: CSRF tokens, the verification's id.
Run with HOT_HTML_WRITE=1 to write the files anew (then review the diff).
"""

import datetime as dt
import os
import re
from pathlib import Path

import pytest
from conftest import HTMX, PASSWORD, csrf, last_code, user, without_csrf_tokens

GOLDEN = Path(__file__).resolve().parent / "hot_html"
WRITE = os.environ.get("HOT_HTML_WRITE") == "1"
NOW = dt.datetime(2026, 3, 4, 5, 6, 7)
AGENT = "Mozilla/5.0 (X11; Linux x86_64) HotHtml/1.0"


@pytest.fixture
def fixed_clock(monkeypatch):
    from webapp import models

    monkeypatch.setattr(models, "clock", lambda: NOW)


def _signed_in(app, email):
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = AGENT
    token = csrf(client, "/login")
    r = client.post("/login", data={"email": email, "password": PASSWORD,
                                    "csrf_token": token})
    assert r.status_code == 303, r.get_data(as_text=True)
    verify = r.headers["Location"]
    token = csrf(client, verify)
    assert client.post(verify + "/channel", data={"channel": "email",
                                                  "csrf_token": token}).status_code == 303
    r = client.post(verify + "/code", data={"code": last_code(email), "csrf_token": token})
    assert r.status_code == 303
    return client


def _normalised(html: str, ids) -> str:
    html = without_csrf_tokens(html)
    for value, name in ids.items():
        html = html.replace(value, name)
    # Row ids: the same rows, whatever numbers the database handed out (PostgreSQL leg).
    return re.sub(r"(/team/|/sessions/|user_id=|data-id=\"|data-session=\")\d+", r"\1N", html)


def _check(name: str, response, ids, status=200):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    html = _normalised(response.get_data(as_text=True), ids)
    path = GOLDEN / f"{name}.html"
    if WRITE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(html)
    expected = path.read_text()
    assert html == expected, f"{name}: the HTML changed"


def test_hot_pages_render_unchanged(app, fixed_clock):
    member = _signed_in(app, "member@example.com")
    owner = _signed_in(app, "owner@example.com")
    assert user("owner@example.com").id != user("member@example.com").id

    ids: dict[str, str] = {}
    _check("profile_page", member.get("/settings/profile"), ids)
    _check("profile_fragment", member.get("/settings/profile", headers=HTMX), ids)
    _check("twofactor_fragment", member.get("/settings/profile/2fa", headers=HTMX), ids)

    token = csrf(member, "/settings/profile")
    r = member.post("/settings/profile", headers=HTMX, data={
        "name": "", "email": "member@example.com", "phone": "+12025550188",
        "csrf_token": token})
    cid = re.search(r"/verify/([\w-]+)", r.get_data(as_text=True)).group(1)
    ids[cid] = "CID"
    _check("choose_fragment", member.get(f"/verify/{cid}", headers=HTMX), ids)
    vtoken = csrf(member, f"/verify/{cid}")
    assert member.post(f"/verify/{cid}/channel", headers=HTMX,
                       data={"channel": "email", "csrf_token": vtoken}).status_code == 200
    _check("code_fragment", member.get(f"/verify/{cid}", headers=HTMX), ids)
    _check("wrong_code", member.post(f"/verify/{cid}/code", headers=HTMX,
                                     data={"code": "000000", "csrf_token": vtoken}),
           ids, status=422)
    _check("team_fragment", owner.get("/settings/team", headers=HTMX), ids)
    _check("team_page", owner.get("/settings/team"), ids)
    _check("activity_fragment", owner.get("/settings/activity", headers=HTMX), ids)
    _check("activity_page", owner.get("/settings/activity"), ids)
    _check("healthz", member.get("/healthz"), ids)
