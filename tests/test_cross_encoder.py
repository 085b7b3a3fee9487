"""cross_encoder.py: the long-passage modes through predict and rank (truncate stays what it was, bit for
bit; a passage that fits scores the same in every mode; the windows' details come back when asked), and the
label names of multi-label heads."""

from __future__ import annotations

import numpy as np
import pytest

from minilm_np import CrossEncoder
from minilm_np.model.heads import classify
from minilm_np.model.packed import PackedBatch, encode_packed
from minilm_np.threads import BLAS

from helpers import ARCHS, MODELS, assert_batch_invariant

LONG = ("the boundary layer on a flat plate at zero incidence grows with the distance from the leading edge, "
        "and at high mach numbers the heating of the wall changes both its thickness and the skin friction. ") * 3
PAIRS = [("what is the capital of france?", "paris is the capital and largest city of france."),
         ("How many people live in Berlin?", "Berlin is well known for its museums."),
         ("boundary layer", LONG), ("", ""), ("wall heating", "the wall")]


@pytest.fixture(scope="module")
def ce():
    return CrossEncoder.from_pretrained(MODELS / "tiny-ce-1", threads=1)


def test_truncate_is_the_default_and_what_predict_always_computed(ce):
    # today's computation written out: encode_pairs, one length-sorted batch, the head on [CLS]
    encodings = ce.tokenizer.encode_pairs(PAIRS)
    order = sorted(range(len(PAIRS)), key=lambda i: -len(encodings[i].ids))
    batch = PackedBatch.from_sequences([encodings[i] for i in order])
    with BLAS.single():  # as predict runs it: some BLAS builds round a product differently on more threads
        logits = classify(encode_packed(ce._model, batch, first_only=True), ce.head)[:, 0]
    before = np.empty(len(PAIRS), dtype=np.float32)
    before[order] = logits
    assert ce.predict(PAIRS).tobytes() == before.tobytes()
    assert ce.predict(PAIRS, long_passages="truncate").tobytes() == before.tobytes()
    assert isinstance(ce.predict(PAIRS[0]), np.float32)  # one pair alone: one score, as before


@pytest.mark.parametrize("mode", ["maxp", "firstp", "meanp"])
def test_passages_that_fit_score_bit_for_bit_as_truncate(ce, mode):
    fits = [p for p in PAIRS if p[1] != LONG]
    assert ce.predict(fits, long_passages=mode).tobytes() == ce.predict(fits).tobytes()
    assert ce.predict(fits, long_passages=mode, activation="sigmoid").tobytes() == \
        ce.predict(fits, activation="sigmoid").tobytes()


def test_a_mixed_batch_scores_the_fitting_passages_as_truncate(ce):
    # the long passage's windows join the batches, which may change float32 rounding, never more
    mixed, plain = ce.predict(PAIRS, long_passages="maxp"), ce.predict(PAIRS)
    fits = [i for i, p in enumerate(PAIRS) if p[1] != LONG]
    np.testing.assert_allclose(mixed[fits], plain[fits], atol=1e-6, rtol=0)


def test_the_modes_reduce_the_windows_scores(ce):
    pairs = [PAIRS[2]]
    details = {m: ce.predict(pairs, long_passages=m, return_details=True) for m in ("maxp", "firstp", "meanp")}
    windows = details["maxp"].window_scores[0]
    assert len(windows) == details["maxp"].windows[0] > 2
    assert details["maxp"].scores[0] == windows.max() and details["maxp"].best_window[0] == windows.argmax()
    # firstp runs the first window alone, maxp every window in one batch: the same bits where BLAS treats rows alike
    assert_batch_invariant(details["firstp"].scores[0], windows[0], atol=1e-5)
    assert details["firstp"].best_window[0] == 0
    assert details["meanp"].scores[0] == np.float32(windows.astype(np.float64).mean())
    assert details["firstp"].scores[0] == ce.predict(pairs)[0]  # the first window is what truncate reads
    assert details["firstp"].windows[0] == 1 and details["firstp"].truncated[0]  # only the first is run
    for mode in ("maxp", "meanp"):
        assert not details[mode].truncated[0] and not details[mode].query_truncated[0]
        np.testing.assert_array_equal(details[mode].window_scores[0], windows)


def test_the_activation_comes_before_the_reduction(ce):
    d = ce.predict([PAIRS[2]], long_passages="meanp", activation="sigmoid", return_details=True)
    logits = ce.predict([PAIRS[2]], long_passages="meanp", return_details=True).window_scores[0]
    np.testing.assert_allclose(d.window_scores[0], 1 / (1 + np.exp(-logits.astype(np.float64))), atol=1e-7)
    assert d.scores[0] == np.float32(d.window_scores[0].astype(np.float64).mean())


