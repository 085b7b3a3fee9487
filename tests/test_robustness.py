"""The input and file contract: typed errors that name the problem, answers for legal edge cases,
scores invariant to batching and order, repeatable, and safe to share between threads."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minilm_np import CrossEncoder, Embedder, ModelLoadError, ModelNotFoundError

from helpers import KERNELS, MODELS, assert_batch_invariant, make_checkpoint, pipeline_dir

TOL = 1e-5


# The contract holds for both kernel sets (minilm_np/model/kernels.py): every test taking these runs under each.
@pytest.fixture(scope="module", params=KERNELS)
def ce(request):
    return CrossEncoder.from_pretrained(MODELS / "tiny-ce-1", kernels=request.param)


@pytest.fixture(scope="module", params=KERNELS)
def ce3(request):
    return CrossEncoder.from_pretrained(MODELS / "tiny-ce-3", kernels=request.param)


@pytest.fixture(scope="module", params=KERNELS)
def emb(request):
    return Embedder.from_pretrained(MODELS / "tiny-embedder", kernels=request.param)


# ---- inputs -----------------------------------------------------------------------------------------

def test_empty_inputs_give_empty_answers(ce, ce3, emb):
    assert ce.predict([]).shape == (0,) and ce.predict([]).dtype == np.float32
    assert ce3.predict([]).shape == (0, 3)
    assert ce.rank("q", []) == []
    assert emb.encode([]).shape == (0, 32)
    assert ce.tokenize("q", [])["input_ids"].shape == (0, 0)


@pytest.mark.parametrize("text", ["", " ", "\t\n  ", "\x00", "\x00\x01\x7f", "🙂🚀" * 3, "東京は日本の首都です",
                                  "e\u0301\u0301\u0301", "\u200b\ufeff", "a" * 10_000, "word " * 5_000,
                                  "\ud7ff\U0010ffff", "[SEP] [CLS] [PAD]"])
def test_odd_but_legal_text_is_scored(ce, emb, text):
    s = ce.predict([(text, text), ("query", text), (text, "passage")])
    assert s.shape == (3,) and np.isfinite(s).all()
    e = emb.encode([text])
    assert e.shape == (1, 32) and np.isfinite(e).all()


def test_long_text_is_truncated_to_the_model_maximum(ce):
    b = ce.tokenize("query " * 1000, ["passage " * 1000])
    assert b["input_ids"].shape == (1, ce.max_length)


@pytest.mark.parametrize("bad, where", [(None, r"pairs\[1\]\[0\] \(query\)"), (3, r"pairs\[1\]\[0\]"),
                                        (b"bytes", r"pairs\[1\]\[0\]")])
def test_non_str_query_is_a_type_error_naming_its_position(ce, bad, where):
    with pytest.raises(TypeError, match=where + f".*{type(bad).__name__}"):
        ce.predict([("ok", "ok"), (bad, "passage")])


def test_non_str_passage_and_documents(ce, emb):
    with pytest.raises(TypeError, match=r"pairs\[0\]\[1\] \(passage\) must be a str, got NoneType"):
        ce.predict([("q", None)])
    with pytest.raises(TypeError, match=r"documents\[2\] must be a str, got int"):
        ce.rank("q", ["a", "b", 7])
    with pytest.raises(TypeError, match="query must be a str, got bytes"):
        ce.rank(b"q", ["a"])
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str, got float"):
        emb.encode(["a", 1.5])
    with pytest.raises(TypeError, match="list of str"):
        ce.rank("q", "a single string")


@pytest.mark.parametrize("call, where", [
    (lambda ce, emb, bad: ce.predict([("q", "p"), (bad, "p")]), r"pairs\[1\]\[0\] \(query\)"),
    (lambda ce, emb, bad: ce.predict([("q", "p" + bad)]), r"pairs\[0\]\[1\] \(passage\)"),
    (lambda ce, emb, bad: ce.rank("q", ["a", bad]), r"documents\[1\]"),
    (lambda ce, emb, bad: ce.explain(bad, "p"), "query"),
    (lambda ce, emb, bad: emb.encode(["a", "b", "ok " + bad]), r"texts\[2\]"),
    (lambda ce, emb, bad: emb.encode(["a"], prompt=bad), "prompt"),
])
@pytest.mark.parametrize("bad", ["\ud800", "\udcff"])  # a high half alone; an undecodable byte (surrogateescape)
def test_a_lone_surrogate_is_a_value_error_naming_where(ce, emb, call, where, bad):
    """Python strs may hold half of a UTF-16 pair (from a JSON escape or an undecodable byte); the tokenizer
    refuses them with a TypeError about its own types. They are refused first, with the place named."""
    with pytest.raises(ValueError, match=where + r" is not valid Unicode text: .*U\+D[8C][0F][0F]"):
        call(ce, emb, bad)


@pytest.mark.parametrize("pair", [("only one",), ("a", "b", "c"), [], 42])
def test_a_pair_that_is_not_two_items_is_a_value_error(ce, pair):
    with pytest.raises(ValueError, match=r"pairs\[1\] must be a \(query, passage\) pair"):
        ce.predict([("q", "p"), pair])


def test_a_single_pair_gives_a_single_score(ce):
    assert ce.predict(("q", "p")) == pytest.approx(ce.predict([("q", "p")])[0], abs=0)


@pytest.mark.parametrize("top_k", [0, -1])
def test_top_k_must_be_positive(ce, top_k):
    with pytest.raises(ValueError, match="top_k must be positive"):
        ce.rank("q", ["a"], top_k=top_k)


def test_top_k_larger_than_the_list_returns_every_hit(ce):
    docs = ["the city", "berlin people", "live"]
    hits = ce.rank("how many people live in berlin", docs, top_k=10)
    assert sorted(h["corpus_id"] for h in hits) == [0, 1, 2]
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert all(h["text"] == docs[h["corpus_id"]] for h in hits)


@pytest.mark.parametrize("kwargs, err, message", [
    ({"batch_size": 0}, ValueError, "batch_size must be positive, got 0"),
    ({"batch_size": 2.5}, TypeError, "batch_size must be an int, got float"),
    ({"activation": "relu"}, ValueError, "activation must be one of"),
    ({"activation": "softmax"}, ValueError, "'softmax' over the one label of .* is 1.0 for every pair; use 'sigmoid'"),
    ({"progress": 3}, TypeError, "progress must be a function taking a count, or None; got int")])
def test_bad_options(ce, kwargs, err, message):
    with pytest.raises(err, match=message):
        ce.predict([("q", "p")], **kwargs)


def test_a_progress_that_cannot_be_called_is_refused_before_any_work(emb):
    calls = []
    with pytest.raises(TypeError, match="progress must be a function taking a count, or None; got str"):
        emb.encode(["a", "b"], progress="tqdm", batch_size=1)
    emb.encode(["a", "b"], progress=calls.append, batch_size=1)
    assert calls == [1, 1]


def test_softmax_is_over_the_labels_of_a_multi_label_model(ce3):
    probabilities = ce3.predict([("q", "p"), ("a", "b")], activation="softmax")
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("query", ["", "  \t"])
def test_rank_refuses_an_empty_query_as_the_searches_do(ce, query):
    with pytest.raises(ValueError, match="query is empty"):
        ce.rank(query, ["a passage"])
    assert ce.predict([(query, "a passage")]).shape == (1,)  # a pair with an empty query is still scored


def test_rank_on_a_multi_label_model_is_refused(ce3):
    with pytest.raises(ValueError, match="3 labels"):
        ce3.rank("q", ["a"])


# ---- files ------------------------------------------------------------------------------------------

def test_missing_directory_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        CrossEncoder.from_pretrained(tmp_path / "nope")


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors"])
def test_missing_files_are_named(tmp_path, missing):
    d = shutil.copytree(MODELS / "tiny-ce-1", tmp_path / "m")
    (d / missing).unlink()
    with pytest.raises(ModelNotFoundError, match=missing):
        CrossEncoder.from_pretrained(d)


def test_unsupported_config_is_refused_at_load(tmp_path):
    d = shutil.copytree(MODELS / "tiny-ce-1", tmp_path / "m")
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "hidden_act": "silu"}))
    with pytest.raises(ModelLoadError, match="hidden_act 'silu'"):
        CrossEncoder.from_pretrained(d)


def test_pytorch_bin_only_directory_is_loaded_or_explained(tmp_path):
    d = make_checkpoint(tmp_path / "m")
    (d / "model.safetensors").rename(d / "pytorch_model.bin")  # not a torch file at all
    with pytest.raises(ModelLoadError, match="pytorch_model.bin"):
        CrossEncoder.from_pretrained(d)


def test_corrupted_checkpoints_always_end_in_the_typed_error(tmp_path):
    """Truncated at many offsets, or bytes flipped in the header: either a ModelLoadError naming the
    file, or (a flip that leaves a consistent header) a model that loads and scores finitely."""
    src = (MODELS / "tiny-ce-1" / "model.safetensors").read_bytes()
    d = shutil.copytree(MODELS / "tiny-ce-1", tmp_path / "m")
    target = d / "model.safetensors"
    header_end = 8 + int.from_bytes(src[:8], "little")
    rng = np.random.default_rng(0)
    cuts = sorted(set(rng.integers(0, len(src), 40).tolist()) | {0, 1, 7, 8, 9, header_end - 1, header_end,
                                                                  header_end + 1, len(src) - 1})
    variants = [src[:c] for c in cuts]
    for pos in rng.integers(0, header_end, 60).tolist():
        flipped = bytearray(src)
        flipped[pos] ^= 1 << int(rng.integers(0, 8))
        variants.append(bytes(flipped))
    outcomes = {"error": 0, "loaded": 0}
    for blob in variants:
        target.write_bytes(blob)
        try:
            s = CrossEncoder.from_pretrained(d).predict([("a", "b")])
        except ModelLoadError as e:
            assert "model.safetensors" in str(e) or "tensor" in str(e), str(e)
            outcomes["error"] += 1
        else:
            assert np.isfinite(s).all()
            outcomes["loaded"] += 1
    assert outcomes["error"] >= len(cuts)  # every truncation is caught


def test_nan_in_weights_is_refused_naming_the_tensor(tmp_path):
    d = make_checkpoint(tmp_path / "m")
    raw = bytearray((d / "model.safetensors").read_bytes())
    header_end = 8 + int.from_bytes(raw[:8], "little")
    name = "bert.encoder.layer.1.attention.self.value.bias"
    start = header_end + json.loads(raw[8:header_end])[name]["data_offsets"][0] + 4 * 3  # element 3
    raw[start:start + 4] = np.float32(np.nan).tobytes()
    (d / "model.safetensors").write_bytes(bytes(raw))
    with pytest.raises(ModelLoadError, match=name.removeprefix("bert.") + " contains NaN"):
        CrossEncoder.from_pretrained(d)


# ---- invariance, determinism, threads ----------------------------------------------------------------

PAIRS = [("how many people live in berlin", "berlin is the city"), ("", "the"), ("a " * 50, "b " * 10),
         ("the city", "🙂 東京"), ("x", "y " * 80), ("people", "")] * 3


def test_score_does_not_depend_on_batch_size_order_or_neighbours(ce):
    base = ce.predict(PAIRS, batch_size=32)
    for bs in (1, 2, 5, 7):
        np.testing.assert_allclose(ce.predict(PAIRS, batch_size=bs), base, atol=TOL, rtol=0)
    perm = np.random.default_rng(0).permutation(len(PAIRS))
    np.testing.assert_allclose(ce.predict([PAIRS[i] for i in perm]), base[perm], atol=TOL, rtol=0)


def test_repeated_runs_are_bit_identical(ce, emb):
    assert np.array_equal(ce.predict(PAIRS), ce.predict(PAIRS))
    texts = [p for pair in PAIRS for p in pair]
    assert np.array_equal(emb.encode(texts), emb.encode(texts))


def test_threads_sharing_one_model_get_the_serial_answers(ce, emb):
    """The same batches, run at once by several threads: the serial answers, bit for bit where BLAS treats every
    row alike (the threads' products may run on another number of BLAS threads), elsewhere within 1e-5 / 1e-6."""
    chunks = [PAIRS[i:] + PAIRS[:i] for i in range(8)]
    serial = [ce.predict(c, batch_size=4) for c in chunks]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda c: ce.predict(c, batch_size=4), chunks))
    for a, b in zip(serial, threaded):
        assert_batch_invariant(a, b, atol=1e-5)
    texts = [[q for q, _ in c] for c in chunks]
    with ThreadPoolExecutor(4) as pool:
        for a, t in zip(pool.map(emb.encode, texts), texts):
            assert_batch_invariant(a, emb.encode(t), atol=1e-6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.text(max_size=60), st.text(max_size=200)), min_size=1, max_size=8),
       st.integers(1, 8))
