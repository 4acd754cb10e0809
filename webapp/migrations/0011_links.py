"""Single-use links (password reset, "Secure your account", invitations): only token digests."""
from peewee import *


def up(migrator, db):
    class User(Model):
        class Meta:
            database = db
            table_name = 'user'

    class Link(Model):
        token_hash = CharField(unique=True, max_length=64)
        purpose = CharField(max_length=32)
        user = ForeignKeyField(User, null=True, on_delete='CASCADE')
        payload = TextField(default='{}')
        binding = CharField(null=True, max_length=64)
        created_at = DateTimeField()
        expires_at = DateTimeField()
        used_at = DateTimeField(null=True)
        revoked_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'link'
            indexes = ((('user', 'purpose', 'used_at'), False),)
    db.create_tables([Link])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('link'))
