"""Search a corpus three ways: the reranker alone, the embedder alone, or both in two stages.

    query ──► embedder ──► query vector ──► index matrix @ vector ──► top-N ──► reranker ──► top-K
                                              ▲
    corpus ──► embedder ──► index (embeddings.npy + meta.json), built once, offline

* ``rerank_search``: the cross-encoder scores every passage; top-K. Best quality, cost grows with
  the corpus (one transformer forward per passage per query).
* ``embedding_search``: cosine similarity between the query vector and the index; top-K. One forward
  per query; the corpus is embedded once, ahead of time (``build_index``), and reused.
* ``two_stage_search``: embedding top-N (default 32), reranked by the cross-encoder; top-K (default 5).
  Each hit also carries its first-stage (embedding) rank and score.

Every search returns a ``SearchResult`` with its hits and its timings in seconds (``time.perf_counter``):
``query_embedding``, ``similarity`` (matrix-vector product + top-N/K selection), ``reranking`` and
``total``; a part that a mode does not run is absent. Building the index is timed apart
(``EmbeddingIndex.build_seconds``), since it happens once per corpus, not per query.

Vectors are unit length, so the dot product is the cosine similarity, and ranking by it gives the same
order as ranking by squared Euclidean distance (|a - b|^2 = 2 - 2 a.b). The index matrix may be a
read-only memory map; a search reads it through one matrix-vector product and never copies it. Top-K
selection uses ``np.argpartition`` (linear time) and sorts only the k selected. Ties are broken by the
lower corpus index (in two-stage, by the better first-stage rank), so results are repeatable.

Letters: n passages in the corpus, d embedding dimension, N first-stage pool, K results.
The scorer objects are duck-typed: an embedder needs ``name`` and ``encode(texts, batch_size=,
normalize=, progress=)``; a reranker needs ``name`` and ``predict(pairs, batch_size=, progress=)``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

INDEX_FORMAT = "minilm-np-index"
INDEX_VERSION = 1
EMBEDDINGS_FILE = "embeddings.npy"
META_FILE = "meta.json"
DEFAULT_TOP_N = 32
DEFAULT_TOP_K = 5

Progress = Callable[[int], None] | None


class IndexFormatError(ValueError):
    """An index directory is unreadable: a missing or malformed meta.json, or a matrix that disagrees
    with it."""


class IndexMismatchError(ValueError):
    """An index was built with a different embedder than the one asked to search it."""


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hit:
    index: int  # position of the passage in the corpus / index
    id: str
    text: str
    score: float  # the final score: cosine similarity (embed) or reranker logit (rerank, two-stage)
    first_stage_rank: int | None = None  # two-stage only: 1-based rank in the embedding top-N
    first_stage_score: float | None = None  # two-stage only: the cosine similarity

    def to_dict(self) -> dict:
        d = {"id": self.id, "text": self.text, "score": self.score, "index": self.index}
        if self.first_stage_rank is not None:
            d["first_stage_rank"] = self.first_stage_rank
            d["first_stage_score"] = self.first_stage_score
        return d


@dataclass(frozen=True)
class SearchResult:
    query: str
    mode: str  # "rerank" | "embed" | "two-stage"
    hits: list[Hit]
    timings: dict[str, float]  # seconds: query_embedding, similarity, reranking (as run), total

    def to_dict(self) -> dict:
        return {"query": self.query, "mode": self.mode, "results": [h.to_dict() for h in self.hits],
                "timings": dict(self.timings)}


# --------------------------------------------------------------------------------------------------
# The embedding index
# --------------------------------------------------------------------------------------------------

@dataclass
class EmbeddingIndex:
    """Unit-length passage embeddings with their ids and texts, tagged with the embedder's name."""

    embeddings: np.ndarray  # float32 [n, d], unit rows; possibly a read-only np.memmap
    ids: list[str]
    texts: list[str]
    embedder: str  # the name of the embedder that made the vectors (Embedder.name)
    build_seconds: float | None = field(default=None, compare=False)  # None when loaded from disk

    def __post_init__(self):
        e = self.embeddings
        if e.ndim != 2 or e.dtype != np.float32:
            raise IndexFormatError(f"embeddings must be float32 [n, d], got {e.dtype} {e.shape}")
        if not (len(self.ids) == len(self.texts) == e.shape[0]):
            raise IndexFormatError(f"index has {e.shape[0]} vectors, {len(self.ids)} ids and "
                                   f"{len(self.texts)} texts")

    def __len__(self) -> int:
        return self.embeddings.shape[0]

    @property
    def dim(self) -> int:
        return self.embeddings.shape[1]

    def save(self, directory: str | Path) -> Path:
        """Write ``embeddings.npy`` and ``meta.json`` into ``directory`` (created if needed)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / EMBEDDINGS_FILE, np.ascontiguousarray(self.embeddings, dtype=np.float32))
        meta = {"format": INDEX_FORMAT, "version": INDEX_VERSION, "embedder": self.embedder,
                "dim": self.dim, "count": len(self), "normalized": True, "ids": self.ids, "texts": self.texts}
        (directory / META_FILE).write_text(json.dumps(meta, ensure_ascii=False) + "\n", encoding="utf-8")
        return directory


def build_index(embedder, corpus, *, batch_size: int = 32, progress: Progress = None) -> EmbeddingIndex:
    """Embed every passage of ``corpus`` (anything with ``ids`` and ``texts``) into an index."""
    _check_corpus(corpus)
    start = time.perf_counter()
    vectors = embedder.encode(list(corpus.texts), batch_size=batch_size, normalize=True, progress=progress)
    seconds = time.perf_counter() - start
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # [n, d]
    return EmbeddingIndex(vectors, list(corpus.ids), list(corpus.texts), embedder.name, seconds)


def load_index(directory: str | Path, *, embedder: str | None = None, mmap: bool = True) -> EmbeddingIndex:
    """Read an index written by ``EmbeddingIndex.save``; the matrix is memory-mapped read-only.

    ``embedder``: the name of the embedder the caller will search with; an index made by another one is
    an ``IndexMismatchError`` naming both. Missing files are ``FileNotFoundError``.
    """
    directory = Path(directory)
    meta_file, matrix_file = directory / META_FILE, directory / EMBEDDINGS_FILE
    if not directory.is_dir():
        raise FileNotFoundError(f"index directory not found: {directory}")
    for f in (meta_file, matrix_file):
        if not f.is_file():
            raise FileNotFoundError(f"{directory} is not an index: {f.name} is missing "
                                    f"(build one with `minilm-np index build`)")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise IndexFormatError(f"{meta_file}: not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != INDEX_FORMAT:
        raise IndexFormatError(f"{meta_file}: not a minilm-np index (format {INDEX_FORMAT!r} expected)")
    if meta.get("version") != INDEX_VERSION:
        raise IndexFormatError(f"{meta_file}: index version {meta.get('version')!r} is not supported "
                               f"(this minilm-np reads version {INDEX_VERSION})")
    for key, kind in (("embedder", str), ("dim", int), ("count", int), ("ids", list), ("texts", list)):
        if not isinstance(meta.get(key), kind):
            raise IndexFormatError(f"{meta_file}: field {key!r} missing or not a {kind.__name__}")
    if meta.get("normalized") is not True:
        raise IndexFormatError(f"{meta_file}: vectors are not marked normalized; rebuild the index")
    if embedder is not None and embedder != meta["embedder"]:
        raise IndexMismatchError(f"index {directory} was built with embedder {meta['embedder']!r}, "
                                 f"but embedder {embedder!r} was asked for; rebuild the index or use "
                                 f"--embedder {meta['embedder']}")
    try:
        matrix = np.load(matrix_file, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as e:
        raise IndexFormatError(f"{matrix_file}: cannot be read as a .npy array ({e})") from None
    if matrix.dtype != np.float32 or matrix.shape != (meta["count"], meta["dim"]):
        raise IndexFormatError(f"{matrix_file}: holds {matrix.dtype} {matrix.shape}, meta.json says "
                               f"float32 ({meta['count']}, {meta['dim']})")
    return EmbeddingIndex(matrix, [str(i) for i in meta["ids"]], meta["texts"], meta["embedder"])


# --------------------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------------------

def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest ``scores``, best first; ties go to the lower index.

    Linear-time selection with ``np.argpartition``; only the k selected are sorted.  [n] -> [min(k, n)]
    """
    scores = np.asarray(scores)
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {scores.shape}")
    _check_positive(k, "k")
    n = scores.shape[0]
    k = min(k, n)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    # the k-th largest value; argpartition puts it at position n - k
    threshold = scores[np.argpartition(scores, n - k)[n - k]]
    above = np.flatnonzero(scores > threshold)  # strictly better: all of them are in
    tied = np.flatnonzero(scores == threshold)[: k - above.size]  # ascending index: lower index wins
    chosen = np.concatenate([above, tied])  # [k]
    return chosen[np.lexsort((chosen, -scores[chosen]))]  # by score desc, then index asc


