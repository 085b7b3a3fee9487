"""A restricted reader for PyTorch's ``pytorch_model.bin``: tensors out, no code run, no torch import.

``torch.save(state_dict)`` writes a pickle whose objects are rebuilt by calling named globals. A pickle
can name *any* global (``os.system`` as easily as ``torch._utils._rebuild_tensor_v2``), so this module
never lets ``pickle`` resolve a name itself: ``find_class`` answers from a short allow-list of stand-ins
that only record what the pickle describes (storage, offset, shape, strides), and refuses everything
else with a ``WeightsError`` that names the global. Tensors are then cut from the raw storage bytes
with numpy.

Two file layouts are read:
  * zip (torch >= 1.6): ``<prefix>/data.pkl`` holds the pickle, ``<prefix>/data/<key>`` the raw bytes
    of each storage, ``<prefix>/byteorder`` (if present) ``little`` or ``big``. A storage is referred to
    from the pickle by the persistent id ``('storage', storage_type, key, location, numel)``.
  * legacy (``_use_new_zipfile_serialization=False``): five consecutive pickles in one file -- a magic
    number, the protocol version 1001, a sys-info dict (endianness), the object, the list of storage
    keys in file order -- followed, per key, by an int64 element count and the storage's raw bytes.
    Its persistent ids carry a sixth field, ``view_metadata``: None or (view_key, offset, numel).

Every tensor comes back as a fresh C-contiguous array in its stored dtype, bit for bit (strides and
storage offset applied; views of one storage become independent copies). numpy has no bfloat16, so
bfloat16 tensors are uint16 arrays with dtype ``dtypes.BF16_DTYPE``.
"""

from __future__ import annotations

import collections
import io
import math
import pickle
import pickletools
import struct
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelNotFoundError, WeightsError
from .dtypes import BF16_DTYPE

_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # the first pickle of a legacy file
_LEGACY_PROTOCOL = 1001


def read_torch_bin(path: str | Path) -> dict[str, np.ndarray]:
    """All tensors of a ``torch.save``-d state dict, by their stored names, in their stored dtypes.

    Raises ``ModelNotFoundError`` if the file is absent and ``WeightsError`` (naming the file) if it is
    not a PyTorch checkpoint, is truncated or corrupt, or its pickle asks for anything beyond tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"weights file not found: {path}")
    with open(path, "rb") as f:
        head = f.read(4)
    if head == _ZIP_MAGIC:
        refs = _read_zip(path)
    elif head[:1] == b"\x80":  # a pickle's PROTO opcode: the legacy layout
        refs = _read_legacy(path)
    elif not head:
        raise WeightsError(f"{path}: the file is empty, not a PyTorch checkpoint")
    else:
        raise WeightsError(f"{path}: not a PyTorch checkpoint (neither a zip archive nor a pickle; "
                           f"starts with {head!r})")
    return _materialize_all(path, refs)


# --------------------------------------------------------------------------------------------------
# What the pickle may build: storages (by reference), tensor views of them, and ordered dicts.
# --------------------------------------------------------------------------------------------------

class _Inert:
    """Base of the stand-ins: a pickle's BUILD opcode must not be able to rewrite them."""
    __slots__ = ()

    def __setstate__(self, state):
        raise WeightsError(f"the pickle tried to set the state of a {type(self).__name__.lstrip('_')}")


class _StorageType(_Inert):
    """Stand-in for ``torch.FloatStorage`` and friends: only says which numpy dtype the bytes hold."""
    __slots__ = ("name", "dtype", "bf16")

    def __init__(self, name: str, dtype: str, bf16: bool = False):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dtype", np.dtype(dtype))  # little-endian; byteorder applied later
        object.__setattr__(self, "bf16", bf16)

    def __setattr__(self, key, value):
        raise AttributeError("storage types are immutable")


_STORAGE_TYPES = {t.name: t for t in (
    _StorageType("DoubleStorage", "<f8"),
    _StorageType("FloatStorage", "<f4"),
    _StorageType("HalfStorage", "<f2"),
    _StorageType("BFloat16Storage", "<u2", bf16=True),
    _StorageType("LongStorage", "<i8"),
    _StorageType("IntStorage", "<i4"),
    _StorageType("ShortStorage", "<i2"),
    _StorageType("CharStorage", "i1"),
    _StorageType("ByteStorage", "u1"),
    _StorageType("BoolStorage", "?"),
)}


class _Storage(_Inert):
    """One storage the pickle refers to: ``numel`` elements of ``stype`` under ``key``.

    A legacy storage view is ``numel`` elements starting ``offset`` elements into the storage ``key``.
    """
    __slots__ = ("stype", "key", "numel", "offset")

    def __init__(self, stype: _StorageType, key: str, numel: int, offset: int = 0):
        self.stype, self.key, self.numel, self.offset = stype, key, numel, offset


