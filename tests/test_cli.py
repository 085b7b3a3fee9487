"""The CLI through ``main(argv)``: model-free with fake scorers patched in, then with real model files."""

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minilm_np import cli
from minilm_np.cli import commands
from minilm_np.cli.output import progress_bar
from minilm_np.errors import HubError
from helpers import BEIR, NEEDS_NUMBA, TEXTS, FakeEmbedder, FakeReranker

FIXTURE_MODELS = Path(__file__).parent / "fixtures" / "models"


class Asked(list):
    """(kind, name) of each model the CLI loaded, in order; ``kernels``: (kind, kernels) of each."""

    def __init__(self):
        super().__init__()
        self.kernels = []


@pytest.fixture
def fakes(monkeypatch):
    """Every model the CLI loads is a fake; returns what it was asked for (an ``Asked``)."""
    asked = Asked()

    def embedder(name, option="--embedder", kernels="numpy"):
        asked.append(("embedder", name))
        asked.kernels.append(("embedder", kernels))
        return FakeEmbedder()

    def reranker(name, option="--reranker", kernels="numpy"):
        asked.append(("reranker", name))
        asked.kernels.append(("reranker", kernels))
        return FakeReranker()

    monkeypatch.setattr(commands, "load_embedder", embedder)
    monkeypatch.setattr(commands, "load_reranker", reranker)
    return asked


@pytest.fixture
def corpus_file(tmp_path):
    f = tmp_path / "corpus.txt"
    f.write_text(" ".join(TEXTS), encoding="utf-8")
    return f


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------------------------
# Without models
# --------------------------------------------------------------------------------------------------

def test_models(capsys):
    code, out, err = run(capsys, "models")
    assert code == 0 and err == ""
    assert "cross-encoder/ms-marco-MiniLM-L-6-v2" in out and "TinyBERT-L-2" in out
    code, out, _ = run(capsys, "models", "--json")
    rows = json.loads(out)
    assert {"size", "hub_id", "layers", "hidden", "parameters", "trec_dl19_ndcg10", "msmarco_dev_mrr10"} <= set(rows[0])


def test_models_shows_architecture_pooling_prompts_and_head(capsys):
    code, out, _ = run(capsys, "models")
    assert "BAAI/bge-reranker-base" in out and "XLMRobertaForSequenceClassification" in out
    assert "cls + Normalize" in out and "out_proj(gelu(dense(h[CLS]))), 1 label" in out
    rows = json.loads(run(capsys, "models", "--json")[1])
    arctic = next(r for r in rows if r["hub_id"] == "Snowflake/snowflake-arctic-embed-xs")
    assert (arctic["architecture"], arctic["kind"], arctic["pooling"], arctic["max_length"]) == \
        ("BertModel", "embedder", "cls + Normalize", 512) and "Represent this sentence" in arctic["prompts"]
    assert {r["architecture"] for r in rows if r["size"]} == {"BertForSequenceClassification"}


def test_usage_errors_exit_2(capsys):
    assert run(capsys, "search", "q")[0] == 2  # neither --corpus nor --index
    assert run(capsys, "frobnicate")[0] == 2
    assert run(capsys, "index")[0] == 2
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "search" in out


