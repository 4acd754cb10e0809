from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import InputRequired, Length

from ..security.passkeys import MAX_CREDENTIAL_JSON, NAME_MAX


class CredentialForm(FlaskForm):
    """What the browser's passkey dialog answered (filled in by static/js/passkeys.js)."""

    credential = HiddenField(validators=[
        InputRequired(_l("Use your passkey first.")),
        Length(max=MAX_CREDENTIAL_JSON, message=_l("Use your passkey first."))])


class PasskeyNameForm(FlaskForm):
    name = StringField(
        _l("Passkey name"),
        id="passkey-name",  # My Profile's form has a "name" field too
        validators=[InputRequired(_l("Give the passkey a name.")),
                    Length(max=NAME_MAX, message=_l("Use at most %(max)d characters."))],
    )


class RegisterForm(PasskeyNameForm, CredentialForm):
    """A new passkey: its name and the browser's answer."""
