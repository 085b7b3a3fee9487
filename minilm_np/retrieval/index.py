"""The embedding index: unit-length passage vectors with their ids and texts, tagged with the name of the
embedder that made them.

On disk it is format version 2 (index_format.py: a memory-mapped ``embeddings.npy``, ids and texts read
lazily, a ``manifest.json``; opens in constant time; written atomically), optionally with an ANN index
beside it (ann.py). Version 1 directories (``embeddings.npy`` + a ``meta.json`` holding every id and text)
still load, parsing the whole meta.json; ``minilm-np index merge OLD --out NEW`` rewrites one as version 2.

Letters: n passages, d embedding dimension.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .ann import AnnConfig, AnnIndex, open_ann
from .corpus import as_passages
from .index_format import (
    EMBEDDINGS_FILE,
    MANIFEST_FILE,
    IndexFormatError,
    IndexWriter,
    corpus_digest,
    open_files,
    open_matrix,
    read_description,
    read_manifest,
    verify_files,
)
from .scorers import CorpusLike, Progress, TextEmbedder, check_corpus, check_is_embedder

META_FILE = "meta.json"  # version 1: every id and text in one JSON file beside embeddings.npy


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
    corpus_digest: str | None = None  # corpus_digest(ids, texts) at build time; None in older indexes
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
        digest = self.corpus_digest or corpus_digest(ids, texts)
        with IndexWriter(check_destination(directory), count=len(self)) as writer:
            writer.put(np.arange(len(self)), np.ascontiguousarray(self.embeddings, dtype=np.float32))
            writer.add_passages(ids, texts)
            return writer.commit(embedder=self.embedder, ann=ann,
                                 corpus={"passages": len(self), "sha256": digest},
                                 shards=[{"shard": "0/1", "start": 0, "stop": len(self)}])


def check_destination(directory: str | Path) -> Path:
    """``directory`` if an index can be saved there: no file stands where it or a folder above it would go
    (a ``NotADirectoryError`` says which). Callers may check before the slow embedding."""
    directory = Path(directory)
    for path in (directory, *directory.parents):
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"cannot save an index to {directory}: {path} is a file, and an index is a "
                                     f"directory")
    return directory


def build_index(embedder: TextEmbedder, corpus: CorpusLike, *, batch_size: int = 32,
                progress: Progress = None) -> EmbeddingIndex:
    """Embed every passage of ``corpus`` (anything with ``ids`` and ``texts``, or a plain list of str or of
    (id, text) pairs: see ``corpus.as_passages``) into an index."""
    check_is_embedder(embedder)
    corpus = as_passages(corpus)
    check_corpus(corpus)
    start = time.perf_counter()
    vectors = embedder.encode(list(corpus.texts), batch_size=batch_size, normalize=True, progress=progress)
    seconds = time.perf_counter() - start
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # [n, d]
    return EmbeddingIndex(vectors, list(corpus.ids), list(corpus.texts), embedder.name, seconds,
                          corpus_digest(corpus.ids, corpus.texts))


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
        corpus = manifest.get("corpus") or {}
        whole = corpus.get("sha256") if corpus.get("passages") == manifest["count"] else None  # not of a shard
        return EmbeddingIndex(matrix, ids, texts, manifest["embedder"], ann=opened, corpus_digest=whole)
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
    fields = (("embedder", str), ("dim", int), ("count", int), ("ids", list), ("texts", list))
    meta = read_description(meta_file, 1, fields)
    check_embedder(directory, meta["embedder"], embedder)
    matrix = open_matrix(matrix_file, meta, META_FILE, mmap_vectors=mmap)
    digest = meta.get("corpus_digest")  # written by the version 1 saver of late 2026; absent before
    if digest is not None and not isinstance(digest, str):
        raise IndexFormatError(f"{meta_file}: field 'corpus_digest' is not a string")
    return EmbeddingIndex(matrix, [str(i) for i in meta["ids"]], meta["texts"], meta["embedder"],
                          corpus_digest=digest)
