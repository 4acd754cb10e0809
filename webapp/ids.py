"""Row ids from URLs: only values a database id column can hold ever reach a query.

SQLite raises OverflowError for an integer past 64 bits and PostgreSQL a range error, so an
id like 99999999999999999999 in a path or query string would otherwise become a 500.
"""

from flask import abort, request
from flask_babel import gettext
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

MAX_ID = 2**63 - 1  # the largest signed 64-bit integer: SQLite INTEGER, PostgreSQL BIGINT


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` that answers 404 for ids past MAX_ID, like for any unknown id."""

    def to_python(self, value: str):
        # NotFound, not ValidationError: on a refused value werkzeug would answer 405 for a
        # POST whose path also has a GET rule. The length test comes first so that a
        # thousands-digit value is never parsed.
        if len(value.lstrip("0")) > len(str(MAX_ID)) or int(value) > MAX_ID:
            raise NotFound()
        return super().to_python(value)


def id_arg(name: str) -> int | None:
    """The query parameter `name` as a row id, or None when absent or empty.

    :raise 400: not plain digits, or larger than any row id can be.
    """
    raw = request.args.get(name, "")
    if not raw:
        return None
    # isascii: str.isdigit also accepts digits of other scripts and superscripts.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(MAX_ID)) or int(raw) > MAX_ID:
        abort(400, description=gettext("The link you followed has an invalid page marker. "
                                       "Go back to the first page and try again."))
    return int(raw)
