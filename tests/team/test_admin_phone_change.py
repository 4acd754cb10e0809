"""An admin changes a member's phone: the code goes to the member only, over real transports."""

import re

import pytest
from conftest import HTMX, csrf, post, user

from webapp.config import DEFAULTS
from webapp.extensions import db
from webapp.models import AuditEvent, Challenge

NEW_PHONE = "+12025550177"
ADMIN_PHONE, MEMBER_PHONE = "+12025550102", "+12025550103"


@pytest.fixture
def wired(app_factory, smtp_server, sms_receiver):
    """An app mailing through loopback SMTP and texting through a loopback webhook, with the
    admin signed in by SMS (so no email is in the way of the assertions)."""
    app = app_factory(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port,
                      SMS_BACKEND="webhook", SMS_WEBHOOK_URL=sms_receiver.url)
    client = app.test_client()
    sms_signin(client, "admin@example.com", sms_receiver)
    sms_receiver.messages.clear()
    smtp_server.messages.clear()
    return app, client, smtp_server, sms_receiver


def sms_signin(client, email, sms):
    """Password, then a code texted to the loopback webhook."""
    token = csrf(client)
    r = client.post("/login", data={"email": email, "password": "demo-password-aesthetix",
                                    "csrf_token": token})
    url = r.headers["Location"]
    token = csrf(client, url)
    client.post(url + "/channel", data={"channel": "sms", "csrf_token": token})
    code = re.search(r"\d{6}", sms.messages[-1]["body"]).group(0)
    assert client.post(url + "/code", data={"code": code, "csrf_token": token}).status_code == 303


def change(client, member_id, phone=NEW_PHONE, htmx=False, name=None):
    data = {"phone": phone, "name": name if name is not None else user_by_id(member_id).name}
    return post(client, f"/settings/team/{member_id}", data, htmx=htmx,
                token_from="/settings/team")


def user_by_id(user_id):
    from webapp.models import User

    with db.connection_context():
        return User.get_by_id(user_id)


def events(name):
    with db.connection_context():
        return list(AuditEvent.select().where(AuditEvent.event == name).order_by(AuditEvent.id))


def test_admin_changes_member_phone_without_javascript(wired):
    app, client, smtp, sms = wired
    mia, adam = user("member@example.com"), user("admin@example.com")
    r = change(client, mia.id)
    assert r.status_code == 303 and r.headers["Location"].startswith("/verify/")
    url = r.headers["Location"]
    page = client.get(url).get_data(as_text=True)
    step = page.split('id="verify-step"', 1)[1]
    assert "data-for-member" in step and "Mia Member" in step
    # The change is named once, above the choice...
    assert "New phone for Mia Member: +1 202-555-0177" in step
    # ...and the member's channels are offered, never the admin's, never the new number.
    options = step.split("<fieldset", 1)[1].split("</fieldset>", 1)[0]
    assert "m***@example.com" in options and "•••• 0103" in options
    assert "a***@example.com" not in step and "0102" not in step and "0177" not in options
    r = post(client, url + "/channel", {"channel": "email"}, token_from=url)
    assert r.status_code == 303
    assert [m["to"] for m in smtp.messages] == [["member@example.com"]]
    assert sms.messages == []
    mail = smtp.messages[0]
    # The member is told who asks and what they approve by reading the code out (S-10).
    assert ("Adam Admin is changing your phone to •••• 0177. If you agree, read them this code."
            in mail["body"])
    code = re.search(r"\b\d{6}\b", mail["body"]).group(0)
    page = client.get(url).get_data(as_text=True)
    assert "Mia Member&#39;s email m***@example.com" in page
    assert code not in page
    r = post(client, url + "/code", {"code": code}, token_from=url)
    assert r.status_code == 303 and r.headers["Location"] == f"/settings/team/{mia.id}"
    after = user("member@example.com")
    assert after.phone == NEW_PHONE and after.phone_verified_at is None
    page = client.get(f"/settings/team/{mia.id}").get_data(as_text=True)
    assert 'data-field="phone">+1 202-555-0177' in page and "Phone number updated" in page
    # The notice reached the member and names the admin; no code went anywhere else.
    notice = smtp.messages[-1]
    assert notice["to"] == ["member@example.com"] and "phone number was changed" in \
        notice["subject"]
    assert "Adam Admin" in notice["body"] and code not in notice["body"]
    everyone = [t for m in smtp.messages for t in m["to"]] + [m["to"] for m in sms.messages]
    assert set(everyone) == {"member@example.com"}
    # The audit row names the admin as actor and the member as subject.
    (row,) = events("phone.changed")
    assert (row.actor_id, row.subject_id, row.channel) == (adam.id, mia.id, "email")
    assert row.data["new"] == "•••• 0177" and NEW_PHONE not in row.details
    assert all(code not in e.details for e in events("challenge.code_sent"))
    log = client.get("/settings/activity?person=member@example.com&event=phone.changed")
    html = log.get_data(as_text=True)
    assert html.count('data-event="phone.changed"') == 1
    rowhtml = html.split('data-event="phone.changed"', 1)[1].split("</tr>", 1)[0]
    assert "admin@example.com" in rowhtml and "member@example.com" in rowhtml


