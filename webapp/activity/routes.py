"""Settings > Activity: a person's own security events; the whole organisation's for admins.

Rows are append-only: there is no route that updates or deletes one. Pages are keyset
paginated by id (`before=`), newest first, one query per page.
"""

import csv
import datetime as dt
import io
import re

from flask import Response, request, stream_with_context
from flask_babel import gettext
from flask_login import current_user, login_required
from peewee import JOIN

from ..ids import id_arg
from ..models import AuditEvent, Membership, User
from ..prebuilt import PrebuiltByShape
from ..team import authz
from ..web import own_seat, page_or_fragment
from . import bp
from . import events as event_table

PAGE_SIZE = 50
EXPORT_CHUNK = 1000
EVENT_RE = re.compile(r"^[a-z0-9_.]{1,48}$")


class Filters:
    """The filters from the query string; bad values become errors, never exceptions."""

    def __init__(self, args, organization_id):
        self.errors = {}
        self.person = (args.get("person") or "").strip()[:254]
        self.event = (args.get("event") or "").strip()[:48]
        self.start = self._date(args, "from")
        self.end = self._date(args, "to")
        self.person_id = None
        if self.event and not EVENT_RE.match(self.event):
            self.errors["event"] = gettext("Choose an event from the list.")
        if self.person and organization_id is not None:
            self.person_id = (User.select(User.id)
                              .join(Membership, on=(Membership.user == User.id))
                              .where((User.email == self.person.lower())
                                     & (Membership.organization == organization_id))
                              .scalar())
            if self.person_id is None:
                self.errors["person"] = gettext("No one in your team has that email address.")
        if self.start and self.end and self.end < self.start:
            self.errors["to"] = gettext("The end date is before the start date.")

    def _date(self, args, name):
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        try:
            if len(raw) != 10 or not raw.isascii():
                raise ValueError(raw)
            return dt.date.fromisoformat(raw)
        except ValueError:
            self.errors[name] = gettext("Use a date like 2025-01-31.")
            return None

    def as_args(self) -> dict:
        return {k: v for k, v in (("person", self.person), ("event", self.event),
                                  ("from", self.start and self.start.isoformat()),
                                  ("to", self.end and self.end.isoformat())) if v}


def scope():
    """The organisation id for owners and admins (they see its log), None for the others."""
    seat = own_seat()
    if authz.may_view_org_activity(seat):
        return seat.organization_id
    return None


def _events_query(own: bool, who: int, person_id, event, start, end, before, limit,
                  narrow: bool = False):
    """Newest first; actor and subject joined in the same query (no N+1). `who` is the
    person (own log) or the organisation; a None filter is not applied. `narrow`: of the
    actor and subject only the id and email (all a page shows of them)."""
    Actor, Subject = User.alias(), User.alias()
    people = ((Actor.id, Actor.email, Subject.id, Subject.email) if narrow
              else (Actor, Subject))
    query = (AuditEvent
             .select(AuditEvent, *people)
             .join(Actor, JOIN.LEFT_OUTER, on=(AuditEvent.actor == Actor.id))
             .switch(AuditEvent)
             .join(Subject, JOIN.LEFT_OUTER, on=(AuditEvent.subject == Subject.id))
             .order_by(AuditEvent.id.desc())
             .limit(limit))
    if own:
        query = query.where(AuditEvent.subject == who)
    else:
        query = query.where(AuditEvent.organization == who)
        if person_id is not None:
            query = query.where((AuditEvent.subject == person_id)
                                | (AuditEvent.actor == person_id))
    if event is not None:
        query = query.where(AuditEvent.event == event)
    if start is not None:
        query = query.where(AuditEvent.created_at >= start)
    if end is not None:
        query = query.where(AuditEvent.created_at < end)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    return query


def _query_values(organization_id, filters: Filters, before) -> tuple:
    """(own, who, person_id, event, start, end, before) for `_events_query`."""
    own = organization_id is None
    return (
        own,
        current_user.id if own else organization_id,
        None if own else filters.person_id,
        filters.event if filters.event and "event" not in filters.errors else None,
        dt.datetime.combine(filters.start, dt.time()) if filters.start else None,
        (dt.datetime.combine(filters.end + dt.timedelta(days=1), dt.time())
         if filters.end else None),
        before or None,
    )


