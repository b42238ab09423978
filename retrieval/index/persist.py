"""Saving an index next to the store and swapping a rebuilt one in atomically.

Layout: ``<store>.index/<collection>/CURRENT`` names the live build directory. A rebuild writes a
new directory aside, then replaces ``CURRENT`` with ``os.replace`` (atomic on POSIX): a reader sees
the old index or the new one, never half of either. Arrays are memory-mapped on load, so reloading
a million-abstract index costs page-ins, not parsing, and processes share the pages.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from config.settings import default
from retrieval.index.bm25 import BM25Index, EngineChoice, IndexMeta
from retrieval.index.postings import Postings
from retrieval.index.scoring import BM25Params

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_ARRAYS = ("indptr", "docs", "tf", "doc_len", "doc_pks", "scores")


def index_root(store_path: Path, collection: str) -> Path:
    """Directory holding the builds of one collection's index, beside the store file."""
    safe = collection if re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", collection) else None
    name = safe or "x-" + collection.encode("utf-8").hex()[:180]
    return store_path.with_name(store_path.name + ".index") / name


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


def save_index(index: BM25Index, root: Path) -> Path:
    """Write ``index`` under ``root`` and make it current; returns the build directory."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        postings = index.postings
        arrays = {
            "indptr": postings.indptr,
            "docs": postings.docs,
            "tf": postings.tf,
            "doc_len": postings.doc_len,
            "doc_pks": index.doc_pks,
            "scores": index.contributions,
        }
        for name, array in arrays.items():
            with open(tmp / f"{name}.npy", "wb") as fh:
                np.save(fh, np.ascontiguousarray(array))
                fh.flush()
                os.fsync(fh.fileno())
        terms = postings.terms()
        (tmp / "vocab.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")
        manifest: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "collection": index.meta.collection,
            "generation": index.meta.generation,
            "built_at": index.meta.built_at.isoformat(),
            "tokenizer": index.meta.tokenizer,
            "params": index.params.as_dict(),
            "n_docs": postings.n_docs,
            "n_terms": len(terms),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        final = root / f"gen-{index.meta.generation}-{uuid.uuid4().hex[:8]}"
        os.rename(tmp, final)
        _fsync_dir(root)
        pointer = root / f".CURRENT-{uuid.uuid4().hex}"
        pointer.write_text(final.name, encoding="utf-8")
        os.replace(pointer, root / "CURRENT")
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _remove_stale(root, keep=final.name)
    return final


def _remove_stale(root: Path, keep: str) -> None:
    """Old builds go once CURRENT points elsewhere (open memory maps stay valid on POSIX)."""
    for child in root.iterdir():
        if child.is_dir() and child.name != keep and child.name.startswith(("gen-", ".tmp-")):
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
) -> BM25Index | None:
    """The saved index if it matches the store generation, params and tokenizer; else None."""
    found = read_manifest(root)
    if found is None:
        return None
    build, manifest = found
    if (
        manifest.get("generation") != generation
        or manifest.get("params") != params.as_dict()
        or manifest.get("tokenizer") != tokenizer_signature
    ):
        return None
    try:
        arrays = {name: np.load(build / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
        terms = json.loads((build / "vocab.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("saved index at %s is unreadable (%s); rebuilding", build, exc)
        return None
    postings = Postings(
        vocab=dict(zip(terms, range(len(terms)), strict=True)),
        indptr=arrays["indptr"],
        docs=arrays["docs"],
        tf=arrays["tf"],
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
    )
