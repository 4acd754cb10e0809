"""Phone and email changes, verifying my email/phone, the daily cap: plain posts and htmx."""

import json
import re

import pytest
from conftest import HTMX, csrf, last_code, outbox, post, signin, user
from werkzeug.datastructures import MultiDict

from webapp.config import DEFAULTS
from webapp.models import AuditEvent, Challenge

NEW_PHONE = "+12025550177"


def profile_post(client, htmx=False, **fields):
    me = user(fields.pop("who", "member@example.com"))
    data = {"name": me.name, "email": me.email, "phone": me.phone or ""}
    data.update(fields)
    return post(client, "/settings/profile", data, htmx=htmx)


def cid_of(response) -> str:
    if response.status_code == 303:
        return response.headers["Location"].rsplit("/", 1)[1]
    return re.search(r"/verify/([\w-]+)/channel", response.get_data(as_text=True)).group(1)


def events(name):
    return list(AuditEvent.select().where(AuditEvent.event == name))


@pytest.fixture
def delivered(app_factory, smtp_server, sms_receiver):
    """An app that mails through a loopback SMTP server and texts through a loopback webhook."""
    app = app_factory(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port,
                      SMS_BACKEND="webhook", SMS_WEBHOOK_URL=sms_receiver.url)
    client = app.test_client()
    # Sign in with an SMS code, so no email is in the way of the assertions below.
    token = csrf(client)
    r = client.post("/login", data={"email": "member@example.com",
                                    "password": "demo-password-aesthetix", "csrf_token": token})
    url = r.headers["Location"]
    token = csrf(client, url)
    client.post(url + "/channel", data={"channel": "sms", "csrf_token": token})
    code = re.search(r"\d{6}", sms_receiver.messages[-1]["body"]).group(0)
    assert client.post(url + "/code", data={"code": code, "csrf_token": token}).status_code == 303
    sms_receiver.messages.clear()
    return client, smtp_server, sms_receiver


def test_phone_change_without_javascript_end_to_end(delivered):
    client, smtp, sms = delivered
    r = profile_post(client, phone="+1 (202) 555-0177")
    assert r.status_code == 303 and r.headers["Location"].startswith("/verify/")
    url = r.headers["Location"]
    page = client.get(url).get_data(as_text=True)
    assert "<html" in page and "Choose how to verify" in page
    assert "m***@example.com" in page and "•••• 0103" in page
    assert "0177" not in page.split("Choose how to verify", 1)[1].split("</form>")[0]
    r = post(client, url + "/channel", {"channel": "sms"}, token_from=url)
    assert r.status_code == 303
    assert [m["to"] for m in sms.messages] == ["+12025550103"]
    code = re.search(r"\d{6}", sms.messages[-1]["body"]).group(0)
    wrong = "000000" if code != "000000" else "111111"
    r = post(client, url + "/code", {"code": wrong}, token_from=url)
    assert r.status_code == 422 and "isn&#39;t right" in r.get_data(as_text=True)
    r = post(client, url + "/code", {"code": code}, token_from=url)
    assert r.status_code == 303 and r.headers["Location"] == "/settings/profile"
    me = user("member@example.com")
    assert me.phone == NEW_PHONE and me.phone_verified_at is None
    page = client.get("/settings/profile").get_data(as_text=True)
    assert NEW_PHONE in page and 'data-badge="phone-unverified"' in page
    assert "Phone number updated" in page
    # Nothing ever went to the new number; the notice went to the verified email.
    assert all(m["to"] != NEW_PHONE for m in sms.messages)
    notice = smtp.messages[-1]
    assert notice["to"] == ["member@example.com"] and "phone number was changed" in \
        notice["subject"]
    assert "0177" in notice["body"] and code not in notice["body"]
    assert len(events("challenge.started")) == 1 and len(events("phone.changed")) == 1
    assert len(events("challenge.failed")) == 1
    row = events("phone.changed")[0]
    assert row.channel == "sms" and row.data["new"] == "•••• 0177"


