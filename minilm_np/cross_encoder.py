"""CrossEncoder: score (query, passage) pairs with a BERT-family sequence classifier (BERT, RoBERTa, XLM-R,
ELECTRA, DistilBERT), as sentence-transformers' CrossEncoder does, in NumPy."""

from __future__ import annotations

import os

import numpy as np

from . import st_names
from ._encoder import Encoder, Progress, load, locate, parts, set_max_length
from .checkpoint.family import DEFAULT_RERANKER
from .checkpoint.load import Checkpoint
from .explain.occlusion import Explanation, explanation, occlusions
from .explain.trace import Trace, trace_encoding
from .model.heads import classify
from .model.ops import sigmoid, softmax
from .model.packed import PackedBatch
from .text.tokenize import Tokenizer
from .text.windows import (LongPassageScorer, Prediction, check_long_passages, collect, pair_progress,
                           read_pairs)
from .validate import check_pairs, check_positive_int, check_query, check_text, check_texts, is_single_pair

ACTIVATIONS = (None, "sigmoid", "softmax")


class CrossEncoder(Encoder):
    """A reranker: ``predict`` scores pairs, ``rank`` orders documents for one query."""

    def __init__(self, checkpoint: Checkpoint | str | os.PathLike = DEFAULT_RERANKER,
                 tokenizer: Tokenizer | None = None, name: str | None = None, threads: int | None = None,
                 kernels: str = "numpy", **loading):
        """Loaded parts, as ``from_pretrained`` gives them; or, as sentence-transformers' ``CrossEncoder("name",
        ...)``, a name or path with ``from_pretrained``'s keywords and sentence-transformers' constructor keywords
        in ``loading`` (``st_names.read_init``; its ``max_length`` shortens the tokenizer's)."""
        if not isinstance(checkpoint, Checkpoint):
            checkpoint, tokenizer, name = _load(checkpoint, **st_names.read_init("CrossEncoder", loading))
        elif loading or tokenizer is None or name is None:
            raise TypeError("CrossEncoder(checkpoint, tokenizer, name) takes loaded parts; load a model by its name "
                            "or path with CrossEncoder(name_or_path, ...) or CrossEncoder.from_pretrained(...)")
        if checkpoint.head is None:
            raise ValueError(f"{name}: a CrossEncoder needs a checkpoint loaded with its classifier head")
        super().__init__(checkpoint, tokenizer, name, threads, kernels)
        self.head = checkpoint.head.in_float64()  # the head runs in float64 (heads.classify); converted once

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = DEFAULT_RERANKER, *, revision: str | None = None,
                        cache_dir: str | None = None, local_files_only: bool | None = None,
                        token: str | bool | None = None, threads: int | None = None,
                        kernels: str = "numpy") -> "CrossEncoder":
        """A local directory, a Hub id, or a family size "L-2" | "L-4" | "L-6" | "L-12" | "TinyBERT-L-2".

        ``token``: huggingface_hub's, for a private or gated repository (default: HF_TOKEN or the stored login).
        ``threads``: cores to use (default: all this process may use; 1 runs batches one at a time).
        ``kernels``: "numpy" (the default) or "numba": GELU, LayerNorm and the softmax as compiled loops, faster
        and within the same tolerances of the reference (``pip install "minilm-np[jit]"``).
        """
        loaded = _load(name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only,
                       token=token)
        return cls(*loaded, threads=threads, kernels=kernels)

    @property
    def num_labels(self) -> int:
        return self.config.num_labels

    @property
    def labels(self) -> tuple[str, ...]:
        """Label names by id: config.json's id2label (e.g. an NLI model's "contradiction", "entailment",
        "neutral"), else LABEL_0, LABEL_1, ... as transformers names them."""
        return self.config.id2label or tuple(f"LABEL_{i}" for i in range(self.num_labels))

    def predict(self, pairs, batch_size: int = 32, activation: str | None = None, progress: Progress = None,
                return_labels: bool = False, *, long_passages: str = "truncate", stride: int | None = None,
                return_details: bool = False, **sentence_transformers):
        """Scores for (query, passage) pairs: float32 [n] for one label, [n, L] otherwise.

        ``activation``: None for raw logits, "sigmoid" (e.g. MS MARCO scores -> 0..1) or "softmax" over
        labels (the natural choice for a 3-label NLI model). ``return_labels``: the name of each pair's
        highest-scoring label instead (a list of str; a model with several labels only). One pair given
        alone, ("query", "passage"), returns one score (or one name). ``progress``, if given, is called
        with the number of pairs in each finished batch.

        ``long_passages``: "truncate" (the default: cut at max_length, longer text first), or read the
        whole passage in windows and take the "maxp", "firstp" or "meanp" of their scores; ``stride``:
        pieces between window starts (default half a window). See ``minilm_np.text.windows``.
        ``return_details``: a ``Prediction`` (scores, windows per pair, the winning window and its
        characters, truncation flags) instead of the scores; for one pair alone, a Prediction of one.
        sentence-transformers' own names (``apply_softmax``, ``activation_fn``, ``show_progress_bar``, ...)
        are taken too: see ``minilm_np.st_names``.
        """
        if sentence_transformers:
            st = st_names.read("predict", sentence_transformers, num_labels=self.num_labels)
            with st_names.progress(st, progress, pairs, "reranking", "pair", single=is_single_pair(pairs)) as bar:
                return self.predict(pairs, batch_size, st_names.activation(st, activation), bar, return_labels,
                                    long_passages=long_passages, stride=stride, return_details=return_details)
        if is_single_pair(pairs):
            out = self.predict([pairs], batch_size, activation, return_labels=return_labels,
                               long_passages=long_passages, stride=stride, return_details=return_details)
            return out if return_details else out[0]
        pairs = check_pairs(pairs)
        check_positive_int(batch_size, "batch_size")
        if activation == "softmax" and self.num_labels == 1:  # softmax over one label is 1.0 for every pair
            raise ValueError(f"activation 'softmax' over the one label of {self.name} is 1.0 for every pair; "
                             f"use 'sigmoid' for scores in 0..1 or None for raw logits")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if return_labels and self.num_labels == 1:
            raise ValueError(f"return_labels needs a model with several labels; {self.name} has one")
        check_long_passages(long_passages, stride, self.num_labels, self.name)
        done = [self._predict_part(pairs[part], batch_size=batch_size, activation=activation, progress=progress,
                                   return_labels=return_labels, long_passages=long_passages, stride=stride)
                for part in parts([len(query) + len(passage) for query, passage in pairs])]
        if return_labels:
            return [label for part in done for label in part]
        details = Prediction.concatenate(done)
        return details if return_details else details.scores

    def _predict_part(self, pairs: list[tuple[str, str]], *, batch_size: int, activation: str | None,
                      progress: Progress, return_labels: bool, long_passages: str,
                      stride: int | None) -> Prediction | list[str]:
        """``predict`` on one part of a call's pairs (see ``_encoder.parts``), its arguments checked."""
        read = read_pairs(self.tokenizer, pairs, long_passages, stride)
        sequences = [e for r in read for e in r.encodings]  # every window of every pair, batched together
        logits = self._run(sequences, self._logits, width=self.num_labels, batch_size=batch_size,
                           progress=pair_progress(progress, len(pairs), len(sequences)),
                           first_only=True)  # [windows, L]
        if return_labels:  # several labels: truncate mode only (check_long_passages), one row per pair
            return [self.labels[i] for i in np.argmax(logits, axis=1)]
        return collect(read, _activate(logits, activation), long_passages)

    def with_long_passages(self, long_passages: str, stride: int | None = None) -> LongPassageScorer:
        """This model reading long passages one way, for ``retrieval``'s searches and ``evaluation``, which
        call ``predict(pairs, batch_size=, activation=, progress=)``; it counts passages, windows and cuts."""
        check_long_passages(long_passages, stride, self.num_labels, self.name)
        return LongPassageScorer(self, long_passages, stride)

    def _logits(self, states: np.ndarray, batch: PackedBatch) -> np.ndarray:
        """The classifier head on each sequence's first state ([CLS] / <s>).  [B, D] -> [B, L]"""
        return classify(states, self.head)

    def rank(self, query: str, documents, top_k: int | None = None, batch_size: int = 32,
             activation: str | None = None, progress: Progress = None, *, long_passages: str = "truncate",
             stride: int | None = None, **sentence_transformers) -> list[dict]:
        """Documents ordered by score for ``query``, best first: ``[{"corpus_id", "score", "text", "windows",
        "best_window", "best_span", "truncated", "query_truncated"}]`` (``Prediction.row``: how the
        document was read; ``best_span`` is the winning window's [start, end) characters in ``text``).

        ``top_k`` keeps the best k (all when None or larger than the list). Ties keep input order.
        ``corpus_id`` is the document's 0-based position in ``documents``, as in sentence-transformers. An
        empty (or blank) query is a ``ValueError``, as in ``retrieval``'s searches.
        ``long_passages`` and ``stride`` as in ``predict``; sentence-transformers' own names as there, and
        ``return_documents=False`` leaves out each result's "text".
        """
        if sentence_transformers:
            st = st_names.read("rank", sentence_transformers, num_labels=self.num_labels)
            with st_names.progress(st, progress, documents, "reranking", "document") as bar:
                ranked = self.rank(query, documents, top_k, batch_size, st_names.activation(st, activation), bar,
                                   long_passages=long_passages, stride=stride)
            return ranked if st.return_documents else [{k: v for k, v in r.items() if k != "text"} for r in ranked]
        check_query(query)
        documents = check_texts(documents, "documents")
        if top_k is not None:
            check_positive_int(top_k, "top_k")
        if self.num_labels != 1:
            raise ValueError(f"rank needs a one-label model; {self.name} has {self.num_labels} labels")
        details = self.predict([(query, d) for d in documents], batch_size, activation, progress,
                               long_passages=long_passages, stride=stride, return_details=True)
        order = np.argsort(-details.scores, kind="stable")[:top_k]
        return [{"corpus_id": int(i), "score": float(details.scores[i]), "text": documents[i], **details.row(i)}
                for i in order]

    def trace(self, query: str, passage: str) -> Trace:
        """A look inside the pass over one pair (cut as ``predict`` cuts it): every layer's attention
        probabilities [layers, H, T, T] and hidden states [layers + 1, T, D], as transformers'
        ``output_attentions`` / ``output_hidden_states``, and every intermediate by checkpoint name.
        Computed on the plain reference path (model/reference.py); see ``minilm_np.explain.trace``."""
        encoding = self.tokenizer.encode_pairs([(check_text(query, "query"), check_text(passage, "passage"))])[0]
        return trace_encoding(self.checkpoint, self.tokenizer, encoding,
                              head=lambda states: classify(states[:1], self.head)[0])  # [T, D] -> [L]

    def explain(self, query: str, passage: str, *, activation: str | None = None,
                batch_size: int = 32) -> Explanation:
        """Each word's contribution to the pair's score: the score minus the score without that word's
        pieces (exact occlusion), for the query's words and the passage's, all occluded inputs scored in
        one batched call. See ``minilm_np.explain.occlusion``."""
        check_text(query, "query")
        check_text(passage, "passage")
        check_positive_int(batch_size, "batch_size")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if self.num_labels != 1:
            raise ValueError(f"explain needs a one-label model; {self.name} has {self.num_labels} labels")
        occ = occlusions(self.tokenizer, query, passage)
        logits = self._run(occ.encodings, self._logits, width=1, batch_size=batch_size, progress=None,
                           first_only=True)  # [rows, 1]
        return explanation(occ, query, passage, _activate(logits, activation)[:, 0])

    def tokenize(self, query: str, documents) -> dict[str, np.ndarray]:
        """The batch the model sees for ``query`` against each document, in the given order:
        ``input_ids``, ``attention_mask``, ``token_type_ids`` as int64 [len(documents), T]."""
        check_text(query, "query")
        documents = check_texts(documents, "documents")
        encodings = self.tokenizer.encode_pairs([(query, d) for d in documents])
        return self.tokenizer.pad(encodings).as_dict()

    def __repr__(self) -> str:
        c = self.config
        return (f"CrossEncoder({self.name!r}, {c.model_type}, layers={c.num_hidden_layers}, hidden={c.hidden_size}, "
                f"labels={c.num_labels}, max_length={self.max_length})")


def _activate(logits: np.ndarray, activation: str | None) -> np.ndarray:
    """[n, L] logits -> scores; float32 in, float32 out."""
    if activation == "sigmoid":
        return sigmoid(logits)
    if activation == "softmax":
        return softmax(logits)
    return logits


def _load(name_or_path: str | os.PathLike, *, num_labels: int | None = None, max_length: int | None = None,
          **hub) -> tuple[Checkpoint, Tokenizer, str]:
    """A cross-encoder's parts from a directory or the Hub (``hub``: ``locate``'s keywords). ``num_labels``: what
    the caller expects (a ValueError if the checkpoint has another count); ``max_length``: truncate pairs there
    instead."""
    path, name = locate(name_or_path, **hub)
    checkpoint, tokenizer = load(path, head=True)
    if num_labels is not None and num_labels != checkpoint.config.num_labels:
        raise ValueError(f"num_labels={num_labels}: {name} has {checkpoint.config.num_labels} label(s); minilm-np "
                         f"does not build a new classifier head")
    if max_length is not None:
        set_max_length(tokenizer, max_length, checkpoint.config.max_tokens, "max_length")
    return checkpoint, tokenizer, name
