"""Recovery by emailed link: "Forgot password?" and "Not you? Secure your account"."""

from flask import Blueprint

bp = Blueprint("recovery", __name__)

from . import routes  # noqa: E402,F401
