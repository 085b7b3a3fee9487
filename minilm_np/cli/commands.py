"""One function per ``minilm-np`` command: read the parsed arguments, call the library, print.

Models are loaded through ``load_reranker`` / ``load_embedder`` (the tests swap in fakes there).
"""

from __future__ import annotations

import functools
import shutil
import sys
from pathlib import Path

import numpy as np

from ..checkpoint.family import DEFAULT_EMBEDDER, models
from ..cross_encoder import CrossEncoder
from ..embedder import Embedder
from ..evaluation.metrics import evaluate_search
from ..evaluation.runs import METHODS, cranfield_set, files_set, method_runs
from ..retrieval import build_index, compare_methods, embedding_search, load_index, read_corpus, rerank_search
from ..retrieval import AnnConfig, Shard, merge_indexes, two_stage_search, write_index, write_index_on_ray
from ..validate import check_positive_int
from .output import clip, parts, print_columns, print_hits, print_json, print_table, progress_bar, timing_line


def load_reranker(name: str) -> CrossEncoder:
    return CrossEncoder.from_pretrained(name)


def load_embedder(name: str) -> Embedder:
    return Embedder.from_pretrained(name)


def embedder_factory(name: str):
    """What each Ray actor calls, with ``threads=`` its CPUs, to load its own embedder."""
    return functools.partial(Embedder.from_pretrained, name)


def models_command(args) -> int:
    rows = models()
    if args.json:
        print_json(rows)
        return 0
    table = [["size", "hub id", "layers", "hidden", "parameters", "TREC DL19 nDCG@10", "MS MARCO dev MRR@10"]]
    for m in rows:
        table.append([m["size"], m["hub_id"], str(m["layers"]), str(m["hidden"]), f"{m['parameters'] / 1e6:.1f}M",
                      f"{m['trec_dl19_ndcg10']:.2f}", f"{m['msmarco_dev_mrr10']:.2f}"])
    print_table(table, right={2, 3, 4, 5, 6})
    print("Quality figures: the model cards' published TREC DL 2019 and MS MARCO dev results.")
    return 0


def _texts_from(arguments: list[str], path, if_none: str) -> list[str]:
    """The texts given on the command line, then one per line of the file at ``path`` (if any)."""
    texts = list(arguments)
    if path:
        texts += read_corpus(path, split="lines").texts
    if not texts:
        raise ValueError(if_none)
    return texts


def rank_command(args) -> int:
    docs = _texts_from(args.docs, args.docs_file, "no documents to rank: give DOC arguments or --docs-file")
    if args.top_k is not None:
        check_positive_int(args.top_k, "--top-k")
    ce = load_reranker(args.model)
    activation = None if args.activation == "none" else args.activation
    with progress_bar(args.quiet, len(docs), "reranking", "pair") as progress:
        ranked = ce.rank(args.query, docs, top_k=args.top_k, batch_size=args.batch_size, activation=activation,
                         progress=progress)
    if args.json:
        print_json({"query": args.query, "model": ce.name, "results": ranked})
        return 0
    print(f"{len(ranked)} of {len(docs)} documents for {args.query!r}, by {ce.name}:")
    table = [["rank", "score", "doc", "text"]]
    for r, hit in enumerate(ranked, start=1):
        table.append([str(r), f"{hit['score']:.4f}", str(hit["corpus_id"]), clip(hit["text"])])
    print_table(table, right={0, 1, 2})
    return 0


def embed_command(args) -> int:
    texts = _texts_from(args.texts, args.file, "nothing to embed: give TEXT arguments or --file")
    emb = load_embedder(args.model)
    with progress_bar(args.quiet, len(texts), "embedding", "text") as progress:
        vectors = emb.encode(texts, batch_size=args.batch_size, normalize=not args.no_normalize, progress=progress)
    if args.out:
        out = Path(args.out)
        np.save(out, vectors)
        print(f"wrote {vectors.shape[0]} x {vectors.shape[1]} float32 embeddings by {emb.name} to {out}")
    elif args.json:
        print_json({"model": emb.name, "embeddings": [{"text": t, "vector": v.tolist()} for t, v in zip(texts, vectors)]})
    else:
        print(f"{vectors.shape[0]} x {vectors.shape[1]} float32 embeddings by {emb.name} "
              f"(--out F.npy to save them, --json to print them all):")
        for text, v in zip(texts, vectors):
            head = " ".join(f"{x:+.4f}" for x in v[:6])
            print(f"  [{head} ...]  |v|={np.linalg.norm(v):.3f}  {clip(text, 50)}")
    return 0


