"""Settings > Team > Security rules: who may set them, the grace banner, and the gate.

Plain form posts and htmx requests through the test client; the browser tests drive the same
pages with JavaScript on and off (tests/browser/test_rules.py).
"""

import datetime as dt
import json
import re

import pytest
from conftest import HTMX, csrf, last_code, outbox, post, signin, user, verify_by_email
from security.helpers import events
from test_remember import rows, signin_remembering
from twofactor.helpers import enable_totp, impersonate, next_code, secret_in, token_in

from webapp import config
from webapp.extensions import db
from webapp.models import Challenge, Membership, Organization
from webapp.rules import policy
from webapp.rules.routes import ALLOWED_WHEN_BLOCKED

RULES = "/settings/team/rules"
SETUP = "/settings/profile/2fa/setup"
GRACE = config.DEFAULTS["STRONG_FACTOR_GRACE_DAYS"]
DAY = 24 * 3600


def org() -> Organization:
    with db.connection_context():
        return Organization.get()


def set_rules(client, *, require=True, grace=GRACE, allow_remember=True, htmx=False):
    data = {"grace_days": str(grace)}
    if require:
        data["require_strong_factor"] = "y"
    if allow_remember:
        data["allow_remember"] = "y"
    return post(client, RULES, data, htmx=htmx)


def require_now(grace=0):
    """Turn the rule on directly (the owner's page is tested on its own below)."""
    with db.connection_context():
        Organization.update(strong_factor_required_at=dt.datetime.now(dt.UTC).replace(
            tzinfo=None) - dt.timedelta(seconds=1), strong_factor_grace_days=grace).execute()


def _input(html: str, name: str) -> str:
    return re.search(rf'<input[^>]*name="{name}"[^>]*>', html).group(0)


def is_gate(response) -> bool:
    """The gate's answer: to the setup (303), or HX-Redirect there for htmx."""
    if response.status_code == 303:
        return response.headers["Location"].endswith(SETUP)
    return response.headers.get("HX-Redirect", "").endswith(SETUP)


# --- the owner's page -------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["admin@example.com", "member@example.com"])
def test_only_owners_may_see_or_change_the_rules(client, email):
    signin(client, email)
    before = org()
    assert client.get(RULES).status_code == 403
    assert client.get(RULES, headers=HTMX).status_code == 403
    assert set_rules(client).status_code == 403
    assert set_rules(client, htmx=True).status_code == 403
    after = org()
    assert (after.strong_factor_required_at, after.strong_factor_grace_days,
            after.allow_remember_browser) == (before.strong_factor_required_at,
                                              before.strong_factor_grace_days,
                                              before.allow_remember_browser)
    assert events("authz.denied")
    assert not events("rules.changed")


def test_an_owner_signed_in_as_someone_else_may_not_change_them(client):
    signin(client, "owner@example.com")
    impersonate("owner@example.com")
    assert set_rules(client).status_code == 403
    assert org().strong_factor_required_at is None


def test_the_page_shows_the_defaults(client):
    signin(client, "owner@example.com")
    html = client.get(RULES).get_data(as_text=True)
    assert 'name="require_strong_factor"' in html and 'name="allow_remember"' in html
    assert f'value="{GRACE}"' in html
    assert " checked" in _input(html, "allow_remember")
    assert " checked" not in _input(html, "require_strong_factor")
    assert 'href="/settings/team/rules"' in client.get("/settings/team").get_data(as_text=True)


