"""The shape the README promises: pure decision modules, no blueprint importing another's
routes, every step-up purpose declared in one table, an unknown purpose a 404."""

import ast
from pathlib import Path

import pytest
from conftest import signin

from webapp.extensions import db
from webapp.models import Challenge, User, utcnow
from webapp.security import channels
from webapp.verify.purposes import TABLE

WEBAPP = Path(__file__).resolve().parent.parent / "webapp"
PURE = ("codes", "channels", "passwords", "totp", "crypto")
# crypto raises the app's ConfigError (config.py is plain Python, no Flask, no models).
ALLOWED = {"crypto": {"config"}}


def relative_imports(path: Path) -> set[str]:
    """The app modules a file imports (relative imports, as written: '.', '..models', ...)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            found.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import | ast.ImportFrom) and "webapp" in ast.dump(node):
            found.add("webapp")
    return found


@pytest.mark.parametrize("name", PURE)
def test_pure_security_modules_import_nothing_from_the_app(name):
    imports = relative_imports(WEBAPP / "security" / f"{name}.py")
    outside = {i for i in imports if i not in (".", ".codes", ".totp")}
    assert outside <= {".." + a for a in ALLOWED.get(name, set())}, outside


def test_no_blueprint_imports_another_blueprints_routes():
    offenders = []
    for path in WEBAPP.rglob("*.py"):
        for imported in relative_imports(path):
            if imported.endswith(".routes") or imported == "..routes":
                offenders.append(f"{path.relative_to(WEBAPP)} imports {imported}")
    assert offenders == []


def test_every_purpose_is_declared_once_with_its_effects(app):
    assert app.extensions["purposes"] is TABLE
    assert set(TABLE) == {"login", "verify_email", "verify_phone", "change_phone",
                          "change_email", "enable_totp", "regenerate_backup_codes",
                          "disable_totp", "reset_member_2fa", "add_passkey", "remove_passkey",
                          "invite_privileged", "change_rules", "change_access"}
    for name, purpose in TABLE.items():
        assert purpose.name == name and callable(purpose.apply) and callable(purpose.after)
        assert purpose.title and purpose.text and purpose.starters
        assert purpose.channels in channels.RULES


def test_an_unknown_purpose_is_a_404_not_a_500(app, client):
    signin(client, "member@example.com")
    with db.connection_context():
        member = User.by_email("member@example.com")
        Challenge.create(id="retired-purpose", subject=member, actor=member,
                         purpose="retired_purpose", created_at=utcnow(),
                         expires_at=utcnow().replace(year=2100))
    assert client.get("/verify/retired-purpose").status_code == 404


def test_the_table_says_who_may_start_a_purpose(app):
    """An admin may start a member's phone change, never a member's email change."""
    from werkzeug.exceptions import Forbidden

    from webapp.verify import engine

    with app.test_request_context(), db.connection_context():
        admin, member = User.by_email("admin@example.com"), User.by_email("member@example.com")
        assert engine.start(member, admin, "change_phone", {"phone": "+12025550177"}).id
        with pytest.raises(Forbidden):
            engine.start(member, admin, "change_email", {"email": "x@example.com"})
