"""Sentence segmentation of abstracts, as character spans into the original text.

The composer quotes sentences word for word and links to them with text fragments, so the
segmenter never rewrites text: it returns ``(start, end)`` offsets into the string it was given,
with no whitespace at either edge. Abstracts are hostile to naive ``". "`` splitting: they are full
of ``e.g.``, ``i.e.``, ``et al.``, ``Fig. 2``, ``vs.``, decimals, URLs, LaTeX
(``{\\romannumeral1}``), citations such as ``(DPO; Rafailov et al., 2023)``, gene names that
start a sentence in lower case (``mTOR is ...``) and scraped text that lost the space after a
period (``works.We``).

The rules here were measured against SciFact's gold sentence lists (``bench/bench_sentences.py``)
and beat the libraries we tried (pysbd, blingfire) on that data while being faster, so there is no
dependency: a regex pass finds candidate boundaries, then a few cheap checks veto the ones that
sit after an abbreviation, inside brackets, a URL or a LaTeX group.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["ABBREVIATIONS", "sentence_texts", "split_sentences"]

# Lower-cased tokens (without their final period) after which a period does not end a sentence.
# Kept deliberately short: every entry costs a missed boundary when the word really ends one.
ABBREVIATIONS: frozenset[str] = frozenset(
    {
        # Latin and scholarly
        "e.g",
        "i.e",
        "eg",
        "ie",
        "al",
        "cf",
        "viz",
        "vs",
        "v",
        "ca",
        "approx",
        "resp",
        "incl",
        "esp",
        "wrt",
        "w.r.t",
        "a.k.a",
        "aka",
        # references inside a document
        "fig",
        "figs",
        "eq",
        "eqs",
        "eqn",
        "eqns",
        "ref",
        "refs",
        "sec",
        "secs",
        "tab",
        "tabs",
        "no",
        "nos",
        "vol",
        "vols",
        "pp",
        "p",
        "ch",
        "chap",
        "suppl",
        "thm",
        "lem",
        "prop",
        "alg",
        # people and organisations
        "dr",
        "prof",
        "mr",
        "mrs",
        "st",
        "jr",
        "sr",
        "inc",
        "ltd",
        "co",
        "corp",
        "dept",
        "univ",
        "assoc",
        # biology and medicine
        "sp",
        "spp",
        "ssp",
        "subsp",
        "var",
        "cv",
        "an",
        # months (dates in citations)
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    }
)

# Abbreviations that also commonly end a sentence: a following capitalised word means a boundary.
_SENTENCE_FINAL_ABBREVIATIONS: frozenset[str] = frozenset({"inc", "ltd", "co", "corp"})

# A candidate boundary: terminal punctuation, optional closing quotes/brackets, then either
# whitespace or (scraped text) nothing at all before the next sentence's first character.
_CANDIDATE = re.compile(
    r"""
    (?P<punct>[.!?]+|\.\.\.|…)          # the terminal punctuation
    (?P<close>(?:["'”’)\]]|\s["”](?=\s))*)  # closers of the sentence that ends ("... zippers. ")
    (?P<space>\s*)                      # whitespace (possibly none: "works.We")
    (?=(?P<next>\S))                    # the next sentence's first character
    """,
    re.VERBOSE,
)

# Regions inside which no boundary is allowed: URLs, e-mail addresses, LaTeX groups and inline
# maths, DOIs. Brackets are handled separately (with a length cap) because they can be unbalanced.
# Each pattern comes with a cheap substring test so that most abstracts skip the regex entirely.
_PROTECTED: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("://", re.compile(r"""(?:https?|ftp)://[^\s<>"'{}|\\^`]*[^\s<>"'{}|\\^`.,;:!?)\]]""")),
    ("www.", re.compile(r"""www\.[^\s<>"']*[^\s<>"'.,;:!?)\]]""")),
    ("@", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),  # e-mail
    ("{", re.compile(r"\{[^{}\n]{0,200}\}")),  # LaTeX group: ({\romannumeral1})
    ("$", re.compile(r"\$(?=[^\s\d$])[^$\n]{1,200}\$")),  # inline maths, not "$40 ... $5"
    ("10.", re.compile(r"\b10\.\d{4,9}/\S+")),  # DOI
)

# The word right before the punctuation (letters, digits, internal periods as in "e.g" or "U.S").
_WORD_BEFORE = re.compile(r"([A-Za-z0-9][A-Za-z0-9.\-]*)$")
_DOTTED = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")
# The token right after the whitespace.
_WORD_AFTER = re.compile(r"[^\s]*")

_OPENERS = "([{"
_CLOSERS = ")]}"
_BRACKET = re.compile(r"[()\[\]{}]")
_MAX_BRACKET_SPAN = 400  # a bracket that stays open longer than this is treated as unbalanced


def _protected_spans(text: str) -> list[tuple[int, int]]:
    """Spans of URLs, LaTeX groups, formulas and DOIs, in order."""
    spans: list[tuple[int, int]] = []
    for trigger, pattern in _PROTECTED:
        if trigger in text:
            spans.extend(match.span() for match in pattern.finditer(text))
    return spans


def _bracket_pairs(text: str) -> list[tuple[int, int]]:
    """(open, close) positions of brackets that close nearby, ignoring the rest.

    Abstracts have enumerations such as ``1) ... 2) ...`` and stray brackets; an unmatched ``(``
    must not swallow the rest of the text, so only pairs that close within
    ``_MAX_BRACKET_SPAN`` characters count.
    """
    stack: list[int] = []
    pairs: list[tuple[int, int]] = []
    for match in _BRACKET.finditer(text):
        i = match.start()
        if match.group() in _OPENERS:
            stack.append(i)
        elif stack:
            j = stack.pop()
            if i - j <= _MAX_BRACKET_SPAN:
                pairs.append((j, i))
    return pairs


