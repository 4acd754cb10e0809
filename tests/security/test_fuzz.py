"""A-19 / A-20 / fuzzing: hostile values on every POST route never give a 500 or a partial write."""

import json

import pytest
from conftest import csrf, last_code, signin, user
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from security.helpers import cid_from, snapshot
from webapp import links
from webapp.extensions import db
from webapp.models import Challenge, CodeFailures
from webapp.security.codes import normalise_code

OTP_INPUTS = ["", " 123456 ", "12345", "1234567", "000000", "１２３４５６", "12345６",
              "١٢٣٤٥٦", "123 456", "+123456", "-12345", "1e5", "0x1E240", "1" * 10_000,
              "12\x003456", "123456\x00", "\u202e123456", "None", "null", "[]", "{}"]
PHONE_INPUTS = ["12", "abc", "+0000", "+1" + "2" * 40, "+1 202 555 01٠٣", "+12025550103",
                "+12025550102", "+19005550123", "911", "112", "*67 202 555 0177",
                "+1 (202) 555-0177 ext. 9", "tel:+12025550177", "+44 20 7946 0958",
                "\x00+12025550177", "+1202555\u202e0177", "１２０２５５５０１７７"]
HOSTILE = OTP_INPUTS + PHONE_INPUTS + [
    "<script>alert(1)</script>", "{{7*7}}", "' OR 1=1 --", "\r\nBcc: x@evil.example",
    "a" * 100_000, "\x00" * 64, "\ud7ff\ue000", "../../etc/passwd", "%00", "${jndi:x}",
    "member@example.com", "admin@example.com", "owner", "admin", "member", "email", "sms",
    "totp", "backup", "on", "true", "1", "-1", "0", "99999999999999999999"]
FIELDS = ["email", "password", "current_password", "new_password", "confirm_password",
          "phone", "name", "channel", "code", "role", "can_edit_team_profiles",
          "can_edit_own_profile", "next", "to", "user_id", "id", "grace_days"]
# They end the session the fuzzer uses ("Login as" revokes the owner's own session).
# One-shot actions that would leave every later example without its target.
SKIP = {"auth.logout", "team.exit_impersonation", "team.login_as", "team.remove"}
# A body that is not a form (JSON, text, nothing) with the token in the header: each route,
# in the fuzz target's state, sees an empty form and answers this.
NON_FORM_STATUS = {
    "auth.login": 303,  # already signed in: to My Profile
    "auth.cancel_login": 303,  # nothing to cancel: back to /login
    "profile.update": 422,  # the email is required
    "profile.change_password": 422,
    "profile.sign_out_others": 303,
    "profile.verify_email": 303,  # one-button forms: the verification starts
    "profile.verify_phone": 303,
    "twofactor.begin": 303,
    "twofactor.confirm": 409,  # no setup under way
    "twofactor.regenerate": 409,  # no authenticator app
    "twofactor.remove": 409,
    "team.update": 422,  # name and phone missing from the request: refused, nothing started
    "team.access": 422,  # no role
    "team.reset_2fa": 409,  # nothing to reset
    "verify.choose": 400,  # no channel: exactly one value is required
    "verify.code": 422,  # no code
    "verify.resend": 303,  # the 30 s wait: back to the step with the reason (no JS)
    "verify.cancel": 303,
    "recovery.forgot": 422,  # the email is required
    "recovery.reset": 422,  # the new password is required
    "recovery.secure": 303,  # one button: secured, then to choosing a new password
    "team.invite": 422,  # the email is required
    "team.resend_invitation": 303,  # one-button forms: sent again, back to the Team page
    "team.revoke_invitation": 303,
    "join.show": 422,  # a name and a password are required
    "profile.forget_browser": 400,  # no browser named
    "profile.forget_all_browsers": 303,  # none remembered: back to the page, saying so
    "rules.save": 422,  # the grace period is required
    "verify.passkey": 422,  # no credential
    "verify.passkey_options": 409,  # the verification's channel is email, not passkey
    "passkeys.add": 303,  # one-button form: the verification starts
    "passkeys.registration_options": 403,  # not recently verified
    "passkeys.create": 409,  # not recently verified
    "passkeys.rename": 404,  # no passkey 1 of this account
    "passkeys.remove": 404,
    "passkeys.sign_in_options": 409,  # already signed in
    "passkeys.sign_in_with_passkey": 303,  # already signed in: to My Profile
}
CSRF_MESSAGE = "came from another site"

values = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=300),
                   st.binary(max_size=64).map(lambda b: b.decode("latin-1")))
field_sets = st.lists(st.tuples(st.sampled_from(FIELDS), values), max_size=8)
encodings = st.sampled_from(["form", "form-no-csrf", "duplicates", "json", "multipart",
                             "text", "empty"])


def post_routes(app):
    return sorted((rule.rule, rule.endpoint) for rule in app.url_map.iter_rules()
                  if "POST" in rule.methods and rule.endpoint not in SKIP)


@pytest.fixture
def fuzz_target(app):
    """A signed-in owner with an open verification: every POST route has a real target."""
    client = app.test_client()
    signin(client, "owner@example.com")
    me = user("owner@example.com")
    r = client.post("/settings/profile", data={
        "csrf_token": csrf(client, "/settings/profile"), "name": me.name, "email": me.email,
        "phone": "+12025550177"})
    cid = cid_from(r)
    token = csrf(client, "/settings/profile")
    client.post(f"/verify/{cid}/channel", data={"channel": "email", "csrf_token": token})
    member_id = user("member@example.com").id
    with app.app_context(), db.connection_context():  # the member's live emailed links
        reset = links.issue(links.RESET_PASSWORD, user=user("member@example.com"))
        secure = links.issue(links.SECURE_ACCOUNT, user=user("member@example.com"),
                             data={"kind": "sign_in"})
    invitation, link = _invitation(app, me)
    tokens = {"recovery.reset": reset, "recovery.secure": secure, "join.show": link}
    routes = [(rule.replace("<cid>", cid).replace("<int:user_id>", str(member_id))
               .replace("<int:invitation_id>", str(invitation.id)).replace("<int:pid>", "1")
               .replace("<token>", tokens.get(endpoint, "")), endpoint)
              for rule, endpoint in post_routes(app)]
    return client, token, routes


def _invitation(app, owner):
    """A pending invitation and its link's token: targets for the invitation routes."""
    from webapp.models import Membership, utcnow
    from webapp.team import invitations

    with app.app_context(), db.connection_context():
        seat = Membership.get(Membership.user == owner.id)
        return invitations.create(seat.organization_id, owner, "invited@example.com", "member",
                                  utcnow())


def send(client, token, path, encoding, fields):
    pairs = [(k, v) for k, v in fields]
    if encoding == "form":
        return client.post(path, data=MultiDict([("csrf_token", token), *dict(pairs).items()]))
    if encoding == "form-no-csrf":
        return client.post(path, data=MultiDict(pairs))
    if encoding == "duplicates":  # arrays: every field twice, also the names with []
        doubled = pairs + pairs + [(k + "[]", v) for k, v in pairs]
        return client.post(path, data=MultiDict([("csrf_token", token), *doubled]))
    if encoding == "json":
        return client.post(path, data=json.dumps({"csrf_token": token, **dict(pairs)}),
                           content_type="application/json", headers={"X-CSRFToken": token})
    if encoding == "multipart":
        return client.post(path, data={"csrf_token": token, **dict(pairs)},
                           content_type="multipart/form-data")
    if encoding == "text":
        return client.post(path, data="\n".join(f"{k}={v}" for k, v in pairs),
                           content_type="text/plain", headers={"X-CSRFToken": token})
    return client.post(path, headers={"X-CSRFToken": token})


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_every_post_route_never_500_and_never_half_saves(fuzz_target, data):
    """A-19 / A-20: hostile bodies on every POST route: no 500; refusals change nothing."""
    client, token, routes = fuzz_target
    path, endpoint = data.draw(st.sampled_from(routes), label="route")
    encoding = data.draw(encodings, label="encoding")
    fields = data.draw(field_sets, label="fields")
    before = snapshot()
    r = send(client, token, path, encoding, fields)
    if encoding == "form-no-csrf":  # whatever else is wrong, the missing token is refused first
        assert r.status_code == 400 and CSRF_MESSAGE in r.get_data(as_text=True), path
    assert r.status_code < 500, (path, encoding, r.status_code)
    if r.status_code >= 400:
        assert snapshot() == before, (path, encoding, r.status_code)


