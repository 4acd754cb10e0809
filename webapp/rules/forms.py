from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField
from wtforms.validators import InputRequired, NumberRange

MAX_GRACE_DAYS = 90


class RulesForm(FlaskForm):
    """The organisation's security rules, set by an owner."""

    require_strong_factor = BooleanField(_l("Require an authenticator app or passkey for every "
                                            "member"))
    grace_days = IntegerField(
        _l("Grace period (days)"),
        validators=[InputRequired(_l("Enter a number of days (0 for none).")),
                    NumberRange(min=0, max=MAX_GRACE_DAYS,
                                message=_l("Enter a number of days from 0 to %(max)s.",
                                           max=MAX_GRACE_DAYS))])
    allow_remember = BooleanField(_l("Allow “Remember this browser”"))
