"""Which paper store a configuration means, and the one interface both stores offer.

``PAPERBOT_DATABASE_URL=postgresql://...`` selects the PostgreSQL store (one database shared by
several hosts); without it the SQLite file at ``settings.store_path`` is the store, as always.
Everything above the store (the library, index serving, feature modules, the CLI) is written
against :class:`Store`, so it cannot tell the two apart.

A database URL carries a password: it is only ever shown masked (:func:`describe`), and handed to
a child process through its stdin, never its command line (:func:`reopen_spec`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from retrieval.papers import Paper
from retrieval.store import PaperStore, StoredCollection, StoreError, UpsertResult
from retrieval.store_pg import PgPaperStore, is_postgres_url, local_path, mask_url

if TYPE_CHECKING:
    from config.settings import Settings


class Store(Protocol):
    """The paper store's public API, as :class:`~retrieval.store.PaperStore` and
    :class:`~retrieval.store_pg.PgPaperStore` both implement it."""

    @property
    def path(self) -> Path: ...

    @property
    def readonly(self) -> bool: ...

    def close(self) -> None: ...

    def upsert(
        self,
        papers: Iterable[Paper],
        collection: str = ...,
        progress: Callable[[int], None] | None = ...,
    ) -> UpsertResult: ...

    def get(self, paper_id: str) -> Paper | None: ...

    def get_many(self, paper_ids: Sequence[str]) -> list[Paper]: ...

    def get_by_pks(self, pks: Sequence[int]) -> list[Paper]: ...

    def papers_by_pks(self, pks: Sequence[int]) -> dict[int, Paper]: ...

    def titles_by_pks(self, pks: Sequence[int]) -> list[tuple[str, str, str | None]]: ...

    def count_pks(self, pks: Sequence[int]) -> int: ...

    def collections_of(self, paper_id: str) -> set[str]: ...

    def count(self, collection: str = ...) -> int: ...

    def generation(self, collection: str) -> int: ...

    def collections(self) -> list[StoredCollection]: ...

    def iter_papers(self, collection: str = ...) -> Iterator[Paper]: ...

    def iter_texts(self, collection: str = ...) -> Iterator[tuple[int, str, str]]: ...

    def changes_since(self, collection: str, generation: int) -> list[int] | None: ...

    def iter_texts_by_pks(
        self, collection: str, pks: Sequence[int]
    ) -> Iterator[tuple[int, str, str]]: ...

    def iter_titles(self, collection: str = ...) -> Iterator[tuple[int, str, str]]: ...

    def ensure_tables(self, ddl: str) -> bool: ...

    def has_table(self, name: str) -> bool: ...

    def transaction(self) -> contextlib.AbstractContextManager[Any]: ...

    def reader(self) -> Any: ...


AnyStore = PaperStore | PgPaperStore


def database_url(settings: Settings) -> str | None:
    """The configured PostgreSQL URL, or None for the SQLite file."""
    secret = settings.database_url
    if secret is None:
        return None
    url = secret.get_secret_value().strip()
    return url or None


def describe(settings: Settings) -> str:
    """Where the configured store is, safe to print (a URL's password masked)."""
    url = database_url(settings)
    return mask_url(url) if url else str(settings.store_path)


def open_store(
    settings: Settings, *, create: bool = True, readonly: bool | None = None
) -> AnyStore:
    """The configured store: PostgreSQL when ``settings.database_url`` is set, else SQLite."""
    url = database_url(settings)
    if url is None:
        return PaperStore(settings.store_path, create=create, readonly=readonly)
    if not is_postgres_url(url):
        raise StoreError(
            f"PAPERBOT_DATABASE_URL must be a postgresql:// URL, not {mask_url(url)!r}"
        )
    return PgPaperStore(
        url, path=local_path(url, settings.data_dir), create=create, readonly=readonly
    )


def open_location(
    location: str, *, data_dir: Path, create: bool = True, readonly: bool | None = None
) -> AnyStore:
    """A store named on the command line: ``postgresql://...``, ``sqlite:///PATH`` or a path."""
    if is_postgres_url(location):
        return PgPaperStore(
            location, path=local_path(location, data_dir), create=create, readonly=readonly
        )
    # sqlite:///relative.db and sqlite:////absolute.db, as SQLAlchemy spells them
    path = location.removeprefix("sqlite:///") if location.startswith("sqlite:///") else location
    return PaperStore(Path(path).expanduser(), create=create, readonly=readonly)


def is_new(settings: Settings) -> bool:
    """Whether opening the configured store will create it (then it is seeded)."""
    url = database_url(settings)
    if url is not None:
        return False  # decided after opening: an empty database (see :func:`is_empty`)
    path = settings.store_path
    return not path.exists() or (path.is_file() and path.stat().st_size == 0)


def is_empty(store: Store) -> bool:
    """No collections at all: a store that was just created."""
    return not store.collections()


def location(store: Store) -> str:
    """Where a store is, safe to print: its file, or its database URL with the password masked."""
    if isinstance(store, PgPaperStore):
        return store.masked_url
    return str(store.path)


def store_size(store: Store) -> int:
    """Bytes the store takes: the SQLite file, or the PostgreSQL database on its server."""
    if isinstance(store, PgPaperStore):
        return store.database_size()
    return store.path.stat().st_size if store.path.exists() else 0


def reopen_spec(store: Store) -> Path | dict[str, Any]:
    """What another process needs to open this same store (see :func:`reopen_store`); it holds
    a database password, so it goes through a pipe, never a command line."""
    if isinstance(store, PgPaperStore):
        return store.reopen_args()
    return store.path


def reopen_store(spec: Path | dict[str, Any]) -> AnyStore:
    if isinstance(spec, dict):
        return PgPaperStore(
            str(spec["url"]), path=Path(spec["path"]), readonly=bool(spec.get("readonly"))
        )
    return PaperStore(spec)
