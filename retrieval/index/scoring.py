"""BM25 scoring as pure functions, picked by name (the bm25s way).

Keeping the formulas here, apart from any engine, is what lets two engines (rank-bm25's
``BM25Okapi`` and our sparse matrix) be checked for identical scores: both take their IDF and
their term-frequency saturation from these functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

from config.settings import default

if TYPE_CHECKING:
    from config import Settings

IdfMethod = Literal["okapi", "lucene", "atire"]

# rank-bm25's BM25Okapi floors negative IDFs (terms in more than half the documents) at
# epsilon * mean IDF; we keep its constant so the reference engine and ours agree exactly.
OKAPI_EPSILON = 0.25


def idf_okapi(n_docs: int, df: NDArray[np.float64]) -> NDArray[np.float64]:
    """Robertson-Sparck Jones IDF with rank-bm25's floor for negative values."""
    idf = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
    if idf.size:
        floor = OKAPI_EPSILON * float(idf.mean())
        idf = np.where(idf < 0, floor, idf)
    return idf


def idf_lucene(n_docs: int, df: NDArray[np.float64]) -> NDArray[np.float64]:
    """Lucene's IDF, ``log(1 + (N - df + 0.5) / (df + 0.5))``: never negative."""
    return np.log1p((n_docs - df + 0.5) / (df + 0.5))


def idf_atire(n_docs: int, df: NDArray[np.float64]) -> NDArray[np.float64]:
    """ATIRE's IDF, ``log(N / df)``."""
    return np.log(n_docs / np.maximum(df, 1.0))


IDF_FUNCTIONS: dict[str, Callable[[int, NDArray[np.float64]], NDArray[np.float64]]] = {
    "okapi": idf_okapi,
    "lucene": idf_lucene,
    "atire": idf_atire,
}


def tf_saturation(
    tf: NDArray[np.number], doc_len: NDArray[np.number], avgdl: float, k1: float, b: float
) -> NDArray[np.float64]:
    """BM25's term-frequency part: ``tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl))``."""
    counts = tf.astype(np.float64, copy=False)
    norm = k1 * (1.0 - b + b * doc_len.astype(np.float64, copy=False) / max(avgdl, 1e-9))
    result: NDArray[np.float64] = counts * (k1 + 1.0) / (counts + norm)
    return result


_DEFAULT_K1: float = default("bm25_k1")
_DEFAULT_B: float = default("bm25_b")
_DEFAULT_TITLE_WEIGHT: int = default("title_weight")
_DEFAULT_IDF: IdfMethod = default("bm25_idf")


@dataclass(frozen=True, slots=True)
class BM25Params:
    """Everything that changes scores; an index saved with other params is rebuilt. The
    defaults are the configured defaults (``config.settings``, tuned on SciFact train)."""

    k1: float = _DEFAULT_K1
    b: float = _DEFAULT_B
    title_weight: int = _DEFAULT_TITLE_WEIGHT
    idf: IdfMethod = _DEFAULT_IDF

    @classmethod
    def untuned(cls) -> BM25Params:
        """Textbook Okapi BM25 (k1 1.2, b 0.75, title once): the anchor benches compare with,
        and what rank-bm25 computes."""
        return cls(k1=1.2, b=0.75, title_weight=1, idf="okapi")

    @classmethod
    def from_settings(cls, settings: Settings) -> BM25Params:
        """The configured parameters (``PAPERBOT_BM25_K1`` and friends)."""
        return cls(
            k1=settings.bm25_k1,
            b=settings.bm25_b,
            title_weight=settings.title_weight,
            idf=settings.bm25_idf,
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def idf_values(self, n_docs: int, df: NDArray[np.float64]) -> NDArray[np.float64]:
        return IDF_FUNCTIONS[self.idf](n_docs, df)
