"""Settings > Activity: the security events of the signed-in user, newest first."""

from flask import request
from flask_login import current_user, login_required
from peewee import JOIN

from ..models import AuditEvent, User
from ..web import page_or_fragment
from . import bp

PAGE_SIZE = 50


@bp.get("")
@login_required
def show():
    """Own events, keyset-paginated by id (`before=`)."""
    Actor = User.alias()
    query = (AuditEvent
             .select(AuditEvent, Actor)
             .join(Actor, join_type=JOIN.LEFT_OUTER, on=(AuditEvent.actor == Actor.id))
             .where(AuditEvent.subject == current_user.id)
             .order_by(AuditEvent.id.desc())
             .limit(PAGE_SIZE + 1))
    before = request.args.get("before", type=int)
    if before:
        query = query.where(AuditEvent.id < before)
    events = list(query)
    more = len(events) > PAGE_SIZE
    events = events[:PAGE_SIZE]
    return page_or_fragment("activity/show.html", "partials/activity/rows.html",
                            events=events, more=more,
                            next_before=events[-1].id if more else None)
