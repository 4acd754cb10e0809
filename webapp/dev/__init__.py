"""The development outbox: mail and SMS the outbox backends captured. Off unless DEV_OUTBOX=1."""

from flask import Blueprint, abort, current_app, render_template

from ..models import OutboxMessage

bp = Blueprint("dev", __name__, url_prefix="/dev")


@bp.get("/outbox")
def outbox():
    """Newest captured messages first.

    :raise 404: DEV_OUTBOX is not enabled.
    """
    if not current_app.config["DEV_OUTBOX"]:
        abort(404)
    messages = OutboxMessage.select().order_by(OutboxMessage.id.desc()).limit(100)
    return render_template("dev/outbox.html", messages=messages)
