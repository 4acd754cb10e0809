"""Initial schema: a frozen copy of the models at version 1 (created_at defaults live in the models)."""
from peewee import *


def up(migrator, db):
    class Organization(Model):
        name = CharField(max_length=120)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'organization'
    db.create_tables([Organization])

    class User(Model):
        email = CharField(unique=True, max_length=254)
        name = CharField(max_length=120, default='')
        password_hash = CharField()
        phone = CharField(null=True, max_length=20)
        email_verified_at = DateTimeField(null=True)
        phone_verified_at = DateTimeField(null=True)
        totp_secret = TextField(null=True)
        totp_enabled_at = DateTimeField(null=True)
        totp_last_step = BigIntegerField(default=0)
        last_login_at = DateTimeField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'user'
    db.create_tables([User])

    class AuditEvent(Model):
        organization = ForeignKeyField(Organization, null=True, on_delete='CASCADE')
        actor = ForeignKeyField(User, null=True, on_delete='SET NULL')
        subject = ForeignKeyField(User, null=True, on_delete='SET NULL')
        event = CharField(max_length=48)
        outcome = CharField(max_length=16, default='ok')
        channel = CharField(null=True, max_length=16)
        ip = CharField(max_length=64, default='')
        user_agent = CharField(default='')
        details = TextField(default='{}')
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'audit_event'
            indexes = ((('subject', 'id'), False), (('organization', 'id'), False))
    db.create_tables([AuditEvent])

    class BackupCode(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        code_hash = CharField(unique=True, max_length=64)
        used_at = DateTimeField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'backup_code'
    db.create_tables([BackupCode])

    class Challenge(Model):
        id = CharField(primary_key=True, max_length=64)
        subject = ForeignKeyField(User, on_delete='CASCADE')
        actor = ForeignKeyField(User, on_delete='CASCADE')
        purpose = CharField(max_length=32)
        payload = TextField(default='{}')
        channel = CharField(null=True, max_length=16)
        destination = CharField(null=True, max_length=254)
        code_hash = CharField(null=True, max_length=64)
        code_expires_at = DateTimeField(null=True)
        sends = IntegerField(default=0)
        last_sent_at = DateTimeField(null=True)
        attempts = IntegerField(default=0)
        created_at = DateTimeField()
        expires_at = DateTimeField()
        consumed_at = DateTimeField(null=True)
        cancelled_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'challenge'
            indexes = ((('subject', 'purpose', 'consumed_at'), False),)
    db.create_tables([Challenge])

    class CodeFailures(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        method = CharField(max_length=16)
        failures = IntegerField(default=0)
        window_start = DateTimeField()
        locked_until = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'code_failures'
            indexes = ((('user', 'method'), True),)
    db.create_tables([CodeFailures])

    class Membership(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        role = CharField(max_length=16, default='member')
        can_edit_team_profiles = BooleanField(default=False)
        can_edit_own_profile = BooleanField(default=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'membership'
            indexes = ((('user', 'organization'), True), (('organization', 'id'), False))
    db.create_tables([Membership])

    class OutboxMessage(Model):
        kind = CharField(max_length=8)
        to = CharField(max_length=254)
        subject = CharField(default='')
        body = TextField()
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'outbox_message'
    db.create_tables([OutboxMessage])

    class UserSession(Model):
        token_hash = CharField(unique=True, max_length=64)
        user = ForeignKeyField(User, on_delete='CASCADE')
        impersonator = ForeignKeyField(User, null=True, on_delete='CASCADE')
        ip = CharField(max_length=64, default='')
        user_agent = CharField(default='')
        created_at = DateTimeField()
        expires_at = DateTimeField()
        revoked_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'user_session'
            indexes = ((('user', 'revoked_at'), False),)
    db.create_tables([UserSession])

    class PendingTotp(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        session = ForeignKeyField(UserSession, on_delete='CASCADE')
        secret = TextField()
        expires_at = DateTimeField()
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'pending_totp'
    db.create_tables([PendingTotp])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('pending_totp'))
    migrator.migrate(migrator.drop_table('user_session'))
    migrator.migrate(migrator.drop_table('outbox_message'))
    migrator.migrate(migrator.drop_table('membership'))
    migrator.migrate(migrator.drop_table('code_failures'))
    migrator.migrate(migrator.drop_table('challenge'))
    migrator.migrate(migrator.drop_table('backup_code'))
    migrator.migrate(migrator.drop_table('audit_event'))
    migrator.migrate(migrator.drop_table('user'))
    migrator.migrate(migrator.drop_table('organization'))
