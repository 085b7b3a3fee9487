"""The three search methods on one query, side by side: each one's hits and timings, and how much their
top-K lists overlap (what ``minilm-np compare`` prints)."""

from __future__ import annotations

from dataclasses import dataclass

from .index import EmbeddingIndex
from .scorers import PairScorer, Progress, TextEmbedder
from .search import DEFAULT_TOP_K, DEFAULT_TOP_N, SearchResult, embedding_search, rerank_search, two_stage_search

PAIRS_COMPARED = (("rerank", "embed"), ("rerank", "two-stage"), ("embed", "two-stage"))


@dataclass(frozen=True)
class Comparison:
    results: dict[str, SearchResult]  # "rerank", "embed", "two-stage", in that order
    overlap: dict[str, int]  # "rerank & embed" -> how many ids their top-K lists share

    def to_dict(self) -> dict:
        return {"overlap": dict(self.overlap), "methods": {m: r.to_dict() for m, r in self.results.items()}}


def compare_methods(embedder: TextEmbedder, reranker: PairScorer, index: EmbeddingIndex, query: str, *,
                    top_n: int = DEFAULT_TOP_N, top_k: int = DEFAULT_TOP_K, batch_size: int = 32,
                    progress: Progress = None) -> Comparison:
    """Rerank every passage, embed, and two-stage on one query. ``progress`` follows the slow one (rerank)."""
    results = {
        "rerank": rerank_search(reranker, index, query, top_k=top_k, batch_size=batch_size, progress=progress),
        "embed": embedding_search(embedder, index, query, top_k=top_k),
        "two-stage": two_stage_search(embedder, reranker, index, query, top_n=top_n, top_k=top_k,
                                      batch_size=batch_size),
    }
    ids = {m: {h.id for h in r.hits} for m, r in results.items()}
    return Comparison(results, {f"{a} & {b}": len(ids[a] & ids[b]) for a, b in PAIRS_COMPARED})