@pytest.mark.parametrize("mode", ["rerank", "embed", "two-stage"])
def test_search_json_schema(capsys, fakes, corpus_file, mode):
    code, out, err = run(capsys, "search", "people live in berlin", "--corpus", str(corpus_file), "--mode", mode,
                         "--top-n", "3", "--top-k", "2", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["query"] == "people live in berlin" and d["mode"] == mode
    assert len(d["results"]) == 2
    for hit in d["results"]:
        assert {"id", "text", "score"} <= set(hit)
        assert ("first_stage_rank" in hit) == (mode == "two-stage")
        assert ("first_stage_score" in hit) == (mode == "two-stage")
    expected = {"rerank": {"reranking"}, "embed": {"query_embedding", "similarity"},
                "two-stage": {"query_embedding", "similarity", "reranking"}}[mode]
    assert expected | {"total"} <= set(d["timings"])
    assert ("corpus_embedding" in d["timings"]) == (mode != "rerank")  # embedded on the fly, timed apart
    assert d["corpus_size"] == len(TEXTS)


def test_two_stage_results_come_from_the_embedding_top_n(capsys, fakes, corpus_file):
    args = ["people live in berlin city", "--corpus", str(corpus_file), "--top-n", "3", "--json"]
    _, out, _ = run(capsys, "search", *args, "--mode", "embed", "--top-k", "3")
    pool = [h["id"] for h in json.loads(out)["results"]]
    _, out, _ = run(capsys, "search", *args, "--mode", "two-stage", "--top-k", "2")
    hits = json.loads(out)["results"]
    assert {h["id"] for h in hits} <= set(pool)
    assert all(pool[h["first_stage_rank"] - 1] == h["id"] for h in hits)


def test_search_text_output(capsys, fakes, corpus_file):
    code, out, _ = run(capsys, "search", "paris river", "--corpus", str(corpus_file), "--mode", "two-stage")
    assert code == 0
    assert "The Seine is a river in Paris." in out
    assert "reranking" in out and "corpus embedding" in out


def test_index_build_then_search_and_mismatch(capsys, fakes, corpus_file, tmp_path):
    code, out, err = run(capsys, "index", "build", "--corpus", str(corpus_file), "--out", str(tmp_path / "idx"))
    assert code == 0, err
    assert "indexed 6 passages" in out
    assert json.loads((tmp_path / "idx" / "manifest.json").read_text(encoding="utf-8"))["embedder"] == "fake-embedder"
    code, out, _ = run(capsys, "search", "paris france", "--index", str(tmp_path / "idx"), "--mode", "embed", "--json")
    d = json.loads(out)
    assert code == 0 and d["results"][0]["text"] == "Paris is the capital of France."
    assert "corpus_embedding" not in d["timings"]  # the index was built ahead of time
    assert ("embedder", "fake-embedder") in fakes  # no --embedder: the index's own
    code, out, _ = run(capsys, "search", "paris france", "--index", str(tmp_path / "idx"), "--mode", "rerank", "--json")
    assert code == 0 and json.loads(out)["results"][0]["text"] == "Paris is the capital of France."

    def other(name, option=None, kernels="numpy"):
        e = FakeEmbedder()
        e.name = "other-embedder"
        return e

    commands.load_embedder = other  # undone by the monkeypatch fixture
    code, out, err = run(capsys, "search", "paris", "--index", str(tmp_path / "idx"), "--mode", "embed",
                         "--embedder", "x")
    assert code == 1 and out == ""
    assert "fake-embedder" in err and "other-embedder" in err and err.count("\n") == 1


def test_index_shards_merge_into_the_one_machine_index(capsys, fakes, corpus_file, tmp_path):
    code, _, err = run(capsys, "index", "build", "--corpus", str(corpus_file), "--out", str(tmp_path / "one"))
    assert code == 0, err
    for i in range(2):
        code, out, err = run(capsys, "index", "build", "--corpus", str(corpus_file), "--out", str(tmp_path / f"s{i}"),
                             "--shard", f"{i}/2")
        assert code == 0, err
        assert f"indexed shard {i}/2 (3 of 6 passages)" in out
    code, out, err = run(capsys, "index", "merge", str(tmp_path / "s1"), str(tmp_path / "s0"), "--out",
                         str(tmp_path / "merged"))
    assert code == 0, err
    assert "merged 2 indexes: 6 passages by fake-embedder" in out
    for name in ("embeddings.npy", "ids.utf8", "ids.offsets.npy", "texts.utf8", "texts.offsets.npy"):
        assert (tmp_path / "merged" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    code, _, err = run(capsys, "index", "merge", str(tmp_path / "s1"), "--out", str(tmp_path / "half"))
    assert code == 1 and "shard 0/2 of 2 is missing" in err and err.count("\n") == 1
    code, _, err = run(capsys, "index", "merge", str(tmp_path / "s1"), "--out", str(tmp_path / "half"), "--partial")
    assert code == 0, err


def test_index_with_an_ann_index_and_exact_search(capsys, fakes, corpus_file, tmp_path):
    pytest.importorskip("faiss", reason='approximate search needs faiss: pip install "minilm-np[ann]"')
    code, out, err = run(capsys, "index", "build", "--corpus", str(corpus_file), "--out", str(tmp_path / "idx"),
                         "--ann", "hnsw", "--hnsw-m", "8", "--ef-search", "32")
    assert code == 0, err
    assert "with an hnsw index" in out
    assert (tmp_path / "idx" / "ann.faiss").is_file()
    search = ["search", "paris france", "--index", str(tmp_path / "idx"), "--mode", "embed", "--json"]
    code, out, err = run(capsys, *search)
    approximate = json.loads(out)
    assert code == 0 and approximate["ann"] == "hnsw", err
    code, out, _ = run(capsys, *search, "--exact")
    exact = json.loads(out)
    assert exact["ann"] is None and exact["results"] == approximate["results"]
    code, out, _ = run(capsys, "search", "paris france", "--index", str(tmp_path / "idx"), "--mode", "embed",
                       "--candidates", "50")
    assert code == 0 and "(hnsw candidates, re-scored exactly)" in out
    code, _, err = run(capsys, *search, "--nprobe", "4")
    assert code == 1 and "nprobe applies to ivfpq indexes" in err
    code, _, err = run(capsys, *search, "--exact", "--nprobe", "4")
    assert code == 1 and "--nprobe applies to an --index built with --ann" in err
    # a corpus is scanned flat: the options are refused, not ignored (they were, whatever their value)
    code, _, err = run(capsys, "search", "paris", "--corpus", str(corpus_file), "--mode", "embed", "--candidates", "0")
    assert code == 1 and "--candidates applies to an --index built with --ann" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--ef-search", "16"], "--ef-search needs --ann hnsw or --ann ivfpq"),
        (["--ray-address", "auto"], "--ray-address, --ray-actors and --ray-cpus-per-actor need --engine ray"),
        (["--shard", "2/2"], "a shard is I/N with 0 <= I < N"),
        (["--shard", "0/2", "--ann", "hnsw"], "build it when merging the shards"),
        (["--engine", "ray"], 'pip install "minilm-np[ray]"'),
    ],
)
def test_index_build_options_are_checked(capsys, fakes, corpus_file, tmp_path, monkeypatch, argv, message):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    code, _, err = run(capsys, "index", "build", "--corpus", str(corpus_file), "--out", str(tmp_path / "idx"), *argv)
    assert code == 1 and message in err and err.count("\n") == 1
    assert not (tmp_path / "idx").exists()


