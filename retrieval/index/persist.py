"""Saving an index next to the store and swapping a rebuilt one in atomically.

Layout: ``<store>.index/<collection>/CURRENT`` names the live build directory. A rebuild writes a
new directory aside, then replaces ``CURRENT`` with ``os.replace`` (atomic on POSIX): a reader sees
the old index or the new one, never half of either. Arrays are memory-mapped on load, so reloading
a million-abstract index costs page-ins, not parsing, and processes share the pages.

Several processes (CLI ingests and readers, the bot) may build and save the same collection at
once, so three lock files (``fcntl.flock``, released by the kernel when a process dies, even by
``kill -9``) keep them from undoing each other's work:

- ``.build.lock``, exclusive: held while one process builds and saves a collection's index (see
  :func:`build_lock`); swapping ``CURRENT`` and cleaning up also happen under it;
- ``.readers.lock``, shared while an index is being opened, exclusive (and only if nobody is
  opening one) while superseded builds are deleted, so a build is never deleted under a reader
  that is opening it (one already memory-mapped stays valid after deletion, on POSIX);
- ``<store>.index/.write.lock`` (:func:`store_write_lock`), exclusive around one ingest's write
  transaction, so a second ingest waits here, where Ctrl-C reaches it, rather than in SQLite's
  busy wait, where it does not.

A temporary build directory is named ``.tmp-<pid>-<random>`` and removed only once its process
is gone (or it is an hour old); a build directory only once ``CURRENT`` names another one. A
large build writes its arrays straight into one (:func:`build_directory`), which
:func:`save_index` then completes and renames: nothing is copied, and an interrupted build leaves
nothing behind (its directory is removed, or, after a ``kill -9``, by the next save).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from config.settings import default
from retrieval.index.bm25 import BM25Index, EngineChoice, IndexMeta
from retrieval.index.postings import NoTermFrequencies, Postings
from retrieval.index.scoring import BM25Params
from retrieval.index.vocab import FlatVocab

log = logging.getLogger(__name__)

# 2: the vocabulary is flat arrays (``vocab-*.npy``, see :mod:`retrieval.index.vocab`), not
# ``vocab.json``, and document frequencies and IDF are saved (``df``, ``idf``).
# 3: term hashes are the first half of a 128-bit BLAKE2b digest; ``tf`` only where rank-bm25 may
# serve the index (the manifest's ``tf`` says), each term's largest contribution (``term_max``).
# A build of another format is not loaded: it is rebuilt.
FORMAT_VERSION = 3
_ARRAYS = ("indptr", "docs", "doc_len", "doc_pks", "scores", "df", "idf", "term_max")
_VOCAB_ARRAYS = ("blob", "offsets", "hashes", "ids")
BUILD_LOCK = ".build.lock"
READERS_LOCK = ".readers.lock"
WRITE_LOCK = ".write.lock"
ABANDONED_TMP_SECONDS = 3600.0  # a temp build this old is abandoned even if its pid is alive


def index_root(store_path: Path, collection: str) -> Path:
    """Directory holding the builds of one collection's index, beside the store file."""
    safe = collection if re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", collection) else None
    name = safe or "x-" + collection.encode("utf-8").hex()[:180]
    return store_path.with_name(store_path.name + ".index") / name


# -- locks ----------------------------------------------------------------------------------------
def _open_lock(path: Path) -> int | None:
    """A descriptor of the lock file, or None where none can be made (a read-only directory:
    nothing can be saved there either, so there is nothing to protect)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        try:
            return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None


class ProcessLock:
    """An exclusive lock held by one thread of one process at a time, over all processes.

    ``flock`` alone would let every thread of the holding process in (the lock belongs to the
    open file, which threads share) and would deadlock a thread that takes it twice; so a
    re-entrant thread lock comes first, and the file is locked on the outermost acquire only.
    One instance per lock file per process (:func:`_process_lock`).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = threading.RLock()
        self._fd: int | None = None
        self._depth = 0

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock (re-entrant); False, at once, if ``blocking`` is false and it is held
        by another thread or process. A blocked wait is interrupted by Ctrl-C."""
        if not self._thread.acquire(blocking):
            return False
        if self._depth:
            self._depth += 1
            return True
        try:
            fd = _open_lock(self.path)
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
                except BaseException:
                    os.close(fd)
                    raise
        except BlockingIOError:
            self._thread.release()
            return False
        except BaseException:
            self._thread.release()
            raise
        self._fd, self._depth = fd, 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        self._thread.release()

    def __enter__(self) -> ProcessLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


_locks: dict[str, ProcessLock] = {}
_locks_guard = threading.Lock()


def _process_lock(path: Path) -> ProcessLock:
    key = os.path.abspath(path)
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = ProcessLock(Path(key))
        return lock


def build_lock(root: Path) -> ProcessLock:
    """The lock under which one collection's index is built and saved (``root`` as given by
    :func:`index_root`): whoever holds it is making the index current; others may serve the
    saved one meanwhile, or wait."""
    return _process_lock(root / BUILD_LOCK)


def store_write_lock(store_path: Path) -> ProcessLock:
    """Held around one ingest's write transaction (see the module docstring)."""
    return _process_lock(store_path.with_name(store_path.name + ".index") / WRITE_LOCK)


