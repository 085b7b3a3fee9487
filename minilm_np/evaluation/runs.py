"""The evaluation protocol: which collection, which queries, and what each search method returns for a
query (a ranking of ids with their scores, and the seconds it took), scored by ``metrics`` and written as
a TREC run by ``datasets.trec.write_run``.

Methods:
* ``embed``: the embedding ranking of the whole index, to the depth the metrics need.
* ``two-stage`` (pool N) and ``rerank`` (pool P, or every passage): the reranker orders the embedding
  top-N (or P), and the rest of the embedding ranking follows it down to the depth the metrics need, so
  Recall@100 of a 32-passage pool still counts the embedding's ranks 33..100. Each query is embedded once;
  what is timed is the query's embedding, the similarity and the reranking. Scores are the reranker's
  in the pool; below it, where the embedding ranking continues, they go down by 1 a rank from the pool's
  last score, so that tools which order a run by score keep this order.

An index saved earlier can stand in for embedding the corpus (``check_index_corpus`` makes sure it holds
the collection's passages).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..retrieval.corpus import Corpus, read_corpus
from ..retrieval.index import EmbeddingIndex, IndexMismatchError, corpus_digest
from ..retrieval.scorers import PairScorer, TextEmbedder
from ..retrieval.search import SearchResult, embedding_search, rerank_hits, rerank_search
from .datasets.beir import DEFAULT_SPLIT, load_beir
from .datasets.cranfield import load_cranfield
from .datasets.trec import Ranking, read_qrels, read_queries
from .metrics import evaluate_search

METHODS = ("embed", "two-stage", "rerank")
Run = Callable[[str], tuple[Ranking, float]]  # query text -> (ranking of ids with scores, seconds)


@dataclass(frozen=True)
class EvalSet:
    corpus: Corpus
    queries: list[tuple[str, str]]  # (query id, text), only those with judgements
    qrels: dict[str, dict[str, float]]  # query id -> doc id -> gain
    description: str  # how the collection was read, to print beside any figure
    ignore_identical_ids: bool = False  # drop a passage whose id is the query's from its ranking (BEIR's rule)


def cranfield_set(directory: str | Path) -> EvalSet:
    c = load_cranfield(directory)
    description = (f"Cranfield ({directory}): {len(c.corpus)} passages = the .W abstracts (documents "
                   f"{', '.join(c.empty_documents) or 'none'} have none and are left out), "
                   f"{len(c.queries)} queries numbered by position in cran.qry, "
                   f"{sum(len(v) for v in c.qrels.values())} judgements with gain = 5 - grade; "
                   f"{c.dropped_judgements} judgements of grade -1 dropped")
    return _judged(c.corpus, c.queries, c.qrels, description)


def beir_set(directory: str | Path, split: str = DEFAULT_SPLIT) -> EvalSet:
    """A BEIR collection folder (see ``datasets.beir``), judged by ``qrels/<split>.tsv``."""
    b = load_beir(directory, split)
    description = (f"BEIR {directory}, split {split}: {_count(len(b.corpus), 'passage')} = title + \" \" + text "
                   f"(joined as BEIR's SentenceBERT does), {_count(len(b.queries), 'query', 'queries')}, "
                   f"{_count(sum(len(v) for v in b.qrels.values()), 'judgement')} from qrels/{split}.tsv "
                   f"(score <= 0: not relevant; linear gains); a passage with the query's own id is left out "
                   f"of its ranking (BEIR's ignore_identical_ids)")
    return _judged(b.corpus, b.queries, b.qrels, description, ignore_identical_ids=True)


def files_set(corpus: str | Path, queries: str | Path, qrels: str | Path, *, passages: str = "sentences") -> EvalSet:
    """A corpus file, a queries file and a qrels file (see ``retrieval.corpus`` and ``datasets.trec``)."""
    found = read_corpus(corpus, split=passages)
    description = f"{corpus}: {len(found)} passages; queries {queries}; judgements {qrels}"
    return _judged(found, read_queries(queries), read_qrels(qrels), description)


def _judged(corpus: Corpus, queries, qrels, description: str, ignore_identical_ids: bool = False) -> EvalSet:
    judged = [(q, t) for q, t in queries if q in qrels]
    if len(judged) < len(queries):
        description += f"; {_count(len(queries) - len(judged), 'query', 'queries')} without judgements skipped"
    if not judged:
        raise ValueError("no query has judgements (do the query ids match the first column of the qrels?)")
    return EvalSet(corpus, judged, qrels, description, ignore_identical_ids)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def check_index_corpus(index: EmbeddingIndex, collection: EvalSet, where: str) -> None:
    """Refuse an index (loaded from ``where``) that was not built from the collection's passages, in order:
    its ``corpus_digest`` (or, for an index saved without one, the digest of its ids and texts) must be
    the collection's."""
    built_from = index.corpus_digest or corpus_digest(index.ids, index.texts)
    wanted = corpus_digest(collection.corpus.ids, collection.corpus.texts)
    if built_from != wanted:
        raise IndexMismatchError(
            f"index {where} was built from another corpus ({_count(len(index), 'passage')}, digest "
            f"{built_from[:12]}) than the one evaluated ({_count(len(collection.corpus), 'passage')}, digest "
            f"{wanted[:12]}); give another directory to build a new index there")


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
        return _ranking(r), r.timings["total"]
    return run


