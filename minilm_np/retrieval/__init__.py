"""Search a corpus three ways: the reranker alone, the embedder alone, or both in two stages.

    corpus.py   passages with ids from .txt / .jsonl / directories (Corpus, read_corpus)
    index.py    the embedding index: build in memory, save, load (opens in constant time)
    index_format.py  the on-disk layout (version 2): memory-mapped vectors, lazy ids/texts, manifest
    errors.py   IndexFormatError, what an unreadable index raises (its files or its ANN file)
    build.py    large corpora: build straight to disk, one shard at a time, merge shards
    distributed.py   the same build on a Ray cluster (optional extra "ray")
    ann.py      approximate nearest neighbours with faiss (optional extra "ann"), re-scored exactly
    search.py   rerank_search, embedding_search, two_stage_search, and top-K selection
    compare.py  the three on one query, side by side
    scorers.py  what retrieval needs of its models, as protocols (it never imports them)
"""

from .ann import AnnConfig
from .build import Shard, merge_indexes, write_index
from .compare import Comparison, compare_methods
from .corpus import Corpus, CorpusError, corpus_from_texts, read_corpus
from .distributed import write_index_on_ray
from .index import EmbeddingIndex, IndexFormatError, IndexMismatchError, build_index, load_index
from .search import (
    DEFAULT_TOP_K,
    DEFAULT_TOP_N,
    Hit,
    SearchResult,
    cosine_scores,
    embedding_search,
    nearest,
    rerank_hits,
    rerank_search,
    top_k_indices,
    two_stage_search,
)

__all__ = ["Comparison", "compare_methods", "Corpus", "CorpusError", "corpus_from_texts", "read_corpus",
           "EmbeddingIndex", "IndexFormatError", "IndexMismatchError", "build_index", "load_index",
           "AnnConfig", "Shard", "merge_indexes", "write_index", "write_index_on_ray",
           "DEFAULT_TOP_K", "DEFAULT_TOP_N", "Hit", "SearchResult", "cosine_scores", "embedding_search", "nearest",
           "rerank_hits", "rerank_search", "top_k_indices", "two_stage_search"]
