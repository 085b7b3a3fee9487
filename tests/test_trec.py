"""Queries and qrels files in the plain layouts (minilm_np.evaluation.datasets.trec)."""

import pytest

from minilm_np.evaluation.datasets.trec import read_qrels, read_queries
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


def test_read_qrels(tmp_path):
    f = tmp_path / "qrels.txt"
    f.write_text("# comment\nq1 d1 2\nq1 0 d2 1\n\nq2 d1 0\n", encoding="utf-8")
    assert read_qrels(f) == {"q1": {"d1": 2.0, "d2": 1.0}, "q2": {"d1": 0.0}}
    f.write_text("q1 d1\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="line 1"):
        read_qrels(f)
    f.write_text("q1 d1 high\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="not a number"):
        read_qrels(f)
    with pytest.raises(FileNotFoundError, match="nope"):
        read_qrels(tmp_path / "nope")
