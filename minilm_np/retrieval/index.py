"""The embedding index: unit-length passage vectors with their ids and texts, tagged with the name of the
embedder that made them.

On disk it is format version 2 (index_format.py: a memory-mapped ``embeddings.npy``, ids and texts read
lazily, a ``manifest.json``; opens in constant time; written atomically), optionally with an ANN index
beside it (ann.py). Version 1 directories (``embeddings.npy`` + a ``meta.json`` holding every id and text)
still load, parsing the whole meta.json; ``minilm-np index merge OLD --out NEW`` rewrites one as version 2.

Letters: n passages, d embedding dimension.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .ann import AnnConfig, AnnIndex, open_ann
from .index_format import (
    MANIFEST_FILE,
    IndexFormatError,
    IndexWriter,
    corpus_digest,
    open_files,
    read_manifest,
    verify_files,
)
from .scorers import Passages, Progress, TextEmbedder, check_corpus

INDEX_FORMAT = "minilm-np-index"
INDEX_VERSION = 1  # the meta.json layout; version 2 is index_format.py's
EMBEDDINGS_FILE = "embeddings.npy"
META_FILE = "meta.json"

class IndexMismatchError(ValueError):
    """An index was built with a different embedder than the one asked to search it."""


@dataclass
class EmbeddingIndex:
    """Unit-length passage embeddings with their ids and texts, tagged with the embedder's name."""

    embeddings: np.ndarray  # float32 [n, d], unit rows; possibly a read-only np.memmap
    ids: Sequence[str]  # a list, or a StringColumn read lazily from disk
    texts: Sequence[str]
    embedder: str  # the name of the embedder that made the vectors (Embedder.name)
    build_seconds: float | None = field(default=None, compare=False)  # None when loaded from disk
    ann: AnnIndex | None = field(default=None, compare=False, repr=False)  # searched first when present

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

    def save(self, directory: str | Path, *, ann: AnnConfig | None = None) -> Path:
        """Write the index to ``directory`` (format version 2, atomically; see index_format.py), with an
        ANN index beside the vectors when ``ann`` says which."""
        ids, texts = list(self.ids), list(self.texts)
        with IndexWriter(directory, count=len(self)) as writer:
            writer.put(np.arange(len(self)), np.ascontiguousarray(self.embeddings, dtype=np.float32))
            writer.add_passages(ids, texts)
            return writer.commit(embedder=self.embedder, ann=ann,
                                 corpus={"passages": len(self), "sha256": corpus_digest(ids, texts)},
                                 shards=[{"shard": "0/1", "start": 0, "stop": len(self)}])


def build_index(embedder: TextEmbedder, corpus: Passages, *, batch_size: int = 32,
                progress: Progress = None) -> EmbeddingIndex:
    """Embed every passage of ``corpus`` (anything with ``ids`` and ``texts``) into an index."""
    check_corpus(corpus)
    start = time.perf_counter()
    vectors = embedder.encode(list(corpus.texts), batch_size=batch_size, normalize=True, progress=progress)
    seconds = time.perf_counter() - start
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # [n, d]
    return EmbeddingIndex(vectors, list(corpus.ids), list(corpus.texts), embedder.name, seconds)


def load_index(directory: str | Path, *, embedder: str | None = None, mmap: bool = True, ann: bool = True,
               verify: bool = False) -> EmbeddingIndex:
    """Open an index written by ``EmbeddingIndex.save`` (or ``build.write_index``, ``build.merge_indexes``);
    the matrix is memory-mapped read-only, ids and texts are read when used.

    ``embedder``: the name of the embedder the caller will search with; an index made by another one is
    an ``IndexMismatchError`` naming both. ``ann=False`` leaves an ANN index closed (searches scan every
    vector; faiss is not needed). ``verify`` checks every file's checksum first (reads them all). Missing
    files are ``FileNotFoundError``; a version 1 directory loads too.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"index directory not found: {directory}")
    if (directory / MANIFEST_FILE).is_file():
        manifest = read_manifest(directory)
        check_embedder(directory, manifest["embedder"], embedder)
        if verify:
            verify_files(directory, manifest)
        matrix, ids, texts = open_files(directory, manifest, mmap_vectors=mmap)
        opened = open_ann(directory, manifest["ann"]) if ann and manifest.get("ann") else None
        return EmbeddingIndex(matrix, ids, texts, manifest["embedder"], ann=opened)
    if (directory / META_FILE).is_file():
        return _load_version_1(directory, embedder, mmap)
    raise FileNotFoundError(f"{directory} is not an index: {MANIFEST_FILE} is missing "
                            f"(build one with `minilm-np index build`)")


def check_embedder(directory: Path, built_with: str, asked: str | None) -> None:
    if asked is not None and asked != built_with:
        raise IndexMismatchError(f"index {directory} was built with embedder {built_with!r}, "
                                 f"but embedder {asked!r} was asked for; rebuild the index or use "
                                 f"--embedder {built_with}")


def _load_version_1(directory: Path, embedder: str | None, mmap: bool) -> EmbeddingIndex:
    """``embeddings.npy`` + ``meta.json`` (every id and text in one JSON file)."""
    meta_file, matrix_file = directory / META_FILE, directory / EMBEDDINGS_FILE
    if not matrix_file.is_file():
        raise FileNotFoundError(f"{directory} is not an index: {matrix_file.name} is missing "
                                f"(build one with `minilm-np index build`)")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise IndexFormatError(f"{meta_file}: not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != INDEX_FORMAT:
        raise IndexFormatError(f"{meta_file}: not a minilm-np index (format {INDEX_FORMAT!r} expected)")
    if meta.get("version") != INDEX_VERSION:
        raise IndexFormatError(f"{meta_file}: index version {meta.get('version')!r} is not supported "
                               f"(this minilm-np reads version {INDEX_VERSION} from a meta.json)")
    for key, kind in (("embedder", str), ("dim", int), ("count", int), ("ids", list), ("texts", list)):
        if not isinstance(meta.get(key), kind):
            raise IndexFormatError(f"{meta_file}: field {key!r} missing or not a {kind.__name__}")
    if meta.get("normalized") is not True:
        raise IndexFormatError(f"{meta_file}: vectors are not marked normalized; rebuild the index")
    check_embedder(directory, meta["embedder"], embedder)
    try:
        matrix = np.load(matrix_file, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as e:
        raise IndexFormatError(f"{matrix_file}: cannot be read as a .npy array ({e})") from None
    if matrix.dtype != np.float32 or matrix.shape != (meta["count"], meta["dim"]):
        raise IndexFormatError(f"{matrix_file}: holds {matrix.dtype} {matrix.shape}, meta.json says "
                               f"float32 ({meta['count']}, {meta['dim']})")
    return EmbeddingIndex(matrix, [str(i) for i in meta["ids"]], meta["texts"], meta["embedder"])
