"""Errors a user can act on. The CLI prints them as one line and exits non-zero, no traceback."""

from __future__ import annotations


class ChorusError(Exception):
    """Bad input or environment: the message says what is wrong and where."""

    exit_code = 2


class TransientError(ChorusError):
    """A failure worth retrying: connection refused, timeout, HTTP 5xx/429."""

    exit_code = 3


class BadRequestError(ChorusError):
    """The server rejected the request itself (HTTP 4xx): retrying cannot help."""
