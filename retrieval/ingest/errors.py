"""Errors raised by the remote sources, each worth exactly one line to a human.

Every message names the request that failed (method and full URL), because "HTTP 503" alone
does not tell an operator whether Hugging Face or arXiv is down, or which date of a range broke.
The CLI prints ``str(error)`` and exits non-zero; nothing here carries a traceback to the user.
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class: a remote ingest could not complete. ``str()`` is the user-facing line."""

    def __init__(self, message: str, *, request: str | None = None) -> None:
        super().__init__(f"{request}: {message}" if request else message)
        self.request = request
        self.reason = message


class FetchError(IngestError):
    """The HTTP exchange failed: status, timeout, connection, or out of retries / time budget."""

    def __init__(
        self,
        message: str,
        *,
        request: str | None = None,
        status: int | None = None,
        body: bytes | None = None,
    ) -> None:
        super().__init__(message, request=request)
        self.status = status
        self.body = body


class NotFound(FetchError):
    """The server says the thing asked for does not exist (HTTP 404 or an unknown id)."""


class ParseError(IngestError):
    """The response arrived but is not what the API documents (malformed, truncated, odd shape)."""


class SourceError(IngestError):
    """The API answered with an error of its own (arXiv error feed, OAI-PMH ``<error>``)."""

    def __init__(self, message: str, *, request: str | None = None, code: str | None = None):
        super().__init__(message, request=request)
        self.code = code


class CheckpointError(IngestError):
    """A checkpoint file cannot be used (other harvest, corrupt header, unreadable)."""
