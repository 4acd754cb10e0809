"""Extensions built once, bound to an app in create_app()."""

from flask import request
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from peewee import DatabaseProxy

db = DatabaseProxy()
csrf = CSRFProtect()
login_manager = LoginManager()


def client_ip() -> str:
    """The client address; ProxyFix (TRUSTED_PROXIES) decides what remote_addr means."""
    return request.remote_addr or "unknown"


limiter = Limiter(key_func=client_ip)
