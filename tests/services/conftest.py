"""The app under `gunicorn -w 4` on loopback, against PostgreSQL and Redis, and an HTTP client.

Every run gets a throwaway PostgreSQL database and its own Redis key prefix. A missing
PostgreSQL or Redis is an error here, never a skip: these tests run only when selected
with `-m services` (make test-services).
"""

import http.cookiejar
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
from conftest import PASSWORD, free_port

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/13")
CSRF_RE = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
WORKERS = 4


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.text = status, headers, body

    def __repr__(self):
        return f"<Response {self.status} {self.headers.get('Location', '')}>"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    """A browser-like client: a cookie jar, no redirect following, CSRF from the last page."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  _NoRedirect())

    def request(self, method, path, data=None, headers=None) -> Response:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as r:
                return Response(r.status, r.headers, r.read().decode())
        except urllib.error.HTTPError as exc:
            return Response(exc.code, exc.headers, exc.read().decode())

    def get(self, path, **kw) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path, data, **kw) -> Response:
        return self.request("POST", path, data=data, **kw)

    def token(self, path) -> str:
        page = self.get(path)
        match = CSRF_RE.search(page.text)
        assert match, f"no csrf token on {path}: {page.status}"
        return match.group(1)


class Server:
    """The running gunicorn: its URL, and SQL access to its database for assertions."""

    def __init__(self, url, database_url, env):
        self.url, self.database_url, self.env = url, database_url, env

    def client(self) -> Client:
        return Client(self.url)

    def query(self, sql, *params):
        import psycopg2

        with psycopg2.connect(self.database_url) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def scalar(self, sql, *params):
        return self.query(sql, *params)[0][0]

    def last_code(self, to, kind="email") -> str:
        # Email codes only: a notice (a new-device sign-in) may have come after the code.
        rows = self.query('SELECT body FROM outbox_message WHERE "to" = %s AND kind = %s '
                          "AND (kind <> 'email' OR subject LIKE %s) ORDER BY id DESC LIMIT 1",
                          to, kind, "Your Aesthetix CRM code%")
        assert rows, f"no {kind} to {to}"
        return re.search(r"\b(\d{6})\b", rows[0][0]).group(1)

    def step_up(self, c, response, email) -> Response:
        """Finish the "Verify it's you" a 303 to /verify/… opened, with an email code."""
        assert response.status == 303, response.text[:500]
        verify = urllib.parse.urlsplit(response.headers["Location"]).path
        assert verify.startswith("/verify/"), verify
        token = c.token(verify)
        r = c.post(verify + "/channel", {"channel": "email", "csrf_token": token})
        assert r.status == 303, r.text[:500]
        return c.post(verify + "/code", {"code": self.last_code(email), "csrf_token": token})

    def signin(self, email, password=PASSWORD) -> Client:
        """Password, then an email code: a signed-in client (one session row)."""
        c = self.client()
        r = c.post("/login", {"email": email, "password": password,
                              "csrf_token": c.token("/login")})
        assert r.status == 303, r.text[:500]
        verify = urllib.parse.urlsplit(r.headers["Location"]).path
        token = c.token(verify)
        r = c.post(verify + "/channel", {"channel": "email", "csrf_token": token})
        assert r.status == 303, r.text[:500]
        r = c.post(verify + "/code", {"code": self.last_code(email), "csrf_token": token})
        assert r.status == 303, r.text[:500]
        return c


def run_parallel(calls):
    """Run every callable at the same moment in its own thread; results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def worker(i, call):
        barrier.wait()
        try:
            results[i] = call()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    return results


def _flask(env, *args):
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=120)


def _wait_ready(url, proc, log_path, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gunicorn exited ({proc.returncode}):\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"gunicorn did not become healthy:\n{log_path.read_text()}")


def _wait_workers(log_path, count, timeout=30.0):
    """Healthy means one worker is up; the races need all of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_path.read_text().count("Booting worker") >= count:
            return
        time.sleep(0.2)
    pytest.fail(f"fewer than {count} gunicorn workers:\n{log_path.read_text()}")


@pytest.fixture(scope="module")
def gunicorn_server(tmp_path_factory, request):
    """`gunicorn -w 4` on a free loopback port, a fresh PostgreSQL database seeded by the CLI.

    A test module may set `SERVER_ENV` (a dict) to override settings for its server.
    """
    import psycopg2
    import redis

    name = f"svc_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(PG_URL)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    database_url = PG_URL.rsplit("/", 1)[0] + "/" + name
    prefix = f"svc{uuid.uuid4().hex[:10]}"
    store = redis.from_url(REDIS_URL)
    store.ping()  # no Redis is an error in this leg, never a skip
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": prefix,
        "SECRET_KEY": "services-test-secret-" + uuid.uuid4().hex,
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST": "8192",
        "MAIL_BACKEND": "outbox",
        "SMS_BACKEND": "outbox",
        # Per-challenge attempts out of the way: the per-user failure limit is under test.
        "CODE_MAX_ATTEMPTS": "100",
        "DEMO_PASSWORD": PASSWORD,
        "WEB_CONCURRENCY": str(WORKERS),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "GUNICORN_ACCESS_LOG": "",
        # These tests sign the same people in many times: the code-sending limits are lifted
        # unless a module tests them (test_s5_sending_limits.py keeps the defaults).
        "CODE_SENDS_PER_DESTINATION": "10000 per hour",
        "CODE_SENDS_PER_ACCOUNT": "10000 per hour",
        "CODE_SENDS_PER_IP": "10000 per hour",
        **getattr(request.module, "SERVER_ENV", {}),
    }
    env.pop("AESTHETIX_ENV", None)
    _flask(env, "init-db")
    _flask(env, "seed-demo")
    log_path = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log_path)
        _wait_workers(log_path, WORKERS)
        server = Server(url, database_url, env)
        server.log_path = log_path
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for key in store.scan_iter(f"*{prefix}*"):
            store.delete(key)
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
