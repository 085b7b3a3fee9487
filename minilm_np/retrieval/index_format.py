"""Index format version 2: a directory that opens in constant time at any size.

    DIR/
      manifest.json      what the index is (below); written last, so a directory without it is no index
      embeddings.npy     float32 [n, d], unit rows; memory-mapped on load
      ids.utf8           every id in UTF-8, back to back
      ids.offsets.npy    int64 [n + 1]: id i is the bytes ids.utf8[offsets[i]:offsets[i + 1]]
      texts.utf8         the passages, the same way
      texts.offsets.npy
      ann.faiss          optional: an approximate-nearest-neighbour index over the rows (see ann.py)

Opening reads the manifest and the three .npy headers and maps the files; nothing is parsed per passage,
so a 10M-passage index opens as fast as a 10-passage one. ``ids[i]`` and ``texts[i]`` decode one string
from the mapped bytes when asked for (``StringColumn``).

Why a UTF-8 file plus an offsets array rather than JSON, Arrow or Parquet: it needs nothing but NumPy (no
new dependency), it is random access in O(1) from a memory map, and it is Arrow's own layout for a
``large_string`` column (int64 offsets + one data buffer), so Arrow or any language reads it without a
conversion. Parquet compresses in row groups, so one passage means decoding a page; Arrow IPC files would
need ``pyarrow`` (~100 MB) as a core dependency for the same layout.

The manifest: ``format``, ``version`` (2), ``embedder``, ``dim``, ``count``, ``normalized``, ``dtype``,
``created`` (UTC, ISO 8601), ``corpus`` (``passages``: the size of the whole corpus the index or its
shards came from, ``sha256``: a digest of that corpus's ids and texts, see ``corpus_digest``), ``shards``
(``[{"shard": "I/N", "start", "stop"}]``: which positions of the corpus each part holds, in order),
``files`` (name -> ``bytes``, ``sha256``), ``ann`` (null, or what ann.py wrote).

Writes are atomic (``IndexWriter``): everything goes into a hidden ``.NAME.partial-*`` directory beside
the destination, the manifest last, then the directory is swapped into place in one rename. Checksums are
not checked on load (that would read every byte); ``verify_files`` and ``merge_indexes`` check them.

Letters: n passages, d embedding dimension.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import mmap
import operator
import os
import shutil
import socket
import sys
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from tokenize import TokenError

import numpy as np

from .ann import ANN_FILE, AnnConfig, build_ann
from .errors import IndexFormatError

FORMAT = "minilm-np-index"
VERSION = 2
MANIFEST_FILE = "manifest.json"
EMBEDDINGS_FILE = "embeddings.npy"
COLUMNS = ("ids", "texts")
_CHUNK = 1 << 24  # bytes read at a time when hashing or copying files


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------

class StringColumn(Sequence):
    """Strings stored back to back in one UTF-8 file, decoded one at a time when asked for.

    ``column[i]`` is a str; a slice gives a list; iteration decodes in order. Compares equal to any
    sequence with the same strings, so ``loaded.ids == ["a", "b"]`` works as it did with lists.
    """

    def __init__(self, data: bytes | mmap.mmap, offsets: np.ndarray, source: str = "a string column"):
        self._data = data  # the UTF-8 bytes (a read-only map when opened from disk)
        self._offsets = offsets  # int64 [n + 1], possibly memory-mapped
        self._source = source  # named when a string does not decode

    @classmethod
    def open(cls, data_file: Path, offsets_file: Path) -> StringColumn:
        offsets = load_npy(offsets_file, mmap_mode="r")
        with open(data_file, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        if offsets.dtype != np.int64 or offsets.ndim != 1 or offsets.shape[0] < 1:
            raise IndexFormatError(f"{offsets_file}: holds {offsets.dtype} {offsets.shape}, int64 [n + 1] expected")
        if int(offsets[0]) != 0 or int(offsets[-1]) != size:
            raise IndexFormatError(f"{offsets_file}: offsets run from {int(offsets[0])} to {int(offsets[-1])}, "
                                   f"but {data_file.name} holds {size} bytes")
        return cls(data, offsets, str(data_file))

    def __len__(self) -> int:
        return self._offsets.shape[0] - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = operator.index(i)  # numpy integers too
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {n} strings")
        i %= n
        return self._decode(int(self._offsets[i]), int(self._offsets[i + 1]), i)

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self), 65536):  # read the offsets a block at a time
            ends = self._offsets[start:start + 65537].tolist()
            for i, (a, b) in enumerate(zip(ends, ends[1:]), start=start):
                yield self._decode(a, b, i)

    def _decode(self, start: int, end: int, i: int) -> str:
        try:
            return self._data[start:end].decode("utf-8")
        except UnicodeDecodeError as e:  # the file was damaged after it was written (load_index(verify=True))
            raise IndexFormatError(f"{self._source}: string {i} (bytes {start}-{end}) is not valid UTF-8 "
                                   f"({e.reason} at byte {start + e.start})") from None

    def __eq__(self, other) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)) or len(other) != len(self):
            return False
        return all(a == b for a, b in zip(self, other))

    __hash__ = None

    def __repr__(self) -> str:
        return f"StringColumn({len(self)} strings, {len(self._data)} bytes)"

    def raw(self) -> tuple[bytes | mmap.mmap, np.ndarray]:
        """The UTF-8 bytes and the offsets, for copying a column without decoding it."""
        return self._data, self._offsets


MANIFEST_FIELDS = (("embedder", str), ("dim", int), ("count", int), ("normalized", bool), ("corpus", dict),
                   ("shards", list), ("files", dict))


def read_manifest(directory: Path) -> dict:
    """The manifest of the index in ``directory``, with its fields checked (not its files)."""
    manifest = read_description(directory / MANIFEST_FILE, VERSION, MANIFEST_FIELDS)
    if manifest.get("ann") is not None and not isinstance(manifest["ann"], dict):
        raise IndexFormatError(f"{directory / MANIFEST_FILE}: field 'ann' must be an object or null")
    return manifest


def read_description(path: Path, version: int, fields: Sequence[tuple[str, type]]) -> dict:
    """A JSON file describing an index (a manifest.json, or version 1's meta.json): this format and
    version, the ``fields`` with their types, and vectors marked normalized."""
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise IndexFormatError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(description, dict) or description.get("format") != FORMAT:
        raise IndexFormatError(f"{path}: not a minilm-np index (format {FORMAT!r} expected)")
    if description.get("version") != version:
        raise IndexFormatError(f"{path}: index version {description.get('version')!r} is not supported here "
                               f"(this minilm-np reads versions 1 and {VERSION})")
    for key, kind in fields:
        if not isinstance(description.get(key), kind):
            raise IndexFormatError(f"{path}: field {key!r} missing or not a {kind.__name__}")
    if description.get("normalized") is not True:
        raise IndexFormatError(f"{path}: vectors are not marked normalized; rebuild the index")
    return description


def open_matrix(path: Path, description: dict, described_in: str, *, mmap_vectors: bool = True) -> np.ndarray:
    """The float32 [count, dim] matrix at ``path``, memory-mapped read-only (or read when not
    ``mmap_vectors``), checked against the count and dim its description gives."""
    matrix = load_npy(path, mmap_mode="r" if mmap_vectors else None)
    if matrix.dtype != np.float32 or matrix.shape != (description["count"], description["dim"]):
        raise IndexFormatError(f"{path}: holds {matrix.dtype} {matrix.shape}, {described_in} says "
                               f"float32 ({description['count']}, {description['dim']})")
    return matrix


def load_npy(path: Path, mmap_mode: str | None) -> np.ndarray:
    """The array in a .npy file; a damaged or empty file is an IndexFormatError naming it (np.load raises
    ValueError, EOFError, or a SyntaxError or TokenError from parsing the header)."""
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except (ValueError, EOFError, SyntaxError, TokenError) as e:
        raise IndexFormatError(f"{path}: cannot be read as a .npy array ({type(e).__name__}: {e})") from None


def open_files(directory: Path, manifest: dict, *, mmap_vectors: bool = True
               ) -> tuple[np.ndarray, StringColumn, StringColumn]:
    """(embeddings [n, d], ids, texts) of an index, mapped, not read; checked against the manifest."""
    for name in (EMBEDDINGS_FILE, *(f for c in COLUMNS for f in column_files(c))):
        if not (directory / name).is_file():
            raise IndexFormatError(f"{directory} is incomplete: {name} is missing")
    matrix = open_matrix(directory / EMBEDDINGS_FILE, manifest, MANIFEST_FILE, mmap_vectors=mmap_vectors)
    columns = [StringColumn.open(*(directory / f for f in column_files(c))) for c in COLUMNS]
    for name, column in zip(COLUMNS, columns):
        if len(column) != manifest["count"]:
            raise IndexFormatError(f"{directory}: {len(column)} {name}, {MANIFEST_FILE} says {manifest['count']}")
    return matrix, columns[0], columns[1]


def verify_files(directory: Path, manifest: dict | None = None) -> None:
    """Check every file's size and SHA-256 against the manifest (reads them all)."""
    directory = Path(directory)
    manifest = read_manifest(directory) if manifest is None else manifest
    for name, expected in manifest["files"].items():
        path = directory / name
        if not path.is_file():
            raise IndexFormatError(f"{directory}: {name} is missing")
        size = path.stat().st_size
        if size != expected.get("bytes") or file_sha256(path) != expected.get("sha256"):
            raise IndexFormatError(f"{path}: does not match its checksum in {MANIFEST_FILE} "
                                   f"({size} bytes, {expected.get('bytes')} recorded); copy it again or rebuild")


def column_files(name: str) -> tuple[str, str]:
    return f"{name}.utf8", f"{name}.offsets.npy"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def corpus_digest(ids: Iterable[str], texts: Iterable[str]) -> str:
    """SHA-256 over the passages in order, one JSON line ``[id, text]`` each: two indexes (or shards) with
    the same digest were cut from the same passages."""
    h = hashlib.sha256()
    for ident, text in zip(ids, texts, strict=True):
        h.update(json.dumps([ident, text], ensure_ascii=False).encode("utf-8") + b"\n")
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------

class _ColumnWriter:
    """Appends strings (or whole columns, copied as bytes) to ``NAME.utf8`` and keeps their end offsets."""

    def __init__(self, directory: Path, name: str):
        self.data_file, self.offsets_file = (directory / f for f in column_files(name))
        self._f = open(self.data_file, "wb")
        self._ends: list[np.ndarray] = []
        self._size = 0

    def extend(self, strings: Iterable[str]) -> None:
        encoded = [s.encode("utf-8") for s in strings]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))  # [m]
        self._f.write(b"".join(encoded))
        self._ends.append(self._size + np.cumsum(lengths))
        self._size += int(lengths.sum())

    def extend_column(self, column: StringColumn) -> None:
        data, offsets = column.raw()
        for start in range(0, len(data), _CHUNK):
            self._f.write(data[start:start + _CHUNK])
        self._ends.append(self._size + np.asarray(offsets[1:], dtype=np.int64))
        self._size += len(data)

    def discard(self) -> None:
        self._f.close()

    def close(self) -> int:
        """Write the offsets; the number of strings written."""
        _close_synced(self._f)
        offsets = np.concatenate([np.zeros(1, np.int64), *self._ends])  # [n + 1]
        np.save(self.offsets_file, offsets)
        return offsets.shape[0] - 1


