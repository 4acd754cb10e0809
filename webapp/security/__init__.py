"""Decisions about credentials and verification, free of Flask: callers pass what is needed."""
