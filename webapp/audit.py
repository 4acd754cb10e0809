"""Writing security events. Rows are append-only; details never hold codes or secrets."""

import json
import logging

from flask import has_request_context, request

from . import metrics
from .models import AuditEvent, Membership

log = logging.getLogger(__name__)


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
    if organization is None and subject is not None:
        # The subject's organisation as a subquery of the INSERT: one round trip, not two.
        organization = Membership.first_of(subject, Membership.organization,
                                           include_removed=True)
    metrics.count_event(event, outcome, channel)
    # One log line per event, no details (they may name an address): the JSON log carries
    # the request id and the signed-in user next to it.
    log.info("%s outcome=%s channel=%s subject=%s", event, outcome, channel,
             getattr(subject, "id", subject), extra={"event": event})
    return (AuditEvent
            .insert(organization=organization,
                    actor=actor,
                    subject=subject,
                    event=event,
                    outcome=outcome,
                    channel=channel,
                    ip=ip[:64],
                    user_agent=agent,
                    details=json.dumps(details, default=str))
            .execute())
