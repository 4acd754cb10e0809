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
