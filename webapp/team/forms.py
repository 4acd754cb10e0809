from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import InputRequired, Length, ValidationError

from ..models import Membership
from ..profile.forms import PersonalFields, check_name, normalise_email


class MemberForm(PersonalFields, FlaskForm):
    """A member's Personal Data as an admin edits it: the name, and the phone via step-up."""


class AccessForm(FlaskForm):
    """Role and permissions, set by an owner."""

    role = SelectField(_l("Role"), choices=list(Membership.ROLES))
    can_edit_team_profiles = BooleanField(_l("Can edit team profiles (admins)"))
    can_edit_own_profile = BooleanField(_l("Can edit own profile"))


ROLE_LABELS = {"owner": _l("Owner"), "admin": _l("Admin"), "member": _l("Member")}


class InviteForm(FlaskForm):
    """Invite someone by email, with a role the inviter may give."""

    email = StringField(_l("Email"), validators=[InputRequired(_l("Enter their email.")),
                                                 Length(max=254)])
    role = SelectField(_l("Role"), default="member")

    def __init__(self, roles=(), *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = [(r, ROLE_LABELS[r]) for r in roles]

    def validate_email(self, field):
        try:
            field.normalised = normalise_email(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class JoinForm(FlaskForm):
    """"Join <organisation>": a name and a password (the rules of Change password)."""

    name = StringField(_l("Your name"), validators=[
        InputRequired(_l("Enter your name.")),
        Length(max=120, message=_l("Use at most %(max)d characters."))])
    new_password = PasswordField(_l("Password"), validators=[
        InputRequired(_l("Choose a password."))])
    confirm_password = PasswordField(_l("Confirm password"), validators=[
        InputRequired(_l("Confirm the password.")), Length(max=1024)])

    def validate_name(self, field):
        try:
            check_name(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
