from pathlib import Path

import pytest

from minilm_np.retrieval.corpus import CorpusError
from minilm_np.evaluation.datasets.cranfield import load_cranfield, read_judgements

CRANFIELD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cranfield"
needs_cranfield = pytest.mark.skipif(
    not (CRANFIELD / "cran.all.1400").is_file(), reason=f"Cranfield collection not found at {CRANFIELD}"
)

DOCS = """.I 1
.T
a title .
.A
someone
.B
j. ae. scs. 25, 1958, 324.
.W
a title .
  the abstract
continues here .
.I 2
.T
.A
.B
.W
.I 3
.T
third
.W
third abstract .
"""

QUERIES = """.I 001
.W
first query
about wings .
.I 004
.W
second query .
"""

QRELS = """1 1 2
1 3 4
1 2 -1
2 3 1
2 1 -1

"""


def _write(tmp_path):
    (tmp_path / "cran.all.1400").write_text(DOCS, encoding="latin-1")
    (tmp_path / "cran.qry").write_text(QUERIES, encoding="latin-1")
    (tmp_path / "cranqrel").write_text(QRELS, encoding="latin-1")
    return tmp_path


def test_toy_collection(tmp_path):
    c = load_cranfield(_write(tmp_path))
    assert c.corpus.ids == ["1", "3"]
    assert c.corpus.texts == ["a title . the abstract continues here .", "third abstract ."]
    assert c.empty_documents == ["2"]
    # numbered by position, not by .I (001, 004)
    assert c.queries == [("1", "first query about wings ."), ("2", "second query .")]
    assert c.qrels == {"1": {"1": 3, "3": 1}, "2": {"3": 4}}  # gain = 5 - grade
    assert c.dropped_judgements == 2


def test_bad_qrels_line(tmp_path):
    f = tmp_path / "cranqrel"
    f.write_text("1 2 3\n1 x 3\n", encoding="latin-1")
    with pytest.raises(CorpusError, match="line 2"):
        read_judgements(f)
    f.write_text("1 2 7\n", encoding="latin-1")
    with pytest.raises(CorpusError, match="grade 7"):
        read_judgements(f)


def test_qrels_for_unknown_query(tmp_path):
    _write(tmp_path)
    (tmp_path / "cranqrel").write_text("3 1 1\n", encoding="latin-1")
    with pytest.raises(CorpusError, match="not in cran.qry"):
        load_cranfield(tmp_path)


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        load_cranfield(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="cran.all.1400"):
        load_cranfield(tmp_path)


@needs_cranfield
def test_real_collection():
    c = load_cranfield(CRANFIELD)
    assert len(c.corpus) == 1398 and c.empty_documents == ["471", "995"]
    assert len(c.queries) == 225
    assert c.queries[0][1].startswith("what similarity laws must be obeyed")
    assert c.queries[2][1].startswith("what problems of heat conduction")  # .I 004, third in the file
    assert c.dropped_judgements == 225
    assert len(c.qrels) == 225
    assert sum(len(v) for v in c.qrels.values()) == 1612  # 128 + 387 + 734 + 363 graded 1..4
    assert c.qrels["1"]["184"] == 3  # "1 184 2" -> gain 5 - 2
    assert all(g > 0 for judged in c.qrels.values() for g in judged.values())
