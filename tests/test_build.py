"""Building indexes for large corpora (minilm_np/retrieval/build.py): straight to disk, by shard, merged."""

import json

import numpy as np
import pytest
from helpers import TEXTS, FakeEmbedder, assert_batch_invariant

from minilm_np.retrieval import IndexFormatError, Shard, build_index, load_index, merge_indexes, write_index
from minilm_np.retrieval import build as build_module
from minilm_np.retrieval.corpus import corpus_from_texts


@pytest.fixture
def corpus():
    return corpus_from_texts([f"{t} Passage {i}." for i in range(7) for t in TEXTS])  # 42 passages


def assert_same_index(a, b, *, batches_differ: bool = False):
    """Ids and texts, and vectors bit for bit. ``batches_differ``: the vectors were embedded in other batches,
    so bit for bit only where BLAS treats every row alike, elsewhere within 1e-6 (helpers.assert_batch_invariant)."""
    assert list(a.ids) == list(b.ids) and list(a.texts) == list(b.texts)
    if batches_differ:
        assert_batch_invariant(a.embeddings, b.embeddings, atol=1e-6)
    else:
        assert np.asarray(a.embeddings).tobytes() == np.asarray(b.embeddings).tobytes()
    assert a.embedder == b.embedder


def build_shards(tmp_path, embedder, corpus, n):
    """The n shards' directories, each built on its own."""
    for i in range(n):
        write_index(tmp_path / f"part{i}", embedder, corpus, shard=Shard(i, n))
    return [tmp_path / f"part{i}" for i in range(n)]


# --------------------------------------------------------------------------------------------------
# Shards
# --------------------------------------------------------------------------------------------------

def test_shards_split_by_position():
    bounds = [Shard(i, 4).bounds(10) for i in range(4)]
    assert bounds == [(0, 2), (2, 5), (5, 7), (7, 10)]  # contiguous, covering, in order
    assert Shard.parse(" 3/8 ") == Shard(3, 8) and str(Shard(3, 8)) == "3/8"
    for bad in ("8/8", "1", "a/b", "-1/4"):
        with pytest.raises(ValueError, match="I/N"):
            Shard.parse(bad)
    with pytest.raises(ValueError, match="got True/2"):  # a bool is not a shard number
        Shard(True, 2)


def test_shards_merged_equal_one_build_with_the_real_embedder(tmp_path, minilm_dir, cities):
    """The vectors of a passage do not depend on the passages embedded with it, so shards of different
    sizes merged (in any order given) are the one-machine index, bit for bit where BLAS treats rows alike."""
    from minilm_np import Embedder

    emb = Embedder.from_pretrained(minilm_dir)
    corpus = corpus_from_texts(cities + TEXTS)  # 15 passages of different lengths
    one = write_index(tmp_path / "one", emb, corpus)
    parts = build_shards(tmp_path, emb, corpus, 4)
    merged = merge_indexes(parts[::-1], tmp_path / "merged")
    assert_same_index(one, merged, batches_differ=True)
    assert_same_index(one, build_index(emb, corpus))  # in memory, the same batches: the same bits
    manifest = json.loads((tmp_path / "merged" / "manifest.json").read_text())
    assert [s["shard"] for s in manifest["shards"]] == ["0/4", "1/4", "2/4", "3/4"]
    assert manifest["corpus"] == json.loads((tmp_path / "one" / "manifest.json").read_text())["corpus"]


def test_merge_checks_the_shards(tmp_path, corpus):
    parts = build_shards(tmp_path, FakeEmbedder(), corpus, 3)
    with pytest.raises(ValueError, match="shard 1/3 of 3 is missing"):
        merge_indexes([parts[0], parts[2]], tmp_path / "out")
    partial = merge_indexes([parts[2], parts[0]], tmp_path / "out", partial=True)
    assert list(partial.ids) == list(load_index(parts[0]).ids) + list(load_index(parts[2]).ids)
    with pytest.raises(ValueError, match="shard 0/3 is given twice"):
        merge_indexes([parts[0], parts[0], parts[1], parts[2]], tmp_path / "out2")
    other = corpus_from_texts(TEXTS * 1, ids=[f"x{i}" for i in range(len(TEXTS))])
    write_index(tmp_path / "other", FakeEmbedder(), other, shard=Shard(1, 3))
    # the message names the part that does not fit and the one it was compared with (it named the first twice)
    with pytest.raises(ValueError, match=f"^{tmp_path / 'other'} is not a shard of the same corpus as {parts[0]} "):
        merge_indexes([parts[0], tmp_path / "other", parts[2]], tmp_path / "out3")
    whole = write_index(tmp_path / "whole", FakeEmbedder(), corpus)
    with pytest.raises(ValueError, match=f"^{parts[1]} is not a shard of the same corpus as {tmp_path / 'whole'} "):
        merge_indexes([tmp_path / "whole", parts[1]], tmp_path / "out3")
    with pytest.raises(TypeError, match=r"inputs must be a list of index directories, got one str: pass \["):
        merge_indexes(str(parts[0]), tmp_path / "out3")  # its characters were taken as directories
    assert not (tmp_path / "out2").exists() and not (tmp_path / "out3").exists() and len(whole) == len(corpus)


