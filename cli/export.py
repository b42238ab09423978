"""``paperbot export --out FILE``: the file is written whole or not at all, and never over a store.

The papers go to a temporary file beside ``FILE`` that is renamed over it only once every paper
is written, so a failed export (an unknown collection, a full disk, Ctrl-C) leaves an existing
``FILE`` as it was. ``FILE`` may not be the store itself, its ``-wal`` / ``-shm`` files, or any
SQLite database (recognised by its header), which ``export --out`` would otherwise destroy.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from cli.errors import UserError
from retrieval.store import is_sqlite_file


def export_target(out: str, store: Path) -> Path:
    """The file ``--out`` names (a symlink followed), checked before anything is opened."""
    path = Path(out)
    target = path.resolve()
    if target.is_dir():
        raise UserError(f"{out} is a directory; give a file to export to")
    if not target.parent.is_dir():
        raise UserError(f"cannot export to {out}: no directory {path.parent}")
    store = store.resolve()
    guarded = {store, *(store.with_name(store.name + end) for end in ("-wal", "-shm", "-journal"))}
    same = target.exists() and store.exists() and os.path.samefile(target, store)
    if target in guarded or same:
        raise UserError(f"refusing to export onto the paper store itself ({out})")
    if is_sqlite_file(target):
        raise UserError(f"refusing to overwrite {out}: it is an SQLite database")
    return target


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_whole(target: Path, write: Callable[[TextIO], int]) -> int:
    """Run ``write`` on a temporary file beside ``target`` and rename it into place on success
    (keeping an existing file's permissions). A device or a pipe (``/dev/stdout``) is written
    directly. Returns what ``write`` returned."""
    if target.exists() and not target.is_file():
        with open(target, "w", encoding="utf-8") as fh:
            return write(fh)
    mode = target.stat().st_mode & 0o7777 if target.exists() else _new_file_mode()
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise UserError(f"cannot write to {target.parent}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            count = write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return count
