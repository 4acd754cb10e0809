"""S-10, the smaller findings of the second security round: one section per item."""

import csv
import io
import os
import stat
from pathlib import Path

import pytest
from conftest import HTMX, post, signin

from security.test_headers import get_paths
from webapp import config as settings
from webapp.extensions import db
from webapp.ids import MAX_ID
from webapp.models import AuditEvent, Membership, User

# --- S-10.1 ids past 64 bits are a 404 (path) or a clear 400 (query), never a 500 ----------

TOO_BIG = [str(MAX_ID + 1), "9" * 30, "9" * 5000]


@pytest.fixture
def owner(client):
    signin(client, "owner@example.com")
    return client


def int_routes(app):
    """(method, path template) of every route with an `<int:...>` part."""
    found = []
    for rule in app.url_map.iter_rules():
        if "<int:" in rule.rule:
            for method in sorted(rule.methods & {"GET", "POST"}):
                found.append((method, rule.rule))
    return found


def test_s10_1_every_int_route_answers_404_for_ids_past_64_bits(app, owner):
    routes = int_routes(app)
    assert ("GET", "/settings/team/<int:user_id>") in routes
    for method, rule in routes:
        for value in TOO_BIG + [str(MAX_ID)]:
            path = rule.split("<int:", 1)[0] + value + rule.split(">", 1)[1]
            for headers in ({}, HTMX):
                if method == "GET":
                    r = owner.get(path, headers=headers)
                else:
                    r = post(owner, path, {"name": "x"}, token_from="/settings/team",
                             headers=headers)
                assert r.status_code == 404, (method, path[:60], r.status_code)
                if headers:
                    assert r.headers["HX-Retarget"] == "#toasts"


@pytest.mark.parametrize("url, name", [
    ("/settings/team", "after"),
    ("/settings/activity", "before"),
])
@pytest.mark.parametrize("value", TOO_BIG + ["abc", "-1", "1e3", " 7", "\uff17", "\u00b2"])
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_s10_1_bad_page_markers_are_a_clear_400(owner, url, name, value, htmx):
    r = owner.get(url, query_string={name: value}, headers=HTMX if htmx else {})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "invalid page marker" in html
    assert ("<html" in html) is (not htmx)
    if htmx:
        assert r.headers["HX-Retarget"] == "#toasts"


@pytest.mark.parametrize("url, name", [
    ("/settings/team", "after"),
    ("/settings/activity", "before"),
])
def test_s10_1_the_largest_id_is_still_a_page(owner, url, name):
    assert owner.get(url, query_string={name: str(MAX_ID)}).status_code == 200
    assert owner.get(url, query_string={name: ""}).status_code == 200


def test_s10_1_export_never_fails_on_a_huge_before(owner):
    # The export walks every page itself and takes no `before` from the link.
    r = owner.get("/settings/activity/export.csv", query_string={"before": "9" * 30})
    assert r.status_code == 200 and "login.succeeded" in r.get_data(as_text=True)


# --- S-10.2 production refuses the outbox backends; `make serve` says what it runs ---------


def production(**overrides):
    return {**settings.DEFAULTS, "ENV_NAME": "production", "SECRET_KEY": "p" * 48,
            "MAIL_BACKEND": "smtp", "SMS_BACKEND": "webhook",
            "PUBLIC_URL": "https://crm.example.com", **overrides}


@pytest.mark.parametrize("outbox", [
    {"MAIL_BACKEND": "outbox"}, {"SMS_BACKEND": "outbox"},
    {"MAIL_BACKEND": "outbox", "SMS_BACKEND": "outbox"},
])
def test_s10_2_production_refuses_an_outbox_backend(tmp_path, outbox):
    with pytest.raises(settings.ConfigError) as refused:
        settings.finish(production(**outbox), tmp_path)
    message = str(refused.value)
    for name in outbox:
        assert f"{name}=outbox" in message
    assert "plain text" in message and "ALLOW_OUTBOX_IN_PRODUCTION=1" in message


