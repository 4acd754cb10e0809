"""Forms shared by several blueprints."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Length


class EmptyForm(FlaskForm):
    """A one-button POST that still carries and checks the CSRF token."""


class CodeForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[InputRequired(_l("Enter the code.")), Length(max=64, message=_l("Too long."))],
    )
