"""The Ray engine (minilm_np/retrieval/distributed.py): a build on a local Ray cluster equals the local build."""

import functools
import sys

import numpy as np
import pytest
from helpers import TEXTS, FakeEmbedder

from minilm_np.retrieval import corpus_from_texts, write_index, write_index_on_ray


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")  # Ray's own settings, not ours
def test_a_ray_build_equals_the_local_build(tmp_path, minilm_dir, cities):
    """The build starts a local Ray cluster, runs two embedder actors of one CPU each on four tasks of up
    to four passages, and shuts the cluster down: ids, texts and vectors are the local build's (max |diff|
    <= 1e-6; measured 0)."""
    ray = pytest.importorskip("ray", reason='the Ray engine needs Ray Data: pip install "minilm-np[ray]"')
    pytest.importorskip("ray.data", reason='the Ray engine needs Ray Data: pip install "minilm-np[ray]"')
    from minilm_np import Embedder

    corpus = corpus_from_texts(cities + TEXTS)  # 15 passages
    local = write_index(tmp_path / "local", Embedder.from_pretrained(minilm_dir), corpus)
    seen = []
    remote = write_index_on_ray(tmp_path / "ray", functools.partial(Embedder.from_pretrained, minilm_dir), corpus,
                                actors=2, cpus_per_actor=1, task_size=4, progress=seen.append)
    assert not ray.is_initialized()  # the cluster it started is gone
    assert sum(seen) == len(corpus) and len(seen) == 4
    assert list(remote.ids) == list(local.ids) and list(remote.texts) == list(local.texts)
    assert remote.embedder == local.embedder
    assert np.abs(np.asarray(remote.embeddings) - np.asarray(local.embeddings)).max() <= 1e-6


def test_without_ray_the_message_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r'pip install "minilm-np\[ray\]"'):
        write_index_on_ray(tmp_path / "idx", FakeEmbedder, corpus_from_texts(TEXTS))
    assert not (tmp_path / "idx").exists()


@pytest.mark.parametrize("kwargs, error, message", [
    ({"actors": 0}, ValueError, "actors must be a positive integer, got 0"),  # 0 used to mean the default
    ({"cpus_per_actor": True}, ValueError, "cpus_per_actor must be a positive integer, got True"),
    ({"embedder_factory": FakeEmbedder()}, TypeError, "embedder_factory must be a function returning an embedder"),
])
def test_bad_arguments_are_refused_before_a_cluster_starts(tmp_path, kwargs, error, message):
    ray = pytest.importorskip("ray", reason='the Ray engine needs Ray Data: pip install "minilm-np[ray]"')
    pytest.importorskip("ray.data", reason='the Ray engine needs Ray Data: pip install "minilm-np[ray]"')
    arguments = {"embedder_factory": FakeEmbedder, "corpus": TEXTS, **kwargs}  # a plain list is a corpus
    with pytest.raises(error, match=message):
        write_index_on_ray(tmp_path / "idx", **arguments)
    assert not ray.is_initialized() and not (tmp_path / "idx").exists()
