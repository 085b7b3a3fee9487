"""Long passages: the window rule, and how the windows' scores become the passage's score.

A cross-encoder reads at most ``max_length`` tokens, ``[CLS] query [SEP] passage [SEP]``. ``truncate`` (the
default, and what sentence-transformers, FlashRank and TEI do) cuts the longer text first and never reads
the rest. The window modes read all of it, in windows of passage pieces:

    W = max_length - len(query pieces) - 3      pieces per window (3: [CLS], [SEP], [SEP])
    S = stride, W // 2 unless given
    windows start at 0, S, 2S, ... while the window [s, s + W) does not reach the passage's end,
    then one final window ends exactly at its last piece.

    max_length 512, a 9-piece query: W = 500, S = 250. A 1,200-piece passage is read as
    [0, 500) [250, 750) [500, 1000) [700, 1200): four windows, each scored as [CLS] query [SEP] window [SEP].

* A passage that fits (at most W pieces) is one window, encoded exactly as ``truncate`` encodes it.
* A query so long that fewer than ``MIN_WINDOW`` (64) pieces would be left for the passage is cut,
  longest-first against a 64-piece window (``query_truncated`` says so); W is then 64. On a model shorter
  than that (max_length < 131) the same longest-first split gives the window whatever it can.
* The passage's score is the max (``maxp``), the first (``firstp``) or the mean (``meanp``) of its windows'
  scores (Dai & Callan, SIGIR 2019), taken after the activation, so ``scores[i]`` is always that reduction
  of ``window_scores[i]``. ``firstp`` scores the first window only (the others could not change its
  score), so its passages count as cut; it differs from ``truncate`` only for a query so long that it is
  cut to leave the passage 64 pieces (truncate would share the room longest-first).

Every window of every pair goes into the same length-sorted batches (``Encoder._run``): the cost grows
with the text, not with the number of calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .tokenize import Encoded, Tokenizer, longest_first

MODES = ("truncate", "maxp", "firstp", "meanp")
MIN_WINDOW = 64  # fewer passage pieces than this per window, and the query is cut instead


# --------------------------------------------------------------------------------------------------
# The rule
# --------------------------------------------------------------------------------------------------

def window_width(n_query: int, budget: int) -> tuple[int, int]:
    """(query pieces kept, passage pieces per window W) for a query of ``n_query`` pieces, when
    ``budget`` pieces (max_length minus the template's special tokens) are shared by query and window."""
    if budget - n_query >= MIN_WINDOW:
        return n_query, budget - n_query
    return longest_first(n_query, MIN_WINDOW, budget)


def window_starts(n: int, width: int, stride: int) -> list[int]:
    """Where the windows of ``width`` pieces start on a passage of ``n`` pieces: 0, S, 2S, ... while the
    window does not reach the end (s + width < n), then ``n - width`` so that the last one ends on the
    last piece. A passage that fits is one window at 0."""
    if n <= width:
        return [0]
    return [*range(0, n - width, stride), n - width]


# --------------------------------------------------------------------------------------------------
# Reading pairs
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PairWindows:
    """How one (query, passage) pair is read: one encoded sequence per window."""
    encodings: list[Encoded]  # [CLS] query [SEP] window [SEP], in passage order
    pieces: list[tuple[int, int]]  # each window's passage pieces [start, end)
    spans: list[tuple[int, int]]  # each window's characters in the passage [start, end)
    truncated: bool  # some passage piece is in no window (only ever in truncate mode)
    query_truncated: bool  # the query was cut to make room


def check_long_passages(long_passages: str, stride, num_labels: int, name: str) -> None:
    if long_passages not in MODES:
        raise ValueError(f"long_passages must be one of {', '.join(MODES)}; got {long_passages!r}")
    if stride is not None and (isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride <= 0):
        raise ValueError(f"stride must be a positive int or None, got {stride!r}")
    if long_passages != "truncate" and num_labels != 1:
        raise ValueError(f"long_passages={long_passages!r} needs a one-label model; {name} has {num_labels} labels")


def read_pairs(tokenizer: Tokenizer, pairs: list[tuple[str, str]], long_passages: str,
               stride: int | None = None) -> list[PairWindows]:
    """The windows of each pair under ``long_passages`` (one of ``MODES``); each distinct text is
    tokenized once. A ``stride`` wider than a pair's window would skip text and is refused."""
    pieces = tokenizer.pieces_with_offsets([t for pair in pairs for t in pair])
    budget = tokenizer.max_length - len(tokenizer.pair_encoding([], []).ids)  # room beside the special tokens
    out = []
    for i in range(len(pairs)):
        (q, _), (p, offsets) = pieces[2 * i], pieces[2 * i + 1]
        keep_q, width = window_width(len(q), budget)
        if long_passages == "truncate" or len(p) <= width:
            keep_q, keep_p = longest_first(len(q), len(p), budget)  # exactly what truncate mode reads
            windows = [(0, keep_p)]
        else:
            step = width // 2 if stride is None else stride
            if step > width:
                raise ValueError(f"stride {step} is wider than the {width}-piece window of pairs[{i}] "
                                 f"(a {len(q)}-piece query); windows would skip passage text")
            windows = [(s, s + width) for s in window_starts(len(p), width, max(step, 1))]
            if long_passages == "firstp":  # the others cannot change its score: not run, and the passage is cut
                windows = windows[:1]
        query = q[:keep_q]
        out.append(PairWindows(
            encodings=[tokenizer.pair_encoding(query, p[s:e]) for s, e in windows], pieces=windows,
            spans=[(offsets[s][0], offsets[e - 1][1]) if e > s else (0, 0) for s, e in windows],
            truncated=windows[-1][1] < len(p), query_truncated=keep_q < len(q)))
    return out


def pair_progress(progress: Callable[[int], None] | None, n_pairs: int, n_sequences: int):
    """A per-batch callback counting sequences (windows) turned into one counting pairs, in whole steps
    that add up to ``n_pairs``."""
    if progress is None or n_pairs == n_sequences:
        return progress
    done = {"sequences": 0, "pairs": 0}

    def report(k: int) -> None:
        done["sequences"] += k
        pairs = done["sequences"] * n_pairs // n_sequences
        if pairs > done["pairs"]:
            progress(pairs - done["pairs"])
            done["pairs"] = pairs
    return report


# --------------------------------------------------------------------------------------------------
# From window scores to passage scores
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Prediction:
    """``CrossEncoder.predict(..., return_details=True)``: the scores and how each passage was read."""
    scores: np.ndarray  # float32 [n] ([n, L] for a multi-label model): what predict returns
    windows: np.ndarray  # int64 [n]: windows scored per pair (1 when the passage fits, and in truncate mode)
    best_window: np.ndarray  # int64 [n]: the window that won (maxp, meanp: the highest; firstp: 0)
    window_scores: list[np.ndarray]  # n float32 arrays [windows_i] ([windows_i, L]): each window's score
    window_spans: list[list[tuple[int, int]]]  # each window's characters in its passage [start, end)
    truncated: np.ndarray  # bool [n]: passage text the model never read (truncate mode only)
    query_truncated: np.ndarray  # bool [n]: the query was cut to make room

    def __len__(self) -> int:
        return len(self.window_scores)

    @classmethod
    def concatenate(cls, predictions: list[Prediction]) -> Prediction:
        """Predictions of consecutive parts of a call (at least one), as one."""
        if len(predictions) == 1:
            return predictions[0]
        return cls(scores=np.concatenate([p.scores for p in predictions]),
                   windows=np.concatenate([p.windows for p in predictions]),
                   best_window=np.concatenate([p.best_window for p in predictions]),
                   window_scores=[s for p in predictions for s in p.window_scores],
                   window_spans=[s for p in predictions for s in p.window_spans],
                   truncated=np.concatenate([p.truncated for p in predictions]),
                   query_truncated=np.concatenate([p.query_truncated for p in predictions]))

    def row(self, i: int) -> dict:
        """Pair ``i``'s reading, as ``rank`` adds it to each result."""
        return {"windows": int(self.windows[i]), "best_window": int(self.best_window[i]),
                "best_span": list(self.window_spans[i][self.best_window[i]]), "truncated": bool(self.truncated[i]),
                "query_truncated": bool(self.query_truncated[i])}


def collect(read: list[PairWindows], window_scores: np.ndarray, long_passages: str) -> Prediction:
    """Split the scores of every window ([sum of windows, L], pairs' windows in order) back into pairs and
    reduce each pair's windows to one score. A one-window pair's score is its window's, untouched."""
    counts = np.array([len(r.encodings) for r in read], dtype=np.int64)  # [n]
    if window_scores.shape[1] == 1:
        window_scores = window_scores[:, 0]  # [windows] for a one-label model, as predict returns
    per_pair = np.split(window_scores, np.cumsum(counts)[:-1]) if len(read) else []
    best = np.array([0 if len(s) == 1 or long_passages == "firstp" else int(np.argmax(s)) for s in per_pair],
                    dtype=np.int64)  # window modes need one label, so s is [windows] where argmax is taken
    if long_passages in ("truncate", "firstp") or (counts == 1).all():
        scores = window_scores[np.cumsum(counts) - counts] if len(read) else window_scores[:0]  # first of each
    elif long_passages == "maxp":
        scores = np.array([s[b] for s, b in zip(per_pair, best)], dtype=np.float32)
    else:  # meanp
        scores = np.array([s[0] if len(s) == 1 else s.mean(dtype=np.float64) for s in per_pair], dtype=np.float32)
    return Prediction(scores=scores, windows=counts, best_window=best, window_scores=per_pair,
                      window_spans=[r.spans for r in read],
                      truncated=np.array([r.truncated for r in read], dtype=bool),
                      query_truncated=np.array([r.query_truncated for r in read], dtype=bool))


class LongPassageScorer:
    """A cross-encoder bound to one way of reading long passages, for code that takes a reranker by
    protocol (``retrieval``'s searches, ``evaluation``): ``predict(pairs, batch_size=, activation=,
    progress=)`` returns the scores, and the counts of what was read add up across calls, from any number of
    threads (as the model it wraps, it may be shared). Made by ``CrossEncoder.with_long_passages``."""

    def __init__(self, model, long_passages: str = "truncate", stride: int | None = None):
        check_long_passages(long_passages, stride, getattr(model, "num_labels", 1), model.name)
        self.model, self.long_passages, self.stride = model, long_passages, stride
        self.name = model.name
        self.passages = self.windows = self.truncated = self.query_truncated = 0
        self._counting = threading.Lock()  # += on an attribute is a read and a write: threads could lose counts

    def predict(self, pairs, batch_size: int = 32, activation: str | None = None, progress=None) -> np.ndarray:
        details = self.model.predict(pairs, batch_size, activation, progress, long_passages=self.long_passages,
                                     stride=self.stride, return_details=True)
        with self._counting:
            self.passages += len(details)
            self.windows += int(details.windows.sum())
            self.truncated += int(details.truncated.sum())
            self.query_truncated += int(details.query_truncated.sum())
        return details.scores

    def counts(self) -> dict[str, int]:
        """What has been read so far: passages, windows, truncated (passages cut), query_truncated."""
        with self._counting:
            return {"passages": self.passages, "windows": self.windows, "truncated": self.truncated,
                    "query_truncated": self.query_truncated}
