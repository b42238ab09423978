"""Term-major postings (a CSC matrix: for each term, its documents and term frequencies).

Built chunk by chunk (:class:`PostingsBuilder`) so that memory stays bounded however large the
corpus: a chunk arrives already term-major (:func:`chunk_postings`, run in the build workers),
its postings go to a scratch file at once, and the parent keeps only each chunk's terms. At the
end, terms get their global ids from their 128-bit hashes (sorted: no per-term Python work),
and the postings are laid out term range by term range, each range's BM25 contributions
computed and written as it is laid out. No array of one entry per posting of the whole corpus
is ever held in memory when the build has a directory to write to: the result is memory-mapped
from it, as a saved index would be.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from numpy.typing import DTypeLike, NDArray

from retrieval.index.scoring import BM25Params, tf_saturation
from retrieval.index.vocab import FlatVocab

log = logging.getLogger(__name__)

_SCORE_SLICE = 8_000_000
_LAYOUT_SLICE = 1 << 21  # postings laid out (and scored) at once by the builder
_LAYOUT_THREADS = 2
_MERGE_MIN = 1 << 22  # hashes of chunks' terms collected before they are merged into the union


class TermFrequenciesMissing(LookupError):
    """The index was built or saved without term frequencies (the sparse engine needs only the
    precomputed contributions); rank-bm25 or other BM25 parameters need a rebuild."""


class NoTermFrequencies:
    """``Postings.tf`` of an index without term frequencies: as long as the postings (so shape
    checks hold), but reading it raises :class:`TermFrequenciesMissing`."""

    __slots__ = ("_n",)

    def __init__(self, n: int) -> None:
        self._n = n

    def __len__(self) -> int:
        return self._n

    @property
    def shape(self) -> tuple[int]:
        return (self._n,)

    def __getitem__(self, key: object) -> NoReturn:
        raise TermFrequenciesMissing("this index has no term frequencies (sparse engine only)")


@dataclass(frozen=True, slots=True)
class BuiltScores:
    """Contributions computed while the postings were laid out, for ``params``."""

    params: BM25Params
    scores: NDArray[np.float32]
    term_max: NDArray[np.float32]  # each term's largest contribution (for dynamic pruning)


@dataclass
class Postings:
    """The corpus as numbers: enough to score any query and to re-score for new params."""

    vocab: Mapping[str, int]  # a :class:`FlatVocab` when built or loaded
    indptr: NDArray[np.int64]  # len(vocab) + 1
    docs: NDArray[np.int32]  # doc positions, ascending within each term
    tf: NDArray[np.uint16] | NoTermFrequencies
    doc_len: NDArray[np.float32]  # weighted length (title counted title_weight times)
    built: BuiltScores | None = field(default=None, repr=False, compare=False)

    @property
    def n_docs(self) -> int:
        return int(self.doc_len.shape[0])

    @property
    def has_tf(self) -> bool:
        return not isinstance(self.tf, NoTermFrequencies)

    @property
    def df(self) -> NDArray[np.int64]:
        return np.diff(self.indptr)

    @property
    def avgdl(self) -> float:
        return float(self.doc_len.mean()) if self.n_docs else 0.0

    def terms(self) -> list[str]:
        """The vocabulary in term-id order (the inverse of ``vocab``)."""
        if isinstance(self.vocab, FlatVocab):
            return self.vocab.terms()
        terms = [""] * len(self.vocab)
        for term, tid in self.vocab.items():
            terms[tid] = term
        return terms

    def idf(self, params: BM25Params) -> NDArray[np.float64]:
        return params.idf_values(self.n_docs, self.df.astype(np.float64))

    def scores(
        self,
        params: BM25Params,
        *,
        idf: NDArray[np.float64] | None = None,
        avgdl: float | None = None,
    ) -> NDArray[np.float32]:
        """Per-posting BM25 contributions ``idf(term) * saturation(tf, doc length)``.

        ``idf`` and ``avgdl`` default to this corpus' own; a small collection scored on a larger
        one's scale passes the larger one's. The build's own, if it computed them for
        ``params``, are returned as they are.
        """
        own_scale = idf is None and avgdl is None
        if self.built is not None and self.built.params == params and own_scale:
            return self.built.scores
        tf = self.tf
        if isinstance(tf, NoTermFrequencies):
            raise TermFrequenciesMissing(
                "this index was built without term frequencies: it has contributions for "
                f"{self.built.params if self.built else 'other parameters'} only"
            )
        idf = self.idf(params) if idf is None else idf
        out = np.empty(self.docs.shape[0], dtype=np.float32)
        avgdl = self.avgdl if avgdl is None else avgdl
        indptr = np.asarray(self.indptr, dtype=np.int64)
        for start in range(0, out.shape[0], _SCORE_SLICE):
            stop = min(start + _SCORE_SLICE, out.shape[0])
            # The term of each posting in this slice, found from the term offsets: no array of
            # one term id per posting for the whole corpus (614 MB at a million abstracts).
            first = int(np.searchsorted(indptr, start, side="right")) - 1
            last = int(np.searchsorted(indptr, stop - 1, side="right")) - 1
            counts = np.diff(np.clip(indptr[first : last + 2], start, stop)).astype(np.int64)
            _contributions(
                out[start:stop],
                np.repeat(idf[first : last + 1], counts),
                tf[start:stop],
                self.docs[start:stop],
                self.doc_len,
                avgdl,
                params,
            )
        return out


_BLOCK = 1 << 16  # postings scored at once: the float64 temporaries stay in the CPU's cache


def _contributions(
    out: NDArray[np.float32],
    idf_of: NDArray[np.float64],
    tf: NDArray[np.uint16],
    docs: NDArray[np.int32],
    doc_len: NDArray[np.float32],
    avgdl: float,
    params: BM25Params,
) -> None:
    """BM25 contributions of postings into ``out``, given each one's term IDF, tf and document
    (the one formula both :meth:`Postings.scores` and the builder use, so they agree bit for
    bit). Block by block: several times faster than whole arrays, and the same numbers."""
    k1, b = params.k1, params.b
    for start in range(0, out.shape[0], _BLOCK):
        stop = start + _BLOCK
        out[start:stop] = idf_of[start:stop] * tf_saturation(
            tf[start:stop], doc_len[docs[start:stop]], avgdl, k1, b
        )


# -- a chunk of documents, tokenized ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TokenizedChunk:
    """A chunk's postings, term-major, as a build worker sends them.

    Local terms are in the order of their 128-bit hashes, the order of global term ids, so the
    chunk's postings stay in term order once renumbered.
    """

    blob: bytes  # the local terms' UTF-8, in local order
    offsets: NDArray[np.int64]  # where each local term starts in ``blob`` (n + 1)
    hashes: NDArray[np.uint64]  # (n, 2): :func:`~retrieval.index.vocab.term_digests`, sorted
    counts: NDArray[np.int64]  # postings of each local term
    docs: NDArray[np.uint16] | NDArray[np.uint32]  # document within the chunk
    tf: NDArray[np.uint16]
    doc_len: NDArray[np.float32]

    @property
    def n_docs(self) -> int:
        return int(self.doc_len.shape[0])


def chunk_postings(
    encoded: Sequence[bytes],
    digests: NDArray[np.uint64],
    flat_ids: list[int],
    lens: list[int],
) -> TokenizedChunk:
    """A chunk's postings from its documents' concatenated term ids, with term frequencies
    counted. ``encoded[id]`` is a term's UTF-8 and ``digests[id]`` its
    :func:`~retrieval.index.vocab.term_digests`; ``lens[d]`` is the number of ids of document
    ``d``. Terms without occurrences in the chunk are left out."""
    ids = np.asarray(flat_ids, dtype=np.int64)
    used = np.flatnonzero(np.bincount(ids, minlength=len(encoded)))
    hashes = digests[used]
    order = np.argsort(hashes[:, 0], kind="stable")
    if (np.diff(hashes[order, 0]) == 0).any():  # two terms share the first 64 bits
        order = np.lexsort((hashes[:, 1], hashes[:, 0]))
    local = used[order]  # the chunk's terms, in hash order
    n_terms = int(local.shape[0])
    rank = np.zeros(len(encoded), dtype=np.int64)
    rank[local] = np.arange(n_terms, dtype=np.int64)
    lengths = np.asarray(lens, dtype=np.int64)
    doc_of = np.repeat(np.arange(lengths.shape[0], dtype=np.int64), lengths)
    keys, tf = np.unique((rank[ids] << 32) | doc_of, return_counts=True)
    counts = np.bincount(keys >> 32, minlength=n_terms).astype(np.int64)
    chosen = [encoded[i] for i in local.tolist()]
    offsets = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, chosen), dtype=np.int64, count=n_terms), out=offsets[1:])
    doc_dtype = np.uint16 if lengths.shape[0] <= 1 << 16 else np.uint32
    return TokenizedChunk(
        blob=b"".join(chosen),
        offsets=offsets,
        hashes=np.ascontiguousarray(hashes[order]),
        counts=counts,
        docs=(keys & 0xFFFFFFFF).astype(doc_dtype),
        tf=np.minimum(tf, np.iinfo(np.uint16).max).astype(np.uint16),
        doc_len=lengths.astype(np.float32),
    )


# -- scratch and output files ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Ref:
    offset: int  # bytes into the scratch file (or the index of the array in memory)
    dtype: np.dtype[Any]
    size: int


class _Scratch:
    """Arrays put aside and read back by element range: in one scratch file in the build's
    directory (read with ``pread``, so nothing is mapped: the pages stay in the page cache,
    not in the build's memory), or in memory when the build has no directory."""

    def __init__(self, directory: Path | None) -> None:
        self._arrays: list[NDArray[Any]] = []
        self._path = directory / "scratch.bin" if directory is not None else None
        self._fd: int | None = None
        self._end = 0
        if self._path is not None:
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
            self._fd = os.open(self._path, flags, 0o600)

    def put(self, array: NDArray[Any]) -> _Ref:
        array = np.ascontiguousarray(array)
        if self._fd is None:
            self._arrays.append(array)
            return _Ref(len(self._arrays) - 1, array.dtype, int(array.size))
        ref = _Ref(self._end, array.dtype, int(array.size))
        view = array.data.cast("B")
        while view:
            written = os.pwrite(self._fd, view, self._end)
            self._end += written
            view = view[written:]
        return ref

    def get(self, ref: _Ref, start: int = 0, stop: int | None = None) -> NDArray[Any]:
        stop = ref.size if stop is None else stop
        if self._fd is None:
            return self._arrays[ref.offset][start:stop]
        out = np.empty(stop - start, dtype=ref.dtype)
        view = out.data.cast("B")
        at = ref.offset + start * ref.dtype.itemsize
        while view:
            got = os.preadv(self._fd, [view], at)
            if got <= 0:
                raise OSError("index build scratch file is shorter than written")
            at += got
            view = view[got:]
        return out

    def close(self) -> None:
        self._arrays.clear()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)