def index_build_command(args) -> int:
    shard = Shard.parse(args.shard) if args.shard else None
    ann = _ann_config(args)
    ray_options = {"address": args.ray_address, "actors": args.ray_actors, "cpus_per_actor": args.ray_cpus_per_actor}
    if args.engine != "ray" and any(v is not None for v in ray_options.values()):
        raise ValueError("--ray-address, --ray-actors and --ray-cpus-per-actor need --engine ray")
    corpus = read_corpus(args.corpus, split=args.passages)
    name = args.embedder or DEFAULT_EMBEDDER
    with progress_bar(args.quiet, len(corpus), "embedding corpus", "passage") as progress:
        if args.engine == "ray":
            options = {k: v for k, v in ray_options.items() if v is not None}
            index = write_index_on_ray(args.out, embedder_factory(name), corpus, shard=shard, ann=ann,
                                       batch_size=args.batch_size, progress=progress, **options)
        else:
            index = write_index(args.out, load_embedder(name), corpus, shard=shard, ann=ann,
                                batch_size=args.batch_size, progress=progress)
    what = f"{len(index)} passages" if shard is None else \
        f"shard {shard} ({len(index)} of {len(corpus)} passages)"
    extra = f", with an {ann.kind} index" if ann else ""
    print(f"indexed {what} from {args.corpus} with {index.embedder} ({index.dim} dims{extra}) in "
          f"{index.build_seconds:.2f} s -> {args.out}")
    return 0


def index_merge_command(args) -> int:
    ann = _ann_config(args)
    index = merge_indexes(args.inputs, args.out, ann=ann, partial=args.partial)
    extra = f", with an {ann.kind} index" if ann else ""
    print(f"merged {len(args.inputs)} index{'es' if len(args.inputs) > 1 else ''}: {len(index)} passages by "
          f"{index.embedder} ({index.dim} dims{extra}) -> {args.out}")
    return 0


def _ann_config(args) -> AnnConfig | None:
    """The ANN index asked for with --ann and its parameters, or None."""
    given = {k: getattr(args, k) for k in ("m", "ef_construction", "hnsw_storage", "nlist", "pq_m", "ef_search",
                                            "nprobe", "candidates") if getattr(args, k) is not None}
    if args.ann is None:
        if given:
            raise ValueError(f"--{next(iter(given)).replace('_', '-')} needs --ann hnsw or --ann ivfpq")
        return None
    return AnnConfig(args.ann, **given)


def search_command(args) -> int:
    check_positive_int(args.top_k, "--top-k")
    check_positive_int(args.top_n, "--top-n")
    index, corpus, emb, corpus_seconds = None, None, None, None
    if args.mode != "rerank":
        emb, index, corpus_seconds = _index_for(args)
    elif args.index:
        corpus = load_index(args.index, ann=False)  # its ids and texts; the vectors are not read
    else:
        corpus = read_corpus(args.corpus, split=args.passages)
    ce = load_reranker(args.reranker) if args.mode != "embed" else None
    if args.mode == "embed":
        result = embedding_search(emb, index, args.query, top_k=args.top_k)
    elif args.mode == "rerank":
        with progress_bar(args.quiet, len(corpus.texts), "reranking", "passage") as progress:
            result = rerank_search(ce, corpus, args.query, top_k=args.top_k, batch_size=args.batch_size,
                                   progress=progress)
    else:
        with progress_bar(args.quiet, min(args.top_n, len(index)), "reranking", "passage") as progress:
            result = two_stage_search(emb, ce, index, args.query, top_n=args.top_n, top_k=args.top_k,
                                      batch_size=args.batch_size, progress=progress)
    size = len(index) if index is not None else len(corpus.texts)
    ann = index.ann.kind if index is not None and index.ann is not None else None
    if args.json:
        out = result.to_dict()
        if corpus_seconds is not None:
            out["timings"]["corpus_embedding"] = corpus_seconds  # once per corpus, not part of "total"
        out["corpus_size"] = size
        if index is not None:
            out["ann"] = ann  # the ANN kind whose candidates were re-scored, or None: every vector scanned
        out["models"] = {k: m.name for k, m in (("embedder", emb), ("reranker", ce)) if m is not None}
        print_json(out)
        return 0
    how = f" ({ann} candidates, re-scored exactly)" if ann else ""
    print(f"{args.mode}: top {len(result.hits)} of {size} passages{how} for {args.query!r}")
    print_hits(result.hits, two_stage=args.mode == "two-stage")
    print(timing_line(result.timings, args.top_n if args.mode == "two-stage" else args.top_k, corpus_seconds))
    return 0


