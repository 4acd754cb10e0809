"""Settings > Activity: own events for members, the organisation's for admins, filters, CSV."""

import csv
import datetime as dt
import io
import re

import pytest
from conftest import HTMX, PASSWORD, last_code, user

from webapp.cli import create_user
from webapp.extensions import db
from webapp.models import AuditEvent, Membership, utcnow


def org_of(email):
    return Membership.get(Membership.user == user(email).id).organization_id


def add_event(event, subject, actor=None, **kw):
    return AuditEvent.create(organization=org_of(subject.email), subject=subject,
                             actor=actor or subject, event=event, **kw)


def rows(html):
    return re.findall(r'<tr data-event="([^"]+)"', html)


def test_members_see_only_their_own_events(member_client, dbconn):
    add_event("password.changed", user("casey@example.com"))
    html = member_client.get("/settings/activity").get_data(as_text=True)
    assert "login.succeeded" in rows(html)
    assert "password.changed" not in rows(html)
    assert 'name="person"' not in html and "Export CSV" not in html
    # A member can't widen the scope with filters.
    html = member_client.get("/settings/activity?person=casey@example.com").get_data(
        as_text=True)
    assert "casey@example.com" not in html


def test_admins_see_the_organisation_but_not_others(app, admin_client, dbconn):
    with app.app_context():
        stranger = create_user("stranger@elsewhere.example", PASSWORD, org_name="Elsewhere")
    AuditEvent.create(organization=org_of(stranger.email), subject=stranger, actor=stranger,
                      event="password.changed")
    add_event("phone.changed", user("casey@example.com"), user("owner@example.com"),
              channel="sms")
    html = admin_client.get("/settings/activity").get_data(as_text=True)
    assert "phone.changed" in rows(html) and "stranger@elsewhere" not in html
    row = html.split('data-event="phone.changed"', 1)[1].split("</tr>", 1)[0]
    assert "owner@example.com" in row and "casey@example.com" in row and "Phone changed" in row
    assert 'name="person"' in html and 'data-action="export-csv"' in html


def test_filters_person_event_and_dates(admin_client, dbconn):
    casey, owner = user("casey@example.com"), user("owner@example.com")
    old = utcnow() - dt.timedelta(days=40)
    add_event("password.changed", casey, created_at=old)
    add_event("phone.changed", casey, owner)
    add_event("phone.changed", owner)
    get = lambda q: admin_client.get("/settings/activity?" + q).get_data(as_text=True)  # noqa: E731
    assert rows(get("person=casey@example.com")) == ["phone.changed", "password.changed"]
    # The person filter finds what they did to others too.
    assert rows(get("person=OWNER@example.com&event=phone.changed")) == ["phone.changed"] * 2
    assert rows(get("event=phone.changed")) == ["phone.changed"] * 2
    day = old.date().isoformat()
    assert rows(get(f"from={day}&to={day}")) == ["password.changed"]
    today = utcnow().date().isoformat()
    assert "password.changed" not in rows(get(f"from={today}"))
    assert rows(get(f"person=casey@example.com&to={day}")) == ["password.changed"]


@pytest.mark.parametrize("query, field", [
    ("from=yesterday", "from"), ("to=2025-13-45", "to"), ("from=２０２５-０１-０１", "from"),
    ("from=2025-02-01&to=2025-01-01", "to"), ("event=<script>", "event"),
    ("person=nobody@example.com", "person"), ("from=" + "9" * 5000, "from"),
])
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_filters_are_inline_errors_never_500(admin_client, dbconn, query, field, htmx):
    r = admin_client.get("/settings/activity?" + query, headers=HTMX if htmx else {})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert f'id="f-{field}-error" >' in html or f'id="f-{field}-error">' in html
    assert "<script>" not in html
    assert ("<html" in html) is (not htmx)


def test_htmx_filter_swaps_the_log_and_pages_older_rows(admin_client, dbconn):
    casey = user("casey@example.com")
    with db.atomic():
        for _ in range(120):
            add_event("challenge.started", casey)
    r = admin_client.get("/settings/activity?event=challenge.started", headers=HTMX)
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="activity-log"') and "<html" not in html
    seen = rows(html)
    more = re.search(r'hx-get="([^"]+)" hx-target="#more-events"', html)
    while more:
        html = admin_client.get(more.group(1).replace("&amp;", "&"), headers=HTMX).get_data(
            as_text=True)
        assert 'id="activity-log"' not in html
        seen += rows(html)
        more = re.search(r'hx-get="([^"]+)" hx-target="#more-events"', html)
    assert seen == ["challenge.started"] * 120


def test_everything_is_escaped(admin_client, dbconn):
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(1)>\r\nX-Injected: 1'
    add_event("login.failed", user("casey@example.com"), ip="<b>1.2.3.4</b>", user_agent=evil)
    html = admin_client.get("/settings/activity").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "<img src=x" not in html and "<b>1.2" not in html
    assert "&lt;b&gt;1.2.3.4&lt;/b&gt;" in html  # the device column shows a parsed name


def test_codes_never_appear(app, client, dbconn):
    from conftest import signin

    signin(client, "admin@example.com")
    code = last_code("admin@example.com")
    for url in ("/settings/activity", "/settings/activity/export.csv"):
        body = client.get(url).get_data(as_text=True)
        assert code not in body
    assert not AuditEvent.select().where(AuditEvent.details.contains(code)).exists()


def test_csv_export_is_filtered_and_safe_for_spreadsheets(admin_client, dbconn):
    casey = user("casey@example.com")
    add_event("phone.changed", casey, user_agent="=HYPERLINK(\"http://evil\")")
    add_event("password.changed", casey)
    r = admin_client.get("/settings/activity/export.csv?person=casey@example.com"
                         "&event=phone.changed")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert table[0][:4] == ["time_utc", "event", "actor", "subject"]
    assert [row[1] for row in table[1:]] == ["phone.changed"]
    assert table[1][7].startswith("'=")


def test_csv_export_streams_every_row(admin_client, dbconn):
    casey = user("casey@example.com")
    AuditEvent.insert_many([{"organization": org_of(casey.email), "subject": casey.id,
                             "event": "challenge.started"} for _ in range(2500)]).execute()
    body = admin_client.get("/settings/activity/export.csv?event=challenge.started").get_data(
        as_text=True)
    assert len(body.strip().splitlines()) == 2501


def test_member_export_is_their_own(member_client, dbconn):
    add_event("password.changed", user("casey@example.com"))
    body = member_client.get("/settings/activity/export.csv").get_data(as_text=True)
    assert "casey@example.com" not in body and "login.succeeded" in body


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_log_is_append_only(admin_client, dbconn, method):
    count = AuditEvent.select().count()
    r = getattr(admin_client, method)("/settings/activity", headers=HTMX)
    assert r.status_code == 405  # no write method is routed here at all
    assert AuditEvent.select().count() == count
    rules = [rule for rule in admin_client.application.url_map.iter_rules()
             if rule.endpoint.startswith("activity.")]
    assert all(rule.methods <= {"GET", "HEAD", "OPTIONS"} for rule in rules)