class _Output:
    """One array of the index, appended slice by slice: to ``<name>.npy`` in the build's
    directory with plain writes (then memory-mapped), or into an array in memory."""

    def __init__(self, directory: Path | None, name: str, dtype: DTypeLike, size: int) -> None:
        self.dtype = np.dtype(dtype)
        self.size = size
        self._at = 0
        self._array: NDArray[Any] | None = None
        self._file: Any = None
        self.path = directory / f"{name}.npy" if directory is not None else None
        if self.path is None:
            self._array = np.empty(size, dtype=self.dtype)
            return
        self._file = open(self.path, "xb")  # noqa: SIM115 (closed in finish/abort)
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (size,),
        }
        np.lib.format.write_array_header_1_0(self._file, header)

    def append(self, values: NDArray[Any]) -> None:
        values = np.ascontiguousarray(values, dtype=self.dtype)
        stop = self._at + values.shape[0]
        if stop > self.size:
            raise ValueError(f"more values than the {self.size} of {self.path}")
        if self._array is not None:
            self._array[self._at : stop] = values
        else:
            self._file.write(values.data.cast("B"))
        self._at = stop

    def finish(self) -> NDArray[Any]:
        """The whole array (memory-mapped from its file, read-only, when it has one)."""
        if self._at != self.size:
            raise ValueError(f"{self._at} of {self.size} values written to {self.path}")
        if self._array is not None:
            return self._array
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        assert self.path is not None
        mapped: NDArray[Any] = np.load(self.path, mmap_mode="r")
        return mapped

    def abort(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()


def _write_whole(directory: Path | None, name: str, values: NDArray[Any]) -> NDArray[Any]:
    if directory is None:
        return values
    out = _Output(directory, name, values.dtype, int(values.shape[0]))
    try:
        out.append(values)
        return out.finish()
    finally:
        out.abort()


# -- the builder -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _ChunkRefs:
    doc_start: int  # position of the chunk's first document in the corpus
    n_terms: int
    blob: _Ref
    offsets: _Ref
    first_half: _Ref  # of each term's hash (what the vocabulary is looked up by)
    second_half: _Ref
    counts: _Ref
    docs: _Ref
    tf: _Ref


class PostingsBuilder:
    """Collects tokenized chunks aside, then numbers the terms and lays the postings out.

    ``directory`` (a fresh build directory) receives the scratch file and the arrays of the
    index (``indptr``, ``docs``, ``doc_len``, ``tf`` when kept, ``scores`` when ``params`` are
    given, ``vocab-*``), named as :mod:`retrieval.index.persist` saves them; without one,
    everything stays in memory. Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        params: BM25Params | None = None,
        keep_tf: bool = True,
    ) -> None:
        if not keep_tf and params is None:
            raise ValueError("without term frequencies the build must compute the scores")
        self.directory = directory
        self.params = params
        self.keep_tf = keep_tf
        self._scratch = _Scratch(directory)
        self._chunks: list[_ChunkRefs] = []
        self._lens: list[NDArray[np.float32]] = []
        self._n_docs = 0

    def __enter__(self) -> PostingsBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the scratch data (the arrays written for the index stay)."""
        self._scratch.close()

    @property
    def n_docs(self) -> int:
        return self._n_docs

    def add_chunk(self, chunk: TokenizedChunk) -> None:
        """Put a chunk aside (a few writes: what the parent does while workers tokenize)."""
        put = self._scratch.put
        self._chunks.append(
            _ChunkRefs(
                doc_start=self._n_docs,
                n_terms=int(chunk.counts.shape[0]),
                blob=put(np.frombuffer(chunk.blob, dtype=np.uint8)),
                offsets=put(chunk.offsets),
                first_half=put(chunk.hashes[:, 0]),
                second_half=put(chunk.hashes[:, 1]),
                counts=put(chunk.counts),
                docs=put(chunk.docs),
                tf=put(chunk.tf),
            )
        )
        self._lens.append(chunk.doc_len.astype(np.float32))
        self._n_docs += chunk.n_docs

    # -- finish -----------------------------------------------------------------------------------
    def finish(self) -> Postings:
        outputs: list[_Output] = []
        try:
            return self._finish(outputs)
        finally:
            for out in outputs:
                out.abort()
            self.close()

    def _union(
        self, pairs: bool
    ) -> tuple[NDArray[np.uint64], NDArray[np.uint64] | None, NDArray[np.int64]]:
        """Every distinct term once, sorted by hash: ``(first halves, second halves or None,
        where each term first occurs (chunk << 32 | position in it))``.

        Terms are told apart by the first half of their hash alone unless ``pairs`` (after
        :class:`_SharedFirstHalf`: two terms share one, which 64 bits make a once-in-billions
        event). Chunks' sorted lists are merged in batches, so memory stays near the size of the
        vocabulary rather than the sum of the chunks' vocabularies."""
        first = np.zeros(0, dtype=np.uint64)
        second: NDArray[np.uint64] | None = np.zeros(0, dtype=np.uint64) if pairs else None
        origin = np.zeros(0, dtype=np.int64)
        firsts: list[NDArray[np.uint64]] = []
        seconds: list[NDArray[np.uint64]] = []
        origins: list[NDArray[np.int64]] = []
        waiting = 0
        get = self._scratch.get
        for c, chunk in enumerate(self._chunks):
            firsts.append(get(chunk.first_half))
            if second is not None:
                seconds.append(get(chunk.second_half))
            origins.append((np.int64(c) << 32) | np.arange(chunk.n_terms, dtype=np.int64))
            waiting += chunk.n_terms
            if waiting >= max(_MERGE_MIN, first.shape[0]) or c == len(self._chunks) - 1:
                first, second, origin = _merge_sorted(
                    [first, *firsts],
                    None if second is None else [second, *seconds],
                    [origin, *origins],
                )
                firsts.clear()
                seconds.clear()
                origins.clear()
                waiting = 0
        return first, second, origin

    def _finish(self, outputs: list[_Output]) -> Postings:
        try:
            return self._finish_numbered(outputs, pairs=False)
        except _SharedFirstHalf:
            for out in outputs:
                out.abort()
                if out.path is not None:
                    out.path.unlink(missing_ok=True)
            outputs.clear()
            return self._finish_numbered(outputs, pairs=True)

    def _finish_numbered(self, outputs: list[_Output], *, pairs: bool) -> Postings:
        directory = self.directory
        started = time.perf_counter()
        doc_len = (
            np.concatenate(self._lens) if self._lens else np.zeros(0, dtype=np.float32)
        ).astype(np.float32)
        first, second, origin = self._union(pairs)
        n_terms = int(first.shape[0])
        first_chunk, first_local = origin >> 32, origin & 0xFFFFFFFF
        del origin

        # Global ids (positions in the union) of every chunk's terms, document frequencies,
        # and each term's bytes from the first chunk that has it.
        df = np.zeros(n_terms, dtype=np.int64)
        sizes = np.zeros(n_terms, dtype=np.int64)
        ids: list[NDArray[np.int32]] = []
        ends: list[NDArray[np.int64] | NDArray[np.int32]] = []
        by_chunk = np.argsort(first_chunk, kind="stable")
        chunk_bounds = np.searchsorted(first_chunk[by_chunk], np.arange(len(self._chunks) + 1))
        shared = second is not None and bool(n_terms > 1 and (first[1:] == first[:-1]).any())
        if second is None:
            second = np.zeros(n_terms, dtype=np.uint64)  # filled from each term's first chunk
            filling = True
        else:
            filling = False
        get = self._scratch.get
        for c, chunk in enumerate(self._chunks):
            h1, h2 = get(chunk.first_half), get(chunk.second_half)
            firsts = by_chunk[chunk_bounds[c] : chunk_bounds[c + 1]]
            if firsts.size:
                local = first_local[firsts]
                if filling:
                    second[firsts] = h2[local]
                offsets = get(chunk.offsets)
                sizes[firsts] = offsets[local + 1] - offsets[local]
            gid = _find(first, second, h1, h2, shared)
            counts = get(chunk.counts)
            df[gid] += counts
            end = np.zeros(chunk.n_terms + 1, dtype=np.int64)
            np.cumsum(counts, out=end[1:])
            ids.append(gid.astype(np.int32))
            ends.append(end.astype(np.int32) if end[-1] < 2**31 else end)
        del second
        vocab = self._vocab(first, sizes, first_local, by_chunk, chunk_bounds, outputs)
        del first, first_chunk, first_local, by_chunk
        log.debug("numbered %d terms in %.1fs", n_terms, time.perf_counter() - started)

        indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        nnz = int(indptr[-1])
        docs_out = _Output(directory, "docs", np.int32, nnz)
        outputs.append(docs_out)
        tf_out: _Output | None = None
        if self.keep_tf:
            tf_out = _Output(directory, "tf", np.uint16, nnz)
            outputs.append(tf_out)
        scores_out: _Output | None = None
        term_max = np.zeros(n_terms, dtype=np.float32)
        params = self.params
        if params is not None:
            scores_out = _Output(directory, "scores", np.float32, nnz)
            outputs.append(scores_out)
            idf = params.idf_values(doc_len.shape[0], df.astype(np.float64))
            avgdl = float(doc_len.mean()) if doc_len.shape[0] else 0.0

        started = time.perf_counter()

        def lay_out(t0: int, t1: int) -> tuple[NDArray[np.int32], NDArray[np.uint16], Any]:
            """One term range, laid out and scored (ranges are independent)."""
            docs, tf = self._lay_out(t0, t1, indptr, ids, ends)
            if params is None:
                return docs, tf, None
            counts = df[t0:t1]
            scores = np.empty(docs.shape[0], dtype=np.float32)
            _contributions(scores, np.repeat(idf[t0:t1], counts), tf, docs, doc_len, avgdl, params)
            nonempty = np.flatnonzero(counts)
            if nonempty.size:
                starts = indptr[t0:t1] - indptr[t0]
                term_max[t0 + nonempty] = np.maximum.reduceat(scores, starts[nonempty])
            return docs, tf, scores

        def write(result: tuple[NDArray[np.int32], NDArray[np.uint16], Any]) -> None:
            docs, tf, scores = result
            docs_out.append(docs)
            if tf_out is not None:
                tf_out.append(tf)
            if scores_out is not None:
                scores_out.append(scores)

        # Numpy lets go of the GIL for the heavy parts, and the workers are done: ranges are
        # laid out on every core, and written in order, a few in flight at most.
        threads = max(1, min(_LAYOUT_THREADS, os.cpu_count() or 1))
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="index-layout")
        try:
            pending: deque[Future[tuple[NDArray[np.int32], NDArray[np.uint16], Any]]] = deque()
            for t0, t1 in _term_ranges(indptr, _LAYOUT_SLICE):
                pending.append(pool.submit(lay_out, t0, t1))
                if len(pending) > threads:
                    write(pending.popleft().result())
            while pending:
                write(pending.popleft().result())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        ids.clear()
        ends.clear()
        log.debug("laid out %d postings in %.1fs", nnz, time.perf_counter() - started)

        postings = Postings(
            vocab=vocab,
            indptr=_write_whole(directory, "indptr", indptr),
            docs=docs_out.finish(),
            tf=tf_out.finish() if tf_out is not None else NoTermFrequencies(nnz),
            doc_len=_write_whole(directory, "doc_len", doc_len),
        )
        if scores_out is not None:
            assert params is not None
            postings.built = BuiltScores(params, scores_out.finish(), term_max)
        return postings

    def _vocab(
        self,
        hashes: NDArray[np.uint64],
        sizes: NDArray[np.int64],
        first_local: NDArray[np.int64],
        by_chunk: NDArray[np.int64],
        chunk_bounds: NDArray[np.int64],
        outputs: list[_Output],
    ) -> FlatVocab:
        """The flat vocabulary: term ids are hash order, so ``hashes`` is sorted as it is and
        ``ids`` is the identity. Each term's bytes are copied from the first chunk having it."""
        n_terms = int(hashes.shape[0])
        offsets = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        blob = np.empty(int(offsets[-1]), dtype=np.uint8)
        for c, chunk in enumerate(self._chunks):
            firsts = by_chunk[chunk_bounds[c] : chunk_bounds[c + 1]]
            if not firsts.size:
                continue
            local_offsets = self._scratch.get(chunk.offsets)
            local_blob = self._scratch.get(chunk.blob)
            local = first_local[firsts]
            _copy_runs(local_blob, local_offsets[local], blob, offsets[firsts], sizes[firsts])
        directory = self.directory
        return FlatVocab(
            blob=_write_whole(directory, "vocab-blob", blob),
            offsets=_write_whole(directory, "vocab-offsets", offsets),
            hashes=_write_whole(directory, "vocab-hashes", hashes),
            ids=_write_whole(directory, "vocab-ids", np.arange(n_terms, dtype=np.int64)),
        )

    def _lay_out(
        self,
        t0: int,
        t1: int,
        indptr: NDArray[np.int64],
        ids: list[NDArray[np.int32]],
        ends: list[NDArray[np.int64] | NDArray[np.int32]],
    ) -> tuple[NDArray[np.int32], NDArray[np.uint16]]:
        """Documents and tfs of terms ``t0 .. t1 - 1``, term-major: each chunk's postings of
        those terms are one contiguous run of its scratch data, scattered to their places
        (chunks in order, so documents stay ascending within a term)."""
        base = int(indptr[t0])
        size = int(indptr[t1]) - base
        docs = np.empty(size, dtype=np.int32)
        tf = np.empty(size, dtype=np.uint16)
        fill = indptr[t0:t1] - base
        bounds = np.array([t0, t1], dtype=np.int32)
        for chunk, gid, end in zip(self._chunks, ids, ends, strict=True):
            i0, i1 = gid.searchsorted(bounds)  # same dtype: no conversion of ``gid``
            if i0 == i1:
                continue
            a, b = int(end[i0]), int(end[i1])
            terms = gid[i0:i1].astype(np.int64) - t0
            run = end[i0 : i1 + 1].astype(np.int64)
            counts = np.diff(run)
            pos = np.repeat(fill[terms] - (run[:-1] - a), counts) + np.arange(b - a)
            docs[pos] = self._scratch.get(chunk.docs, a, b).astype(np.int32) + chunk.doc_start
            tf[pos] = self._scratch.get(chunk.tf, a, b)
            fill[terms] += counts
        return docs, tf


