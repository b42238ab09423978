"""The text of a scraped Hugging Face Papers listing page (the seed corpus's format).

The page is a few header lines ("new", "Subscribe", a date such as "Mar 14", ...) and then, per
paper, a title line, a blank line and the abstract as one paragraph. Scraped text is messy, so
the parser works on *blocks* (runs of non-blank lines) and decides what each block is from its
shape rather than from its position alone:

- CRLF / lone CR line ends, a UTF-8 BOM and any number of blank lines are tolerated.
- A title is a short block (at most ``TITLE_MAX_LINES`` lines and ``TITLE_MAX_CHARS`` chars);
  a title wrapped over several lines is joined with single spaces.
- A title broken by a stray blank line is rejoined when the piece after it is title-like and is
  followed by the abstract.
- Lost blank lines are recovered around one-line abstracts: a title-like line next to a line
  too long to be a title is split off into a block of its own.
- A long block right after an abstract is a second paragraph of that abstract.
- Anything that cannot be paired (text with no title, a title with no abstract) is skipped and
  reported with its line number, never guessed into another paper.

Ids are ``title_slug(title)`` unless the title is in the known-ids table (exact title -> arXiv
id), so re-scraping the same page always gives the same ids.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from retrieval.papers import Paper, arxiv_abs_url, title_slug

FORMAT = "hf-page"
SOURCE = "hf-page"

TITLE_MAX_CHARS = 300
TITLE_MAX_LINES = 3
#: A page is a few hundred KB; anything far bigger is not a page and is refused, not read.
MAX_PAGE_BYTES = 32 * 1024 * 1024

_HEADER_LINES = frozenset(
    {
        "new",
        "get trending papers in your email inbox!",
        "subscribe",
        "byak and the research community",
    }
)
_DATE_LINE = re.compile(
    r"^(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}"
    r"(?:,?\s+\d{4})?$",
    re.IGNORECASE,
)


def _is_header_line(line: str) -> bool:
    return line.casefold() in _HEADER_LINES or _DATE_LINE.match(line) is not None


@dataclass(frozen=True, slots=True)
class Block:
    """A run of non-blank, stripped lines; ``line`` is the 1-based number of its first line."""

    line: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    @property
    def short(self) -> bool:
        """Could be (part of) a title."""
        return len(self.lines) <= TITLE_MAX_LINES and len(self.text) <= TITLE_MAX_CHARS

    @property
    def sentence(self) -> bool:
        """Ends like prose; a title almost never ends with a full stop."""
        return self.text.endswith(".")

    @property
    def looks_like_abstract(self) -> bool:
        return not self.short or self.sentence

    @property
    def is_header(self) -> bool:
        return len(self.lines) == 1 and _is_header_line(self.lines[0])


@dataclass(frozen=True, slots=True)
class Entry:
    """One title/abstract pair found on the page."""

    line: int
    title: str
    abstract: str


@dataclass(frozen=True, slots=True)
class Skip:
    """A block that could not be paired; ``line`` is where it starts."""

    line: int
    reason: str


@dataclass
class _Building:
    line: int
    title: str
    paragraphs: list[str] = field(default_factory=list)

    def entry(self) -> Entry:
        return Entry(self.line, self.title, "\n\n".join(self.paragraphs))


def _normalise_newlines(text: str) -> str:
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _is_title_run(lines: list[str]) -> bool:
    text = " ".join(lines)
    return len(lines) <= TITLE_MAX_LINES and len(text) <= TITLE_MAX_CHARS and not text.endswith(".")


def _split_missing_blanks(block: Block) -> list[Block]:
    """Split a block where blank lines were lost between a title and an abstract.

    Only blocks with a line too long to be a title (a one-line abstract, as on the page) are
    split: into runs of long and short lines, where a title-like short run becomes a block of
    its own and any other short run (say a closing "Code: ... ." line) stays with the abstract
    line before it. Hard-wrapped text, whose lines are all short, is left alone.
    """
    lines = block.lines
    if all(len(line) <= TITLE_MAX_CHARS for line in lines):
        return [block]
    runs: list[tuple[int, list[str], bool]] = []  # (first line index, lines, is long)
    for index, line in enumerate(lines):
        is_long = len(line) > TITLE_MAX_CHARS
        if runs and runs[-1][2] == is_long:
            runs[-1][1].append(line)
        else:
            runs.append((index, [line], is_long))
    pieces: list[tuple[int, list[str]]] = []
    glue_next = False  # a leading non-title short run waits for the next abstract line
    for index, run_lines, is_long in runs:
        if is_long:
            if glue_next:
                pieces[-1][1].extend(run_lines)
                glue_next = False
            else:
                pieces.append((index, run_lines))
        elif _is_title_run(run_lines):
            pieces.append((index, run_lines))
        elif pieces and len(pieces[-1][1][-1]) > TITLE_MAX_CHARS:
            pieces[-1][1].extend(run_lines)
        else:
            pieces.append((index, run_lines))
            glue_next = True
    return [Block(block.line + index, tuple(piece)) for index, piece in pieces]


def split_blocks(text: str) -> list[Block]:
    """Blocks of the page with header lines removed: every header line before the first paper
    (blank lines between them or not), and later ones that are a block of their own (so two
    concatenated listing pages still parse)."""
    blocks: list[Block] = []
    current: list[str] = []
    start = 0
    in_header = True
    for number, raw in enumerate(_normalise_newlines(text).split("\n"), start=1):
        line = raw.strip()
        if in_header and line:
            if _is_header_line(line):
                continue
            in_header = False
        if line:
            if not current:
                start = number
            current.append(line)
            continue
        if current:
            blocks.extend(_split_missing_blanks(Block(start, tuple(current))))
            current = []
    if current:
        blocks.extend(_split_missing_blanks(Block(start, tuple(current))))
    return [block for block in blocks if not block.is_header]


def parse_page(text: str) -> Iterator[Entry | Skip]:
    """Title/abstract entries and skipped blocks, in page order."""
    blocks = split_blocks(text)
    count = len(blocks)
    building: _Building | None = None  # the last paper, still open for more paragraphs
    i = 0
    while i < count:
        block = blocks[i]
        following = blocks[i + 1] if i + 1 < count else None
        if building is not None and (
            not block.short
            or (block.sentence and (following is None or not following.looks_like_abstract))
        ):
            building.paragraphs.append(block.text)  # a further paragraph of the abstract
            i += 1
            continue
        if not block.short:
            yield Skip(block.line, "text without a title")
            i += 1
            continue
        if building is not None:
            yield building.entry()
            building = None
        # ``block`` is a title; absorb pieces of it that a stray blank line separated.
        title_lines = list(block.lines)
        i += 1
        while i < count and not blocks[i].looks_like_abstract:
            after = blocks[i + 1] if i + 1 < count else None
            if after is None or not after.looks_like_abstract:
                break  # blocks[i] is a short abstract without a full stop
            joined = " ".join([*title_lines, *blocks[i].lines])
            if len(joined) > TITLE_MAX_CHARS:
                yield Skip(block.line, "title without an abstract")
                block, title_lines = blocks[i], list(blocks[i].lines)
            else:
                title_lines.extend(blocks[i].lines)
            i += 1
        if i >= count:
            yield Skip(block.line, "title without an abstract")
            break
        title = " ".join(" ".join(title_lines).split())
        building = _Building(block.line, title, [blocks[i].text])
        i += 1
    if building is not None:
        yield building.entry()


#: Header lines only a listing page has (a bare "new" or a date could start any text).
_DISTINCT_HEADER_LINES = frozenset(
    {"get trending papers in your email inbox!", "byak and the research community"}
)
#: Without the page's header, this many title/abstract entries at least...
MIN_ENTRIES = 2
#: ... this share of them plain (no markdown, no list or table syntax) ...
MIN_PLAIN_SHARE = 0.8
# ... and, for at least half of them, an abstract paragraph on one line longer than a title can
# be (the page never hard-wraps an abstract; prose files and READMEs usually are wrapped) and an
# abstract of one paragraph (a section of a document runs to several).
_MARKUP_START = re.compile(r"^(?:[#>|*+=~`<\[!-]|\d+[.)]\s|:)")


def _page_header(sample: str) -> bool:
    """The page's own header before the first paper: a line only the page has, or two of its
    header lines (``new``, ``Subscribe``, a date such as ``Mar 14``)."""
    seen = 0
    for raw in _normalise_newlines(sample).split("\n"):
        line = raw.strip()
        if not line:
            continue
        if not _is_header_line(line):
            break
        if line.casefold() in _DISTINCT_HEADER_LINES:
            return True
        seen += 1
    return seen >= 2


def _plain(entry: Entry) -> bool:
    """A title and an abstract as a listing shows them: text, not markdown or a list."""
    title = entry.title
    return (
        not _MARKUP_START.match(title)
        and not title.endswith(":")
        and not _MARKUP_START.match(entry.abstract)
        and "```" not in entry.abstract
    )


def looks_like_page(sample: str) -> bool:
    """True when ``sample`` (the start of a file) is the text of a listing page, on positive
    evidence: mostly title/abstract pairs, and either the page's header lines or, without them,
    the page's rhythm over several entries (plain titles over one-line abstract paragraphs). A
    README, notes or a book chapter also pair short lines with paragraphs, but not that way."""
    entries: list[Entry] = []
    skips = 0
    for item in parse_page(sample):
        if isinstance(item, Entry):
            entries.append(item)
        else:
            skips += 1
    if not entries or skips > len(entries):
        return False
    if _page_header(sample):
        return True
    if len(entries) < MIN_ENTRIES:
        return False
    plain = sum(_plain(entry) for entry in entries)
    one_line = sum(
        1 for raw in _normalise_newlines(sample).split("\n") if len(raw.strip()) > TITLE_MAX_CHARS
    )
    one_paragraph = sum("\n\n" not in entry.abstract for entry in entries)
    return (
        plain >= MIN_PLAIN_SHARE * len(entries)
        and 2 * one_line >= len(entries)
        and 2 * one_paragraph >= len(entries)
    )


def _title_key(title: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", title).casefold().split())


class KnownIds:
    """Exact title -> arXiv id, with a whitespace/case-insensitive fallback."""

    def __init__(self, by_title: Mapping[str, str]) -> None:
        self._exact = dict(by_title)
        self._loose = {_title_key(title): arxiv_id for title, arxiv_id in by_title.items()}

    def get(self, title: str) -> str | None:
        return self._exact.get(title) or self._loose.get(_title_key(title))


def entry_to_paper(entry: Entry, known_ids: KnownIds | None = None) -> Paper:
    arxiv_id = known_ids.get(entry.title) if known_ids is not None else None
    return Paper(
        id=arxiv_id or title_slug(entry.title),
        title=entry.title,
        abstract=entry.abstract,
        url=arxiv_abs_url(arxiv_id) if arxiv_id else None,
        source=SOURCE,
    )
