import numpy as np
import pytest

from minilm_np.evaluation.metrics import mean_metrics, mrr_at_k, ndcg_at_k, recall_at_k

# A toy query: a, b, c relevant with gains 3, 2, 1; z judged non-relevant; x, y unjudged.
QRELS = {"a": 3, "b": 2, "c": 1, "z": 0}
RANKING = ["x", "b", "a", "y", "c", "z"]


def test_ndcg_against_hand_computed_values():
    # DCG@5 = 2/log2(3) + 3/log2(4) + 1/log2(6) = 1.2618595 + 1.5 + 0.3868528 = 3.1487123
    # IDCG@5 = 3/log2(2) + 2/log2(3) + 1/log2(4) = 3 + 1.2618595 + 0.5 = 4.7618595
    assert ndcg_at_k(RANKING, QRELS, 5) == pytest.approx(3.1487123 / 4.7618595, abs=1e-7)
    assert ndcg_at_k(RANKING, QRELS, 5) == pytest.approx(0.6612359, abs=1e-7)
    # @2: DCG = 2/log2(3) = 1.2618595; IDCG = 3 + 1.2618595
    assert ndcg_at_k(RANKING, QRELS, 2) == pytest.approx(1.2618595 / 4.2618595, abs=1e-7)
    assert ndcg_at_k(["x"], QRELS, 1) == 0.0
    assert ndcg_at_k(["a", "b", "c"], QRELS, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["a"], {}, 10) == 0.0  # no relevant document


def test_ndcg_ideal_uses_all_judged_relevant_documents():
    # Only one of three relevant documents retrieved, at rank 1: DCG = 3; IDCG@10 counts all three.
    assert ndcg_at_k(["a"], QRELS, 10) == pytest.approx(3 / 4.7618595, abs=1e-7)


def test_mrr():
    assert mrr_at_k(RANKING, QRELS, 10) == 0.5
    assert mrr_at_k(RANKING, QRELS, 1) == 0.0
    assert mrr_at_k(["y", "z", "x", "c"], QRELS, 10) == 0.25  # z has gain 0: not relevant


def test_recall():
    assert recall_at_k(RANKING, QRELS, 3) == pytest.approx(2 / 3)
    assert recall_at_k(RANKING, QRELS, 5) == 1.0
    assert recall_at_k([], QRELS, 5) == 0.0


def test_repeated_ids_count_once():
    assert recall_at_k(["a", "a", "a"], QRELS, 3) == pytest.approx(1 / 3)
    assert ndcg_at_k(["a", "a"], {"a": 1}, 2) == 1.0


def test_mean_metrics():
    run = {"q1": RANKING, "q2": ["a"], "q3": ["a"]}
    qrels = {"q1": QRELS, "q2": {"a": 1}, "q3": {"a": 0}}
    m = mean_metrics(run, qrels, k=5, recall_at=3)
    assert m["ndcg@5"] == pytest.approx((0.6612359 + 1 + 0) / 3, abs=1e-7)
    assert m["mrr@5"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert m["recall@3"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert m["queries"] == 3 and m["queries_without_relevant"] == 1
    with pytest.raises(ValueError, match="q9"):
        mean_metrics({"q9": []}, qrels)
    with pytest.raises(ValueError, match="no queries"):
        mean_metrics({}, qrels)


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_bad_k(k):
    with pytest.raises(ValueError, match="k must be"):
        ndcg_at_k(RANKING, QRELS, k)


def test_metrics_agree_with_trec_eval():
    """trec_eval itself (through pytrec_eval), on random graded runs: ndcg_cut uses linear gains, as we do,
    and recip_rank on a run cut at k is MRR@k. Scores fall down the ranking, so trec_eval's own ordering (by
    score) is ours."""
    pytrec_eval = pytest.importorskip("pytrec_eval", reason="the test extra installs pytrec-eval-terrier")
    rng = np.random.default_rng(0)
    docs = [f"d{i}" for i in range(60)]
    run, qrels = {}, {}
    for q in range(40):
        ranking = list(rng.permutation(docs)[: rng.integers(1, 60)])
        judged = rng.choice(docs, size=rng.integers(1, 25), replace=False)
        gains = rng.integers(0, 5, size=len(judged))  # 0 = judged not relevant
        qrels[f"q{q}"] = {d: int(g) for d, g in zip(judged, gains)}
        run[f"q{q}"] = ranking
    qrels["q0"] = {d: 0 for d in qrels["q0"]}  # a query with no relevant document: 0 everywhere
    k, n = 10, 30
    as_run = {q: {d: float(len(r) - i) for i, d in enumerate(r)} for q, r in run.items()}
    cut = {q: {d: float(k - i) for i, d in enumerate(r[:k])} for q, r in run.items()}
    trec = pytrec_eval.RelevanceEvaluator(qrels, {f"ndcg_cut.{k}", f"recall.{n}"}).evaluate(as_run)
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
    for q in run:
        assert ndcg_at_k(run[q], qrels[q], k) == pytest.approx(trec[q][f"ndcg_cut_{k}"], abs=1e-12), q
        assert recall_at_k(run[q], qrels[q], n) == pytest.approx(trec[q][f"recall_{n}"], abs=1e-12), q
        assert mrr_at_k(run[q], qrels[q], k) == pytest.approx(rr[q]["recip_rank"], abs=1e-12), q
    assert sum(ndcg_at_k(run[q], qrels[q], k) > 0 for q in run) > 20  # the check is not vacuous


def test_evaluate_search():
    from minilm_np.evaluation.metrics import evaluate_search

    rankings = {"first": (RANKING, 0.5), "second": (["a"], 1.5)}
    done = []
    m = evaluate_search(lambda _, text: rankings[text], [("q1", "first"), ("q2", "second")],
                        {"q1": QRELS, "q2": {"a": 1}}, k=5, recall_at=3, progress=done.append)
    assert m["ndcg@5"] == pytest.approx((0.6612359 + 1) / 2, abs=1e-7)
    assert m["seconds_per_query"] == pytest.approx(1.0)
    assert done == [1, 1]