def events_query(organization_id, filters: Filters, before=None, limit=PAGE_SIZE + 1):
    return _events_query(*_query_values(organization_id, filters, before), limit)


# A page's query, SQL text built once per process, dialect and set of filters in use (at
# most 64 shapes: own or organisation, and each filter present or not).
_PAGE_QUERIES = PrebuiltByShape(
    lambda own, *values: _events_query(own, *values, PAGE_SIZE + 1, narrow=True),
    (int, int, str, dt.datetime, dt.datetime, int),
    models=(AuditEvent, (User, ("id", "email")), (User, ("id", "email"))),
    joins=("actor", "subject"))


def page_events(organization_id, filters: Filters, before) -> list:
    """The page's events (PAGE_SIZE + 1 of them at most), actor and subject attached."""
    own, *values = _query_values(organization_id, filters, before)
    return _PAGE_QUERIES.all((own,), *values)


def hide_others_devices(events, organization_id):
    """In a person's own log, blank the IP and device of anyone else who acted on them.

    An admin's address and browser are the admin's, not the member's to see; the event and
    who did it stay. Anonymous events (a stranger's failed sign-in) keep theirs: that one is
    the member's to know. Owners and admins (the organisation view) see everything. Only the
    objects in memory change: the log is append-only and nothing saves them back.
    """
    if organization_id is None:
        for e in events:
            if e.actor_id is not None and e.actor_id != current_user.id:
                e.ip = e.user_agent = ""
    return events


def _before():
    value = id_arg("before")
    return value if value and value > 0 else None


@bp.get("")
@login_required
def show():
    """Own events, or the organisation's for owners/admins, filtered and keyset-paginated."""
    organization_id = scope()
    filters = Filters(request.args, organization_id)
    before = _before()
    if filters.person and filters.person_id is None and organization_id is not None:
        events = []
    else:
        events = hide_others_devices(page_events(organization_id, filters, before),
                                     organization_id)
    more = len(events) > PAGE_SIZE
    events = events[:PAGE_SIZE]
    context = {
        "events": events,
        "more": more,
        "next_before": events[-1].id if more else None,
        "filters": filters,
        "team": organization_id is not None,
        "event_choices": event_table.event_choices(),
        "event_name": event_table.event_name,
        "describe": event_table.describe,
    }
    status = 422 if filters.errors else 200
    partial = "partials/activity/rows.html" if before else "partials/activity/log.html"
    return page_or_fragment("activity/show.html", partial, status, **context)


def _cell(value) -> str:
    """A CSV cell a spreadsheet won't run as a formula."""
    text = "" if value is None else str(value)
    text = text.replace("\r", " ").replace("\n", " ")
    # ";" too (S-10.5): the list separator in many locales, so no cell may open with it.
    if text[:1] in ("=", "+", "-", "@", "\t", ";"):
        text = "'" + text
    return text


@bp.get("/export.csv")
@login_required
def export():
    """The filtered events as CSV, streamed in keyset chunks (the same scope as the page)."""
    organization_id = scope()
    filters = Filters(request.args, organization_id)

    def rows():
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
        writer.writerow(["time_utc", "event", "actor", "subject", "channel", "outcome", "ip",
                         "user_agent", "details"])
        yield buffer.getvalue()
        if filters.errors:
            return
        before = None
        while True:
            chunk = hide_others_devices(
                list(events_query(organization_id, filters, before, limit=EXPORT_CHUNK)),
                organization_id)
            if not chunk:
                return
            buffer.seek(0)
            buffer.truncate()
            for e in chunk:
                writer.writerow([_cell(x) for x in (
                    e.created_at.isoformat(timespec="seconds") + "Z", e.event,
                    e.actor.email if e.actor_id and e.actor else "",
                    e.subject.email if e.subject_id and e.subject else "",
                    e.channel, e.outcome, e.ip, e.user_agent, event_table.describe(e))])
            yield buffer.getvalue()
            before = chunk[-1].id

    response = Response(stream_with_context(rows()), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="activity.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response
