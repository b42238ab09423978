"""Exit codes, and the errors every command reports as one ``paperbot: <message>`` line.

Commands raise; only :func:`cli.main.main` prints and picks the code, so every command (search,
a file ingest, an arXiv harvest) fails the same way: one line on stderr, no traceback (``-v``
adds one for an unforeseen error), and a code a script can act on without reading the message:
fix the command (2) or try again later (1).
"""

from __future__ import annotations

from enum import IntEnum

from pydantic import ValidationError

PREFIX = "paperbot"


class ExitCode(IntEnum):
    """The one table of exit codes, used by every command."""

    OK = 0
    FAILED = 1  # upstream or runtime: a source failed or answered garbage, an unforeseen error
    USAGE = 2  # the user can fix it: arguments, a setting, a path, a file that is not a store
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


class UserError(Exception):
    """Something the user can fix (a bad path, an empty question, a bad setting): exit 2."""

    exit_code = ExitCode.USAGE


class UpstreamError(Exception):
    """A remote source failed (after its retries) or answered garbage; the command may work
    later as it is: exit 1."""

    exit_code = ExitCode.FAILED


def invalid_setting(exc: ValidationError) -> UserError:
    """A rejected setting (``.env``, ``PAPERBOT_*`` or an option), whichever command read the
    settings: the first problem, named by its field, in the project's one wording of a pydantic
    error (:func:`config.describe_error`)."""
    from config import describe_error

    return UserError(f"invalid setting {describe_error(exc, subject='settings')}")


def error_line(message: str) -> str:
    """``paperbot: <message>``, the one shape of an error on stderr: always one line, and safe
    to print whatever a file name, a server or a store put in the message."""
    from retrieval.sanitize import clean_line

    return f"{PREFIX}: {clean_line(message)}\n"