def pooled_run(embedder: TextEmbedder, reranker: PairScorer, index: EmbeddingIndex, pool: int, depth: int,
               batch_size: int) -> Run:
    """The reranked embedding top-``pool``, then the rest of the embedding ranking down to ``depth``
    (scored below the pool: its last score minus 1, 2, ...)."""
    def run(query: str):
        first = embedding_search(embedder, index, query, top_k=max(pool, depth))
        head = SearchResult(query, first.mode, first.hits[:pool], first.timings)
        reranked = rerank_hits(reranker, head, top_k=pool, batch_size=batch_size)
        ids, scores = [h.id for h in reranked.hits], [h.score for h in reranked.hits]
        tail = [h.id for h in first.hits[pool:]]
        below = [(scores[-1] if scores else 0.0) - r for r in range(1, len(tail) + 1)]
        return Ranking(ids + tail, scores + below), reranked.timings["total"]
    return run


def rerank_all_run(reranker: PairScorer, index: EmbeddingIndex, depth: int, batch_size: int) -> Run:
    def run(query: str):
        r = rerank_search(reranker, index, query, top_k=depth, batch_size=batch_size)
        return _ranking(r), r.timings["total"]
    return run


def evaluate_run(run: Run, queries: Sequence[tuple[str, str]], qrels: dict[str, dict[str, float]], *, k: int,
                 recall_at: int, progress: Callable[[int], None] | None = None,
                 ignore_identical_ids: bool = False) -> tuple[dict, dict[str, Ranking]]:
    """``metrics.evaluate_search`` of ``run`` over ``queries``, and each query's ranking (for a run file).
    ``ignore_identical_ids``: leave a passage with the query's own id out of that query's ranking, in the
    scores and in the rankings returned, as BEIR's ``EvaluateRetrieval.evaluate`` does by default (in
    ArguAna and Quora every query is also in the corpus, under the same id); the run should then fetch one
    passage more than the metrics need."""
    rankings: dict[str, Ranking] = {}

    def search(query_id: str, text: str):
        ranking, seconds = run(text)
        rankings[query_id] = _without(ranking, query_id) if ignore_identical_ids else ranking
        return rankings[query_id].ids, seconds

    scores = evaluate_search(search, queries, qrels, k=k, recall_at=recall_at, progress=progress)
    return scores, rankings


def run_files(path: str | Path, labels: Sequence[str]) -> dict[str, Path]:
    """Where each method's run goes: ``path`` itself for one method; for several, the method's name before
    the suffix (run.trec -> run.embed.trec, run.two-stage.trec, run.rerank.trec)."""
    path = Path(path)
    if len(labels) == 1:
        return {labels[0]: path}
    return {label: path.with_name(f"{path.stem}.{label.split()[0]}{path.suffix}") for label in labels}


def _without(ranking: Ranking, doc_id: str) -> Ranking:
    kept = [(d, s) for d, s in zip(ranking.ids, ranking.scores) if d != doc_id]
    return Ranking([d for d, _ in kept], [s for _, s in kept])


def _ranking(result: SearchResult) -> Ranking:
    return Ranking([h.id for h in result.hits], [h.score for h in result.hits])
