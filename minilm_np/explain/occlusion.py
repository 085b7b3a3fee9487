"""Exact occlusion: how much each word of a (query, passage) pair adds to its score.

A word is a run of non-space characters of the query or the passage ("3,520,031" is one word; BERT
reads it as five pieces). Its contribution is

    score(pair) - score(pair without the word's pieces)

with both inputs read as ``predict`` reads a pair (the pair template, cut longest-first at max_length):
> 0 the word helps the pair's score, < 0 it hurts it. Nothing is approximated: each occluded input is a
real forward pass. They are all built first and run in one batched call, so a 200-word passage costs one
call of ~200 sequences, not 200 calls; inputs that come out the same (a word of no pieces, a word past
the cut) are run once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..text.tokenize import Encoded, Tokenizer, longest_first

_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Word:
    text: str
    segment: str  # "query" or "passage"
    start: int  # its characters in its text: [start, end)
    end: int
    pieces: int  # the word pieces it became (0: nothing the model reads, e.g. a control character)
    contribution: float  # score with the word minus score without it
    read: bool = True  # before the cut of a pair longer than max_length (False: never read, so 0.0)

    def to_dict(self) -> dict:
        return {"text": self.text, "segment": self.segment, "start": self.start, "end": self.end,
                "pieces": self.pieces, "contribution": self.contribution, "read": self.read}


@dataclass(frozen=True)
class Explanation:
    """``CrossEncoder.explain``: the pair's score and each word's contribution to it."""
    query: str
    passage: str
    score: float  # the pair's score (raw logit unless an activation was asked for)
    words: list[Word]  # the query's words, then the passage's, in reading order
    query_contributions: np.ndarray  # float32 [query words]
    passage_contributions: np.ndarray  # float32 [passage words]
    truncated: bool  # the pair was cut at max_length, so words past the cut were not read

    def to_dict(self) -> dict:
        return {"query": self.query, "passage": self.passage, "score": self.score, "truncated": self.truncated,
                "words": [w.to_dict() for w in self.words]}

    def unread(self, segment: str) -> int:
        """Words of ``segment`` ("query" or "passage") past the cut: never read by the model."""
        return sum(1 for w in self.words if w.segment == segment and not w.read)


@dataclass(frozen=True)
class Occlusions:
    """The inputs of one explanation: the pair as ``predict`` reads it, then each distinct occluded input."""
    encodings: list[Encoded]  # [0] the pair itself
    words: list[tuple[str, int, int, int, bool]]  # (segment, start, end, pieces, read) per word, query first
    rows: list[int]  # per word, the row of ``encodings`` that lacks it (0: removing it changes nothing read)
    truncated: bool


def occlusions(tokenizer: Tokenizer, query: str, passage: str) -> Occlusions:
    """The pair, and the pair without each word's pieces, as encoded sequences to score in one call.

    Each shortened pair is cut as ``predict`` cuts it (longest first), and only the pieces it keeps are
    copied; a word past the cut whose removal leaves the cut where it was changes nothing read and shares
    the pair's own row without being built. So the work grows with the words times max_length, not with
    the square of the passage's length."""
    (q, q_offsets), (p, p_offsets) = tokenizer.pieces_with_offsets([query, passage])
    specials = len(tokenizer.pair_encoding([], []).ids)  # [CLS] [SEP] [SEP]
    budget = tokenizer.max_length - specials
    kept = dict(zip(("query", "passage"), longest_first(len(q), len(p), budget)))  # pieces read of each
    full = tokenizer.pair_encoding(q[:kept["query"]], p[:kept["passage"]])
    encodings, seen = [full], {(tuple(full.ids), tuple(full.type_ids)): 0}
    words, rows = [], []
    for segment, text, offsets in (("query", query, q_offsets), ("passage", passage, p_offsets)):
        for start, end, lo, hi in _word_pieces(text, offsets):
            n_q, n_p = (len(q) - (hi - lo), len(p)) if segment == "query" else (len(q), len(p) - (hi - lo))
            keep = dict(zip(("query", "passage"), longest_first(n_q, n_p, budget)))
            if lo >= keep[segment] and keep == kept:  # past the cut, and the cut stays: the pair as read
                rows.append(0)
            else:
                a = _without(q, lo, hi, keep["query"]) if segment == "query" else q[:keep["query"]]
                b = _without(p, lo, hi, keep["passage"]) if segment == "passage" else p[:keep["passage"]]
                enc = tokenizer.pair_encoding(a, b)
                key = (tuple(enc.ids), tuple(enc.type_ids))
                if key not in seen:
                    seen[key] = len(encodings)
                    encodings.append(enc)
                rows.append(seen[key])
            words.append((segment, start, end, hi - lo, lo < kept[segment]))
    return Occlusions(encodings, words, rows, truncated=len(full.ids) - specials < len(q) + len(p))


def _without(pieces: list[int], lo: int, hi: int, keep: int) -> list[int]:
    """The first ``keep`` of ``pieces`` once pieces [lo, hi) are removed, copying no more than those."""
    if keep <= lo:
        return pieces[:keep]
    return pieces[:lo] + pieces[hi:hi + keep - lo]


def _word_pieces(text: str, offsets: list[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
    """(start, end, first piece, end piece) of each run of non-space characters; a word's pieces are
    contiguous, since BERT's pre-tokenizer never joins characters across a space."""
    spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    starts = np.array([s for s, _ in spans], dtype=np.int64)
    owner = np.searchsorted(starts, [s for s, _ in offsets], side="right") - 1  # [pieces] -> word
    bounds = np.searchsorted(owner, np.arange(len(spans) + 1), side="left")  # first piece of each word
    return [(s, e, int(bounds[j]), int(bounds[j + 1])) for j, (s, e) in enumerate(spans)]


def explanation(occ: Occlusions, query: str, passage: str, scores: np.ndarray) -> Explanation:
    """Contributions from the scores of ``occ.encodings`` (float32 [rows])."""
    contributions = (scores[0] - scores[np.array(occ.rows, dtype=np.intp)]).astype(np.float32)  # [words]
    texts = {"query": query, "passage": passage}
    words = [Word(texts[seg][s:e], seg, s, e, n, float(c), read)
             for (seg, s, e, n, read), c in zip(occ.words, contributions)]
    in_query = np.array([seg == "query" for seg, *_ in occ.words], dtype=bool)
    return Explanation(query, passage, float(scores[0]), words, query_contributions=contributions[in_query],
                       passage_contributions=contributions[~in_query], truncated=occ.truncated)
