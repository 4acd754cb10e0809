"""Load figures for the README, each as a ratio to a baseline measured in the same run.

    make bench                      # SQLite, then PostgreSQL + Redis when they answer
    BENCH_BACKENDS=sqlite make bench
    BENCH_SECONDS=2 BENCH_RUNS=1 BENCH_BACKENDS=sqlite make bench   # a quick look

The app runs under gunicorn (gunicorn.conf.py, BENCH_WORKERS sync workers) on loopback; wrk
drives it (a small Python driver stands in when wrk is missing). Three servers run side by
side: bench/hello.py (bare Flask), our app, and the peer -- Flask-Security-Too 5.x signed in
(bench/peer_fst.py), in its own virtualenv made once under a cache directory
(BENCH_PEER_VENV); if it cannot be installed the bench says why and goes on without it.
They are loaded in turn, hello, ours, peer, BENCH_RUNS times; each run's throughput is divided
by the hello run of its round and the medians are reported, with p99 / p50 per endpoint.

Every replayed request carries the sign-in's User-Agent (Flask-Login's session protection
checks it) and is probed first: it must answer as expected without a Set-Cookie.
Sign-ins per second are divided by argon2 verifications per second on as many processes.
Queries per request (a peewee hook) and bytes per response are counted in process.
"""

import datetime as dt
import gzip
import http.client
import http.cookiejar
import json
import multiprocessing
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The server to use for the PostgreSQL + Redis leg: BENCH_PG_URL / BENCH_REDIS_URL, else the
# app's own DATABASE_URL (when it names PostgreSQL) and RATELIMIT_STORAGE_URI (Redis). Each
# run creates a database of its own next to the one named and drops it afterwards.
_APP_DB = os.environ.get("DATABASE_URL", "")
_APP_LIMITS = os.environ.get("RATELIMIT_STORAGE_URI", "")
PG_URL = os.environ.get("BENCH_PG_URL") or (
    _APP_DB if _APP_DB.startswith("postgres") else "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or (
    _APP_LIMITS if _APP_LIMITS.startswith("redis") else "redis://127.0.0.1:6379/14")
WORKERS = int(os.environ.get("BENCH_WORKERS", str(2 * (os.cpu_count() or 1))))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
DURATION = int(os.environ.get("BENCH_SECONDS", "6"))
# hello, ours, peer, hello, ours, peer, ...: each figure is the median of RUNS runs, each
# divided by the hello run just before it, so a slow minute on a shared machine moves both.
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
PASSWORD = "bench-password-aesthetix"  # noqa: S105 - throwaway bench data
EMAIL = "member@example.com"
# Sent on the sign-in and on every replayed request: Flask-Login's session protection binds the
# session to the client's address and User-Agent, and a replay with another one (urllib's
# default at sign-in, none from wrk) marks the session non-fresh and re-signs the cookie on
# every response -- a slower path than any browser takes.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) aesthetix-bench/1"
CSRF_RE = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