def cosine_scores(matrix: np.ndarray, query_vector: np.ndarray) -> np.ndarray:
    """``matrix @ query_vector`` for unit rows and a unit query: cosine similarities.  [n, d], [d] -> [n]

    The query is cast to the matrix's dtype first, so NumPy multiplies the (possibly memory-mapped)
    matrix in place instead of promoting a copy of it.
    """
    q = np.asarray(query_vector, dtype=matrix.dtype).reshape(-1)  # [d]
    if q.shape[0] != matrix.shape[1]:
        raise ValueError(f"query vector has dimension {q.shape[0]}, the index {matrix.shape[1]}")
    return matrix @ q  # [n]


# --------------------------------------------------------------------------------------------------
# The three searches
# --------------------------------------------------------------------------------------------------

def embedding_search(embedder, index: EmbeddingIndex, query: str, *, top_k: int = DEFAULT_TOP_K) -> SearchResult:
    """Top-K passages of ``index`` by cosine similarity to the embedded ``query``."""
    _check_query(query)
    _check_positive(top_k, "top_k")
    scores, top, timings = _first_stage(embedder, index, query, top_k)
    hits = [Hit(int(i), index.ids[i], index.texts[i], float(scores[i])) for i in top]
    return SearchResult(query, "embed", hits, {**timings, "total": sum(timings.values())})