@pytest.mark.parametrize("htmx", [False, True])
def test_an_owner_saves_the_rules_audited_and_owners_told(client, htmx):
    signin(client, "owner@example.com")
    r = set_rules(client, grace=3, htmx=htmx)
    if htmx:
        assert r.status_code == 200 and 'id="security-rules"' in r.get_data(as_text=True)
        assert "Security rules saved" in json.loads(r.headers["HX-Trigger"])["toast"]["message"]
    else:
        assert r.status_code == 303 and r.headers["Location"].endswith(RULES)
    saved = org()
    assert saved.strong_factor_required_at is not None and saved.strong_factor_grace_days == 3
    (event,) = events("rules.changed")
    assert event.data["new"] == {"require_strong_factor": True, "grace_days": 3,
                                 "allow_remember": True}
    assert event.data["old"]["require_strong_factor"] is False
    (mail,) = [m for m in outbox("email", "owner@example.com")
               if "Security rules changed" in m.subject]
    assert "Require an authenticator app or passkey: on (was off)" in mail.body
    assert "3 days (was 7 days)" in mail.body.replace("Grace period: ", "")


def test_changing_only_the_grace_period_keeps_its_start(client):
    signin(client, "owner@example.com")
    set_rules(client, grace=3)
    since = org().strong_factor_required_at
    r = set_rules(client, grace=10)  # a longer grace period: the owner verifies first
    verify_by_email(client, r.headers["Location"].rsplit("/", 1)[1], "owner@example.com")
    assert org().strong_factor_required_at == since and org().strong_factor_grace_days == 10
    assert set_rules(client, grace=10).status_code == 303
    assert len(events("rules.changed")) == 2  # nothing changed: nothing recorded


@pytest.mark.parametrize("grace", ["-1", "91", "abc", "", "1e3"])
def test_a_bad_grace_period_is_a_form_error_and_saves_nothing(client, grace):
    signin(client, "owner@example.com")
    for htmx in (False, True):
        r = post(client, RULES, {"require_strong_factor": "y", "grace_days": grace,
                                 "allow_remember": ""}, htmx=htmx)
        assert r.status_code == 422
        assert 'aria-invalid="true"' in r.get_data(as_text=True)
    assert org().strong_factor_required_at is None and org().allow_remember_browser


def test_turning_remembering_off_forgets_the_whole_team(app):
    member, admin = app.test_client(), app.test_client()
    signin_remembering(member, "member@example.com")
    signin_remembering(admin, "admin@example.com")
    owner = app.test_client()
    signin(owner, "owner@example.com")
    assert set_rules(owner, require=False, allow_remember=False).status_code == 303
    for email in ("member@example.com", "admin@example.com"):
        assert [r.forgotten_reason for r in rows(email)] == ["org_rule"]
    assert events("rules.changed")[0].data["browsers_forgotten"] == 2


# --- the grace period and its banner --------------------------------------------------------------


def test_the_banner_counts_down_then_the_gate_closes(client, clock):
    owner = client.application.test_client()
    enable_totp(client.application, "owner@example.com")
    signin(owner, "owner@example.com", channel="email")
    set_rules(owner, grace=GRACE)
    signin(client)
    html = client.get("/settings/profile").get_data(as_text=True)
    assert f'data-days-left="{GRACE}"' in html and 'data-action="setup-now"' in html
    clock.advance((GRACE - 1) * DAY)
    signin(client)  # sessions idle out over days: sign in again
    html = client.get("/settings/profile").get_data(as_text=True)
    assert 'data-days-left="1"' in html
    clock.advance(DAY)
    signin(client)
    r = client.get("/settings/profile")
    assert is_gate(r)
    assert "data-blocked" in client.get(SETUP).get_data(as_text=True)


def test_compliant_members_see_no_banner_and_no_gate(app, client):
    enable_totp(app, "member@example.com")
    require_now(grace=0)
    signin(client)
    r = client.get("/settings/profile")
    assert r.status_code == 200 and "data-strong-factor-banner" not in r.get_data(as_text=True)


def test_a_newcomer_gets_the_whole_grace_period():
    since = dt.datetime(2026, 1, 1)
    org_row = Organization(strong_factor_required_at=since, strong_factor_grace_days=5)
    early = Membership(created_at=dt.datetime(2025, 6, 1))
    late = Membership(created_at=dt.datetime(2026, 3, 1))
    assert policy.deadline(org_row, early, 7) == since + dt.timedelta(days=5)
    assert policy.deadline(org_row, late, 7) == dt.datetime(2026, 3, 6)
    org_row.strong_factor_grace_days = None  # the organisation never chose: the default
    assert policy.deadline(org_row, early, 7) == since + dt.timedelta(days=7)


