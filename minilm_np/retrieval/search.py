"""Search a corpus three ways: the reranker alone, the embedder alone, or both in two stages.

    query ──► embedder ──► query vector ──► index matrix @ vector ──► top-N ──► reranker ──► top-K
                                              ▲
    corpus ──► embedder ──► index (embeddings.npy, ids, texts, manifest.json), built once, offline

* ``rerank_search``: the cross-encoder scores every passage; top-K. Best quality, cost grows with
  the corpus (one transformer forward per passage per query).
* ``embedding_search``: cosine similarity between the query vector and the index; top-K. One forward
  per query; the corpus is embedded once, ahead of time (``build_index``), and reused. When the index
  carries an ANN index (ann.py) it proposes candidates, which are re-scored exactly against the stored
  vectors, so the scores are the flat scan's; ``exact=True`` scans every vector instead.
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
The scorers are taken by protocol (scorers.py), never imported: an embedder needs ``name`` and
``encode(texts, batch_size=, normalize=, progress=)``; a reranker needs ``name`` and
``predict(pairs, batch_size=, progress=)``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..validate import check_positive_int, check_query
from .corpus import as_passages
from .index import EmbeddingIndex, IndexMismatchError
from .scorers import (CorpusLike, PairScorer, Progress, TextEmbedder, check_corpus, check_is_embedder,
                      check_is_reranker)

DEFAULT_TOP_N = 32
DEFAULT_TOP_K = 5


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
# Selection
# --------------------------------------------------------------------------------------------------

def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest ``scores``, best first; ties go to the lower index.

    Linear-time selection with ``np.argpartition``; only the k selected are sorted.  [n] -> [min(k, n)]
    """
    scores = np.asarray(scores)
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {scores.shape}")
    check_positive_int(k, "k")
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
    if np.ndim(matrix) != 2:
        raise ValueError(f"the matrix must be [n, d], got shape {np.shape(matrix)}")
    q = np.asarray(query_vector, dtype=matrix.dtype).reshape(-1)  # [d]
    if q.shape[0] != matrix.shape[1]:
        raise ValueError(f"query vector has dimension {q.shape[0]}, the index {matrix.shape[1]}")
    return matrix @ q  # [n]


# --------------------------------------------------------------------------------------------------
# The three searches
# --------------------------------------------------------------------------------------------------

def embedding_search(embedder: TextEmbedder, index: EmbeddingIndex, query: str, *,
                     top_k: int = DEFAULT_TOP_K, exact: bool = False) -> SearchResult:
    """Top-K passages of ``index`` by cosine similarity to the embedded ``query`` (through the index's
    ANN candidates when it has one and not ``exact``)."""
    check_is_embedder(embedder)
    check_index(index)
    check_query(query)
    check_positive_int(top_k, "top_k")
    check_same_embedder(embedder, index)
    t0 = time.perf_counter()
    q = embedder.encode([query], normalize=True)[0]  # [d]
    t1 = time.perf_counter()
    top, scores = nearest(index, q, top_k, exact=exact)  # [K] corpus indices, best first; [K]
    t2 = time.perf_counter()
    hits = [Hit(int(i), index.ids[i], index.texts[i], float(s)) for i, s in zip(top, scores)]
    return SearchResult(query, "embed", hits, {"query_embedding": t1 - t0, "similarity": t2 - t1,
                                               "total": t2 - t0})