def test_every_fuzzed_route_has_its_non_form_answer(fuzz_target):
    _, _, routes = fuzz_target
    assert sorted(e for _, e in routes) == sorted(NON_FORM_STATUS)


@pytest.mark.parametrize("encoding", ["json", "text", "empty"])
@pytest.mark.parametrize("endpoint", sorted(NON_FORM_STATUS))
def test_a_body_that_is_not_a_form_is_an_empty_form(fuzz_target, endpoint, encoding):
    """A JSON or text body carries no fields: the route answers as for an empty form."""
    client, token, routes = fuzz_target
    path = dict((e, p) for p, e in routes)[endpoint]
    before = snapshot()
    r = send(client, token, path, encoding, [("phone", "+12025550188"), ("code", "123456")])
    assert r.status_code == NON_FORM_STATUS[endpoint], r.get_data(as_text=True)[:300]
    if r.status_code >= 400:
        assert snapshot() == before


def fresh_attempts(cid):
    """Every input meets an open challenge with all its attempts (not the 5-attempt close)."""
    with db.connection_context():
        Challenge.update(attempts=0).where(Challenge.id == cid).execute()
        CodeFailures.delete().execute()


def test_a19_malformed_codes_are_refused_cleanly_and_consume_nothing(fuzz_target):
    """A-19: only six ASCII digits can match; anything else is a format error (422) that is
    never compared and uses nothing: no attempt of the challenge, no slot of the account."""
    client, token, routes = fuzz_target
    path = next(p for p, e in routes if e == "verify.code")
    cid = path.split("/")[2]
    code = last_code("owner@example.com")
    assert code not in {normalise_code(raw) for raw in OTP_INPUTS}  # one in a million
    for raw in OTP_INPUTS:
        malformed = normalise_code(raw) is None
        fresh_attempts(cid)  # a well-formed wrong code uses an attempt: each starts afresh
        r = client.post(path, data={"code": raw, "csrf_token": token})
        assert r.status_code == 422, (raw, r.status_code)
        if malformed:
            assert "Enter the" in r.get_data(as_text=True), raw  # the code, or its 6 digits
            with db.connection_context():
                assert Challenge.get_by_id(cid).attempts == 0, raw
                assert CodeFailures.select().count() == 0, raw
        fresh_attempts(cid)
        # A duplicated field: the first value is the one checked.
        r = client.post(path, data=MultiDict([("code", raw), ("code", code),
                                              ("csrf_token", token)]))
        assert r.status_code == 422, (raw, r.status_code)
    assert snapshot()["consumed"] == 1  # only the owner's own sign-in


# Numbers that parse to a valid E.164 number start a verification; the rest are form errors,
# premium-rate numbers and extensions included (S-5: they cost the sender).
VALID_PHONES = {"+12025550103", "+12025550102", "tel:+12025550177", "+44 20 7946 0958",
                "\x00+12025550177"}


@pytest.mark.config(DAILY_CHANGE_LIMIT=100)  # each input gets its own answer, not the cap's
def test_a20_hostile_phone_numbers_never_save_directly(fuzz_target):
    """A-20: a bad number is refused (422); a good one starts a verification; none is saved."""
    client, token, _ = fuzz_target
    me = user("owner@example.com")
    before = snapshot("owner@example.com")
    for raw in PHONE_INPUTS:
        r = client.post("/settings/profile", data={"csrf_token": token, "name": me.name,
                                                   "email": me.email, "phone": raw})
        if raw in VALID_PHONES:
            assert r.status_code == 303 and r.headers["Location"].startswith("/verify/"), raw
        else:
            assert r.status_code == 422 and 'id="phone-error"' in r.get_data(as_text=True), raw
        assert snapshot("owner@example.com")["users"] == before["users"], raw
        if raw == "+12025550102":  # another member's number: no hint that it is in use
            assert "in use" not in r.get_data(as_text=True)
