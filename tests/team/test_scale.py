"""A team of 5,000: the list costs the same, bounded number of queries on every page."""

import re

from conftest import user

from team.conftest import count_queries, counted_get, query_plan
from webapp.extensions import db
from webapp.models import Membership, User

# The session (with its user), the actor's membership, the page itself.
MAX_QUERIES = 3


def grow_team(n):
    org = Membership.get(Membership.user == user("admin@example.com").id).organization_id
    hash_ = User.get_by_id(1).password_hash
    with db.atomic():
        for start in range(0, n, 500):
            User.insert_many([{"email": f"m{i:05d}@example.com", "name": f"Member {i}",
                               "password_hash": hash_, "phone": f"+1202555{i % 10000:04d}"}
                              for i in range(start, min(n, start + 500))]).execute()
        ids = [u.id for u in User.select(User.id).where(User.email.startswith("m0"))]
        for start in range(0, n, 500):
            Membership.insert_many([{"user": i, "organization": org}
                                    for i in ids[start:start + 500]]).execute()


def test_team_pages_use_a_bounded_number_of_queries(admin_client, dbconn):
    small, _ = counted_get(admin_client, "/settings/team")
    grow_team(5000)
    assert Membership.select().count() == 5005
    first, html = counted_get(admin_client, "/settings/team")
    assert len(re.findall(r"<tr data-member=", html)) == 50
    nxt = re.search(r'hx-get="([^"]+)" hx-target="#more-members"', html).group(1)
    second, html = counted_get(admin_client, nxt.replace("&amp;", "&"))
    search, _ = counted_get(admin_client, "/settings/team?q=member%2049")
    assert first == second == search == small <= MAX_QUERIES, (small, first, second, search)


def test_team_page_query_walks_an_index(admin_client, dbconn):
    """The page query reads members in email order from an index: no sort of the whole team."""
    from webapp.team.routes import team_page

    grow_team(5000)
    actor = Membership.get(Membership.user == user("admin@example.com").id)
    with count_queries() as seen:
        team_page(actor, "", None)
    ((sql, params),) = seen
    plan = query_plan(sql, params)
    assert "TEMP B-TREE" not in plan.upper() and "INDEX" in plan.upper(), plan
