"""The embedding index: unit-length passage vectors with their ids and texts, tagged with the name of the
embedder that made them, saved as ``embeddings.npy`` (memory-mapped on load) plus ``meta.json``.

Letters: n passages, d embedding dimension.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .corpus import as_passages
from .scorers import Passages, Progress, TextEmbedder, check_corpus

INDEX_FORMAT = "minilm-np-index"
INDEX_VERSION = 1
EMBEDDINGS_FILE = "embeddings.npy"
META_FILE = "meta.json"


class IndexFormatError(ValueError):
    """An index directory is unreadable: a missing or malformed meta.json, or a matrix that disagrees
    with it."""


class IndexMismatchError(ValueError):
    """An index was built with a different embedder than the one asked to search it."""


@dataclass
class EmbeddingIndex:
    """Unit-length passage embeddings with their ids and texts, tagged with the embedder's name."""

    embeddings: np.ndarray  # float32 [n, d], unit rows; possibly a read-only np.memmap
    ids: list[str]
    texts: list[str]
    embedder: str  # the name of the embedder that made the vectors (Embedder.name)
    build_seconds: float | None = field(default=None, compare=False)  # None when loaded from disk
    corpus_digest: str | None = None  # corpus_digest(ids, texts) at build time; None in older indexes

    def __post_init__(self):
        e = self.embeddings
        if e.ndim != 2 or e.dtype != np.float32:
            raise IndexFormatError(f"embeddings must be float32 [n, d], got {e.dtype} {e.shape}")
        if not (len(self.ids) == len(self.texts) == e.shape[0]):
            raise IndexFormatError(f"index has {e.shape[0]} vectors, {len(self.ids)} ids and "
                                   f"{len(self.texts)} texts")

    def __len__(self) -> int:
        return self.embeddings.shape[0]

    @property
    def dim(self) -> int:
        return self.embeddings.shape[1]

    def save(self, directory: str | Path) -> Path:
        """Write ``embeddings.npy`` and ``meta.json`` into ``directory`` (created if needed)."""
        directory = check_destination(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / EMBEDDINGS_FILE, np.ascontiguousarray(self.embeddings, dtype=np.float32))
        meta = {"format": INDEX_FORMAT, "version": INDEX_VERSION, "embedder": self.embedder,
                "dim": self.dim, "count": len(self), "normalized": True, "ids": self.ids, "texts": self.texts}
        if self.corpus_digest is not None:
            meta["corpus_digest"] = self.corpus_digest
        (directory / META_FILE).write_text(json.dumps(meta, ensure_ascii=False) + "\n", encoding="utf-8")
        return directory


def check_destination(directory: str | Path) -> Path:
    """``directory`` if an index can be saved there: no file stands where it or a folder above it would go
    (a ``NotADirectoryError`` says which). Callers may check before the slow embedding."""
    directory = Path(directory)
    for path in (directory, *directory.parents):
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"cannot save an index to {directory}: {path} is a file, and an index is a "
                                     f"directory (embeddings.npy + meta.json)")
    return directory


def build_index(embedder: TextEmbedder, corpus: Passages, *, batch_size: int = 32,
                progress: Progress = None) -> EmbeddingIndex:
    """Embed every passage of ``corpus`` (anything with ``ids`` and ``texts``, or a plain list of str or of
    (id, text) pairs: see ``corpus.as_passages``) into an index."""
    corpus = as_passages(corpus)
    check_corpus(corpus)
    start = time.perf_counter()
    vectors = embedder.encode(list(corpus.texts), batch_size=batch_size, normalize=True, progress=progress)
    seconds = time.perf_counter() - start
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # [n, d]
    return EmbeddingIndex(vectors, list(corpus.ids), list(corpus.texts), embedder.name, seconds,
                          corpus_digest(corpus.ids, corpus.texts))


def corpus_digest(ids: Sequence[str], texts: Sequence[str]) -> str:
    """sha256 over the passages' ids and texts, in order: which corpus an index was built from, so that an
    index of another corpus (or of the same files cut into passages another way) can be refused."""
    h = hashlib.sha256()
    for ident, text in zip(ids, texts, strict=True):
        h.update(json.dumps([ident, text], ensure_ascii=False).encode("utf-8") + b"\n")
    return h.hexdigest()


def load_index(directory: str | Path, *, embedder: str | None = None, mmap: bool = True) -> EmbeddingIndex:
    """Read an index written by ``EmbeddingIndex.save``; the matrix is memory-mapped read-only.

    ``embedder``: the name of the embedder the caller will search with; an index made by another one is
    an ``IndexMismatchError`` naming both. Missing files are ``FileNotFoundError``.
    """
    directory = Path(directory)
    meta_file, matrix_file = directory / META_FILE, directory / EMBEDDINGS_FILE
    if not directory.is_dir():
        raise FileNotFoundError(f"index directory not found: {directory}")
    for f in (meta_file, matrix_file):
        if not f.is_file():
            raise FileNotFoundError(f"{directory} is not an index: {f.name} is missing "
                                    f"(build one with `minilm-np index build`)")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise IndexFormatError(f"{meta_file}: not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != INDEX_FORMAT:
        raise IndexFormatError(f"{meta_file}: not a minilm-np index (format {INDEX_FORMAT!r} expected)")
    if meta.get("version") != INDEX_VERSION:
        raise IndexFormatError(f"{meta_file}: index version {meta.get('version')!r} is not supported "
                               f"(this minilm-np reads version {INDEX_VERSION})")
    for key, kind in (("embedder", str), ("dim", int), ("count", int), ("ids", list), ("texts", list)):
        if not isinstance(meta.get(key), kind):
            raise IndexFormatError(f"{meta_file}: field {key!r} missing or not a {kind.__name__}")
    if meta.get("normalized") is not True:
        raise IndexFormatError(f"{meta_file}: vectors are not marked normalized; rebuild the index")
    if embedder is not None and embedder != meta["embedder"]:
        raise IndexMismatchError(f"index {directory} was built with embedder {meta['embedder']!r}, "
                                 f"but embedder {embedder!r} was asked for; rebuild the index or use "
                                 f"--embedder {meta['embedder']}")
    try:
        matrix = np.load(matrix_file, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as e:
        raise IndexFormatError(f"{matrix_file}: cannot be read as a .npy array ({e})") from None
    if matrix.dtype != np.float32 or matrix.shape != (meta["count"], meta["dim"]):
        raise IndexFormatError(f"{matrix_file}: holds {matrix.dtype} {matrix.shape}, meta.json says "
                               f"float32 ({meta['count']}, {meta['dim']})")
    digest = meta.get("corpus_digest")
    if digest is not None and not isinstance(digest, str):
        raise IndexFormatError(f"{meta_file}: field 'corpus_digest' is not a string")
    return EmbeddingIndex(matrix, [str(i) for i in meta["ids"]], meta["texts"], meta["embedder"],
                          corpus_digest=digest)
