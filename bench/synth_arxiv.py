"""Synthetic arXiv-like corpora with a realistic vocabulary (issue 11), deterministic, numpy.

``bench/synth.py`` resamples SciFact sentences: real text, but a ~33k-term vocabulary at any
size, which hides everything that grows with the vocabulary. Real arXiv has millions of distinct
terms (formulas, catalogue ids, names, typos). Here every token of a paper comes from one of:

* 62%: SciFact's own word frequencies (words of the 5,183 titles and abstracts, counted);
* 25%: the paper's topic, one of 5,000; each topic has 200-500 words (generated technical words
  and mid-frequency SciFact words) used with a Zipf-like skew inside the topic;
* 13%: a Zipf(1.0) tail over 10M generated types: pseudo-words, element formulas (``Zr3Ti``),
  catalogue ids (``GW150914``), hyphenated compounds and typos of common words.

Titles have 6-14 words, abstracts 150-200 in sentences of 8-30 words (capitalised, full stops,
a few commas), so the answer composer's sentence splitter sees sentences.

Everything is vectorised per block of :data:`BLOCK` papers (all token ids of a block sampled at
once, mapped to strings through lookup arrays, joined), and tail type ``i`` is turned into its
string by a function of ``i`` alone, only for the types a block actually uses (the frequent ones
cached). Block ``b`` is drawn from ``default_rng([seed, b])``, so a corpus of ``n`` papers is the
first ``n`` papers of any larger one: the papers after ``n`` are "tomorrow's papers".

    python -m bench.synth_arxiv --stats 100k      # generation speed, distinct words and terms
    python -m bench.synth_arxiv --sample 3        # print a few papers
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

REPO = Path(__file__).resolve().parents[1]
SCIFACT = REPO.parent / "shared" / "eval" / "scifact"

# Bump when the papers generated for a seed change: cached stores of another version are stale.
GENERATOR_VERSION = 1
BLOCK = 10_000  # papers generated at once
SEED = 11
SHARE_SCIFACT, SHARE_TOPIC = 0.62, 0.25  # the rest (0.13) is the long tail
N_TOPICS = 5_000
TOPIC_WORDS = (200, 500)
TECH_POOL = 300_000  # generated technical words the topics draw from
TECH_SHARE = 0.6  # share of a topic's words that are generated technical words
TAIL_TYPES = 10_000_000
TITLE_WORDS = (6, 14)
ABSTRACT_WORDS = (150, 200)
SENTENCE_WORDS = (8, 30)
COMMA_RATE = 0.05
_TAIL_CACHE = 1 << 21  # strings of the most frequent tail types are kept once made

_WORD_RE = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:[-'][^\W_]+)*")


def _words(text: str) -> list[str]:
    return text.split()


# Material for generated types: syllables of pronounceable made-up words, mostly simple.
_ONSETS = _words(
    "b c d f g h k l m n p r s t v z b d k l m n p r s t "
    "bl br ch cl cr dr fl gr kr ph pl pr sc sh sp st str th tr"
)
_VOWELS = _words("a e i o u a e i o u y ai ou ia eo")
_CODAS = ["", "", "", "", "", "n", "r", "l", "s", "m", "x", "t", "nd", "st"]
_SUFFIXES = _words(
    "ase ene ium ity ation ic ometry ology oid ine ide ane yl ism ative ization ous al on ics "
    "ing ed er ant ence itis osis"
)
_ELEMENTS = _words(
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As "
    "Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Sm Eu Gd Tb "
    "Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi U"
)
_CATALOGUES = _words(
    "GW GRB NGC HD SN PSR IC KIC TIC HIP WASP KOI FRB ZTF ATLAS SDSSJ 2MASSJ LHS GJ TOI XTE "
    "SGR AT PKS 3C Mrk UGC ESO CVE RFC ISO IEEE PDB rs NCT GSE"
)
_KEYBOARD = "abcdefghijklmnopqrstuvwxyz"
# Kinds of tail type, by share (percent).
_KINDS = (("word", 50), ("formula", 15), ("catalogue", 12), ("compound", 13), ("typo", 10))
_KIND_EDGES = np.cumsum([share for _, share in _KINDS])


def _mix(values: NDArray[np.uint64], salt: int) -> NDArray[np.uint64]:
    """splitmix64 of ``values`` xor ``salt``: 64 well-mixed bits per type id, vectorised."""
    with np.errstate(over="ignore"):
        z = (values ^ np.uint64(salt)) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _pseudo_words(h: NDArray[np.uint64]) -> list[str]:
    """One pronounceable non-word per hash: 2-4 syllables, sometimes a technical suffix."""
    count = np.searchsorted([25, 75, 100], (h % np.uint64(100)).astype(np.int64), "right") + 2
    sylls = []
    for s in range(4):
        hs = _mix(h, 0xA11 + s)
        sylls.append(
            (
                (hs % np.uint64(len(_ONSETS))).astype(np.int64).tolist(),
                ((hs >> np.uint64(16)) % np.uint64(len(_VOWELS))).astype(np.int64).tolist(),
                ((hs >> np.uint64(32)) % np.uint64(len(_CODAS))).astype(np.int64).tolist(),
            )
        )
    suffix = (_mix(h, 0x5FF) % np.uint64(len(_SUFFIXES) * 3)).astype(np.int64).tolist()
    onsets, vowels, codas, suf = _ONSETS, _VOWELS, _CODAS, _SUFFIXES
    out = []
    for j, n in enumerate(count.tolist()):
        word = "".join(
            onsets[sylls[s][0][j]] + vowels[sylls[s][1][j]] + codas[sylls[s][2][j]]
            for s in range(n)
        )
        if suffix[j] < len(suf):  # a third of them
            word += suf[suffix[j]]
        out.append(word)
    return out


def _formulas(h: NDArray[np.uint64]) -> list[str]:
    """Element formulas: ``Zr3Ti``, ``LiFePO4``, ``Ba2Cu3O7``."""
    n_el = len(_ELEMENTS)
    parts = 2 + (h % np.uint64(3)).astype(np.int64)  # 2-4 elements
    rest = h >> np.uint64(2)
    cols = []
    for _ in range(4):
        cols.append(
            (
                (rest % np.uint64(n_el)).astype(np.int64).tolist(),
                ((rest >> np.uint64(7)) % np.uint64(12)).astype(np.int64).tolist(),
            )
        )
        rest = rest >> np.uint64(11)
    out = []
    for j, n in enumerate(parts.tolist()):
        pieces = []
        for s in range(n):
            el, sub = cols[s][0][j], cols[s][1][j]
            pieces.append(_ELEMENTS[el] + (str(sub) if 1 < sub < 10 else ""))
        out.append("".join(pieces))
    return out


def _catalogue_ids(h: NDArray[np.uint64]) -> list[str]:
    """Catalogue and database ids: ``GW150914``, ``NGC4993``, ``PSR1913+16`` style, ``rs429358``."""
    prefix = (h % np.uint64(len(_CATALOGUES))).astype(np.int64).tolist()
    digits = (3 + (h >> np.uint64(8)) % np.uint64(5)).astype(np.int64).tolist()  # 3-7 digits
    number = ((h >> np.uint64(16)) % np.uint64(10_000_000)).astype(np.int64).tolist()
    dash = ((h >> np.uint64(48)) % np.uint64(6)).astype(np.int64).tolist()
    out = []
    for p, d, num, ds in zip(prefix, digits, number, dash, strict=True):
        text = f"{_CATALOGUES[p]}{num % 10**d:0{d}d}"
        if ds == 0:
            text += f"-{num % 97}"
        out.append(text)
    return out


class TypeNames:
    """Tail type id -> its string, a pure function of the id (and the lexicons)."""

    def __init__(self, common: list[str], seed: int) -> None:
        self._common = [w for w in common if w.isalpha() and len(w) >= 4][:8_000]
        self._seed = seed
        self._cache = np.empty(_TAIL_CACHE, dtype=object)
        self._cached = np.zeros(_TAIL_CACHE, dtype=bool)

    def names(self, ids: NDArray[np.int64]) -> NDArray[np.object_]:
        """Strings of ``ids`` (any shape, any repeats), made only for the distinct ones."""
        uniq, inverse = np.unique(ids, return_inverse=True)
        out = np.empty(uniq.shape[0], dtype=object)
        head = uniq < _TAIL_CACHE
        cached = np.zeros(uniq.shape[0], dtype=bool)
        cached[head] = self._cached[uniq[head]]
        out[cached] = self._cache[uniq[cached]]
        todo = ~cached
        made = self.make(uniq[todo])
        out[todo] = made
        fill = todo & head
        self._cache[uniq[fill]] = out[fill]
        self._cached[uniq[fill]] = True
        return out[inverse]

    def make(self, ids: NDArray[np.int64]) -> NDArray[np.object_]:
        """Strings of distinct ids, made from scratch (vectorised per kind)."""
        out = np.empty(ids.shape[0], dtype=object)
        if not ids.shape[0]:
            return out
        h = _mix(ids.astype(np.uint64), self._seed * 0x1000193 + 7)
        kind = np.searchsorted(_KIND_EDGES, (h % np.uint64(100)).astype(np.int64), "right")
        h2 = _mix(h, 0x5EED)  # independent bits for the content
        for k, (name, _) in enumerate(_KINDS):
            sel = np.flatnonzero(kind == k)
            if not sel.shape[0]:
                continue
            hk = h2[sel]
            if name == "word":
                made = _pseudo_words(hk)
            elif name == "formula":
                made = _formulas(hk)
            elif name == "catalogue":
                made = _catalogue_ids(hk)
            elif name == "compound":
                made = self._compounds(hk)
            else:
                made = self._typos(hk)
            out[sel] = made
        return out

    def _compounds(self, h: NDArray[np.uint64]) -> list[str]:
        """Hyphenated compounds: two made-up parts, or a common word and a made-up part, or a
        name and a number (``Kalorim-4``)."""
        first = _pseudo_words(_mix(h, 1))
        second = _pseudo_words(_mix(h, 2))
        style = (h % np.uint64(4)).astype(np.int64).tolist()
        common = self._common
        pick = ((h >> np.uint64(8)) % np.uint64(len(common))).astype(np.int64).tolist()
        number = ((h >> np.uint64(32)) % np.uint64(200)).astype(np.int64).tolist()
        out = []
        for j, s in enumerate(style):
            if s == 0:
                out.append(f"{first[j]}-{second[j]}")
            elif s == 1:
                out.append(f"{common[pick[j]]}-{second[j]}")
            elif s == 2:
                out.append(f"{first[j]}-{common[pick[j]]}")
            else:
                out.append(f"{first[j].capitalize()}-{number[j]}")
        return out

    def _typos(self, h: NDArray[np.uint64]) -> list[str]:
        """A common word with one slip: a letter dropped, doubled, swapped or mistyped."""
        common = self._common
        pick = (h % np.uint64(len(common))).astype(np.int64).tolist()
        op = ((h >> np.uint64(16)) % np.uint64(4)).astype(np.int64).tolist()
        where = ((h >> np.uint64(20)) % np.uint64(1 << 20)).astype(np.int64).tolist()
        letter = ((h >> np.uint64(40)) % np.uint64(26)).astype(np.int64).tolist()
        out = []
        for j, word in enumerate(common[p] for p in pick):
            i = 1 + where[j] % (len(word) - 1)  # never the first letter
            o = op[j]
            if o == 0:
                typo = word[:i] + word[i + 1 :]
            elif o == 1:
                typo = word[:i] + word[i] + word[i:]
            elif o == 2 and i < len(word) - 1:
                typo = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
            else:
                typo = word[:i] + _KEYBOARD[letter[j]] + word[i + 1 :]
            out.append(typo)
        return out


# -- the lexicons ---------------------------------------------------------------------------------
def _fold(word: str) -> str:
    """Lower-case a word unless its case carries meaning (``DNA``, ``mRNA``, ``IL-6``)."""
    return word if any(ch.isupper() for ch in word[1:]) else word.lower()


@functools.lru_cache(maxsize=2)
def scifact_counts(path: Path = SCIFACT / "beir" / "corpus.jsonl") -> tuple[list[str], list[int]]:
    """SciFact's words (titles and abstracts) and their counts, most frequent first."""
    counts: Counter[str] = Counter()
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            counts.update(map(_fold, _WORD_RE.findall(f"{doc.get('title', '')} {doc['text']}")))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [w for w, _ in ranked], [c for _, c in ranked]


