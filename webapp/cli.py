"""Command line: init-db, seed-demo, create-user."""

import os

import click
from flask import current_app
from peewee import IntegrityError

from . import db as database
from .config import describe
from .extensions import db
from .models import Membership, Organization, User, utcnow
from .profile.forms import normalise_email, normalise_phone
from .security import passwords

DEMO_ORG = "Aesthetix Demo"
DEMO_PASSWORD = "demo-password-aesthetix"  # noqa: S105 - documented demo data  # nosec B105
DEMO_USERS = (
    # email, name, role, phone, email verified, phone verified
    ("owner@example.com", "Olivia Owner", "owner", "+12025550101", True, True),
    ("admin@example.com", "Adam Admin", "admin", "+12025550102", True, True),
    ("member@example.com", "Mia Member", "member", "+12025550103", True, True),
    ("casey@example.com", "Casey Unverified-Phone", "member", "+12025550104", True, False),
    ("newbie@example.com", "Noah New", "member", None, False, False),
)


def create_user(email, password, *, name="", org_name=None, role="member", phone=None,
                email_verified=False, phone_verified=False) -> User:
    """Validate and create one user (and their membership); ValueError on bad input."""
    email = normalise_email(email)
    phone = normalise_phone(phone) if phone else None
    if role not in Membership.ROLES:
        raise ValueError(f"Role must be one of {', '.join(Membership.ROLES)}.")
    if phone_verified and not phone:
        raise ValueError("--phone-verified needs --phone.")
    if len(password) < passwords.MIN_LENGTH or len(password) > passwords.MAX_LENGTH:
        raise ValueError(f"Password must be {passwords.MIN_LENGTH}-{passwords.MAX_LENGTH} "
                         "characters.")
    params = passwords.Argon2Params.from_config(current_app.config)
    now = utcnow()
    with db.atomic():
        try:
            user = User.create(
                email=email, name=name, password_hash=passwords.hash_password(password, params),
                phone=phone, email_verified_at=now if email_verified else None,
                phone_verified_at=now if phone_verified else None,
            )
        except IntegrityError as exc:
            raise ValueError(f"A user with email {email} already exists.") from exc
        if org_name:
            org = Organization.get_or_none(Organization.name == org_name) or \
                Organization.create(name=org_name)
            Membership.create(user=user, organization=org, role=role,
                              can_edit_team_profiles=role in ("owner", "admin"))
    return user


def seed_demo(password: str) -> bool:
    """The demo team; False when it already exists."""
    if Organization.select().where(Organization.name == DEMO_ORG).exists():
        return False
    for email, name, role, phone, ev, pv in DEMO_USERS:
        create_user(email, password, name=name, org_name=DEMO_ORG, role=role, phone=phone,
                    email_verified=ev, phone_verified=pv)
    return True


def register(app):
    @app.cli.command("init-db")
    def init_db():
        """Create or upgrade the schema (safe to run again)."""
        applied = database.migrate()
        click.echo(f"Database ready ({len(applied)} migration(s) applied).")

    @app.cli.command("describe")
    def describe_command():
        """Print the mode, database, limiter storage and mail/SMS backends in force."""
        for line in describe(current_app.config):
            click.echo(line)

    @app.cli.command("seed-demo")
    def seed_demo_command():
        """Create the demo team once and print how to sign in."""
        database.migrate()
        password = os.environ.get("DEMO_PASSWORD", DEMO_PASSWORD)
        with db.connection_context():
            created = seed_demo(password)
        click.echo("Demo team " + ("created." if created else "already present."))
        click.echo(f"Sign in at http://{os.environ.get('HOST', '127.0.0.1')}:"
                   f"{os.environ.get('PORT', '5000')}/login with password: {password}")
        for email, _, role, phone, ev, pv in DEMO_USERS:
            state = ", ".join(filter(None, [
                "email verified" if ev else "email unverified",
                (f"phone {phone} " + ("verified" if pv else "unverified")) if phone else "no phone",
            ]))
            click.echo(f"  {email:<22} {role:<7} {state}")
        if current_app.config["DEV_OUTBOX"]:
            click.echo("Codes and notices arrive in the dev outbox: /dev/outbox")

    @app.cli.command("create-user")
    @click.argument("email")
    @click.option("--password", required=True)
    @click.option("--name", default="")
    @click.option("--org", "org_name", default=None)
    @click.option("--role", type=click.Choice(Membership.ROLES), default="member")
    @click.option("--phone", default=None, help="E.164, e.g. +12025550101")
    @click.option("--email-verified", is_flag=True)
    @click.option("--phone-verified", is_flag=True)
    def create_user_command(email, password, name, org_name, role, phone, email_verified,
                            phone_verified):
        """Create a user (optionally in an organisation)."""
        with db.connection_context():
            try:
                user = create_user(email, password, name=name, org_name=org_name, role=role,
                                   phone=phone, email_verified=email_verified,
                                   phone_verified=phone_verified)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from exc
        click.echo(f"Created user {user.email} (id {user.id}).")