# --- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """`gunicorn -c gunicorn.conf.py APP` on a free loopback port, access log off.

    The peer passes its own virtualenv's python and bench/gunicorn_peer.conf.py (the same
    settings without the start hook that imports our app).
    """

    def __init__(self, app: str, env: dict, python=sys.executable, config="gunicorn.conf.py",
                 ready="/"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "WEB_CONCURRENCY": str(WORKERS), "HOST": "127.0.0.1",
                    "PORT": str(self.port), "GUNICORN_ACCESS_LOG": "",
                    "GUNICORN_LOG_LEVEL": "warning"}
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [python, "-m", "gunicorn", "-c", config, app],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait(ready)

    def _wait(self, path):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        self.log.seek(0)
        raise SystemExit(f"gunicorn did not start:\n{self.log.read().decode()}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# --- a browser-like client -----------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  _NoRedirect())

    def send(self, method, path, data=None, headers=None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers={"User-Agent": USER_AGENT, **(headers or {})})
        try:
            with self.opener.open(req, timeout=30) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read().decode()

    def token(self, path):
        return CSRF_RE.search(self.send("GET", path)[2]).group(1)

    def cookie_header(self):
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


# --- load ----------------------------------------------------------------------------------------


class Load:
    """One run: method, path, headers, body; the result is requests/s and latency percentiles."""

    def __init__(self, method="GET", path="/", headers=None, body=None, connections=CONNECTIONS):
        self.method, self.path, self.body = method, path, body
        # The sign-in's User-Agent on every replay (wrk sends none of its own).
        self.headers = {"User-Agent": USER_AGENT, **(headers or {})}
        if body is not None:
            self.headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        self.connections = connections

    def run(self, base, seconds=DURATION) -> dict:
        if shutil.which("wrk"):
            return self._wrk(base, seconds)
        return self._python(base, seconds)

    def probe(self, base) -> tuple[int, list[str]]:
        """One request with exactly the replayed headers: (status, its Set-Cookie headers).

        A replayed session must be stable: a Set-Cookie here means every response of the run
        re-signs the cookie, which is not the path a browser takes.
        """
        host, port = urllib.parse.urlsplit(base).netloc.split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        body = self.body.encode() if self.body is not None else None
        conn.request(self.method, self.path, body=body, headers=self.headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        return response.status, response.headers.get_all("Set-Cookie") or []

    def _wrk(self, base, seconds):
        lines = [f"wrk.method = {json.dumps(self.method)}"]
        if self.body is not None:
            lines.append(f"wrk.body = {json.dumps(self.body)}")
        for name, value in self.headers.items():
            lines.append(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}")
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write("\n".join(lines) + "\n")
            script = f.name
        threads = min(2, self.connections)
        cmd = ["wrk", f"-t{threads}", f"-c{self.connections}", f"-d{seconds}s", "--latency",
               "--timeout", "30s", "-s", script, base + self.path]
        warm_up = ["wrk", f"-t{threads}", f"-c{self.connections}", "-d1s", "-s", script,
                   base + self.path]
        subprocess.run(warm_up, capture_output=True, check=True)
        out = subprocess.run(cmd, capture_output=True, check=True, text=True).stdout
        os.unlink(script)
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        pct = {p: _wrk_time(re.search(rf"^\s+{p}%\s+([\d.]+\w+)", out, re.M).group(1))
               for p in ("50", "99")}
        return {"rps": rps, "p50": pct["50"], "p99": pct["99"]}

    def _python(self, base, seconds):
        host, port = urllib.parse.urlsplit(base).netloc.split(":")
        latencies, stop = [], time.monotonic() + seconds
        lock = threading.Lock()
        body = self.body.encode() if self.body is not None else None

        def worker():
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            mine = []
            while time.monotonic() < stop:
                t = time.perf_counter()
                conn.request(self.method, self.path, body=body, headers=self.headers)
                conn.getresponse().read()
                mine.append(time.perf_counter() - t)
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=worker) for _ in range(self.connections)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        latencies.sort()
        return {"rps": len(latencies) / (time.monotonic() - started),
                "p50": latencies[len(latencies) // 2],
                "p99": latencies[int(len(latencies) * 0.99)]}


def _wrk_time(text) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


# --- argon2 on as many processes as gunicorn has workers -----------------------------------------


def _argon2_worker(args):
    seconds, time_cost, memory_cost, parallelism = args
    from argon2 import PasswordHasher

    ph = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    stored = ph.hash(PASSWORD)
    n, stop = 0, time.monotonic() + seconds
    while time.monotonic() < stop:
        ph.verify(stored, PASSWORD)
        n += 1
    return n


def argon2_per_second(seconds=DURATION) -> float:
    from webapp.config import DEFAULTS as d

    params = (seconds, d["ARGON2_TIME_COST"], d["ARGON2_MEMORY_COST"], d["ARGON2_PARALLELISM"])
    with multiprocessing.Pool(WORKERS) as pool:
        started = time.monotonic()
        counts = pool.map(_argon2_worker, [params] * WORKERS)
        return sum(counts) / (time.monotonic() - started)


# --- in-process measurements: queries per request, bytes, growth ---------------------------------


class QueryCounter:
    """A peewee hook: every statement goes through Database.execute_sql."""

    def __init__(self, database):
        self.count = 0
        original = database.execute_sql

        def counting(sql, params=None, *args, **kwargs):
            self.count += 1
            return original(sql, params, *args, **kwargs)

        database.execute_sql = counting


def make_app(env: dict):
    os.environ.update(env)
    from webapp import create_app

    return create_app({"SECRET_KEY": env["SECRET_KEY"]})


def in_process_signin(app, email=EMAIL):
    from webapp.extensions import db
    from webapp.models import OutboxMessage

    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = USER_AGENT

    def token(path):
        return CSRF_RE.search(client.get(path).get_data(as_text=True)).group(1)

    r = client.post("/login", data={"email": email, "password": PASSWORD,
                                    "csrf_token": token("/login")})
    verify = urllib.parse.urlsplit(r.headers["Location"]).path
    t = token(verify)
    client.post(verify + "/channel", data={"channel": "email", "csrf_token": t})
    with app.app_context(), db.connection_context():
        body = (OutboxMessage.select().where(OutboxMessage.to == email)
                .order_by(OutboxMessage.id.desc()).first().body)
    code = re.search(r"\b(\d{6})\b", body).group(1)
    r = client.post(verify + "/code", data={"code": code, "csrf_token": t})
    assert r.status_code == 303, r.status_code
    return client, token


def count_queries(app, counter, client, method, path, **kw):
    before = counter.count
    r = client.open(path, method=method, **kw)
    return counter.count - before, len(r.get_data()), r.status_code


def timed_get(client, path, n=30, headers=None) -> float:
    client.get(path, headers=headers)
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(path, headers=headers)
        samples.append(time.perf_counter() - t)
        assert r.status_code == 200, (path, r.status_code)
    return statistics.median(samples)


def grow_activity(user_id: int, total: int):
    """Add security events for one user until they have `total` (in SQL, not row by row)."""
    from webapp.db import is_sqlite
    from webapp.extensions import db
    from webapp.models import AuditEvent

    with db.connection_context():
        have = AuditEvent.select().where(AuditEvent.subject == user_id).count()
        missing = total - have
        if missing <= 0:
            return
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
        if is_sqlite():
            sql = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                   "INSERT INTO audit_event (organization_id, actor_id, subject_id, event, "
                   "outcome, channel, ip, user_agent, details, created_at) "
                   "SELECT NULL, ?, ?, 'login.failed', 'failed', NULL, '127.0.0.1', 'bench', "
                   "'{}', ? FROM n")
        else:
            sql = ("INSERT INTO audit_event (organization_id, actor_id, subject_id, event, "
                   "outcome, channel, ip, user_agent, details, created_at) "
                   "SELECT NULL, %s, %s, 'login.failed', 'failed', NULL, '127.0.0.1', 'bench', "
                   "'{}', %s FROM generate_series(1, %s)")
        with db.atomic():
            if is_sqlite():
                db.execute_sql(sql, (missing, user_id, user_id, now))
            else:
                db.execute_sql(sql, (user_id, user_id, now, missing))
        if not is_sqlite():
            db.execute_sql("ANALYZE audit_event")


def grow_team(org_id: int, total: int, password_hash: str):
    """Fill the organisation up to `total` members."""
    from webapp.extensions import db
    from webapp.models import Membership, User, utcnow

    with db.connection_context():
        have = Membership.select().where(Membership.organization == org_id).count()
        now = utcnow()
        batch = []
        for i in range(have, total):
            batch.append({"email": f"bench{i}-{uuid.uuid4().hex[:6]}@example.com",
                          "name": f"Bench Member {i}", "password_hash": password_hash,
                          "created_at": now})
        with db.atomic():
            for start in range(0, len(batch), 500):
                rows = batch[start:start + 500]
                User.insert_many(rows).execute()
            emails = [row["email"] for row in batch]
            for start in range(0, len(emails), 500):
                ids = [u.id for u in User.select(User.id)
                       .where(User.email.in_(emails[start:start + 500]))]
                Membership.insert_many([{"user": uid, "organization": org_id, "role": "member",
                                         "created_at": now} for uid in ids]).execute()


# --- the hot endpoints under load ----------------------------------------------------------------

HTMX = {"HX-Request": "true"}
PAGE = "My Profile (page)"
PEER_PAGE = "peer: /change page, signed in"
# Issue 14's targets, as ratios to bare Flask hello; the page also >= 2x the peer's page.
TARGETS = {PAGE: 0.25}
FRAGMENT_TARGET = 0.4


def remote_signin(base: str, email: str) -> "Client":
    """A real sign-in over HTTP: password, then the email code read from the outbox."""
    from webapp.extensions import db
    from webapp.models import OutboxMessage

    remote = Client(base)
    status, headers, _ = remote.send("POST", "/login", {
        "email": email, "password": PASSWORD, "csrf_token": remote.token("/login")})
    assert status == 303, status
    verify = urllib.parse.urlsplit(headers["Location"]).path
    t = remote.token(verify)
    remote.send("POST", verify + "/channel", {"channel": "email", "csrf_token": t})
    with db.connection_context():
        body = (OutboxMessage.select().where(OutboxMessage.to == email)
                .order_by(OutboxMessage.id.desc()).first().body)
    code = re.search(r"\b(\d{6})\b", body).group(1)
    status, _, _ = remote.send("POST", verify + "/code", {"code": code, "csrf_token": t})
    assert status == 303, status
    return remote


def hot_loads(base: str, code_cid: str) -> dict:
    """Label -> (Load, expected status). `code_cid`: the member's phone change, at its code step.

    The "Choose how to verify" step needs a verification with no channel chosen yet, and a
    new phone change replaces the member's open one: the admin starts their own.
    """
    member = remote_signin(base, EMAIL)
    mtoken = member.token(f"/verify/{code_cid}")
    owner = remote_signin(base, "owner@example.com")
    owner.token("/settings/team")
    admin = remote_signin(base, "admin@example.com")
    status, _, text = admin.send("POST", "/settings/profile", {
        "name": "Adam Admin", "email": "admin@example.com", "phone": "+12025550177",
        "csrf_token": admin.token("/settings/profile")}, headers=HTMX)
    assert status == 200, (status, text[:300])
    choose_cid = re.search(r"/verify/([\w-]+)", text).group(1)
    # Captured after the CSRF tokens are in the sessions: the load replays these exact cookies.
    mine, owners = {"Cookie": member.cookie_header()}, {"Cookie": owner.cookie_header()}
    wrong = urllib.parse.urlencode({"code": "000000", "csrf_token": mtoken})
    return {
        PAGE: (Load("GET", "/settings/profile", mine), 200),
        "My Profile (htmx fragment)": (Load("GET", "/settings/profile", {**mine, **HTMX}), 200),
        "2FA section (htmx fragment)": (Load("GET", "/settings/profile/2fa",
                                             {**mine, **HTMX}), 200),
        '"Choose how to verify" (htmx)': (Load("GET", f"/verify/{choose_cid}", {
            "Cookie": admin.cookie_header(), **HTMX}), 200),
        "code step (htmx)": (Load("GET", f"/verify/{code_cid}", {**mine, **HTMX}), 200),
        "wrong code POST (htmx)": (Load("POST", f"/verify/{code_cid}/code",
                                        {**mine, **HTMX, "X-CSRFToken": mtoken}, wrong), 422),
        "team page of 50 (owner, htmx)": (Load("GET", "/settings/team", {**owners, **HTMX}),
                                          200),
        "activity page of 50 (htmx)": (Load("GET", "/settings/activity", {**mine, **HTMX}),
                                       200),
        "/healthz (anonymous floor)": (Load("GET", "/healthz"), 200),
    }


def check_replays(base: str, loads: dict) -> dict:
    """Each replayed request answers as expected and sets no cookie; label -> Set-Cookie seen."""
    seen = {}
    for label, (load, expected) in loads.items():
        status, cookies = load.probe(base)
        assert status == expected, (label, status)
        seen[label] = bool(cookies)
        if cookies:
            print(f"   WARNING {label}: a replayed request re-signs the cookie "
                  f"({cookies[0][:60]}...): not a browser's path", flush=True)
    return seen


class Peer:
    """Flask-Security-Too in its own virtualenv (BENCH_PEER_PYTHON) on a temporary SQLite file."""

    EMAIL = "peer@example.com"

    @classmethod
    def start(cls):
        try:
            return cls()
        except (AssertionError, OSError, SystemExit, subprocess.CalledProcessError) as exc:
            print(f"   peer did not start ({exc!r}); measuring without it", flush=True)
            return None

    def __init__(self):
        python = os.environ["BENCH_PEER_PYTHON"]
        self.dir = tempfile.TemporaryDirectory(prefix="aesthetix-bench-peer-")
        env = {"SECRET_KEY": uuid.uuid4().hex + uuid.uuid4().hex,
               "PEER_DATABASE": f"{self.dir.name}/peer.db", "PEER_EMAIL": self.EMAIL,
               "PEER_PASSWORD": PASSWORD}
        subprocess.run([python, "bench/peer_fst.py", "init"], cwd=ROOT,
                       env={**os.environ, **env}, check=True)
        self.server = Gunicorn("bench.peer_fst:app", env, python=python,
                               config="bench/gunicorn_peer.conf.py", ready="/login")
        self.url = self.server.url
        client = Client(self.url)
        status, _, _ = client.send("POST", "/login", {
            "email": self.EMAIL, "password": PASSWORD, "csrf_token": client.token("/login")})
        assert status == 302, status
        client.token("/change")
        self.load = (Load("GET", "/change", {"Cookie": client.cookie_header()}), 200)
        self.version = subprocess.run(
            [python, "-c", "import importlib.metadata as m; "
                           "print(m.version('flask-security-too'))"],
            capture_output=True, text=True, check=True).stdout.strip()

    def stop(self):
        self.server.stop()
        self.dir.cleanup()


def alternate(hello_url: str, ours_url: str, loads: dict, peer) -> dict:
    """RUNS rounds of hello, each of ours, the peer; every figure is the median of its rounds.

    Each run's throughput is divided by the hello run of its own round before the median is
    taken, so the ratio compares runs a minute apart, not the whole bench apart.
    """
    rounds = {label: [] for label in ("hello", *loads, *([PEER_PAGE] if peer else []))}
    for i in range(RUNS):
        base = Load().run(hello_url)
        rounds["hello"].append({**base, "ratio": 1.0})
        for label, (load, _) in loads.items():
            m = load.run(ours_url)
            rounds[label].append({**m, "ratio": m["rps"] / base["rps"]})
        if peer is not None:
            m = peer.load[0].run(peer.url)
            rounds[PEER_PAGE].append({**m, "ratio": m["rps"] / base["rps"]})
        page = rounds[PAGE][-1]
        print(f"   run {i + 1}/{RUNS}: hello {base['rps']:.0f} req/s, page "
              f"{page['ratio']:.2f}, fragment "
              f"{rounds['My Profile (htmx fragment)'][-1]['ratio']:.2f}"
              + (f", peer {rounds[PEER_PAGE][-1]['ratio']:.2f}" if peer else ""), flush=True)

    def median(label, key):
        return statistics.median(r[key] for r in rounds[label])

    summary = {label: {"rps": median(label, "rps"), "ratio": median(label, "ratio"),
                       "p50": median(label, "p50"), "p99": median(label, "p99"),
                       "tail": statistics.median(r["p99"] / r["p50"] for r in rounds[label]),
                       "ratios": [r["ratio"] for r in rounds[label]]}
               for label in rounds}
    result = {"hello": summary.pop("hello"), "load": summary, "peer": None}
    if peer is not None:
        result["peer"] = {"name": f"Flask-Security-Too {peer.version}",
                          **summary.pop(PEER_PAGE),
                          "page_vs_peer": statistics.median(
                              o["rps"] / p["rps"]
                              for o, p in zip(rounds[PAGE], rounds[PEER_PAGE], strict=True))}
    return result


# --- one backend ---------------------------------------------------------------------------------


def bench_backend(name: str, env: dict) -> dict:
    from webapp.cli import seed_demo
    from webapp.db import migrate
    from webapp.extensions import db
    from webapp.models import Membership, User

    print(f"\n== {name}", flush=True)
    app = make_app(env)
    migrate()
    with app.app_context(), db.connection_context():
        seed_demo(PASSWORD)
    results = {}

    # Queries and bytes, in process on the same database.
    counter = QueryCounter(db.obj)
    client, token = in_process_signin(app)
    htmx = {"HX-Request": "true"}
    r = client.post("/settings/profile", headers=htmx, data={
        "name": "", "email": EMAIL, "phone": "+12025550188",
        "csrf_token": token("/settings/profile")})
    cid = re.search(r"/verify/([\w-]+)", r.get_data(as_text=True)).group(1)
    vt = token(f"/verify/{cid}")
    client.post(f"/verify/{cid}/channel", data={"channel": "email", "csrf_token": vt})
    anon = app.test_client()
    login_token = CSRF_RE.search(anon.get("/login").get_data(as_text=True)).group(1)
    pages = [
        ("GET /settings/profile (page)", client, "GET", "/settings/profile", {}),
        ("GET /settings/profile (fragment)", client, "GET", "/settings/profile",
         {"headers": htmx}),
        ("GET choose-how-to-verify fragment", client, "GET", f"/verify/{cid}?choose=1",
         {"headers": htmx}),
        ("POST wrong code (fragment)", client, "POST", f"/verify/{cid}/code",
         {"headers": htmx, "data": {"code": "000000", "csrf_token": vt}}),
        ("GET /settings/activity (page)", client, "GET", "/settings/activity", {}),
        ("GET /healthz", client, "GET", "/healthz", {}),
        ("POST /login (password step)", anon, "POST", "/login",
         {"data": {"email": EMAIL, "password": PASSWORD, "csrf_token": login_token}}),
    ]
    if "team.index" in app.view_functions or any(
            r.rule == "/settings/team" for r in app.url_map.iter_rules()):
        owner, owner_token = in_process_signin(app, "owner@example.com")
        pages.append(("GET /settings/team (page)", owner, "GET", "/settings/team", {}))
    else:
        owner = None
    results["queries"] = {}
    for label, c, method, path, kw in pages:
        results["queries"][label] = count_queries(app, counter, c, method, path, **kw)

    # Growth: first-page time at a small and a large size.
    with db.connection_context():
        member_id = User.by_email(EMAIL).id
        owner_user = User.by_email("owner@example.com")
        org_id = Membership.get(Membership.user == owner_user).organization_id
    growth = {}
    grow_activity(member_id, 1_000)
    small = timed_get(client, "/settings/activity")
    t = time.monotonic()
    grow_activity(member_id, 1_000_000)
    print(f"   1,000,000 events inserted in {time.monotonic() - t:.1f}s", flush=True)
    growth["activity 1k -> 1M events"] = timed_get(client, "/settings/activity") / small
    if owner is not None:
        grow_team(org_id, 50, owner_user.password_hash)
        small = timed_get(owner, "/settings/team")
        grow_team(org_id, 5_000, owner_user.password_hash)
        growth["team 50 -> 5,000 members"] = timed_get(owner, "/settings/team") / small
    results["growth"] = growth

    # Throughput and latency under gunicorn: hello, ours and the peer alternate.
    hello = Gunicorn("bench.hello:app", env)
    server = Gunicorn("wsgi:app", env, ready="/healthz")
    peer = Peer.start() if os.environ.get("BENCH_PEER_PYTHON") else None
    try:
        loads = hot_loads(server.url, cid)
        results["set_cookie"] = check_replays(server.url, loads)
        if peer is not None:
            results["set_cookie"].update(check_replays(peer.url, {PEER_PAGE: peer.load}))
        results.update(alternate(hello.url, server.url, loads, peer))
        login = Client(server.url)
        ltoken = login.token("/login")
        sign_in = Load("POST", "/login", {"Cookie": login.cookie_header()},
                       urllib.parse.urlencode({"email": EMAIL, "password": PASSWORD,
                                               "csrf_token": ltoken}),
                       connections=2 * WORKERS).run(server.url)
    finally:
        for process in (hello, server, peer):
            if process is not None:
                process.stop()
    argon = argon2_per_second()
    results["login"] = {"signins": sign_in["rps"], "argon2": argon,
                        "ratio": sign_in["rps"] / argon}
    print(f"   sign-ins {sign_in['rps']:.1f}/s, argon2 {argon:.1f}/s", flush=True)
    return results


def load_table(name: str, r: dict) -> list[str]:
    """Ours, bare Flask and the peer side by side, for one backend."""
    hello, peer = r["hello"], r["peer"]
    rows = [f"**{name}** (medians of {RUNS} alternating runs)", "",
            "| endpoint | ours req/s | hello req/s | peer req/s | ours ÷ hello | peer ÷ hello "
            "| ours ÷ peer | target | met | p99 ÷ p50 |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for label, m in r["load"].items():
        if label == PAGE:
            target = f"≥ {TARGETS[PAGE]} and ≥ 2 × peer"
            met = m["ratio"] >= TARGETS[PAGE] and (peer is None or peer["page_vs_peer"] >= 2)
        elif label.startswith("/healthz"):
            target, met = "—", None
        else:
            target, met = f"≥ {FRAGMENT_TARGET}", m["ratio"] >= FRAGMENT_TARGET
        on_page = label == PAGE and peer is not None
        cells = [label + (" (re-signs cookie!)" if r["set_cookie"].get(label) else ""),
                 f"{m['rps']:,.0f}", f"{hello['rps']:,.0f}",
                 f"{peer['rps']:,.0f}" if on_page else "—",
                 f"{m['ratio']:.2f}", f"{peer['ratio']:.2f}" if on_page else "—",
                 f"{peer['page_vs_peer']:.2f}" if on_page else "—", target,
                 "—" if met is None else ("yes" if met and m["tail"] <= 4 else "no"),
                 f"{m['tail']:.1f}"]
        rows.append("| " + " | ".join(cells) + " |")
    rows.append(f"| bare Flask hello | {hello['rps']:,.0f} | {hello['rps']:,.0f} | — | 1.00 | — "
                f"| — | — | — | {hello['tail']:.1f} |")
    if peer is not None:
        rows.append(f"| {PEER_PAGE} ({peer['name']}) | — | {hello['rps']:,.0f} | "
                    f"{peer['rps']:,.0f} | — | {peer['ratio']:.2f} | 1.00 | — | — | "
                    f"{peer['tail']:.1f} |")
    else:
        rows.append("| peer | not measured (see above) | | | | | | | | |")
    return rows


def report(all_results: dict):
    names = list(all_results)
    head = "| figure | target | " + " | ".join(names) + " |"
    rule = "|---|---|" + "---|" * len(names)
    rows = [head, rule]

    def row(label, target, fmt):
        cells = []
        for name in names:
            try:
                cells.append(fmt(all_results[name]))
            except KeyError:
                cells.append("n/a")
        rows.append(f"| {label} | {target} | " + " | ".join(cells) + " |")

    first = all_results[names[0]]
    for label in first["queries"]:
        target = "≤ 6" if label.startswith("POST") else "≤ 3"
        row(f"queries/request: {label}", target, lambda r, lb=label: str(r["queries"][lb][0]))
    budgets = {"GET /settings/profile (page)": "≤ 30 KB"}
    for label in first["queries"]:
        if "fragment" in label or label in budgets:
            row(f"bytes: {label}", budgets.get(label, "≤ 3 KB"),
                lambda r, lb=label: f"{r['queries'][lb][1] / 1024:.1f} KB")
    # The budget is for what travels: app.js gzipped (it is written to be read, not minified).
    own_js = len(gzip.compress((ROOT / "static" / "js" / "app.js").read_bytes(), 9))
    htmx = sum(p.stat().st_size for p in (ROOT / "static" / "vendor").glob("htmx-*.js"))
    rows.append(f"| bytes: our JavaScript, gzipped (+ vendored htmx {htmx / 1024:.1f} KB) "
                f"| ≤ 2 KB | " + " | ".join(f"{own_js / 1024:.1f} KB" for _ in names) + " |")
    row("sign-ins/s ÷ argon2 verifications/s", "≥ 0.8",
        lambda r: f"{r['login']['ratio']:.2f} ({r['login']['signins']:.0f}/"
                  f"{r['login']['argon2']:.0f})")
    for label in first["growth"]:
        row(f"first-page time ratio: {label}", "≤ 2",
            lambda r, lb=label: f"{r['growth'][lb]:.2f}")
    print()
    driver = "wrk" if shutil.which("wrk") else "the Python load driver"
    print(f"Measured {dt.date.today().isoformat()} on {platform.machine()}, "
          f"{os.cpu_count()} cores ({platform.system()} {platform.release()}); gunicorn "
          f"{WORKERS} sync workers, {driver} {CONNECTIONS} connections x {DURATION}s per run, "
          f"{RUNS} alternating runs (hello, ours, peer); the peer runs on SQLite in both.")
    for name in names:
        print()
        print("\n".join(load_table(name, all_results[name])))
    print()
    print("\n".join(rows))


def _services_up() -> bool:
    try:
        import psycopg2
        import redis

        psycopg2.connect(PG_URL, connect_timeout=3).close()
        redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
        return True
    except Exception as exc:  # noqa: BLE001 - reported, the PostgreSQL column is skipped
        print(f"PostgreSQL + Redis not reachable ({exc}); benchmarking SQLite only.")
        return False


PEER_VENV = Path(os.environ.get("BENCH_PEER_VENV") or Path(
    os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aesthetix-bench" / "peer-fst")


def peer_python() -> str | None:
    """The peer's own virtualenv, made once in a cache directory; None (said why) if it can't be.

    Its own because its pins are its own (SQLAlchemy, bcrypt, ...); gunicorn is pinned to our
    version so both run under the same server.
    """
    from importlib.metadata import version

    requirements = ["flask-security-too[common]>=5,<6", "flask-sqlalchemy",
                    f"gunicorn=={version('gunicorn')}"]
    python = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / ".bench-requirements"
    if stamp.exists() and stamp.read_text() == "\n".join(requirements):
        return str(python)
    print(f"Installing the peer (Flask-Security-Too) in its own virtualenv: {PEER_VENV}",
          flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER_VENV)], check=True,
                       capture_output=True, text=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *requirements],
                       check=True, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        detail = (getattr(exc, "stderr", None) or str(exc)).strip().splitlines()[-3:]
        print("Peer not installed, measuring without the peer column: " + " / ".join(detail))
        return None
    stamp.write_text("\n".join(requirements))
    return str(python)


def main():
    wanted = os.environ.get("BENCH_BACKENDS", "sqlite,postgresql").split(",")
    common = {
        "SECRET_KEY": "bench-" + uuid.uuid4().hex + uuid.uuid4().hex,
        "AESTHETIX_ENV": "development",
        "MAIL_BACKEND": "outbox",
        "SMS_BACKEND": "outbox",
        "DEMO_PASSWORD": PASSWORD,
        # Keep the wrong-code load on the wrong-code path (no per-challenge or per-user lock).
        "CODE_MAX_ATTEMPTS": str(10**9),
        "CODE_USER_FAILURE_LIMIT": str(10**9),
        "LOGIN_FAILURES_PER_ACCOUNT": "1000000 per minute",
        "LOGIN_FAILURES_PER_IP": "1000000 per minute",
        # The loads outlast a verification's default lifetime: keep them on the open path.
        "CODE_TTL_SECONDS": "7200",
        "LOGIN_PENDING_SECONDS": "7200",
    }
    python = peer_python()
    if python:
        os.environ["BENCH_PEER_PYTHON"] = python
    results = {}
    with tempfile.TemporaryDirectory(prefix="aesthetix-bench-") as tmp:
        if "sqlite" in wanted:
            results["SQLite + memory"] = run_isolated("sqlite", {
                **common, "DATABASE_URL": f"sqlite:///{tmp}/bench.db",
                "RATELIMIT_STORAGE_URI": "memory://"})
        if "postgresql" in wanted and _services_up():
            import psycopg2

            name = f"bench_{uuid.uuid4().hex[:10]}"
            admin = psycopg2.connect(PG_URL)
            admin.autocommit = True
            admin.cursor().execute(f'CREATE DATABASE "{name}"')
            prefix = f"bench{uuid.uuid4().hex[:8]}"
            try:
                results["PostgreSQL + Redis"] = run_isolated("postgresql", {
                    **common, "DATABASE_URL": PG_URL.rsplit("/", 1)[0] + "/" + name,
                    "RATELIMIT_STORAGE_URI": REDIS_URL, "RATELIMIT_KEY_PREFIX": prefix})
            finally:
                admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.close()
                import redis

                store = redis.from_url(REDIS_URL)
                for key in store.scan_iter(f"*{prefix}*"):
                    store.delete(key)
    report(results)


def run_isolated(name: str, env: dict) -> dict:
    """Each backend in its own interpreter: the app factory binds global extensions once."""
    out = subprocess.run([sys.executable, __file__, "--backend", name],
                         env={**os.environ, **env}, cwd=ROOT, check=True,
                         stdout=subprocess.PIPE, text=True)
    *log, last = out.stdout.rstrip().splitlines()
    print("\n".join(log), flush=True)
    return json.loads(last)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--backend":
        keys = ("SECRET_KEY", "AESTHETIX_ENV", "MAIL_BACKEND", "SMS_BACKEND", "DEMO_PASSWORD",
                "CODE_MAX_ATTEMPTS", "CODE_USER_FAILURE_LIMIT", "LOGIN_FAILURES_PER_ACCOUNT",
                "LOGIN_FAILURES_PER_IP", "CODE_TTL_SECONDS", "LOGIN_PENDING_SECONDS",
                "DATABASE_URL", "RATELIMIT_STORAGE_URI", "RATELIMIT_KEY_PREFIX")
        env = {k: os.environ[k] for k in keys if k in os.environ}
        print(json.dumps(bench_backend(sys.argv[2], env)))
    else:
        main()
