import time

import pytest

from minilm_np import CrossEncoder, HubError, ModelLoadError, ModelNotFoundError, WeightsError, models
from minilm_np.checkpoint.family import hub_id_for
from minilm_np.checkpoint.hub import resolve

from helpers import fake_hub_cache, make_checkpoint


def test_family_sizes_name_the_hub_models():
    assert hub_id_for("L-6") == "cross-encoder/ms-marco-MiniLM-L-6-v2"
    assert hub_id_for("L-12") == "cross-encoder/ms-marco-MiniLM-L-12-v2"
    assert hub_id_for("TinyBERT-L-2") == "cross-encoder/ms-marco-TinyBERT-L-2-v2"
    assert hub_id_for("org/model") == "org/model"


def test_family_table():
    table = {m["size"]: m for m in models()}
    assert list(table) == ["TinyBERT-L-2", "L-2", "L-4", "L-6", "L-12"]
    assert (table["L-6"]["trec_dl19_ndcg10"], table["L-6"]["msmarco_dev_mrr10"]) == (74.30, 39.01)
    assert (table["TinyBERT-L-2"]["trec_dl19_ndcg10"], table["L-12"]["msmarco_dev_mrr10"]) == (69.84, 39.02)
    assert table["L-6"]["parameters"] == 22_713_601  # BertForSequenceClassification, 1 label


def test_parameter_count_matches_a_real_checkpoint(minilm_dir):
    from minilm_np.checkpoint.family import bert_parameters
    from minilm_np.checkpoint.safetensors import read_safetensors

    stored = sum(a.size for n, a in read_safetensors(minilm_dir / "model.safetensors").items()
                 if n != "embeddings.position_ids")
    assert stored == bert_parameters(30522, 512, 2, 384, 6, 1536, labels=None) + 384 * 384 + 384  # + pooler


def test_offline_with_nothing_cached_fails_fast_naming_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(HubError, match="offline and not in the local cache") as e:
        CrossEncoder.from_pretrained("L-6", cache_dir=str(tmp_path))
    assert time.perf_counter() - start < 5
    msg = str(e.value)
    assert "cross-encoder/ms-marco-MiniLM-L-6-v2" in msg and "local directory" in msg
    assert isinstance(e.value, ModelLoadError)
    # why it is offline, and no echo of huggingface_hub's advice to pass local_files_only=False
    assert "(HF_HUB_OFFLINE is set)" in msg and "local_files_only=False" not in msg
    assert e.value.advice.startswith("Pass a local directory instead, e.g. '/path/to/model-dir' where the name was")
    assert e.value.repo_id == "cross-encoder/ms-marco-MiniLM-L-6-v2" and msg.startswith(e.value.problem)
    with pytest.raises(HubError, match=r"offline and not in the local cache \(local_files_only=True\)"):
        CrossEncoder.from_pretrained("L-6", cache_dir=str(tmp_path), local_files_only=True)
    with pytest.raises(HubError, match="where the name was") as e:  # the constructor's call: no from_pretrained
        CrossEncoder("L-6", cache_folder=str(tmp_path))
    assert "from_pretrained" not in str(e.value)


def test_no_network_fails_fast_without_retry_loops(tmp_path):
    start = time.perf_counter()
    with pytest.raises(HubError, match="cross-encoder/ms-marco-MiniLM-L-2-v2"):
        resolve("L-2", cache_dir=str(tmp_path), local_files_only=False)
    assert time.perf_counter() - start < 30


def test_a_cached_model_resolves_offline(tmp_path, monkeypatch):
    src = make_checkpoint(tmp_path / "src")
    snap = fake_hub_cache(tmp_path / "cache", "cross-encoder/ms-marco-MiniLM-L-6-v2", src)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve("L-6", cache_dir=str(tmp_path / "cache")) == snap
    ce = CrossEncoder.from_pretrained("L-6", cache_dir=str(tmp_path / "cache"))
    assert ce.name == "cross-encoder/ms-marco-MiniLM-L-6-v2"
    assert ce.predict([("a", "b")]).shape == (1,)


def test_revision_pinning_uses_that_revision(tmp_path):
    src = make_checkpoint(tmp_path / "src")
    commit = "fedcba9876543210fedcba9876543210fedcba98"
    snap = fake_hub_cache(tmp_path / "cache", "org/model", src, revision="main", commit=commit)
    assert resolve("org/model", revision=commit, cache_dir=str(tmp_path / "cache"), local_files_only=True) == snap
    with pytest.raises(HubError, match="org/model@v9"):
        resolve("org/model", revision="v9", cache_dir=str(tmp_path / "cache"), local_files_only=True)


def test_local_paths(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not found"):
        resolve(tmp_path / "nope")
    with pytest.raises(ModelNotFoundError, match="not found"):
        resolve("./relative/missing/dir")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ModelNotFoundError, match="is a file"):
        resolve(tmp_path / "file.txt")
    with pytest.raises(TypeError, match="must be a str or path, got int"):
        resolve(42)
    for empty in ("", "  "):  # not the working directory, which Path("") is
        with pytest.raises(ModelNotFoundError, match="model name or path is empty"):
            resolve(empty)


def test_an_embedders_checkpoint_given_to_the_cross_encoder_says_so(minilm_dir):
    with pytest.raises(WeightsError, match="missing tensor.*no classification head.*loads with Embedder"):
        CrossEncoder(minilm_dir)


def test_default_embedder_comes_from_the_installed_package(minilm_dir):
    assert resolve("sentence-transformers/all-MiniLM-L6-v2") == minilm_dir


@pytest.mark.parametrize("keywords", [{"token": "hf_secret"}, {"use_auth_token": "hf_secret"}])
def test_a_token_goes_to_huggingface_hub(tmp_path, monkeypatch, keywords):
    """sentence-transformers' token= (and its older use_auth_token=) reach the download, for a private or gated
    repository; there is no Hub here, so huggingface_hub's download is replaced by one that records its call."""
    import huggingface_hub

    src = make_checkpoint(tmp_path / "src")
    calls = []

    def snapshot_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs.get("token")))
        return str(src)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    ce = CrossEncoder("org/private-model", cache_dir=str(tmp_path / "cache"), local_files_only=False, **keywords)
    assert calls == [("org/private-model", "hf_secret")] and ce.name == "org/private-model"
    CrossEncoder.from_pretrained("org/private-model", token="hf_other", local_files_only=False)
    assert calls[-1] == ("org/private-model", "hf_other")