# --- the gate, on every route ---------------------------------------------------------------------


def _routes(app):
    return sorted((rule.endpoint, method, rule) for rule in app.url_map.iter_rules()
                  for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))


def test_a_blocked_member_can_reach_nothing_but_setup_and_sign_out(app, client):
    signin(client)
    # A phone change left open before the rule: its verification steps are not the setup's.
    r = post(client, "/settings/profile", {"name": "Mia Member", "email": "member@example.com",
                                           "phone": "+12025550177"})
    cid = r.headers["Location"].rsplit("/", 1)[1]
    require_now(grace=0)
    token = csrf(client, SETUP)
    values = {"user_id": user("admin@example.com").id, "cid": cid, "filename": "css/app.css",
              "token": "x" * 43, "invitation_id": 1, "pid": 1}
    form = {"csrf_token": token, "channel": "email", "code": "123456", "name": "Mia",
            "phone": "+12025550188", "email": "member@example.com", "id": "1",
            "grace_days": "0", "current_password": "x", "new_password": "y",
            "confirm_password": "y", "role": "admin"}
    seen = set()
    for endpoint, method, rule in _routes(app):
        if endpoint == "auth.logout":
            continue  # last: it ends the session
        path = rule.build({k: values[k] for k in rule.arguments}, append_unknown=False)[1]
        for headers in ({}, HTMX):
            kwargs = {"data": form} if method == "POST" else {}
            r = client.open(path, method=method, headers=headers, **kwargs)
            allowed = endpoint in ALLOWED_WHEN_BLOCKED and not endpoint.startswith("verify.")
            assert is_gate(r) != allowed, (method, path, headers, r.status_code, r.headers)
            if not allowed and headers:
                assert r.status_code == 403  # never a 3xx to htmx
        seen.add(endpoint)
    assert {"profile.show", "team.index", "activity.show", "rules.show",
            "profile.change_password", "verify.code", "twofactor.setup"} <= seen
    # Nothing of the open phone change was applied.
    with db.connection_context():
        assert Challenge.get_by_id(cid).consumed_at is None
    assert user("member@example.com").phone == "+12025550103"
    r = client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["Location"].endswith("/login")


@pytest.mark.parametrize("htmx", [False, True])
def test_a_blocked_member_is_taken_to_setup_at_sign_in_and_can_finish_it(client, htmx):
    require_now(grace=0)
    r = signin(client)
    assert r.headers["Location"].endswith("/settings/profile")
    assert is_gate(client.get("/settings/profile"))
    # Setup, with its verification (email code), then the app's first code: the page the
    # gate leads to is where it starts.
    headers = HTMX if htmx else {}
    page = client.get(SETUP).get_data(as_text=True)
    assert 'action="/settings/profile/2fa/setup/start"' in page
    token = token_in(page)
    r = client.post(SETUP + "/start", data={"csrf_token": token}, headers=headers)
    cid = re.search(r"/verify/([\w-]+)", r.headers.get("Location", "")
                    + r.get_data(as_text=True)).group(1)
    verify = f"/verify/{cid}"
    r = client.post(verify + "/channel", data={"channel": "email", "csrf_token": token},
                    headers=headers)
    assert r.status_code == (200 if htmx else 303)
    r = client.post(verify + "/code", data={"code": last_code("member@example.com"),
                                            "csrf_token": token}, headers=headers)
    html = (r if htmx else client.get(SETUP)).get_data(as_text=True)
    code, _ = next_code(secret_in(html))
    r = client.post(SETUP, data={"code": code, "csrf_token": token_in(html)},
                    headers=HTMX if htmx else {})
    assert r.status_code == 200 and "backup-codes" in r.get_data(as_text=True)
    assert "data-strong-factor-banner" not in r.get_data(as_text=True)  # done: no banner
    r = client.get("/settings/profile")
    assert r.status_code == 200 and "data-strong-factor-banner" not in r.get_data(as_text=True)


