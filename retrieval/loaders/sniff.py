"""Decide a file's format from its content (the extension is only ever a hint a user got wrong).

A gzip, bzip2, xz or zip file is looked into (``compressed``): the format is that of its content.
Only the first :data:`SNIFF_BYTES` are looked at to tell JSON Lines from a Hugging Face page
text and to refuse what is neither (binary files, archives, HTML, JSON arrays) with a message
that says what to do. JSON Lines files are then told apart by the keys of their first
recognisable record (:func:`retrieval.loaders.jsonl.sniff_jsonl`).
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from retrieval.loaders import hf_page, jsonl
from retrieval.loaders.base import LoaderError
from retrieval.loaders.compressed import DECOMPRESSION_ERRORS, open_text_stream

SNIFF_BYTES = 64 * 1024
_JSON_PROBE_LINES = 10

# Formats that cannot be read (gzip, bzip2, xz and zip are opened by ``compressed``).
_MAGIC = (
    (b"(\xb5/\xfd", "a zstd archive"),
    (b"Rar!", "a rar archive"),
    (b"7z\xbc\xaf", "a 7z archive"),
    (b"%PDF", "a PDF"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f]")


def _read_head(path: Path) -> bytes:
    try:
        with open_text_stream(path) as stream:
            return stream.read(SNIFF_BYTES)
    except DECOMPRESSION_ERRORS as error:
        if isinstance(error, FileNotFoundError):
            raise LoaderError(f"{path}: no such file") from None
        if isinstance(error, IsADirectoryError):
            raise LoaderError(f"{path}: is a directory, not a file") from None
        if isinstance(error, PermissionError):
            raise LoaderError(f"{path}: cannot read (permission denied)") from None
        raise LoaderError(f"{path.name}: damaged or truncated archive ({error})") from None
    except FileNotFoundError:
        raise LoaderError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise LoaderError(f"{path}: is a directory, not a file") from None
    except OSError as error:
        raise LoaderError(f"{path}: cannot read ({error.strerror or error})") from None


def _first_invalid_utf8(head: bytes, *, truncated: bool) -> int | None:
    """Offset of the first byte that is not UTF-8 (a character cut by the end of a truncated
    sample does not count), or None."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if truncated and error.reason == "unexpected end of data":
            return None
        return error.start
    return None


def _not_utf8(name: str, head: bytes, offset: int) -> LoaderError:
    line = head.count(b"\n", 0, offset) + 1
    return LoaderError(
        f"{name}: not UTF-8 text (byte 0x{head[offset]:02x} on line {line}; Latin-1 or "
        "Windows-1252?); save it as UTF-8"
    )


def _looks_binary(text: str) -> bool:
    """Control characters, or mostly undecodable bytes: not a text file. (A few undecodable
    bytes among text are a file in another encoding, such as Latin-1: "not UTF-8".)"""
    if not text:
        return False
    controls = len(_CONTROLS.findall(text))
    return controls > max(8, len(text) // 100) or text.count("\ufffd") > max(8, len(text) // 4)


def sniff(path: Path) -> str:
    """The format name of ``path`` (see ``retrieval.loaders.FORMATS``); LoaderError if none."""
    if path.is_dir():
        raise LoaderError(f"{path}: is a directory, not a file")
    head = _read_head(path)
    name = path.name
    if not head:
        raise LoaderError(f"{name}: file is empty")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise LoaderError(f"{name}: file is UTF-16 text; save it as UTF-8")
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise LoaderError(f"{name}: file is {what}, not text; extract or convert it first")
    if b"\x00" in head:
        raise LoaderError(f"{name}: binary file, not UTF-8 text")
    text = head.removeprefix(codecs.BOM_UTF8).decode("utf-8", errors="replace")
    if len(head) == SNIFF_BYTES:  # the sample may end inside a character or a line
        text = text[: text.rfind("\n") + 1] or text
    if _looks_binary(text):
        raise LoaderError(f"{name}: binary file, not UTF-8 text")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        if len(head) < SNIFF_BYTES:
            raise LoaderError(f"{name}: file is empty (only blank lines)")
        return jsonl.sniff_jsonl(path)  # a huge blank prefix: only JSON Lines is that big
    if lines[0].startswith("["):
        raise LoaderError(
            f"{name}: a JSON array is not supported; use JSON Lines (one object per line)"
        )
    if lines[0].startswith("<"):
        raise LoaderError(f"{name}: looks like HTML or XML; save the page's text instead")
    invalid = _first_invalid_utf8(head, truncated=len(head) == SNIFF_BYTES)
    if any(line.startswith("{") for line in lines[:_JSON_PROBE_LINES]):
        try:
            return jsonl.sniff_jsonl(path)
        except jsonl.NoJsonObject:
            if invalid is not None:  # why no line was a JSON object
                raise _not_utf8(name, head, invalid) from None
            raise
    if invalid is not None:
        raise _not_utf8(name, head, invalid)
    if hf_page.looks_like_page(text):
        return hf_page.FORMAT
    raise LoaderError(
        f"{name}: unrecognised format; paperbot reads JSON Lines (a paperbot export, a BEIR "
        "corpus.jsonl, the Kaggle arXiv snapshot) and the text of a Hugging Face Papers listing "
        "page (its header lines, then title / blank line / abstract)"
    )
