"""The Ray engine (minilm_np/retrieval/distributed.py): a build on a local Ray cluster equals the local build."""

import functools
import sys

import numpy as np
import pytest
from helpers import TEXTS, FakeEmbedder

from minilm_np.retrieval import Shard, corpus_from_texts, write_index, write_index_on_ray


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")  # Ray's own settings, not ours
def test_a_ray_build_equals_the_local_build(tmp_path, minilm_dir, cities):
    """Two embedder actors of one CPU each on a local two-CPU cluster, four tasks of four passages, one of
    them a shard: the vectors are the local build's (max |diff| <= 1e-6; measured 0), ids and texts too."""
    ray = pytest.importorskip("ray", reason='the Ray engine needs Ray Data: pip install "minilm-np[ray]"')
    pytest.importorskip("ray.data", reason='the Ray engine needs Ray Data: pip install "minilm-np[ray]"')
    from minilm_np import Embedder

    corpus = corpus_from_texts(cities + TEXTS)  # 15 passages
    local = write_index(tmp_path / "local", Embedder.from_pretrained(minilm_dir), corpus)
    shard = write_index(tmp_path / "shard", Embedder.from_pretrained(minilm_dir), corpus, shard=Shard(1, 2))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        seen = []
        remote = write_index_on_ray(tmp_path / "ray", functools.partial(Embedder.from_pretrained, minilm_dir),
                                    corpus, cpus_per_actor=1, task_size=4, progress=seen.append)
        remote_shard = write_index_on_ray(tmp_path / "ray-shard", functools.partial(Embedder.from_pretrained,
                                                                                    minilm_dir),
                                          corpus, shard=Shard(1, 2), cpus_per_actor=1, task_size=4)
    finally:
        ray.shutdown()
    assert sum(seen) == len(corpus) and len(seen) == 4
    for a, b in ((local, remote), (shard, remote_shard)):
        assert list(a.ids) == list(b.ids) and list(a.texts) == list(b.texts) and a.embedder == b.embedder
        assert np.abs(np.asarray(a.embeddings) - np.asarray(b.embeddings)).max() <= 1e-6


def test_without_ray_the_message_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r'pip install "minilm-np\[ray\]"'):
        write_index_on_ray(tmp_path / "idx", FakeEmbedder, corpus_from_texts(TEXTS))
    assert not (tmp_path / "idx").exists()
