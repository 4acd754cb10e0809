"""Where a hot request spends its time: CPU per request and a per-component breakdown.

    make profile                                        # SQLite in a temporary directory
    make profile PROFILE_ARGS=--postgres                # PostgreSQL + Redis (BENCH_PG_URL...)
    make profile PROFILE_ARGS="--pstats --only page"    # cProfile: by package, top functions
    make profile PROFILE_ARGS="--metrics --only page fragment"  # with vs without /metrics hooks
    PROFILE_REQUESTS=200 PROFILE_ROUNDS=7 make profile  # steadier figures, slower

The app is called in process through its WSGI callable (no network, no test client in the
loop), with the session cookie and User-Agent a real sign-in produced. Each endpoint runs
ROUNDS rounds of REQUESTS requests and keeps the fastest round, as timeit does: on a machine
shared with other work the minimum is the figure least disturbed by it.

Two passes. The clean pass, with nothing patched, gives the CPU time per request
(time.process_time) that the README quotes. The instrumented pass wraps the entry points of
each component in a timer and charges every instant to the innermost component running, so
the components add up to no more than the total (gettext inside a template counts as
gettext, not Jinja; the user loader's query counts as SQL, not login). Its total is a little
above the clean one: the wrappers cost a fraction of a microsecond a call (printed, measured
on a no-op) and it is wall time, not CPU time. What is not one of the named components --
Werkzeug and Flask dispatch, request and response objects, building peewee query objects in
app code -- is "other"; `--pstats` shows it function by function.
On PostgreSQL "SQL run" is wall time and includes waiting for the server, which the clean
CPU figure does not.

The file is not called profile.py: `python bench/profile.py` would shadow the standard
library's `profile`, which cProfile imports.
"""

import argparse
import cProfile
import functools
import io
import os
import pstats
import re
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import (  # noqa: E402
    EMAIL,
    PASSWORD,
    PG_URL,
    REDIS_URL,
    USER_AGENT,
    in_process_signin,
)

REQUESTS = int(os.environ.get("PROFILE_REQUESTS", "100"))
ROUNDS = int(os.environ.get("PROFILE_ROUNDS", "5"))
EXTRA_MEMBERS = 55  # the demo team has 5: 60 members fill a first page of 50
EXTRA_EVENTS = 60  # on top of the sign-ins: a full first activity page of 50
HTMX = {"HX-Request": "true"}
OWNER = "owner@example.com"


# --- the app, seeded through its own functions ----------------------------------------------


def make_app(database_url: str, limiter_url: str, key_prefix: str):
    from webapp import create_app
    from webapp.db import migrate

    app = create_app({
        "SECRET_KEY": "profile-" + uuid.uuid4().hex * 2,
        "DATABASE_URL": database_url,
        "RATELIMIT_STORAGE_URI": limiter_url,
        "RATELIMIT_KEY_PREFIX": key_prefix,
        "MAIL_BACKEND": "outbox",
        "SMS_BACKEND": "outbox",
        # Cheap hashes: seeding 60 users must not take minutes; no profiled request hashes.
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 8192,
        # Keep the wrong-code loop on the wrong-code path (no lock after a few attempts).
        "CODE_MAX_ATTEMPTS": 10**9,
        "CODE_USER_FAILURE_LIMIT": 10**9,
    })
    migrate()
    return app


def seed(app) -> None:
    """The demo team, 55 more members (60 in all) and 60 more security events."""
    from webapp import audit
    from webapp.cli import DEMO_ORG, create_user, seed_demo
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context(), db.connection_context():
        seed_demo(PASSWORD)
        members = [create_user(f"member{i:02d}@example.com", PASSWORD, name=f"Member {i:02d}",
                               org_name=DEMO_ORG, phone=f"+120255502{i:02d}",
                               email_verified=True, phone_verified=i % 2 == 0)
                   for i in range(EXTRA_MEMBERS)]
        owner = User.by_email(OWNER)
        names = ("login.succeeded", "challenge.started", "phone.changed", "login.failed",
                 "challenge.failed", "password.changed")
        for i in range(EXTRA_EVENTS):
            audit.record(names[i % len(names)], subject=members[i % len(members)],
                         actor=owner if i % 3 == 0 else members[i % len(members)],
                         channel="email")


def sign_in(app, email: str):
    """A test client through the real sign-in (password, email code), our User-Agent."""
    return in_process_signin(app, email)