def test_phone_change_with_htmx_uses_the_modal(member_client, dbconn):
    r = profile_post(member_client, htmx=True, phone=NEW_PHONE)
    assert r.status_code == 200 and r.headers["HX-Retarget"] == "#modal"
    html = r.get_data(as_text=True)
    assert "<html" not in html and "<dialog" in html and 'data-step="choose"' in html
    cid = cid_of(r)
    r = post(member_client, f"/verify/{cid}/channel", {"channel": "email"}, htmx=True)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'data-step="code"' in html and "<dialog" not in html
    assert 'autocomplete="one-time-code"' in html and "m***@example.com" in html
    assert r.headers["Cache-Control"] == "no-store"
    r = post(member_client, f"/verify/{cid}/code",
             {"code": last_code("member@example.com")}, htmx=True)
    assert r.status_code == 200
    trig = json.loads(r.headers["HX-Trigger"])
    assert trig["closeModal"] and "updated" in trig["toast"]["message"]
    # The refreshed Personal Data comes in the same answer, swapped out of band: no event
    # asks the section to fetch itself again.
    assert set(trig) == {"closeModal", "toast"}
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="personal-data"')
    assert 'hx-swap-oob="true"' in html and NEW_PHONE in html
    assert 'data-badge="phone-unverified"' in html and "<html" not in html
    assert "hx-trigger" not in html
    section = member_client.get("/settings/profile/personal", headers=HTMX)
    body = section.get_data(as_text=True)
    assert "<html" not in body and NEW_PHONE in body and 'data-action="verify-phone"' in body
    assert section.headers["Vary"].count("HX-Request") == 1


def test_the_step_heading_follows_where_it_is_shown(member_client, dbconn):
    r = profile_post(member_client, htmx=True, phone=NEW_PHONE)  # the modal: h2
    html = r.get_data(as_text=True)
    assert '<h2 id="verify-title"' in html and "<h1" not in html and "hx-vals" not in html
    cid = cid_of(r)
    page = member_client.get(f"/verify/{cid}").get_data(as_text=True)  # the page: h1
    assert '<h1 id="verify-title"' in page and """hx-vals='{"heading": "h1"}'""" in page
    # A step htmx swaps in on that page keeps its h1: the page's step asks for it.
    r = post(member_client, f"/verify/{cid}/channel", {"channel": "email", "heading": "h1"},
             htmx=True)
    assert '<h1 id="verify-title"' in r.get_data(as_text=True)
    # In the modal it stays h2, whatever the page's address (no sniffing of HX-Current-URL).
    r = member_client.get(f"/verify/{cid}?choose=1", headers={
        **HTMX, "HX-Current-URL": f"http://localhost/verify/{cid}"})
    assert '<h2 id="verify-title"' in r.get_data(as_text=True)


def test_used_challenge_answers_already_used(member_client, dbconn):
    cid = cid_of(profile_post(member_client, phone=NEW_PHONE))
    post(member_client, f"/verify/{cid}/channel", {"channel": "email"})
    code = last_code("member@example.com")
    assert post(member_client, f"/verify/{cid}/code", {"code": code}).status_code == 303
    r = post(member_client, f"/verify/{cid}/code", {"code": code}, htmx=True)
    assert r.status_code == 409 and "already been used" in r.get_data(as_text=True)


def test_email_change_code_goes_to_the_old_address_only(member_client, dbconn):
    r = profile_post(member_client, email="Mia.New@Example.com")
    cid = cid_of(r)
    post(member_client, f"/verify/{cid}/channel", {"channel": "email"})
    code = last_code("member@example.com")
    assert post(member_client, f"/verify/{cid}/code", {"code": code}).status_code == 303
    me = user("mia.new@example.com")
    assert me is not None and me.email_verified_at is None
    assert outbox(to="mia.new@example.com") == []
    notice = outbox("email", "member@example.com")[-1]
    assert "email address was changed" in notice.subject and "m***@example.com" in notice.body
    assert len(events("email.changed")) == 1


def test_unchanged_number_starts_no_challenge(member_client, dbconn):
    r = profile_post(member_client, phone="+1 202-555-0103", name="Mia M.")
    assert r.status_code == 303 and r.headers["Location"] == "/settings/profile"
    assert Challenge.select().where(Challenge.purpose == "change_phone").count() == 0
    assert user("member@example.com").name == "Mia M."


@pytest.mark.parametrize("phone", ["12", "not a phone", "+0000", "+1" + "9" * 40, "١٢٣٤٥٦٧٨٩٠",
                                   "+1 202 555 01\x00"])
@pytest.mark.parametrize("htmx", [False, True])
def test_invalid_phone_gets_a_clear_error(member_client, dbconn, phone, htmx):
    r = profile_post(member_client, htmx=htmx, phone=phone)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="phone-error"' in html and ("phone number" in html or "too long" in html)
    assert user("member@example.com").phone == "+12025550103"


