import json

import numpy as np
import pytest

from minilm_np import Embedder
from minilm_np.evaluation import metrics
from minilm_np.evaluation.datasets.cranfield import load_cranfield, read_judgements
from minilm_np.evaluation.runs import cranfield_set, embed_run, evaluate_run
from minilm_np.retrieval import build_index
from minilm_np.retrieval.corpus import CorpusError

from helpers import CRANFIELD, REFERENCE, readme_sections

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


# The reference of weights_tools/make_cranfield_reference.py: sentence-transformers' embeddings, cosines in
# float64, trec_eval's metrics (pytrec_eval). Two passages whose reference cosines are this close may come in
# either order: our float32 embeddings agree with sentence-transformers' within about 2e-7 per cosine.
NEAR_TIE = 2e-6


@needs_cranfield
def test_embed_quality_on_cranfield_is_the_references_and_the_readmes(minilm_dir):
    """The README's embed row, end to end: the abstracts embedded and indexed, every query searched, the
    rankings scored. Each query's top 100 is the reference's up to near ties, the metrics are its metrics,
    and the README's figures are its means to the four places printed."""
    ref = json.loads((REFERENCE / "cranfield_embed.json").read_text(encoding="utf-8"))
    top = np.load(REFERENCE / "cranfield_embed.npz")
    collection = cranfield_set(CRANFIELD)
    assert [q for q, _ in collection.queries] == ref["query_ids"]
    emb = Embedder.from_pretrained(minilm_dir)
    means, rankings = evaluate_run(embed_run(emb, build_index(emb, collection.corpus), 100), collection.queries,
                                   collection.qrels, k=10, recall_at=100)
    swapped = []
    for i, q in enumerate(ref["query_ids"]):
        ids, scores = np.array([int(d) for d in rankings[q].ids]), np.array(rankings[q].scores)  # [100]
        ref_ids, ref_scores = top["top_ids"][i], top["top_scores"][i].astype(np.float64)  # [100]
        np.testing.assert_allclose(scores, ref_scores, rtol=0, atol=1e-6, err_msg=f"query {q}: cosines")
        if (ids != ref_ids).any():  # only where the reference's own cosines tie within NEAR_TIE
            ref_of = dict(zip(ref_ids.tolist(), ref_scores.tolist()))
            gaps = [abs(ref_of.get(d, ref_scores[-1]) - s) for d, s in zip(ids, ref_scores)]
            assert max(gaps) <= NEAR_TIE, f"query {q}: ranked otherwise than the reference, beyond a near tie"
            swapped.append(q)
    for q in set(ref["query_ids"]) - set(swapped):
        for metric, value in ref["per_query"][q].items():
            assert metric_of(rankings[q].ids, collection.qrels[q], metric) == pytest.approx(value, abs=1e-12), q
    for metric, value in ref["means"].items():
        assert means[metric] == pytest.approx(value, abs=len(swapped) / len(ref["query_ids"]) + 1e-12), metric
    quality = readme_sections()["## Walkthrough: ranking and search"]  # its "Quality on Cranfield" table
    row = next(line for line in quality.splitlines() if line.startswith("| embed (all-MiniLM-L6-v2, cosine) |"))
    printed = [cell.strip(" *") for cell in row.split("|")[3:6]]
    assert printed == [f"{ref['means'][m]:.4f}" for m in ("ndcg@10", "mrr@10", "recall@100")]


def metric_of(ranking, judged, metric: str) -> float:
    """``metric`` ("ndcg@10", "mrr@10", "recall@100") of one query's ranking."""
    name, k = metric.split("@")
    of = {"ndcg": metrics.ndcg_at_k, "mrr": metrics.mrr_at_k, "recall": metrics.recall_at_k}[name]
    return of(ranking, judged, int(k))
