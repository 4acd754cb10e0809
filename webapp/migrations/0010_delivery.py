"""Security notices kept in a `delivery` table until sent (the transactional outbox), and the
HTML part of the emails the dev outbox captures."""
from peewee import *


def up(migrator, db):
    class Delivery(Model):
        kind = CharField(max_length=8)
        to = CharField(max_length=254)
        subject = CharField(max_length=255, default='')
        body = TextField()
        html = TextField(null=True)
        status = CharField(max_length=8, default='pending')
        attempts = IntegerField(default=0)
        next_attempt_at = DateTimeField()
        claimed_until = DateTimeField(null=True)
        last_error = CharField(max_length=255, null=True)
        created_at = DateTimeField()
        sent_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'delivery'
            indexes = ((('status', 'next_attempt_at'), False),)
    db.create_tables([Delivery])
    migrator.migrate(
        migrator.add_column('outbox_message', 'html', TextField(null=True)),
    )


def down(migrator, db):
    migrator.migrate(migrator.drop_column('outbox_message', 'html'))
    db.execute_sql('DROP TABLE delivery')
