"""What a command runs against, and the two things every command gets from it: the settings
(with ``--db`` / ``--collection`` applied and validated in one place) and the library.

:func:`cli.main.main` builds the real context (the process's streams, settings from the
environment and ``.env``). Tests and the ingest benchmark build one aimed at a loopback server
(base settings naming its URLs, a fast retry policy), then run the same commands through the
same ``main``, so what they check is what a user runs.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pydantic import ValidationError

from cli.errors import UserError, invalid_setting

if TYPE_CHECKING:  # imported lazily: `paperbot search` should not pay for httpx at start-up
    import httpx

    from config import Settings
    from retrieval.ingest.http import RetryPolicy
    from retrieval.search import Library


@dataclass
class Context:
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    settings: Settings | None = None  # None: from the environment and .env
    retry: RetryPolicy | None = None  # None: from the settings
    transport: httpx.AsyncBaseTransport | None = None

    def settings_for(self, args: argparse.Namespace) -> Settings:
        """The settings with this command's ``--db`` and ``--collection``, validated like any
        other setting, so a bad one is the same one line whichever command read it."""
        from config import Settings

        overrides: dict[str, object] = {}
        db = getattr(args, "db", None)
        if db is not None:  # --db "" is a mistake, not the default store
            if not db.strip():
                raise UserError("--db is empty: give the path of a paper store")
            if db.startswith(("postgresql://", "postgres://")):
                overrides["database_url"] = db
            else:  # a named SQLite file wins over a configured database
                overrides["db_path"] = Path(db)
                overrides["database_url"] = None
        if getattr(args, "collection", None) is not None:  # "" is refused like the setting
            overrides["collection"] = args.collection
        try:
            if self.settings is None:
                return Settings(**overrides)  # type: ignore[arg-type]
            if not overrides:
                return self.settings
            return Settings.model_validate(self.settings.model_dump() | overrides)
        except ValidationError as exc:
            raise invalid_setting(exc) from None
        except UnicodeDecodeError as exc:  # the only file settings read is .env
            raise UserError(
                f"invalid setting file .env: not UTF-8 text (byte {exc.start}: "
                f"{exc.object[exc.start : exc.start + 1]!r})"
            ) from None

    def library(
        self, args: argparse.Namespace, *, must_exist: bool = True, seed: bool | None = None
    ) -> Library:
        """The library for a command. The configured store (``PAPERBOT_DB_PATH`` or the
        default) is created from the bundled corpus on first use; a store named with ``--db``
        holds exactly what was ingested into it, so naming one that does not exist is a mistake
        worth reporting (unless the command creates it: ``must_exist=False``). ``seed`` overrides
        whether a new store starts with the bundled corpus. A read command never turns an
        existing file into a store; a store that cannot be written is opened read-only, which
        serves every read command and is an error for a command that writes."""
        from retrieval.search import Library
        from retrieval.store import StoreError
        from retrieval.stores import database_url, describe

        settings = self.settings_for(args)
        named = bool(getattr(args, "db", None))  # --db on the command line, not the setting
        url = database_url(settings)
        if must_exist and named and url is None and not settings.store_path.exists():
            raise UserError(
                f"no paper store at {settings.store_path} (create one with: paperbot ingest "
                f"file FILE --db {settings.store_path})"
            )
        try:
            library = Library.open(
                settings,
                seed=(not named) if seed is None else seed,
                create=not (must_exist and named),
            )
        except StoreError as exc:
            raise UserError(str(exc)) from None
        if not must_exist and library.read_only:
            raise UserError(f"{describe(settings)} is read-only: papers cannot be added to it")
        return library
