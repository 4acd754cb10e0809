"""A challenge remembers the session that started it; a session its "recently verified" window."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('challenge', 'session_id', IntegerField(null=True)),
        migrator.add_column('user_session', 'sudo_until', DateTimeField(null=True)),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('challenge', 'session_id'),
        migrator.drop_column('user_session', 'sudo_until'),
    )
