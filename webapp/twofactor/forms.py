from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Length


class SetupCodeForm(FlaskForm):
    """The first code from the app; the secret itself never comes from the client."""

    code = StringField(
        "Code from the app",
        validators=[InputRequired("Enter the 6-digit code from your app."),
                    Length(max=64, message="Enter the 6-digit code from your app.")],
    )
