"""Settings > My Profile > Two-factor authentication: authenticator app and backup codes.

Importing this package registers the 'totp' and 'backup' code checks and the effects of the
'regenerate_backup_codes' and 'disable_totp' verifications with the step-up engine.
"""

from flask import Blueprint

bp = Blueprint("twofactor", __name__, url_prefix="/settings/profile/2fa")

from . import routes  # noqa: E402,F401
