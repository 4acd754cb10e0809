"""A "Login as" session points at the admin session it suspended, so exit resumes that one."""
from peewee import *


def up(migrator, db):
    class UserSession(Model):
        class Meta:
            database = db
            table_name = 'user_session'

    # CASCADE: when the admin's own row goes (account removal), the impersonation goes too.
    migrator.migrate(
        migrator.add_column('user_session', 'parent_id', ForeignKeyField(
            UserSession, field=UserSession.id, null=True, on_delete='CASCADE')),
    )


def down(migrator, db):
    migrator.migrate(migrator.drop_column('user_session', 'parent_id'))
