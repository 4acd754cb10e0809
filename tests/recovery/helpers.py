"""Helpers for the emailed-link flows: the link in the last email, the pages' forms."""

import re

from conftest import outbox

LINK_RE = re.compile(r"https?://[^/\s]+(/(?:password/reset|secure)/[A-Za-z0-9_-]+)")


def link_in(body: str, kind: str = "") -> str:
    """The path of the first emailed link of that kind ("password/reset" or "secure")."""
    for path in LINK_RE.findall(body):
        if path.startswith("/" + kind):
            return path
    raise AssertionError(f"no {kind or 'emailed'} link in: {body}")


def last_email(to: str):
    messages = outbox("email", to)
    assert messages, f"no email to {to}"
    return messages[-1]


def reset_link(to: str) -> str:
    return link_in(last_email(to).body, "password/reset")


def secure_link(to: str) -> str:
    return link_in(last_email(to).body, "secure")