def test_details_flag_truncation_in_truncate_mode(ce):
    d = ce.predict(PAIRS, return_details=True)
    assert d.truncated.tolist() == [False, False, True, False, False]
    assert d.windows.tolist() == [1] * 5 and d.best_window.tolist() == [0] * 5
    assert d.window_spans[2][0][0] == 0 and d.window_spans[2][0][1] < len(LONG)  # the characters it read
    assert d.window_spans[3] == [(0, 0)]
    one = ce.predict(PAIRS[2], long_passages="maxp", return_details=True)  # one pair alone: a Prediction of one
    assert len(one) == 1 and one.windows[0] > 1 and not one.truncated[0]
    three = CrossEncoder.from_pretrained(MODELS / "tiny-ce-3").predict(PAIRS, return_details=True)  # 3 labels
    assert three.scores.shape == (5, 3) and three.window_scores[2].shape == (1, 3)
    assert three.best_window.tolist() == [0] * 5 and three.truncated.tolist() == d.truncated.tolist()


def test_rank_says_how_each_document_was_read(ce):
    docs = [p for _, p in PAIRS]
    ranked = ce.rank("boundary layer", docs, long_passages="maxp")
    assert [r["corpus_id"] for r in ranked] == [r["corpus_id"] for r in sorted(
        ranked, key=lambda r: -r["score"])]
    long = next(r for r in ranked if r["corpus_id"] == 2)
    assert long["windows"] > 2 and not long["truncated"] and not long["query_truncated"]
    start, end = long["best_span"]
    assert 0 <= start < end <= len(LONG)
    plain = {r["corpus_id"]: r for r in ce.rank("boundary layer", docs)}
    assert plain[2]["truncated"] and plain[2]["windows"] == 1
    assert set(plain[0]) == {"corpus_id", "score", "text", "windows", "best_window", "best_span", "truncated",
                             "query_truncated"}


def test_progress_counts_pairs_while_windows_run(ce):
    seen = []
    ce.predict(PAIRS * 3, long_passages="maxp", batch_size=2, progress=seen.append)
    assert sum(seen) == len(PAIRS) * 3


def test_bad_long_passage_arguments(ce):
    with pytest.raises(ValueError, match="long_passages must be one of truncate, maxp, firstp, meanp; got 'max'"):
        ce.predict(PAIRS, long_passages="max")
    with pytest.raises(ValueError, match="stride must be a positive int or None, got 0"):
        ce.predict(PAIRS, long_passages="maxp", stride=0)
    with pytest.raises(ValueError, match="stride must be a positive int or None, got 2.5"):
        ce.rank("q", ["a"], long_passages="maxp", stride=2.5)
    with pytest.raises(ValueError, match="long_passages='maxp' needs a one-label model; .* has 3 labels"):
        CrossEncoder.from_pretrained(MODELS / "tiny-ce-3").predict(PAIRS, long_passages="maxp")
    with pytest.raises(ValueError, match="long_passages must be one of"):
        ce.with_long_passages("all")


def test_return_labels_needs_several_labels():
    with pytest.raises(ValueError, match="return_labels needs a model with several labels; .* has one"):
        CrossEncoder.from_pretrained(MODELS / "tiny-ce-1").predict([("a", "b")], return_labels=True)


def test_repr_names_the_body():
    assert "xlm-roberta" in repr(CrossEncoder.from_pretrained(ARCHS / "models" / "xlmr-ce-1"))


def test_a_long_call_is_read_in_parts_with_the_same_results(ce, small_parts):
    """A call is tokenized and run a part at a time (``_encoder.PART_CHARS`` characters of text), so that its
    tokens never all sit in memory at once: cut into parts of a few pairs, a call gives the whole call's scores,
    details and progress, each part's sequences run without the others'."""
    pairs = PAIRS * 6
    whole = ce.predict(pairs, long_passages="maxp", return_details=True)
    seen = []
    run_sizes = small_parts(len(LONG) + 200)
    cut = ce.predict(pairs, long_passages="maxp", return_details=True, progress=seen.append)
    assert len(run_sizes) >= 6 and sum(run_sizes) == whole.windows.sum()  # each LONG pair in a part of its own
    np.testing.assert_allclose(cut.scores, whole.scores, atol=1e-5, rtol=0)  # the README's bound for another batch
    for name in ("windows", "best_window", "truncated", "query_truncated"):
        assert np.array_equal(getattr(cut, name), getattr(whole, name)), name
    assert cut.window_spans == whole.window_spans and len(cut.window_scores) == len(pairs)
    assert sum(seen) == len(pairs)
    labels = CrossEncoder.from_pretrained(MODELS / "tiny-ce-3", threads=1)
    assert labels.predict(pairs, return_labels=True) == [labels.labels[i] for i in
                                                         np.argmax(labels.predict(pairs[:5]), axis=1)] * 6
    assert ce.predict([]).shape == (0,)