def test_compare(capsys, fakes, corpus_file):
    code, out, err = run(capsys, "compare", "people live in berlin", "--corpus", str(corpus_file), "--top-k", "3",
                         "--top-n", "4")
    assert code == 0, err
    for word in ("rerank", "embed", "two-stage", "corpus embedding", "overlap", "seconds"):
        assert word in out
    code, out, _ = run(capsys, "compare", "people live in berlin", "--corpus", str(corpus_file), "--json")
    d = json.loads(out)
    assert set(d["methods"]) == {"rerank", "embed", "two-stage"}
    assert d["corpus_embedding_seconds"] >= 0
    assert set(d["overlap"]) == {"rerank & embed", "rerank & two-stage", "embed & two-stage"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["search", "q", "--corpus", "{tmp}/missing.txt"], "corpus not found"),
        (["search", "q", "--corpus", "{tmp}/empty.txt"], "no passages"),
        (["search", "q", "--corpus", "{tmp}/bad.jsonl"], "line 2: not valid JSON"),
        (["search", "q", "--index", "{tmp}"], "manifest.json is missing"),
        (["search", "q", "--corpus", "{tmp}/empty.txt", "--top-k", "0"], "--top-k must be"),
        (["rank", "q"], "no documents"),
        (["embed"], "nothing to embed"),
        (["eval", "--corpus", "{tmp}/bad.jsonl"], "needs --cranfield"),
    ],
)
def test_errors_are_one_line(capsys, fakes, tmp_path, argv, message):
    (tmp_path / "empty.txt").write_text("\n \n", encoding="utf-8")
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n{oops\n', encoding="utf-8")
    code, out, err = run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 1
    assert message in err
    assert err.startswith("minilm-np: error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_debug_shows_the_exception(fakes, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        cli.main(["search", "q", "--corpus", str(tmp_path / "missing.txt"), "--debug"])
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        cli.main(["--debug", "search", "q", "--corpus", str(tmp_path / "missing.txt")])


def test_keyboard_interrupt_exits_130(capsys, monkeypatch, corpus_file):
    def interrupted(name, option=None, kernels="numpy"):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "load_embedder", interrupted)
    code, _, err = run(capsys, "search", "q", "--corpus", str(corpus_file), "--mode", "embed")
    assert code == 130 and "interrupted" in err


def test_model_load_error_is_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "rank", "q", "d", "--model", str(tmp_path / "no-such-model"))
    assert code == 1 and err.count("\n") == 1 and "no-such-model" in err


def test_no_progress_bar_when_stderr_is_not_a_terminal(capsys, fakes, corpus_file):
    code, _, err = run(capsys, "search", "q", "--corpus", str(corpus_file), "--mode", "rerank")
    assert code == 0 and err == ""