class _TensorRef(_Inert):
    """A tensor as the pickle describes it: a strided view (in elements) of a storage."""
    __slots__ = ("storage", "offset", "size", "stride")

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def _rebuild_tensor(storage, storage_offset, size, stride):
    """Stand-in for ``torch._utils._rebuild_tensor``: records the view, checked when cut."""
    if not isinstance(storage, _Storage):
        raise WeightsError(f"a tensor is built from a {type(storage).__name__}, not from a storage")
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    """Stand-in for ``torch._utils._rebuild_tensor_v2``; hooks must be empty, conj/neg bits unset."""
    if backward_hooks:
        raise WeightsError("a tensor carries backward hooks; a state dict never does")
    if metadata and any(metadata.values()):
        raise WeightsError(f"a tensor carries metadata {dict(metadata)} (conjugate/negative views "
                           f"are not supported)")
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None):
    """Stand-in for ``torch._utils._rebuild_parameter(_with_state)``: a Parameter is its tensor."""
    if not isinstance(data, _TensorRef):
        raise WeightsError(f"a parameter wraps a {type(data).__name__}, not a tensor")
    return data


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    **{("torch", name): stype for name, stype in _STORAGE_TYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves globals from ``_ALLOWED_GLOBALS`` only; storages go through ``on_storage``."""

    def __init__(self, file, path: Path, on_storage):
        super().__init__(file, encoding="utf-8")
        self._path = path
        self._on_storage = on_storage

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise WeightsError(f"{self._path}: refused global {module}.{name} in the pickle (only the "
                               f"globals a tensor state dict needs are allowed; re-save the file with "
                               f"torch.save(model.state_dict(), ...) if you trust it)") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise WeightsError(f"{self._path}: unsupported persistent id {_short(pid)} in the pickle "
                               f"(only ('storage', ...) records are understood)")
        stype, key, _location, numel = pid[1:5]
        if not isinstance(stype, _StorageType) or not isinstance(key, str) \
                or not isinstance(numel, int) or numel < 0:
            raise WeightsError(f"{self._path}: malformed storage record {_short(pid)} in the pickle")
        return self._on_storage(stype, key, numel, pid[5] if len(pid) == 6 else None)


def _short(obj, limit: int = 120) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[:limit] + "..."


def _unpickle(path: Path, f: io.BytesIO, on_storage, what: str = "the pickle"):
    """One restricted ``pickle.load`` from ``f``'s position; any failure is a WeightsError naming the file.

    The pickle is first walked with ``pickletools`` (which only reads, never builds) to find where it
    ends and to vet memo indices, so the C unpickler then sees exactly its own bytes: a damaged length
    or memo index cannot make it allocate more than the file holds.
    """
    start = f.tell()
    end = _pickle_end(path, f, what)
    f.seek(start)
    data = f.read(end - start)
    f.seek(end)
    try:
        with warnings.catch_warnings():  # text opcodes with bad escapes warn; torch never writes them
            warnings.simplefilter("error")
            return _RestrictedUnpickler(io.BytesIO(data), path, on_storage).load()
    except WeightsError as e:
        message = str(e)
        raise WeightsError(message if message.startswith(str(path)) else f"{path}: {message}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, struct.error, UnicodeDecodeError, RecursionError, MemoryError, OverflowError,
            Warning) as e:
        raise WeightsError(f"{path}: {what} is corrupt or truncated ({type(e).__name__}: {e})") from None


_MEMO_PUTS = ("PUT", "BINPUT", "LONG_BINPUT")


def _pickle_end(path: Path, f: io.BytesIO, what: str) -> int:
    """Offset just past the STOP of the pickle starting at ``f``'s position, after vetting its opcodes."""
    n_ops = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for opcode, arg, pos in pickletools.genops(f):
                n_ops += 1
                # Memo slots are numbered 0, 1, 2, ... by every pickler; a huge index would make the
                # unpickler grow its memo table to that size.
                if opcode.name in _MEMO_PUTS and not (isinstance(arg, int) and 0 <= arg <= n_ops):
                    raise WeightsError(f"{path}: {what} stores memo slot {arg} after {n_ops} opcodes; "
                                       f"corrupt")
                if opcode.name == "STOP":
                    return pos + 1
    except (ValueError, EOFError, struct.error, UnicodeDecodeError, OverflowError, MemoryError, Warning) as e:
        raise WeightsError(f"{path}: {what} is corrupt or truncated ({type(e).__name__}: {e})") from None
    raise WeightsError(f"{path}: {what} is truncated (no STOP opcode)")


def _no_storages(stype, key, numel, view):
    raise WeightsError("a header pickle refers to a storage")


# --------------------------------------------------------------------------------------------------
# The two layouts. Each returns (tensor refs by name, storage bytes by key, byte order).
# --------------------------------------------------------------------------------------------------

@dataclass
class _Refs:
    tensors: dict  # name -> _TensorRef
    storage_bytes: dict  # key -> bytes, each exactly the storage's numel * itemsize
    big_endian: bool


# RuntimeError: zipfile's answer to a damaged "encrypted" flag.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, zlib.error,
               NotImplementedError, struct.error, RuntimeError)