def test_any_unicode_batch_scores_like_each_pair_alone(ce, pairs, batch_size):
    together = ce.predict(pairs, batch_size=batch_size)
    assert together.shape == (len(pairs),) and np.isfinite(together).all()
    alone = np.array([ce.predict([p])[0] for p in pairs])
    np.testing.assert_allclose(together, alone, atol=TOL, rtol=0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(max_size=120), min_size=1, max_size=6))
def test_any_unicode_texts_embed_to_unit_vectors(emb, texts):
    e = emb.encode(texts, batch_size=3)
    assert e.shape == (len(texts), 32) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(e, np.stack([emb.encode([t])[0] for t in texts]), atol=1e-6, rtol=0)


def test_worker_threads_give_the_serial_scores_and_restore_blas():
    from minilm_np.threads import BLAS
    serial = CrossEncoder.from_pretrained(MODELS / "tiny-ce-1", threads=1)
    parallel = CrossEncoder.from_pretrained(MODELS / "tiny-ce-1", threads=2)
    np.testing.assert_allclose(parallel.predict(PAIRS, batch_size=4), serial.predict(PAIRS, batch_size=4),
                               atol=TOL, rtol=0)
    if BLAS.controllable:
        before = [lib.num_threads for lib in BLAS.libraries]
        with BLAS.single():
            assert [lib.num_threads for lib in BLAS.libraries] == [1] * len(before)
            with BLAS.single():  # nested (another thread's call): still one thread
                pass
            assert [lib.num_threads for lib in BLAS.libraries] == [1] * len(before)
        parallel.predict(PAIRS)
        assert [lib.num_threads for lib in BLAS.libraries] == before
    with pytest.raises(ValueError, match="threads"):
        CrossEncoder.from_pretrained(MODELS / "tiny-ce-1", threads=0)


