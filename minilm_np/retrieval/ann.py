"""Approximate nearest neighbours beside the exact vectors: a faiss index that proposes candidates, which
``search.py`` then re-scores exactly against the stored vectors, so every score is the flat scan's.

faiss-cpu is an optional extra (``pip install "minilm-np[ann]"``), imported by this module alone and only
when an ANN index is built or opened; without it, indexes without ``ann.faiss`` work as before.

Two kinds, both over inner product (the vectors are unit length, so that is cosine similarity):

* ``hnsw``: a navigable small-world graph (faiss ``IndexHNSW``): ``m`` links per vector, a query walks
  the graph keeping ``ef_search`` candidates; cost grows about with log n. The graph walks 8-bit scalar
  quantised copies of the vectors (``IndexHNSWSQ``, a quarter of their size; ``hnsw_storage="flat"``
  keeps float32 copies): the approximate distances only choose the candidates, the scores come from the
  exact re-scoring.
* ``ivfpq``: an inverted file of ``nlist`` k-means cells holding product-quantised codes (``pq_m`` bytes
  per vector); a query scans the ``nprobe`` nearest cells. The smallest index (1M vectors x 48 bytes =
  48 MB); needs training, so a few thousand vectors at least.

A search asks for ``max(candidates, top_k)`` neighbours; a larger pool costs a few microseconds per
candidate (one row read and one dot product) and raises recall. The manifest records the parameters;
``AnnIndex.configure`` changes the search-time ones (``candidates``, ``ef_search``, ``nprobe``).

Letters: n vectors, d dimension, C candidates.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import IndexFormatError

ANN_FILE = "ann.faiss"
ANN_KINDS = ("hnsw", "ivfpq")
HNSW_STORAGE = ("sq8", "flat")
_ADD_CHUNK = 65536  # vectors handed to faiss at a time, so a memory-mapped matrix is never copied whole


@dataclass(frozen=True)
class AnnConfig:
    """How to build an ANN index; ``None`` means "chosen from the index size" (recorded in the manifest)."""

    kind: str  # "hnsw" | "ivfpq"
    candidates: int | None = None  # neighbours re-scored exactly per query (at least top_k); None: 100 for
    # hnsw, 200 for ivfpq, whose coarser PQ distances put more true neighbours past the first 100
    # HNSW
    m: int = 32  # links per vector; the graph costs 2 * m * 4 bytes per vector at its bottom level
    ef_construction: int = 80  # candidates kept while inserting: a better graph for a slower build
    ef_search: int = 128  # candidates kept while searching (at least the pool asked for)
    hnsw_storage: str = "sq8"  # what the graph walk measures: 8-bit codes ("sq8") or float32 ("flat")
    # IVF-PQ
    nlist: int | None = None  # k-means cells; None: 4 * sqrt(n) (faiss's guide: 4..16 sqrt(n)), <= n / 39
    nprobe: int | None = None  # cells scanned per query; None: nlist / 16, at least 64 (or nlist)
    pq_m: int | None = None  # sub-quantisers = bytes per code; None: d / 8 (a divisor of d)

    def __post_init__(self):
        if self.kind not in ANN_KINDS:
            raise ValueError(f"unknown ANN kind {self.kind!r}; expected one of {', '.join(ANN_KINDS)}")
        if self.hnsw_storage not in HNSW_STORAGE:
            raise ValueError(f"hnsw_storage must be one of {', '.join(HNSW_STORAGE)}, got {self.hnsw_storage!r}")
        for name in ("candidates", "m", "ef_construction", "ef_search", "nlist", "nprobe", "pq_m"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise ValueError(f"ANN {name} must be a positive integer, got {value!r}")


def _faiss():
    try:
        import faiss
    except ImportError:
        raise ImportError('approximate search needs faiss: pip install "minilm-np[ann]"') from None
    return faiss


# --------------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------------

def build_ann(vectors: np.ndarray, config: AnnConfig, path: Path) -> dict:
    """Build the index over ``vectors`` [n, d] (float32, possibly memory-mapped), write it to ``path``,
    and return its manifest entry: ``{"kind", "file", "params"}`` with every parameter resolved."""
    faiss = _faiss()
    n, d = vectors.shape
    if config.kind == "hnsw":
        params = {"m": config.m, "ef_construction": config.ef_construction, "ef_search": config.ef_search,
                  "storage": config.hnsw_storage}
        if config.hnsw_storage == "sq8":
            index = faiss.IndexHNSWSQ(d, faiss.ScalarQuantizer.QT_8bit, config.m, faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexHNSWFlat(d, config.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.ef_construction
        sample = _sample(vectors, 65536)  # SQ8 learns each dimension's range
    else:
        params = _ivfpq_params(n, d, config)
        # built directly rather than by index_factory, which switches on polysemous training: seconds to
        # minutes of annealing for a code ordering only polysemous search uses
        index = faiss.IndexIVFPQ(faiss.IndexFlatIP(d), d, params["nlist"], params["pq_m"], params["pq_bits"],
                                 faiss.METRIC_INNER_PRODUCT)
        sample = _sample(vectors, max(50 * params["nlist"], 64 * 2 ** params["pq_bits"]))
    if not index.is_trained:
        index.train(sample)
    for start in range(0, n, _ADD_CHUNK):
        index.add(np.ascontiguousarray(vectors[start:start + _ADD_CHUNK]))
    faiss.write_index(index, str(path))
    candidates = config.candidates or (100 if config.kind == "hnsw" else 200)
    return {"kind": config.kind, "file": path.name, "params": {**params, "candidates": candidates}}


def _ivfpq_params(n: int, d: int, config: AnnConfig) -> dict:
    # faiss wants >= 39 training points per k-means centroid, for the cells and for each sub-quantiser's
    # 2^bits codes; fewer bits per code below ~10k vectors, and no IVF-PQ at all below 624.
    if n < 39 * 16:
        raise ValueError(f"IVF-PQ needs at least {39 * 16} vectors to train on, this index has {n}; use "
                         f"hnsw (or no ANN: the flat scan is fast at this size)")
    nlist = config.nlist or max(1, min(round(4 * math.sqrt(n)), n // 39))
    if nlist > n:
        raise ValueError(f"nlist {nlist} is more than the {n} vectors")
    pq_m = config.pq_m or max(k for k in range(1, max(1, d // 8) + 1) if d % k == 0)
    if d % pq_m:
        raise ValueError(f"pq_m {pq_m} must divide the dimension {d}")
    pq_bits = min(8, int(math.log2(n // 39)))
    nprobe = min(config.nprobe or max(64, nlist // 16), nlist)
    return {"nlist": nlist, "nprobe": nprobe, "pq_m": pq_m, "pq_bits": pq_bits}


def _sample(vectors: np.ndarray, size: int) -> np.ndarray:
    """Up to ``size`` rows spread evenly over the matrix (deterministic), as a contiguous array."""
    n = vectors.shape[0]
    if size >= n:
        return np.ascontiguousarray(vectors)
    return np.ascontiguousarray(vectors[np.linspace(0, n - 1, size).astype(np.int64)])


# --------------------------------------------------------------------------------------------------
# Searching
# --------------------------------------------------------------------------------------------------

class AnnIndex:
    """An ANN index beside an index's vectors: ``candidates(query_vector, top_k)`` proposes rows to re-score.

    The faiss file is opened on the first search (or by ``open()``), not when the index is loaded:
    faiss reads an HNSW graph's every page on opening (1M vectors: ~0.1 s from the page cache, seconds
    from disk), which would make loading grow with the index. The file is memory-mapped where faiss can
    (the codes, and the graph's links), so what a process keeps is the page cache, shared and evictable.
    """

    def __init__(self, path: Path, kind: str, params: dict):
        self.path = path
        self.kind = kind
        self.params = dict(params)  # as built; the search-time ones are changed by configure()
        self._index = None  # the faiss index, once opened
        self._opening = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._index is not None

    def open(self) -> AnnIndex:
        """Open the faiss file now (a server may call this at start-up); returns self."""
        with self._opening:
            if self._index is None:
                faiss = _faiss()
                try:  # map the codes and the graph rather than copy them
                    self._index = faiss.read_index(str(self.path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
                except RuntimeError:
                    try:
                        self._index = faiss.read_index(str(self.path))
                    except RuntimeError as e:  # faiss's C++ exceptions, e.g. a truncated or damaged file
                        raise IndexFormatError(f"{self.path}: faiss cannot read it as a {self.kind} index "
                                               f"({str(e).splitlines()[0]})") from None
        return self

    def configure(self, *, candidates: int | None = None, ef_search: int | None = None,
                  nprobe: int | None = None) -> AnnIndex:
        """Change the search-time parameters (those that are None stay); returns self."""
        for name, value in (("candidates", candidates), ("ef_search", ef_search), ("nprobe", nprobe)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
            if name != "candidates" and name not in self.params:
                raise ValueError(f"{name} applies to {'hnsw' if name == 'ef_search' else 'ivfpq'} indexes, "
                                 f"this one is {self.kind}")
            self.params[name] = value
        return self

    def candidates(self, query_vector: np.ndarray, top_k: int) -> np.ndarray:
        """Rows to re-score for ``query_vector`` [d]: ``max(candidates, top_k)`` of them at most, in
        ascending order (so ties among them go to the lower row, as in the flat scan).  [d] -> [C]"""
        faiss = _faiss()
        index = self.open()._index
        pool = min(max(self.params["candidates"], top_k), index.ntotal)
        if self.kind == "hnsw":
            search = faiss.SearchParametersHNSW(efSearch=max(self.params["ef_search"], pool))
        else:
            search = faiss.SearchParametersIVF(nprobe=self.params["nprobe"])
        q = np.ascontiguousarray(query_vector, dtype=np.float32).reshape(1, -1)  # [1, d]
        _, rows = index.search(q, pool, params=search)  # [1, C], -1 where fewer were found
        rows = np.sort(rows[0][rows[0] >= 0])
        if rows.size and rows[-1] >= index.ntotal:  # stored ids past the end: the file was damaged
            raise IndexFormatError(f"{self.path}: proposes row {rows[-1]} of an index of {index.ntotal} vectors")
        return rows

    def __repr__(self) -> str:
        return f"AnnIndex({self.kind}, {self.path}, {self.params})"


def open_ann(directory: Path, entry: dict) -> AnnIndex:
    """The ANN index a manifest's ``ann`` entry names (checked, and faiss importable; opened on first use)."""
    _faiss()
    path = Path(directory) / entry.get("file", ANN_FILE)
    kind = entry.get("kind")
    if kind not in ANN_KINDS or not isinstance(entry.get("params"), dict):
        raise ValueError(f"{directory}: the manifest's ann entry is malformed: {entry!r}")
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: {path.name} is missing (the manifest lists a {kind} index)")
    return AnnIndex(path, kind, entry["params"])