class _SharedFirstHalf(Exception):
    """Two terms of the corpus have hashes with the same first half: number terms by both."""


def _merge_sorted(
    first: list[NDArray[np.uint64]],
    second: list[NDArray[np.uint64]] | None,
    origins: list[NDArray[np.int64]],
) -> tuple[NDArray[np.uint64], NDArray[np.uint64] | None, NDArray[np.int64]]:
    """The distinct hashes of several lists sorted by hash (by first half, or by both halves
    when ``second`` is given), each kept with its earliest origin (lists are in chunk order)."""
    merged = np.concatenate(first)
    origin = np.concatenate(origins)
    if second is None:
        order = np.argsort(merged, kind="stable")  # merges the sorted runs
        merged = merged[order]
        keep = np.ones(merged.shape[0], dtype=bool)
        np.not_equal(merged[1:], merged[:-1], out=keep[1:])
        return merged[keep], None, origin[order[keep]]
    halves = np.concatenate(second)
    order = np.lexsort((halves, merged))  # stable: the earliest occurrence comes first
    merged, halves = merged[order], halves[order]
    keep = np.ones(merged.shape[0], dtype=bool)
    keep[1:] = (merged[1:] != merged[:-1]) | (halves[1:] != halves[:-1])
    return merged[keep], halves[keep], origin[order[keep]]


