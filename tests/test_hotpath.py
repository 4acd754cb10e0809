"""The hot-path savings keep their behaviour: limits still enforced, URLs still right."""

import pytest
from flask import render_template_string, url_for

from webapp.extensions import limiter
from webapp.hotpath import LazyForm, limiter_hook_needed


def _limiter_hooked(app) -> bool:
    return any(getattr(f, "__self__", None) is limiter
               for f in app.before_request_funcs.get(None, []))


def test_idle_limiter_hook_is_not_run_but_a_decorated_limit_still_holds(app):
    assert not limiter_hook_needed(app)
    assert not _limiter_hooked(app)

    @limiter.limit("2 per minute")
    def limited():
        return "ok"

    app.add_url_rule("/limited-for-test", "limited_for_test", limited)
    client = app.test_client()
    assert [client.get("/limited-for-test").status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.config(RATELIMIT_DEFAULT="2 per minute")
def test_a_default_limit_keeps_the_limiter_hook(app):
    try:
        assert limiter_hook_needed(app)
        assert _limiter_hooked(app)
        client = app.test_client()
        assert [client.get("/healthz").status_code for _ in range(3)] == [200, 200, 429]
    finally:  # the limiter is one object for every app in this process
        limiter.limit_manager.set_default_limits([])


def test_template_url_for_matches_flask_under_each_script_root(app):
    source = "{{ url_for('profile.show') }} {{ url_for('static', filename='js/app.js') }}"
    for root in ("", "/crm", ""):
        with app.test_request_context("/", base_url=f"http://localhost{root}/"):
            expected = f"{url_for('profile.show')} {url_for('static', filename='js/app.js')}"
            assert expected.startswith(root + "/")
            assert render_template_string(source) == expected


def test_lazy_form_is_built_on_first_read_only():
    built = []

    class Form:
        name = "x"

        def __init__(self):
            built.append(1)

    lazy = LazyForm(Form)
    assert built == []
    assert lazy.name == "x" and lazy.name == "x"
    assert built == [1]


@pytest.mark.parametrize("endpoint, values", [
    ("team.member", {"user_id": 7}),
    ("team.member", {"user_id": 0}),
    ("team.member", {"user_id": 2**63 - 1}),
    ("verify.choose", {"cid": "Ab-9_xYz"}),
    ("recovery.secure", {"token": "tok_EN-123"}),
    ("team.index", {"after": 42}),  # a query argument, not a path part
    ("team.index", {"q": "a b/ü?&"}),  # quoted: Flask builds it every time
    ("team.index", {"q": ""}),
    ("passkeys.rename", {"pid": True}),  # not an int for this purpose
])
def test_template_url_for_with_one_argument_matches_flask(app, endpoint, values):
    source = "{{ url_for(endpoint, **values) }}|{{ url_for(endpoint, **values) }}"
    for root in ("", "/crm"):
        with app.test_request_context("/", base_url=f"http://localhost{root}/"):
            expected = url_for(endpoint, **values)
            assert expected.startswith(root + "/")
            rendered = render_template_string(source, endpoint=endpoint, values=values)
            assert rendered == f"{expected}|{expected}".replace("&", "&amp;")


def test_template_url_for_keeps_each_id_apart(app):
    source = "{% for i in ids %}{{ url_for('team.member', user_id=i) }} {% endfor %}"
    with app.test_request_context("/"):
        expected = " ".join(url_for("team.member", user_id=i) for i in (1, 22, 333)) + " "
        assert render_template_string(source, ids=[1, 22, 333]) == expected
        tokens = ["a", "B-c", "d_e"]
        source = "{% for t in ids %}{{ url_for('recovery.secure', token=t) }} {% endfor %}"
        expected = " ".join(url_for("recovery.secure", token=t) for t in tokens) + " "
        assert render_template_string(source, ids=tokens) == expected