def nearest(index: EmbeddingIndex, query_vector: np.ndarray, k: int, *, exact: bool = False
            ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows most similar to ``query_vector`` and their cosine scores, best first.  [d] -> [K], [K]

    With an ANN index (and not ``exact``): its candidates [C], in ascending row order, re-scored by the
    same product as the flat scan, so scores and the tie rule (lower row first) are the flat scan's;
    a row the ANN did not propose is missed (recall), never mis-scored. Should it propose fewer than k
    rows (an IVF index whose probed cells are nearly empty), every row is scanned.
    """
    rows = None if index.ann is None or exact else index.ann.candidates(query_vector, k)  # [C] ascending
    if rows is None or rows.shape[0] < min(k, len(index)):
        scores = cosine_scores(index.embeddings, query_vector)  # [n]
        top = top_k_indices(scores, k)  # [K]
        return top, scores[top]
    scores = cosine_scores(index.embeddings[rows], query_vector)  # [C], read from the map
    top = top_k_indices(scores, k)  # [K] positions in rows
    return rows[top], scores[top]


def rerank_search(reranker: PairScorer, corpus: CorpusLike, query: str, *, top_k: int = DEFAULT_TOP_K,
                  batch_size: int = 32, progress: Progress = None) -> SearchResult:
    """Score every passage of ``corpus`` (anything with ``ids`` and ``texts``, e.g. a ``Corpus`` or an
    ``EmbeddingIndex``, or a plain list of str or of (id, text) pairs: see ``corpus.as_passages``) against
    ``query`` with the cross-encoder; top-K by its raw score."""
    check_is_reranker(reranker)
    check_query(query)
    check_positive_int(top_k, "top_k")
    corpus = as_passages(corpus)
    check_corpus(corpus)
    t0 = time.perf_counter()
    scores = _predict(reranker, query, corpus.texts, batch_size, progress)  # [n]
    top = top_k_indices(scores, top_k)  # [K]
    t1 = time.perf_counter()
    hits = [Hit(int(i), corpus.ids[i], corpus.texts[i], float(scores[i])) for i in top]
    return SearchResult(query, "rerank", hits, {"reranking": t1 - t0, "total": t1 - t0})


def two_stage_search(embedder: TextEmbedder, reranker: PairScorer, index: EmbeddingIndex, query: str, *,
                     top_n: int = DEFAULT_TOP_N, top_k: int = DEFAULT_TOP_K, batch_size: int = 32,
                     progress: Progress = None, exact: bool = False) -> SearchResult:
    """Embedding top-N, reranked by the cross-encoder; top-K. Hits carry their first-stage rank/score.

    ``top_k`` larger than ``top_n`` is a ``ValueError``: the second stage can return only what the first
    handed it. ``exact`` as in ``embedding_search``."""
    check_is_reranker(reranker)  # before the first stage's work
    check_pool(top_n, top_k)
    first = embedding_search(embedder, index, query, top_k=top_n, exact=exact)
    return rerank_hits(reranker, first, top_k=top_k, batch_size=batch_size, progress=progress)


def rerank_hits(reranker: PairScorer, first: SearchResult, *, top_k: int, batch_size: int = 32,
                progress: Progress = None) -> SearchResult:
    """Two-stage's second stage: the cross-encoder orders ``first``'s hits (a first-stage result); top-K.
    Ties go to the better first-stage rank. Timings: the first stage's parts plus ``reranking``."""
    check_is_reranker(reranker)
    t0 = time.perf_counter()
    scores = _predict(reranker, first.query, [h.text for h in first.hits], batch_size, progress)  # [N]
    order = top_k_indices(scores, top_k) if first.hits else []  # [K] positions in the first-stage list
    timings = {part: s for part, s in first.timings.items() if part != "total"}
    timings["reranking"] = time.perf_counter() - t0
    hits = [Hit(h.index, h.id, h.text, float(scores[j]), first_stage_rank=int(j) + 1, first_stage_score=h.score)
            for j, h in ((int(j), first.hits[j]) for j in order)]
    return SearchResult(first.query, "two-stage", hits, {**timings, "total": sum(timings.values())})


# --------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------

def _predict(reranker: PairScorer, query: str, texts: Sequence[str], batch_size: int, progress: Progress) -> np.ndarray:
    scores = reranker.predict([(query, t) for t in texts], batch_size=batch_size, progress=progress)
    scores = np.asarray(scores, dtype=np.float32)
    if scores.shape != (len(texts),):
        raise ValueError(f"the reranker returned scores of shape {scores.shape} for {len(texts)} pairs; "
                         f"retrieval needs a one-label cross-encoder")
    return scores


def check_pool(top_n: int, top_k: int, names: tuple[str, str] = ("top_n", "top_k")) -> None:
    """Two-stage's sizes: both positive, and no more results (top_k) than reranked candidates (top_n).
    ``names``: how the caller calls them (the CLI: "--top-n", "--top-k")."""
    check_positive_int(top_n, names[0])
    check_positive_int(top_k, names[1])
    if top_k > top_n:
        raise ValueError(f"{names[1]} ({top_k}) is larger than {names[0]} ({top_n}): two-stage reranks the "
                         f"embedding top-{top_n} and can return at most {top_n} passages; raise {names[0]} "
                         f"or lower {names[1]}")


def check_index(index: EmbeddingIndex) -> None:
    if not isinstance(index, EmbeddingIndex):
        raise TypeError(f"the index must be an EmbeddingIndex (build_index, load_index), got {type(index).__name__}")


def check_same_embedder(embedder: TextEmbedder, index: EmbeddingIndex) -> None:
    if embedder.name != index.embedder:
        raise IndexMismatchError(f"the index was built with embedder {index.embedder!r}, but embedder "
                                 f"{embedder.name!r} was asked to search it")
