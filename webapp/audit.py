"""Writing security events. Rows are append-only; details never hold codes or secrets."""

import datetime as dt
import json
import logging

from flask import has_request_context, request

from . import metrics
from .models import AuditEvent, Membership, utcnow
from .prebuilt import Prebuilt

log = logging.getLogger(__name__)


def _insert(of_subject: bool) -> Prebuilt:
    """The event's INSERT, SQL text built once (prebuilt.py): with the subject's organisation
    as a subquery (one round trip, not two), or with the organisation given. A None value is
    a bound parameter like any other, so one text serves every event."""
    def build(organization, actor, subject, event, outcome, channel, ip, agent, details, at):
        if of_subject:
            organization = Membership.first_of(subject, Membership.organization,
                                               include_removed=True)
        return AuditEvent.insert(organization=organization, actor=actor, subject=subject,
                                 event=event, outcome=outcome, channel=channel, ip=ip,
                                 user_agent=agent, details=details, created_at=at)

    types = (int, int, int, str, str, str, str, str, str, dt.datetime)
    if of_subject:  # the organisation's place is taken by the subquery on the subject
        return Prebuilt(lambda *values: build(None, *values), types[1:])
    return Prebuilt(build, types)


_INSERT_OF_SUBJECT, _INSERT = _insert(True), _insert(False)


def _id(value):
    return getattr(value, "id", value)


def record(event: str, *, subject=None, actor=None, outcome: str = "ok", channel=None,
           organization=None, **details) -> int:
    """Store one event and return its id; who/where come from the request when there is one."""
    ip, agent = "", ""
    if has_request_context():
        ip = request.remote_addr or ""
        agent = (request.user_agent.string or "")[:255]
        if actor is None:
            from .web import real_user  # web imports this module: a cycle

            actor = real_user()
    metrics.count_event(event, outcome, channel)
    subject_id = _id(subject)
    # One log line per event, no details (they may name an address): the JSON log carries
    # the request id and the signed-in user next to it.
    log.info("%s outcome=%s channel=%s subject=%s", event, outcome, channel, subject_id,
             extra={"event": event})
    values = (_id(actor), subject_id, event, outcome, channel, ip[:64], agent,
              json.dumps(details, default=str), utcnow())
    if organization is None and subject is not None:
        cursor = _INSERT_OF_SUBJECT.cursor(*values)
    else:
        cursor = _INSERT.cursor(_id(organization), *values)
    row = cursor.fetchone() if cursor.description else None  # RETURNING on PostgreSQL
    return row[0] if row else cursor.lastrowid
