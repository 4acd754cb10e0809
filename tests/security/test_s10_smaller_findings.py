"""S-10, the smaller findings of the second security round: one section per item."""

import pytest
from conftest import HTMX, post, signin

from webapp.ids import MAX_ID

# --- S-10.1 ids past 64 bits are a 404 (path) or a clear 400 (query), never a 500 ----------

TOO_BIG = [str(MAX_ID + 1), "9" * 30, "9" * 5000]


@pytest.fixture
def owner(client):
    signin(client, "owner@example.com")
    return client


def int_routes(app):
    """(method, path template) of every route with an `<int:...>` part."""
    found = []
    for rule in app.url_map.iter_rules():
        if "<int:" in rule.rule:
            for method in sorted(rule.methods & {"GET", "POST"}):
                found.append((method, rule.rule))
    return found


def test_s10_1_every_int_route_answers_404_for_ids_past_64_bits(app, owner):
    routes = int_routes(app)
    assert ("GET", "/settings/team/<int:user_id>") in routes
    for method, rule in routes:
        for value in TOO_BIG + [str(MAX_ID)]:
            path = rule.split("<int:", 1)[0] + value + rule.split(">", 1)[1]
            for headers in ({}, HTMX):
                if method == "GET":
                    r = owner.get(path, headers=headers)
                else:
                    r = post(owner, path, {"name": "x"}, token_from="/settings/team",
                             headers=headers)
                assert r.status_code == 404, (method, path[:60], r.status_code)
                if headers:
                    assert r.headers["HX-Retarget"] == "#toasts"


@pytest.mark.parametrize("url, name", [
    ("/settings/team", "after"),
    ("/settings/activity", "before"),
])
@pytest.mark.parametrize("value", TOO_BIG + ["abc", "-1", "1e3", " 7", "\uff17", "\u00b2"])
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_s10_1_bad_page_markers_are_a_clear_400(owner, url, name, value, htmx):
    r = owner.get(url, query_string={name: value}, headers=HTMX if htmx else {})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "invalid page marker" in html
    assert ("<html" in html) is (not htmx)
    if htmx:
        assert r.headers["HX-Retarget"] == "#toasts"


@pytest.mark.parametrize("url, name", [
    ("/settings/team", "after"),
    ("/settings/activity", "before"),
])
def test_s10_1_the_largest_id_is_still_a_page(owner, url, name):
    assert owner.get(url, query_string={name: str(MAX_ID)}).status_code == 200
    assert owner.get(url, query_string={name: ""}).status_code == 200


def test_s10_1_export_never_fails_on_a_huge_before(owner):
    # The export walks every page itself and takes no `before` from the link.
    r = owner.get("/settings/activity/export.csv", query_string={"before": "9" * 30})
    assert r.status_code == 200 and "login.succeeded" in r.get_data(as_text=True)
