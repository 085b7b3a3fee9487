"""Queries and qrels files in the plain layouts (minilm_np.evaluation.datasets.trec)."""

import pytest

from minilm_np.evaluation.datasets.trec import Ranking, read_qrels, read_queries, write_run
from minilm_np.retrieval.corpus import CorpusError


def test_read_queries_in_three_layouts(tmp_path):
    (tmp_path / "q.jsonl").write_text('{"id": "q1", "text": "a?"}\n{"id": 2, "text": "b"}\n', encoding="utf-8")
    (tmp_path / "q.tsv").write_text("q1\ta?\n\nq2\tb\n", encoding="utf-8")
    (tmp_path / "q.txt").write_text("a? Still a.\n\nb\n", encoding="utf-8")
    assert read_queries(tmp_path / "q.jsonl") == [("q1", "a?"), ("2", "b")]
    assert read_queries(tmp_path / "q.tsv") == [("q1", "a?"), ("q2", "b")]
    assert read_queries(tmp_path / "q.txt") == [("1", "a? Still a."), ("2", "b")]  # one per line
    (tmp_path / "bad.tsv").write_text("q1 no tab\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="line 1"):
        read_queries(tmp_path / "bad.tsv")
    (tmp_path / "empty.jsonl").write_text('{"_id": "q1", "text": "  "}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match="^query file .*empty.jsonl has no passages"):  # said "corpus"
        read_queries(tmp_path / "empty.jsonl")
    (tmp_path / "twice.tsv").write_text("q1\ta\nq1\tb\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="^query file .*twice.tsv has duplicate id 'q1'$"):  # not "corpus"
        read_queries(tmp_path / "twice.tsv")


def test_read_qrels(tmp_path):
    f = tmp_path / "qrels.txt"
    f.write_text("# comment\nq1 d1 2\nq1 0 d2 1\n\nq2 d1 0\n", encoding="utf-8")
    assert read_qrels(f) == {"q1": {"d1": 2.0, "d2": 1.0}, "q2": {"d1": 0.0}}
    f.write_text("q1 d1\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="line 1"):
        read_qrels(f)
    f.write_text("q1 d1 2\nq1 d2 high\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="line 2: gain 'high' is not a number"):
        read_qrels(f)
    for gain in ("nan", "inf", "-1e400"):  # numbers to float(), but every metric of the query would be nan
        f.write_text(f"q1 d1 2\nq1 d2 {gain}\n", encoding="utf-8")
        with pytest.raises(CorpusError, match=f"line 2: gain '{gain}' is not a finite number"):
            read_qrels(f)
    with pytest.raises(FileNotFoundError, match="nope"):
        read_qrels(tmp_path / "nope")


def test_read_qrels_skips_a_beir_header_and_splits_at_tabs(tmp_path):
    f = tmp_path / "test.tsv"
    f.write_text("query-id\tcorpus-id\tscore\nq1\tdoc one\t1\r\nq1\td2\t0\n", encoding="utf-8")
    assert read_qrels(f) == {"q1": {"doc one": 1.0, "d2": 0.0}}  # an id with a space, a CRLF line
    f.write_text("query-id\tcorpus-id\tscore\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no judgements \\(only a header line\\)"):
        read_qrels(f)


def test_read_queries_takes_beir_ids(tmp_path):
    f = tmp_path / "queries.jsonl"
    f.write_text('{"_id": "q1", "text": "a?", "metadata": {}}\n', encoding="utf-8")
    assert read_queries(f) == [("q1", "a?")]


def test_write_run_in_trec_layout(tmp_path):
    path = write_run(tmp_path / "run.trec", {"q1": Ranking(["d3", "d1"], [2.5, 0.1 + 0.2]),
                                             "q2": Ranking([], [])}, tag="two-stage (top-32)")
    assert path.read_text(encoding="utf-8").splitlines() == [
        "q1 Q0 d3 1 2.5 two-stage-top-32", "q1 Q0 d1 2 0.30000001192092896 two-stage-top-32"]  # float32, exact
    tied = write_run(tmp_path / "tied.trec", {"q": Ranking(["b", "a", "c"], [0.5, 0.5, 0.25])}, tag="t")
    scores = [float(line.split()[4]) for line in tied.read_text(encoding="utf-8").splitlines()]
    assert scores[0] == 0.5 and 0.5 - 1e-7 < scores[1] < 0.5 and scores[2] == 0.25  # b stays above a
    pytrec_eval = pytest.importorskip("pytrec_eval", reason="the test extra installs pytrec-eval-terrier")
    tied = write_run(tmp_path / "tied.trec", {"q": Ranking(["a", "b"], [0.007, 0.007])}, tag="t")
    run = {"q": {line.split()[2]: float(line.split()[4]) for line in tied.read_text(encoding="utf-8").splitlines()}}
    # trec_eval would put b (the larger id) first on a tie; the step down keeps a first
    assert pytrec_eval.RelevanceEvaluator({"q": {"a": 1}}, {"recip_rank"}).evaluate(run)["q"]["recip_rank"] == 1.0
    with pytest.raises(ValueError, match="'doc one' holds whitespace"):
        write_run(tmp_path / "bad.trec", {"q1": Ranking(["doc one"], [1.0])}, tag="x")
