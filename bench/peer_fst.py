"""The peer for `make bench`: Flask-Security-Too 5.x, its stock views, one user, SQLite.

It runs in its own virtualenv that bench/run.py creates (never ours: its pins are its own),
under the same gunicorn settings as our app. The figure is its signed-in "Change password"
page (/change), a small page behind a session cookie captured after a real POST /login.

    python bench/peer_fst.py init        # create the tables and the one user (once)
    gunicorn -c bench/gunicorn_peer.conf.py bench.peer_fst:app

Settings come from the environment bench/run.py passes: PEER_DATABASE (a file path),
SECRET_KEY, PEER_EMAIL, PEER_PASSWORD.
"""

import os
import sys

from flask import Flask
from flask_security import Security, SQLAlchemyUserDatastore, hash_password
from flask_security.models import fsqla_v3 as fsqla
from flask_sqlalchemy import SQLAlchemy

app = Flask(__name__)
app.config.update(
    SECRET_KEY=os.environ["SECRET_KEY"],
    SECURITY_PASSWORD_SALT=os.environ["SECRET_KEY"][:32],
    SQLALCHEMY_DATABASE_URI="sqlite:///" + os.environ["PEER_DATABASE"],
    SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": False},
    # The page we measure, and no mail round trips or DNS lookups in the way.
    SECURITY_CHANGEABLE=True,
    SECURITY_SEND_PASSWORD_CHANGE_EMAIL=False,
    SECURITY_EMAIL_VALIDATOR_ARGS={"check_deliverability": False},
)
db = SQLAlchemy(app)
fsqla.FsModels.set_db_info(db)


class Role(db.Model, fsqla.FsRoleMixin):
    pass


class User(db.Model, fsqla.FsUserMixin):
    pass


security = Security(app, SQLAlchemyUserDatastore(db, User, Role))


@app.get("/")
def index():
    """Where the sign-in lands."""
    return "signed in"


def init() -> None:
    """The tables and the one user the bench signs in as."""
    with app.app_context():
        db.create_all()
        email = os.environ["PEER_EMAIL"]
        if not security.datastore.find_user(email=email):
            security.datastore.create_user(email=email,
                                           password=hash_password(os.environ["PEER_PASSWORD"]))
        db.session.commit()


if __name__ == "__main__" and sys.argv[1:] == ["init"]:
    init()