def compare_command(args) -> int:
    check_positive_int(args.top_k, "--top-k")
    check_positive_int(args.top_n, "--top-n")
    emb, index, corpus_seconds = _index_for(args)
    ce = load_reranker(args.reranker)
    with progress_bar(args.quiet, len(index), "reranking every passage", "passage") as progress:
        comparison = compare_methods(emb, ce, index, args.query, top_n=args.top_n, top_k=args.top_k,
                                     batch_size=args.batch_size, progress=progress)
    results = comparison.results
    if args.json:
        print_json({"query": args.query, "corpus_size": len(index), "top_k": args.top_k, "top_n": args.top_n,
                    "corpus_embedding_seconds": corpus_seconds, **comparison.to_dict()})
        return 0

    print(f"query {args.query!r} on {len(index)} passages; embedder {emb.name}, reranker {ce.name}\n")
    table = [["method", "seconds", "parts"]]
    for m, r in results.items():
        table.append([m, f"{r.timings['total']:.3f}", parts(r.timings, args.top_n if m == "two-stage" else args.top_k)])
    print_table(table, right={1})
    if corpus_seconds is not None:
        print(f"corpus embedding (once, offline; reused by embed and two-stage): {corpus_seconds:.3f} s "
              f"for {len(index)} passages")
    else:
        print(f"corpus embedding: done ahead of time (index {args.index})")

    print(f"\ntop {args.top_k}, side by side (id score):")
    table = [["rank", *results]]
    for r in range(max(len(res.hits) for res in results.values())):
        row = [str(r + 1)]
        for res in results.values():
            row.append(f"{res.hits[r].id} {res.hits[r].score:.3f}" if r < len(res.hits) else "")
        table.append(row)
    print_table(table, right={0})
    print("overlap: " + ", ".join(f"{k} {v}/{args.top_k}" for k, v in comparison.overlap.items()))
    print("\npassages:")
    shown = dict.fromkeys(h.id for res in results.values() for h in res.hits)
    texts = dict(zip(index.ids, index.texts))
    for ident in shown:
        print(f"  {ident}: {clip(texts[ident], 100)}")
    return 0


def inspect_command(args) -> int:
    docs = _texts_from(args.docs, args.docs_file, "no documents: give DOC arguments or --docs-file")
    ce = load_reranker(args.model)
    batch = ce.tokenize(args.query, docs)
    ids, types, mask = batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]
    tokens = [[ce.tokenizer.id_to_token(int(i)) for i in row[: int(m.sum())]] for row, m in zip(ids, mask)]
    if args.json:
        print_json({"query": args.query, "model": ce.name, "shape": list(ids.shape),
                    "rows": [{"document": d, "tokens": t, "input_ids": i.tolist(), "token_type_ids": y.tolist(),
                              "attention_mask": m.tolist()} for d, t, i, y, m in zip(docs, tokens, ids, types, mask)]})
    else:
        print(f"the batch {ce.name} sees for {len(docs)} pair(s): "
              f"[CLS] query [SEP] document [SEP], right-padded to the longest (max_length {ce.max_length})")
        for name, a in batch.items():
            print(f"  {name:15} {a.dtype} {list(a.shape)}")
        width = max(40, shutil.get_terminal_size((100, 20)).columns)
        for r, d in enumerate(docs):
            n = int(mask[r].sum())
            print(f"\nrow {r}: {n} tokens + {ids.shape[1] - n} padding  ({clip(d, 60)})")
            cells = tokens[r] + ["[PAD]"] * (ids.shape[1] - n)
            print_columns(["token", "id", "type", "mask"],
                          [cells, [str(int(x)) for x in ids[r]], [str(int(x)) for x in types[r]],
                           [str(int(x)) for x in mask[r]]], width)
    if args.png:
        from .plot import save_batch_png

        path = save_batch_png(batch, args.png, tokens=tokens, title=f"{ce.name}: {clip(args.query, 60)}")
        print(f"\nwrote {path}", file=sys.stderr if args.json else sys.stdout)
    return 0