def test_email_and_phone_at_once_is_refused(member_client, dbconn):
    r = profile_post(member_client, phone=NEW_PHONE, email="x@example.com")
    assert r.status_code == 422 and "one at a time" in r.get_data(as_text=True)


@pytest.mark.parametrize("htmx", [False, True])
def test_no_eligible_channel_explains_and_consumes_nothing(app, htmx, dbconn):
    client = app.test_client()
    signin(client, "newbie@example.com")  # the sign-in code verifies the email...
    from webapp.models import User

    User.update(email_verified_at=None).where(User.email == "newbie@example.com").execute()
    for _ in range(7):  # ...so undo that: no verified channel at all
        r = profile_post(client, htmx=htmx, who="newbie@example.com", phone=NEW_PHONE)
        assert r.status_code == 409
        text = r.get_data(as_text=True)
        assert "Verify your email address first, then try again." in text
    assert Challenge.select().where(Challenge.purpose == "change_phone").count() == 0
    assert user("newbie@example.com").phone is None


@pytest.mark.parametrize("htmx", [False, True])
def test_daily_cap_allows_five_attempts_and_explains_the_sixth(member_client, dbconn, htmx):
    limit = DEFAULTS["DAILY_CHANGE_LIMIT"]
    for i in range(limit):
        field = {"phone": f"+120255501{50 + i}"} if i % 2 == 0 else {
            "email": f"mia{i}@example.com"}
        r = profile_post(member_client, htmx=htmx, **field)
        # The "Choose how to verify" modal (htmx) or a 303 to its page.
        assert r.status_code == (200 if htmx else 303), r.get_data(as_text=True)
    r = profile_post(member_client, htmx=htmx, phone=NEW_PHONE)
    assert r.status_code == 429
    text = r.get_data(as_text=True)
    assert f"limit of {limit}" in text and "midnight UTC" in text and "admin" in text
    assert int(r.headers["Retry-After"]) <= 86400
    assert Challenge.select().count() == limit + 1  # the changes + the sign-in
    assert len(events("change.limited")) == 1


def test_verify_my_phone_sends_to_that_phone(app, dbconn):
    client = app.test_client()
    signin(client, "casey@example.com")
    r = post(client, "/settings/profile/verify-phone", {})
    url = r.headers["Location"]
    page = client.get(url).get_data(as_text=True)
    assert "Text message" in page and "Email" not in page.split("<fieldset")[1].split(
        "</fieldset>")[0]
    post(client, url + "/channel", {"channel": "sms"}, token_from=url)
    code = last_code("+12025550104", "sms")
    assert post(client, url + "/code", {"code": code}, token_from=url).status_code == 303
    assert user("casey@example.com").phone_verified_at is not None
    assert len(events("phone.verified")) == 1


def test_verify_my_email_marks_it_verified(app, dbconn):
    from webapp.models import User

    client = app.test_client()
    signin(client, "casey@example.com")
    User.update(email_verified_at=None).where(User.email == "casey@example.com").execute()
    r = post(client, "/settings/profile/verify-email", {}, htmx=True)
    # The Verify button's form says hx-target="#modal" itself: no retargeting header.
    assert "HX-Retarget" not in r.headers and "<dialog" in r.get_data(as_text=True)
    cid = cid_of(r)
    post(client, f"/verify/{cid}/channel", {"channel": "email"}, htmx=True)
    r = post(client, f"/verify/{cid}/code", {"code": last_code("casey@example.com")}, htmx=True)
    assert r.status_code == 200 and "closeModal" in r.headers["HX-Trigger"]
    html = r.get_data(as_text=True)
    assert '<section id="personal-data" class="card" aria-labelledby="personal-title" ' \
        'hx-swap-oob="true">' in html
    assert 'data-badge="email-verified"' in html
    assert user("casey@example.com").email_verified_at is not None