def _first_stage(embedder, index: EmbeddingIndex, query: str, k: int):
    """Embed the query, score the whole index, keep the best k: (scores [n], top [k], timings)."""
    _check_same_embedder(embedder, index)
    t0 = time.perf_counter()
    q = embedder.encode([query], normalize=True)[0]  # [d]
    t1 = time.perf_counter()
    scores = cosine_scores(index.embeddings, q)  # [n]
    top = top_k_indices(scores, k)  # [k] corpus indices, best first
    t2 = time.perf_counter()
    return scores, top, {"query_embedding": t1 - t0, "similarity": t2 - t1}


def rerank_search(reranker, corpus, query: str, *, top_k: int = DEFAULT_TOP_K, batch_size: int = 32,
                  progress: Progress = None) -> SearchResult:
    """Score every passage of ``corpus`` (anything with ``ids`` and ``texts``, e.g. a ``Corpus`` or an
    ``EmbeddingIndex``) against ``query`` with the cross-encoder; top-K by its raw score."""
    _check_query(query)
    _check_positive(top_k, "top_k")
    _check_corpus(corpus)
    t0 = time.perf_counter()
    scores = _predict(reranker, query, corpus.texts, batch_size, progress)  # [n]
    top = top_k_indices(scores, top_k)  # [K]
    t1 = time.perf_counter()
    hits = [Hit(int(i), corpus.ids[i], corpus.texts[i], float(scores[i])) for i in top]
    return SearchResult(query, "rerank", hits, {"reranking": t1 - t0, "total": t1 - t0})


def two_stage_search(embedder, reranker, index: EmbeddingIndex, query: str, *, top_n: int = DEFAULT_TOP_N,
                     top_k: int = DEFAULT_TOP_K, batch_size: int = 32, progress: Progress = None) -> SearchResult:
    """Embedding top-N, reranked by the cross-encoder; top-K. Hits carry their first-stage rank/score."""
    _check_query(query)
    _check_positive(top_n, "top_n")
    _check_positive(top_k, "top_k")
    cosine, pool, timings = _first_stage(embedder, index, query, top_n)  # pool: [N] corpus indices
    t0 = time.perf_counter()
    scores = _predict(reranker, query, [index.texts[i] for i in pool], batch_size, progress)  # [N]
    order = top_k_indices(scores, top_k)  # [K] positions in the pool; ties -> better first-stage rank
    timings["reranking"] = time.perf_counter() - t0
    hits = [Hit(int(pool[j]), index.ids[pool[j]], index.texts[pool[j]], float(scores[j]),
                first_stage_rank=int(j) + 1, first_stage_score=float(cosine[pool[j]])) for j in order]
    return SearchResult(query, "two-stage", hits, {**timings, "total": sum(timings.values())})


# --------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------

def _predict(reranker, query: str, texts: Sequence[str], batch_size: int, progress: Progress) -> np.ndarray:
    scores = reranker.predict([(query, t) for t in texts], batch_size=batch_size, progress=progress)
    scores = np.asarray(scores, dtype=np.float32)
    if scores.shape != (len(texts),):
        raise ValueError(f"the reranker returned scores of shape {scores.shape} for {len(texts)} pairs; "
                         f"retrieval needs a one-label cross-encoder")
    return scores


def _check_same_embedder(embedder, index: EmbeddingIndex) -> None:
    if embedder.name != index.embedder:
        raise IndexMismatchError(f"the index was built with embedder {index.embedder!r}, but embedder "
                                 f"{embedder.name!r} was asked to search it")


def _check_query(query) -> None:
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, got {type(query).__name__}")
    if not query.strip():
        raise ValueError("query is empty")


def _check_corpus(corpus) -> None:
    if len(corpus.texts) == 0:
        raise ValueError("the corpus has no passages")


def _check_positive(k, name: str) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{name} must be a positive integer, got {k!r}")
