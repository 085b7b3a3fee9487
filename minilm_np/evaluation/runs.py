"""The evaluation protocol: which collection, which queries, and what each search method returns for a
query (a ranking of ids and the seconds it took), ready for ``metrics.evaluate_search``.

Methods:
* ``embed``: the embedding ranking of the whole index, to the depth the metrics need.
* ``two-stage`` (pool N) and ``rerank`` (pool P, or every passage): the reranker orders the embedding
  top-N (or P), and the rest of the embedding ranking follows it down to the depth the metrics need, so
  Recall@100 of a 32-passage pool still counts the embedding's ranks 33..100. Each query is embedded once;
  what is timed is the query's embedding, the similarity and the reranking.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..retrieval.corpus import Corpus, read_corpus
from ..retrieval.index import EmbeddingIndex
from ..retrieval.scorers import PairScorer, TextEmbedder
from ..retrieval.search import SearchResult, embedding_search, rerank_hits, rerank_search
from .datasets.cranfield import load_cranfield
from .datasets.trec import read_qrels, read_queries

METHODS = ("embed", "two-stage", "rerank")
Run = Callable[[str], tuple[list[str], float]]  # query text -> (ranking of ids, seconds)


@dataclass(frozen=True)
class EvalSet:
    corpus: Corpus
    queries: list[tuple[str, str]]  # (query id, text), only those with judgements
    qrels: dict[str, dict[str, float]]  # query id -> doc id -> gain
    description: str  # how the collection was read, to print beside any figure


def cranfield_set(directory: str | Path) -> EvalSet:
    c = load_cranfield(directory)
    description = (f"Cranfield ({directory}): {len(c.corpus)} passages = the .W abstracts (documents "
                   f"{', '.join(c.empty_documents) or 'none'} have none and are left out), "
                   f"{len(c.queries)} queries numbered by position in cran.qry, "
                   f"{sum(len(v) for v in c.qrels.values())} judgements with gain = 5 - grade; "
                   f"{c.dropped_judgements} judgements of grade -1 dropped")
    return _judged(c.corpus, c.queries, c.qrels, description)


def files_set(corpus: str | Path, queries: str | Path, qrels: str | Path, *, passages: str = "sentences") -> EvalSet:
    """A corpus file, a queries file and a qrels file (see ``retrieval.corpus`` and ``datasets.trec``)."""
    found = read_corpus(corpus, split=passages)
    description = f"{corpus}: {len(found)} passages; queries {queries}; judgements {qrels}"
    return _judged(found, read_queries(queries), read_qrels(qrels), description)


def _judged(corpus: Corpus, queries, qrels, description: str) -> EvalSet:
    judged = [(q, t) for q, t in queries if q in qrels]
    if len(judged) < len(queries):
        description += f"; {len(queries) - len(judged)} queries without judgements skipped"
    if not judged:
        raise ValueError("no query has judgements (do the query ids match the first column of the qrels?)")
    return EvalSet(corpus, judged, qrels, description)


def method_runs(methods: Sequence[str], *, embedder: TextEmbedder, reranker: PairScorer | None,
                index: EmbeddingIndex, depth: int, top_n: int, rerank_pool: int,
                batch_size: int = 32) -> dict[str, Run]:
    """label -> run for each method asked for. ``depth``: how many ids a ranking needs (max of the
    metrics' cut-offs); ``rerank_pool`` 0 means every passage."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods must be a non-empty list of {', '.join(METHODS)}; got {list(methods)}")
    if reranker is None and any(m != "embed" for m in methods):
        raise ValueError("the two-stage and rerank methods need a reranker")
    pool = len(index) if rerank_pool == 0 else rerank_pool
    runs: dict[str, Run] = {}
    for m in methods:
        if m == "embed":
            runs["embed"] = embed_run(embedder, index, depth)
        elif m == "two-stage":
            runs[f"two-stage (top-{top_n})"] = pooled_run(embedder, reranker, index, top_n, depth, batch_size)
        elif pool >= len(index):
            runs["rerank (all passages)"] = rerank_all_run(reranker, index, depth, batch_size)
        else:
            runs[f"rerank (embed top-{pool} pool)"] = pooled_run(embedder, reranker, index, pool, depth, batch_size)
    return runs


def embed_run(embedder: TextEmbedder, index: EmbeddingIndex, depth: int) -> Run:
    def run(query: str):
        r = embedding_search(embedder, index, query, top_k=depth)
        return _ids(r), r.timings["total"]
    return run


def pooled_run(embedder: TextEmbedder, reranker: PairScorer, index: EmbeddingIndex, pool: int, depth: int,
               batch_size: int) -> Run:
    """The reranked embedding top-``pool``, then the rest of the embedding ranking down to ``depth``."""
    def run(query: str):
        first = embedding_search(embedder, index, query, top_k=max(pool, depth))
        head = SearchResult(query, first.mode, first.hits[:pool], first.timings)
        reranked = rerank_hits(reranker, head, top_k=pool, batch_size=batch_size)
        return _ids(reranked) + [h.id for h in first.hits[pool:]], reranked.timings["total"]
    return run


def rerank_all_run(reranker: PairScorer, index: EmbeddingIndex, depth: int, batch_size: int) -> Run:
    def run(query: str):
        r = rerank_search(reranker, index, query, top_k=depth, batch_size=batch_size)
        return _ids(r), r.timings["total"]
    return run


def _ids(result: SearchResult) -> list[str]:
    return [h.id for h in result.hits]
