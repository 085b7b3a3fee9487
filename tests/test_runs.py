"""The evaluation protocol (minilm_np.evaluation.runs) with fake scorers: what each method ranks, that a
query is embedded once, and how the collections are read."""

import pytest

from minilm_np.evaluation.runs import cranfield_set, files_set, method_runs, pooled_run
from minilm_np.retrieval import build_index, corpus_from_texts, embedding_search, two_stage_search

from helpers import TEXTS, FakeEmbedder, FakeReranker


@pytest.fixture
def index():
    return build_index(FakeEmbedder(), corpus_from_texts(TEXTS))


def test_pooled_run_is_two_stage_then_the_embedding_tail(index):
    query, pool, depth = "how many people live in berlin", 3, 5
    ranking, seconds = pooled_run(FakeEmbedder(), FakeReranker(), index, pool, depth, batch_size=2)(query)
    head = [h.id for h in two_stage_search(FakeEmbedder(), FakeReranker(), index, query, top_n=pool, top_k=pool).hits]
    embedded = [h.id for h in embedding_search(FakeEmbedder(), index, query, top_k=depth).hits]
    assert ranking == head + embedded[pool:]
    assert sorted(ranking[:pool]) == sorted(embedded[:pool])  # the reranked pool is the embedding top-3
    assert seconds > 0


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
    assert len(ranking) == 4 and ranking[0] == "3"  # "About 3.5 million people live in Berlin."


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
    assert "1 queries without judgements skipped" in s.description
    (tmp_path / "qrels.txt").write_text("q9 d2 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no query has judgements"):
        files_set(tmp_path / "c.jsonl", tmp_path / "q.tsv", tmp_path / "qrels.txt")


def test_cranfield_set(cranfield_dir):
    s = cranfield_set(cranfield_dir)
    assert len(s.corpus) == 1398 and len(s.queries) == 225
    assert "documents 471, 995 have none" in s.description and "225 judgements of grade -1 dropped" in s.description