def _read_zip(path: Path) -> _Refs:
    try:
        with zipfile.ZipFile(path) as archive:
            return _read_zip_archive(path, archive)
    except _ZIP_ERRORS as e:
        raise WeightsError(f"{path}: not a readable PyTorch zip checkpoint; truncated or corrupt? "
                           f"({type(e).__name__}: {e})") from None


def _read_zip_archive(path: Path, archive: zipfile.ZipFile) -> _Refs:
    names = archive.namelist()
    pickles = [n for n in names if n.count("/") == 1 and n.endswith("/data.pkl")]
    if len(pickles) != 1:
        if any(n.endswith("/constants.pkl") for n in names):
            raise WeightsError(f"{path}: a TorchScript archive, not a state dict; save the model's "
                               f"state_dict() with torch.save instead")
        raise WeightsError(f"{path}: a zip archive but not a PyTorch checkpoint "
                           f"(expected one <prefix>/data.pkl, found {len(pickles)})")
    prefix = pickles[0][: -len("data.pkl")]
    big_endian = False
    if prefix + "byteorder" in names:
        order = _read_member(path, archive, prefix + "byteorder").decode("ascii", "replace").strip()
        if order not in ("little", "big"):
            raise WeightsError(f"{path}: unknown byteorder {order!r}")
        big_endian = order == "big"

    storages: dict[str, _Storage] = {}

    def on_storage(stype, key, numel, _view):
        if key in storages and (storages[key].stype, storages[key].numel) != (stype, numel):
            raise WeightsError(f"storage {key} is described twice with different types or sizes")
        storages[key] = storages.get(key) or _Storage(stype, key, numel)
        return storages[key]

    obj = _unpickle(path, io.BytesIO(_read_member(path, archive, pickles[0])), on_storage)
    tensors = _state_dict(path, obj)
    storage_bytes = {}
    for key, storage in storages.items():
        member = f"{prefix}data/{key}"
        if member not in names:
            raise WeightsError(f"{path}: storage {key} is missing from the archive ({member})")
        data = _read_member(path, archive, member)
        want = storage.numel * storage.stype.dtype.itemsize
        if len(data) < want:
            raise WeightsError(f"{path}: storage {key} has {len(data)} bytes, expected {want}")
        storage_bytes[key] = data[:want]
    return _Refs(tensors, storage_bytes, big_endian)


def _read_member(path: Path, archive: zipfile.ZipFile, member: str) -> bytes:
    """A member's bytes. torch stores members uncompressed; a compressed one could inflate without
    bound, so it is refused. zipfile checks the CRC, so corrupt bytes are caught here."""
    info = archive.getinfo(member)
    if info.compress_type != zipfile.ZIP_STORED or info.file_size > path.stat().st_size:
        raise WeightsError(f"{path}: member {member} is compressed or larger than the file "
                           f"({info.file_size} bytes); torch.save stores members uncompressed")
    return archive.read(member)


def _read_legacy(path: Path) -> _Refs:
    # Read whole: a damaged length field then asks an in-memory buffer, not the disk, for its bytes.
    try:
        data = path.read_bytes()
    except OSError as e:
        raise WeightsError(f"{path}: could not be read ({e})") from None
    return _read_legacy_file(path, io.BytesIO(data))