def test_admin_changes_member_phone_with_htmx_and_sms(wired):
    app, client, smtp, sms = wired
    mia = user("member@example.com")
    r = change(client, mia.id, htmx=True)
    assert r.status_code == 200 and r.headers["HX-Retarget"] == "#modal"
    html = r.get_data(as_text=True)
    assert "data-for-member" in html and "<dialog" in html
    cid = re.search(r"/verify/([\w-]+)/channel", html).group(1)
    url = f"/verify/{cid}"
    r = post(client, url + "/channel", {"channel": "sms"}, htmx=True, token_from=url)
    assert r.status_code == 200
    assert "Mia Member&#39;s phone •••• 0103" in r.get_data(as_text=True)
    assert [m["to"] for m in sms.messages] == [MEMBER_PHONE]
    code = re.search(r"\d{6}", sms.messages[0]["body"]).group(0)
    r = post(client, url + "/code", {"code": code}, htmx=True, token_from=url)
    assert r.status_code == 200
    assert '"closeModal": true' in r.headers["HX-Trigger"]
    assert "profileChanged" not in r.headers["HX-Trigger"]  # no second request for the section
    answer = r.get_data(as_text=True)
    assert answer.lstrip().startswith('<section id="member-personal"')
    assert 'hx-swap-oob="true"' in answer and NEW_PHONE in answer
    assert user("member@example.com").phone == NEW_PHONE
    section = client.get(f"/settings/team/{mia.id}/personal", headers=HTMX).get_data(as_text=True)
    assert 'id="member-personal"' in section and "<html" not in section
    assert NEW_PHONE in section
    assert all(m["to"] not in (NEW_PHONE, ADMIN_PHONE) for m in sms.messages)
    assert [m["to"] for m in smtp.messages] == [["member@example.com"]]  # the notice only


def test_the_cap_counts_against_the_member(wired):
    app, client, smtp, sms = wired
    mia = user("member@example.com")
    limit = DEFAULTS["DAILY_CHANGE_LIMIT"]
    for i in range(limit):
        r = change(client, mia.id, phone=f"+1202555017{i}")
        assert r.status_code == 303, i
    r = change(client, mia.id, phone="+12025550169")
    assert r.status_code == 429
    assert "Mia Member&#39;s profile" in r.get_data(as_text=True)
    assert user("member@example.com").phone == MEMBER_PHONE
    (limited,) = events("change.limited")
    assert (limited.subject_id, limited.actor_id) == (mia.id, user("admin@example.com").id)
    # The member's own attempt is refused too: the cap belongs to the member...
    mia_client = app.test_client()
    sms_signin(mia_client, "member@example.com", sms)
    r = post(mia_client, "/settings/profile",
             {"name": mia.name, "email": mia.email, "phone": "+12025550168"})
    assert r.status_code == 429
    # ...and not to the admin, whose own profile can still change.
    adam = user("admin@example.com")
    r = post(client, "/settings/profile",
             {"name": adam.name, "email": adam.email, "phone": "+12025550167"})
    assert r.status_code == 303 and r.headers["Location"].startswith("/verify/")


def test_member_without_a_channel_gets_a_clear_message(wired):
    app, client, smtp, sms = wired
    noah = user("newbie@example.com")
    for htmx in (False, True):
        r = change(client, noah.id, htmx=htmx)
        assert r.status_code == 409
        html = r.get_data(as_text=True)
        assert "Noah New&#39;s account has no verified email" in html
    assert user("newbie@example.com").phone is None
    with db.connection_context():
        assert not Challenge.select().where(Challenge.purpose == "change_phone").exists()
    assert smtp.messages == [] and sms.messages == []


def test_a_code_cannot_be_read_by_the_admin(wired):
    """No response the admin receives carries the code."""
    app, client, smtp, sms = wired
    mia = user("member@example.com")
    r = change(client, mia.id)
    url = r.headers["Location"]
    responses = [post(client, url + "/channel", {"channel": "sms"}, token_from=url)]
    code = re.search(r"\d{6}", sms.messages[-1]["body"]).group(0)
    responses += [client.get(url), client.get(f"/settings/team/{mia.id}"),
                  client.get("/settings/activity"), client.get("/settings/activity/export.csv")]
    for resp in responses:
        assert code not in resp.get_data(as_text=True)
        assert code not in str(resp.headers)
