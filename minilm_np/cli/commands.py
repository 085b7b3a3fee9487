"""One function per ``minilm-np`` command: read the parsed arguments, call the library, print.

Models are loaded through ``load_reranker`` / ``load_embedder`` (the tests swap in fakes there).
"""

from __future__ import annotations

import functools
import shutil
import sys
from pathlib import Path

import numpy as np

from ..checkpoint.family import DEFAULT_EMBEDDER, DEFAULT_RERANKER, known_checkpoints, models
from ..cross_encoder import CrossEncoder
from ..embedder import Embedder
from ..errors import HubError, ModelLoadError
from ..evaluation.datasets.beir import DEFAULT_SPLIT
from ..evaluation.datasets.trec import write_run
from ..evaluation.runs import METHODS, beir_set, check_index_corpus, cranfield_set, evaluate_run, files_set
from ..evaluation.runs import method_runs, run_files
from ..retrieval import build_index, compare_methods, embedding_search, load_index, read_corpus, rerank_search
from ..retrieval import AnnConfig, Shard, merge_indexes, two_stage_search, write_index, write_index_on_ray
from ..retrieval.corpus import gather_passages
from ..retrieval.index import check_destination
from ..retrieval.search import check_pool
from ..text.passages import split_lines
from ..validate import check_positive_int
from .explain_view import explanation_lines
from .output import clip, parts, plural, print_columns, print_hits, print_json, print_table, progress_bar
from .output import reading_line, timing_line, warn


def load_reranker(name: str, option: str = "--reranker", *, kernels: str = "numpy") -> CrossEncoder:
    """``option``: the one that named the model, for the advice when the Hub cannot give it.
    ``kernels``: --kernels, passed on to from_pretrained."""
    return _load(CrossEncoder, name, option, kernels)


def load_embedder(name: str, option: str = "--embedder", *, kernels: str = "numpy") -> Embedder:
    return _load(Embedder, name, option, kernels)


def _load(cls, name: str, option: str, kernels: str):
    try:
        return cls.from_pretrained(name, kernels=kernels)
    except HubError as e:  # the advice in command-line terms: the option, not from_pretrained(...)
        raise HubError(e.problem, e.repo_id, how=f"{option} /path/to/model-dir") from None


def embedder_factory(name: str, kernels: str = "numpy"):
    """What each Ray actor calls, with ``threads=`` its CPUs, to load its own embedder."""
    return functools.partial(Embedder.from_pretrained, name, kernels=kernels)


def models_command(args) -> int:
    rows, others = models(), known_checkpoints()
    if args.json:
        print_json(rows + others)
        return 0
    table = [["size", "hub id", "layers", "hidden", "parameters", "TREC DL19 nDCG@10", "MS MARCO dev MRR@10"]]
    for m in rows:
        table.append([m["size"], m["hub_id"], str(m["layers"]), str(m["hidden"]), f"{m['parameters'] / 1e6:.1f}M",
                      f"{m['trec_dl19_ndcg10']:.2f}", f"{m['msmarco_dev_mrr10']:.2f}"])
    print_table(table, right={2, 3, 4, 5, 6})
    print("Quality figures: the model cards' published TREC DL 2019 and MS MARCO dev results.")
    print("\nOther checkpoints known to load and score correctly (pooling, prompts and max length are read "
          "from each model's own files):")
    table = [["hub id", "architecture", "layers", "hidden", "pooling / head", "max length", "prompts"]]
    for m in others:
        table.append([m["hub_id"], m["architecture"], str(m["layers"]), str(m["hidden"]),
                      m["pooling"] or m["head"], str(m["max_length"]), clip(m["prompts"], 40)])
    print_table(table, right={2, 3, 5})
    return 0


def _texts_from(arguments: list[str], path, if_none: str) -> list[str]:
    """The texts given on the command line, then one per line of the file at ``path`` (if any; "-": the
    standard input)."""
    texts, path = _with_stdin(arguments, path)
    if path:
        texts += read_corpus(path, split="lines").texts
    if not texts:
        raise ValueError(if_none)
    return texts


def _with_stdin(arguments: list[str], path) -> tuple[list[str], str | None]:
    """(texts, file): a file named "-" is the standard input, read now, its non-blank lines taken as more
    texts given one by one (as a text file's lines are numbered on after the arguments)."""
    if path != "-":
        return list(arguments), path
    return [*arguments, *split_lines(sys.stdin.read())], None