def _find(
    first: NDArray[np.uint64],
    second: NDArray[np.uint64],
    h1: NDArray[np.uint64],
    h2: NDArray[np.uint64],
    shared: bool,
) -> NDArray[np.int64]:
    """Positions in the vocabulary (``first``, ``second``: its hashes' halves) of a chunk's
    terms (``h1``, ``h2``). ``shared``: some first halves occur twice in ``first``, then the
    second half decides. Raises :class:`_SharedFirstHalf` when a term is not there (the
    vocabulary was told apart by first halves only, and two terms share one)."""
    pos = np.searchsorted(first, h1).astype(np.int64)
    if shared:
        for i in np.flatnonzero(second[pos] != h2).tolist():
            p = int(pos[i])
            while p < first.shape[0] and first[p] == h1[i] and second[p] != h2[i]:
                p += 1
            pos[i] = p
    if pos.size and (
        int(pos.max()) >= first.shape[0]
        or not (np.array_equal(first[pos], h1) and np.array_equal(second[pos], h2))
    ):
        raise _SharedFirstHalf
    return pos


def _copy_runs(
    src: NDArray[np.uint8],
    src_starts: NDArray[np.int64],
    dst: NDArray[np.uint8],
    dst_starts: NDArray[np.int64],
    sizes: NDArray[np.int64],
) -> None:
    """``dst[dst_starts[i]:+sizes[i]] = src[src_starts[i]:+sizes[i]]`` for every i, at once."""
    total = int(sizes.sum())
    if not total:
        return
    before = np.cumsum(sizes) - sizes
    step = np.arange(total, dtype=np.int64)
    dst[np.repeat(dst_starts - before, sizes) + step] = src[
        np.repeat(src_starts - before, sizes) + step
    ]


def _term_ranges(indptr: NDArray[np.int64], postings: int) -> Iterator[tuple[int, int]]:
    """Consecutive term ranges of about ``postings`` postings each (one term may exceed it)."""
    n_terms = int(indptr.shape[0]) - 1
    t0 = 0
    while t0 < n_terms:
        t1 = int(np.searchsorted(indptr, int(indptr[t0]) + postings, side="right")) - 1
        t1 = min(max(t1, t0 + 1), n_terms)
        yield t0, t1
        t0 = t1
