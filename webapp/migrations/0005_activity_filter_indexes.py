"""Activity log filters: an organisation's events by type, and a person's actions, newest first."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_index('audit_event', ('organization_id', 'event', 'id'), False),
        migrator.add_index('audit_event', ('actor_id', 'id'), False),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('audit_event', 'audit_event_organization_id_event_id'),
        migrator.drop_index('audit_event', 'audit_event_actor_id_id'),
    )
