from flask import Blueprint

# No url_prefix: the team pages live under /settings/team and the exit from "Login as"
# is /impersonation/exit.
bp = Blueprint("team", __name__)

from . import routes  # noqa: E402,F401