def test_s10_2_production_with_the_default_backends_does_not_start(monkeypatch, tmp_path):
    from webapp import create_app

    monkeypatch.setenv("AESTHETIX_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "p" * 48)
    for name in ("MAIL_BACKEND", "SMS_BACKEND", "ALLOW_OUTBOX_IN_PRODUCTION"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(settings.ConfigError, match="MAIL_BACKEND=outbox and SMS_BACKEND=outbox"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"})


def test_s10_2_the_outbox_in_production_needs_an_explicit_opt_in(tmp_path):
    assert settings.DEFAULTS["ALLOW_OUTBOX_IN_PRODUCTION"] is False
    allowed = settings.from_environment({"ALLOW_OUTBOX_IN_PRODUCTION": "1"})
    assert allowed == {"ALLOW_OUTBOX_IN_PRODUCTION": True}
    config = production(MAIL_BACKEND="outbox", SMS_BACKEND="outbox", **allowed)
    settings.finish(config, tmp_path)
    assert config["DEV_OUTBOX"] is False  # the page showing the codes stays off regardless
    settings.finish(production(), tmp_path)  # real backends need no opt-in
    settings.finish({**settings.DEFAULTS, "SECRET_KEY": "d" * 48}, tmp_path)  # development


def test_s10_2_describe_prints_the_mode_storage_and_backends(app):
    out = app.test_cli_runner().invoke(args=["describe"]).output
    assert "development mode" in out
    # sqlite and memory here; postgresql and redis in the services leg.
    database, limiter = (app.config[k].split(":", 1)[0]
                         for k in ("DATABASE_URL", "RATELIMIT_STORAGE_URI"))
    assert f"database:    {database} (" in out and f"rate limits: {limiter} (" in out
    assert "mail:        outbox" in out and "SMS:         outbox" in out


def test_s10_2_describe_never_prints_credentials():
    lines = "\n".join(settings.describe(production(
        DATABASE_URL="postgresql://aesthetix:db-pass@db.internal:5432/aesthetix",
        RATELIMIT_STORAGE_URI="redis://:redis-pass@redis.internal:6379/0",
        MAIL_SERVER="smtp.example.com", MAIL_PORT=587, MAIL_PASSWORD="mail-pass",
        SMS_WEBHOOK_URL="https://hook:hook-pass@sms.internal/send?token=tok-pass")))
    assert "production mode" in lines
    assert "postgresql (db.internal:5432/aesthetix)" in lines
    assert "redis (redis.internal:6379/0)" in lines
    assert "smtp (smtp.example.com:587)" in lines and "webhook (sms.internal/send)" in lines
    assert "pass" not in lines


def test_s10_2_make_serve_describes_before_it_serves():
    makefile = (settings.ROOT / "Makefile").read_text()
    serve = makefile.split("\nserve:", 1)[1].split("\n\n", 1)[0]
    assert serve.index("describe") < serve.index("gunicorn")


# --- S-10.3 instance/ and the SQLite files are readable by the owner only ------------------


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def sqlite_app(url):
    """An app on its own SQLite file, schema applied; the pool stays open (so does the WAL)."""
    from webapp import create_app
    from webapp.db import migrate

    app = create_app({"TESTING": True, "SECRET_KEY": "m" * 48, "DATABASE_URL": url})
    with app.app_context():
        migrate()
    return app, db.obj


@pytest.fixture
def umask_022():
    """The usual umask, under which files are created world-readable unless asked otherwise."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_s10_3_instance_directory_is_owner_only(tmp_path, umask_022):
    made = tmp_path / "instance"
    settings.dev_secret_key(made)
    assert mode(made) == 0o700 and mode(made / "secret_key") == 0o600
    older = tmp_path / "older"
    older.mkdir(mode=0o755)
    settings.dev_secret_key(older)  # an instance/ from before the fix is tightened
    assert mode(older) == 0o700


def test_s10_3_sqlite_database_and_side_files_are_owner_only(tmp_path, umask_022):
    database = tmp_path / "instance" / "app.db"
    app, pool = sqlite_app(f"sqlite:///{database}")
    try:
        side_files = [Path(f"{database}-wal"), Path(f"{database}-shm")]
        assert all(p.exists() for p in side_files)  # WAL mode, a connection in the pool
        assert mode(database.parent) == 0o700
        assert [mode(p) for p in [database, *side_files]] == [0o600] * 3
        # Files left readable by an older version are tightened by the next start.
        for p in [database, *side_files]:
            p.chmod(0o644)
        _, again = sqlite_app(f"sqlite:///{database}")
        again.close_all()
        assert [mode(p) for p in [database, *side_files]] == [0o600] * 3
    finally:
        pool.close_all()


def test_s10_3_an_existing_directory_outside_instance_keeps_its_mode(tmp_path, umask_022):
    shared = tmp_path / "srv"
    shared.mkdir(mode=0o755)
    _, pool = sqlite_app(f"sqlite:///{shared / 'app.db'}")
    pool.close_all()
    assert mode(shared) == 0o755 and mode(shared / "app.db") == 0o600


# --- S-10.4 Permissions-Policy and Cross-Origin-Opener-Policy on every answer --------------


def policy(r) -> dict:
    directives = [d.strip() for d in r.headers.get("Permissions-Policy", "").split(",") if d]
    return dict(d.split("=", 1) for d in directives)


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_s10_4_every_answer_denies_unused_features_and_isolates_its_window(app, owner, htmx):
    with db.connection_context():
        member_id = User.by_email("member@example.com").id
    answers = []
    for path in get_paths(app, member_id) + ["/nope", "/static/js/app.js"]:
        answers.append(owner.get(path, headers=HTMX if htmx else {}))
        answers[-1].close()  # the CSV export streams: end it before the next request
    answers.append(app.test_client().get("/settings/profile"))  # signed out: a redirect
    for r in answers:
        where = (r.request.path, r.status_code)
        allowed = policy(r)
        for feature in ("camera", "microphone", "geolocation", "payment", "usb", "serial",
                        "hid", "display-capture", "xr-spatial-tracking"):
            assert allowed.get(feature) == "()", (where, feature)
        assert r.headers.get("Cross-Origin-Opener-Policy") == "same-origin", where


def test_s10_4_only_webauthn_is_allowed_and_only_for_this_origin(client):
    allowed = policy(client.get("/login"))
    granted = {name: value for name, value in allowed.items() if value != "()"}
    assert granted == {"publickey-credentials-get": "(self)",
                       "publickey-credentials-create": "(self)"}


# --- S-10.5 the CSV export neutralises cells that start with ";" ---------------------------


def export_rows(client, query=""):
    r = client.get("/settings/activity/export.csv" + query)
    assert r.status_code == 200
    return list(csv.reader(io.StringIO(r.get_data(as_text=True))))


def test_s10_5_csv_cells_starting_with_a_semicolon_are_text(owner, dbconn):
    casey = User.by_email("casey@example.com")
    AuditEvent.create(organization=Membership.get(Membership.user == casey.id).organization_id,
                      subject=casey, actor=casey, event="login.failed", ip=";1.2.3.4",
                      user_agent=';=HYPERLINK("http://evil.example")')
    row = next(r for r in export_rows(owner, "?event=login.failed") if r[3] == casey.email)
    assert row[6] == "';1.2.3.4" and row[7] == "';=HYPERLINK(\"http://evil.example\")"


def test_csv_every_cell_is_quoted_so_a_semicolon_separator_cannot_split_it(owner, dbconn):
    """A spreadsheet that splits on ";" (common outside English locales) keeps a hostile
    user agent in its cell: every field is quoted."""
    casey = User.by_email("casey@example.com")
    AuditEvent.create(organization=Membership.get(Membership.user == casey.id).organization_id,
                      subject=casey, actor=casey, event="login.failed", ip="192.0.2.1",
                      user_agent='Mozilla/5.0; =cmd|" /C calc"!A0')
    r = owner.get("/settings/activity/export.csv?event=login.failed")
    lines = r.get_data(as_text=True).splitlines()
    assert lines[0].startswith('"time_utc","event",')
    hostile = next(line for line in lines if "calc" in line)
    assert ',"Mozilla/5.0; =cmd|"" /C calc""!A0",' in hostile + ","
    assert hostile.startswith('"') and '","login.failed","' in hostile


# --- S-10.6 a member's own log hides the IP and device of an admin who acted on them -------

ADMIN_IP, ADMIN_AGENT = "203.0.113.9", "AdminBrowser/9.9"
OWN_IP, OWN_AGENT = "198.51.100.7", "MemberBrowser/2.0"
STRANGER_IP = "192.0.2.66"


@pytest.fixture
def events_on_the_member(dbconn):
    """An admin's change, the member's own change and a stranger's failed sign-in."""
    member, admin = User.by_email("member@example.com"), User.by_email("admin@example.com")
    org = Membership.get(Membership.user == member.id).organization_id
    for event, actor, ip, agent in (("login.failed", None, STRANGER_IP, "Stranger/1.0"),
                                    ("password.changed", member, OWN_IP, OWN_AGENT),
                                    ("phone.changed", admin, ADMIN_IP, ADMIN_AGENT)):
        AuditEvent.create(organization=org, subject=member, actor=actor, event=event, ip=ip,
                          user_agent=agent)
    return member


def row_of(html, event):
    return html.split(f'data-event="{event}"', 1)[1].split("</tr>", 1)[0]


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_s10_6_member_sees_an_admins_change_but_not_the_admins_ip_or_device(
        member_client, events_on_the_member, htmx):
    headers = HTMX if htmx else {}
    pages = [member_client.get("/settings/activity", headers=headers).get_data(as_text=True),
             # "Older events" renders the rows partial on its own.
             member_client.get("/settings/activity", query_string={"before": str(MAX_ID)},
                               headers=headers).get_data(as_text=True)]
    for html in pages:
        admin_row = row_of(html, "phone.changed")
        assert "admin@example.com" in admin_row and "member@example.com" in admin_row
        assert ADMIN_IP not in html and ADMIN_AGENT not in html
        assert OWN_IP in row_of(html, "password.changed")
        assert OWN_AGENT in row_of(html, "password.changed")
        assert STRANGER_IP in row_of(html, "login.failed")  # whoever tried their password


def test_s10_6_member_export_leaves_out_the_admins_ip_and_device(member_client,
                                                                   events_on_the_member):
    rows = {r[1]: r for r in export_rows(member_client)[1:]}
    assert rows["phone.changed"][2:4] == ["admin@example.com", "member@example.com"]
    assert rows["phone.changed"][6:8] == ["", ""]
    assert rows["password.changed"][6:8] == [OWN_IP, OWN_AGENT]
    assert rows["login.failed"][6] == STRANGER_IP


@pytest.mark.parametrize("who", ["owner@example.com", "admin@example.com"])
def test_s10_6_owners_and_admins_still_see_the_ip_and_device(client, events_on_the_member, who):
    signin(client, who)
    html = client.get("/settings/activity").get_data(as_text=True)
    assert ADMIN_IP in row_of(html, "phone.changed") and ADMIN_AGENT in row_of(html,
                                                                               "phone.changed")
    rows = {r[1]: r for r in export_rows(client, "?person=member@example.com")[1:]}
    assert rows["phone.changed"][6:8] == [ADMIN_IP, ADMIN_AGENT]
