from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Length


class SetupCodeForm(FlaskForm):
    """The first code from the app; the secret itself never comes from the client."""

    code = StringField(
        _l("Code from the app"),
        validators=[InputRequired(_l("Enter the 6-digit code from your app.")),
                    Length(max=64, message=_l("Enter the 6-digit code from your app."))],
    )
