"""Passkeys (WebAuthn credentials) and the single-use WebAuthn challenges handed to browsers."""
from peewee import *


def up(migrator, db):
    class User(Model):
        class Meta:
            database = db
            table_name = 'user'

    class Passkey(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        credential_id = CharField(max_length=1400, unique=True)
        public_key = BlobField()
        sign_count = BigIntegerField(default=0)
        user_handle = CharField(max_length=128)
        transports = CharField(max_length=200, default='')
        aaguid = CharField(max_length=36, default='')
        backed_up = BooleanField(default=False)
        name = CharField(max_length=60)
        created_at = DateTimeField()
        last_used_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'passkey'

    class WebAuthnChallenge(Model):
        challenge = CharField(max_length=128, unique=True)
        kind = CharField(max_length=16)
        binding = CharField(max_length=128)
        user = ForeignKeyField(User, null=True, on_delete='CASCADE')
        ref = CharField(max_length=64, null=True)
        expires_at = DateTimeField()
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'webauthn_challenge'
            indexes = ((('binding', 'kind'), False),)

    db.create_tables([Passkey, WebAuthnChallenge])


def down(migrator, db):
    db.execute_sql('DROP TABLE IF EXISTS webauthn_challenge')
    db.execute_sql('DROP TABLE IF EXISTS passkey')
