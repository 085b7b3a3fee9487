"""The CLI through ``main(argv)``: model-free with fake scorers patched in, then with real model files."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minilm_np import cli
from minilm_np.cli import commands
from minilm_np.cli.output import progress_bar
from helpers import TEXTS, FakeEmbedder, FakeReranker

FIXTURE_MODELS = Path(__file__).parent / "fixtures" / "models"


@pytest.fixture
def fakes(monkeypatch):
    """Every model the CLI loads is a fake; returns the names it was asked for."""
    asked = []

    def embedder(name):
        asked.append(("embedder", name))
        return FakeEmbedder()

    def reranker(name):
        asked.append(("reranker", name))
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

    def other(name):
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
    assert code == 1 and "--nprobe applies to an index built with --ann" in err


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
    def interrupted(name):
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
    assert d["queries"] == 2 and "1 queries without judgements skipped" in d["setup"]
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
    assert len(d["results"]) == 2 and {"corpus_id", "score", "text"} <= set(d["results"][0])
    code, out, err = run(capsys, "inspect", "how many people", "berlin", "a much longer passage here",
                         "--model", str(ce))
    assert code == 0, err
    assert "input_ids" in out and "[CLS]" in out and "[SEP]" in out and "[PAD]" in out and "type" in out


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
    assert code == 1 and "input_ids" in out  # the text view is still printed
    assert err.count("\n") == 1 and 'pip install "minilm-np[plot]"' in err
    assert not (tmp_path / "b.png").exists()


def test_embed_with_the_real_embedder(capsys, minilm_dir, tmp_path):
    code, out, err = run(capsys, "embed", "Berlin", "Paris", "--model", str(minilm_dir), "--out", str(tmp_path / "e.npy"))
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
