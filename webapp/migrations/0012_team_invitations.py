"""Team invitations, and "Remove from team" (a membership keeps its row, with when it ended)."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('membership', 'removed_at', DateTimeField(null=True)),
    )

    class Organization(Model):
        class Meta:
            database = db
            table_name = 'organization'

    class User(Model):
        class Meta:
            database = db
            table_name = 'user'

    class Invitation(Model):
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        email = CharField(max_length=254)
        role = CharField(max_length=16, default='member')
        invited_by = ForeignKeyField(User, null=True, on_delete='SET NULL')
        sends = IntegerField(default=1)
        last_sent_at = DateTimeField()
        expires_at = DateTimeField()
        accepted_at = DateTimeField(null=True)
        revoked_at = DateTimeField(null=True)
        user = ForeignKeyField(User, null=True, on_delete='SET NULL')
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'invitation'
            indexes = ((('organization', 'email'), False),)
    db.create_tables([Invitation])


def down(migrator, db):
    db.execute_sql('DROP TABLE IF EXISTS "invitation"')
    migrator.migrate(migrator.drop_column('membership', 'removed_at'))