def rank_command(args) -> int:
    texts, path = _with_stdin(args.docs, args.docs_file)
    if not texts and not path:
        raise ValueError("no documents to rank: give DOC arguments or --docs-file")
    docs = gather_passages(texts, path)  # ids "1", "2", ...: the numbering `search` uses
    if args.top_k is not None:
        check_positive_int(args.top_k, "--top-k")
    ce = load_reranker(args.model, "--model", kernels=args.kernels)
    activation = None if args.activation == "none" else args.activation
    with progress_bar(args.quiet, len(docs), "reranking", "pair") as progress:
        ranked = ce.rank(args.query, docs.texts, batch_size=args.batch_size, activation=activation,
                         progress=progress, long_passages=args.long_passages, stride=args.stride)
    reading = {"passages": len(ranked), **{k: sum(int(h[k]) for h in ranked) for k in
                                           ("windows", "truncated", "query_truncated")}}  # every document
    hits = [{"id": docs.ids[h["corpus_id"]], "index": h["corpus_id"], "score": h["score"], "text": h["text"],
             **{k: h[k] for k in ("windows", "best_window", "best_span", "truncated", "query_truncated")}}
            for h in ranked[:args.top_k]]  # the keys of `search --json` hits, and how each was read
    if args.json:
        print_json({"query": args.query, "model": ce.name, "long_passages": {"mode": args.long_passages, **reading},
                    "results": hits})
        return 0
    print(f"{len(hits)} of {plural(len(docs), 'document')} for {args.query!r}, by {ce.name}:")
    table = [["rank", "score", "id", "windows", "text"]]
    for r, hit in enumerate(hits, start=1):
        read = "cut" if hit["truncated"] else str(hit["windows"])
        table.append([str(r), f"{hit['score']:.4f}", hit["id"], read, clip(hit["text"])])
    print_table(table, right={0, 1, 3})
    print(reading_line(reading, args.long_passages))
    return 0


def embed_command(args) -> int:
    texts = _texts_from(args.texts, args.file, "nothing to embed: give TEXT arguments or --file")
    out = check_output_file(args.out, "--out") if args.out else None
    emb = load_embedder(args.model, "--model", kernels=args.kernels)
    if args.no_normalize and emb.pipeline.normalize:
        warn(f"{emb.name} ends in a Normalize module, so its vectors are unit length whatever --no-normalize says")
    with progress_bar(args.quiet, len(texts), "embedding", "text") as progress:
        vectors = emb.encode(texts, batch_size=args.batch_size, normalize=not args.no_normalize, progress=progress)
    if out:
        out = out if out.suffix == ".npy" else out.with_name(out.name + ".npy")  # where np.save writes it
        np.save(out, vectors)
        print(f"wrote {vectors.shape[0]} x {vectors.shape[1]} float32 embeddings by {emb.name} to {out}")
    elif args.json:
        print_json({"model": emb.name,
                    "embeddings": [{"text": t, "vector": v.tolist()} for t, v in zip(texts, vectors)]})
    else:
        print(f"{vectors.shape[0]} x {vectors.shape[1]} float32 embeddings by {emb.name} "
              f"(--out F.npy to save them, --json to print them all):")
        for text, v in zip(texts, vectors):
            head = " ".join(f"{x:+.4f}" for x in v[:6])
            print(f"  [{head} ...]  |v|={np.linalg.norm(v):.3f}  {clip(text, 50)}")
    return 0