def _inside(position: int, spans: list[tuple[int, int]]) -> bool:
    """Whether ``start <= position < end`` for one of ``spans`` (few spans: a scan is fastest)."""
    return any(start <= position < end for start, end in spans)


def _strictly_inside_brackets(a: int, b: int, pairs: list[tuple[int, int]]) -> bool:
    """Whether positions ``a`` and ``b`` both lie between one pair's brackets."""
    return any(open_ < a and b <= close for open_, close in pairs)


def _looks_like_sentence_start(token: str) -> bool:
    """Whether the token after the punctuation can open a sentence."""
    first = token[0]
    if first.isupper() or first.isdigit():
        return True
    if first in "\"'“‘([{<*#•–—-©":
        return True
    if "\u03b1" <= first <= "\u03c9":  # Greek: "β-amyloid plaques were ..."
        return True
    if first.islower():
        # Gene and product names start sentences in lower case: mTOR, p53, miR-192, lncRNAs, eNOS.
        core = token.rstrip(".,;:!?)]}\"'")
        return any(ch.isupper() or ch.isdigit() for ch in core[1:])
    return False


def _is_boundary(
    text: str,
    match: re.Match[str],
    pairs: list[tuple[int, int]],
    protected: list[tuple[int, int]],
) -> bool:
    punct_start = match.start("punct")
    space = match.group("space")
    next_pos = match.end()
    if protected and (_inside(punct_start, protected) or _inside(next_pos, protected)):
        return False
    # Inside brackets: "(DPO; Rafailov et al., 2023)". A sentence ending in ".)" is still found
    # because the closing bracket is not strictly inside its own pair.
    if pairs and _strictly_inside_brackets(punct_start, next_pos, pairs):
        return False
    after_match = _WORD_AFTER.match(text, next_pos)
    after = after_match.group(0) if after_match else ""
    punct = match.group("punct")
    before_match = _WORD_BEFORE.search(text, max(0, punct_start - 40), punct_start)
    before = before_match.group(1) if before_match else ""
    if not space:
        # No whitespace: only a lowercase word glued to a capitalised word counts ("works.We").
        # Decimals (49.7), versions (v1.2), domains (aka.ms), "e.g.The" are not boundaries here.
        if punct != "." and punct not in ("!", "?"):
            return False
        if match.group("close"):
            return _looks_like_sentence_start(after)
        return (
            len(before) >= 3
            and before.isalpha()
            and before[-2:].islower()
            and before.lower() not in ABBREVIATIONS
            and len(after) >= 2
            and after[0].isupper()
            and after[1].islower()
        )
    if not _looks_like_sentence_start(after):
        return False
    if punct != "." or match.group("close"):
        return True
    if not before:
        return True
    lowered = before.lower()
    if len(before) >= 2 and before.isupper() and before.isalpha():
        return True  # an acronym ("... in C. elegans subjected to DR. DA signalling"), not "Dr."
    if lowered in ABBREVIATIONS or lowered.rstrip(".") in ABBREVIATIONS:
        # "Inc. The", "Ltd. We": these also end sentences; "et al. Smith" does not.
        return lowered in _SENTENCE_FINAL_ABBREVIATIONS and after[0].isupper()
    if lowered == "etc":
        return after[0].isupper() or after[0] in "\"'“("
    # An initial ("J. Smith", "B. campestris", "U.S. Army") is not a sentence end.
    if len(before) == 1 and before.isupper():
        return False
    if _DOTTED.fullmatch(before):
        # "U.S. Army", "J.B.S. Haldane": upper-case initials run on. Lower-case ones that are not
        # known abbreviations ("2 h p.i. The tumor", "after i.m. Injection") end a sentence
        # when a capitalised word follows.
        return before.islower() and len(after) > 1 and after[0].isupper() and after[1].islower()
    # "Fig. 2", "No. 5", "p. 12" handled above; "was 3. The next" is a boundary.
    return True


@lru_cache(maxsize=4096)
def _split_cached(text: str) -> tuple[tuple[int, int], ...]:
    return tuple(_split(text))


def _split(text: str) -> list[tuple[int, int]]:
    boundaries: list[int] = []
    if any(ch in text for ch in ".!?…"):
        protected = _protected_spans(text)
        pairs = _bracket_pairs(text)
        for match in _CANDIDATE.finditer(text):
            if _is_boundary(text, match, pairs, protected):
                boundaries.append(match.end())
    spans: list[tuple[int, int]] = []
    start = 0
    for cut in [*boundaries, len(text)]:
        piece_start, piece_end = start, cut
        while piece_start < piece_end and text[piece_start].isspace():
            piece_start += 1
        while piece_end > piece_start and text[piece_end - 1].isspace():
            piece_end -= 1
        if piece_end > piece_start:
            spans.append((piece_start, piece_end))
        start = cut
    return spans


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` of ``text``: ``text[start:end]`` is one sentence.

    Spans are in order, do not overlap, never start or end with whitespace, and together cover
    every non-space character. An empty or blank text has no sentences. Results are cached,
    because the composer segments the same few top abstracts again and again.
    """
    if not text or text.isspace():
        return []
    return list(_split_cached(text))


def sentence_texts(text: str) -> list[str]:
    """The sentences themselves (convenience for tests and benches)."""
    return [text[s:e] for s, e in split_sentences(text)]
