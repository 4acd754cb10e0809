from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField

from ..models import Membership
from ..profile.forms import PersonalFields


class MemberForm(PersonalFields, FlaskForm):
    """A member's Personal Data as an admin edits it: the name, and the phone via step-up."""


class AccessForm(FlaskForm):
    """Role and permissions, set by an owner."""

    role = SelectField(_l("Role"), choices=list(Membership.ROLES))
    can_edit_team_profiles = BooleanField(_l("Can edit team profiles (admins)"))
    can_edit_own_profile = BooleanField(_l("Can edit own profile"))
