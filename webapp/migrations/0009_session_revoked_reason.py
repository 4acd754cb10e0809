"""A revoked session keeps a short reason, so its own browser can be told why it was signed out."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('user_session', 'revoked_reason', CharField(max_length=16, null=True)),
    )


def down(migrator, db):
    migrator.migrate(migrator.drop_column('user_session', 'revoked_reason'))
