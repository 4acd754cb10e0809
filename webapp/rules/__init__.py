"""Settings > Team > Security rules: what an organisation's owner requires of every member."""

from flask import Blueprint

bp = Blueprint("rules", __name__)

from . import routes  # noqa: E402,F401