def cookie_of(client) -> str:
    """The Cookie header the client sends now (after the CSRF token is in the session)."""
    return client.get("/healthz").request.headers.get("Cookie", "")


# --- one request through the WSGI callable ----------------------------------------------------


class Endpoint:
    """A prebuilt WSGI environ; each call copies it and gives it a fresh body stream."""

    def __init__(self, label, app, method, path, headers=None, body=None, expect=200):
        from werkzeug.test import EnvironBuilder

        self.label, self.app, self.expect = label, app, expect
        self.body = urllib.parse.urlencode(body).encode() if body is not None else b""
        headers = {"User-Agent": USER_AGENT, **(headers or {})}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        builder = EnvironBuilder(path=path, method=method, headers=headers, data=self.body,
                                 environ_base={"REMOTE_ADDR": "127.0.0.1"})
        self.environ = builder.get_environ()
        builder.close()

    def __call__(self):
        environ = dict(self.environ)
        environ["wsgi.input"] = io.BytesIO(self.body)
        answer = []

        def start_response(status, headers, exc_info=None):
            answer.append((int(status.split()[0]), headers))

        result = self.app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return answer[0][0], answer[0][1], body

    def check(self) -> int:
        """One request: the expected status and no Set-Cookie (a replayed session is stable)."""
        status, headers, body = self()
        assert status == self.expect, (self.label, status, body[:300])
        cookies = [v for k, v in headers if k.lower() == "set-cookie"]
        assert not cookies, (self.label, "re-signed the cookie", cookies)
        return len(body)


def endpoints(app, hello_app):
    """The hot paths, in the order they are measured (the code step follows the choice)."""
    member, member_token = sign_in(app, EMAIL)
    owner, _ = sign_in(app, OWNER)
    # Start a phone change: its verification waits at "Choose how to verify".
    r = member.post("/settings/profile", headers=HTMX, data={
        "name": "", "email": EMAIL, "phone": "+12025550188",
        "csrf_token": member_token("/settings/profile")})
    cid = re.search(r"/verify/([\w-]+)", r.get_data(as_text=True)).group(1)
    vtoken = member_token(f"/verify/{cid}")
    mine = {"Cookie": cookie_of(member)}
    owners = {"Cookie": cookie_of(owner)}

    def choose_email():
        r = member.post(f"/verify/{cid}/channel", headers=HTMX,
                        data={"channel": "email", "csrf_token": vtoken})
        assert r.status_code == 200, r.status_code

    return [
        ("hello", None, Endpoint("bare Flask hello", hello_app, "GET", "/")),
        ("healthz", None, Endpoint("GET /healthz (anonymous)", app, "GET", "/healthz")),
        ("empty", None, Endpoint("GET /healthz signed in (loads the session)", app, "GET",
                                 "/healthz", mine)),
        ("2fa", None, Endpoint("GET 2FA section (htmx), signed in", app, "GET",
                               "/settings/profile/2fa", {**mine, **HTMX})),
        ("page", None, Endpoint("GET My Profile (page)", app, "GET", "/settings/profile",
                                mine)),
        ("fragment", None, Endpoint("GET My Profile (htmx fragment)", app, "GET",
                                    "/settings/profile", {**mine, **HTMX})),
        ("choose", None, Endpoint('GET "Choose how to verify" (htmx)', app, "GET",
                                  f"/verify/{cid}", {**mine, **HTMX})),
        ("code", choose_email, Endpoint("GET code step (htmx)", app, "GET", f"/verify/{cid}",
                                        {**mine, **HTMX})),
        ("wrong", None, Endpoint("POST wrong code (htmx)", app, "POST", f"/verify/{cid}/code",
                                 {**mine, **HTMX, "X-CSRFToken": vtoken},
                                 {"code": "000000", "csrf_token": vtoken}, expect=422)),
        ("team", None, Endpoint("GET team page of 50 (owner, htmx)", app, "GET",
                                "/settings/team", {**owners, **HTMX})),
        ("activity", None, Endpoint("GET activity page of 50 (owner, htmx)", app, "GET",
                                    "/settings/activity", {**owners, **HTMX})),
    ]


# --- timing -----------------------------------------------------------------------------------


