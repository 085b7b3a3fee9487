"""The safetensors format, read and written by hand: an 8-byte little-endian header length, a JSON
header (name -> dtype, shape, data offsets), then the raw little-endian tensor data.

Why not the ``safetensors`` package: its numpy reader copies every tensor, while ours returns read-only
views of a memory map (loading L-6 allocates next to nothing), and its numpy writer cannot express
bfloat16. The tests cross-check both directions against the package.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path

import numpy as np

from ..errors import ModelNotFoundError, WeightsError
from .dtypes import BF16_DTYPE, SAFETENSORS_DTYPES, safetensors_name


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """Tensors of a .safetensors file as read-only views of the memory-mapped file.

    bfloat16 tensors come back as uint16 arrays tagged by ``BF16_DTYPE`` (see dtypes.py). Any
    inconsistency names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"weights file not found: {path}")
    size = path.stat().st_size
    bad = f"{path}: not a valid safetensors file"
    if size < 8:
        raise WeightsError(f"{bad} ({size} bytes, too short for a header)")
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        if header_len > size - 8 or header_len > 100_000_000:
            raise WeightsError(f"{bad} (header length {header_len} exceeds the file size {size})")
        raw = f.read(header_len)
    try:
        header = json.loads(raw)
        assert isinstance(header, dict)
    except (ValueError, AssertionError):
        raise WeightsError(f"{bad} (its header is not a JSON object)") from None
    header.pop("__metadata__", None)
    data_start = 8 + header_len
    data_len = size - data_start
    mapped = np.memmap(path, dtype=np.uint8, mode="r") if data_len > 0 else np.zeros(0, np.uint8)
    tensors, spans = {}, []
    for name, info in header.items():
        try:
            dtype = np.dtype(SAFETENSORS_DTYPES[info["dtype"]])
            shape = tuple(_integer(n) for n in info["shape"])
            begin, end = (_integer(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise WeightsError(f"{bad} (entry for tensor {name} is malformed or has an unknown dtype)") from None
        nbytes = math.prod(shape) * dtype.itemsize
        if any(n < 0 for n in shape) or not 0 <= begin <= end <= data_len or end - begin != nbytes:
            raise WeightsError(f"{bad} (tensor {name}: offsets {begin}..{end} do not fit shape {list(shape)} "
                               f"of {info['dtype']} in {data_len} data bytes; truncated?)")
        start = data_start + begin
        if start % dtype.itemsize:  # unaligned: views would be legal but slow; copy instead
            a = np.frombuffer(bytes(mapped[start:start + nbytes]), dtype=dtype).reshape(shape)
        else:
            a = mapped[start:start + nbytes].view(dtype).reshape(shape)
        if info["dtype"] == "BF16":
            a = a.view(BF16_DTYPE)
        tensors[name] = a
        spans.append((begin, end, name))
    _check_tiling(sorted(spans), data_len, bad)
    return tensors


def _integer(value) -> int:
    """A JSON integer of the header (a bool or a fraction is malformed, not 1 or a rounded offset)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(value)
    return value


def _check_tiling(spans: list[tuple[int, int, str]], data_len: int, bad: str) -> None:
    """The tensors cover the data exactly, back to back, as the format requires ("entirely indexed, and
    cannot contain holes"): an entry shifted onto its neighbour's bytes would otherwise load as garbage."""
    at = 0
    for begin, end, name in spans:
        if begin != at:
            raise WeightsError(f"{bad} (tensor {name} starts at byte {begin} of the data, where byte {at} was "
                               f"expected: " + ("it overlaps the tensor before it)" if begin < at else "a hole)"))
        at = end
    if at != data_len:
        raise WeightsError(f"{bad} (the tensors end at byte {at} of {data_len} data bytes)")


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` as a .safetensors file: 8-byte little-endian header length, JSON header, data.

    Written by hand because ``safetensors.numpy`` cannot express bfloat16 (our uint16 arrays tagged
    with ``BF16_DTYPE``). Tensors are laid out widest dtype first, then by name, and the header is
    space-padded to a multiple of 8, so every tensor starts aligned to its item size. The metadata
    carries ``format: pt`` because transformers refuses safetensors files without it. The file appears
    under its name only once complete.
    """
    path = Path(path)
    arrays = {name: _little_endian_contiguous(name, a) for name, a in tensors.items()}
    order = sorted(arrays, key=lambda n: (-arrays[n].dtype.itemsize, n))
    header: dict = {"__metadata__": {"format": "pt", **(metadata or {})}}
    offset = 0
    for name in order:
        a = arrays[name]
        header[name] = {"dtype": _dtype_of(name, a), "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name in order:
            f.write(arrays[name].tobytes())  # C order
    os.replace(tmp, path)


def _little_endian_contiguous(name: str, a: np.ndarray) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"tensor {name} is a {type(a).__name__}, not a numpy array")
    if name == "__metadata__":
        raise ValueError("a tensor cannot be named __metadata__ in safetensors")
    if a.dtype.byteorder == ">":
        a = a.byteswap().view(a.dtype.newbyteorder("<"))
    return np.ascontiguousarray(a) if a.ndim else a.copy()


def _dtype_of(name: str, a: np.ndarray) -> str:
    try:
        return safetensors_name(a)
    except ValueError as e:
        raise ValueError(f"tensor {name}: {e}") from None
