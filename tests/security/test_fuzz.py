"""A-19 / A-20 / fuzzing: hostile values on every POST route never give a 500 or a partial write."""

import json

import pytest
from conftest import csrf, signin, user
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from security.helpers import cid_from, snapshot

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
          "can_edit_own_profile", "next", "to", "user_id"]
SKIP = {"auth.logout", "team.exit_impersonation"}  # they end the session the fuzzer uses

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
    routes = [(rule.replace("<cid>", cid).replace("<int:user_id>", str(member_id)), endpoint)
              for rule, endpoint in post_routes(app)]
    return client, token, routes


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
    assert r.status_code < 500, (path, encoding, r.status_code)
    if r.status_code >= 400:
        assert snapshot() == before, (path, encoding, r.status_code)


def test_a19_malformed_codes_are_refused_cleanly_and_consume_nothing(fuzz_target):
    """A-19: only six ASCII digits can match; everything else is a clean refusal."""
    client, token, routes = fuzz_target
    path = next(p for p, e in routes if e == "verify.code")
    for raw in OTP_INPUTS:
        r = client.post(path, data={"code": raw, "csrf_token": token})
        assert r.status_code in (409, 422, 429), (raw, r.status_code)
        r = client.post(path, data=MultiDict([("code", raw), ("code", "123456"),
                                              ("csrf_token", token)]))
        assert r.status_code < 500, raw
    assert snapshot()["consumed"] == 1  # only the owner's own sign-in


def test_a20_hostile_phone_numbers_never_save_directly(fuzz_target):
    """A-20: a bad number is refused (422); a good one starts a verification; none is saved."""
    client, token, _ = fuzz_target
    me = user("owner@example.com")
    before = snapshot("owner@example.com")
    for raw in PHONE_INPUTS:
        r = client.post("/settings/profile", data={"csrf_token": token, "name": me.name,
                                                   "email": me.email, "phone": raw})
        assert r.status_code in (303, 422, 429), (raw, r.status_code)
        assert snapshot("owner@example.com")["users"] == before["users"], raw
        if raw == "+12025550102":  # another member's number: no hint that it is in use
            assert "in use" not in r.get_data(as_text=True)
