"""A large log: every page is one bounded query that walks an index, never a sort."""

import re

import pytest
from conftest import user
from team.conftest import counted_get, query_plan

from webapp.activity.routes import Filters, events_query
from webapp.extensions import db
from webapp.models import AuditEvent, Membership

EVENTS = 20_000
MAX_QUERIES = 3  # the session, the viewer's membership, the page
NAMES = ("login.succeeded", "challenge.started", "phone.changed", "login.failed")


def fill(n=EVENTS):
    """Bulk-insert events for the demo organisation (and some for another one)."""
    org = Membership.get(Membership.user == user("admin@example.com").id).organization_id
    people = [user(e).id for e in ("owner@example.com", "member@example.com",
                                   "casey@example.com")]
    with db.atomic():
        for start in range(0, n, 1000):
            AuditEvent.insert_many([
                {"organization": org if i % 10 else None, "subject": people[i % 3],
                 "actor": people[(i + 1) % 3], "event": NAMES[i % 4], "ip": "203.0.113.9",
                 "user_agent": "bench"}
                for i in range(start, min(n, start + 1000))]).execute()
    return org


def test_pages_cost_the_same_bounded_queries(admin_client, dbconn):
    before, _ = counted_get(admin_client, "/settings/activity")
    fill()
    first, html = counted_get(admin_client, "/settings/activity")
    assert len(re.findall(r'<tr data-event=', html)) == 50
    older = re.search(r'hx-get="([^"]+)" hx-target="#more-events"', html).group(1)
    second, _ = counted_get(admin_client, older.replace("&amp;", "&"))
    filtered, html = counted_get(admin_client, "/settings/activity?event=phone.changed"
                                       "&from=2000-01-01&to=2999-12-31")
    assert set(re.findall(r'<tr data-event="([^"]+)"', html)) == {"phone.changed"}
    assert before == first == second == filtered <= MAX_QUERIES


@pytest.mark.parametrize("args", [
    {}, {"event": "phone.changed"}, {"person": "casey@example.com"},
])
def test_first_page_plan_uses_an_index_without_sorting(admin_client, dbconn, args):
    org = fill(5000)
    # No ANALYZE: the plan must be right on a database nobody has tuned.
    sql, params = events_query(org, Filters(args, org)).sql()
    plan = query_plan(sql, params)
    assert "TEMP B-TREE" not in plan.upper(), plan
    assert "INDEX" in plan.upper(), plan