def fastest_round(endpoint, clock, before=None, after=None):
    """(seconds per request on `clock`, what `after` returned) for the fastest round."""
    best = None
    for _ in range(ROUNDS):
        if before:
            before()
        started = clock()
        for _ in range(REQUESTS):
            endpoint()
        spent = (clock() - started) / REQUESTS
        extra = after() if after else None
        if best is None or spent < best[0]:
            best = (spent, extra)
    return best


class Breakdown:
    """Wall time per component; each instant is charged to the innermost component running."""

    def __init__(self):
        self.enabled = False
        self._stack = []  # [component, started, time in nested components]
        self.reset()

    def reset(self):
        self.calls = defaultdict(int)
        self.own = defaultdict(float)

    def snapshot(self):
        return dict(self.calls), dict(self.own)

    def cost_per_call(self) -> float:
        """Seconds a wrapper adds to one call (measured on a no-op, best of five)."""
        def noop():
            return None

        timed, n, best = self.wrap("calibration", noop), 20_000, float("inf")
        self.enabled = True
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(n):
                timed()
            wrapped = time.perf_counter() - started
            started = time.perf_counter()
            for _ in range(n):
                noop()
            best = min(best, (wrapped - (time.perf_counter() - started)) / n)
        self.enabled = False
        self.reset()
        return best

    def wrap(self, component, func):
        clock = time.perf_counter
        stack = self._stack

        @functools.wraps(func)
        def timed(*args, **kwargs):
            # A component re-entering itself (gettext calling gettext) is one call.
            if not self.enabled or (stack and stack[-1][0] == component):
                return func(*args, **kwargs)
            frame = [component, clock(), 0.0]
            stack.append(frame)
            try:
                return func(*args, **kwargs)
            finally:
                stack.pop()
                spent = clock() - frame[1]
                self.calls[component] += 1
                self.own[component] += spent - frame[2]
                if stack:
                    stack[-1][2] += spent

        return timed


COMPONENTS = (
    "SQL run (Database.execute_sql)",
    "SQL text (Database.execute)",
    "rows -> objects (CursorWrapper.iterate)",
    "Jinja (Template.render, own time)",
    "gettext (Flask-Babel, _ and _t)",
    "url_for",
    "template context processors",
    "WTForms construction",
    "session cookie open/save",
    "Flask-Login load_user",
    "before_request: Flask-Limiter",
    "before_request: CSRF",
    "before_request: other",
    "after_request hooks",
    "view code (own time)",
)


def instrument(app, breakdown: Breakdown) -> None:
    """Wrap each component's entry points (in place: this process only profiles)."""
    import flask
    import flask_babel
    import jinja2
    import peewee
    import wtforms.form

    from webapp.extensions import csrf, db, limiter, login_manager

    w = breakdown.wrap
    database = db.obj
    # Instance attributes: Database.execute calls self.execute_sql, so the nesting holds.
    database.execute_sql = w(COMPONENTS[0], database.execute_sql)
    database.execute = w(COMPONENTS[1], database.execute)
    peewee.CursorWrapper.iterate = w(COMPONENTS[2], peewee.CursorWrapper.iterate)
    jinja2.Template.render = w(COMPONENTS[3], jinja2.Template.render)
    # Python code calls flask_babel.gettext -> Domain.*; templates call the callables that
    # Flask-Babel installed in the Jinja globals (and our _t, which is flask_babel.gettext).
    for name in ("gettext", "ngettext", "pgettext", "npgettext"):
        setattr(flask_babel.Domain, name, w(COMPONENTS[4], getattr(flask_babel.Domain, name)))
    globals_ = app.jinja_env.globals
    for name in ("_", "gettext", "ngettext", "pgettext", "npgettext", "_t"):
        if name in globals_:
            globals_[name] = w(COMPONENTS[4], globals_[name])
    # flask.url_for calls current_app.url_for; the template global is a bound method.
    flask.Flask.url_for = w(COMPONENTS[5], flask.Flask.url_for)
    globals_["url_for"] = w(COMPONENTS[5], globals_["url_for"])
    flask.Flask.update_template_context = w(COMPONENTS[6], flask.Flask.update_template_context)
    wtforms.form.FormMeta.__call__ = w(COMPONENTS[7], wtforms.form.FormMeta.__call__)
    interface = app.session_interface
    interface.open_session = w(COMPONENTS[8], interface.open_session)
    interface.save_session = w(COMPONENTS[8], interface.save_session)
    login_manager._load_user = w(COMPONENTS[9], login_manager._load_user)
    for key, funcs in app.before_request_funcs.items():
        app.before_request_funcs[key] = [w(_hook_name(f, limiter, csrf), f) for f in funcs]
    for key, funcs in app.after_request_funcs.items():
        app.after_request_funcs[key] = [w(COMPONENTS[13], f) for f in funcs]
    for endpoint, view in app.view_functions.items():
        app.view_functions[endpoint] = w(COMPONENTS[14], view)


