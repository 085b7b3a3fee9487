"""The ``minilm-np`` command: a thin layer over the library (``python -m minilm_np`` runs it too).

    minilm-np models
    minilm-np rank QUERY DOC [DOC ...] [--docs-file F] [--model M] [--top-k K] [--json]
    minilm-np embed [TEXT ...] [--file F] [--model M] [--out F.npy]
    minilm-np index build --corpus F --out DIR [--embedder M] [--split ...]
    minilm-np search QUERY (--corpus F | --index DIR) --mode rerank|embed|two-stage [--json]
    minilm-np compare QUERY --corpus F
    minilm-np inspect QUERY DOC [DOC ...] [--png FILE]
    minilm-np eval (--cranfield DIR | --corpus F --queries F --qrels F) [--limit-queries N]
    minilm-np serve [--reranker M] [--embedder M] [--host H] [--port P] [limits]

Results go to stdout, progress bars and errors to stderr. An error is one line and a non-zero exit
status (1; 2 for usage, 130 when interrupted); ``--debug`` shows the traceback instead.
Model options take a local directory, a Hub id or a family size ("L-6").
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .corpus import read_corpus, read_qrels, read_queries
from .errors import ModelLoadError
from .family import DEFAULT_EMBEDDER, DEFAULT_RERANKER, models
from .metrics import evaluate_search
from .retrieval import (
    DEFAULT_TOP_K,
    DEFAULT_TOP_N,
    build_index,
    embedding_search,
    load_index,
    rerank_search,
    two_stage_search,
)
from .split import SPLIT_MODES

MODES = ("rerank", "embed", "two-stage")
PROGRESS_DELAY = 2.0  # seconds: shorter work shows no bar


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a usage error argparse already printed
        return 0 if e.code is None else e.code if isinstance(e.code, int) else 2
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print("minilm-np: interrupted", file=sys.stderr)
        return 130
    except (ModelLoadError, OSError, ValueError, TypeError, ImportError) as e:
        if args.debug:
            raise
        print(f"minilm-np: error: {_one_line(e)}", file=sys.stderr)
        return 1


# --------------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------------

def _models(args) -> int:
    rows = models()
    if args.json:
        _print_json(rows)
        return 0
    table = [["size", "hub id", "layers", "hidden", "parameters", "TREC DL19 nDCG@10", "MS MARCO dev MRR@10"]]
    for m in rows:
        table.append([m["size"], m["hub_id"], str(m["layers"]), str(m["hidden"]), f"{m['parameters'] / 1e6:.1f}M",
                      f"{m['trec_dl19_ndcg10']:.2f}", f"{m['msmarco_dev_mrr10']:.2f}"])
    _print_table(table, right={2, 3, 4, 5, 6})
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


def _rank(args) -> int:
    docs = _texts_from(args.docs, args.docs_file, "no documents to rank: give DOC arguments or --docs-file")
    if args.top_k is not None:
        _check_positive(args.top_k, "--top-k")
    ce = _load_reranker(args.model)
    activation = None if args.activation == "none" else args.activation
    with _progress(args, len(docs), "reranking", "pair") as progress:
        ranked = ce.rank(args.query, docs, top_k=args.top_k, batch_size=args.batch_size, activation=activation,
                         progress=progress)
    if args.json:
        _print_json({"query": args.query, "model": ce.name, "results": ranked})
        return 0
    print(f"{len(ranked)} of {len(docs)} documents for {args.query!r}, by {ce.name}:")
    table = [["rank", "score", "doc", "text"]]
    for r, hit in enumerate(ranked, start=1):
        table.append([str(r), f"{hit['score']:.4f}", str(hit["corpus_id"]), _clip(hit["text"])])
    _print_table(table, right={0, 1, 2})
    return 0


def _embed(args) -> int:
    texts = _texts_from(args.texts, args.file, "nothing to embed: give TEXT arguments or --file")
    emb = _load_embedder(args.model)
    with _progress(args, len(texts), "embedding", "text") as progress:
        vectors = emb.encode(texts, batch_size=args.batch_size, normalize=not args.no_normalize, progress=progress)
    if args.out:
        out = Path(args.out)
        np.save(out, vectors)
        print(f"wrote {vectors.shape[0]} x {vectors.shape[1]} float32 embeddings by {emb.name} to {out}")
    elif args.json:
        _print_json({"model": emb.name, "embeddings": [{"text": t, "vector": v.tolist()} for t, v in zip(texts, vectors)]})
    else:
        print(f"{vectors.shape[0]} x {vectors.shape[1]} float32 embeddings by {emb.name} "
              f"(--out F.npy to save them, --json to print them all):")
        for text, v in zip(texts, vectors):
            head = " ".join(f"{x:+.4f}" for x in v[:6])
            print(f"  [{head} ...]  |v|={np.linalg.norm(v):.3f}  {_clip(text, 50)}")
    return 0


def _index_build(args) -> int:
    corpus = read_corpus(args.corpus, split=args.split)
    emb = _load_embedder(args.embedder or DEFAULT_EMBEDDER)
    with _progress(args, len(corpus), "embedding corpus", "passage") as progress:
        index = build_index(emb, corpus, batch_size=args.batch_size, progress=progress)
    index.save(args.out)
    print(f"indexed {len(index)} passages from {args.corpus} with {emb.name} ({index.dim} dims) in "
          f"{index.build_seconds:.2f} s -> {args.out}")
    return 0


def _search(args) -> int:
    _check_positive(args.top_k, "--top-k")
    _check_positive(args.top_n, "--top-n")
    index, corpus, emb, corpus_seconds = None, None, None, None
    if args.mode != "rerank":
        emb, index, corpus_seconds = _index_for(args)
    elif args.index:
        corpus = load_index(args.index)  # its ids and texts; the vectors are not read
    else:
        corpus = read_corpus(args.corpus, split=args.split)
    ce = _load_reranker(args.reranker) if args.mode != "embed" else None
    if args.mode == "embed":
        result = embedding_search(emb, index, args.query, top_k=args.top_k)
    elif args.mode == "rerank":
        with _progress(args, len(corpus.texts), "reranking", "passage") as progress:
            result = rerank_search(ce, corpus, args.query, top_k=args.top_k, batch_size=args.batch_size,
                                   progress=progress)
    else:
        with _progress(args, min(args.top_n, len(index)), "reranking", "passage") as progress:
            result = two_stage_search(emb, ce, index, args.query, top_n=args.top_n, top_k=args.top_k,
                                      batch_size=args.batch_size, progress=progress)
    size = len(index) if index is not None else len(corpus.texts)
    if args.json:
        out = result.to_dict()
        if corpus_seconds is not None:
            out["timings"]["corpus_embedding"] = corpus_seconds  # once per corpus, not part of "total"
        out["corpus_size"] = size
        out["models"] = {k: m.name for k, m in (("embedder", emb), ("reranker", ce)) if m is not None}
        _print_json(out)
        return 0
    print(f"{args.mode}: top {len(result.hits)} of {size} passages for {args.query!r}")
    _print_hits(result.hits, two_stage=args.mode == "two-stage")
    print(_timing_line(result.timings, args.top_n if args.mode == "two-stage" else args.top_k, corpus_seconds))
    return 0


def _compare(args) -> int:
    _check_positive(args.top_k, "--top-k")
    _check_positive(args.top_n, "--top-n")
    emb, index, corpus_seconds = _index_for(args)
    ce = _load_reranker(args.reranker)
    with _progress(args, len(index), "reranking every passage", "passage") as progress:
        rerank = rerank_search(ce, index, args.query, top_k=args.top_k, batch_size=args.batch_size,
                               progress=progress)
    embed = embedding_search(emb, index, args.query, top_k=args.top_k)
    two = two_stage_search(emb, ce, index, args.query, top_n=args.top_n, top_k=args.top_k,
                           batch_size=args.batch_size)
    results = {"rerank": rerank, "embed": embed, "two-stage": two}
    lists = {m: [h.id for h in r.hits] for m, r in results.items()}
    overlap = {f"{a} & {b}": len(set(lists[a]) & set(lists[b]))
               for a, b in (("rerank", "embed"), ("rerank", "two-stage"), ("embed", "two-stage"))}
    if args.json:
        _print_json({"query": args.query, "corpus_size": len(index), "top_k": args.top_k, "top_n": args.top_n,
                     "corpus_embedding_seconds": corpus_seconds, "overlap": overlap,
                     "methods": {m: r.to_dict() for m, r in results.items()}})
        return 0

    print(f"query {args.query!r} on {len(index)} passages; embedder {emb.name}, reranker {ce.name}\n")
    table = [["method", "seconds", "parts"]]
    for m, r in results.items():
        table.append([m, f"{r.timings['total']:.3f}", _parts(r.timings, args.top_n if m == "two-stage" else args.top_k)])
    _print_table(table, right={1})
    if corpus_seconds is not None:
        print(f"corpus embedding (once, offline; reused by embed and two-stage): {corpus_seconds:.3f} s "
              f"for {len(index)} passages")
    else:
        print(f"corpus embedding: done ahead of time (index {args.index})")

    print(f"\ntop {args.top_k}, side by side (id score):")
    table = [["rank", *results]]
    for r in range(max(len(v) for v in lists.values())):
        row = [str(r + 1)]
        for res in results.values():
            row.append(f"{res.hits[r].id} {res.hits[r].score:.3f}" if r < len(res.hits) else "")
        table.append(row)
    _print_table(table, right={0})
    print("overlap: " + ", ".join(f"{k} {v}/{args.top_k}" for k, v in overlap.items()))
    print("\npassages:")
    shown = dict.fromkeys(i for v in lists.values() for i in v)
    texts = dict(zip(index.ids, index.texts))
    for ident in shown:
        print(f"  {ident}: {_clip(texts[ident], 100)}")
    return 0


def _inspect(args) -> int:
    docs = _texts_from(args.docs, args.docs_file, "no documents: give DOC arguments or --docs-file")
    ce = _load_reranker(args.model)
    batch = ce.tokenize(args.query, docs)
    ids, types, mask = batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]
    tokens = [[ce.tokenizer.id_to_token(int(i)) for i in row[: int(m.sum())]] for row, m in zip(ids, mask)]
    if args.json:
        _print_json({"query": args.query, "model": ce.name, "shape": list(ids.shape),
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
            print(f"\nrow {r}: {n} tokens + {ids.shape[1] - n} padding  ({_clip(d, 60)})")
            cells = tokens[r] + ["[PAD]"] * (ids.shape[1] - n)
            _print_columns(["token", "id", "type", "mask"],
                           [cells, [str(int(x)) for x in ids[r]], [str(int(x)) for x in types[r]],
                            [str(int(x)) for x in mask[r]]], width)
    if args.png:
        from .plot import save_batch_png

        path = save_batch_png(batch, args.png, tokens=tokens, title=f"{ce.name}: {_clip(args.query, 60)}")
        print(f"\nwrote {path}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _eval(args) -> int:
    _check_positive(args.top_n, "--top-n")
    _check_positive(args.k, "--k")
    _check_positive(args.recall_at, "--recall-at")
    if args.cranfield:
        if args.corpus or args.queries or args.qrels:
            raise ValueError("give either --cranfield or --corpus/--queries/--qrels, not both")
        from .cranfield import load_cranfield

        collection = load_cranfield(args.cranfield)
        corpus, queries, qrels = collection.corpus, collection.queries, collection.qrels
        setup = (f"Cranfield ({args.cranfield}): {len(corpus)} passages = the .W abstracts (documents "
                 f"{', '.join(collection.empty_documents) or 'none'} have none and are left out), "
                 f"{len(queries)} queries numbered by position in cran.qry, "
                 f"{sum(len(v) for v in qrels.values())} judgements with gain = 5 - grade; "
                 f"{collection.dropped_judgements} judgements of grade -1 dropped")
    else:
        if not (args.corpus and args.queries and args.qrels):
            raise ValueError("eval needs --cranfield DIR, or all of --corpus, --queries and --qrels")
        corpus = read_corpus(args.corpus, split=args.split)
        queries, qrels = read_queries(args.queries), read_qrels(args.qrels)
        setup = f"{args.corpus}: {len(corpus)} passages; queries {args.queries}; judgements {args.qrels}"
    judged = [(q, t) for q, t in queries if q in qrels]
    if len(judged) < len(queries):
        setup += f"; {len(queries) - len(judged)} queries without judgements skipped"
    if not judged:
        raise ValueError("no query has judgements (do the query ids match the first column of --qrels?)")
    if args.limit_queries is not None:
        _check_positive(args.limit_queries, "--limit-queries")
        judged = judged[: args.limit_queries]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in MODES]
    if unknown or not methods:
        raise ValueError(f"--methods takes a comma-separated list of {', '.join(MODES)}; got {args.methods!r}")

    emb = _load_embedder(args.embedder or DEFAULT_EMBEDDER)
    ce = _load_reranker(args.reranker) if ("rerank" in methods or "two-stage" in methods) else None
    with _progress(args, len(corpus), "embedding corpus", "passage") as progress:
        index = build_index(emb, corpus, batch_size=args.batch_size, progress=progress)
    depth = max(args.k, args.recall_at)
    pool = len(index) if args.rerank_pool == 0 else args.rerank_pool

    def embed_run(query):
        r = embedding_search(emb, index, query, top_k=depth)
        return [h.id for h in r.hits], r.timings["total"]

    def pooled_run(n):
        def run(query):  # reranked pool, then the rest of the embedding ranking down to `depth`
            r = two_stage_search(emb, ce, index, query, top_n=n, top_k=n, batch_size=args.batch_size)
            head = [h.id for h in r.hits]
            seen = set(head)
            tail = [h.id for h in embedding_search(emb, index, query, top_k=depth).hits if h.id not in seen]
            return head + tail, r.timings["total"]
        return run

    def rerank_all(query):
        r = rerank_search(ce, index, query, top_k=depth, batch_size=args.batch_size)
        return [h.id for h in r.hits], r.timings["total"]

    runs = {}
    for m in methods:
        if m == "embed":
            runs["embed"] = embed_run
        elif m == "rerank":
            label = "rerank (all passages)" if pool >= len(index) else f"rerank (embed top-{pool} pool)"
            runs[label] = rerank_all if pool >= len(index) else pooled_run(pool)
        else:
            runs[f"two-stage (top-{args.top_n})"] = pooled_run(args.top_n)
    report = {}
    for label, run in runs.items():
        with _progress(args, len(judged), label, "query") as progress:
            report[label] = evaluate_search(run, judged, qrels, k=args.k, recall_at=args.recall_at, progress=progress)

    if args.json:
        _print_json({"setup": setup, "queries": len(judged), "embedder": emb.name,
                     "reranker": ce.name if ce else None, "corpus_embedding_seconds": index.build_seconds,
                     "k": args.k, "recall_at": args.recall_at, "methods": report})
        return 0
    print(setup)
    print(f"embedder {emb.name}" + (f", reranker {ce.name}" if ce else "") + f"; {len(judged)} queries")
    print(f"corpus embedding: {index.build_seconds:.2f} s (once, not counted per query)\n")
    table = [["method", f"nDCG@{args.k}", f"MRR@{args.k}", f"Recall@{args.recall_at}", "s/query"]]
    for label, m in report.items():
        table.append([label, f"{m[f'ndcg@{args.k}']:.4f}", f"{m[f'mrr@{args.k}']:.4f}",
                      f"{m[f'recall@{args.recall_at}']:.4f}", f"{m['seconds_per_query']:.4f}"])
    _print_table(table, right={1, 2, 3, 4})
    if any(label != "embed" for label in report):
        print("\nPooled methods rank the reranked pool first, then the rest of the embedding ranking.")
    return 0


def _serve(args) -> int:
    from .serve import serve  # needs the server extra; its ImportError says how to install it

    limits = {k: getattr(args, k) for k in _SERVE_LIMITS if getattr(args, k) is not None}
    models = {"reranker": args.reranker or DEFAULT_RERANKER, "embedder": args.embedder or DEFAULT_EMBEDDER}
    serve(**{kind: None if name.lower() == "none" else name for kind, name in models.items()},
          optional=[kind for kind in models if getattr(args, kind) is None], host=args.host, port=args.port,
          **limits)
    return 0


_SERVE_LIMITS = ("max_batch_tokens", "max_concurrent_requests", "max_client_batch_size", "max_batch_requests",
                 "payload_limit")


# --------------------------------------------------------------------------------------------------
# Shared steps
# --------------------------------------------------------------------------------------------------

def _load_reranker(name: str):
    from .cross_encoder import CrossEncoder

    return CrossEncoder.from_pretrained(name)


def _load_embedder(name: str):
    from .embedder import Embedder

    return Embedder.from_pretrained(name)


def _index_for(args):
    """(embedder, index, seconds spent embedding the corpus or None) from --index or --corpus."""
    if args.index:
        emb = _load_embedder(args.embedder) if args.embedder else None
        index = load_index(args.index, embedder=emb.name if emb else None)
        if emb is None:
            emb = _load_embedder(index.embedder)  # the embedder that built the index
        return emb, index, None
    corpus = read_corpus(args.corpus, split=args.split)
    emb = _load_embedder(args.embedder or DEFAULT_EMBEDDER)
    with _progress(args, len(corpus), "embedding corpus", "passage") as progress:
        index = build_index(emb, corpus, batch_size=args.batch_size, progress=progress)
    return emb, index, index.build_seconds


@contextmanager
def _progress(args, total: int, desc: str, unit: str):
    """A tqdm bar on stderr, as a ``progress(n_done)`` callback; None when quiet or not a terminal.
    The bar appears only once the work has taken ``PROGRESS_DELAY`` seconds."""
    if args.quiet or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm  # installed with huggingface_hub

    options = dict(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)
    try:
        bar = tqdm(delay=PROGRESS_DELAY, **options)
    except (TypeError, KeyError):  # tqdm older than 4.61 refuses delay (TqdmKeyError): show the bar at once
        bar = tqdm(**options)
    with bar:
        yield bar.update


def _check_positive(value: int, option: str) -> None:
    if value < 1:
        raise ValueError(f"{option} must be at least 1, got {value}")


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------

def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


def _print_table(rows: list[list[str]], right: set[int] = frozenset()) -> None:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r, row in enumerate(rows):
        cells = [cell.rjust(w) if c in right else cell.ljust(w) for c, (cell, w) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip())
        if r == 0:
            print("  ".join("-" * w for w in widths))


def _print_columns(labels: list[str], rows: list[list[str]], width: int) -> None:
    """Print aligned rows of cells (one column per token), wrapped to ``width`` characters."""
    col_w = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    label_w = max(len(x) for x in labels)
    start = 0
    while start < len(col_w):
        used, end = label_w + 4, start
        while end < len(col_w) and (end == start or used + col_w[end] + 1 <= width):
            used += col_w[end] + 1
            end += 1
        for label, row in zip(labels, rows):
            print(f"  {label.ljust(label_w)}  " + " ".join(row[c].ljust(col_w[c]) for c in range(start, end)).rstrip())
        start = end
        if start < len(col_w):
            print()


def _print_hits(hits, two_stage: bool) -> None:
    header = ["rank", "score", *(["1st stage"] if two_stage else []), "id", "text"]
    table = [header]
    for r, h in enumerate(hits, start=1):
        first = [f"#{h.first_stage_rank} ({h.first_stage_score:.3f})"] if two_stage else []
        table.append([str(r), f"{h.score:.4f}", *first, h.id, _clip(h.text)])
    _print_table(table, right={0, 1})


_PART_NAMES = {"query_embedding": "query embedding", "similarity": "similarity + top-{n}", "reranking": "reranking"}


def _parts(timings: dict[str, float], n: int) -> str:
    return ", ".join(f"{_PART_NAMES[k].format(n=n)} {v:.3f}" for k, v in timings.items() if k in _PART_NAMES)


def _timing_line(timings: dict[str, float], n: int, corpus_seconds: float | None) -> str:
    line = f"time: {_parts(timings, n)}; total {timings['total']:.3f} s"
    if corpus_seconds is not None:
        line += f" (+ corpus embedding {corpus_seconds:.3f} s, once; build an index to reuse it)"
    return line


def _clip(text: str, width: int = 80) -> str:
    return textwrap.shorten(text, width=width, placeholder=" ...") or text[:width]


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


# --------------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minilm-np", description="Pure-NumPy MiniLM cross-encoders and embedder: rank, embed, search, evaluate.")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show the traceback on errors")
    common = argparse.ArgumentParser(add_help=False)  # the same options after the subcommand
    common.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS, help="no progress bars")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name, run, help):
        p = sub.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(run=run)
        return p

    reranker_help = "cross-encoder: a directory, a Hub id or a family size (default %(default)s)"
    embedder_help = "embedder: a directory or a Hub id (default sentence-transformers/all-MiniLM-L6-v2)"

    p = command("models", _models, "the MS MARCO cross-encoder family")
    p.add_argument("--json", action="store_true")

    p = command("rank", _rank, "order documents by relevance to a query with a cross-encoder")
    p.add_argument("query")
    p.add_argument("docs", nargs="*", metavar="DOC")
    p.add_argument("--docs-file", help="more documents, one per line (or a .jsonl corpus)")
    p.add_argument("--model", "-m", default=DEFAULT_RERANKER, help=reranker_help)
    p.add_argument("--top-k", "-k", type=int, default=None, help="keep the best K (default: all)")
    p.add_argument("--activation", choices=("none", "sigmoid"), default="none",
                   help="none: raw logits (default); sigmoid: 0..1")
    _batch_and_json(p)

    p = command("embed", _embed, "sentence embeddings")
    p.add_argument("texts", nargs="*", metavar="TEXT")
    p.add_argument("--file", "-f", help="more texts, one per line (or a .jsonl corpus)")
    p.add_argument("--model", "-m", default=DEFAULT_EMBEDDER, help=embedder_help)
    p.add_argument("--out", "-o", help="save the [n, dim] float32 matrix to this .npy file")
    p.add_argument("--no-normalize", action="store_true", help="keep the pooled vectors' length")
    _batch_and_json(p)

    p = command("index", None, "build an embedding index of a corpus")
    index_sub = p.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    b = index_sub.add_parser("build", parents=[common], help="embed a corpus into DIR (embeddings.npy + meta.json)")
    b.set_defaults(run=_index_build)
    b.add_argument("--corpus", "-c", required=True, help="a .txt, a .jsonl or a directory of .txt files")
    b.add_argument("--out", "-o", required=True, help="the index directory to write")
    b.add_argument("--embedder", "-e", default=None, help=embedder_help)
    _split_option(b)
    b.add_argument("--batch-size", type=int, default=32)

    p = command("search", _search, "search a corpus: rerank every passage, embed, or two-stage")
    p.add_argument("query")
    _corpus_or_index(p)
    p.add_argument("--mode", choices=MODES, default="two-stage", help="default %(default)s")
    _model_options(p, reranker_help, embedder_help)
    _batch_and_json(p)

    p = command("compare", _compare, "the three search methods on one query: timings and top-K side by side")
    p.add_argument("query")
    _corpus_or_index(p)
    _model_options(p, reranker_help, embedder_help)
    _batch_and_json(p)

    p = command("inspect", _inspect, "show the batch a cross-encoder sees: tokens, type ids, mask")
    p.add_argument("query")
    p.add_argument("docs", nargs="*", metavar="DOC")
    p.add_argument("--docs-file", help="more documents, one per line")
    p.add_argument("--model", "-m", default=DEFAULT_RERANKER, help=reranker_help)
    p.add_argument("--png", help='also draw the three arrays into this PNG (needs: pip install "minilm-np[plot]")')
    p.add_argument("--json", action="store_true")

    p = command("eval", _eval, "retrieval quality (nDCG@k, MRR@k, Recall@N) and time per query, per method")
    p.add_argument("--cranfield", metavar="DIR", help="the Cranfield collection directory (cran.all.1400, ...)")
    p.add_argument("--corpus", "-c", help="a corpus (.jsonl with ids matching --qrels, .txt or a directory)")
    p.add_argument("--queries", help="queries: .jsonl (id, text), .tsv (id<TAB>text) or one per line")
    p.add_argument("--qrels", help="judgements: lines 'query doc gain' (or TREC 'query 0 doc gain')")
    _split_option(p)
    p.add_argument("--methods", default="embed,two-stage,rerank", help="comma-separated subset of %(default)s")
    p.add_argument("--reranker", "-r", default=DEFAULT_RERANKER, help=reranker_help)
    p.add_argument("--embedder", "-e", default=None, help=embedder_help)
    p.add_argument("--top-n", "-n", type=int, default=DEFAULT_TOP_N, help="two-stage pool (default %(default)s)")
    p.add_argument("--rerank-pool", type=int, default=100,
                   help="the rerank method reranks the embedding top-P pool; 0 = every passage for every "
                        "query (slow: one forward per passage per query) (default %(default)s)")
    p.add_argument("--k", type=int, default=10, help="cut-off of nDCG and MRR (default %(default)s)")
    p.add_argument("--recall-at", type=int, default=100, help="cut-off of recall (default %(default)s)")
    p.add_argument("--limit-queries", type=int, default=None, metavar="N", help="only the first N queries")
    _batch_and_json(p)

    p = command("serve", _serve, "serve the reranker and the embedder over HTTP: TEI, Cohere and OpenAI routes "
                                 '(needs: pip install "minilm-np[server]")')
    p.add_argument("--reranker", "-r", help=f"a directory, a Hub id or a size; 'none' to serve no reranker "
                                            f"(default {DEFAULT_RERANKER}, skipped if it cannot be loaded)")
    p.add_argument("--embedder", "-e", help=f"a directory or a Hub id; 'none' to serve no embedder "
                                            f"(default {DEFAULT_EMBEDDER}, skipped if it cannot be loaded)")
    p.add_argument("--host", default="127.0.0.1", help="default %(default)s")
    p.add_argument("--port", type=int, default=8080, help="default %(default)s")
    for option, default, what in (
            ("--max-batch-tokens", 16384, "tokens per model call"),
            ("--max-concurrent-requests", 512, "requests in flight before 429"),
            ("--max-client-batch-size", 32, "inputs per /rerank or /embed request"),
            ("--max-batch-requests", None, "requests per model call (default: no limit but the tokens)"),
            ("--payload-limit", 2_000_000, "request body bytes before 413")):
        p.add_argument(option, type=int, default=None, metavar="N",
                       help=what if default is None else f"{what} (default {default})")
    return parser


def _corpus_or_index(p) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--corpus", "-c", help="a .txt, a .jsonl or a directory of .txt files")
    source.add_argument("--index", "-i", help="an index directory from `minilm-np index build`")
    _split_option(p)


def _model_options(p, reranker_help: str, embedder_help: str) -> None:
    p.add_argument("--reranker", "-r", default=DEFAULT_RERANKER, help=reranker_help)
    p.add_argument("--embedder", "-e", default=None,
                   help=embedder_help.replace(")", "; with --index: the one that built it)"))
    p.add_argument("--top-n", "-n", type=int, default=DEFAULT_TOP_N,
                   help="two-stage: embedding candidates to rerank (default %(default)s)")
    p.add_argument("--top-k", "-k", type=int, default=DEFAULT_TOP_K, help="results (default %(default)s)")


def _split_option(p) -> None:
    p.add_argument("--split", choices=SPLIT_MODES, default="sentences",
                   help="how a text corpus is cut into passages (default %(default)s)")


def _batch_and_json(p) -> None:
    p.add_argument("--batch-size", type=int, default=32, help="pairs/texts per forward (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON")


if __name__ == "__main__":
    sys.exit(main())