def eval_command(args) -> int:
    for value, option in ((args.top_n, "--top-n"), (args.k, "--k"), (args.recall_at, "--recall-at")):
        check_positive_int(value, option)
    if args.cranfield:
        if args.corpus or args.queries or args.qrels:
            raise ValueError("give either --cranfield or --corpus/--queries/--qrels, not both")
        collection = cranfield_set(args.cranfield)
    else:
        if not (args.corpus and args.queries and args.qrels):
            raise ValueError("eval needs --cranfield DIR, or all of --corpus, --queries and --qrels")
        collection = files_set(args.corpus, args.queries, args.qrels, passages=args.passages)
    queries = collection.queries
    if args.limit_queries is not None:
        queries = queries[: check_positive_int(args.limit_queries, "--limit-queries")]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods or any(m not in METHODS for m in methods):
        raise ValueError(f"--methods takes a comma-separated list of {', '.join(METHODS)}; got {args.methods!r}")

    emb = load_embedder(args.embedder or DEFAULT_EMBEDDER)
    ce = load_reranker(args.reranker) if ("rerank" in methods or "two-stage" in methods) else None
    with progress_bar(args.quiet, len(collection.corpus), "embedding corpus", "passage") as progress:
        index = build_index(emb, collection.corpus, batch_size=args.batch_size, progress=progress)
    runs = method_runs(methods, embedder=emb, reranker=ce, index=index, depth=max(args.k, args.recall_at),
                       top_n=args.top_n, rerank_pool=args.rerank_pool, batch_size=args.batch_size)
    report = {}
    for label, run in runs.items():
        with progress_bar(args.quiet, len(queries), label, "query") as progress:
            report[label] = evaluate_search(run, queries, collection.qrels, k=args.k, recall_at=args.recall_at,
                                            progress=progress)

    if args.json:
        print_json({"setup": collection.description, "queries": len(queries), "embedder": emb.name,
                    "reranker": ce.name if ce else None, "corpus_embedding_seconds": index.build_seconds,
                    "k": args.k, "recall_at": args.recall_at, "methods": report})
        return 0
    print(collection.description)
    print(f"embedder {emb.name}" + (f", reranker {ce.name}" if ce else "") + f"; {len(queries)} queries")
    print(f"corpus embedding: {index.build_seconds:.2f} s (once, not counted per query)\n")
    table = [["method", f"nDCG@{args.k}", f"MRR@{args.k}", f"Recall@{args.recall_at}", "s/query"]]
    for label, m in report.items():
        table.append([label, f"{m[f'ndcg@{args.k}']:.4f}", f"{m[f'mrr@{args.k}']:.4f}",
                      f"{m[f'recall@{args.recall_at}']:.4f}", f"{m['seconds_per_query']:.4f}"])
    print_table(table, right={1, 2, 3, 4})
    if any(label != "embed" for label in report):
        print("\nPooled methods rank the reranked pool first, then the rest of the embedding ranking.")
    return 0


def _tune_ann(index, args) -> None:
    """Apply --ef-search, --nprobe and --candidates of a search to the index's ANN index."""
    given = {k: getattr(args, k, None) for k in ("ef_search", "nprobe", "candidates")}
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return
    if index.ann is None:
        raise ValueError(f"--{next(iter(given)).replace('_', '-')} applies to an index built with --ann "
                         f"(and not with --exact)")
    index.ann.configure(**given)


def _index_for(args):
    """(embedder, index, seconds spent embedding the corpus or None) from --index or --corpus."""
    if args.index:
        emb = load_embedder(args.embedder) if args.embedder else None
        index = load_index(args.index, embedder=emb.name if emb else None, ann=not getattr(args, "exact", False))
        _tune_ann(index, args)
        if emb is None:
            emb = load_embedder(index.embedder)  # the embedder that built the index
        return emb, index, None
    corpus = read_corpus(args.corpus, split=args.passages)
    emb = load_embedder(args.embedder or DEFAULT_EMBEDDER)
    with progress_bar(args.quiet, len(corpus), "embedding corpus", "passage") as progress:
        index = build_index(emb, corpus, batch_size=args.batch_size, progress=progress)
    return emb, index, index.build_seconds