_ODD_JSON = [None, True, 1.5, "x", [], {}, ["a"], {"a": 1}]  # each in place of each entry, or the entry removed
_REMOVED = object()


def _paths(value, depth: int = 2, prefix: tuple = ()):
    """Every entry of parsed JSON down to ``depth`` levels, as key paths (the first 3 items of a list; a
    tokenizer's vocabulary and merges, thousands of entries alike, not entered)."""
    if depth == 0 or not isinstance(value, (dict, list)) or prefix[-1:] in (("vocab",), ("merges",)):
        return
    keys = list(value) if isinstance(value, dict) else list(range(min(len(value), 3)))
    for key in keys:
        yield prefix + (key,)
        yield from _paths(value[key], depth - 1, prefix + (key,))


def _changed(value, path: tuple, new):
    """A deep copy of ``value`` with the entry at ``path`` set to ``new`` (or removed: ``_REMOVED``); the
    empty path is the whole document (removed: an empty object)."""
    if not path:
        return {} if new is _REMOVED else new
    copy = json.loads(json.dumps(value))
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    if new is _REMOVED:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return copy


def test_any_odd_entry_in_a_models_json_files_is_a_model_load_error_or_a_working_model(tmp_path):
    """config.json, tokenizer.json and the sentence-transformers files, the whole file and every entry two
    levels deep set in turn to each odd JSON value or removed (about 900 loads of the tiny models, 2 s):
    either a ModelLoadError (or the ValueError a multi-label reranker gets) naming the directory, or a
    model that loads and answers finitely. Fuzzing these found a TypeError from a list model_type,
    AttributeErrors from a Dense config that was not an object, a Rust panic escaping every except
    Exception, and "num_attention_heads": true loading as one head."""
    import warnings

    cross_encoder = shutil.copytree(MODELS / "tiny-ce-1", tmp_path / "ce")
    embedder = pipeline_dir(tmp_path, "mean-dense-normalize")
    files = [(cross_encoder, "config.json"), (cross_encoder, "tokenizer.json"), (embedder, "modules.json"),
             (embedder, "1_Pooling/config.json"), (embedder, "2_Dense/config.json"),
             (embedder, "config_sentence_transformers.json")]
    outcomes = {"refused": 0, "loaded": 0}
    for d, name in files:
        path = d / name
        original = path.read_text(encoding="utf-8")
        parsed = json.loads(original)
        for entry in [(), *_paths(parsed)]:  # the whole file, then each entry
            for new in (*_ODD_JSON, _REMOVED):
                path.write_text(json.dumps(_changed(parsed, entry, new)), encoding="utf-8")
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # e.g. tensors a shrunken config does not describe
                        if d == cross_encoder:
                            scores = CrossEncoder.from_pretrained(d).predict([("a b", "c d e")])
                        else:
                            scores = Embedder.from_pretrained(d).encode(["a b", "c d e"])
                    assert np.isfinite(scores).all(), (name, entry, new)
                    outcomes["loaded"] += 1
                except (ModelLoadError, ValueError) as e:
                    assert str(d) in str(e) or "config" in str(e), (name, entry, new, e)
                    outcomes["refused"] += 1
        path.write_text(original, encoding="utf-8")
    assert outcomes["refused"] and outcomes["loaded"], outcomes  # both kinds of outcome were reached
