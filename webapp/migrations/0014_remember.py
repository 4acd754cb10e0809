"""Remembered browsers (skip the sign-in's second step) and an organisation's security rules."""
from peewee import *


def up(migrator, db):
    class User(Model):
        class Meta:
            database = db
            table_name = 'user'

    class RememberedBrowser(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        token_hash = CharField(max_length=64, unique=True)
        ip = CharField(max_length=64, default='')
        user_agent = CharField(max_length=255, default='')
        created_at = DateTimeField()
        last_used_at = DateTimeField(null=True)
        expires_at = DateTimeField()
        forgotten_at = DateTimeField(null=True)
        forgotten_reason = CharField(max_length=16, null=True)

        class Meta:
            database = db
            table_name = 'remembered_browser'
            indexes = ((('user', 'forgotten_at'), False),)

    db.create_tables([RememberedBrowser])
    migrator.migrate(
        migrator.add_column('organization', 'strong_factor_required_at',
                            DateTimeField(null=True)),
        migrator.add_column('organization', 'strong_factor_grace_days',
                            IntegerField(null=True)),
        migrator.add_column('organization', 'allow_remember_browser',
                            BooleanField(default=True)),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('organization', 'allow_remember_browser'),
        migrator.drop_column('organization', 'strong_factor_grace_days'),
        migrator.drop_column('organization', 'strong_factor_required_at'),
    )
    db.execute_sql('DROP TABLE IF EXISTS remembered_browser')
