"""Which sentences of an abstract answer a question: scored with the index's corpus statistics.

Every feature is built from the same terms and IDF the retriever used (``TermStats``), so a quote
is chosen for the words that made its paper rank, not for words common everywhere. Plain BM25
over single sentences misses a lot (0.51 top-1 on SciFact dev, see ``bench/bench_compose.py``),
so a sentence is described by a few cheap features and scored by a linear model:

- term evidence: sentence BM25, IDF-weighted coverage of the question (all terms, and the terms
  the title does not already give the reader), share of terms matched, whether the rarest term
  is there, phrases (terms adjacent in the question standing together in the sentence), numbers;
- context: the coverage of the neighbouring sentences and how far the sentence falls behind the
  abstract's best, overlap with the title;
- form: position, length, and whether it reads like a finding ("we found", "associated") or a
  method ("were enrolled", "we measured").

The weights (:data:`WEIGHTS`) are a listwise softmax model fitted with numpy on SciFact
claims_train only (``bench/bench_compose.py fit``), features and regularisation chosen by
cross-validation on train; the dev split is only ever reported.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from retrieval.answer.question import QuestionAnalysis, analyse_question, sentence_kinds
from retrieval.answer.semantic import embedder
from retrieval.answer.sentences import split_sentences
from retrieval.index import TermStats
from retrieval.tokenize import TermSpan, Tokenizer

__all__ = [
    "FEATURES",
    "QueryTerms",
    "SelectionParams",
    "SentenceModel",
    "SentenceScore",
    "default_model",
    "query_weights",
    "score_sentences",
    "sentence_features",
]

_BASE_FEATURES: tuple[str, ...] = (
    "bm25",  # saturated tf x IDF over the question weight (k1=1.2, no length normalisation)
    "coverage",  # IDF share of the question's terms present
    "coverage_untitled",  # same, over the terms the title does not contain
    "matched_share",  # distinct question terms present / question terms
    "rarest",  # the question's highest-IDF term is present
    "phrases",  # IDF share of terms in a question bigram found as a phrase here
    "numbers",  # the sentence states a number
    "query_numbers",  # a number of the question is in the sentence
    "position",  # 0 first .. 1 last
    "first",
    "last",
    "prev_coverage",
    "next_coverage",
    "coverage_gap",  # coverage minus the abstract's best coverage (<= 0)
    "bm25_gap",  # bm25 minus the abstract's best bm25 (<= 0)
    "title_overlap",  # share of the title's terms in the sentence
    "finding_cue",  # words that report a result
    "method_cue",  # words that describe a design or a procedure
    "position_squared",
    "short",  # fewer than 6 words (section labels, fragments)
    "pair_coverage",  # coverage of this sentence together with its better neighbour
    # Evidence weighted within the abstract: a question word in every sentence of the abstract
    # (the method's name, the topic) says little about which sentence answers.
    "local_coverage",
    "local_gap",
    # Meaning where the words differ (WordLlama cosine; 0 when the model is unavailable).
    "semantic",
    "semantic_gap",  # minus the abstract's best
    "semantic_rel",  # minus the abstract's mean
    # What kind of statement the sentence makes (retrieval.answer.question.sentence_kinds).
    "s_quantity",
    "s_defines",
    "s_mechanism",
    "s_contribution",
    "s_problem",
    "s_comparison",
    # The thing the question is about, and the property it asks for.
    "focus",  # a focus term is in the sentence
    "focus_first",  # first sentence that names the focus
    "focus_defines",  # names the focus and reads like a definition
    "wanted",  # the asked-for property (memory, accuracy, ...) is named
)
# Question type x sentence type: which kind of sentence answers which kind of question.
_CROSSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "definition",
        ("s_defines", "focus_defines", "focus_first", "s_quantity", "position", "semantic_gap"),
    ),
    ("method", ("s_mechanism", "s_contribution", "focus_defines", "s_quantity", "position")),
    ("quantity", ("s_quantity", "wanted", "s_comparison", "position", "focus")),
    ("paper-finding", ("s_contribution", "s_defines", "position", "first", "semantic_gap")),
    ("problem", ("s_problem", "s_comparison", "s_contribution", "position")),
)
FEATURES: tuple[str, ...] = _BASE_FEATURES + tuple(
    f"{kind}*{name}" for kind, names in _CROSSES for name in names
)

_COVERAGE = FEATURES.index("coverage")
_SEMANTIC = FEATURES.index("semantic")

MODEL_PATH = Path(__file__).resolve().parents[1] / "data" / "sentence_model.json"


@dataclass(frozen=True, slots=True)
class SentenceModel:
    """A small scorer over :data:`FEATURES`: a linear part plus a one-hidden-layer network
    (tanh), averaged over a few fits from different seeds. Input scaling is folded into the
    weights, so scoring is two matrix products. Fitted on SciFact claims_train only, listwise
    (softmax over an abstract's sentences, gold rationale sentences as targets) by
    ``python bench/bench_compose.py fit``; size and regularisation chosen by 5-fold
    cross-validation on train."""

    features: tuple[str, ...]
    linear: NDArray[np.float64]  # (F,)
    hidden_in: NDArray[np.float64]  # (F, H)
    hidden_bias: NDArray[np.float64]  # (H,)
    hidden_out: NDArray[np.float64]  # (H,)

    def score(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.hidden_out.size:
            hidden = np.tanh(rows @ self.hidden_in + self.hidden_bias)
            return rows @ self.linear + hidden @ self.hidden_out
        return rows @ self.linear

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SentenceModel:
        if tuple(raw["features"]) != FEATURES:
            raise ValueError("sentence model was fitted on other features; refit it")
        return cls(
            features=tuple(raw["features"]),
            linear=np.asarray(raw["linear"], dtype=np.float64),
            hidden_in=np.asarray(raw["hidden_in"], dtype=np.float64).reshape(len(FEATURES), -1),
            hidden_bias=np.asarray(raw["hidden_bias"], dtype=np.float64),
            hidden_out=np.asarray(raw["hidden_out"], dtype=np.float64),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "linear": self.linear.round(6).tolist(),
            "hidden_in": self.hidden_in.round(6).tolist(),
            "hidden_bias": self.hidden_bias.round(6).tolist(),
            "hidden_out": self.hidden_out.round(6).tolist(),
        }

    @classmethod
    def linear_only(cls, weights: Sequence[float]) -> SentenceModel:
        return cls(
            FEATURES,
            np.asarray(weights, dtype=np.float64),
            np.zeros((len(FEATURES), 0)),
            np.zeros(0),
            np.zeros(0),
        )


@lru_cache(maxsize=1)
def default_model() -> SentenceModel:
    """The shipped model (``retrieval/data/sentence_model.json``)."""
    return SentenceModel.from_dict(json.loads(MODEL_PATH.read_text(encoding="utf-8")))


_FINDING_WORDS = [
    "found",
    "find",
    "finding",
    "show",
    "shown",
    "showed",
    "suggest",
    "suggests",
    "indicate",
    "indicated",
    "demonstrate",
    "demonstrated",
    "reveal",
    "revealed",
    "associated",
    "association",
    "conclude",
    "conclusion",
    "conclusions",
    "result",
    "results",
    "increase",
    "increased",
    "decrease",
    "decreased",
    "reduce",
    "reduced",
    "significantly",
    "higher",
    "lower",
    "correlated",
    "correlation",
    "evidence",
    "effect",
    "effects",
    "risk",
]
_METHOD_WORDS = [
    "method",
    "methods",
    "aim",
    "aimed",
    "objective",
    "background",
    "design",
    "designed",
    "participants",
    "enrolled",
    "randomized",
    "randomised",
    "performed",
    "measured",
    "investigated",
    "examined",
    "studied",
    "analyzed",
    "analysed",
    "purpose",
    "recruited",
    "collected",
    "using",
    "used",
    "cohort",
    "assessed",
    "evaluate",
    "evaluated",
]


@lru_cache(maxsize=8)
def _cue_terms(tokenizer: Tokenizer) -> tuple[frozenset[str], frozenset[str]]:
    finding = frozenset(t for w in _FINDING_WORDS for t in tokenizer.terms(w))
    method = frozenset(t for w in _METHOD_WORDS for t in tokenizer.terms(w)) - finding
    return finding, method


@dataclass(frozen=True, slots=True)
class SelectionParams:
    """Knobs of the sentence score (defaults: fitted on SciFact claims_train)."""

    k1: float = 1.2
    model: SentenceModel | None = None  # None: the shipped model
    phrase_window: int = 3  # a question bigram counts as a phrase within this many words
    semantic: bool = True  # WordLlama similarity as evidence (when the package loads)


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
    text: str = ""
    analysis: QuestionAnalysis | None = None

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
    return QueryTerms(
        terms, weights, frozenset(known), question, analyse_question(question, tokenizer)
    )


@dataclass(frozen=True, slots=True)
class SentenceScore:
    """One sentence of an abstract and how well it answers."""

    index: int
    start: int
    end: int
    score: float
    coverage: float  # IDF-weighted share of all question terms in the sentence
    matched: frozenset[str]
    semantic: float  # cosine of question and sentence (0 without the embedding model)
    spans: tuple[TermSpan, ...]  # question-term occurrences inside the sentence


@dataclass(frozen=True, slots=True)
class _Sentences:
    """Per-sentence raw material shared by the features and the composer."""

    spans: list[tuple[int, int]]
    hits: list[list[tuple[int, TermSpan]]]  # (word position in sentence, question-term span)
    lengths: list[int]  # words
    terms: list[set[str]]  # all document terms of the sentence


def _collect(abstract: str, query: QueryTerms, tokenizer: Tokenizer, spans) -> _Sentences:
    qset = set(query.terms)
    starts = [s for s, _ in spans]
    n = len(spans)
    lengths = [0] * n
    hits: list[list[tuple[int, TermSpan]]] = [[] for _ in range(n)]
    terms: list[set[str]] = [set() for _ in range(n)]
    last_offset = -1
    i = 0
    for span in tokenizer.spans(abstract):
        if not (starts[i] <= span.start < spans[i][1]):
            i = bisect_right(starts, span.start) - 1
            if i < 0 or span.start >= spans[i][1]:
                i = max(i, 0)
                continue
        if span.start != last_offset:  # compounds share one word: count the word once
            lengths[i] += 1
            last_offset = span.start
        terms[i].add(span.term)
        if span.term in qset:
            hits[i].append((lengths[i] - 1, span))
    return _Sentences(list(spans), hits, lengths, terms)


def _semantic(
    question: str, abstract: str, spans: Sequence[tuple[int, int]], enabled: bool
) -> list[float]:
    model = embedder() if enabled and question else None
    if model is None:
        return [0.0] * len(spans)
    return model.similarity(question, [abstract[a:b] for a, b in spans]).tolist()


def sentence_features(
    abstract: str,
    title: str,
    query: QueryTerms,
    tokenizer: Tokenizer,
    params: SelectionParams = DEFAULT_PARAMS,
    *,
    sentences: Sequence[tuple[int, int]] | None = None,
) -> tuple[list[list[float]], _Sentences]:
    """One feature row per sentence (order of :data:`FEATURES`) and the raw material.

    Rows are built by feature name, so adding or reordering a feature cannot shift another.
    """
    spans = split_sentences(abstract) if sentences is None else list(sentences)
    if not spans:
        return [], _Sentences([], [], [], [])
    data = _collect(abstract, query, tokenizer, spans)
    n = len(spans)
    weights = query.weights
    total = query.total or 1.0
    title_terms = set(tokenizer.terms(title)) if title else set()
    untitled_total = sum(w for t, w in weights.items() if t not in title_terms)
    order = {t: i for i, t in enumerate(query.terms)}
    rarest = max(weights, key=lambda t: weights[t]) if weights else None
    query_numbers = {t for t in query.terms if t[:1].isdigit()}
    finding, method = _cue_terms(tokenizer)
    k1 = params.k1
    window = params.phrase_window
    n_terms = len(query.terms) or 1
    n_title = len(title_terms) or 1
    analysis = query.analysis
    kind = analysis.kind if analysis else "claim"
    focus = analysis.focus if analysis else frozenset()
    wanted = analysis.wanted if analysis else frozenset()

    # Within-abstract weight: a question term found in few of the abstract's sentences points
    # at those sentences; one found in all of them points nowhere.
    tfs = [Counter(span.term for _, span in data.hits[i]) for i in range(n)]
    sentence_freq = Counter(t for tf in tfs for t in tf)
    local = {t: weights[t] * math.log(1.0 + n / sf) for t, sf in sentence_freq.items()}
    local_total = sum(local.values()) or 1.0
    semantic = _semantic(query.text, abstract, spans, params.semantic)
    best_semantic = max(semantic)
    mean_semantic = sum(semantic) / n
    first_focus = next((i for i in range(n) if focus & data.terms[i]), -1)

    rows: list[dict[str, float]] = []
    for i in range(n):
        tf = tfs[i]
        sentence_terms = data.terms[i]
        phrase_terms = _phrase_terms(data.hits[i], order, window)
        position = i / (n - 1) if n > 1 else 0.0
        kinds = sentence_kinds(abstract[spans[i][0] : spans[i][1]])
        names_focus = 1.0 if focus & sentence_terms else 0.0
        row = {
            "bm25": sum(weights[t] * c * (k1 + 1.0) / (c + k1) for t, c in tf.items()) / total,
            "coverage": sum(weights[t] for t in tf) / total,
            "coverage_untitled": (
                sum(weights[t] for t in tf if t not in title_terms) / untitled_total
                if untitled_total
                else 0.0
            ),
            "matched_share": len(tf) / n_terms,
            "rarest": 1.0 if rarest in tf else 0.0,
            "phrases": sum(weights[t] for t in phrase_terms) / total,
            "numbers": 1.0 if any(t[:1].isdigit() for t in sentence_terms) else 0.0,
            "query_numbers": 1.0 if query_numbers & tf.keys() else 0.0,
            "position": position,
            "first": 1.0 if i == 0 else 0.0,
            "last": 1.0 if i == n - 1 else 0.0,
            "title_overlap": len(title_terms & sentence_terms) / n_title,
            "finding_cue": 1.0 if finding & sentence_terms else 0.0,
            "method_cue": 1.0 if method & sentence_terms else 0.0,
            "position_squared": position * position,
            "short": 1.0 if data.lengths[i] < 6 else 0.0,
            "local_coverage": sum(local[t] for t in tf) / local_total,
            "semantic": semantic[i],
            "semantic_gap": semantic[i] - best_semantic,
            "semantic_rel": semantic[i] - mean_semantic,
            **{f"s_{name}": value for name, value in kinds.items()},
            "focus": names_focus,
            "focus_first": 1.0 if i == first_focus else 0.0,
            "focus_defines": names_focus * kinds["defines"],
            "wanted": 1.0 if wanted & sentence_terms else 0.0,
        }
        rows.append(row)
    _add_context(rows, tfs, weights, total)
    _add_crosses(rows, kind)
    return [[row[name] for name in FEATURES] for row in rows], data


def _phrase_terms(
    positions: Sequence[tuple[int, TermSpan]], order: dict[str, int], window: int
) -> set[str]:
    """Question terms found here next to their neighbour in the question (within ``window``
    tokens): "reward model" standing together says more than the two words apart."""
    found: set[str] = set()
    for a in range(len(positions)):
        pos_a, span_a = positions[a]
        for b in range(a + 1, len(positions)):
            pos_b, span_b = positions[b]
            if pos_b - pos_a > window:
                break
            ta, tb = span_a.term, span_b.term
            if ta != tb and abs(order[ta] - order[tb]) == 1:
                found.add(ta)
                found.add(tb)
    return found


def _add_context(
    rows: list[dict[str, float]],
    tfs: Sequence[Counter[str]],
    weights: dict[str, float],
    total: float,
) -> None:
    """Features that compare a sentence with its neighbours and with the abstract's best."""
    n = len(rows)
    coverage = [row["coverage"] for row in rows]
    bm25 = [row["bm25"] for row in rows]
    local_cov = [row["local_coverage"] for row in rows]
    best_cov, best_bm25, best_local = max(coverage), max(bm25), max(local_cov)
    for i, row in enumerate(rows):
        row["prev_coverage"] = coverage[i - 1] if i > 0 else 0.0
        row["next_coverage"] = coverage[i + 1] if i + 1 < n else 0.0
        row["coverage_gap"] = coverage[i] - best_cov
        row["bm25_gap"] = bm25[i] - best_bm25
        row["local_gap"] = local_cov[i] - best_local
        pair = 0.0
        for j in (i - 1, i + 1):
            if 0 <= j < n:
                both = tfs[i].keys() | tfs[j].keys()
                pair = max(pair, sum(weights[t] for t in both) / total)
        row["pair_coverage"] = pair


def _add_crosses(rows: list[dict[str, float]], kind: str) -> None:
    """Question type x sentence type: a feature counts only for its kind of question."""
    for row in rows:
        for cross_kind, names in _CROSSES:
            on = 1.0 if kind == cross_kind else 0.0
            for name in names:
                row[f"{cross_kind}*{name}"] = on * row[name]


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
    rows, data = sentence_features(abstract, title, query, tokenizer, params, sentences=sentences)
    if not rows:
        return []
    model = params.model or default_model()
    scores = model.score(np.asarray(rows, dtype=np.float64)).tolist()
    out: list[SentenceScore] = []
    for i, row in enumerate(rows):
        start, end = data.spans[i]
        hits = data.hits[i]
        matched = frozenset(span.term for _, span in hits)
        out.append(
            SentenceScore(
                index=i,
                start=start,
                end=end,
                score=scores[i],
                coverage=row[_COVERAGE],
                semantic=row[_SEMANTIC],
                matched=matched,
                spans=tuple(span for _, span in hits),
            )
        )
    return out
