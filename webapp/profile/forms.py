import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length, StopValidation, ValidationError

from ..security import channels as ch


def normalise_phone(raw: str, region: str = "US") -> str | None:
    """E.164 for a valid number, None for an empty field; ValueError for anything else."""
    raw = (raw or "").strip()
    if not raw:
        return None
    if len(raw) > 32 or not raw.isascii():
        raise ValueError(gettext("Enter a phone number like +1 202 555 0101."))
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(gettext("Enter a phone number like +1 202 555 0101.")) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(
            gettext("That phone number isn't valid. Include the country code, like +1."))
    if number.extension:
        raise ValueError(gettext("Enter the number without an extension."))
    if phonenumbers.number_type(number) in ch.NO_CODES_TO:
        # Texts to premium-rate numbers earn their owner money: a toll-fraud target.
        raise ValueError(gettext("That number can't receive codes. Use a mobile number."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# Control characters and bidirectional overrides/isolates reorder or hide text on screen,
# so a name could pass itself off as another one ("Trojan Source" style spoofing).
_HIDDEN_CHARS = re.compile("[\x00-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def check_name(raw: str | None) -> None:
    """ValueError for a name with control or text-direction characters."""
    if raw and _HIDDEN_CHARS.search(raw):
        raise ValueError(gettext("Use letters, spaces and punctuation only."))


def normalise_email(raw: str) -> str:
    try:
        info = validate_email((raw or "").strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(
            gettext("Enter a valid email address, like name@example.com.")) from exc
    return info.normalized.lower()


class PersonalFields:
    """Name and phone, as My Profile and a member's page edit them."""

    name = StringField(_l("Name"),
                       validators=[Length(max=120, message=_l("Use at most %(max)d characters."))])
    phone = StringField(_l("Phone"), validators=[Length(max=32, message=_l("That's too long."))])

    def validate_name(self, field):
        # A field missing from the request (a JSON body, a hand-made POST) is not an empty
        # one: it would blank the name and start removing the phone.
        if not field.raw_data:
            raise StopValidation(gettext("This field was missing from the form. Reload the "
                                         "page and try again."))
        try:
            check_name(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc

    def validate_phone(self, field):
        if not field.raw_data:
            raise StopValidation(gettext("This field was missing from the form. Reload the "
                                         "page and try again."))
        try:
            field.normalised = normalise_phone(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class ProfileForm(PersonalFields, FlaskForm):
    email = StringField(_l("Email"),
                        validators=[InputRequired(_l("Enter your email.")), Length(max=254)])

    def validate_email(self, field):
        try:
            field.normalised = normalise_email(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[InputRequired(_l("Enter your current password.")),
                                            Length(max=1024)])
    new_password = PasswordField(
        _l("New password"), validators=[InputRequired(_l("Enter a new password."))])
    confirm_password = PasswordField(
        _l("Confirm new password"), validators=[InputRequired(_l("Confirm the new password.")),
                                                Length(max=1024)])
