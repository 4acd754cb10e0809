from flask import Blueprint

bp = Blueprint("activity", __name__, url_prefix="/settings/activity")

from . import display, routes  # noqa: E402,F401
