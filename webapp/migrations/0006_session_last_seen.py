"""Sessions remember when they were last used, for the idle timeout and the devices list."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('user_session', 'last_seen_at', DateTimeField(null=True)),
    )


def down(migrator, db):
    migrator.migrate(migrator.drop_column('user_session', 'last_seen_at'))
