"""Indexes for large corpora: built straight to disk, one shard at a time if need be, and merged.

    write_index(directory, embedder, corpus)                      the whole corpus, on this machine
    write_index(directory, embedder, corpus, shard=Shard(2, 8))   only shard 2 of 8
    merge_indexes([part0, ..., part7], directory, ann=...)        the shards joined: the same index

Shard I of N is the run of positions floor(I*n/N) .. floor((I+1)*n/N) - 1: every machine computes the
same split from the corpus alone, and the shards joined in order are the corpus in order. Vectors are
embedded a chunk at a time and written into the memory-mapped file (``IndexWriter``), so memory stays at
one chunk whatever the corpus size, and nothing appears at ``directory`` until the index is complete.

Merged shards equal a one-machine build bit for bit (ids, texts and vectors): a passage's vector does not
depend on which passages share its call or batch (the packed forward pass keeps each passage's rows to
itself; measured on all-MiniLM-L6-v2: one call, three calls, batch 16 and one thread all give the same
bits; tests/test_build.py holds it), where the BLAS rounds a row of a product the same wherever the row sits
in it (OpenBLAS's SkylakeX kernels do; its Haswell kernels, on an AMD Zen 5, do not). Elsewhere, and for shards
embedded on CPUs with another BLAS kernel, vectors agree to ~1e-7.

The distributed engine (distributed.py, Ray) uses the same writer; any other scheduler (Dask, Slurm, a
shell loop) runs ``write_index`` with ``shard=`` once per shard and then ``merge_indexes``.

Letters: n passages, d embedding dimension.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .ann import AnnConfig
from .index import EmbeddingIndex, load_index
from .index_format import MANIFEST_FILE, IndexWriter, corpus_digest, read_manifest, verify_files
from .corpus import as_passages
from .scorers import CorpusLike, Passages, Progress, TextEmbedder, check_corpus, check_is_embedder

CHUNK = 4096  # passages per encode call (and rows copied at a time by a merge)


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based): a contiguous run of corpus positions."""

    index: int
    count: int

    def __post_init__(self):
        numbers = all(isinstance(v, int) and not isinstance(v, bool) for v in (self.index, self.count))
        if not (numbers and 0 <= self.index < self.count):
            raise ValueError(f"a shard is I/N with 0 <= I < N, got {self.index}/{self.count}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"2/8"`` -> ``Shard(2, 8)``."""
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not m:
            raise ValueError(f"a shard is written I/N (e.g. 0/4), got {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    def bounds(self, n: int) -> tuple[int, int]:
        """(start, stop): the positions of an n-passage corpus this shard holds."""
        return self.index * n // self.count, (self.index + 1) * n // self.count

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


WHOLE = Shard(0, 1)


# --------------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------------

def write_index(directory: str | Path, embedder: TextEmbedder, corpus: CorpusLike, *, shard: Shard | None = None,
                ann: AnnConfig | None = None, batch_size: int = 32, progress: Progress = None) -> EmbeddingIndex:
    """Embed ``corpus`` (or its ``shard``; a corpus as ``build_index`` takes it) into an index at ``directory``,
    with an ANN index if ``ann`` says which; returns it opened (``build_seconds`` set). An exception or a kill
    leaves ``directory`` as it was."""
    check_is_embedder(embedder)
    corpus = as_passages(corpus)
    shard = shard or WHOLE
    start, stop = shard_bounds(corpus, shard, ann)
    began = time.perf_counter()
    with IndexWriter(directory, count=stop - start) as writer:
        for a in range(start, stop, CHUNK):
            b = min(a + CHUNK, stop)
            vectors = embedder.encode(list(corpus.texts[a:b]), batch_size=batch_size, normalize=True,
                                      progress=progress)  # [b - a, d]
            writer.put(np.arange(a - start, b - start), np.ascontiguousarray(vectors, dtype=np.float32))
        commit_shard(writer, corpus, shard, embedder.name, ann)
    return opened(directory, time.perf_counter() - began)


def shard_bounds(corpus: Passages, shard: Shard, ann: AnnConfig | None) -> tuple[int, int]:
    """(start, stop) of ``shard`` in ``corpus``, refusing an empty shard or an ANN index on a shard."""
    check_corpus(corpus)
    if ann is not None and shard.count > 1:
        raise ValueError("an ANN index covers the whole index: build it when merging the shards, not per shard")
    start, stop = shard.bounds(len(corpus.texts))
    if start == stop:
        raise ValueError(f"shard {shard} of a {len(corpus.texts)}-passage corpus is empty; use at most "
                         f"{len(corpus.texts)} shards")
    return start, stop


def commit_shard(writer: IndexWriter, corpus: Passages, shard: Shard, embedder: str, ann: AnnConfig | None) -> None:
    """Write the shard's ids and texts, the manifest (with the whole corpus's digest) and swap it in."""
    start, stop = shard.bounds(len(corpus.texts))
    writer.add_passages(corpus.ids[start:stop], corpus.texts[start:stop])
    writer.commit(embedder=embedder, ann=ann,
                  corpus={"passages": len(corpus.texts), "sha256": corpus_digest(corpus.ids, corpus.texts)},
                  shards=[{"shard": str(shard), "start": start, "stop": stop}])


def opened(directory: str | Path, seconds: float) -> EmbeddingIndex:
    index = load_index(directory)
    index.build_seconds = seconds
    return index


# --------------------------------------------------------------------------------------------------
# Merging
# --------------------------------------------------------------------------------------------------

@dataclass
class _Part:
    directory: Path
    index: EmbeddingIndex
    shards: list[dict]  # the manifest's shard entries ([] for a version 1 index)
    corpus: dict | None  # the manifest's corpus entry (None for version 1)


def merge_indexes(inputs: Sequence[str | Path], directory: str | Path, *, ann: AnnConfig | None = None,
                  partial: bool = False) -> EmbeddingIndex:
    """Join indexes into one at ``directory``; returns it opened.

    Shards of one corpus (``write_index(..., shard=)``) are put in shard order, and all N must be there
    unless ``partial``; they must come from the same corpus (its digest). Other indexes are concatenated
    in the order given. Either way the inputs must share embedder, dimension and normalisation, their ids
    must not collide, and their files must match their checksums. One input rewrites an index (a version 1
    one as version 2; or with another ANN index).
    """
    if isinstance(inputs, (str, Path)):  # iterating it would give its characters
        raise TypeError(f"inputs must be a list of index directories, got one {type(inputs).__name__}: "
                        f"pass [{inputs!r}]")
    if not inputs:
        raise ValueError("nothing to merge: give at least one index directory")
    parts = [_open_part(Path(d)) for d in inputs]
    first = parts[0]  # every index loads only with unit rows, so normalisation is shared already
    for p in parts[1:]:
        for what, a, b in (("embedder", first.index.embedder, p.index.embedder),
                           ("dimension", first.index.dim, p.index.dim)):
            if a != b:
                raise ValueError(f"cannot merge indexes of different {what}: {first.directory} has {a!r}, "
                                 f"{p.directory} has {b!r}")
    parts, shards, corpus = _arrange(parts, partial)
    _check_unique_ids(parts)
    count = sum(len(p.index) for p in parts)
    with IndexWriter(directory, count=count) as writer:
        row = 0
        for p in parts:
            for a in range(0, len(p.index), CHUNK):
                block = np.asarray(p.index.embeddings[a:a + CHUNK])  # [<= CHUNK, d], read from the map
                writer.put(np.arange(row + a, row + a + block.shape[0]), block)
            writer.add_passages(p.index.ids, p.index.texts)
            row += len(p.index)
        if corpus is None:  # a concatenation: the merged index is its own corpus
            corpus = {"passages": count, "sha256": corpus_digest(_chain(p.index.ids for p in parts),
                                                                 _chain(p.index.texts for p in parts))}
        writer.commit(embedder=first.index.embedder, corpus=corpus, shards=shards, ann=ann)
    return load_index(directory)


def _open_part(directory: Path) -> _Part:
    index = load_index(directory, ann=False)
    if not (directory / MANIFEST_FILE).is_file():  # version 1: vectors are normalised by construction
        return _Part(directory, index, [], None)
    manifest = read_manifest(directory)
    verify_files(directory, manifest)
    return _Part(directory, index, manifest["shards"], manifest["corpus"])


def _split_of(part: _Part) -> set[int]:
    """The N of the I/N shards a part holds."""
    return {Shard.parse(e["shard"]).count for e in part.shards}


def _arrange(parts: list[_Part], partial: bool) -> tuple[list[_Part], list[dict], dict | None]:
    """(parts in merge order, the merged shard list, the corpus entry, or None for a concatenation)."""
    splits = {Shard.parse(e["shard"]).count for p in parts for e in p.shards}
    if splits <= {1}:  # whole indexes: concatenated in the order given
        shards, row = [], 0
        for k, p in enumerate(parts):
            shards.append({"shard": f"{k}/{len(parts)}", "start": row, "stop": row + len(p.index),
                           "source": p.directory.name})
            row += len(p.index)
        return parts, shards, None
    first = parts[0]
    for p in parts[1:] if first.shards else parts[:1]:  # name the first part that does not fit with the first
        if not p.shards or _split_of(p) != _split_of(first) or p.corpus != first.corpus:
            other = f" as {first.directory}" if p is not first else ""
            raise ValueError(f"{p.directory} is not a shard of the same corpus{other} (same corpus digest, same N): "
                             f"merge the shards of one split, or whole indexes")
    parts = sorted(parts, key=lambda p: Shard.parse(p.shards[0]["shard"]).index)
    entries = [e for p in parts for e in p.shards]
    numbers = [Shard.parse(e["shard"]).index for e in entries]
    if len(set(numbers)) != len(numbers):
        twice = next(e["shard"] for e in entries if numbers.count(Shard.parse(e["shard"]).index) > 1)
        raise ValueError(f"shard {twice} is given twice")
    if numbers != sorted(numbers):
        raise ValueError("these merged shards interleave (one holds shards on both sides of another's); "
                         "merge the original shards instead")
    n = splits.pop()
    missing = [f"{i}/{n}" for i in range(n) if i not in set(numbers)]
    if missing and not partial:
        raise ValueError(f"shard{'s' if len(missing) > 1 else ''} {', '.join(missing)} of {n} "
                         f"{'are' if len(missing) > 1 else 'is'} missing; merge all {n}, or pass partial "
                         f"(--partial) to join only these")
    return parts, entries, parts[0].corpus


def _chain(columns):
    for column in columns:
        yield from column


def _check_unique_ids(parts: list[_Part]) -> None:
    """No id in two places: 64-bit hashes sorted, then any equal hashes compared as strings."""
    total = sum(len(p.index) for p in parts)
    hashes = np.fromiter((hash(i) for p in parts for i in p.index.ids), dtype=np.int64, count=total)  # [n]
    order = np.argsort(hashes, kind="stable")  # [n]
    same = np.flatnonzero(hashes[order][1:] == hashes[order][:-1])
    if not same.size:
        return
    starts = np.cumsum([0] + [len(p.index) for p in parts])  # where each part begins in the merged rows

    def locate(row: int) -> tuple[_Part, int]:
        k = int(np.searchsorted(starts, row, side="right")) - 1
        return parts[k], row - int(starts[k])

    for s in same:
        (pa, a), (pb, b) = locate(int(order[s])), locate(int(order[s + 1]))
        if pa.index.ids[a] == pb.index.ids[b]:
            where = f"{pa.directory}" if pa is pb else f"{pa.directory} and {pb.directory}"
            raise ValueError(f"id {pa.index.ids[a]!r} is in {where}; ids must be unique across the merged indexes")
