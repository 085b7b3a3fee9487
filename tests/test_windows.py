"""minilm_np.text.windows: the window rule of issue 11, reading pairs into windows, and turning window scores
into passage scores. Window scores are held to transformers scoring each window alone
(tests/fixtures/reference/windows.*, made by `python -m weights_tools make-explain-fixtures`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minilm_np import CrossEncoder
from minilm_np.text.windows import (MIN_WINDOW, LongPassageScorer, collect, pair_progress, read_pairs, window_starts,
                                    window_width)

from helpers import MODELS, REFERENCE, FakeReranker

WINDOWS = json.loads((REFERENCE / "windows.json").read_text(encoding="utf-8"))
LOGIT_TOL = 1e-5


@pytest.fixture(scope="module")
def tiny():
    return CrossEncoder.from_pretrained(MODELS / "tiny-ce-1")  # max_length 64


# --------------------------------------------------------------------------------------------------
# The rule
# --------------------------------------------------------------------------------------------------

def test_the_hand_worked_example():
    # max_length 512, a 9-piece query: W = 512 - 9 - 3 = 500, S = 250; a 1,200-piece passage
    assert window_width(9, 512 - 3) == (9, 500)
    assert window_starts(1200, 500, 250) == [0, 250, 500, 700]  # [0,500) [250,750) [500,1000) [700,1200)


def test_boundaries():
    assert window_starts(500, 500, 250) == [0]  # fits exactly: one window
    assert window_starts(501, 500, 250) == [0, 1]  # one piece over: the final window ends on it
    assert window_starts(750, 500, 250) == [0, 250]  # 250 + 500 reaches the end: it is the final window
    assert window_starts(751, 500, 250) == [0, 250, 251]
    assert window_starts(1000, 500, 500) == [0, 500]
    assert window_starts(0, 500, 250) == [0]  # an empty passage is one (empty) window


def test_a_long_query_is_cut_longest_first_against_64_pieces():
    assert window_width(445, 509) == (445, 64)  # exactly 64 left: not cut
    assert window_width(446, 509) == (445, 64)  # one more: cut back
    assert window_width(2000, 509) == (445, 64)
    assert window_width(100, 61) == (31, 30)  # a model too short for 64: longest-first shares what there is
    assert window_width(5, 61) == (5, 56)


def rule_as_written(n: int, width: int, stride: int) -> list[int]:
    """The issue's words, as a loop: starts 0, S, 2S, ... while the window does not reach the end, then the one
    ending at the last piece."""
    if n <= width:
        return [0]
    starts, s = [], 0
    while s + width < n:
        starts.append(s)
        s += stride
    return starts + [n - width]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 3000), st.integers(1, 600), st.data())
def test_random_lengths_follow_the_rule(n, width, data):
    stride = data.draw(st.integers(1, width))
    starts = window_starts(n, width, stride)
    assert starts == rule_as_written(n, width, stride)
    ends = [min(s + width, n) for s in starts]
    assert starts[0] == 0 and ends[-1] == n  # from the first piece to the last
    assert all(b - a == stride for a, b in zip(starts[:-2], starts[1:-1]))  # every S, then the final one
    assert all(0 < b - a <= stride for a, b in zip(starts, starts[1:]))  # no gaps, no repeats
    assert all(e < n for e in ends[:-1])  # only the final window reaches the end
    covered = np.zeros(n, dtype=bool)
    for s, e in zip(starts, ends):
        covered[s:e] = True
    assert covered.all()


# --------------------------------------------------------------------------------------------------
# Reading pairs, against transformers' tokenizer cut by the same words (the fixtures)
# --------------------------------------------------------------------------------------------------

def fixture_windows(prefix: str, i: int):
    with np.load(REFERENCE / "windows.npz") as z:
        bounds = np.cumsum(z[f"{prefix}{i}_lengths"])[:-1]
        return (np.split(z[f"{prefix}{i}_input_ids"], bounds), np.split(z[f"{prefix}{i}_token_type_ids"], bounds),
                z[f"{prefix}{i}_logits"], z[f"{prefix}{i}_logits_float64"])


def assert_windows_match(ce, pairs, rows, prefix, maximum):
    worst = 0.0
    for i, ((query, passage), row) in enumerate(zip(pairs, rows)):
        read = read_pairs(ce.tokenizer, [(query, passage)], "maxp", row["stride"])[0]
        ids, types, logits, logits64 = fixture_windows(prefix, i)
        assert [p[0] for p in read.pieces] == row["starts"]
        assert [e.ids for e in read.encodings] == [x.tolist() for x in ids]
        assert [e.type_ids for e in read.encodings] == [x.tolist() for x in types]
        assert read.query_truncated == (row["query_tokens"] < len(ce.tokenizer.pieces([query])[0]))
        details = ce.predict([(query, passage)], long_passages="maxp", stride=row["stride"], return_details=True)
        got = details.window_scores[0]
        np.testing.assert_allclose(got, logits64, atol=LOGIT_TOL, rtol=0, err_msg=f"pair {i}")
        worst = max(worst, float(np.abs(got - logits64).max()))
        assert details.scores[0] == got.max() and details.windows[0] == len(row["starts"])
    assert worst <= maximum


def test_every_window_scores_as_transformers_scores_it_alone_tiny(tiny):
    rows = WINDOWS["tiny"]["pairs"]
    assert any(len(r["starts"]) > 30 for r in rows) and any(r["width"] < MIN_WINDOW for r in rows)
    assert_windows_match(tiny, [(r["query"], r["passage"]) for r in rows], rows, "tiny", 2e-6)


def test_every_window_scores_as_transformers_scores_it_alone_l6(msmarco_l6, cranfield_dir):
    from weights_tools.make_explain_fixtures import joined_pairs
    ce = CrossEncoder.from_pretrained(msmarco_l6)
    rows = WINDOWS["l6"]["pairs"]
    assert [r["width"] for r in rows] == [491, 492, 64]  # the third query is cut to leave 64 pieces
    assert_windows_match(ce, joined_pairs(cranfield_dir, rows), rows, "l6_", LOGIT_TOL)


def test_truncate_reads_exactly_what_encode_pairs_reads(tiny):
    pairs = [tuple(p) for p in json.loads((REFERENCE / "tiny_inputs.json").read_text(encoding="utf-8"))["pairs"]]
    read = read_pairs(tiny.tokenizer, pairs, "truncate")
    assert [r.encodings for r in read] == [[e] for e in tiny.tokenizer.encode_pairs(pairs)]
    cut = [i for i, r in enumerate(read) if r.truncated]
    assert cut == [6, 8, 16]  # the pairs whose passage is cut at 64 pieces (tiny_inputs.json)
    assert [i for i, r in enumerate(read) if r.query_truncated] == [7, 8, 16]


def test_a_passage_that_fits_is_one_window_read_as_truncate_reads_it(tiny):
    pairs = [("what is the capital of france?", "paris is the capital of france."),
             ("x " * 200, "paris is the capital of france.")]  # a long query beside a short passage
    for mode in ("maxp", "firstp", "meanp"):
        assert read_pairs(tiny.tokenizer, pairs, mode) == read_pairs(tiny.tokenizer, pairs, "truncate")


def test_window_spans_are_the_windows_characters(tiny):
    passage = "the boundary layer grows downstream. " * 12
    read = read_pairs(tiny.tokenizer, [("layer", passage)], "maxp")[0]
    assert read.spans[0][0] == 0 and read.spans[-1][1] == len(passage.rstrip())
    ids, offsets = tiny.tokenizer.pieces_with_offsets([passage])[0]
    for (s, e), enc in zip(read.spans, read.encodings):
        inside = [i for i, (a, b) in zip(ids, offsets) if s <= a and b <= e]
        assert enc.ids[-len(inside) - 1:-1] == inside and len(inside) == sum(enc.type_ids) - 1  # window [SEP]


def test_a_stride_wider_than_the_window_is_refused(tiny):
    with pytest.raises(ValueError, match=r"stride 61 is wider than the 60-piece window of pairs\[0\]"):
        read_pairs(tiny.tokenizer, [("q", "word " * 200)], "maxp", stride=61)


# --------------------------------------------------------------------------------------------------
# From windows to passages
# --------------------------------------------------------------------------------------------------

def test_collect_reduces_each_pairs_windows(tiny):
    read = read_pairs(tiny.tokenizer, [("q", "word " * 200), ("q", "short")], "maxp")
    n = len(read[0].encodings)
    scores = np.arange(n + 1, dtype=np.float32)[:, None] % 5  # [windows, 1]: 0 1 2 3 4 0 ... then the short one
    for mode, want, best in (("maxp", 4.0, 4), ("firstp", 0.0, 0), ("meanp", scores[:n, 0].mean(), 4)):
        p = collect(read, scores, mode)
        assert p.scores.dtype == np.float32 and p.scores.shape == (2,)
        assert p.scores[0] == np.float32(want) and p.best_window[0] == best
        assert p.scores[1] == scores[n, 0] and p.windows.tolist() == [n, 1]
        assert p.row(0)["best_span"] == list(read[0].spans[best])


def test_pair_progress_counts_pairs_in_whole_steps():
    seen = []
    report = pair_progress(seen.append, 3, 10)
    for k in (4, 4, 2):
        report(k)
    assert sum(seen) == 3 and all(isinstance(k, int) and k > 0 for k in seen)
    assert pair_progress(None, 3, 10) is None and pair_progress(seen.append, 3, 3) == seen.append


def test_long_passage_scorer_counts_what_it_read(tiny):
    scorer = tiny.with_long_passages("maxp")
    pairs = [("q", "word " * 200), ("q", "short")]
    assert np.array_equal(scorer.predict(pairs), tiny.predict(pairs, long_passages="maxp"))
    scorer.predict(pairs[:1])
    assert scorer.name == tiny.name
    first_windows = len(read_pairs(tiny.tokenizer, pairs[:1], "maxp")[0].encodings)
    assert scorer.counts() == {"passages": 3, "windows": 2 * first_windows + 1, "truncated": 0, "query_truncated": 0}
    cut = tiny.with_long_passages("truncate")
    cut.predict(pairs)
    assert cut.counts() == {"passages": 2, "windows": 2, "truncated": 1, "query_truncated": 0}


def test_long_passage_scorer_takes_any_model_with_details():
    scorer = LongPassageScorer(FakeReranker(), "maxp")
    assert scorer.predict([("berlin", "berlin " * 300)]).shape == (1,)
    assert scorer.counts()["passages"] == 1


def test_long_passage_scorer_counts_every_call_from_many_threads():
    """The counts of a scorer shared by threads add up: switching threads as often as the interpreter can
    (a 1 us switch interval) made an unguarded += lose counts in every run tried."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    before = sys.getswitchinterval()
    scorer = LongPassageScorer(FakeReranker(), "maxp")
    pairs = [("berlin", "berlin " * 300), ("q", "short")]  # 2 passages, windows: 1 + 1 + the long one's
    one = FakeReranker().predict(pairs, long_passages="maxp", return_details=True)
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: scorer.predict(pairs), range(400)))
    finally:
        sys.setswitchinterval(before)
    assert scorer.counts() == {"passages": 800, "windows": 400 * int(one.windows.sum()), "truncated": 0,
                               "query_truncated": 0}
