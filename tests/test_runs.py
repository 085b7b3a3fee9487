"""The evaluation protocol (minilm_np.evaluation.runs) with fake scorers: what each method ranks, that a
query is embedded once, and how the collections are read."""

import pytest

from minilm_np.evaluation.runs import EvalSet, beir_set, check_index_corpus, cranfield_set, evaluate_run, files_set
from minilm_np.evaluation.runs import method_runs, pooled_run, run_files
from minilm_np.retrieval import IndexMismatchError, build_index, corpus_from_texts, embedding_search
from minilm_np.retrieval import two_stage_search

from helpers import BEIR, TEXTS, FakeEmbedder, FakeReranker


@pytest.fixture
def index():
    return build_index(FakeEmbedder(), corpus_from_texts(TEXTS))


def test_pooled_run_is_two_stage_then_the_embedding_tail(index):
    query, pool, depth = "how many people live in berlin", 3, 5
    ranking, seconds = pooled_run(FakeEmbedder(), FakeReranker(), index, pool, depth, batch_size=2)(query)
    two_stage = two_stage_search(FakeEmbedder(), FakeReranker(), index, query, top_n=pool, top_k=pool).hits
    embedded = [h.id for h in embedding_search(FakeEmbedder(), index, query, top_k=depth).hits]
    assert ranking.ids == [h.id for h in two_stage] + embedded[pool:]
    assert sorted(ranking.ids[:pool]) == sorted(embedded[:pool])  # the reranked pool is the embedding top-3
    assert seconds > 0
    # the reranker's scores in the pool, then 1 lower a rank: never increasing, as a run file needs
    last = two_stage[-1].score
    assert ranking.scores == [h.score for h in two_stage] + [last - 1, last - 2]


def test_a_pooled_query_is_embedded_once(index):
    emb = FakeEmbedder()
    pooled_run(emb, FakeReranker(), index, 2, 4, batch_size=8)("paris river")
    assert emb.calls == [["paris river"]]


def test_method_runs_labels_and_pools(index):
    runs = method_runs(["embed", "two-stage", "rerank"], embedder=FakeEmbedder(), reranker=FakeReranker(),
                       index=index, depth=4, top_n=2, rerank_pool=3)
    assert list(runs) == ["embed", "two-stage (top-2)", "rerank (embed top-3 pool)"]
    every = method_runs(["rerank"], embedder=FakeEmbedder(), reranker=FakeReranker(), index=index, depth=4,
                        top_n=2, rerank_pool=0)
    ranking, _ = every["rerank (all passages)"]("berlin people")
    assert len(ranking.ids) == 4 and ranking.ids[0] == "3"  # "About 3.5 million people live in Berlin."
    assert ranking.scores == sorted(ranking.scores, reverse=True)


def test_method_runs_refuse_what_they_cannot_run(index):
    with pytest.raises(ValueError, match="need a reranker"):
        method_runs(["two-stage"], embedder=FakeEmbedder(), reranker=None, index=index, depth=4, top_n=2,
                    rerank_pool=3)
    with pytest.raises(ValueError, match="methods must be"):
        method_runs(["bm25"], embedder=FakeEmbedder(), reranker=None, index=index, depth=4, top_n=2,
                    rerank_pool=3)


def test_files_set_keeps_judged_queries_and_says_so(tmp_path):
    (tmp_path / "c.jsonl").write_text('{"id": "d1", "text": "a"}\n{"id": "d2", "text": "b"}\n', encoding="utf-8")
    (tmp_path / "q.tsv").write_text("q1\tfirst\nq2\tsecond\n", encoding="utf-8")
    (tmp_path / "qrels.txt").write_text("q1 d2 1\n", encoding="utf-8")
    s = files_set(tmp_path / "c.jsonl", tmp_path / "q.tsv", tmp_path / "qrels.txt")
    assert s.queries == [("q1", "first")] and s.corpus.ids == ["d1", "d2"]
    assert "1 query without judgements skipped" in s.description
    (tmp_path / "qrels.txt").write_text("q9 d2 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no query has judgements"):
        files_set(tmp_path / "c.jsonl", tmp_path / "q.tsv", tmp_path / "qrels.txt")


def test_cranfield_set(cranfield_dir):
    s = cranfield_set(cranfield_dir)
    assert len(s.corpus) == 1398 and len(s.queries) == 225
    assert "documents 471, 995 have none" in s.description and "225 judgements of grade -1 dropped" in s.description