def test_destination_tampering_never_reaches_the_new_number(member_client, dbconn):
    cid = cid_of(profile_post(member_client, phone=NEW_PHONE))
    token = csrf(member_client, f"/verify/{cid}")
    r = member_client.post(f"/verify/{cid}/channel", data={
        "channel": "sms", "to": NEW_PHONE, "phone": NEW_PHONE, "destination": NEW_PHONE,
        "csrf_token": token})
    assert r.status_code == 303
    r = member_client.post(f"/verify/{cid}/channel", data=MultiDict([
        ("channel", "sms"), ("channel", "email"), ("csrf_token", token)]))
    assert r.status_code == 400
    r = member_client.post(f"/verify/{cid}/channel", json={"channel": "sms", "to": NEW_PHONE},
                           headers={"X-CSRFToken": token})
    assert r.status_code == 400
    assert outbox(to=NEW_PHONE) == []
    assert [m.to for m in outbox("sms")] == ["+12025550103"]


@pytest.mark.parametrize("channel", ["sms", "totp", "backup", "fax", ""])
def test_ineligible_channel_for_casey_is_refused(app, dbconn, channel):
    client = app.test_client()
    signin(client, "casey@example.com")
    cid = cid_of(profile_post(client, who="casey@example.com", phone=NEW_PHONE))
    before = len(outbox())
    r = post(client, f"/verify/{cid}/channel", {"channel": channel}, htmx=True)
    assert r.status_code == 400
    assert len(outbox()) == before


def test_someone_elses_challenge_is_not_found(app, dbconn):
    mine, theirs = app.test_client(), app.test_client()
    signin(mine)
    signin(theirs, "admin@example.com")
    cid = cid_of(profile_post(mine, phone=NEW_PHONE))
    assert theirs.get(f"/verify/{cid}").status_code == 404
    r = post(theirs, f"/verify/{cid}/channel", {"channel": "email"})
    assert r.status_code == 404
    assert app.test_client().get(f"/verify/{cid}").status_code == 404


def test_sms_provider_failure_keeps_the_challenge(delivered):
    client, _, sms = delivered
    sms.handler.status = 500
    cid = cid_of(profile_post(client, phone=NEW_PHONE))
    r = post(client, f"/verify/{cid}/channel", {"channel": "sms"}, htmx=True)
    assert r.status_code == 503 and "couldn&#39;t send the code" in r.get_data(as_text=True)
    stored = Challenge.get_by_id(cid)
    assert stored.sends == 0 and stored.consumed_at is None
    assert len(events("challenge.delivery_failed")) == 1
    sms.handler.status = 200
    r = post(client, f"/verify/{cid}/channel", {"channel": "email"}, htmx=True)
    assert r.status_code == 200


def test_resend_too_soon_then_allowed(member_client, dbconn, clock):
    wait = DEFAULTS["CODE_RESEND_AFTER_SECONDS"]
    cid = cid_of(profile_post(member_client, phone=NEW_PHONE))
    post(member_client, f"/verify/{cid}/channel", {"channel": "email"})
    page = member_client.get(f"/verify/{cid}").get_data(as_text=True)
    assert f'data-countdown="{wait}"' in page
    assert "available in" in page
    r = post(member_client, f"/verify/{cid}/resend", {}, htmx=True)
    assert r.status_code == 429 and f"new code in {wait + 1} seconds" in r.get_data(as_text=True)
    clock.advance(wait + 1)
    r = post(member_client, f"/verify/{cid}/resend", {}, htmx=True)
    assert r.status_code == 200 and "We sent a new code" in r.get_data(as_text=True)
    # An outcome notice says its kind (green for success).
    assert '<p class="notice success" role="status">We sent a new code.' in r.get_data(as_text=True)
    codes = [m for m in outbox("email", "member@example.com")
             if m.subject.startswith("Your Aesthetix CRM code")]
    assert len(codes) == 3  # sign-in + 2 step-up codes


def test_cancel_closes_and_changes_nothing(member_client, dbconn):
    cid = cid_of(profile_post(member_client, phone=NEW_PHONE))
    r = post(member_client, f"/verify/{cid}/cancel", {}, htmx=True)
    assert r.status_code == 200 and "closeModal" in r.headers["HX-Trigger"]
    r = post(member_client, f"/verify/{cid}/cancel", {})
    assert r.status_code == 303 and r.headers["Location"] == "/settings/profile"
    assert Challenge.get_by_id(cid).cancelled_at is not None
    assert user("member@example.com").phone == "+12025550103"
    # A closed verification says so in the error style.
    r = post(member_client, f"/verify/{cid}/resend", {}, htmx=True)
    assert r.status_code == 409 and '<p class="notice error" role="status">' in r.get_data(
        as_text=True)