def _hook_name(func, limiter, csrf) -> str:
    if getattr(func, "__self__", None) is limiter:
        return COMPONENTS[10]
    if func.__module__.startswith("flask_wtf"):
        return COMPONENTS[11]
    return COMPONENTS[12]


# --- reports ----------------------------------------------------------------------------------


def print_totals(rows) -> None:
    width = max(len(label) for label, *_ in rows)
    print(f"\n{'endpoint':<{width}}  {'CPU ms/req':>10}  {'÷ hello':>8}  {'bytes':>6}")
    hello = rows[0][1]
    for label, cpu, size in rows:
        print(f"{label:<{width}}  {cpu * 1e3:>10.3f}  {cpu / hello:>8.1f}  {size:>6}")


def print_breakdown(label, clean_cpu, wall, calls, own, cost_per_call) -> None:
    """One endpoint: ms per request and % of the instrumented wall total, biggest first."""
    n = REQUESTS
    named = sum(own.values())
    overhead = sum(calls.values()) / n * cost_per_call
    print(f"\n{label}: {clean_cpu * 1e3:.3f} ms CPU/request clean; instrumented "
          f"{wall * 1e3:.3f} ms wall/request, of which the timers ~{overhead * 1e3:.3f} ms")
    print(f"  {'component':<42} {'calls':>6} {'ms/req':>8} {'%':>6}")
    rows = sorted(own.items(), key=lambda kv: -kv[1])
    rows.append(("other (Flask/Werkzeug, query objects, ...)", wall * n - named))
    for component, seconds in rows:
        if seconds / n < 5e-6 and component in own:  # under 0.005 ms: noise
            continue
        count = calls.get(component)
        shown = f"{count / n:>6.1f}" if count else f"{'':>6}"
        print(f"  {component:<42} {shown} {seconds / n * 1e3:>8.3f} {seconds / n / wall:>6.0%}")


