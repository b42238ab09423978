"""One tokenizer for documents, questions and sentences.

The index, the question and the sentence scorer must agree on what a term is, or a quote could be
chosen for words the index never matched. So there is exactly one pipeline:

format characters out (Unicode category Cf: soft hyphens, zero-width spaces and joiners, bidi
controls, a stray BOM; ``X\\u200bPO`` is the word ``XPO``) -> NFKC -> acronym plurals
(``LLMs`` -> ``LLM``) -> case folding -> a regex that keeps decimals (``49.7``), sizes (``6K``,
``7B``), hyphenated compounds (``GPT-4``, ``co-citations``) and starred names (``Q*``,
``Q^{\\star}``) whole -> per-word rules (stopwords, compound parts plus a joined form, ``*`` ->
``star``) -> Snowball stemming.

Per-word results are cached: a corpus of a million abstracts has far fewer distinct words than
tokens, so the regex and the stemmer dominate and the rules cost almost nothing.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

import Stemmer

from retrieval.stopwords import ENGLISH_STOPWORDS

# A word: letters/digits, optionally joined by - / ' . , into one raw word (GPT-4, 49.7,
# co-citations, results.The), optionally starred (Q*, Q^{\star}, Q^*). Matched on the original
# text (case kept, so acronym plurals can be recognised); everything else is per-word analysis.
_STAR_SUFFIX = r"(?:\*|\^\{\\?star\}|\^\\star|\^\{\*\}|\^\*)"
_TOKEN_RE = re.compile(rf"[^\W_]+(?:[-/'’.,][^\W_]+)*{_STAR_SUFFIX}?", re.IGNORECASE)
_STAR_END_RE = re.compile(rf"{_STAR_SUFFIX}$", re.IGNORECASE)
_ACRONYM_PLURAL_RE = re.compile(r"^[A-Z]{2,}s$")
_NUMBER_RE = re.compile(r"^\d+(?:[.,]\d+)+[^\W\d_]*$")
_THOUSANDS_RE = re.compile(r"^\d{1,3}(?:,\d{3})+$")
_HARD_SPLIT_RE = re.compile(r"[.,]")
_JOINERS_RE = re.compile(r"[-/'’]")
_MAX_WORD = 64
_CACHE_LIMIT = 400_000
# Unicode's format characters (category Cf, as of Unicode 14, Python 3.11's tables): invisible,
# they only steer rendering, so a word carrying one (a soft hyphen from a PDF, a zero-width space
# from a web page) is the same word without it. A test checks this against ``unicodedata``.
FORMAT_CHARS = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f"
)
_FORMAT_RE = re.compile(f"[{FORMAT_CHARS}]")
# Bump when the pipeline changes so that saved indexes built with the old rules are rebuilt.
TOKENIZER_VERSION = 3

StemFn = Callable[[str], str]


def _without_format(text: str) -> tuple[str, list[int] | None]:
    """``text`` without format characters, and for each kept character its offset in ``text``
    (None when nothing was removed: offsets are then the identity)."""
    if text.isascii() or not _FORMAT_RE.search(text):
        return text, None
    pieces: list[str] = []
    offsets: list[int] = []
    pos = 0
    for match in _FORMAT_RE.finditer(text):
        pieces.append(text[pos : match.start()])
        offsets.extend(range(pos, match.start()))
        pos = match.end()
    pieces.append(text[pos:])
    offsets.extend(range(pos, len(text)))
    return "".join(pieces), offsets


@dataclass(frozen=True, slots=True)
class TermSpan:
    """A term and where its word stands in the original text (for highlighting)."""

    term: str
    start: int
    end: int


def _make_stemmer(stemmer: str | StemFn | None) -> StemFn | None:
    if stemmer is None or callable(stemmer):
        return stemmer
    return Stemmer.Stemmer(stemmer).stemWord


class Tokenizer:
    """Turns text into index terms; stopwords and stemmer are injectable (as in bm25s).

    ``query_stopwords`` are extra words dropped only from questions (``QUESTION_WORDS`` is the
    list we measured; off by default because it measured no better, see
    bench/bench_question_words.py).
    """

    def __init__(
        self,
        stopwords: Iterable[str] | None = ENGLISH_STOPWORDS,
        stemmer: str | StemFn | None = "english",
        query_stopwords: Iterable[str] = (),
    ) -> None:
        self.stopwords = frozenset(stopwords or ())
        self.query_stopwords = frozenset(query_stopwords) | self.stopwords
        self._stemmer_spec = stemmer
        self._stem = _make_stemmer(stemmer)
        stem_name = stemmer if isinstance(stemmer, str) or stemmer is None else repr(stemmer)
        digest = hashlib.sha1(
            "\n".join([str(TOKENIZER_VERSION), str(stem_name), *sorted(self.stopwords)]).encode()
        ).hexdigest()[:16]
        self.signature = f"v{TOKENIZER_VERSION}-{stem_name}-{digest}"
        self._doc_cache: dict[str, tuple[str, ...]] = {}
        self._query_cache: dict[str, tuple[str, ...]] = {}

    def __reduce__(self) -> tuple[type[Tokenizer], tuple[object, ...]]:
        """Sent to another process as its settings (the Snowball stemmer itself cannot be
        pickled): what a merge process needs to build an index with this signature."""
        if not (self._stemmer_spec is None or isinstance(self._stemmer_spec, str)):
            raise TypeError("a tokenizer with a custom stemmer cannot go to another process")
        return (
            Tokenizer,
            (
                sorted(self.stopwords),
                self._stemmer_spec,
                sorted(self.query_stopwords - self.stopwords),
            ),
        )

    # -- public API ------------------------------------------------------------------------------
    def terms(self, text: str) -> list[str]:
        """Index terms of a document or a sentence, in order (repeats kept: they are tf)."""
        return self._terms(text, self._doc_cache, self.stopwords)

    def query_terms(self, text: str) -> list[str]:
        """Terms of a question: like :meth:`terms`, minus words that only shape a question."""
        return self._terms(text, self._query_cache, self.query_stopwords)

    def spans(self, text: str, *, query: bool = False) -> list[TermSpan]:
        """Terms with the offsets of their word in ``text`` itself (no normalisation shifts).

        A compound such as ``GPT-4`` yields several terms sharing one span; a word with a
        format character inside (``X\\u200bPO``) has one span over all of it.
        """
        cache, stop = (
            (self._query_cache, self.query_stopwords)
            if query
            else (self._doc_cache, self.stopwords)
        )
        out: list[TermSpan] = []
        scanned, offsets = _without_format(text)
        for match in _TOKEN_RE.finditer(scanned):
            raw = match.group()
            if not raw.isascii():
                raw = unicodedata.normalize("NFKC", raw)
            start, end = match.start(), match.end()
            if offsets is not None:  # back to offsets in ``text``
                start, end = offsets[start], offsets[end - 1] + 1
            for term in self._word(raw, cache, stop):
                out.append(TermSpan(term, start, end))
        return out

    def words(self, text: str) -> list[str]:
        """The raw words of ``text`` (format characters out, NFKC-normalised, case kept): input
        of :meth:`word_terms`."""
        if not text.isascii():
            if _FORMAT_RE.search(text):
                text = _FORMAT_RE.sub("", text)
            if not unicodedata.is_normalized("NFKC", text):
                text = unicodedata.normalize("NFKC", text)
        return _TOKEN_RE.findall(text)

    def word_terms(self, raw: str) -> tuple[str, ...]:
        """Document terms of one raw word (cached): lets the index builder cache term ids."""
        return self._word(raw, self._doc_cache, self.stopwords)

    # -- pipeline --------------------------------------------------------------------------------
    def _terms(
        self, text: str, cache: dict[str, tuple[str, ...]], stop: frozenset[str]
    ) -> list[str]:
        out: list[str] = []
        extend = out.extend
        get = cache.get
        for raw in self.words(text):
            hit = get(raw)
            if hit is None:
                hit = self._word(raw, cache, stop)
            extend(hit)
        return out

    def _word(
        self, raw: str, cache: dict[str, tuple[str, ...]], stop: frozenset[str]
    ) -> tuple[str, ...]:
        hit = cache.get(raw)
        if hit is not None:
            return hit
        word = raw[:-1] if _ACRONYM_PLURAL_RE.match(raw) else raw  # LLMs -> LLM
        result = self._analyse(word.casefold(), stop)
        # A full cache keeps what it has and stops growing: the words seen first are the
        # frequent ones, and clearing it whole (as before) made a long-tailed corpus (formulas,
        # ids, typos) re-analyse even "the" every few thousand documents.
        if len(cache) < _CACHE_LIMIT:
            cache[raw] = result
        return result

    def _analyse(self, word: str, stop: frozenset[str]) -> tuple[str, ...]:
        if word in stop or len(word) > _MAX_WORD:
            return ()
        if _NUMBER_RE.match(word):  # 49.7, 1,000, 3.5x
            return (word.replace(",", "") if _THOUSANDS_RE.match(word) else word,)
        starred = _STAR_END_RE.search(word)
        if starred:
            base = word[: starred.start()]
            if _JOINERS_RE.search(base):
                return self._compound(base, stop, star=True)
            return (base + "star",) if base else ()
        if _JOINERS_RE.search(word):
            return self._compound(word, stop, star=False)
        if "." in word or "," in word:  # "results.The", "e.g": separate words, no joined form
            terms: list[str] = []
            for piece in _HARD_SPLIT_RE.split(word):
                if piece:
                    terms.extend(self._analyse(piece, stop))
            return tuple(terms)
        return self._simple(word, stop)

    def _compound(self, word: str, stop: frozenset[str], *, star: bool) -> tuple[str, ...]:
        if word.endswith(("'s", "’s")):
            word = word[:-2]
        parts = [p for p in _JOINERS_RE.split(word) if p]
        if star and parts:
            parts[-1] += "star"
        terms: list[str] = []
        for part in parts:
            terms.extend(self._analyse(part, stop))
        # "GPT-4", "co-citations", "x-ray": also index the joined form so "GPT4" matches.
        if len(parts) == 2 and any(
            any(ch.isdigit() for ch in p) or (len(p) <= 2 and p not in stop) for p in parts
        ):
            terms.extend(self._simple("".join(parts), frozenset()))
        return tuple(terms)

    def _simple(self, word: str, stop: frozenset[str]) -> tuple[str, ...]:
        if not word or word in stop:
            return ()
        if word[0].isdigit():
            return (word,)
        return (self._stem(word) if self._stem else word,)


@lru_cache(maxsize=1)
def default_tokenizer() -> Tokenizer:
    """The shared tokenizer with the project's defaults (English stopwords, Snowball stems)."""
    return Tokenizer()
