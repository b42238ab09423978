"""A small static embedding model for meaning where words differ: WordLlama, loaded from its wheel.

BM25 and the sentence features see only shared terms; a question asked in the asker's own words
("how much memory does it save") and the sentence that answers ("reduces GPU memory usage by
46%") share few. WordLlama (PyPI ``wordllama``, MIT) is a 256-dimension static token embedding
distilled from an LLM's embedding table with its tokenizer: a sentence vector is the mean of its
token vectors, so it needs no network, no GPU and no model server, loads in a fraction of a
second and embeds about 10k sentences in 0.1 s on one core. Its weights and tokenizer ship inside
the wheel; nothing is ever downloaded (``disable_download``, and ``HF_HUB_OFFLINE`` while loading).

The model is loaded once per process, on first use, behind a lock. When the package is missing
or fails to load, :func:`embedder` returns None and callers fall back to lexical evidence only
(logged once): the bot keeps answering.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["DIMENSIONS", "MAX_EMBED_CHARS", "Embedder", "embedder"]

log = logging.getLogger(__name__)

DIMENSIONS = 256
MAX_EMBED_CHARS = 4000  # a hostile 100 kB question embeds like its first 4,000 characters
_MAX_CACHED_WORDS = 60_000  # about 60 MB of float32 sums at most


class Embedder:
    """Unit-length text vectors from a loaded WordLlama model, with a per-word cache.

    WordLlama's text vector is the mean of its token vectors, and its tokenizer never merges
    tokens across spaces, so a text's vector is the sum of its words' token-vector sums over
    their token count. Tokenizing is most of the cost (0.3 ms an abstract); the words of
    abstracts repeat, so each word is tokenized once and its sum and count kept in a bounded
    table (float32 rows, cleared whole when full), and a text costs a few array lookups.
    """

    def __init__(self, model: Any, *, max_words: int = _MAX_CACHED_WORDS) -> None:
        self._model = model
        self._table: NDArray[np.float32] = np.asarray(model.embedding, dtype=np.float32)
        self._max_words = max_words
        self._model.tokenizer.no_padding()  # words are tokenized one by one: no pad tokens
        self._guard = threading.RLock()  # embed holds it across a lookup and the reads
        self._index: dict[str, int] = {}
        self._sums = np.zeros((0, DIMENSIONS), dtype=np.float32)
        self._counts = np.zeros(0, dtype=np.float32)

    def _grow(self, needed: int) -> None:
        size = len(self._sums)
        if needed <= size:
            return
        new_size = min(max(needed, size * 2, 4096), self._max_words)
        sums = np.zeros((new_size, DIMENSIONS), dtype=np.float32)
        counts = np.zeros(new_size, dtype=np.float32)
        sums[:size] = self._sums
        counts[:size] = self._counts
        self._sums, self._counts = sums, counts

    def _word_rows(self, words: list[str]) -> list[int]:
        """Table rows of ``words``, tokenizing the ones not seen before (under the lock)."""
        with self._guard:
            missing = list(dict.fromkeys(w for w in words if w not in self._index))
            if len(self._index) + len(missing) > self._max_words:
                self._index.clear()  # a long tail filled it: start again (rare, cheap)
                missing = list(dict.fromkeys(words))
            if missing:
                start = len(self._index)
                self._grow(start + len(missing))
                for offset in range(0, len(missing), 256):
                    batch = missing[offset : offset + 256]
                    encoded = self._model.tokenizer.encode_batch(batch, add_special_tokens=False)
                    lengths = np.fromiter((len(enc.ids) for enc in encoded), dtype=np.int64)
                    flat = np.fromiter(
                        (t for enc in encoded for t in enc.ids), dtype=np.int64, count=lengths.sum()
                    )
                    np.clip(flat, 0, len(self._table) - 1, out=flat)
                    rows = slice(start + offset, start + offset + len(batch))
                    self._counts[rows] = lengths
                    if flat.size:
                        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
                        sums = np.add.reduceat(self._table[flat], np.minimum(starts, flat.size - 1))
                        sums[lengths == 0] = 0.0
                        self._sums[rows] = sums
                    else:
                        self._sums[rows] = 0.0
                for j, word in enumerate(missing):
                    self._index[word] = start + j
            return [self._index[w] for w in words]

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One unit vector per text (a text with no words gets the zero vector)."""
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        split = [text[:MAX_EMBED_CHARS].split() for text in texts]
        words = [w for ws in split for w in ws]
        if not words:
            return out
        with self._guard:
            rows = np.asarray(self._word_rows(words), dtype=np.int64)
            sums, counts = self._sums[rows], self._counts[rows]
        bounds = np.cumsum([0, *(len(ws) for ws in split)])
        for i in range(len(texts)):
            a, b = bounds[i], bounds[i + 1]
            if b > a:
                total = counts[a:b].sum()
                if total > 0:
                    vector = sums[a:b].sum(axis=0) / total
                    norm = float(np.linalg.norm(vector))
                    if norm > 0:
                        out[i] = vector / norm
        return out

    def similarity(self, question: str, texts: Sequence[str]) -> NDArray[np.float32]:
        """Cosine of the question with each text."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        vectors = self.embed([question, *texts])
        return vectors[1:] @ vectors[0]


_lock = threading.Lock()
_loaded: list[Embedder | None] = []


def _load() -> Embedder | None:
    try:
        import wordllama
        from wordllama import WordLlama
    except ImportError:
        log.warning("wordllama is not installed: answers use lexical evidence only")
        return None
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"  # the weights are in the wheel: never reach for a hub
    try:
        # The wheel keeps its tokenizer config in ``tokenizers/`` while ``load`` looks in
        # ``tokenizer/``; pointing ``cache_dir`` at the package finds both files offline.
        package = Path(wordllama.__file__).resolve().parent
        model = WordLlama.load(cache_dir=package, disable_download=True)
    except Exception as error:  # a broken install must not take the bot down
        log.warning("could not load the wordllama model (%s): lexical evidence only", error)
        return None
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous
    return Embedder(model)


def embedder() -> Embedder | None:
    """The process's embedder, loaded on first call; None when unavailable."""
    if not _loaded:
        with _lock:
            if not _loaded:
                _loaded.append(_load())
    return _loaded[0]