def _alias_table(weights: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Walker's alias table (Vose's construction): exact sampling from ``weights`` with one
    uniform index and one uniform number per draw, vectorised (faster than a binary search)."""
    n = weights.shape[0]
    scaled = (weights / weights.sum() * n).tolist()
    accept = [1.0] * n
    alias = list(range(n))
    small = [i for i, w in enumerate(scaled) if w < 1.0]
    large = [i for i, w in enumerate(scaled) if w >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        accept[s], alias[s] = scaled[s], g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    return np.asarray(accept), np.asarray(alias, dtype=np.int64)


@dataclass
class _Topics:
    offsets: NDArray[np.int64]  # N_TOPICS + 1, into ``words``
    words: NDArray[np.int64]  # lexicon ids, each topic's words in its own frequency order
    weights: NDArray[np.float64]  # topic popularity (sums to 1)


class Generator:
    """Papers of one seed; see the module docstring."""

    def __init__(self, seed: int = SEED) -> None:
        self.seed = seed
        words, counts = scifact_counts()
        tech = TypeNames(words, seed + 1).make(np.arange(TECH_POOL, dtype=np.int64))
        # The lexicon: SciFact's words, then the generated technical words.
        self.lexicon = np.array([*words, *tech.tolist()], dtype=object)
        self.n_scifact = len(words)
        self._alias = _alias_table(np.asarray(counts, dtype=np.float64))
        self._topics = self._make_topics()
        self._tail = TypeNames(words, seed)

    def _make_topics(self) -> _Topics:
        rng = np.random.default_rng([self.seed, 0x70])
        sizes = rng.integers(TOPIC_WORDS[0], TOPIC_WORDS[1] + 1, N_TOPICS)
        offsets = np.zeros(N_TOPICS + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        total = int(offsets[-1])
        # SciFact words for topics: words from the middle of the frequency list (not "the",
        # not hapaxes, not numbers).
        lexicon = self.lexicon
        middle = np.array(
            [i for i in range(200, min(self.n_scifact, 30_000)) if lexicon[i].isalpha()]
        )
        from_tech = rng.random(total) < TECH_SHARE
        words = np.where(
            from_tech,
            self.n_scifact + rng.integers(0, TECH_POOL, total),
            middle[rng.integers(0, middle.shape[0], total)],
        )
        weights = 1.0 / (np.arange(N_TOPICS) + 10.0) ** 0.7  # some fields are much larger
        rng.shuffle(weights)
        return _Topics(offsets, words.astype(np.int64), weights / weights.sum())

    # -- sampling ---------------------------------------------------------------------------------
    def block(self, b: int) -> list[tuple[str, str]]:
        """``(title, abstract)`` of the papers ``b * BLOCK .. (b + 1) * BLOCK - 1``."""
        rng = np.random.default_rng([self.seed, 1, b])
        n = BLOCK
        topic = rng.choice(N_TOPICS, size=n, p=self._topics.weights)
        title_len = rng.integers(TITLE_WORDS[0], TITLE_WORDS[1] + 1, n)
        abstract_len = rng.integers(ABSTRACT_WORDS[0], ABSTRACT_WORDS[1] + 1, n)
        doc_len = title_len + abstract_len
        total = int(doc_len.sum())
        doc_of = np.repeat(np.arange(n), doc_len)
        source = rng.random(total)
        tokens = np.empty(total, dtype=object)

        sf = np.flatnonzero(source < SHARE_SCIFACT)
        accept, alias = self._alias
        sf_ids = rng.integers(0, self.n_scifact, sf.shape[0])
        sf_ids = np.where(rng.random(sf.shape[0]) < accept[sf_ids], sf_ids, alias[sf_ids])
        tokens[sf] = self.lexicon[sf_ids]

        tp = np.flatnonzero((source >= SHARE_SCIFACT) & (source < SHARE_SCIFACT + SHARE_TOPIC))
        t_of = topic[doc_of[tp]]
        start = self._topics.offsets[t_of]
        size = self._topics.offsets[t_of + 1] - start
        # Log-uniform rank: P(rank r) ~ 1 / (r + 3), Zipf(1) within the topic, its top words
        # a few times in a paper each.
        span = np.log((size + 3.0) / 3.0)
        rank = np.floor(3.0 * np.exp(rng.random(tp.shape[0]) * span)).astype(np.int64) - 3
        tokens[tp] = self.lexicon[self._topics.words[start + np.clip(rank, 0, size - 1)]]

        tl = np.flatnonzero(source >= SHARE_SCIFACT + SHARE_TOPIC)
        tail_rank = (
            np.floor(np.exp(rng.random(tl.shape[0]) * np.log(TAIL_TYPES + 1.0))).astype(np.int64)
            - 1
        )
        tokens[tl] = self._tail.names(np.clip(tail_rank, 0, TAIL_TYPES - 1))

        # Sentences: the first word of the title and of each sentence capitalised, full stops,
        # a few commas.
        doc_start = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(doc_len, out=doc_start[1:])
        abs_start = doc_start[:-1] + title_len
        ends, starts = self._sentence_bounds(rng, abs_start, abstract_len)
        comma = rng.random(total) < COMMA_RATE
        comma[ends] = False
        comma[abs_start - 1] = False  # a title's last word
        tokens[comma] = tokens[comma] + ","
        tokens[ends] = tokens[ends] + "."
        caps = np.concatenate([doc_start[:-1], abs_start, starts])
        tokens[caps] = [t[:1].upper() + t[1:] for t in tokens[caps].tolist()]
        flat = tokens.tolist()
        bounds = doc_start.tolist()
        abs_at = abs_start.tolist()
        return [
            (
                " ".join(flat[bounds[i] : abs_at[i]]),
                " ".join(flat[abs_at[i] : bounds[i + 1]]),
            )
            for i in range(n)
        ]

    @staticmethod
    def _sentence_bounds(
        rng: np.random.Generator, abs_start: NDArray[np.int64], abstract_len: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Token positions ending a sentence (last word of each abstract included) and starting
        one (after the first)."""
        n = abs_start.shape[0]
        max_sent = int(abstract_len.max()) // SENTENCE_WORDS[0] + 2
        lengths = rng.integers(SENTENCE_WORDS[0], SENTENCE_WORDS[1] + 1, (n, max_sent))
        cum = np.cumsum(lengths, axis=1)
        inside = cum < (abstract_len[:, None] - SENTENCE_WORDS[0] // 2)
        rows, cols = np.nonzero(inside)
        ends = abs_start[rows] + cum[rows, cols] - 1
        last = abs_start + abstract_len - 1
        starts = ends + 1
        return np.concatenate([ends, last]), starts

    def texts(self, n: int, start: int = 0) -> Iterator[tuple[str, str, str]]:
        """``(id, title, abstract)`` of papers ``start .. start + n - 1``."""
        first, stop = start // BLOCK, (start + n + BLOCK - 1) // BLOCK
        for b in range(first, stop):
            rows = self.block(b)
            lo = max(start - b * BLOCK, 0)
            hi = min(start + n - b * BLOCK, BLOCK)
            for i in range(lo, hi):
                title, abstract = rows[i]
                yield paper_id(b * BLOCK + i), title, abstract

    def papers(self, n: int, start: int = 0, source: str = "synthetic-arxiv") -> Iterator[object]:
        """Papers ``start .. start + n - 1`` as :class:`retrieval.papers.Paper` (unvalidated:
        ``model_construct``, as bench/synth.py does)."""
        from retrieval.papers import Paper

        for pid, title, abstract in self.texts(n, start):
            yield Paper.model_construct(
                id=pid,
                title=title,
                abstract=abstract,
                authors=(),
                published=None,
                url=None,
                source=source,
                metadata={},
            )


def paper_id(i: int) -> str:
    return f"synth-arxiv-{i:08d}"


@functools.lru_cache(maxsize=4)
def generator(seed: int = SEED) -> Generator:
    return Generator(seed)


# -- queries --------------------------------------------------------------------------------------
def synthetic_queries(
    docs: Iterable[tuple[str, str]], seed: int = SEED, words: tuple[int, int] = (3, 10)
) -> list[str]:
    """One query per ``(title, abstract)``: 3-10 distinct words drawn from the document's words,
    in random order (stopwords included, as a user would type them)."""
    rng = np.random.default_rng([seed, 0x51])
    out = []
    for title, abstract in docs:
        pool = list(dict.fromkeys(_WORD_RE.findall(f"{title} {abstract}")))
        k = min(int(rng.integers(words[0], words[1] + 1)), len(pool))
        pick = rng.choice(len(pool), size=k, replace=False)
        out.append(" ".join(pool[i] for i in pick))
    return out


def scifact_claims() -> list[str]:
    """Every SciFact claim (train, dev and test: BEIR's 1,109 queries), de-duplicated, in file
    order: natural claim-like queries."""
    with (SCIFACT / "beir" / "queries.jsonl").open(encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh]
    return list(dict.fromkeys(texts))


# -- parsing sizes --------------------------------------------------------------------------------
def parse_size(text: str) -> int:
    """``100k``, ``1m``, ``2.5m``, ``250000`` -> a number of papers."""
    text = text.strip().lower().replace("_", "").replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if scale != 1 else text
    return round(float(number) * scale)


def size_label(n: int) -> str:
    """The inverse of :func:`parse_size`, for file names: ``100k``, ``1m``, ``2.5m``."""
    if n % 100_000 == 0 and n >= 1_000_000:
        return f"{n / 1e6:g}m"
    if n % 1_000 == 0:
        return f"{n // 1000}k"
    return str(n)


# -- command line ---------------------------------------------------------------------------------
def _stats(n: int, tokenize: bool) -> dict[str, object]:
    """Generation speed (blocks alone, not the counting) and the vocabulary of ``n`` papers."""
    setup_start = time.perf_counter()
    gen = generator()
    setup_s = time.perf_counter() - setup_start
    generate_s = 0.0
    raw: set[str] = set()
    tokens = 0
    for b in range((n + BLOCK - 1) // BLOCK):
        start = time.perf_counter()
        rows = gen.block(b)[: n - b * BLOCK]
        generate_s += time.perf_counter() - start
        for title, abstract in rows:
            for text in (title, abstract):
                parts = text.split()
                tokens += len(parts)
                raw.update(parts)
        if (b + 1) * BLOCK % 100_000 == 0:
            print(f"  {(b + 1) * BLOCK:,} papers, generating {generate_s:.1f} s", file=sys.stderr)
    out: dict[str, object] = {
        "papers": n,
        "setup_s": round(setup_s, 2),
        "generate_s": round(generate_s, 2),
        "papers_per_s": round(n / generate_s),
        "tokens": tokens,
        "distinct_raw_words": len(raw),
    }
    if tokenize:
        from retrieval.tokenize import Tokenizer

        tokenizer = Tokenizer()  # its own caches: these words must not crowd a shared one
        terms: set[str] = set()
        t0 = time.perf_counter()
        for chunk in raw:
            terms.update(tokenizer.terms(chunk))
        out["distinct_terms"] = len(terms)
        out["tokenize_s"] = round(time.perf_counter() - t0, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stats", type=parse_size, help="generate N papers, report speed/vocab")
    parser.add_argument("--no-tokenize", action="store_true", help="with --stats: raw words only")
    parser.add_argument("--sample", type=int, help="print the first N papers")
    args = parser.parse_args()
    if args.sample:
        for pid, title, abstract in generator().texts(args.sample):
            print(f"{pid}\n{title}\n{abstract}\n")
    if args.stats:
        print(json.dumps(_stats(args.stats, not args.no_tokenize), indent=1))


if __name__ == "__main__":
    main()
