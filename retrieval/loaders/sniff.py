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
_NOT_TEXT = re.compile("[\x00-\x08\x0e-\x1f\ufffd]")


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


def _looks_binary(text: str) -> bool:
    """Mostly undecodable bytes or control characters: not a text file."""
    if not text:
        return False
    bad = len(_NOT_TEXT.findall(text))
    return bad > max(8, len(text) // 100)


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
    if any(line.startswith("{") for line in lines[:_JSON_PROBE_LINES]):
        return jsonl.sniff_jsonl(path)
    if hf_page.looks_like_page(text):
        return hf_page.FORMAT
    raise LoaderError(
        f"{name}: unrecognised format; expected JSON Lines (paperbot export, BEIR corpus, "
        "Kaggle arXiv snapshot) or the text of a Hugging Face Papers page"
    )
