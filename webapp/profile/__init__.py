from flask import Blueprint

bp = Blueprint("profile", __name__, url_prefix="/settings/profile")

from . import routes  # noqa: E402,F401
