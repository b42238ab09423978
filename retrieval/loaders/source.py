"""``open_source``: one entry point for every file format, chosen by content."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from retrieval.loaders import hf_page, jsonl
from retrieval.loaders.base import LoaderError, LoadReport
from retrieval.loaders.bundled import known_ids
from retrieval.loaders.compressed import DECOMPRESSION_ERRORS, open_text_stream
from retrieval.loaders.sniff import sniff
from retrieval.papers import Paper

logger = logging.getLogger(__name__)


class PaperSource:
    """The papers of one file, streamed. ``report`` fills in while iterating.

    Iterating again re-reads the file and starts a fresh report. When a full pass finds no
    valid paper, the iteration raises :class:`LoaderError` (after the report is complete, so a
    caller can still show the skipped lines).
    """

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.format = fmt
        self.report = LoadReport(path=path, format=fmt)

    def __repr__(self) -> str:
        return f"PaperSource({str(self.path)!r}, format={self.format!r})"

    def __iter__(self) -> Iterator[Paper]:
        self.report = report = LoadReport(path=self.path, format=self.format)
        try:
            if self.format == hf_page.FORMAT:
                yield from self._iter_page(report)
            else:
                yield from jsonl.iter_jsonl(self.path, self.format, report)
        except DECOMPRESSION_ERRORS as error:  # removed, unreadable, failing disk, bad archive
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            raise LoaderError(
                f"{self.path}: cannot read ({reason}) after {report.loaded} papers"
            ) from None
        logger.debug("%s", report.summary())
        if report.loaded == 0:
            detail = ""
            if report.skipped_lines:
                line, reason = report.skipped_lines[0]
                detail = f"; {report.skipped} skipped, first at line {line}: {reason}"
            raise LoaderError(f"{self.path.name}: no valid papers found ({self.format}{detail})")

    def _iter_page(self, report: LoadReport) -> Iterator[Paper]:
        with open_text_stream(self.path) as stream:
            data = stream.read(hf_page.MAX_PAGE_BYTES + 1)
        if len(data) > hf_page.MAX_PAGE_BYTES:
            raise LoaderError(
                f"{self.path.name}: over {hf_page.MAX_PAGE_BYTES // (1024 * 1024)} MB is too "
                "large for a Hugging Face page text"
            )
        text = data.decode("utf-8", errors="replace")
        ids = known_ids()
        for item in hf_page.parse_page(text):
            if isinstance(item, hf_page.Skip):
                report.skip(item.line, item.reason)
                continue
            report.loaded += 1
            yield hf_page.entry_to_paper(item, ids)


def open_source(path: Path | str) -> PaperSource:
    """Sniff ``path`` and return its papers as a lazy :class:`PaperSource`.

    Raises :class:`LoaderError` for a missing, empty, binary or unrecognised file.
    """
    path = Path(path)
    return PaperSource(path, sniff(path))
