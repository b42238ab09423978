"""A vocabulary that is memory-mapped rather than parsed: term -> id without a dict.

Loading a saved index used to turn a JSON list of terms into a Python dict, one string and one
int object per term (~160 bytes each): most of the reload time, and of the memory, of an index
of millions of terms. :class:`FlatVocab` keeps four flat arrays instead, so loading one costs
page-ins and nothing per term:

- ``blob``: the terms' UTF-8 bytes, concatenated in term-id order;
- ``offsets``: where each term starts in ``blob`` (``len(terms) + 1`` of them, int64);
- ``hashes``: a 64-bit hash of every term, sorted;
- ``ids``: the term id of each entry of ``hashes``.

A lookup hashes the term, finds its hash with a binary search (``np.searchsorted``) and checks
the stored bytes of each term with that hash, so a hash collision costs a comparison, never a
wrong id.

The hash is the first half of a 128-bit BLAKE2b digest (:func:`term_digests`); the index builder
numbers terms in the order of the whole digest, so a built vocabulary's ``hashes`` are sorted by
construction and its ``ids`` are the identity (two terms sharing the first half still get two
ids, told apart by the second half).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

_CACHE_SIZE = 1 << 16  # terms looked up recently (queries and sentence weighing repeat them)


def term_bytes(term: str) -> bytes:
    return term.encode("utf-8", "surrogatepass")


def term_hash(data: bytes) -> int:
    """The 64-bit hash terms are found by (stable across processes and versions): the first
    half of :func:`term_digests`."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=16).digest()[:8], "little")


def term_digests(encoded: Sequence[bytes]) -> NDArray[np.uint64]:
    """128-bit digests of terms' UTF-8 bytes as ``(n, 2)`` uint64: column 0 is
    :func:`term_hash`, column 1 tells apart terms whose column 0 is equal."""
    blake2b = hashlib.blake2b
    joined = b"".join([blake2b(data, digest_size=16).digest() for data in encoded])
    return np.frombuffer(joined, dtype="<u8").astype(np.uint64).reshape(len(encoded), 2)


class FlatVocab(Mapping[str, int]):
    """term -> term id over flat (possibly memory-mapped) arrays; see the module docstring."""

    __slots__ = ("_cache", "blob", "hashes", "ids", "offsets")

    def __init__(
        self,
        blob: NDArray[np.uint8],
        offsets: NDArray[np.int64],
        hashes: NDArray[np.uint64],
        ids: NDArray[np.int64],
    ) -> None:
        n = int(offsets.shape[0]) - 1
        if n < 0 or hashes.shape != (n,) or ids.shape != (n,):
            raise ValueError("vocabulary arrays do not fit together")
        if int(offsets[-1]) != blob.shape[0] or int(offsets[0]) != 0:
            raise ValueError("vocabulary offsets do not match its bytes")
        self.blob = blob
        self.offsets = offsets
        self.hashes = hashes
        self.ids = ids
        self._cache: dict[str, int | None] = {}

    @classmethod
    def from_terms(cls, terms: Sequence[str]) -> FlatVocab:
        """The vocabulary of ``terms`` (term id = position); terms must be distinct."""
        encoded = [term_bytes(t) for t in terms]
        n = len(encoded)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=n), out=offsets[1:])
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
        hashes = np.fromiter(map(term_hash, encoded), dtype=np.uint64, count=n)
        order = np.argsort(hashes, kind="stable")
        return cls(blob, offsets, hashes[order], order.astype(np.int64))

    @classmethod
    def of(cls, vocab: Mapping[str, int], terms: Sequence[str]) -> FlatVocab:
        """``vocab`` itself if already flat, else one built from ``terms`` (its id order)."""
        return vocab if isinstance(vocab, FlatVocab) else cls.from_terms(terms)

    def arrays(self) -> dict[str, NDArray[Any]]:
        """The arrays to save, by file stem (``FlatVocab(**arrays)`` rebuilds it)."""
        return {"blob": self.blob, "offsets": self.offsets, "hashes": self.hashes, "ids": self.ids}

    def _lookup(self, term: str) -> int | None:
        cache = self._cache
        try:
            return cache[term]
        except KeyError:
            pass
        data = term_bytes(term)
        h = np.uint64(term_hash(data))
        hashes, n = self.hashes, self.hashes.shape[0]
        i = int(np.searchsorted(hashes, h))
        found: int | None = None
        while i < n and hashes[i] == h:
            tid = int(self.ids[i])
            if self.blob[self.offsets[tid] : self.offsets[tid + 1]].tobytes() == data:
                found = tid
                break
            i += 1
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[term] = found
        return found

    # -- Mapping --------------------------------------------------------------------------------
    def __getitem__(self, term: str) -> int:
        tid = self._lookup(term) if isinstance(term, str) else None
        if tid is None:
            raise KeyError(term)
        return tid

    @overload
    def get(self, term: str, /) -> int | None: ...
    @overload
    def get(self, term: str, /, default: int) -> int: ...
    @overload
    def get(self, term: str, /, default: Any) -> Any: ...

    def get(self, term: str, /, default: Any = None) -> Any:
        tid = self._lookup(term) if isinstance(term, str) else None
        return default if tid is None else tid

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self._lookup(term) is not None

    def __len__(self) -> int:
        return int(self.hashes.shape[0])

    def __iter__(self) -> Iterator[str]:
        return iter(self.terms())

    def terms(self) -> list[str]:
        """All terms in term-id order (decodes the whole blob: for saving and rank-bm25)."""
        data = self.blob.tobytes()
        bounds = self.offsets.tolist()
        return [data[a:b].decode("utf-8", "surrogatepass") for a, b in itertools.pairwise(bounds)]
