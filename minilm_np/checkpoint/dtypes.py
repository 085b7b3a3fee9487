"""Tensor dtypes as checkpoint files spell them, and bfloat16, which numpy lacks.

bfloat16 is the top half of a float32's bits. Such tensors are kept as uint16 arrays under the tagged
dtype ``BF16_DTYPE`` from the moment they are read until ``to_float32`` widens them, so a round trip
through our readers and writer keeps every bit. (ml-dtypes would give numpy a real bfloat16, at the cost
of a fifth run-time dependency for four short functions; we keep these.)
"""

from __future__ import annotations

import numpy as np

BF16_DTYPE = np.dtype(np.uint16, metadata={"bfloat16": True})

# safetensors dtype name <-> little-endian numpy dtype; BF16 is read as uint16 bits and tagged.
SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
                      "I16": "<i2", "I8": "|i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "|u1",
                      "BOOL": "|b1"}
_SAFETENSORS_NAMES = {np.dtype(v).str: k for k, v in SAFETENSORS_DTYPES.items() if k != "BF16"}


def is_bf16(a: np.ndarray) -> bool:
    """A bfloat16 tensor as read here: uint16 bits under ``BF16_DTYPE``."""
    return a.dtype.metadata is not None and a.dtype.metadata.get("bfloat16", False)


def is_floating(a: np.ndarray) -> bool:
    return a.dtype.kind == "f" or is_bf16(a)


def dtype_name(a: np.ndarray) -> str:
    """numpy's dtype name, except "bfloat16" for tagged uint16 arrays."""
    return "bfloat16" if is_bf16(a) else a.dtype.name


def safetensors_name(a: np.ndarray) -> str:
    """The safetensors dtype name of an array ("F32", "BF16", ...); ValueError when it has none."""
    if is_bf16(a):
        return "BF16"
    key = a.dtype.newbyteorder("<").str if a.dtype.itemsize > 1 else a.dtype.str
    try:
        return _SAFETENSORS_NAMES[key]
    except KeyError:
        raise ValueError(f"dtype {a.dtype} has no safetensors equivalent") from None


def to_float32(a: np.ndarray) -> np.ndarray:
    """A float32 view (when already native float32) or copy; bfloat16 bits become the top half."""
    if is_bf16(a):
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a if a.dtype == np.float32 and a.dtype.isnative else a.astype(np.float32)


def to_bfloat16(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits (uint16 tagged ``BF16_DTYPE``), round to nearest, ties to even.

    Adding 0x7FFF plus the lowest kept bit before dropping the low 16 bits rounds half-way cases to the
    even neighbour (and values past bfloat16's largest finite to infinity). Every NaN becomes the quiet
    NaN 0x7FC0, which rounding could otherwise turn into an infinity. Non-NaN results equal torch's
    ``.bfloat16()`` bit for bit (torch's NaN bits vary: 0x7FC0 on its scalar path, 0xFFFF on its
    vectorised one).
    """
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1)))) >> 16  # wraps only for NaNs
    return np.where(np.isnan(x), np.uint32(0x7FC0), rounded).astype(np.uint16).view(BF16_DTYPE)