def index_build_command(args) -> int:
    check_destination(args.out)  # before the slow part
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
            index = write_index_on_ray(args.out, embedder_factory(name, args.kernels), corpus, shard=shard, ann=ann,
                                       batch_size=args.batch_size, progress=progress, **options)
        else:
            index = write_index(args.out, load_embedder(name, kernels=args.kernels), corpus, shard=shard, ann=ann,
                                batch_size=args.batch_size, progress=progress)
    what = plural(len(index), "passage") if shard is None else \
        f"shard {shard} ({len(index)} of {plural(len(corpus), 'passage')})"
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
    if args.mode == "two-stage":
        check_pool(args.top_n, args.top_k, ("--top-n", "--top-k"))
    index, corpus, emb, corpus_seconds = None, None, None, None
    if args.mode != "rerank":
        emb, index, corpus_seconds = _index_for(args)
    elif args.index:
        corpus = load_index(args.index, ann=False)  # its ids and texts; the vectors are not read
    else:
        corpus = read_corpus(args.corpus, split=args.passages)
    ce = load_reranker(args.reranker, kernels=args.kernels) if args.mode != "embed" else None
    scorer = ce.with_long_passages(args.long_passages, stride=args.stride) if ce is not None else None
    if args.mode == "embed":
        result = embedding_search(emb, index, args.query, top_k=args.top_k)
    elif args.mode == "rerank":
        with progress_bar(args.quiet, len(corpus.texts), "reranking", "passage") as progress:
            result = rerank_search(scorer, corpus, args.query, top_k=args.top_k, batch_size=args.batch_size,
                                   progress=progress)
    else:
        with progress_bar(args.quiet, min(args.top_n, len(index)), "reranking", "passage") as progress:
            result = two_stage_search(emb, scorer, index, args.query, top_n=args.top_n, top_k=args.top_k,
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
        if scorer is not None:
            out["long_passages"] = {"mode": args.long_passages, **scorer.counts()}
        print_json(out)
        return 0
    how = f" ({ann} candidates, re-scored exactly)" if ann else ""
    print(f"{args.mode}: top {len(result.hits)} of {plural(size, 'passage')}{how} for {args.query!r}")
    print_hits(result.hits, two_stage=args.mode == "two-stage")
    print(timing_line(result.timings, args.top_n if args.mode == "two-stage" else args.top_k, corpus_seconds))
    if scorer is not None:
        print(reading_line(scorer.counts(), args.long_passages))
    return 0


def compare_command(args) -> int:
    check_pool(args.top_n, args.top_k, ("--top-n", "--top-k"))
    emb, index, corpus_seconds = _index_for(args)
    ce = load_reranker(args.reranker, kernels=args.kernels)
    scorer = ce.with_long_passages(args.long_passages, stride=args.stride)
    with progress_bar(args.quiet, len(index), "reranking every passage", "passage") as progress:
        comparison = compare_methods(emb, scorer, index, args.query, top_n=args.top_n, top_k=args.top_k,
                                     batch_size=args.batch_size, progress=progress)
    results = comparison.results
    if args.json:
        print_json({"query": args.query, "corpus_size": len(index), "top_k": args.top_k, "top_n": args.top_n,
                    "corpus_embedding_seconds": corpus_seconds, **comparison.to_dict(),
                    "long_passages": {"mode": args.long_passages, **scorer.counts()}})
        return 0

    print(f"query {args.query!r} on {plural(len(index), 'passage')}; embedder {emb.name}, reranker {ce.name}\n")
    table = [["method", "seconds", "parts"]]
    for m, r in results.items():
        table.append([m, f"{r.timings['total']:.3f}", parts(r.timings, args.top_n if m == "two-stage" else args.top_k)])
    print_table(table, right={1})
    if corpus_seconds is not None:
        print(f"corpus embedding (once, offline; reused by embed and two-stage): {corpus_seconds:.3f} s "
              f"for {plural(len(index), 'passage')}")
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
    print(reading_line(scorer.counts(), args.long_passages) + " (rerank and two-stage together)")
    print("\npassages:")
    shown = dict.fromkeys(h.id for res in results.values() for h in res.hits)
    texts = dict(zip(index.ids, index.texts))
    for ident in shown:
        print(f"  {ident}: {clip(texts[ident], 100)}")
    return 0


def inspect_command(args) -> int:
    docs = _texts_from(args.docs, args.docs_file, "no documents: give DOC arguments or --docs-file")
    if args.png:
        from .plot import check_plotting

        check_plotting()  # before anything is printed
    ce = load_reranker(args.model, "--model", kernels=args.kernels)
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

        path = save_batch_png(batch, args.png, tokens=tokens, title=f"{_short_name(ce.name)}: {clip(args.query, 60)}")
        print(f"\nwrote {path}", file=sys.stderr if args.json else sys.stdout)
    return 0


def explain_command(args) -> int:
    ce = load_reranker(args.model, kernels=args.kernels)
    activation = None if args.activation == "none" else args.activation
    ex = ce.explain(args.query, args.passage, activation=activation, batch_size=args.batch_size)
    if args.json:
        print_json({"model": ce.name, **ex.to_dict()})
    else:
        width = max(40, shutil.get_terminal_size((100, 20)).columns)
        print("\n".join(explanation_lines(ex, ce.name, colour=sys.stdout.isatty(), width=width)))
    if args.png:
        from ..explain.plot import save_explanation_png

        path = save_explanation_png(ex, ce.trace(args.query, args.passage), args.png,
                                    title=f"{_short_name(ce.name)}: {clip(args.query, 80)}")
        print(f"\nwrote {path}", file=sys.stderr if args.json else sys.stdout)
    return 0


def eval_command(args) -> int:
    for value, option in ((args.top_n, "--top-n"), (args.k, "--k"), (args.recall_at, "--recall-at")):
        check_positive_int(value, option)
    if args.rerank_pool < 0:
        raise ValueError(f"--rerank-pool must be 0 (every passage) or positive, got {args.rerank_pool}")
    collection = _collection(args)
    queries = collection.queries
    if args.limit_queries is not None:
        queries = queries[: check_positive_int(args.limit_queries, "--limit-queries")]
    methods = [m.strip() for m in (args.methods or ",".join(METHODS)).split(",") if m.strip()]
    if not methods or any(m not in METHODS for m in methods):
        raise ValueError(f"--methods takes a comma-separated list of {', '.join(METHODS)}; got {args.methods!r}")
    if args.run_out:
        check_output_file(args.run_out, "--run-out")
    ce, methods = _reranker_for(args, methods)
    scorer = ce.with_long_passages(args.long_passages, stride=args.stride) if ce is not None else None
    emb, index, built = _eval_index(args, collection)
    depth = max(args.k, args.recall_at) + (1 if collection.ignore_identical_ids else 0)  # the query's own may go
    runs = method_runs(methods, embedder=emb, reranker=scorer, index=index, depth=depth,
                       top_n=args.top_n, rerank_pool=args.rerank_pool, batch_size=args.batch_size)
    paths = run_files(args.run_out, list(runs)) if args.run_out else {}
    report, reading = {}, {}
    for label, run in runs.items():
        before = scorer.counts() if scorer is not None else {}
        with progress_bar(args.quiet, len(queries), label, "query") as progress:
            report[label], rankings = evaluate_run(run, queries, collection.qrels, k=args.k,
                                                   recall_at=args.recall_at, progress=progress,
                                                   ignore_identical_ids=collection.ignore_identical_ids)
        if label in paths:
            write_run(paths[label], rankings, tag=label)
        if label != "embed" and scorer is not None:  # what this method's reranking read
            reading[label] = {k: v - before[k] for k, v in scorer.counts().items()}
            report[label]["long_passages"] = {"mode": args.long_passages, **reading[label]}

    if args.json:
        print_json({"setup": collection.description, "queries": len(queries), "embedder": emb.name,
                    "reranker": ce.name if ce else None, "index": args.index,
                    "corpus_embedding_seconds": index.build_seconds, "k": args.k, "recall_at": args.recall_at,
                    "methods": report, "run_files": {label: str(path) for label, path in paths.items()}})
        return 0
    print(collection.description)
    print(f"embedder {emb.name}" + (f", reranker {ce.name}" if ce else "")
          + f"; {plural(len(queries), 'query', 'queries')}")
    if index.build_seconds is None:
        print(f"corpus embedding: none, the index in {args.index} was searched\n")
    else:
        saved = f", saved to {args.index} for later runs" if built else ""
        print(f"corpus embedding: {index.build_seconds:.2f} s (once, not counted per query{saved})\n")
    table = [["method", f"nDCG@{args.k}", f"MRR@{args.k}", f"Recall@{args.recall_at}", "s/query"]]
    for label, m in report.items():
        table.append([label, f"{m[f'ndcg@{args.k}']:.4f}", f"{m[f'mrr@{args.k}']:.4f}",
                      f"{m[f'recall@{args.recall_at}']:.4f}", f"{m['seconds_per_query']:.4f}"])
    print_table(table, right={1, 2, 3, 4})
    if any(label != "embed" for label in report):
        print("\nPooled methods rank the reranked pool first, then the rest of the embedding ranking.")
    for label, path in paths.items():
        print(f"run of {label}: {path} (TREC format)")
    for label, counts in reading.items():
        print(f"{label}: {reading_line(counts, args.long_passages)}")
    return 0


def _collection(args):
    """The EvalSet that --cranfield, --beir or --corpus/--queries/--qrels name."""
    given = [name for name, value in (("--cranfield", args.cranfield), ("--beir", args.beir),
                                      ("--corpus/--queries/--qrels", args.corpus or args.queries or args.qrels))
             if value]
    if len(given) > 1:
        raise ValueError(f"give one collection: {' or '.join(given)}, not both")
    if args.split is not None and not args.beir:
        raise ValueError("--split chooses a BEIR split (qrels/SPLIT.tsv) and needs --beir; "
                         "to cut a text corpus into passages use --passages")
    if args.cranfield:
        return cranfield_set(args.cranfield)
    if args.beir:
        return beir_set(args.beir, args.split or DEFAULT_SPLIT)
    if not (args.corpus and args.queries and args.qrels):
        raise ValueError("eval needs --cranfield DIR, --beir DIR, or all of --corpus, --queries and --qrels")
    return files_set(args.corpus, args.queries, args.qrels, passages=args.passages)


def _reranker_for(args, methods: list[str]):
    """(the reranker or None, the methods that can run). Asked-for methods need their reranker; by
    default, a reranker that cannot be loaded leaves the embed method alone, with a warning."""
    if methods == ["embed"]:
        return None, methods
    try:
        return load_reranker(args.reranker, kernels=args.kernels), methods
    except ModelLoadError as e:
        if args.methods is not None:
            raise ModelLoadError(f"{e} Without a reranker, eval can run --methods embed.") from None
        why = str(getattr(e, "problem", e)).rstrip(".")
        warn(f"the reranker could not be loaded ({why}); evaluating --methods embed alone. Give --reranker DIR "
             f"for two-stage and rerank.")
        return None, ["embed"]


def _eval_index(args, collection):
    """(embedder, index, whether it was built here and saved to --index). With --index DIR holding an index:
    that index, checked against the collection; otherwise the collection embedded (and saved to DIR)."""
    if args.index and _holds_files(args.index):
        emb = load_embedder(args.embedder, kernels=args.kernels) if args.embedder else None
        index = load_index(args.index, embedder=emb.name if emb else None)
        check_index_corpus(index, collection, args.index)
        return emb or load_embedder(index.embedder, kernels=args.kernels), index, False
    if args.index:
        check_destination(args.index)  # before the slow part
    emb = load_embedder(args.embedder or DEFAULT_EMBEDDER, kernels=args.kernels)
    with progress_bar(args.quiet, len(collection.corpus), "embedding corpus", "passage") as progress:
        index = build_index(emb, collection.corpus, batch_size=args.batch_size, progress=progress)
    if args.index:
        index.save(args.index)
    return emb, index, bool(args.index)


def _holds_files(path: str) -> bool:
    """Something is at ``path`` (an index, or something ``load_index`` will say is not one)."""
    path = Path(path)
    return path.exists() and not (path.is_dir() and not any(path.iterdir()))


def check_output_file(path: str, option: str) -> Path:
    """``path`` if a file can be written there, checked before the slow part; else the problem in words."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{option} {path} is a directory; give a file name, such as {path / 'out.npy'}"
                                if option == "--out" else f"{option} {path} is a directory; give a file name")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{option} {path}: the directory {path.parent} does not exist; create it first")
    return path


def _tune_ann(index, args) -> None:
    """Apply --ef-search, --nprobe and --candidates of a search to the index's ANN index (None: a corpus,
    scanned flat, where they are refused)."""
    given = {k: getattr(args, k, None) for k in ("ef_search", "nprobe", "candidates")}
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return
    if index is None or index.ann is None:
        raise ValueError(f"--{next(iter(given)).replace('_', '-')} applies to an --index built with --ann "
                         f"(and not with --exact)")
    index.ann.configure(**given)


def _index_for(args):
    """(embedder, index, seconds spent embedding the corpus or None) from --index or --corpus."""
    if args.index:
        emb = load_embedder(args.embedder, kernels=args.kernels) if args.embedder else None
        index = load_index(args.index, embedder=emb.name if emb else None, ann=not getattr(args, "exact", False))
        _tune_ann(index, args)
        if emb is None:
            emb = load_embedder(index.embedder, kernels=args.kernels)  # the embedder that built the index
        return emb, index, None
    _tune_ann(None, args)  # a corpus is embedded and scanned flat: ANN options are refused, not ignored
    corpus = read_corpus(args.corpus, split=args.passages)
    emb = load_embedder(args.embedder or DEFAULT_EMBEDDER, kernels=args.kernels)
    with progress_bar(args.quiet, len(corpus), "embedding corpus", "passage") as progress:
        index = build_index(emb, corpus, batch_size=args.batch_size, progress=progress)
    return emb, index, index.build_seconds


SERVE_LIMITS = ("max_batch_tokens", "max_concurrent_requests", "max_client_batch_size", "max_batch_requests",
                "payload_limit", "shutdown_timeout", "long_passages", "stride")


def serve_command(args) -> int:
    from ..serve import serve  # needs the server extra; its ImportError says how to install it

    limits = {k: getattr(args, k) for k in SERVE_LIMITS if getattr(args, k) is not None}
    models = {"reranker": args.reranker or DEFAULT_RERANKER, "embedder": args.embedder or DEFAULT_EMBEDDER}
    serve(**{kind: None if name.lower() == "none" else name for kind, name in models.items()},
          optional=[kind for kind in models if getattr(args, kind) is None], host=args.host, port=args.port,
          kernels=args.kernels, **limits)
    return 0


def _short_name(name: str) -> str:
    """A model's name for a picture's title: its Hub id, or the last folder of its directory's path."""
    return Path(name).name if Path(name).is_absolute() else name