def test_beir_set_reads_the_split_asked_for():
    s = beir_set(BEIR)
    assert len(s.corpus) == 10 and s.corpus.ids[0] == "d1"
    assert s.corpus.texts[0] == "Berlin Berlin is the capital of Germany and its largest city."  # title + text
    assert s.corpus.texts[3] == "The Seine is the river that flows through Paris."  # empty title: text alone
    assert s.corpus.texts[8] == "Rivers of Germany"  # empty text: title alone
    assert [q for q, _ in s.queries] == ["q1", "q2", "q3"] and s.qrels["q3"] == {"d3": 1, "d6": 1, "d4": 0}
    assert "split test" in s.description and "2 queries without judgements skipped" in s.description
    assert [q for q, _ in beir_set(BEIR, "dev").queries] == ["q4"]
    with pytest.raises(FileNotFoundError, match="qrels/train.tsv not found: the collection has the splits dev, test"):
        beir_set(BEIR, "train")


def test_beir_set_names_a_missing_file(tmp_path):
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "text": "a"}\n', encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="not a BEIR collection: queries.jsonl is missing"):
        beir_set(tmp_path)
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "a"}\n', encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="no qrels/\\*.tsv files"):
        beir_set(tmp_path)


def files_like(texts, ids=None):
    """An EvalSet of just these passages."""
    return EvalSet(corpus_from_texts(texts, ids), [], {}, "")


def test_an_index_of_another_corpus_is_refused(index):
    same = files_like(TEXTS)
    check_index_corpus(index, same, "idx")  # the same passages: accepted
    old = type(index)(index.embeddings, index.ids, index.texts, index.embedder)  # saved before digests
    check_index_corpus(old, same, "idx")
    with pytest.raises(IndexMismatchError,
                       match="index idx was built from another corpus \\(6 passages.* \\(5 passages"):
        check_index_corpus(index, files_like(TEXTS[:5]), "idx")
    with pytest.raises(IndexMismatchError, match="another corpus"):  # same texts, other ids
        check_index_corpus(index, files_like(TEXTS, ids=[f"d{i}" for i in range(6)]), "idx")


def test_evaluate_run_returns_the_metrics_and_each_query_ranking(index):
    run = method_runs(["embed"], embedder=FakeEmbedder(), reranker=None, index=index, depth=3, top_n=2,
                      rerank_pool=2)["embed"]
    queries = [("qa", "paris river"), ("qb", "berlin people"), ("qc", "paris river")]  # qc asks what qa asks
    qrels = {"qa": {"4": 1}, "qb": {"3": 1}, "qc": {"2": 1}}
    metrics, rankings = evaluate_run(run, queries, qrels, k=3, recall_at=3)
    assert list(rankings) == ["qa", "qb", "qc"] and rankings["qa"] == rankings["qc"]
    assert rankings["qa"].ids[0] == "4" and metrics["mrr@3"] == pytest.approx((1 + 1 + 1 / 2) / 3)


def test_run_files_one_per_method(tmp_path):
    assert run_files(tmp_path / "run.trec", ["embed"]) == {"embed": tmp_path / "run.trec"}
    assert run_files(tmp_path / "run.trec", ["embed", "two-stage (top-32)", "rerank (all passages)"]) == {
        "embed": tmp_path / "run.embed.trec", "two-stage (top-32)": tmp_path / "run.two-stage.trec",
        "rerank (all passages)": tmp_path / "run.rerank.trec"}


def test_evaluate_run_can_leave_out_the_querys_own_id():
    from minilm_np.evaluation.datasets.trec import Ranking

    def run(text):  # the query is itself a document, ranked first
        return Ranking(["q1", "a", "b"], [3.0, 2.0, 1.0]), 0.0

    kept, _ = evaluate_run(run, [("q1", "text")], {"q1": {"a": 1}}, k=2, recall_at=1)
    dropped, rankings = evaluate_run(run, [("q1", "text")], {"q1": {"a": 1}}, k=2, recall_at=1,
                                     ignore_identical_ids=True)
    assert kept["mrr@2"] == pytest.approx(0.5) and kept["recall@1"] == 0.0
    assert dropped["mrr@2"] == 1.0 and dropped["recall@1"] == 1.0 and dropped["ndcg@2"] == 1.0
    assert rankings["q1"].ids == ["a", "b"] and rankings["q1"].scores == [2.0, 1.0]
