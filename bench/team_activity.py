"""Growth benchmark for Settings > Team and Settings > Activity, reported as ratios.

    make bench-team                          # 50 vs 5,000 members; 1,000 vs 1,000,000 events
    BENCH_EVENTS=200000 make bench-team      # a smaller large case

Each case runs the app in process on a temporary SQLite file, grows the demo organisation
with bulk inserts, signs the admin in with a server-side session row, and times the htmx
request for the first page and for a page further on (keyset `after=`/`before=`). The
figure that matters is the ratio large/small: with keyset pagination over an index it stays
near 1, whatever the size. Queries per request are counted with a peewee hook.
"""

import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SMALL_TEAM, LARGE_TEAM = 50, int(os.environ.get("BENCH_MEMBERS", "5000"))
SMALL_LOG, LARGE_LOG = 1_000, int(os.environ.get("BENCH_EVENTS", "1000000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "30"))
BATCH = 1000
HTMX = {"HX-Request": "true"}


def make_app(directory: str):
    from webapp import create_app
    from webapp.cli import seed_demo
    from webapp.db import migrate
    from webapp.extensions import db

    app = create_app({
        "TESTING": True,
        "DATABASE_URL": f"sqlite:///{directory}/bench.db",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex * 2,
        "RATELIMIT_KEY_PREFIX": f"b{uuid.uuid4().hex[:8]}",
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 8192,
    })
    migrate()
    with app.app_context(), db.connection_context():
        seed_demo("bench-password-aesthetix")
    return app


def admin_client(app):
    """A client signed in as the demo admin through a real session row (no code step)."""
    from webapp.extensions import db
    from webapp.models import User, UserSession, utcnow

    with app.app_context(), db.connection_context():
        admin = User.by_email("admin@example.com")
        _, token = UserSession.open(admin, ip="127.0.0.1", user_agent="bench", now=utcnow(),
                                    lifetime=3600)
    client = app.test_client()
    with client.session_transaction() as s:
        s["_user_id"] = token
        s["_fresh"] = True
    return client


def grow_team(app, members: int) -> None:
    from webapp.extensions import db
    from webapp.models import Membership, User

    with app.app_context(), db.connection_context(), db.atomic():
        org = Membership.get(Membership.user == User.by_email("admin@example.com").id)
        hash_ = User.by_email("admin@example.com").password_hash
        for start in range(0, members, BATCH):
            User.insert_many([
                {"email": f"bench{i:07d}@example.com", "name": f"Bench Member {i}",
                 "password_hash": hash_, "phone": f"+1202555{i % 10000:04d}"}
                for i in range(start, min(members, start + BATCH))]).execute()
        ids = [u.id for u in User.select(User.id).where(User.email.startswith("bench"))]
        for start in range(0, len(ids), BATCH):
            Membership.insert_many([
                {"user": i, "organization": org.organization_id}
                for i in ids[start:start + BATCH]]).execute()


def grow_log(app, events: int) -> None:
    from webapp.extensions import db
    from webapp.models import AuditEvent, Membership, User

    names = ("login.succeeded", "challenge.started", "phone.changed", "login.failed",
             "challenge.failed", "password.changed")
    with app.app_context(), db.connection_context(), db.atomic():
        people = [m.user_id for m in Membership.select(Membership.user_id)]
        org = Membership.get(Membership.user == User.by_email("admin@example.com").id)
        for start in range(0, events, BATCH):
            AuditEvent.insert_many([
                {"organization": org.organization_id, "subject": people[i % len(people)],
                 "actor": people[(i * 7) % len(people)], "event": names[i % len(names)],
                 "channel": "email", "ip": "203.0.113.7", "user_agent": "bench/1.0"}
                for i in range(start, min(events, start + BATCH))]).execute()


class Counter:
    """Counts SQL statements through peewee's execute_sql."""

    def __init__(self):
        from webapp.extensions import db

        self.db, self.n = db.obj, 0
        real = self.db.execute_sql

        def counting(sql, params=None, *a, **kw):
            self.n += 1
            return real(sql, params, *a, **kw)

        self.db.execute_sql = counting


def time_page(client, counter, url: str) -> tuple[float, float]:
    """Median milliseconds per request and queries per request for one URL."""
    client.get(url, headers=HTMX)  # warm caches
    samples, counter.n = [], 0
    for _ in range(REPEAT):
        start = time.perf_counter()
        response = client.get(url, headers=HTMX)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(samples), counter.n / REPEAT


def next_url(client, url: str, marker: str) -> str:
    import re

    html = client.get(url, headers=HTMX).get_data(as_text=True)
    found = re.search(rf'hx-get="([^"]+)" hx-target="#{marker}"', html)
    return found.group(1).replace("&amp;", "&") if found else url


def measure(kind: str, size: int) -> dict:
    with tempfile.TemporaryDirectory() as directory:
        app = make_app(directory)
        began = time.perf_counter()
        if kind == "team":
            grow_team(app, size - 5)
            urls = ["/settings/team", None, "/settings/team?q=member%2049"]
            marker = "more-members"
        else:
            grow_log(app, size)
            urls = ["/settings/activity", None, "/settings/activity?event=phone.changed"]
            marker = "more-events"
        filled = time.perf_counter() - began
        client = admin_client(app)
        counter = Counter()
        urls[1] = next_url(client, urls[0], marker)
        figures = [time_page(client, counter, url) for url in urls]
    return {"size": size, "fill_s": filled, "first": figures[0], "next": figures[1],
            "filtered": figures[2]}


def report(label: str, unit: str, small: dict, large: dict) -> None:
    print(f"\n{label}: {small['size']:,} vs {large['size']:,} {unit} "
          f"(bulk insert of the large case: {large['fill_s']:.1f} s)")
    print(f"  {'page':<10} {'small ms':>9} {'large ms':>9} {'ratio':>7} {'queries':>8}")
    for page in ("first", "next", "filtered"):
        (s_ms, s_q), (l_ms, l_q) = small[page], large[page]
        print(f"  {page:<10} {s_ms:>9.2f} {l_ms:>9.2f} {l_ms / s_ms:>7.2f} "
              f"{s_q:>4.0f}/{l_q:<3.0f}")


def main() -> None:
    team = (measure("team", SMALL_TEAM), measure("team", LARGE_TEAM))
    report("Settings > Team", "members", *team)
    log = (measure("activity", SMALL_LOG), measure("activity", LARGE_LOG))
    report("Settings > Activity (admin, whole organisation)", "events", *log)


if __name__ == "__main__":
    main()
