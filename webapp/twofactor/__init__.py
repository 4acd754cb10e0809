"""Settings > My Profile > Two-factor authentication: authenticator app and backup codes.

Routes in routes.py; the code checks and the effects of the verifications in effects.py
(wired through the purpose table, webapp/verify/purposes.py).
"""

from flask import Blueprint

bp = Blueprint("twofactor", __name__, url_prefix="/settings/profile/2fa")

from .effects import load_keys  # noqa: E402


@bp.record_once
def _load_keys(state):

    load_keys(state.app)


from . import routes  # noqa: E402,F401
