from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import Length, ValidationError

from ..models import Membership
from ..profile.forms import check_name, normalise_phone


class MemberForm(FlaskForm):
    """A member's Personal Data as an admin edits it: the name, and the phone via step-up."""

    name = StringField(_l("Name"),
                       validators=[Length(max=120, message=_l("Use at most 120 characters."))])
    phone = StringField(_l("Phone"), validators=[Length(max=32, message=_l("That's too long."))])

    def validate_name(self, field):
        try:
            check_name(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc

    def validate_phone(self, field):
        try:
            field.normalised = normalise_phone(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class AccessForm(FlaskForm):
    """Role and permissions, set by an owner."""

    role = SelectField(_l("Role"), choices=list(Membership.ROLES))
    can_edit_team_profiles = BooleanField(_l("Can edit team profiles (admins)"))
    can_edit_own_profile = BooleanField(_l("Can edit own profile"))