def _read_legacy_file(path: Path, f) -> _Refs:
    magic = _unpickle(path, f, _no_storages, "the header")
    if magic != _LEGACY_MAGIC:
        raise WeightsError(f"{path}: a pickle, but not a PyTorch checkpoint (no legacy magic number); "
                           f"only tensor state dicts saved with torch.save are read")
    protocol = _unpickle(path, f, _no_storages, "the header")
    if protocol != _LEGACY_PROTOCOL:
        raise WeightsError(f"{path}: legacy PyTorch format with protocol {protocol!r}, only "
                           f"{_LEGACY_PROTOCOL} is supported; re-save it with a current torch")
    sys_info = _unpickle(path, f, _no_storages, "the header")
    if not isinstance(sys_info, dict) or not isinstance(sys_info.get("little_endian"), bool):
        raise WeightsError(f"{path}: legacy PyTorch header has no sys_info.little_endian")
    big_endian = not sys_info["little_endian"]

    roots: dict[str, _Storage] = {}
    views: dict[str, _Storage] = {}

    def on_storage(stype, key, numel, view):
        root = roots.setdefault(key, _Storage(stype, key, numel))
        if (root.stype, root.numel) != (stype, numel):
            raise WeightsError(f"storage {key} is described twice with different types or sizes")
        if view is None:
            return root
        try:
            view_key, offset, view_numel = view
        except (TypeError, ValueError):
            raise WeightsError(f"malformed storage view {_short(view)}") from None
        if not (isinstance(offset, int) and isinstance(view_numel, int)
                and 0 <= offset and 0 <= view_numel and offset + view_numel <= numel):
            raise WeightsError(f"storage view {_short(view)} does not fit storage {key} of {numel} elements")
        return views.setdefault(str(view_key), _Storage(stype, key, view_numel, offset))

    obj = _unpickle(path, f, on_storage)
    tensors = _state_dict(path, obj)
    keys = _unpickle(path, f, _no_storages, "the storage key list")
    if not isinstance(keys, list) or set(keys) != set(roots) or len(keys) != len(roots):
        raise WeightsError(f"{path}: the storage key list does not match the storages the pickle uses")
    storage_bytes = {}
    for key in keys:
        storage = roots[key]
        size_bytes = f.read(8)
        if len(size_bytes) != 8:
            raise WeightsError(f"{path}: truncated before storage {key}")
        (numel,) = struct.unpack(">q" if big_endian else "<q", size_bytes)
        if numel != storage.numel:
            raise WeightsError(f"{path}: storage {key} holds {numel} elements, the pickle says {storage.numel}")
        want = numel * storage.stype.dtype.itemsize
        data = f.read(want)
        if len(data) != want:
            raise WeightsError(f"{path}: truncated in storage {key} ({len(data)} of {want} bytes)")
        storage_bytes[key] = data
    return _Refs(tensors, storage_bytes, big_endian)


def _state_dict(path: Path, obj) -> dict:
    """The unpickled object must be a flat mapping of names to tensors."""
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: holds a {type(obj).__name__}, not a state dict of tensors")
    for name, value in obj.items():
        if not isinstance(name, str):
            raise WeightsError(f"{path}: state dict key {_short(name)} is not a string")
        if not isinstance(value, _TensorRef):
            raise WeightsError(f"{path}: entry {name!r} is a {type(value).__name__}, not a tensor "
                               f"(the file holds more than a state dict; save model.state_dict() alone)")
    return dict(obj)


# --------------------------------------------------------------------------------------------------
# Cutting tensors out of storage bytes.
# --------------------------------------------------------------------------------------------------

def _materialize_all(path: Path, refs: _Refs) -> dict[str, np.ndarray]:
    flats: dict[str, np.ndarray] = {}
    out = {}
    for name, ref in refs.tensors.items():
        stype = ref.storage.stype
        if ref.storage.key not in flats:
            dtype = stype.dtype.newbyteorder(">") if refs.big_endian else stype.dtype
            flats[ref.storage.key] = np.frombuffer(refs.storage_bytes[ref.storage.key], dtype=dtype)
        flat = flats[ref.storage.key][ref.storage.offset: ref.storage.offset + ref.storage.numel]
        try:
            a = _cut(flat, ref)
        except WeightsError as e:
            raise WeightsError(f"{path}: tensor {name}: {e}") from None
        if refs.big_endian and a.dtype.itemsize > 1:
            a = a.byteswap().view(a.dtype.newbyteorder("="))  # bit-exact, unlike astype for NaNs
        out[name] = a.view(BF16_DTYPE) if stype.bf16 else a
    return out


def _cut(flat: np.ndarray, ref: _TensorRef) -> np.ndarray:
    """A C-contiguous copy of the strided view (offset, size, stride in elements) of ``flat``."""
    offset, size, stride = ref.offset, ref.size, ref.stride
    if not (isinstance(offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)
            and all(isinstance(n, int) for n in size + stride)):
        raise WeightsError(f"malformed view (offset {_short(offset)}, size {_short(size)}, "
                           f"stride {_short(stride)})")
    if len(size) != len(stride) or offset < 0 or any(n < 0 for n in size + stride):
        raise WeightsError(f"invalid view (offset {offset}, size {list(size)}, stride {list(stride)})")
    count = math.prod(size)
    if count == 0:
        return np.zeros(size, dtype=flat.dtype)
    if count > flat.size:  # bounds the output by the file's size; state dicts hold no expanded views
        raise WeightsError(f"view of {count} elements (size {list(size)}, stride {list(stride)}) expands "
                           f"a storage of {flat.size} elements; broadcast views are not supported")
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= flat.size:
        raise WeightsError(f"view (offset {offset}, size {list(size)}, stride {list(stride)}) reaches "
                           f"element {last} of a storage of {flat.size} elements")
    view = np.lib.stride_tricks.as_strided(
        flat[offset:], shape=size, strides=tuple(s * flat.itemsize for s in stride), writeable=False)
    return np.array(view, order="C", copy=True)
