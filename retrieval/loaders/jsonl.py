"""Streaming JSON Lines: bounded line reading, format sniffing and per-line dispatch.

Files can be several GB (the Kaggle snapshot), so they are read line by line in binary mode and
never held whole. A line longer than :data:`MAX_LINE_BYTES` is skipped while being read, in
chunks, so one runaway line cannot exhaust memory. Each line is parsed by the parser of the
format sniffed for the file; a line of another shape is reported as malformed, not guessed at.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

from pydantic import ValidationError

from config import describe_error
from retrieval.loaders import beir, kaggle, native
from retrieval.loaders.base import LoaderError, LoadReport, MalformedRecord
from retrieval.loaders.compressed import open_text_stream
from retrieval.papers import Paper

MAX_LINE_BYTES = 1024 * 1024
_DISCARD_CHUNK = 64 * 1024
#: How far the sniffer looks for a record whose keys identify the format.
SNIFF_MAX_LINES = 1000
SNIFF_MAX_BYTES = 64 * 1024 * 1024

# Checked in order: BEIR and Kaggle have distinctive keys; the export format is the fallback.
_PARSERS: tuple[ModuleType, ...] = (beir, kaggle, native)
FORMATS: dict[str, ModuleType] = {parser.FORMAT: parser for parser in _PARSERS}


class NoJsonObject(LoaderError):
    """Not one line of the file's start is a JSON object."""


def iter_raw_lines(
    stream: BinaryIO, max_bytes: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, raw bytes)``; the bytes are ``None`` for a line over ``max_bytes``.

    ``readline(limit)`` never returns more than ``limit`` bytes, so the rest of an overlong
    line is read and dropped in fixed-size chunks.
    """
    number = 0
    while True:
        raw = stream.readline(max_bytes + 1)
        if not raw:
            return
        number += 1
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            while True:
                rest = stream.readline(_DISCARD_CHUNK)
                if not rest or rest.endswith(b"\n"):
                    break
            yield number, None
            continue
        yield number, raw


def decode_object(number: int, raw: bytes) -> dict[str, Any] | None:
    """The JSON object on a line, ``None`` for a blank line; :class:`MalformedRecord` else."""
    if number == 1:
        raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedRecord(f"invalid UTF-8 at byte {error.start}") from None
    text = text.strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise MalformedRecord(f"invalid JSON: {error.msg} (column {error.colno})") from None
    except RecursionError:
        raise MalformedRecord("invalid JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise MalformedRecord(f"not a JSON object (a {type(value).__name__})")
    return value


def format_for_keys(keys: Iterable[str]) -> str | None:
    key_set = frozenset(keys)
    for parser in _PARSERS:
        if parser.matches(key_set):
            return str(parser.FORMAT)
    return None


def _too_long(max_bytes: int) -> str:
    return f"line longer than {max_bytes // (1024 * 1024)} MB"


def sniff_jsonl(path: Path, max_bytes: int = MAX_LINE_BYTES) -> str:
    """The format of a JSON Lines file, from the first object whose keys identify one."""
    first_keys: list[str] | None = None
    objects = 0
    with open_text_stream(path) as stream:
        for number, raw in iter_raw_lines(stream, max_bytes):
            if number > SNIFF_MAX_LINES or stream.tell() > SNIFF_MAX_BYTES:
                break
            if raw is None:
                continue
            try:
                obj = decode_object(number, raw)
            except MalformedRecord:
                continue
            if obj is None:
                continue
            objects += 1
            found = format_for_keys(obj)
            if found is not None:
                return found
            if first_keys is None:
                first_keys = sorted(obj)
    if first_keys is None:
        raise NoJsonObject(f"{path.name}: no valid JSON object found (is it JSON Lines?)")
    shown = ", ".join(first_keys[:8]) + (", ..." if len(first_keys) > 8 else "")
    raise LoaderError(
        f"{path.name}: unrecognised JSON Lines records (keys: {shown}); expected a paperbot "
        "export, a BEIR corpus.jsonl or the Kaggle arXiv metadata snapshot"
    )


def parse_object(parser: ModuleType, obj: Mapping[str, Any]) -> Paper:
    try:
        paper: Paper = parser.parse(obj)
    except ValidationError as error:
        raise MalformedRecord(describe_error(error, subject="record")) from None
    return paper


def iter_jsonl(
    path: Path, fmt: str, report: LoadReport, max_bytes: int = MAX_LINE_BYTES
) -> Iterator[Paper]:
    """Stream the papers of a JSON Lines file of format ``fmt``, recording skips in ``report``.

    Blank lines (a trailing newline, stray empty lines) are ignored, not counted as malformed.
    """
    parser = FORMATS[fmt]
    with open_text_stream(path) as stream:
        for number, raw in iter_raw_lines(stream, max_bytes):
            if raw is None:
                report.skip(number, _too_long(max_bytes))
                continue
            try:
                obj = decode_object(number, raw)
                if obj is None:
                    continue
                paper = parse_object(parser, obj)
            except MalformedRecord as error:
                report.skip(number, str(error))
                continue
            report.loaded += 1
            yield paper
