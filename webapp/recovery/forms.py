from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length


class ForgotForm(FlaskForm):
    email = StringField(_l("Email"),
                        validators=[InputRequired(_l("Enter your email.")), Length(max=254)])


class ResetForm(FlaskForm):
    """The "new" half of Change password: the same fields, names and rules."""

    new_password = PasswordField(
        _l("New password"), validators=[InputRequired(_l("Enter a new password."))])
    confirm_password = PasswordField(
        _l("Confirm new password"), validators=[InputRequired(_l("Confirm the new password.")),
                                                Length(max=1024)])
