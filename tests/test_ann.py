"""Approximate search (minilm_np/retrieval/ann.py): faiss candidates re-scored exactly, against the flat scan."""

import sys

import numpy as np
import pytest
from helpers import TEXTS, FakeEmbedder

from minilm_np.retrieval import (AnnConfig, IndexFormatError, build_index, embedding_search, load_index, nearest,
                                 write_index)
from minilm_np.retrieval.corpus import corpus_from_texts


@pytest.fixture(scope="module")
def faiss():
    return pytest.importorskip("faiss", reason='approximate search needs faiss: pip install "minilm-np[ann]"')


@pytest.fixture(scope="module")
def cranfield_vectors(minilm_dir, cranfield_dir):
    """Real all-MiniLM-L6-v2 embeddings: the 1,398 Cranfield abstracts' opening words (about their title,
    which each abstract repeats; short, so the suite stays fast) and the 225 queries."""
    from minilm_np import Embedder
    from minilm_np.evaluation.datasets.cranfield import first_sentence, load_cranfield

    collection = load_cranfield(cranfield_dir)
    emb = Embedder.from_pretrained(minilm_dir)
    passages = [" ".join(first_sentence(t).split()[:12]) for t in collection.corpus.texts]
    index = build_index(emb, corpus_from_texts(passages, collection.corpus.ids))
    return index, emb.encode([q for _, q in collection.queries])  # [1398, 384], [225, 384]


def recall_at_10(index, queries) -> float:
    """How many of the flat scan's top 10 the ANN search finds, averaged over the queries."""
    found = [len(set(nearest(index, q, 10)[0]) & set(nearest(index, q, 10, exact=True)[0])) / 10 for q in queries]
    return float(np.mean(found))


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_recall_at_10_against_the_flat_scan(tmp_path, faiss, cranfield_vectors, kind):
    index, queries = cranfield_vectors
    index.save(tmp_path / kind, ann=AnnConfig(kind))
    loaded = load_index(tmp_path / kind)
    assert loaded.ann.kind == kind
    assert recall_at_10(loaded, queries) >= 0.95
    for q in queries[:20]:  # what is found is scored as the flat scan scores it, to float32 rounding
        rows, scores = nearest(loaded, q, 10)
        flat = np.asarray(loaded.embeddings) @ q
        np.testing.assert_allclose(scores, flat[rows], rtol=0, atol=1e-6)


def test_ann_results_equal_the_flat_ones_when_every_row_is_a_candidate(tmp_path, faiss):
    corpus = corpus_from_texts(TEXTS * 3, ids=[str(i) for i in range(3 * len(TEXTS))])  # ties: equal vectors
    index = write_index(tmp_path / "idx", FakeEmbedder(), corpus, ann=AnnConfig("hnsw"))
    assert index.ann is not None
    for query in ("people live in berlin", "paris france", "river"):
        a = embedding_search(FakeEmbedder(), index, query, top_k=7)
        b = embedding_search(FakeEmbedder(), index, query, top_k=7, exact=True)
        assert [h.to_dict() for h in a.hits] == [h.to_dict() for h in b.hits]  # scores and tie order
    assert load_index(tmp_path / "idx", ann=False).ann is None


def test_loading_leaves_the_faiss_file_closed_until_the_first_search(tmp_path, faiss):
    write_index(tmp_path / "idx", FakeEmbedder(), corpus_from_texts(TEXTS), ann=AnnConfig("hnsw"))
    index = load_index(tmp_path / "idx")
    assert not index.ann.is_open
    embedding_search(FakeEmbedder(), index, "berlin", top_k=2)
    assert index.ann.is_open
    (tmp_path / "idx" / "ann.faiss").unlink()
    with pytest.raises(FileNotFoundError, match="ann.faiss is missing"):
        load_index(tmp_path / "idx")
    assert len(load_index(tmp_path / "idx", ann=False)) == len(TEXTS)


@pytest.mark.parametrize("damage", [lambda data: b"", lambda data: data[:len(data) // 2]])
def test_a_damaged_faiss_file_is_an_index_format_error_at_the_first_search(tmp_path, faiss, damage):
    write_index(tmp_path / "idx", FakeEmbedder(), corpus_from_texts(TEXTS), ann=AnnConfig("hnsw"))
    path = tmp_path / "idx" / "ann.faiss"
    path.write_bytes(damage(path.read_bytes()))
    index = load_index(tmp_path / "idx")  # the file is opened at the first search, not here
    with pytest.raises(IndexFormatError, match=r"ann.faiss: faiss cannot read it as a hnsw index \(Error in "):
        embedding_search(FakeEmbedder(), index, "berlin", top_k=2)
    assert embedding_search(FakeEmbedder(), index, "berlin", top_k=2, exact=True).hits  # the flat scan still works


def test_candidates_past_the_end_are_an_index_format_error(tmp_path, faiss):
    """A flipped byte in an IVF file's stored ids proposed rows far past the index (an IndexError from the
    memory map); the rows faiss returns are checked against its count."""
    index = write_index(tmp_path / "idx", FakeEmbedder(), corpus_from_texts(TEXTS), ann=AnnConfig("hnsw"))
    real = index.ann.open()._index

    class DamagedIds:
        ntotal = real.ntotal

        def search(self, q, k, params=None):
            distances, rows = real.search(q, k, params=params)
            rows[0, 0] = 2617245889  # as one fuzzed file gave
            return distances, rows

    index.ann._index = DamagedIds()
    with pytest.raises(IndexFormatError, match=f"ann.faiss: proposes row 2617245889 of an index of {len(TEXTS)}"):
        embedding_search(FakeEmbedder(), index, "berlin", top_k=2)


def test_search_time_parameters(tmp_path, faiss):
    index = write_index(tmp_path / "idx", FakeEmbedder(), corpus_from_texts(TEXTS), ann=AnnConfig("hnsw", m=8))
    assert index.ann.params["m"] == 8 and index.ann.params["ef_search"] == 128
    index.ann.configure(ef_search=16, candidates=3)
    assert index.ann.params["ef_search"] == 16 and len(index.ann.candidates(index.embeddings[0], 2)) == 3
    assert len(index.ann.candidates(index.embeddings[0], 5)) == 5  # never fewer than top_k
    with pytest.raises(ValueError, match="nprobe applies to ivfpq indexes, this one is hnsw"):
        index.ann.configure(nprobe=4)
    with pytest.raises(ValueError, match="candidates must be a positive integer"):
        index.ann.configure(candidates=0)


def test_ann_configuration_is_checked():
    with pytest.raises(ValueError, match="unknown ANN kind 'lsh'"):
        AnnConfig("lsh")
    with pytest.raises(ValueError, match="ANN nlist must be a positive integer"):
        AnnConfig("ivfpq", nlist=0)
    with pytest.raises(ValueError, match="hnsw_storage must be one of"):
        AnnConfig("hnsw", hnsw_storage="pq")


def test_ivfpq_needs_enough_vectors_to_train(tmp_path, faiss):
    with pytest.raises(ValueError, match="IVF-PQ needs at least 624 vectors"):
        write_index(tmp_path / "idx", FakeEmbedder(), corpus_from_texts(TEXTS), ann=AnnConfig("ivfpq"))
    assert not (tmp_path / "idx").exists()


def test_without_faiss_the_message_names_the_extra(tmp_path, monkeypatch):
    index = build_index(FakeEmbedder(), corpus_from_texts(TEXTS))
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "minilm-np\[ann\]"'):
        index.save(tmp_path / "idx", ann=AnnConfig("hnsw"))
    assert not (tmp_path / "idx").exists()
