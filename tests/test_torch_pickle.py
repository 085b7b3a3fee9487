"""The torch-free pytorch_model.bin reader: exact tensors out, nothing executed, every bad file a WeightsError.

The .bin fixtures were written by real ``torch.save`` (weights_tools/make_torch_bin_fixtures.py); the
hostile and odd files below are assembled here from pickle opcodes, so no test needs torch.
"""

from __future__ import annotations

import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minilm_np.errors import ModelNotFoundError, WeightsError
from minilm_np.checkpoint.torch_bin import read_torch_bin

from helpers import (
    TORCH_BIN,
    assert_bitwise_equal,
    expected,
    legacy_bytes,
    op_global,
    op_int,
    op_storage,
    op_str,
    op_tensor,
    op_tuple,
    state_dict_pickle,
    write_torch_zip,
)
from minilm_np.checkpoint.load import read_tensors
from minilm_np.checkpoint.names import canonical_name

BINS = ["state_dict.bin", "state_dict_legacy.bin"]


# --------------------------------------------------------------------------------------------------
# Real torch.save files.
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", BINS)
def test_reads_torch_saved_files_bit_for_bit(name):
    want, bf16 = expected()
    got = read_torch_bin(TORCH_BIN / name)
    assert_bitwise_equal(got, want, bf16)


@pytest.mark.parametrize("name", BINS)
def test_views_of_one_storage_come_out_as_independent_contiguous_copies(name):
    got = read_torch_bin(TORCH_BIN / name)
    tied = got["bert.embeddings.word_embeddings.weight"], got["cls.predictions.decoder.weight"]
    views = [got[f"bert.encoder.layer.0.attention.self.{n}"] for n in ("query.weight", "query.bias", "key.weight")]
    for a in (*tied, *views):
        assert a.flags.c_contiguous and a.flags.owndata and a.flags.writeable
    assert not np.shares_memory(*tied)
    tied[0][0, 0] += 1
    assert tied[0][0, 0] != tied[1][0, 0]


def test_weights_module_reads_bin_through_this_reader_and_maps_legacy_names():
    tensors = read_tensors(TORCH_BIN / "state_dict.bin")
    names = {canonical_name(n) for n in tensors}
    assert {"embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias",
            "encoder.layer.0.attention.self.query.weight"} <= names


def test_big_endian_archive_is_byteswapped_exactly(tmp_path):
    values = np.array([1.5, -0.0, np.inf, 3e38], dtype="<f4")
    nan_with_payload = np.array([0x7FC01234], dtype="<u4").view("<f4")
    f32 = np.concatenate([values, nan_with_payload])
    bf16_bits = np.array([0x3F80, 0x7FC1, 0x8000], dtype="<u2")
    pkl = state_dict_pickle({
        "f": op_tensor("FloatStorage", "0", 5, 0, (5,), (1,)),
        "b": op_tensor("BFloat16Storage", "1", 3, 1, (2,), (1,)),
    })
    path = write_torch_zip(tmp_path / "big.bin", pkl, {"0": f32.astype(">f4").tobytes(),
                                                          "1": bf16_bits.astype(">u2").tobytes()}, "big")
    got = read_torch_bin(path)
    assert got["f"].dtype == np.float32 and got["f"].dtype.isnative
    assert got["f"].tobytes() == f32.tobytes()
    assert got["b"].dtype.metadata == {"bfloat16": True}
    assert got["b"].tobytes() == bf16_bits[1:].tobytes()


def test_zip_prefix_is_whatever_torch_named_it(tmp_path):
    pkl = state_dict_pickle({"x": op_tensor("LongStorage", "7", 2, 0, (2,), (1,))})
    path = write_torch_zip(tmp_path / "p.bin", pkl, {"7": np.array([5, -6], "<i8").tobytes()}, prefix="my_model")
    assert read_torch_bin(path)["x"].tolist() == [5, -6]


# --------------------------------------------------------------------------------------------------
# Hostile pickles: refused before anything runs.
# --------------------------------------------------------------------------------------------------