def test_progress_bar_on_a_terminal_unless_quiet(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    with progress_bar(False, 10, "x", "item") as progress:
        assert callable(progress)
        progress(10)
    with progress_bar(True, 10, "x", "item") as progress:
        assert progress is None


def _cranfield_like(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("\n".join(json.dumps({"id": f"d{i}", "text": t}) for i, t in enumerate(TEXTS)), encoding="utf-8")
    queries = tmp_path / "q.tsv"
    queries.write_text("q1\tpeople in berlin\nq2\tparis river\nq3\tunjudged query\n", encoding="utf-8")
    qrels = tmp_path / "qrels"
    qrels.write_text("q1 d2 2\nq1 d0 1\nq2 d3 1\n", encoding="utf-8")
    return ["--corpus", str(corpus), "--queries", str(queries), "--qrels", str(qrels)]


def test_eval_on_files(capsys, fakes, tmp_path):
    files = _cranfield_like(tmp_path)
    code, out, err = run(capsys, "eval", *files, "--top-n", "3", "--rerank-pool", "0", "--json", "--recall-at", "5")
    assert code == 0, err
    d = json.loads(out)
    assert d["queries"] == 2 and "1 query without judgements skipped" in d["setup"]
    assert set(d["methods"]) == {"embed", "rerank (all passages)", "two-stage (top-3)"}
    for m in d["methods"].values():
        assert {"ndcg@10", "mrr@10", "recall@5", "seconds_per_query"} <= set(m)
        assert 0 <= m["ndcg@10"] <= 1
    assert d["methods"]["embed"]["mrr@10"] == 1.0  # both queries: a relevant passage first
    code, out, _ = run(capsys, "eval", *files, "--methods", "embed,two-stage", "--limit-queries", "1")
    assert code == 0 and "nDCG@10" in out and "s/query" in out
    assert not any(line.startswith("rerank") for line in out.splitlines())  # not asked for
    code, _, err = run(capsys, "eval", *files, "--methods", "bm25")
    assert code == 1 and "--methods" in err
    code, _, err = run(capsys, "eval", *files, "--rerank-pool", "-1")  # said "k must be positive"
    assert code == 1 and "--rerank-pool must be 0 (every passage) or positive, got -1" in err


def test_eval_on_a_beir_collection(capsys, fakes, tmp_path):
    code, out, err = run(capsys, "eval", "--beir", str(BEIR), "--json", "--top-n", "4", "--rerank-pool", "0")
    assert code == 0, err
    d = json.loads(out)
    assert d["queries"] == 3 and "split test" in d["setup"] and "title" in d["setup"]
    assert set(d["methods"]) == {"embed", "two-stage (top-4)", "rerank (all passages)"}
    code, out, err = run(capsys, "eval", "--beir", str(BEIR), "--split", "dev", "--methods", "embed", "--json")
    assert code == 0, err
    assert json.loads(out)["queries"] == 1
    code, _, err = run(capsys, "eval", "--beir", str(BEIR), "--split", "train")
    assert code == 1 and "qrels/train.tsv not found" in err and "dev, test" in err


def test_eval_on_beir_leaves_the_querys_own_document_out(capsys, fakes, tmp_path):
    """As BEIR's EvaluateRetrieval does by default (ArguAna and Quora hold every query in the corpus)."""
    beir = tmp_path / "self-retrieval"
    (beir / "qrels").mkdir(parents=True)
    docs = [("q1", "How many people live in Berlin?"), ("d2", "People live in Berlin."), ("d3", "Paris.")]
    (beir / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": "", "text": t}) + "\n" for i, t in docs))
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": docs[0][1]}) + "\n")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\n")
    code, out, err = run(capsys, "eval", "--beir", str(beir), "--methods", "embed", "--json", "--k", "1",
                         "--recall-at", "1", "--run-out", str(tmp_path / "run.trec"))
    assert code == 0, err
    d = json.loads(out)
    assert "ignore_identical_ids" in d["setup"]
    assert d["methods"]["embed"]["ndcg@1"] == 1.0  # q1 itself (cosine 1) would have been first: 0.0
    ranked = [line.split()[2] for line in (tmp_path / "run.trec").read_text().splitlines()]
    assert ranked == ["d2"]  # fetched two (q1, d2), q1 left out


def test_split_means_beir_on_eval_and_passages_elsewhere(capsys, fakes, tmp_path, corpus_file):
    code, _, err = run(capsys, "eval", *_cranfield_like(tmp_path), "--split", "lines")
    assert code == 1 and "--split chooses a BEIR split" in err and "--passages" in err
    code, out, err = run(capsys, "search", "q", "--corpus", str(corpus_file), "--split", "paragraphs", "--json",
                         "--mode", "embed")  # the old spelling of --passages, kept on the other commands
    assert code == 0 and json.loads(out)["corpus_size"] == 1, err


def test_eval_run_files_score_alike_in_trec_eval(capsys, fakes, tmp_path):
    pytrec_eval = pytest.importorskip("pytrec_eval", reason="the test extra installs pytrec-eval-terrier")
    from minilm_np.evaluation.datasets.trec import read_qrels

    code, out, err = run(capsys, "eval", "--beir", str(BEIR), "--run-out", str(tmp_path / "run.trec"), "--json",
                         "--top-n", "3", "--rerank-pool", "5", "--k", "3", "--recall-at", "5")
    assert code == 0, err
    d = json.loads(out)
    assert set(d["run_files"].values()) == {str(tmp_path / f"run.{m}.trec") for m in ("embed", "two-stage", "rerank")}
    qrels = {q: {doc: int(g) for doc, g in judged.items()} for q, judged in read_qrels(BEIR / "qrels/test.tsv").items()}
    for label, path in d["run_files"].items():
        lines = [line.split() for line in Path(path).read_text(encoding="utf-8").splitlines()]
        assert {line[1] for line in lines} == {"Q0"} and len({line[5] for line in lines}) == 1
        run_dict = {}
        for q, _, doc, rank, score, _ in lines:
            run_dict.setdefault(q, {})[doc] = float(score)
        trec = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.3", "recall.5"}).evaluate(run_dict)
        ours = d["methods"][label]
        assert ours["ndcg@3"] == pytest.approx(sum(v["ndcg_cut_3"] for v in trec.values()) / len(trec), abs=1e-9)
        assert ours["recall@5"] == pytest.approx(sum(v["recall_5"] for v in trec.values()) / len(trec), abs=1e-9)
    code, _, err = run(capsys, "eval", "--beir", str(BEIR), "--run-out", str(tmp_path / "nodir" / "run.trec"))
    assert code == 1 and "the directory" in err and "does not exist" in err


def test_eval_reuses_a_saved_index_and_refuses_another_corpus(capsys, fakes, tmp_path):
    idx = tmp_path / "idx"
    code, out, err = run(capsys, "eval", "--beir", str(BEIR), "--methods", "embed", "--index", str(idx))
    assert code == 0, err
    assert f"saved to {idx}" in out and (idx / "manifest.json").is_file()
    first = out.splitlines()[-1]
    code, out, err = run(capsys, "eval", "--beir", str(BEIR), "--methods", "embed", "--index", str(idx))
    assert code == 0, err
    assert f"the index in {idx} was searched" in out and out.splitlines()[-1].split()[:4] == first.split()[:4]
    assert fakes.count(("embedder", "fake-embedder")) == 1  # no --embedder: the one that built the index
    code, out, err = run(capsys, "eval", *_cranfield_like(tmp_path), "--index", str(idx))
    assert code == 1 and "built from another corpus" in err and err.count("\n") == 1

    def other(name, option=None, kernels="numpy"):
        e = FakeEmbedder()
        e.name = "other-embedder"
        return e

    commands.load_embedder = other  # undone by the monkeypatch fixture
    code, _, err = run(capsys, "eval", "--beir", str(BEIR), "--index", str(idx), "--embedder", "x")
    assert code == 1 and "fake-embedder" in err and "other-embedder" in err


def test_eval_without_a_reranker_runs_what_it_can(capsys, fakes, tmp_path, monkeypatch):
    def offline(name, option="--reranker", kernels="numpy"):
        raise HubError(f"model '{name}' offline and not in the local cache.", name)

    monkeypatch.setattr(commands, "load_reranker", offline)
    code, out, err = run(capsys, "eval", "--beir", str(BEIR))  # default methods
    assert code == 0, err
    assert "warning: the reranker could not be loaded" in err and "--methods embed" in err
    methods = [line.split()[0] for line in out.splitlines() if line.startswith(("embed ", "two-stage", "rerank"))]
    assert methods == ["embed"]
    code, out, err = run(capsys, "eval", "--beir", str(BEIR), "--methods", "embed,two-stage")  # asked for
    assert code == 1 and "offline" in err and "Without a reranker, eval can run --methods embed" in err


def test_help_shows_the_defaults(capsys):
    code, out, _ = run(capsys, "eval", "--help")
    assert code == 0
    flat = " ".join(out.split())
    for text in ("default: all three when the reranker can be loaded, else embed alone",
                 "default L-6, which comes from the Hugging Face Hub",
                 "default test", "(default 10)", "(default 100)", "(default 32)"):
        assert text in flat, text
    code, out, _ = run(capsys, "embed", "--help")
    assert "ends in Normalize" in " ".join(out.split())


def test_rank_takes_documents_from_arguments_and_a_file_together(capsys, fakes, tmp_path):
    docs = tmp_path / "docs.txt"
    docs.write_text("Paris is in France.\n\nBerlin people live here.\n", encoding="utf-8")
    code, out, err = run(capsys, "rank", "berlin people", "First argument.", "--docs-file", str(docs),
                         "Berlin people argument after the option.", "--json")
    assert code == 0, err
    hits = json.loads(out)["results"]
    by_id = {h["id"]: (h["index"], h["text"]) for h in hits}
    assert by_id == {"1": (0, "First argument."), "2": (1, "Berlin people argument after the option."),
                     "3": (2, "Paris is in France."), "4": (3, "Berlin people live here.")}
    code, _, err = run(capsys, "rank", "q", "d", "--frobnicate")
    assert code == 2 and "unrecognized arguments: --frobnicate" in err


def test_a_file_named_dash_is_the_standard_input(capsys, fakes, tmp_path, monkeypatch):
    docs = tmp_path / "docs.txt"
    docs.write_text("Paris is in France.\n\nBerlin people live here.\n", encoding="utf-8")
    _, from_file, _ = run(capsys, "rank", "berlin people", "First argument.", "--docs-file", str(docs), "--json")
    monkeypatch.setattr("sys.stdin", io.StringIO(docs.read_text(encoding="utf-8")))
    code, from_stdin, err = run(capsys, "rank", "berlin people", "First argument.", "--docs-file", "-", "--json")
    assert code == 0, err
    assert json.loads(from_stdin)["results"] == json.loads(from_file)["results"]
    assert len(json.loads(from_stdin)["results"]) == 3
    monkeypatch.setattr("sys.stdin", io.StringIO("\n  \n"))  # nothing but blank lines
    code, _, err = run(capsys, "rank", "q", "--docs-file", "-")
    assert code == 1 and "no documents to rank" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("one\ntwo\n"))
    code, out, err = run(capsys, "embed", "--file", "-", "--json")
    assert code == 0, err
    assert [row["text"] for row in json.loads(out)["embeddings"]] == ["one", "two"]


def test_rank_and_search_number_passages_alike(capsys, fakes, tmp_path):
    docs = tmp_path / "docs.txt"
    docs.write_text("\n".join(TEXTS), encoding="utf-8")
    _, out, _ = run(capsys, "rank", "berlin people", "--docs-file", str(docs), "--json", "--top-k", "3")
    ranked = [(h["id"], h["index"], h["text"]) for h in json.loads(out)["results"]]
    _, out, _ = run(capsys, "search", "berlin people", "--corpus", str(docs), "--passages", "lines", "--mode",
                    "rerank", "--top-k", "3", "--json")
    searched = [(h["id"], h["index"], h["text"]) for h in json.loads(out)["results"]]
    assert ranked == searched and ranked[0][:2] == ("3", 2)  # id: 1-based string; index: 0-based position


@pytest.mark.parametrize("command", [["rank", " ", "a doc"],
                                     ["search", " ", "--corpus", "{corpus}", "--mode", "rerank"]])
def test_an_empty_query_is_refused_alike(capsys, fakes, corpus_file, command):
    code, _, err = run(capsys, *[a.replace("{corpus}", str(corpus_file)) for a in command])
    assert code == 1 and err == "minilm-np: error: query is empty\n"


def test_two_stage_refuses_more_results_than_its_pool(capsys, fakes, corpus_file):
    code, out, err = run(capsys, "search", "q", "--corpus", str(corpus_file), "-n", "2", "-k", "5")
    assert code == 1 and out == ""
    assert "--top-k (5) is larger than --top-n (2)" in err and "at most 2 passages" in err
    assert fakes == []  # refused before any model was loaded
    code, _, err = run(capsys, "compare", "q", "--corpus", str(corpus_file), "-n", "2", "-k", "5")
    assert code == 1 and "--top-k (5) is larger than --top-n (2)" in err


def test_output_paths_are_checked_in_words_before_the_work(capsys, fakes, corpus_file, tmp_path):
    code, _, err = run(capsys, "index", "build", "--corpus", str(corpus_file), "--out", str(corpus_file))
    assert code == 1 and "is a file, and an index is a directory" in err and "Errno" not in err
    assert fakes == []
    code, _, err = run(capsys, "embed", "a", "--out", "/nonexistent/dir/v.npy")
    assert code == 1 and err == ("minilm-np: error: --out /nonexistent/dir/v.npy: the directory /nonexistent/dir "
                                 "does not exist; create it first\n")
    code, _, err = run(capsys, "embed", "a", "--out", str(tmp_path))
    assert code == 1 and "is a directory; give a file name" in err


def test_counts_read_as_english(capsys, fakes, tmp_path):
    one = tmp_path / "one.txt"
    one.write_text("Only one passage here.", encoding="utf-8")
    code, out, _ = run(capsys, "index", "build", "--corpus", str(one), "--out", str(tmp_path / "idx"))
    assert code == 0 and "indexed 1 passage from" in out
    _, out, _ = run(capsys, "search", "passage", "--corpus", str(one), "--mode", "embed")
    assert "top 1 of 1 passage for" in out


def test_os_errors_read_without_errno(capsys, fakes, tmp_path):
    from minilm_np.cli.output import one_line

    assert one_line(PermissionError(13, "Permission denied", "/x/y")) == "/x/y: Permission denied"
    assert one_line(FileNotFoundError("corpus not found: a.txt")) == "corpus not found: a.txt"


def test_a_closed_pipe_ends_quietly():
    """`minilm-np models | head -0`: no complaint on stderr, the status a shell gives a tool SIGPIPE ended."""
    read, write = os.pipe()
    os.close(read)  # the reader has gone before anything is written
    proc = subprocess.run([sys.executable, "-m", "minilm_np", "models"], stdout=write, stderr=subprocess.PIPE,
                          text=True, timeout=120)
    os.close(write)
    assert proc.stderr == "" and proc.returncode == 141


# --------------------------------------------------------------------------------------------------
# With model files
# --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def tiny_models():
    ce, emb = FIXTURE_MODELS / "tiny-ce-1", FIXTURE_MODELS / "tiny-embedder"
    if not (ce / "config.json").is_file() or not (emb / "config.json").is_file():
        pytest.skip(f"tiny fixture models not found under {FIXTURE_MODELS}")
    return ce, emb


def test_rank_and_inspect_with_tiny_models(capsys, tiny_models, tmp_path):
    ce, _ = tiny_models
    code, out, err = run(capsys, "rank", "how many people live in berlin", "berlin has 3.5 million people",
                         "paris is in france", "--model", str(ce), "--json")
    assert code == 0, err
    d = json.loads(out)
    assert len(d["results"]) == 2 and {"id", "index", "score", "text"} <= set(d["results"][0])
    code, out, err = run(capsys, "inspect", "how many people", "berlin", "a much longer passage here",
                         "--model", str(ce))
    assert code == 0, err
    assert "input_ids" in out and "[CLS]" in out and "[SEP]" in out and "[PAD]" in out and "type" in out


def test_kernels_option_reaches_every_model_before_or_after_the_command(capsys, fakes, corpus_file):
    assert run(capsys, "rank", "q", "a passage")[0] == 0
    assert run(capsys, "--kernels", "numba", "rank", "q", "a passage")[0] == 0
    assert run(capsys, "search", "q", "--corpus", str(corpus_file), "--kernels", "numba")[0] == 0
    assert fakes.kernels[:2] == [("reranker", "numpy"), ("reranker", "numba")]
    assert sorted(fakes.kernels[2:]) == [("embedder", "numba"), ("reranker", "numba")]  # search: both models
    code, _, err = run(capsys, "rank", "q", "a", "--kernels", "cuda")
    assert code == 2 and "invalid choice: 'cuda'" in err


@NEEDS_NUMBA
def test_rank_with_numba_kernels_scores_as_numpy_within_the_logit_tolerance(capsys, tiny_models):
    ce, _ = tiny_models
    argv = ["rank", "how many people live in berlin", "berlin has 3.5 million people", "paris is in france",
            "--model", str(ce), "--json"]
    scores = {}
    for kernels in ("numpy", "numba"):
        code, out, err = run(capsys, *argv, "--kernels", kernels)
        assert code == 0, err
        scores[kernels] = {r["index"]: r["score"] for r in json.loads(out)["results"]}
    assert scores["numpy"].keys() == scores["numba"].keys()
    assert max(abs(scores["numpy"][i] - scores["numba"][i]) for i in scores["numpy"]) < 1e-5


def test_search_and_eval_with_tiny_models(capsys, tiny_models, tmp_path, corpus_file):
    ce, emb = tiny_models
    code, out, err = run(capsys, "search", "people in berlin", "--corpus", str(corpus_file), "--reranker", str(ce),
                         "--embedder", str(emb), "--json")
    assert code == 0, err
    assert len(json.loads(out)["results"]) == 5
    code, out, err = run(capsys, "eval", *_cranfield_like(tmp_path), "--reranker", str(ce), "--embedder", str(emb))
    assert code == 0, err


def test_inspect_png(capsys, tiny_models, tmp_path):
    pytest.importorskip("matplotlib", reason="the plot extra is not installed")
    ce, _ = tiny_models
    code, out, err = run(capsys, "inspect", "q", "a passage", "--model", str(ce), "--png", str(tmp_path / "b.png"))
    assert code == 0, err
    assert (tmp_path / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_inspect_png_without_matplotlib(capsys, tiny_models, tmp_path, monkeypatch):
    ce, _ = tiny_models
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.colors", None)
    code, out, err = run(capsys, "inspect", "q", "a passage", "--model", str(ce), "--png", str(tmp_path / "b.png"))
    assert code == 1 and out == ""  # refused before the table is printed
    assert err.count("\n") == 1 and 'pip install "minilm-np[plot]"' in err
    assert not (tmp_path / "b.png").exists()


def test_embed_with_the_real_embedder(capsys, minilm_dir, tmp_path):
    code, out, err = run(capsys, "embed", "Berlin", "Paris", "--model", str(minilm_dir),
                         "--out", str(tmp_path / "e.npy"))
    assert code == 0, err
    e = np.load(tmp_path / "e.npy")
    assert e.shape == (2, 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)


def test_index_with_the_real_embedder(capsys, minilm_dir, tmp_path):
    corpus = tmp_path / "berlin.txt"
    corpus.write_text("Berlin had a population of 3,520,031 registered inhabitants. Berlin is well known for its "
                      "museums. The Eiffel Tower is in Paris.", encoding="utf-8")
    code, _, err = run(capsys, "index", "build", "--corpus", str(corpus), "--out", str(tmp_path / "idx"),
                       "--embedder", str(minilm_dir))
    assert code == 0, err
    code, out, err = run(capsys, "search", "How many people live in Berlin?", "--index", str(tmp_path / "idx"),
                         "--mode", "embed", "--json")
    assert code == 0, err
    assert json.loads(out)["results"][0]["id"] == "1"


def test_console_script():
    exe = shutil.which("minilm-np")
    if exe is None:
        pytest.skip("the minilm-np console script is not on PATH (pip install -e .)")
    proc = subprocess.run([exe, "models"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "cross-encoder/ms-marco-MiniLM-L-6-v2" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "minilm_np", "search", "q", "--corpus", "/nonexistent/x.txt"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.startswith("minilm-np: error:") and "Traceback" not in proc.stderr


def test_activation_choices_are_the_apis(capsys, tiny_models):
    from minilm_np.cross_encoder import ACTIVATIONS
    from minilm_np.cli.main import ACTIVATION_NAMES

    assert ACTIVATION_NAMES == tuple("none" if a is None else a for a in ACTIVATIONS)
    ce, _ = tiny_models
    code, out, err = run(capsys, "rank", "q", "a", "b", "--model", str(ce), "--activation", "softmax")
    assert code == 1 and "softmax' over the one label" in err and "sigmoid" in err
    code, out, err = run(capsys, "rank", "q", "a", "b", "--model", str(ce), "--activation", "sigmoid", "--json")
    assert code == 0 and all(0 < h["score"] < 1 for h in json.loads(out)["results"])


def test_embed_warns_where_the_model_will_not_do_what_was_asked(capsys, tiny_models):
    ce, emb = tiny_models
    code, out, err = run(capsys, "embed", "a text", "--model", str(emb), "--no-normalize", "--json")
    assert code == 0 and err.startswith("minilm-np: warning: ") and "ends in a Normalize module" in err
    vector = json.loads(out)["embeddings"][0]["vector"]
    assert abs(np.linalg.norm(vector) - 1) < 1e-5  # unit length, as the warning says
    code, out, err = run(capsys, "embed", "a text", "--model", str(ce))
    assert code == 0 and err.count("\n") == 1
    assert err.startswith("minilm-np: warning: ") and "is a cross-encoder" in err and "mean-pooled" in err


def test_offline_hub_advice_speaks_of_the_option(capsys, monkeypatch):
    from minilm_np.checkpoint.hub import resolve

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        resolve("L-6")
        pytest.skip("cross-encoder/ms-marco-MiniLM-L-6-v2 is in the local Hugging Face cache")
    except HubError:
        pass
    code, _, err = run(capsys, "rank", "q", "d")
    assert code == 1 and err.count("\n") == 1
    assert "--model /path/to/model-dir" in err and "from_pretrained" not in err
    assert "HF_HUB_OFFLINE is set" in err and "local_files_only=False" not in err
    code, _, err = run(capsys, "eval", "--beir", str(BEIR), "--methods", "rerank", "--reranker", "L-2")
    assert code == 1 and "--reranker /path/to/model-dir" in err


# --------------------------------------------------------------------------------------------------
# Long passages and explain (issue 11)
# --------------------------------------------------------------------------------------------------

def test_search_and_compare_pass_long_passages_and_say_what_was_cut(capsys, fakes, tmp_path, monkeypatch):
    reranker = FakeReranker()
    monkeypatch.setattr(commands, "load_reranker", lambda name, kernels: reranker)
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(["Berlin is a city. " * 20, "Paris is a city.", "People live in Berlin. " * 15]),
                      encoding="utf-8")  # two passages over the fake's 200 characters
    base = ["people live in berlin", "--corpus", str(corpus), "--passages", "lines", "--mode", "rerank"]
    code, out, err = run(capsys, "search", *base)
    assert code == 0, err
    assert "long passages: 2 of 3 cut at the reranker's maximum length (--long-passages maxp" in out
    code, out, err = run(capsys, "search", *base, "--long-passages", "maxp", "--stride", "10", "--json")
    assert code == 0, err
    assert json.loads(out)["long_passages"] == {"mode": "maxp", "passages": 3, "windows": 5, "truncated": 0,
                                                 "query_truncated": 0}
    assert reranker.long_passages[-1] == "maxp"
    code, out, err = run(capsys, "compare", "people live in berlin", "--corpus", str(corpus), "--passages", "lines",
                         "--long-passages", "firstp")
    assert code == 0, err
    assert "long passages: 6 read in" in out and "firstp" in out  # 3 by rerank, 3 by two-stage


def test_eval_reports_what_each_reranking_method_read(capsys, fakes, tmp_path):
    files = _cranfield_like(tmp_path)
    code, out, err = run(capsys, "eval", *files, "--top-n", "3", "--rerank-pool", "0", "--json")
    assert code == 0, err
    methods = json.loads(out)["methods"]
    assert "long_passages" not in methods["embed"]
    assert methods["two-stage (top-3)"]["long_passages"] == {"mode": "truncate", "passages": 6, "windows": 6,
                                                              "truncated": 0, "query_truncated": 0}  # 2 queries x 3
    assert methods["rerank (all passages)"]["long_passages"]["passages"] == 12
    code, out, _ = run(capsys, "eval", *files, "--methods", "two-stage", "--long-passages", "meanp")
    assert code == 0 and "two-stage (top-32): long passages: 12 read in 12 windows" in out


def test_rank_long_passages_with_the_tiny_model(capsys, tiny_models):
    ce, _ = tiny_models
    long = "the boundary layer grows with the distance from the leading edge. " * 8
    args = ["rank", "boundary layer", long, "a short one", "--model", str(ce)]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert "cut" in out and "long passages: 1 of 2 cut" in out
    code, out, err = run(capsys, *args, "--long-passages", "maxp", "--top-k", "1", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert len(d["results"]) == 1 and d["long_passages"]["passages"] == 2 and d["long_passages"]["truncated"] == 0
    assert d["long_passages"]["windows"] > 2
    code, _, err = run(capsys, *args, "--long-passages", "maxp", "--stride", "500")
    assert code == 1 and "stride 500 is wider than the" in err


def test_explain_with_the_tiny_model(capsys, tiny_models, tmp_path):
    ce, _ = tiny_models
    args = ["explain", "how many people live in berlin?", "berlin has 3,520,031 people.", "--model", str(ce)]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert "passage  berlin(" in out and "3,520,031(" in out and "helps most:" in out and "\x1b[" not in out
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    d = json.loads(out)
    assert [w["text"] for w in d["words"]] == "how many people live in berlin? berlin has 3,520,031 people.".split()
    assert {"model", "score", "truncated", "words"} <= set(d)


def test_explain_counts_the_words_past_the_cut_instead_of_listing_them(capsys, tiny_models):
    ce, _ = tiny_models
    code, out, err = run(capsys, "explain", "berlin", "city " * 300, "--model", str(ce))
    assert code == 0, err
    unread = out.count("city(")  # the read ones are listed, each with its number
    assert 0 < unread < 300 and f"+ {300 - unread} passage words not read: past the model's maximum length" in out
    code, out, err = run(capsys, "explain", "berlin", "city " * 300, "--model", str(ce), "--json")
    words = json.loads(out)["words"]
    assert len(words) == 301 and sum(not w["read"] for w in words) == 300 - unread  # the JSON keeps them all


def test_explain_colours_words_on_a_terminal(capsys, tiny_models, monkeypatch):
    ce, _ = tiny_models
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    code, out, err = run(capsys, "explain", "berlin", "berlin is a city", "--model", str(ce))
    assert code == 0, err
    assert "\x1b[" in out and "48;2;" in out and "berlin(" not in out


def test_explain_png(capsys, tiny_models, tmp_path):
    pytest.importorskip("matplotlib", reason="the plot extra is not installed")
    ce, _ = tiny_models
    code, out, err = run(capsys, "explain", "q", "a passage", "--model", str(ce), "--png", str(tmp_path / "e.png"))
    assert code == 0, err
    assert (tmp_path / "e.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "wrote" in out


def test_explain_png_without_matplotlib(capsys, tiny_models, tmp_path, monkeypatch):
    ce, _ = tiny_models
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.colors"):
        monkeypatch.setitem(sys.modules, name, None)
    code, out, err = run(capsys, "explain", "q", "a passage", "--model", str(ce), "--png", str(tmp_path / "e.png"))
    assert code == 1 and "helps most" in out and 'pip install "minilm-np[plot]"' in err


def test_embed_out_names_the_file_it_wrote(capsys, fakes, tmp_path):
    code, out, err = run(capsys, "embed", "a text", "another", "--out", str(tmp_path / "v"))
    assert code == 0, err
    assert out.rstrip().endswith(f"to {tmp_path / 'v.npy'}")  # np.save adds .npy; the message says so
    assert np.load(tmp_path / "v.npy").shape[0] == 2
