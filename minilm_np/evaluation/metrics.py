"""Ranking quality: nDCG@k, MRR@k and Recall@N for one query, and their means over a run.

Conventions (the usual trec_eval ones, stated because papers differ):

* ``ranking`` is a list of document ids, best first; ``qrels`` maps a judged document id to its gain.
  A document is relevant when its gain is > 0; unjudged documents have gain 0.
* nDCG@k = DCG@k / IDCG@k with DCG@k = sum over ranks r = 1..k of gain(doc at r) / log2(r + 1), the
  gains used as given (linear, not 2**gain - 1), and IDCG@k the DCG@k of all judged documents sorted by
  gain. A query with no relevant document scores 0 (and ``mean_metrics`` reports how many there were).
* MRR@k = 1 / rank of the first relevant document within the top k, else 0.
* Recall@N = |relevant in the top N| / |relevant|.

A document id repeated in a ranking counts only at its first rank. ``evaluate_search`` runs a search
function over a query set and scores it; it knows nothing of models.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from ..validate import check_positive_int


def ndcg_at_k(ranking: Sequence[str], qrels: Mapping[str, float], k: int = 10) -> float:
    """nDCG@k of ``ranking`` against graded ``qrels`` (doc id -> gain)."""
    check_positive_int(k, "k")
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(r + 1) for r, g in enumerate(ideal, start=1))
    if idcg == 0:
        return 0.0
    dcg = sum(qrels.get(doc, 0) / math.log2(r + 1) for r, doc in enumerate(_unique(ranking)[:k], start=1)
              if qrels.get(doc, 0) > 0)
    return dcg / idcg


def mrr_at_k(ranking: Sequence[str], qrels: Mapping[str, float], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document in the top ``k`` (0 if none)."""
    check_positive_int(k, "k")
    for r, doc in enumerate(_unique(ranking)[:k], start=1):
        if qrels.get(doc, 0) > 0:
            return 1.0 / r
    return 0.0


def recall_at_k(ranking: Sequence[str], qrels: Mapping[str, float], k: int = 100) -> float:
    """Share of the relevant documents found in the top ``k`` (0 if there are none)."""
    check_positive_int(k, "k")
    relevant = {doc for doc, g in qrels.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_unique(ranking)[:k])) / len(relevant)


def mean_metrics(
    run: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Mapping[str, float]],
    *,
    k: int = 10,
    recall_at: int = 100,
) -> dict[str, float]:
    """Mean nDCG@k, MRR@k and Recall@N over the queries of ``run`` (query id -> ranking).

    Every query in ``run`` must have judgements in ``qrels``; queries without any relevant document
    count as 0 and are reported under ``"queries_without_relevant"``.
    """
    if not run:
        raise ValueError("run has no queries")
    missing = [q for q in run if q not in qrels]
    if missing:
        raise ValueError(f"{len(missing)} queries of the run have no judgements, e.g. {missing[0]!r}")
    n = len(run)
    return {
        f"ndcg@{k}": sum(ndcg_at_k(run[q], qrels[q], k) for q in run) / n,
        f"mrr@{k}": sum(mrr_at_k(run[q], qrels[q], k) for q in run) / n,
        f"recall@{recall_at}": sum(recall_at_k(run[q], qrels[q], recall_at) for q in run) / n,
        "queries": n,
        "queries_without_relevant": sum(1 for q in run if not any(g > 0 for g in qrels[q].values())),
    }


def _unique(ranking: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ranking))


def evaluate_search(
    search: Callable[[str, str], tuple[Sequence[str], float]],
    queries: Sequence[tuple[str, str]],
    qrels: Mapping[str, Mapping[str, float]],
    *,
    k: int = 10,
    recall_at: int = 100,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Run ``search(query id, text) -> (ranking, seconds)`` on every ``(query id, text)`` and score the run.

    Returns ``mean_metrics`` plus ``seconds_per_query`` (the mean of the seconds ``search`` reports, so
    the caller decides what is timed). ``progress``, if given, is called with 1 after each query.
    """
    run: dict[str, Sequence[str]] = {}
    seconds = 0.0
    for query_id, text in queries:
        ranking, spent = search(query_id, text)
        run[query_id] = list(ranking)
        seconds += spent
        if progress is not None:
            progress(1)
    scores = mean_metrics(run, qrels, k=k, recall_at=recall_at)
    scores["seconds_per_query"] = seconds / len(run)
    return scores
