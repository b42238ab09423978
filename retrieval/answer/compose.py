"""The answer composer: quote the sentences that answer, verbatim, or say plainly that none do.

Input: the question, the retriever's candidates (papers with their scores) and the index's corpus
statistics. Output: a structured :class:`Answer` with up to three papers, each with one or two
quotes from its abstract, or a declined answer that lists the closest titles.

The verbatim guarantee holds by construction: a :class:`Quote` is only ever a pair of offsets
into the stored abstract (plus, for a trimmed long sentence, offsets of the pieces shown), never
a copy that could drift. ``Quote.text`` *is* ``abstract[start:end]``; each displayed piece *is*
``abstract[a:b]``; the renderers only add markup around those characters.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from retrieval.answer.evidence import (
    DEFAULT_PARAMS,
    QueryTerms,
    SelectionParams,
    SentenceScore,
    query_weights,
    score_sentences,
)
from retrieval.answer.links import hf_url_for, page_url_for, with_text_fragment
from retrieval.answer.semantic import Embedder, embedder
from retrieval.index import TermStats
from retrieval.llm.model import WrittenAnswer
from retrieval.papers import Paper
from retrieval.tokenize import TermSpan, Tokenizer

__all__ = [
    "ELLIPSIS",
    "Answer",
    "AnswerGate",
    "AnsweredPaper",
    "ComposeParams",
    "Quote",
    "analyse_candidates",
    "answer_to_json",
    "compose",
    "default_gate",
    "gate_features",
]

log = logging.getLogger(__name__)

ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Quote:
    """A verbatim quote: ``abstract[start:end]``, shown as the verbatim ``segments``.

    ``segments`` has one piece unless a long sentence was trimmed, in which case the pieces are
    shown joined by an ellipsis. ``highlights`` are the question terms' word offsets inside the
    shown pieces, for bold rendering. All offsets index the stored abstract.
    """

    abstract: str = field(repr=False)
    start: int
    end: int
    segments: tuple[tuple[int, int], ...]
    highlights: tuple[tuple[int, int], ...] = ()
    score: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= len(self.abstract):
            raise ValueError(f"quote span {self.start}:{self.end} outside the abstract")
        previous = self.start
        for a, b in self.segments:
            if not previous <= a < b <= self.end:
                raise ValueError(f"segment {a}:{b} outside quote {self.start}:{self.end}")
            previous = b

    @property
    def text(self) -> str:
        """The whole quoted span, exactly as in the abstract."""
        return self.abstract[self.start : self.end]

    @property
    def pieces(self) -> list[str]:
        """The shown pieces, each exactly as in the abstract."""
        return [self.abstract[a:b] for a, b in self.segments]

    @property
    def trimmed(self) -> bool:
        return self.segments != ((self.start, self.end),)

    @property
    def display(self) -> str:
        """Pieces joined by `` … ``, with a leading/trailing ellipsis where text was cut."""
        text = f" {ELLIPSIS} ".join(self.pieces)
        if self.segments[0][0] > self.start:
            text = f"{ELLIPSIS} {text}"
        if self.segments[-1][1] < self.end:
            text = f"{text} {ELLIPSIS}"
        return text


@dataclass(frozen=True, slots=True)
class AnsweredPaper:
    """A paper in an answer. Declined answers carry papers without quotes (closest titles)."""

    id: str
    title: str
    url: str | None
    hf_url: str | None
    fragment_url: str | None
    score: float
    quotes: tuple[Quote, ...]
    matched_terms: tuple[str, ...]  # question words found in the quotes, as written there
    abstract: str = field(repr=False)
    title_highlights: tuple[tuple[int, int], ...] = ()
    authors: tuple[str, ...] = ()
    published: str | None = None  # ISO date


@dataclass(frozen=True, slots=True)
class Answer:
    """What the bot and the CLI render."""

    question: str
    answered: bool
    papers: tuple[AnsweredPaper, ...]
    collection: str = "default"
    paper_count: int = 0
    as_of: datetime | None = None
    reason: str | None = None  # why an answer was declined: "no-terms", "no-candidates", ...
    query_terms: tuple[str, ...] = ()
    # A model-written answer citing the quotes shown (``retrieval.llm``); None: extractive only.
    written: WrittenAnswer | None = None


@dataclass(frozen=True, slots=True)
class ComposeParams:
    """Composer knobs. The decline thresholds were calibrated on SciFact claims_train and the
    bundled dev questions (see ``bench/bench_compose.py``)."""

    selection: SelectionParams = DEFAULT_PARAMS
    analysed_candidates: int = 4  # only the retriever's best few are read (train: 4 = 6)
    min_coverage: float = 0.3  # share of the known question weight title + best quote cover
    min_total_coverage: float = 0.3  # share of all the question's weight (unseen terms too)
    single_concept_coverage: float = 0.7  # a one-concept match must cover this much of all
    keep_ratio: float = 0.7  # further papers need this share of the lead's retrieval score
    second_quote_margin: float = 4.0  # a second quote may score at most this much below the first
    max_quote_chars: int = 360  # longer sentences are trimmed to their answering clauses
    sure_coverage: float = 0.8  # the lead's title + best sentence cover this much: answer
    lead_quotes: int = 2  # sentences quoted from the best paper
    other_quotes: int = 1  # ... and from each further paper
    max_merged_chars: int = 420  # two adjacent sentences merge into one quote up to this size


DEFAULT_COMPOSE = ComposeParams()

GATE_PATH = Path(__file__).resolve().parents[1] / "data" / "answer_gate.json"
GATE_FEATURES: tuple[str, ...] = (
    "doc_coverage",  # question weight found in a candidate's title + abstract (best of the few)
    "evidence_coverage",  # ... in the lead's title + best sentence
    "max_evidence_coverage",  # ... the same, best of the few
    "known_coverage",  # the lead's, over the terms the collection knows
    "concepts",  # separate things of the question the lead matches (at most 4)
    "semantic_sentence",  # WordLlama cosine of the question and the best sentence of the few
    "semantic_paper",  # ... and the closest paper (title + abstract)
    "unseen_share",  # question weight of words the collection has never seen
    "addresses",  # the lexical rule (``_addresses``) accepts one of the few
    "n_terms",  # how many terms the question has (at most 20)
)


@dataclass(frozen=True, slots=True)
class AnswerGate:
    """Does the collection answer the question at all? A logistic model over
    :data:`GATE_FEATURES`, fitted on our question set's train split (on-topic questions against
    everyday and other-field ones) by ``python -m bench.bench_answers fit-gate``; the threshold
    was chosen on train + dev for at least 95% of on-topic questions answered."""

    weights: tuple[float, ...]
    bias: float
    threshold: float

    def score(self, features: Sequence[float]) -> float:
        return self.bias + sum(w * x for w, x in zip(self.weights, features, strict=True))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> AnswerGate:
        if tuple(raw["features"]) != GATE_FEATURES:
            raise ValueError("answer gate was fitted on other features; refit it")
        return cls(
            tuple(float(w) for w in raw["weights"]), float(raw["bias"]), float(raw["threshold"])
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(GATE_FEATURES),
            "weights": [round(w, 6) for w in self.weights],
            "bias": round(self.bias, 6),
            "threshold": round(self.threshold, 6),
        }


@lru_cache(maxsize=1)
def default_gate() -> AnswerGate | None:
    """The shipped gate, or None when there is none (the lexical rule alone decides)."""
    if not GATE_PATH.exists():
        return None
    return AnswerGate.from_dict(json.loads(GATE_PATH.read_text(encoding="utf-8")))


def gate_features(
    question: str,
    analyses: Sequence[_Analysis],
    query: QueryTerms,
    tokenizer: Tokenizer,
    params: ComposeParams,
    model: Embedder,
    similarity: Mapping[str, float] | None = None,
) -> list[float]:
    """The :data:`GATE_FEATURES` of a question and its first few analysed candidates.

    ``similarity`` holds question-paper cosines the retriever already computed (by paper id);
    only the papers missing from it are embedded here.
    """
    lead = analyses[0]
    doc_coverage = max(
        _coverage(set(tokenizer.terms(f"{a.paper.title}\n{a.paper.abstract}")), query)
        for a in analyses
    )
    known = similarity or {}
    missing = [a.paper for a in analyses if a.paper.id not in known]
    computed = model.similarity(question, [f"{p.title}. {p.abstract}" for p in missing])
    fresh = {p.id: float(v) for p, v in zip(missing, computed, strict=True)}
    papers = [known.get(a.paper.id, fresh.get(a.paper.id, 0.0)) for a in analyses]
    total = query.total or 1.0
    unseen = sum(w for t, w in query.weights.items() if t not in query.known) / total
    return [
        doc_coverage,
        lead.evidence_coverage,
        max(a.evidence_coverage for a in analyses),
        lead.known_coverage,
        float(min(lead.concepts, 4)),
        max((s.semantic for a in analyses for s in a.ranked), default=0.0),
        max(papers, default=0.0),
        unseen,
        1.0 if any(_addresses(a, query, params) for a in analyses) else 0.0,
        float(min(len(query.terms), 20)),
    ]


# A sentence that opens by pointing back needs the one before it to make sense.
_ANAPHORA = re.compile(
    r"^(?:This|These|That|Those|It|Its|They|Their|Such|Thus|Hence|Therefore|Here|There|In "
    r"(?:this|these|contrast|addition|particular)|Moreover|Furthermore|However)\b"
)
# Clause boundaries inside a long sentence: where a trimmed quote may cut.
_CLAUSE_CUT = re.compile(r"(?<=[,;:])\s+|\s+(?:--|—|–)\s+|\s+(?=\()")


Clause = tuple[int, int]
_JOINER = 3  # characters shown between two kept clauses that are not adjacent (" … ")


def _trim(
    abstract: str,
    start: int,
    end: int,
    sentence: SentenceScore | None,
    limit: int,
    weights: dict[str, float],
) -> tuple[tuple[int, int], ...]:
    """Verbatim pieces of ``abstract[start:end]`` to show, within ``limit`` characters.

    The sentence is cut at clause boundaries; clauses carrying question terms are kept (best
    first) until the budget is spent, grown into their neighbours while it allows, and adjacent
    kept clauses are joined. A single clause longer than the budget is cut at word boundaries
    around its best question term.
    """
    if end - start <= limit:
        return ((start, end),)
    spans = sentence.spans if sentence else ()
    clauses = _clauses(abstract, start, end)

    def clause_weight(clause: Clause) -> float:
        terms = {span.term for span in spans if clause[0] <= span.start < clause[1]}
        return sum(weights.get(term, 0.0) for term in terms)

    kept, used = _best_clauses(clauses, [clause_weight(c) for c in clauses], limit)
    if not kept:
        anchor = max(spans, key=lambda span: weights.get(span.term, 0.0)).start if spans else start
        return (_window(abstract, start, end, anchor, limit),)
    _grow(kept, clauses, used, limit)
    pieces: list[Clause] = []
    for i in sorted(kept):
        a, b = clauses[i]
        if pieces and i - 1 in kept:
            pieces[-1] = (pieces[-1][0], b)
        else:
            pieces.append((a, b))
    return tuple(_strip(abstract, a, b) for a, b in pieces)


def _clauses(abstract: str, start: int, end: int) -> list[Clause]:
    """The sentence cut at clause punctuation (the punctuation itself belongs to no clause)."""
    cuts = [start]
    for match in _CLAUSE_CUT.finditer(abstract, start, end):
        if start < match.start() and match.end() < end:
            cuts.append(match.start())
            cuts.append(match.end())
    cuts.append(end)
    clauses = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]
    return [(a, b) for a, b in clauses if b > a]


def _best_clauses(
    clauses: Sequence[Clause], clause_weights: Sequence[float], limit: int
) -> tuple[list[int], int]:
    """Clauses with question terms, heaviest first, while they fit; and the characters used."""
    ranked = sorted(range(len(clauses)), key=lambda i: (-clause_weights[i], i))
    kept: list[int] = []
    used = 0
    for i in ranked:
        a, b = clauses[i]
        size = b - a + (_JOINER if kept else 0)
        if used + size > limit:
            continue
        if kept and clause_weights[i] == 0.0:
            break
        kept.append(i)
        used += size
    return kept, used


def _grow(kept: list[int], clauses: Sequence[Clause], used: int, limit: int) -> None:
    """A clause alone rarely reads as an answer ("(ASAp),"): grow the kept clauses into their
    neighbours, the following one first, while the budget allows (``kept`` grows in place)."""
    grown = True
    while grown:
        grown = False
        for i in sorted(kept):
            for j in (i + 1, i - 1):
                if 0 <= j < len(clauses) and j not in kept:
                    size = clauses[j][1] - clauses[j][0] + 1
                    if used + size <= limit:
                        kept.append(j)
                        used += size
                        grown = True


def _window(abstract: str, start: int, end: int, anchor: int, limit: int) -> tuple[int, int]:
    """A word-aligned window of at most ``limit`` characters around ``anchor``, a third of it
    before: for one clause longer than the whole budget."""
    a = max(start, anchor - limit // 3)
    b = min(end, a + limit)
    a = max(start, b - limit)
    if a > start:
        space = abstract.find(" ", a, b)
        a = space + 1 if space != -1 else a
    if b < end:
        space = abstract.rfind(" ", a, b)
        b = space if space > a else b
    return _strip(abstract, a, b)


def _strip(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def _coverage(terms: set[str], query: QueryTerms) -> float:
    total = query.total
    return sum(w for t, w in query.weights.items() if t in terms) / total if total else 0.0


@dataclass(slots=True)
class _Analysis:
    paper: Paper
    retrieval_score: float
    ranked: list[SentenceScore]
    by_index: list[SentenceScore]
    evidence_coverage: float  # title + best sentence, all question terms
    known_coverage: float  # same, over the question terms the collection knows
    concepts: int  # matched terms, a phrase matched as a phrase counting once
    best: float
    relevant: bool  # some sentence matches a question term


def _analyse(
    paper: Paper, score: float, query: QueryTerms, tokenizer: Tokenizer, params: ComposeParams
) -> _Analysis:
    sentences = score_sentences(paper.abstract, paper.title, query, tokenizer, params.selection)
    ranked = sorted(sentences, key=lambda s: (-s.score, s.index))
    title_spans = tokenizer.spans(paper.title)
    title_terms = {span.term for span in title_spans}
    # Whether the paper addresses the question does not depend on where a sentence stands
    # (the ranking's position prior): the evidence is the title plus the sentence that covers
    # the most of the question.
    best = (
        max(sentences, key=lambda s: (_coverage(title_terms | s.matched, query), s.score))
        if sentences
        else None
    )
    evidence = title_terms | (set(best.matched) if best else set())
    known_total = sum(w for t, w in query.weights.items() if t in query.known)
    known_cov = (
        sum(w for t, w in query.weights.items() if t in evidence) / known_total
        if known_total
        else 0.0
    )
    wanted = set(query.terms)
    groups = [[s for s in title_spans if s.term in wanted], list(best.spans) if best else []]
    return _Analysis(
        paper=paper,
        retrieval_score=score,
        ranked=ranked,
        by_index=sentences,
        evidence_coverage=_coverage(evidence, query),
        known_coverage=known_cov,
        concepts=_concepts(query, evidence & wanted, groups),
        best=ranked[0].score if ranked else 0.0,
        relevant=any(s.matched for s in sentences),
    )


def analyse_candidates(
    candidates: Sequence[tuple[Paper, float]],
    query: QueryTerms,
    tokenizer: Tokenizer,
    params: ComposeParams = DEFAULT_COMPOSE,
    *,
    semantic: bool = True,
) -> list[_Analysis]:
    """Every sentence of each candidate scored, in the candidates' order (``semantic`` off:
    lexical evidence only)."""
    if not semantic:
        params = replace(params, selection=replace(params.selection, semantic=False))
    return [_analyse(paper, score, query, tokenizer, params) for paper, score in candidates]


def _concepts(query: QueryTerms, matched: set[str], groups: list[list[TermSpan]]) -> int:
    """How many separate things of the question the evidence matches.

    Terms adjacent in the question that also stand next to each other in the evidence
    ("neural networks", "text embedding benchmark") are one concept: a question that shares only
    one phrase with a paper shares one idea with it, however many words the phrase has.
    """
    parent = {t: t for t in matched}

    def find(t: str) -> str:
        while parent[t] != t:
            t = parent[t]
        return t

    order = {t: i for i, t in enumerate(query.terms)}
    for spans in groups:
        for a, b in pairwise(spans):
            if a.term == b.term or a.term not in parent or b.term not in parent:
                continue
            if b.start - a.end <= 2 and abs(order[a.term] - order[b.term]) == 1:
                parent[find(a.term)] = find(b.term)
    return len({find(t) for t in matched})


def _addresses(analysis: _Analysis, query: QueryTerms, params: ComposeParams) -> bool:
    """The calibrated no-answer rule: does this paper's title + best sentence address the
    question? Two separate matched concepts covering enough of what the collection knows of the
    question; or, for a question about one thing, that thing covering most of the question."""
    if not analysis.relevant:
        return False
    if analysis.evidence_coverage < params.min_total_coverage:
        return False  # mostly about things the collection has never seen
    if analysis.concepts >= 2:
        return analysis.known_coverage >= params.min_coverage
    return analysis.concepts == 1 and analysis.evidence_coverage >= params.single_concept_coverage


def _quote_span(
    analysis: _Analysis, sentence: SentenceScore, params: ComposeParams
) -> tuple[int, int, list[SentenceScore]]:
    """The span for a chosen sentence, merged with a neighbour when that reads better."""
    sentences = analysis.by_index
    text = analysis.paper.abstract
    start, end = sentence.start, sentence.end
    members = [sentence]
    i = sentence.index
    if i > 0 and _ANAPHORA.match(text[start:end]):
        prev = sentences[i - 1]
        if end - prev.start <= params.max_merged_chars:
            start = prev.start
            members.insert(0, prev)
    return start, end, members


def _make_quote(
    analysis: _Analysis,
    sentence: SentenceScore,
    query: QueryTerms,
    params: ComposeParams,
) -> Quote:
    abstract = analysis.paper.abstract
    start, end, members = _quote_span(analysis, sentence, params)
    if len(members) == 1:
        segments = _trim(abstract, start, end, sentence, params.max_quote_chars, query.weights)
    else:
        segments = ((start, end),)
    highlights: list[tuple[int, int]] = []
    seen: set[int] = set()
    for member in members:
        for span in member.spans:
            if span.start in seen:
                continue
            if any(a <= span.start and span.end <= b for a, b in segments):
                seen.add(span.start)
                highlights.append((span.start, span.end))
    highlights.sort()
    return Quote(
        abstract=abstract,
        start=start,
        end=end,
        segments=segments,
        highlights=tuple(highlights),
        score=sentence.score,
    )


def _quotes_for(
    analysis: _Analysis, query: QueryTerms, params: ComposeParams, count: int
) -> list[Quote]:
    """The ``count`` best sentences by the sentence model, in its order, none overlapping
    another (a sentence merged into an earlier quote as its antecedent is not repeated)."""
    if not analysis.ranked or not analysis.relevant:
        return []
    first = analysis.ranked[0]
    quotes = [_make_quote(analysis, first, query, params)]
    for candidate in analysis.ranked[1:]:
        if len(quotes) >= count:
            break
        if candidate.score < first.score - params.second_quote_margin:
            break
        quote = _make_quote(analysis, candidate, query, params)
        if any(quote.start < q.end and q.start < quote.end for q in quotes):
            continue
        quotes.append(quote)
    return quotes


def _title_highlights(
    title: str, query: QueryTerms, tokenizer: Tokenizer
) -> tuple[tuple[int, int], ...]:
    wanted = set(query.terms)
    out: dict[int, tuple[int, int]] = {}
    for span in tokenizer.spans(title):
        if span.term in wanted:
            out.setdefault(span.start, (span.start, span.end))
    return tuple(sorted(out.values()))


def _answered_paper(
    paper: Paper,
    score: float,
    quotes: Sequence[Quote],
    query: QueryTerms,
    tokenizer: Tokenizer,
) -> AnsweredPaper:
    url = page_url_for(paper)
    fragment_url = with_text_fragment(url, quotes[0].text) if url and quotes else None
    matched: dict[str, None] = {}
    for quote in quotes:
        for a, b in quote.highlights:
            matched.setdefault(paper.abstract[a:b].casefold(), None)
    return AnsweredPaper(
        id=paper.id,
        title=paper.title,
        url=url,
        hf_url=hf_url_for(paper),
        fragment_url=fragment_url,
        score=float(score),
        quotes=tuple(quotes),
        matched_terms=tuple(matched),
        abstract=paper.abstract,
        title_highlights=_title_highlights(paper.title, query, tokenizer),
        authors=tuple(paper.authors),
        published=paper.published.isoformat() if paper.published else None,
    )


def _lead(
    question: str,
    analyses: Sequence[_Analysis],
    addressing: Sequence[_Analysis],
    query: QueryTerms,
    tokenizer: Tokenizer,
    params: ComposeParams,
    semantic: bool,
    gate: AnswerGate | None,
    similarity: Mapping[str, float] | None,
) -> _Analysis | None:
    """The paper the answer leads with, or None to decline. With the embedder, the answer gate
    decides (unless the best paper already covers the question surely) and the retriever's
    first paper leads; without it, the lexical rule: the first paper that addresses it."""
    first = analyses[0]
    model = embedder() if semantic else None
    gate = gate or default_gate()
    if model is None or gate is None:
        if not addressing:
            log.debug("declined %r: no candidate addresses it", question)
            return None
        return first if first in addressing else addressing[0]
    if first in addressing and first.evidence_coverage >= params.sure_coverage:
        return first
    features = gate_features(
        question,
        analyses[: params.analysed_candidates],
        query,
        tokenizer,
        params,
        model,
        similarity,
    )
    if gate.score(features) <= gate.threshold:
        log.debug("declined %r: the answer gate says no", question)
        return None
    return first


def compose(
    question: str,
    candidates: Sequence[tuple[Paper, float]],
    stats: TermStats,
    tokenizer: Tokenizer,
    *,
    max_papers: int = 3,
    collection: str = "default",
    paper_count: int | None = None,
    as_of: datetime | None = None,
    params: ComposeParams = DEFAULT_COMPOSE,
    semantic: bool = True,
    gate: AnswerGate | None = None,
    similarity: Mapping[str, float] | None = None,
) -> Answer:
    """Compose the answer to ``question`` from the retriever's ``candidates`` (best first).

    Declines (``answered=False``, closest titles without quotes) when the question has no
    searchable terms, when there are no candidates, or when even the best paper's title and best
    sentence cover less than ``params.min_coverage`` of the question's IDF weight.
    """
    count = int(stats.n_docs) if paper_count is None else paper_count
    base: dict[str, Any] = {
        "question": question,
        "collection": collection,
        "paper_count": count,
        "as_of": as_of,
    }
    query = query_weights(question, stats, tokenizer)
    unique: list[tuple[Paper, float]] = []
    seen_ids: set[str] = set()
    for paper, score in candidates:
        if paper.id not in seen_ids:
            seen_ids.add(paper.id)
            unique.append((paper, score))

    def declined(reason: str) -> Answer:
        closest = tuple(
            _answered_paper(paper, score, (), query, tokenizer)
            for paper, score in unique[:max_papers]
        )
        return Answer(
            answered=False, papers=closest, reason=reason, query_terms=query.terms, **base
        )

    if not query.terms:
        return declined("no-terms")
    if not unique:
        return declined("no-candidates")
    analyses = analyse_candidates(
        unique[: max(params.analysed_candidates, max_papers)],
        query,
        tokenizer,
        params,
        semantic=semantic,
    )
    addressing = [a for a in analyses if _addresses(a, query, params)]
    lead = _lead(
        question, analyses, addressing, query, tokenizer, params, semantic, gate, similarity
    )
    if lead is None:
        return declined("low-coverage")
    chosen = [lead] + [
        a
        for a in addressing
        if a is not lead and a.retrieval_score >= params.keep_ratio * lead.retrieval_score
    ]
    papers: list[AnsweredPaper] = []
    for analysis in chosen[:max_papers]:
        count = params.lead_quotes if analysis is lead else params.other_quotes
        quotes = _quotes_for(analysis, query, params, count)
        if quotes:
            papers.append(
                _answered_paper(analysis.paper, analysis.retrieval_score, quotes, query, tokenizer)
            )
    if not papers:
        return declined("no-quotes")
    return Answer(answered=True, papers=tuple(papers), query_terms=query.terms, **base)


def answer_to_json(answer: Answer) -> dict[str, Any]:
    """The stable JSON shape of ``paperbot ask --json`` (quotes give their full verbatim span)."""
    return {
        "question": answer.question,
        "answered": answer.answered,
        "papers": [
            {
                "id": paper.id,
                "title": paper.title,
                "url": paper.url,
                "score": paper.score,
                "quotes": [
                    {"text": quote.text, "start": quote.start, "end": quote.end}
                    for quote in paper.quotes
                ],
            }
            for paper in answer.papers
        ],
    }