def test_merge_checks_embedder_dimension_ids_and_checksums(tmp_path, corpus):
    a = write_index(tmp_path / "a", FakeEmbedder(), corpus_from_texts(TEXTS[:3], ids=["a", "b", "c"]))
    write_index(tmp_path / "b", FakeEmbedder(), corpus_from_texts(TEXTS[3:], ids=["d", "e", "f"]))
    joined = merge_indexes([tmp_path / "b", tmp_path / "a"], tmp_path / "ab")  # whole indexes: in the order given
    assert list(joined.ids) == ["d", "e", "f", "a", "b", "c"] and joined.texts == TEXTS[3:] + TEXTS[:3]
    assert np.asarray(joined.embeddings[3:]).tobytes() == np.asarray(a.embeddings).tobytes()

    write_index(tmp_path / "other", FakeEmbedder("other-embedder"), corpus_from_texts(TEXTS[:1], ids=["z"]))
    with pytest.raises(ValueError, match="different embedder"):
        merge_indexes([tmp_path / "a", tmp_path / "other"], tmp_path / "out")
    write_index(tmp_path / "clash", FakeEmbedder(), corpus_from_texts(TEXTS[:2], ids=["q", "b"]))
    with pytest.raises(ValueError, match="id 'b' is in .*a and .*clash"):
        merge_indexes([tmp_path / "a", tmp_path / "clash"], tmp_path / "out")

    class Wide(FakeEmbedder):
        def encode(self, texts, **kwargs):
            v = super().encode(texts, **kwargs)
            return np.hstack([v, np.zeros_like(v)])

    write_index(tmp_path / "wide", Wide(), corpus_from_texts(TEXTS[:1], ids=["w"]))
    with pytest.raises(ValueError, match="different dimension"):
        merge_indexes([tmp_path / "a", tmp_path / "wide"], tmp_path / "out")
    with open(tmp_path / "b" / "embeddings.npy", "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\x00\x00\x80\x7f")  # the last float becomes inf
    with pytest.raises(IndexFormatError, match="embeddings.npy: does not match its checksum"):
        merge_indexes([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_one_input_upgrades_a_version_1_index(tmp_path, corpus):
    index = build_index(FakeEmbedder(), corpus)
    (tmp_path / "v1").mkdir()
    np.save(tmp_path / "v1" / "embeddings.npy", index.embeddings)
    (tmp_path / "v1" / "meta.json").write_text(json.dumps({
        "format": "minilm-np-index", "version": 1, "embedder": index.embedder, "dim": index.dim,
        "count": len(index), "normalized": True, "ids": index.ids, "texts": index.texts}))
    upgraded = merge_indexes([tmp_path / "v1"], tmp_path / "v2")
    assert (tmp_path / "v2" / "manifest.json").is_file()
    assert_same_index(index, upgraded)


def test_an_empty_shard_or_an_ann_index_per_shard_is_refused(tmp_path):
    corpus = corpus_from_texts(TEXTS[:2])
    with pytest.raises(ValueError, match="shard 0/3 of a 2-passage corpus is empty"):
        write_index(tmp_path / "x", FakeEmbedder(), corpus, shard=Shard(0, 3))
    from minilm_np.retrieval import AnnConfig

    with pytest.raises(ValueError, match="build it when merging the shards"):
        write_index(tmp_path / "x", FakeEmbedder(), corpus, shard=Shard(0, 2), ann=AnnConfig("hnsw"))


# --------------------------------------------------------------------------------------------------
# An interrupted build
# --------------------------------------------------------------------------------------------------

class FailingEmbedder(FakeEmbedder):
    """Raises on its second call, after the first chunk has been written to disk."""

    def encode(self, texts, **kwargs):
        if len(self.calls) == 1:
            raise RuntimeError("injected failure")
        return super().encode(texts, **kwargs)


def test_an_interrupted_build_leaves_no_index_and_the_old_one_untouched(tmp_path, corpus, monkeypatch):
    monkeypatch.setattr(build_module, "CHUNK", 10)  # five encode calls for 42 passages
    old = write_index(tmp_path / "idx", FakeEmbedder(), corpus_from_texts(TEXTS))
    before = {p.name: p.read_bytes() for p in (tmp_path / "idx").iterdir()}
    failing = FailingEmbedder()
    with pytest.raises(RuntimeError, match="injected failure"):
        write_index(tmp_path / "idx", failing, corpus)
    assert len(failing.calls) == 1  # it failed mid-way
    assert {p.name: p.read_bytes() for p in (tmp_path / "idx").iterdir()} == before
    assert load_index(tmp_path / "idx").ids == old.ids
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]  # no partial directory left
    with pytest.raises(RuntimeError, match="injected failure"):
        write_index(tmp_path / "new", FailingEmbedder(), corpus)
    assert not (tmp_path / "new").exists()
