"""Passkeys (WebAuthn): Settings > My Profile > Passkeys, "Sign in with a passkey" on the
sign-in page, and the `passkey` channel of "Choose how to verify".

Routes in routes.py; the engine's passkey check and the effects of the verifications that add
or remove a passkey in effects.py (wired through the purpose table, webapp/verify/purposes.py).
"""

from flask import Blueprint

bp = Blueprint("passkeys", __name__)

from .effects import check_config  # noqa: E402


@bp.record_once
def _check_config(state):
    check_config(state.app)


from . import routes  # noqa: E402,F401
