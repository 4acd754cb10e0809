"""Aesthetix CRM account security: the application factory."""

import logging

from flask import Flask
from jinja2 import FileSystemLoader
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config as settings
from . import db as database
from . import logs, metrics, templating
from .extensions import csrf, init_babel, limiter, login_manager
from .ids import BoundedIntConverter

log = logging.getLogger(__name__)


def create_app(test_config: dict | None = None) -> Flask:
    """Defaults, then the environment, then the test mapping; then extensions and blueprints."""
    app = Flask(
        __name__,
        instance_path=str(settings.INSTANCE),
        static_folder=str(settings.ROOT / "static"),
    )
    app.config.update(settings.DEFAULTS)
    app.config.update(settings.from_environment())
    app.config.update(test_config or {})
    settings.finish(app.config, settings.INSTANCE)
    # Pages live in templates/, fragments in partials/ (addressed as "partials/...").
    app.jinja_loader = FileSystemLoader([str(settings.ROOT / "templates"), str(settings.ROOT)])
    templating.init_app(app)  # one template cache per locale, literal _() folded in

    if app.config["TRUSTED_PROXIES"]:
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    logs.init_app(app)
    database.init_app(app)
    init_babel(app)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    # Request timing first of the hooks, and /metrics (Prometheus).
    metrics.init_app(app)

    # Before any blueprint adds its routes: every `<int:...>` is bounded to a storable id.
    app.url_map.converters["int"] = BoundedIntConverter

    from . import auth, health, hooks, hotpath, profile, verify
    from .activity import bp as activity_bp
    from .auth import session as _session  # noqa: F401  (registers the user loader)
    from .cli import register as register_cli
    from .dev import bp as dev_bp
    from .passkeys import bp as passkeys_bp
    from .recovery import bp as recovery_bp
    from .rules import bp as rules_bp
    from .team import bp as team_bp
    from .team.join import bp as join_bp
    from .twofactor import bp as twofactor_bp
    from .verify import purposes

    app.register_blueprint(auth.bp)
    app.register_blueprint(profile.bp)
    app.register_blueprint(verify.bp)
    app.register_blueprint(activity_bp)
    app.register_blueprint(dev_bp)
    app.register_blueprint(team_bp)
    app.register_blueprint(join_bp)
    app.register_blueprint(twofactor_bp)
    app.register_blueprint(recovery_bp)
    app.register_blueprint(passkeys_bp)
    app.register_blueprint(rules_bp)
    # Every step-up purpose, declared in one table (webapp/verify/purposes.py).
    purposes.init_app(app)
    hooks.register(app)
    from .delivery import notices

    notices.init_app(app)  # security notices sent after commit; `flask deliver`
    register_cli(app)

    health.register(app)
    hotpath.init_app(app)

    return app