def test_a_blocked_member_without_a_verified_email_can_verify_it_first(app, client):
    require_now(grace=0)
    signin(client, "newbie@example.com")  # the sign-in's email code verifies the address
    assert is_gate(client.get("/settings/activity"))
    with db.connection_context():
        from webapp.models import User

        User.update(email_verified_at=None).where(User.email == "newbie@example.com").execute()
    r = client.get(SETUP)
    assert r.status_code == 409 and "Verify your email" in r.get_data(as_text=True)
    r = post(client, "/settings/profile/verify-email", token_from=SETUP)
    assert r.status_code == 303 and "/verify/" in r.headers["Location"]
    verify = r.headers["Location"]
    token = csrf(client, verify)
    assert client.post(verify + "/channel",
                       data={"channel": "email", "csrf_token": token}).status_code == 303
    r = client.post(verify + "/code", data={"code": last_code("newbie@example.com"),
                                            "csrf_token": token})
    assert r.status_code == 303
    assert user("newbie@example.com").email_verified


def test_login_as_a_blocked_member_is_not_gated(app, client):
    enable_totp(app, "admin@example.com")
    signin(client, "admin@example.com")
    require_now(grace=0)
    member_id = user("member@example.com").id
    r = post(client, f"/settings/team/{member_id}/login-as", token_from=SETUP)
    assert r.status_code == 303
    assert client.get("/settings/profile").status_code == 200


# --- the Team page --------------------------------------------------------------------------------


def test_the_team_page_shows_and_filters_who_does_not_comply(app, client):
    enable_totp(app, "owner@example.com")
    enable_totp(app, "admin@example.com")
    signin(client, "owner@example.com")
    html = client.get("/settings/team").get_data(as_text=True)
    assert 'data-filter="missing"' not in html  # the rule is off: nothing to filter
    set_rules(client, grace=GRACE)
    html = client.get("/settings/team").get_data(as_text=True)
    assert html.count('data-badge="missing-strong-factor"') == 3
    assert 'data-filter="missing"' in html
    for headers in ({}, HTMX):
        html = client.get("/settings/team?missing=1", headers=headers).get_data(as_text=True)
        listed = {e for e in ("owner", "admin", "member", "casey", "newbie")
                  if f"{e}@example.com" in html}
        assert listed == {"member", "casey", "newbie"}, listed
    assert 'data-missing="3"' in client.get(RULES).get_data(as_text=True)


def test_a_passkey_satisfies_the_rule(app, client):
    """ "An authenticator app or passkey": a member with a passkey and no app is not gated and
    is not listed as missing one."""
    from webapp.models import Passkey

    with db.connection_context():
        Passkey.create(user=user("member@example.com"), credential_id="member-key",
                       public_key=b"k", user_handle="h", name="Phone")
    require_now(grace=0)
    signin(client)
    r = client.get("/settings/profile")
    assert r.status_code == 200 and "data-strong-factor-banner" not in r.get_data(as_text=True)
    enable_totp(app, "owner@example.com")  # the rule applies to the owner too
    owner = client.application.test_client()
    signin(owner, "owner@example.com")
    html = owner.get("/settings/team?missing=1").get_data(as_text=True)
    assert "member@example.com" not in html and "casey@example.com" in html
    # The badge agrees: admin, casey and newbie have neither; the member's passkey counts.
    html = owner.get("/settings/team").get_data(as_text=True)
    assert html.count('data-badge="missing-strong-factor"') == 3
    member_row = html.split(f'data-member="{user("member@example.com").id}"')[1].split("</tr>")[0]
    assert "missing-strong-factor" not in member_row


def test_a_blocked_member_may_add_a_passkey_instead(app, client):
    require_now(grace=0)
    signin(client)
    assert is_gate(client.get("/settings/profile"))
    assert client.get("/settings/profile/passkeys").status_code == 200
