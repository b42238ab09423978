"""Open a paper file whether or not it is compressed, streaming: gzip, bzip2, xz, or a zip archive.

Corpora arrive compressed (``papers.jsonl.gz``; the Kaggle arXiv snapshot as a ``.zip``), and
decompressing a multi-GB file to disk first is exactly the step a user should not have to take.
The compression is recognised from the file's first bytes, never from its name; everything after
this module sees a plain binary stream of the text inside.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from retrieval.loaders.base import LoaderError

__all__ = ["DECOMPRESSION_ERRORS", "compression_of", "open_text_stream"]

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)
# Members of a zip archive that hold papers, by extension; anything else is ignored.
_TEXT_SUFFIXES = (".jsonl", ".json", ".txt", ".ndjson")

# What a damaged or truncated archive raises while it is being read.
DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    zipfile.BadZipFile,
)


def compression_of(head: bytes) -> str | None:
    """``gzip``, ``zip``, ``bzip2``, ``xz``, or None for a plain file, from its first bytes."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


def _zip_member(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    """The one member holding papers: the only file, or the only text-like one."""
    files = [info for info in archive.infolist() if not info.is_dir()]
    if len(files) == 1:
        return files[0]
    texts = [info for info in files if info.filename.lower().endswith(_TEXT_SUFFIXES)]
    if len(texts) == 1:
        return texts[0]
    if not files:
        raise LoaderError(f"{name}: the zip archive is empty")
    shown = ", ".join(info.filename for info in (texts or files)[:5])
    raise LoaderError(
        f"{name}: the zip archive holds {len(texts or files)} candidate files ({shown}); "
        "extract the one to ingest"
    )


@contextmanager
def open_text_stream(path: Path) -> Iterator[BinaryIO]:
    """A binary stream of the file's (decompressed) content, read lazily.

    Raises :class:`LoaderError` for a zip archive that is not one file of papers, and lets
    ``OSError`` through for the caller to word (missing file, permissions).
    """
    with path.open("rb") as raw:
        kind = compression_of(raw.read(8))
        raw.seek(0)
        if kind is None:
            yield raw
        elif kind == "gzip":
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                yield stream  # type: ignore[misc]
        elif kind == "bzip2":
            with bz2.BZ2File(raw, mode="rb") as stream:
                yield stream  # type: ignore[misc]
        elif kind == "xz":
            with lzma.LZMAFile(raw, mode="rb") as stream:
                yield stream  # type: ignore[misc]
        else:
            try:
                archive = zipfile.ZipFile(raw)
            except zipfile.BadZipFile:
                raise LoaderError(f"{path.name}: damaged zip archive") from None
            with archive:
                member = _zip_member(archive, path.name)
                with archive.open(member) as stream:
                    yield stream  # type: ignore[misc]