def print_pstats(endpoint, top: int) -> None:
    """cProfile of REQUESTS requests: self time by package, then the top functions."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(REQUESTS):
        endpoint()
    profiler.disable()
    stats = pstats.Stats(profiler)
    by_package = defaultdict(float)
    for (filename, _, _), (_, _, own, _, _) in stats.stats.items():
        by_package[_package(filename)] += own
    total = sum(by_package.values())
    print(f"\n{endpoint.label}: cProfile self time by package (cProfile inflates small calls)")
    for package, own in sorted(by_package.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {package:<24} {own / REQUESTS * 1e3:>8.3f} ms/req {own / total:>6.0%}")
    stats.strip_dirs().sort_stats("tottime").print_stats(top)


def _package(filename: str) -> str:
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C)"
    path = Path(filename)
    if "site-packages" in path.parts:
        rest = path.parts[path.parts.index("site-packages") + 1:]
        return rest[0].removesuffix(".py")
    if ROOT in path.parents:
        return path.relative_to(ROOT).parts[0]
    return "stdlib"


# --- the run ----------------------------------------------------------------------------------


def run(database_url: str, limiter_url: str, key_prefix: str, args) -> None:
    from bench.hello import app as hello_app

    app = make_app(database_url, limiter_url, key_prefix)
    seed(app)
    plan = endpoints(app, hello_app)
    kind = "PostgreSQL + Redis" if args.postgres else "SQLite + memory://"
    how = ("cProfile" if args.pstats
           else f"{ROUNDS} rounds x {REQUESTS} requests per endpoint, fastest round kept")
    print(f"{kind}; {how}", flush=True)

    # The code step needs the choice made first: steps run in order, a skipped one's
    # preparation still runs (once), and hello is always measured as the yardstick.
    def wanted(key):
        return not args.only or key in args.only or (key == "hello" and not args.pstats)

    if args.pstats:
        for key, before, endpoint in plan:
            if before:
                before()
            if wanted(key):
                endpoint.check()
                print_pstats(endpoint, args.top)
        return

    if args.metrics:
        compare_metrics(app, plan, wanted)
        return

    # Clean pass, nothing patched: the CPU figures.
    clean, sizes = {}, {}
    for key, before, endpoint in plan:
        if before:
            before()
        if wanted(key):
            sizes[key] = endpoint.check()
            clean[key] = fastest_round(endpoint, time.process_time)[0]
    measured = [(key, endpoint) for key, _, endpoint in plan if key in clean]
    print_totals([(endpoint.label, clean[key], sizes[key]) for key, endpoint in measured])

    if args.totals_only:
        return
    # Instrumented pass: where the time goes.
    breakdown = Breakdown()
    cost = breakdown.cost_per_call()
    instrument(app, breakdown)
    breakdown.enabled = True
    for key, endpoint in measured:
        if key == "hello":
            continue
        wall, (calls, own) = fastest_round(endpoint, time.perf_counter, breakdown.reset,
                                           breakdown.snapshot)
        print_breakdown(endpoint.label, clean[key], wall, calls, own, cost)


def compare_metrics(app, plan, wanted) -> None:
    """CPU per request with the metrics hooks (webapp/metrics.py) and without them, rounds
    alternating so both see the same machine; the fastest round of each is kept.
    PROMETHEUS_MULTIPROC_DIR in the environment measures gunicorn's multi-process mode."""
    before_funcs, after_funcs = app.before_request_funcs[None], app.after_request_funcs[None]
    timer = next(f for f in before_funcs if f.__module__ == "webapp.metrics")
    observe = next(f for f in after_funcs if f.__module__ == "webapp.metrics")

    def metrics_on(on: bool):
        if on and timer not in before_funcs:
            before_funcs.insert(0, timer)
            after_funcs.append(observe)
        elif not on and timer in before_funcs:
            before_funcs.remove(timer)
            after_funcs.remove(observe)

    mode = ("multi-process (" + os.environ["PROMETHEUS_MULTIPROC_DIR"] + ")"
            if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else "single process")
    print(f"metrics hooks on vs off, {mode}")
    print(f"{'endpoint':45} {'on ms':>8} {'off ms':>8} {'on / off':>9}")
    for key, before, endpoint in plan:
        if before:
            before()
        if key == "hello" or not wanted(key):
            continue
        endpoint.check()
        best = {True: float("inf"), False: float("inf")}
        for _ in range(3):
            for on in (True, False):
                metrics_on(on)
                best[on] = min(best[on], fastest_round(endpoint, time.process_time)[0])
        metrics_on(True)
        print(f"{endpoint.label:45} {best[True] * 1000:8.3f} {best[False] * 1000:8.3f} "
              f"{best[True] / best[False]:9.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", action="store_true",
                        help="PostgreSQL + Redis instead of a temporary SQLite file")
    parser.add_argument("--pstats", action="store_true",
                        help="cProfile instead: self time by package and the top functions")
    parser.add_argument("--totals-only", action="store_true",
                        help="the clean CPU figures only, without the per-component pass")
    parser.add_argument("--top", type=int, default=25, help="functions shown with --pstats")
    parser.add_argument("--only", nargs="*", default=None,
                        help="endpoint keys: hello healthz empty 2fa page fragment choose code "
                             "wrong team activity")
    parser.add_argument("--metrics", action="store_true",
                        help="CPU per request with and without the metrics hooks")
    args = parser.parse_args()
    # DATABASE_URL naming PostgreSQL (as `make bench` and the services leg take it) means
    # PostgreSQL + Redis here too; the profile still runs on a database of its own.
    args.postgres = args.postgres or os.environ.get("DATABASE_URL", "").startswith("postgres")
    prefix = f"profile{uuid.uuid4().hex[:8]}"
    if not args.postgres:
        with tempfile.TemporaryDirectory(prefix="aesthetix-profile-") as tmp:
            run(f"sqlite:///{tmp}/profile.db", "memory://", prefix, args)
        return
    import psycopg2
    import redis

    name = f"profile_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(PG_URL)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        run(PG_URL.rsplit("/", 1)[0] + "/" + name, REDIS_URL, prefix, args)
    finally:
        from webapp.extensions import db

        if db.obj is not None and hasattr(db.obj, "close_all"):
            db.obj.close_all()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        store = redis.from_url(REDIS_URL)
        for key in store.scan_iter(f"*{prefix}*"):
            store.delete(key)


if __name__ == "__main__":
    main()