@contextlib.contextmanager
def _readers(root: Path) -> Iterator[None]:
    """Shared while a build is being opened: cleanup never deletes it under the reader."""
    fd = _open_lock(root / READERS_LOCK)
    if fd is None:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _no_readers(root: Path, patience: float = 0.1) -> Iterator[bool]:
    """Exclusive against :func:`_readers`, tried for ``patience`` seconds (opening an index
    takes milliseconds); yields False if readers kept it, so cleanup waits for the next save."""
    fd = _open_lock(root / READERS_LOCK)
    if fd is None:
        yield True
        return
    try:
        deadline = time.monotonic() + patience
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                got = True
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    got = False
                    break
                time.sleep(0.01)
        yield got
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _new_tmp(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{os.getpid()}-{uuid.uuid4().hex}"
    tmp.mkdir()
    return tmp


@contextlib.contextmanager
def build_directory(root: Path) -> Iterator[Path]:
    """A new temporary build directory under ``root`` for a build to write its arrays into
    (see :func:`retrieval.index.build.build_postings`), then to pass to :func:`save_index`,
    which completes and renames it. Removed if the block raises or does not save it."""
    tmp = _new_tmp(root)
    try:
        yield tmp
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _written_there(array: Any, path: Path) -> bool:
    """Whether ``array`` is the whole of the ``.npy`` file ``path``, memory-mapped (a build
    wrote it into the directory being saved: nothing to copy)."""
    filename = getattr(array, "filename", None)
    if not isinstance(array, np.memmap) or filename is None:
        return False
    try:
        return os.path.samefile(filename, path)
    except OSError:
        return False


def save_index(index: BM25Index, root: Path, *, directory: Path | None = None) -> Path:
    """Write ``index`` under ``root`` and make it current; returns the build directory.

    ``directory``, from :func:`build_directory`, is where the index was built: its arrays
    already there are kept as they are. Safe beside other processes saving the same
    collection: each writes its own temp directory, and the swap of ``CURRENT`` and the cleanup
    happen under :func:`build_lock` (re-entered if the caller already holds it, as
    :class:`IndexServer` does for the whole build). The last save wins."""
    tmp = directory if directory is not None else _new_tmp(root)
    try:
        postings = index.postings
        arrays: dict[str, Any] = {
            "indptr": postings.indptr,
            "docs": postings.docs,
            "doc_len": postings.doc_len,
            "doc_pks": index.doc_pks,
            "scores": index.contributions,
            "df": np.asarray(index.df_values, dtype=np.int64),
            "idf": np.asarray(index.idf_values, dtype=np.float64),
            "term_max": np.asarray(index.term_max, dtype=np.float32),
        }
        if postings.has_tf:
            arrays["tf"] = postings.tf
        vocab = FlatVocab.of(postings.vocab, postings.terms())
        arrays.update({f"vocab-{name}": array for name, array in vocab.arrays().items()})
        for name, array in arrays.items():
            path = tmp / f"{name}.npy"
            if _written_there(array, path):
                continue
            with open(path, "wb") as fh:
                np.save(fh, np.ascontiguousarray(array))
                fh.flush()
                os.fsync(fh.fileno())
        manifest: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "collection": index.meta.collection,
            "generation": index.meta.generation,
            "built_at": index.meta.built_at.isoformat(),
            "tokenizer": index.meta.tokenizer,
            "params": index.params.as_dict(),
            "n_docs": postings.n_docs,
            "n_terms": len(vocab),
            "tf": postings.has_tf,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        with build_lock(root):
            final = root / f"gen-{index.meta.generation}-{uuid.uuid4().hex[:8]}"
            os.rename(tmp, final)
            _fsync_dir(root)
            pointer = root / f".CURRENT-{os.getpid()}-{uuid.uuid4().hex}"
            try:
                pointer.write_text(final.name, encoding="utf-8")
                os.replace(pointer, root / "CURRENT")
            except BaseException:
                pointer.unlink(missing_ok=True)  # ``final``, if not current, goes next save
                raise
            _fsync_dir(root)
            _remove_stale(root, keep=final.name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _abandoned(path: Path) -> bool:
    """A temp build or pointer left by a save that cannot finish: its process is gone (or it is
    so old that the pid must have been reused). Only ever asked under the build lock."""
    match = re.match(r"\.(?:tmp|CURRENT)-(\d+)-", path.name)
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False
    if age > ABANDONED_TMP_SECONDS:
        return True
    if match is None:  # an older paperbot's name, without the pid
        return age > ABANDONED_TMP_SECONDS / 6
    return not _pid_alive(int(match.group(1)))


def _remove_stale(root: Path, keep: str) -> None:
    """Under the build lock: delete builds that ``CURRENT`` no longer names (``keep`` and the
    current one stay), unless a reader is opening one right now (then the next save does it),
    and temp builds whose process is gone. Open memory maps stay valid on POSIX."""
    try:
        current = (root / "CURRENT").read_text(encoding="utf-8").strip()
    except OSError:
        current = keep
    children = list(root.iterdir())
    for child in children:
        if child.name.startswith((".tmp-", ".CURRENT-")) and _abandoned(child):
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    superseded = [
        child
        for child in children
        if child.name.startswith("gen-") and child.name not in (keep, current) and child.is_dir()
    ]
    if superseded:
        with _no_readers(root) as alone:
            if alone:
                for child in superseded:
                    shutil.rmtree(child, ignore_errors=True)


def read_manifest(root: Path) -> tuple[Path, dict[str, Any]] | None:
    """The current build directory and its manifest, or None when there is no usable build."""
    try:
        build = root / (root / "CURRENT").read_text(encoding="utf-8").strip()
        manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("format") != FORMAT_VERSION:
        return None
    return build, manifest


def load_index(
    root: Path,
    *,
    generation: int,
    params: BM25Params,
    tokenizer_signature: str,
    engine: EngineChoice = "auto",
    sparse_threshold: int = default("sparse_threshold"),
    stale_ok: bool = False,
) -> BM25Index | None:
    """The saved index if it matches the store generation, params and tokenizer; else None.
    With ``stale_ok``, one saved at another generation too (its ``meta.generation`` says which):
    what a reader answers from while someone else builds the current one. One saved without
    term frequencies is not loaded where rank-bm25 would serve it (it is rebuilt)."""
    if not (root / "CURRENT").exists():
        return None
    with _readers(root):
        found = read_manifest(root)
        if found is None:
            return None
        build, manifest = found
        if (
            (manifest.get("generation") != generation and not stale_ok)
            or manifest.get("params") != params.as_dict()
            or manifest.get("tokenizer") != tokenizer_signature
        ):
            return None
        has_tf = manifest.get("tf") is True
        okapi = engine == "okapi" or (
            engine == "auto" and int(manifest.get("n_docs", 0)) < sparse_threshold
        )
        if okapi and not has_tf:
            return None
        try:
            names = (*_ARRAYS, "tf") if has_tf else _ARRAYS
            arrays = {name: np.load(build / f"{name}.npy", mmap_mode="r") for name in names}
            vocab = FlatVocab(
                **{
                    name: np.load(build / f"vocab-{name}.npy", mmap_mode="r")
                    for name in _VOCAB_ARRAYS
                }
            )
            n_terms = len(vocab)
            if any(arrays[name].shape != (n_terms,) for name in ("df", "idf", "term_max")):
                raise ValueError("term statistics do not match the vocabulary")
        except (OSError, ValueError) as exc:
            log.warning("saved index at %s is unreadable (%s); rebuilding", build, exc)
            return None
    postings = Postings(
        vocab=vocab,
        indptr=arrays["indptr"],
        docs=arrays["docs"],
        tf=arrays["tf"] if has_tf else NoTermFrequencies(int(arrays["docs"].shape[0])),
        doc_len=arrays["doc_len"],
    )
    meta = IndexMeta(
        collection=manifest["collection"],
        generation=manifest["generation"],
        built_at=datetime.fromisoformat(manifest["built_at"]),
        tokenizer=manifest["tokenizer"],
    )
    return BM25Index(
        postings,
        arrays["doc_pks"],
        params,
        meta,
        engine=engine,
        sparse_threshold=sparse_threshold,
        scores=arrays["scores"],
        df=arrays["df"],
        idf=arrays["idf"],
        term_max=arrays["term_max"],
    )
