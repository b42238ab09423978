"""Which sentences of an abstract answer a question: scored with the index's corpus statistics.

Every score is built from the same terms and IDF the retriever used (``TermStats``), so a quote
is chosen for the words that made its paper rank, not for words common everywhere. On top of a
sentence-level BM25 the score adds what plain BM25 misses for single sentences:

- coverage: the IDF-weighted share of the question's terms the sentence contains;
- proximity: question terms that stand next to each other in the question and near each other in
  the sentence (phrases such as "gradient alignment");
- title context: terms already in the title are "given" (the reader sees the title), so the
  sentence is rewarded more for the rest of the question;
- neighbourhood: a sentence next to other matching sentences sits in the part of the abstract
  that talks about the question.

Weights were tuned on SciFact claims_train only (``bench/bench_compose.py --tune``).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.index import TermStats
from retrieval.sentences import split_sentences
from retrieval.tokenize import TermSpan, Tokenizer

__all__ = ["QueryTerms", "SelectionParams", "SentenceScore", "query_weights", "score_sentences"]


@dataclass(frozen=True, slots=True)
class SelectionParams:
    """Knobs of the sentence score (defaults: tuned on SciFact claims_train)."""

    k1: float = 1.2
    b: float = 0.2
    avg_sentence_terms: float = 14.0
    bm25_weight: float = 1.0
    coverage_weight: float = 0.2
    proximity_weight: float = 0.0  # measured no gain on claims_train; kept for other corpora
    title_discount: float = 0.6  # weight kept by a question term that is already in the title
    neighbour_weight: float = 0.3
    position_weight: float = 0.3  # later sentences state results (SciFact train prior)
    proximity_window: int = 3


DEFAULT_PARAMS = SelectionParams()


@dataclass(frozen=True, slots=True)
class QueryTerms:
    """The question's distinct terms in order, with their corpus weights.

    A term the collection has never seen gets the largest weight the collection could give
    (the IDF of a document frequency of zero): it is the most specific thing the question asks
    about, and its absence from every candidate is the strongest sign that nothing answers.
    """

    terms: tuple[str, ...]
    weights: dict[str, float]
    known: frozenset[str]

    @property
    def total(self) -> float:
        return sum(self.weights.values())


def query_weights(question: str, stats: TermStats, tokenizer: Tokenizer) -> QueryTerms:
    """Distinct question terms and their IDF weights from the index."""
    seen: dict[str, None] = {}
    for term in tokenizer.query_terms(question):
        seen.setdefault(term, None)
    terms = tuple(seen)
    n_docs = max(int(stats.n_docs), 1)
    unseen_idf = math.log((n_docs + 0.5) / 0.5)
    weights: dict[str, float] = {}
    known: set[str] = set()
    for term in terms:
        if stats.doc_freq(term) > 0:
            known.add(term)
            weights[term] = max(float(stats.idf(term)), 0.05)
        else:
            weights[term] = unseen_idf
    return QueryTerms(terms, weights, frozenset(known))


@dataclass(frozen=True, slots=True)
class SentenceScore:
    """One sentence of an abstract and how well it answers."""

    index: int
    start: int
    end: int
    score: float
    coverage: float  # IDF-weighted share of question terms in the sentence (title not counted)
    matched: frozenset[str]
    spans: tuple[TermSpan, ...]  # question-term occurrences inside the sentence


def _proximity(positions: list[tuple[int, str]], order: dict[str, int], window: int) -> set[str]:
    """Question terms that are adjacent in the question and within ``window`` tokens here."""
    near: set[str] = set()
    for a in range(len(positions)):
        pos_a, term_a = positions[a]
        for b in range(a + 1, len(positions)):
            pos_b, term_b = positions[b]
            if pos_b - pos_a > window:
                break
            if term_a != term_b and abs(order[term_a] - order[term_b]) == 1:
                near.add(term_a)
                near.add(term_b)
    return near


def score_sentences(
    abstract: str,
    title: str,
    query: QueryTerms,
    tokenizer: Tokenizer,
    params: SelectionParams = DEFAULT_PARAMS,
    *,
    sentences: Sequence[tuple[int, int]] | None = None,
) -> list[SentenceScore]:
    """Score every sentence of ``abstract`` (in document order) for the question."""
    spans = split_sentences(abstract) if sentences is None else list(sentences)
    if not spans:
        return []
    qset = set(query.terms)
    title_terms = set(tokenizer.terms(title)) if title else set()
    weight = {
        t: w * (params.title_discount if t in title_terms else 1.0)
        for t, w in query.weights.items()
    }
    total = sum(weight.values()) or 1.0
    order = {t: i for i, t in enumerate(query.terms)}

    starts = [s for s, _ in spans]
    n = len(spans)
    lengths = [0] * n
    hits: list[list[tuple[int, TermSpan]]] = [[] for _ in range(n)]
    last_offset = -1
    for span in tokenizer.spans(abstract):
        i = bisect_right(starts, span.start) - 1
        if i < 0 or span.start >= spans[i][1]:
            continue
        if span.start != last_offset:  # compounds share one word: count the word once
            lengths[i] += 1
            last_offset = span.start
        if span.term in qset:
            hits[i].append((lengths[i] - 1, span))

    raw: list[float] = []
    details: list[tuple[float, frozenset[str]]] = []
    k1, b = params.k1, params.b
    avg = params.avg_sentence_terms
    for i in range(n):
        tf: dict[str, int] = {}
        for _, span in hits[i]:
            tf[span.term] = tf.get(span.term, 0) + 1
        norm = k1 * (1.0 - b + b * lengths[i] / avg)
        bm25 = sum(weight[t] * c * (k1 + 1.0) / (c + norm) for t, c in tf.items()) / total
        matched = frozenset(tf)
        coverage_weighted = sum(weight[t] for t in matched) / total
        near = _proximity(
            [(pos, span.term) for pos, span in hits[i]], order, params.proximity_window
        )
        proximity = sum(weight[t] for t in near) / total
        position = i / (n - 1) if n > 1 else 0.0
        raw.append(
            params.bm25_weight * bm25
            + params.coverage_weight * coverage_weighted
            + params.proximity_weight * proximity
            + params.position_weight * position
        )
        plain_total = query.total or 1.0
        details.append((sum(query.weights[t] for t in matched) / plain_total, matched))

    out: list[SentenceScore] = []
    for i, (start, end) in enumerate(spans):
        neighbours = [raw[j] for j in (i - 1, i + 1) if 0 <= j < n]
        score = raw[i] + params.neighbour_weight * (max(neighbours) if neighbours else 0.0)
        coverage, matched = details[i]
        out.append(
            SentenceScore(
                index=i,
                start=start,
                end=end,
                score=score,
                coverage=coverage,
                matched=matched,
                spans=tuple(span for _, span in hits[i]),
            )
        )
    return out