_HOST = socket.gethostname().replace("-", "_")  # the partial directory's name splits on "-"


def _partial_prefix(directory: Path) -> str:
    return f".{directory.name}.partial-"


def remove_abandoned(directory: Path) -> list[Path]:
    """Delete the partial directories that killed writers of ``directory`` left on this host (their
    process is gone); returns them. Names without a host and a process id (older versions) are kept."""
    prefix, removed = _partial_prefix(directory), []
    for path in directory.parent.glob(f"{prefix}*"):
        host, _, rest = path.name[len(prefix):].partition("-")
        pid = rest.partition("-")[0]
        if host == _HOST and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if os.name != "posix":  # on Windows os.kill(pid, 0) would terminate the process: assume it lives
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    return True


class IndexWriter:
    """Builds an index out of sight and puts it in place in one step.

        with IndexWriter(directory, count=n) as w:
            w.put(rows, vectors)            # any order, every row exactly once
            w.add_passages(ids, texts)      # StringColumns are copied as bytes
            w.commit(embedder=..., corpus=..., shards=..., ann=None)

    Everything goes into a hidden ``.NAME.partial-*`` directory beside ``directory`` (the same filesystem,
    so the final rename is atomic); ``commit`` writes the manifest last, syncs, and swaps the directory in.
    Leaving the ``with`` block by an exception deletes the partial directory; a killed process leaves it
    behind without a manifest, so nothing loads it, and the next writer of the same index on the same host
    deletes it (the name carries the host and the process id; a live process's or another host's partial
    directory, maybe a build in progress on a shared filesystem, is left alone). An index already at
    ``directory`` stays untouched until the swap (on Linux one ``renameat2(RENAME_EXCHANGE)``; elsewhere two
    renames). A directory that is neither empty nor an index is never replaced.
    """

    def __init__(self, directory: str | Path, *, count: int):
        self.directory = Path(directory)
        check_replaceable(self.directory)
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        remove_abandoned(self.directory)
        # not tempfile.mkdtemp: its 0700 would become the index's mode; mkdir follows the umask
        self.tmp = self.directory.with_name(f"{_partial_prefix(self.directory)}{_HOST}-{os.getpid()}-"
                                            f"{uuid.uuid4().hex[:12]}")
        self.tmp.mkdir()
        self.count = count
        self.embeddings: np.ndarray | None = None  # float32 [n, d] memory map, made by the first put()
        self._written = np.zeros(count, dtype=bool)  # [n]
        self._columns: dict[str, _ColumnWriter] = {}

    def __enter__(self) -> IndexWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            self.abort()

    def put(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Store ``vectors`` [m, d] (float32) at ``rows`` [m] (0-based positions in this index)."""
        rows = np.asarray(rows, dtype=np.int64)
        vectors = np.asarray(vectors)
        if vectors.dtype != np.float32 or vectors.ndim != 2 or vectors.shape[0] != rows.shape[0]:
            raise ValueError(f"vectors must be float32 [{rows.shape[0]}, d], got {vectors.dtype} {vectors.shape}")
        if self.embeddings is None:
            self.embeddings = np.lib.format.open_memmap(self.tmp / EMBEDDINGS_FILE, mode="w+", dtype=np.float32,
                                                        shape=(self.count, vectors.shape[1]))
        if vectors.shape[1] != self.embeddings.shape[1]:
            raise ValueError(f"vectors of dimension {vectors.shape[1]} after {self.embeddings.shape[1]}")
        if rows.size and (rows.min() < 0 or rows.max() >= self.count):
            raise ValueError(f"rows outside 0..{self.count - 1}")
        if self._written[rows].any() or np.unique(rows).size != rows.size:
            raise ValueError("a row was written twice")
        self.embeddings[rows] = vectors
        self._written[rows] = True

    def add_passages(self, ids: Iterable[str], texts: Iterable[str]) -> None:
        """Append ids and texts (a ``StringColumn`` is copied as bytes, never decoded)."""
        for name, strings in (("ids", ids), ("texts", texts)):
            column = self._column(name)
            column.extend_column(strings) if isinstance(strings, StringColumn) else column.extend(strings)

    def _column(self, name: str) -> _ColumnWriter:
        if name not in self._columns:
            self._columns[name] = _ColumnWriter(self.tmp, name)
        return self._columns[name]

    def commit(self, *, embedder: str, corpus: dict, shards: list[dict], ann: AnnConfig | None = None) -> Path:
        """Finish the files, build the ANN index if asked, write the manifest and swap the directory in."""
        missing = np.flatnonzero(~self._written)
        if self.embeddings is None or missing.size:
            raise ValueError(f"{missing.size} of {self.count} rows were never written (first: {missing[:1].tolist()})")
        counts = {name: w.close() for name, w in self._columns.items()}
        if sorted(counts) != sorted(COLUMNS) or set(counts.values()) != {self.count}:
            raise ValueError(f"{self.count} vectors but {counts} strings written")
        self.embeddings.flush()
        ann_entry = build_ann(self.embeddings, ann, self.tmp / ANN_FILE) if ann is not None else None
        dim = self.embeddings.shape[1]
        self.embeddings = None  # close the map before syncing
        files = sorted(p.name for p in self.tmp.iterdir())
        for name in files:
            _sync(self.tmp / name)
        manifest = {
            "format": FORMAT, "version": VERSION, "embedder": embedder, "dim": dim, "count": self.count,
            "normalized": True, "dtype": "float32",
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "corpus": corpus, "shards": shards,
            "files": {name: {"bytes": (self.tmp / name).stat().st_size, "sha256": file_sha256(self.tmp / name)}
                      for name in files},
            "ann": ann_entry,
        }
        with open(self.tmp / MANIFEST_FILE, "w", encoding="utf-8") as f:
            f.write(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
            _close_synced(f)
        _sync(self.tmp)
        _swap_into_place(self.tmp, self.directory)
        return self.directory

    def abort(self) -> None:
        for w in self._columns.values():
            w.discard()
        self.embeddings = None
        shutil.rmtree(self.tmp, ignore_errors=True)


def check_replaceable(directory: Path) -> None:
    """A build may write to ``directory`` if it does not exist, is empty, or holds an index."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise FileExistsError(f"{directory} exists and is not a directory; refusing to replace it")
    if any(directory.iterdir()) and not any((directory / f).is_file() for f in (MANIFEST_FILE, "meta.json")):
        raise FileExistsError(f"{directory} exists and is not a minilm-np index; refusing to replace it "
                              f"(choose another --out or empty it)")


def _close_synced(f) -> None:
    f.flush()
    os.fsync(f.fileno())
    f.close()


def _sync(path: Path) -> None:
    """fsync a file or a directory (a no-op where directories cannot be opened, as on Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _swap_into_place(new: Path, directory: Path) -> None:
    """Make ``new`` appear at ``directory`` in one step; an old index there is removed afterwards.
    Processes that have the old index's files mapped keep reading them (the files are unlinked, not
    overwritten)."""
    if not directory.exists():
        os.rename(new, directory)
    elif _exchange(new, directory):
        shutil.rmtree(new)  # ``new`` now names the old index
    else:
        old = directory.with_name(f".{directory.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(directory, old)  # a crash between these two renames leaves the old index at ``old``
        os.rename(new, directory)
        shutil.rmtree(old)
    _sync(directory.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux's renameat2(RENAME_EXCHANGE); False where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
