"""Decisions about credentials and verification, free of Flask: callers pass what is needed.

Messages for people are English msgids marked with N_ (extracted into the catalog); a
caller that can translate passes its gettext as `translate`, otherwise English is used.
"""


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


def english(message: str, **params) -> str:
    """The untranslated text, placeholders filled: the default `translate`."""
    return message % params if params else message
