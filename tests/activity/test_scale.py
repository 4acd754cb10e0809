"""A large log: every page is one bounded query that walks an index, never a sort."""

import re

import pytest
from conftest import HTMX, user
from team.conftest import count_queries

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


def get(client, url):
    with count_queries() as seen:
        r = client.get(url, headers=HTMX)
    assert r.status_code == 200
    return len(seen), r.get_data(as_text=True)



def query_plan(sql, params) -> str:
    """The plan as text; PostgreSQL's Sort node is named as SQLite's temp b-tree.

    PostgreSQL plans from statistics that autovacuum keeps in any real database; a table
    filled a moment ago has none yet, so they are taken first.
    """
    from webapp.db import is_sqlite

    if is_sqlite():
        return " ".join(str(r) for r in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params))
    db.execute_sql("ANALYZE")
    plan = " ".join(r[0] for r in db.execute_sql("EXPLAIN " + sql, params))
    return re.sub(r"\bSort\b", "TEMP B-TREE", plan)

def test_pages_cost_the_same_bounded_queries(admin_client, dbconn):
    before, _ = get(admin_client, "/settings/activity")
    fill()
    first, html = get(admin_client, "/settings/activity")
    assert len(re.findall(r'<tr data-event=', html)) == 50
    older = re.search(r'hx-get="([^"]+)" hx-target="#more-events"', html).group(1)
    second, _ = get(admin_client, older.replace("&amp;", "&"))
    filtered, html = get(admin_client, "/settings/activity?event=phone.changed"
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
