"""PW-8 / WEB-2 / WEB-7: password fields, GET never changes state, no secrets in URLs."""

from conftest import HTMX, csrf, signin, user

from security.helpers import snapshot


def test_pw8_password_fields_allow_managers_and_paste(client):
    """PW-8: type=password with autocomplete hints; nothing blocks paste."""
    login = client.get("/login").get_data(as_text=True)
    signin(client)
    profile = client.get("/settings/profile").get_data(as_text=True)
    assert 'type="password"' in login and 'autocomplete="current-password"' in login
    assert profile.count('autocomplete="new-password"') == 2
    assert 'autocomplete="current-password"' in profile
    for page in (login, profile):
        assert "onpaste" not in page and "oncopy" not in page


def test_web2_get_requests_never_change_anything(app):
    """WEB-2: every GET route, signed in as the owner, page and fragment: nothing written."""
    client = app.test_client()
    signin(client, "owner@example.com")
    member_id = user("member@example.com").id
    before = snapshot()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        path = rule.rule.replace("<int:user_id>", str(member_id)).replace("<cid>", "x")
        for headers in ({}, HTMX):
            assert client.get(path, headers=headers).status_code < 500, path
    assert snapshot() == before


def test_web7_codes_and_tokens_never_travel_in_urls(app):
    """WEB-7: forms post codes and CSRF tokens in the body; no link or action carries them."""
    client = app.test_client()
    token = csrf(client)
    r = client.post("/login", data={"email": "member@example.com",
                                    "password": "demo-password-aesthetix", "csrf_token": token})
    assert "?" not in r.headers["Location"]
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert 'method="post"' in page
    assert "csrf_token=" not in page and "code=" not in page