class _Payload:
    """Unpickling this with the standard pickle runs ``touch marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_payload_is_live_under_plain_pickle(tmp_path):
    """Control: the payload used below really runs when a normal unpickler loads it."""
    marker = tmp_path / "control"
    pickle.loads(pickle.dumps(_Payload(marker), protocol=2))
    assert marker.exists()


@pytest.mark.parametrize("layout", ["zip", "legacy"])
@pytest.mark.parametrize("where", ["top", "value"])
def test_os_system_payload_is_refused_and_never_runs(tmp_path, layout, where):
    marker = tmp_path / "pwned"
    obj = _Payload(marker) if where == "top" else {"bert.embeddings.word_embeddings.weight": _Payload(marker)}
    payload = pickle.dumps(obj, protocol=2)
    path = tmp_path / "evil.bin"
    if layout == "zip":
        write_torch_zip(path, payload)
    else:
        path.write_bytes(legacy_bytes(payload))
    with pytest.raises(WeightsError, match=f"refused global {os.system.__module__}.system") as e:
        read_torch_bin(path)
    assert str(path) in str(e.value)
    assert not marker.exists()


@pytest.mark.parametrize("module,name", [
    ("builtins", "eval"), ("builtins", "exec"), ("builtins", "getattr"), ("__builtin__", "eval"),
    ("torch.storage", "_load_from_bytes"), ("numpy.core.multiarray", "_reconstruct"), ("subprocess", "Popen"),
    ("torch", "Tensor"), ("torch._utils", "_rebuild_device_tensor_from_numpy"),
])
def test_any_global_off_the_allow_list_is_refused_by_name(tmp_path, module, name):
    pkl = b"\x80\x02" + op_global(module, name) + op_tuple([op_str("print(1)")]) + b"R."
    with pytest.raises(WeightsError, match=f"refused global {module}.{name}"):
        read_torch_bin(write_torch_zip(tmp_path / "g.bin", pkl))


def test_global_hidden_in_a_storage_record_is_refused(tmp_path):
    evil = op_global("posix", "system")
    pkl = state_dict_pickle({"x": op_global("torch._utils", "_rebuild_tensor_v2") + op_tuple([
        op_storage("", "0", 1, global_=evil), op_int(0), op_tuple([op_int(1)]), op_tuple([op_int(1)]),
        b"\x89", op_global("collections", "OrderedDict") + b")R"]) + b"R"})
    with pytest.raises(WeightsError, match="refused global posix.system"):
        read_torch_bin(write_torch_zip(tmp_path / "s.bin", pkl, {"0": b"\0" * 4}))


def test_pickle_cannot_rewrite_a_storage_type_through_build(tmp_path):
    # BUILD on torch.FloatStorage's stand-in would retarget every later load if it were allowed.
    pkl = b"\x80\x02" + op_global("torch", "FloatStorage") + b"}" + op_str("dtype") + op_str("<f8") + b"sb."
    with pytest.raises(WeightsError, match="set the state"):
        read_torch_bin(write_torch_zip(tmp_path / "b.bin", pkl))
    assert read_torch_bin(TORCH_BIN / "state_dict.bin")["half"].dtype == np.float16


def test_non_storage_persistent_id_is_refused(tmp_path):
    pkl = b"\x80\x02" + op_tuple([op_str("module"), op_str("os"), op_str("src")]) + b"Q."
    with pytest.raises(WeightsError, match="unsupported persistent id"):
        read_torch_bin(write_torch_zip(tmp_path / "m.bin", pkl))


# --------------------------------------------------------------------------------------------------
# Damaged, foreign and inconsistent files.
# --------------------------------------------------------------------------------------------------

def test_missing_file_is_model_not_found(tmp_path):
    with pytest.raises(ModelNotFoundError, match="nope.bin"):
        read_torch_bin(tmp_path / "nope.bin")
    with pytest.raises(FileNotFoundError, match="nope.bin"):
        read_torch_bin(tmp_path / "nope.bin")


@pytest.mark.parametrize("name", BINS)
def test_truncated_file_is_weights_error_at_every_cut(tmp_path, name):
    data = (TORCH_BIN / name).read_bytes()
    cuts = sorted({0, 1, 2, 4, 7, 20, 64, 150, len(data) // 3, len(data) // 2, len(data) - 100,
                   len(data) - 22, len(data) - 8, len(data) - 1} | set(range(0, len(data), 97)))
    for cut in cuts:
        path = tmp_path / f"cut{cut}.bin"
        path.write_bytes(data[:cut])
        with pytest.raises(WeightsError, match=str(path)):
            read_torch_bin(path)


@pytest.mark.parametrize("content", [
    b"hello, this is not a checkpoint",
    bytes(range(256)) * 4,
    b"\x80" + os.urandom(200),
    b"\x80\x02K\x05.",  # a valid pickle of 5: not a checkpoint
    pickle.dumps({"a": 1}, protocol=2),
    b"PK\x03\x04" + os.urandom(300),
    b"{}\n",
])
def test_garbage_is_weights_error_naming_the_file(tmp_path, content):
    path = tmp_path / "garbage.bin"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=str(path)):
        read_torch_bin(path)


def test_corrupt_storage_bytes_fail_the_zip_checksum(tmp_path):
    data = bytearray((TORCH_BIN / "state_dict.bin").read_bytes())
    want, _ = expected()
    at = data.find(want["half"].tobytes())
    assert at > 0
    data[at] ^= 0x01
    path = tmp_path / "flipped.bin"
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="corrupt"):
        read_torch_bin(path)


def test_zip_that_is_not_a_torch_checkpoint(tmp_path):
    path = tmp_path / "other.bin"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hi")
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint"):
        read_torch_bin(path)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("m/constants.pkl", b"")
        z.writestr("m/code/m.py", b"")
    with pytest.raises(WeightsError, match="TorchScript"):
        read_torch_bin(path)


def test_view_reaching_past_its_storage_names_the_tensor(tmp_path):
    pkl = state_dict_pickle({"too.long": op_tensor("FloatStorage", "0", 4, 1, (2, 2), (2, 1))})
    with pytest.raises(WeightsError, match="tensor too.long: view .* reaches element 4 of a storage of 4"):
        read_torch_bin(write_torch_zip(tmp_path / "v.bin", pkl, {"0": b"\0" * 16}))


def test_storage_missing_from_archive_is_named(tmp_path):
    pkl = state_dict_pickle({"x": op_tensor("FloatStorage", "3", 1, 0, (1,), (1,))})
    with pytest.raises(WeightsError, match="storage 3 is missing"):
        read_torch_bin(write_torch_zip(tmp_path / "m.bin", pkl, {}))


def test_storage_shorter_than_declared_is_refused(tmp_path):
    pkl = state_dict_pickle({"x": op_tensor("FloatStorage", "0", 4, 0, (4,), (1,))})
    with pytest.raises(WeightsError, match="storage 0 has 8 bytes, expected 16"):
        read_torch_bin(write_torch_zip(tmp_path / "s.bin", pkl, {"0": b"\0" * 8}))


def test_non_tensor_entries_are_refused_by_name(tmp_path):
    pkl = state_dict_pickle({"epoch": op_int(3)})
    with pytest.raises(WeightsError, match="entry 'epoch' is a int, not a tensor"):
        read_torch_bin(write_torch_zip(tmp_path / "e.bin", pkl))


def test_broadcast_view_is_refused_rather_than_inflated(tmp_path):
    # stride 0: one stored float would become 10**10 of them
    pkl = state_dict_pickle({"wide": op_tensor("FloatStorage", "0", 1, 0, (100000, 100000), (0, 0))})
    with pytest.raises(WeightsError, match="tensor wide: view of 10000000000 elements .* broadcast"):
        read_torch_bin(write_torch_zip(tmp_path / "w.bin", pkl, {"0": b"\0" * 4}))


def test_huge_memo_index_is_refused_before_unpickling(tmp_path):
    # LONG_BINPUT 2**32-1 would make the C unpickler allocate a 32 GB memo table
    pkl = b"\x80\x02}r" + struct.pack("<I", 2**32 - 1) + b"."
    with pytest.raises(WeightsError, match="memo slot 4294967295"):
        read_torch_bin(write_torch_zip(tmp_path / "memo.bin", pkl))


def test_compressed_member_is_refused(tmp_path):
    path = tmp_path / "deflated.bin"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", state_dict_pickle({}))
    with pytest.raises(WeightsError, match="compressed"):
        read_torch_bin(path)


def test_legacy_storage_views_are_offset_in_elements(tmp_path):
    """Old torch wrote views of a storage: view_metadata (view_key, offset, numel), offset in elements."""
    view = op_tuple([op_str("storage"), op_global("torch", "FloatStorage"), op_str("root"), op_str("cpu"),
                     op_int(6), op_tuple([op_str("v"), op_int(2), op_int(3)])]) + b"Q"
    args = [view, op_int(1), op_tuple([op_int(2)]), op_tuple([op_int(1)]), b"\x89",
            op_global("collections", "OrderedDict") + b")R"]
    tensor = op_global("torch._utils", "_rebuild_tensor_v2") + op_tuple(args) + b"R"
    storage = np.arange(6, dtype="<f4")
    path = tmp_path / "views.bin"
    path.write_bytes(legacy_bytes(state_dict_pickle({"x": tensor})) + pickle.dumps(["root"], protocol=2)
                     + struct.pack("<q", 6) + storage.tobytes())
    assert read_torch_bin(path)["x"].tolist() == [3.0, 4.0]


def test_legacy_file_with_wrong_magic_is_refused(tmp_path):
    path = tmp_path / "l.bin"
    path.write_bytes(pickle.dumps(12345, protocol=2) + pickle.dumps(1001, protocol=2))
    with pytest.raises(WeightsError, match="no legacy magic number"):
        read_torch_bin(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(BINS), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)),
                                                   min_size=1, max_size=4))
def test_random_byte_damage_never_escapes_as_another_exception(tmp_path, name, flips):
    data = bytearray((TORCH_BIN / name).read_bytes())
    for at, xor in flips:
        data[at % len(data)] ^= xor
    path = tmp_path / "fuzz.bin"
    path.write_bytes(bytes(data))
    try:
        tensors = read_torch_bin(path)
    except WeightsError:
        return
    assert all(isinstance(a, np.ndarray) for a in tensors.values())
