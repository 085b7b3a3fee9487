"""minilm_np.explain.occlusion through CrossEncoder.explain: a word's contribution is the pair's score minus the
score of the pair without that word, and the latter is checked by scoring the shortened text with predict."""

from __future__ import annotations

import numpy as np
import pytest

from minilm_np import CrossEncoder
from minilm_np.explain.occlusion import occlusions

from helpers import MODELS

QUERY = "How many people live in Berlin?"
PASSAGE = "Berlin had a population of 3,520,031 registered inhabitants in an area of 891.82 square kilometers."
TOL = 1e-5


@pytest.fixture(scope="module")
def ce():
    return CrossEncoder.from_pretrained(MODELS / "tiny-ce-1")


def without(text: str, start: int, end: int) -> str:
    return text[:start] + text[end:]


def test_each_contribution_is_the_score_lost_without_the_word(ce):
    ex = ce.explain(QUERY, PASSAGE)
    assert abs(ex.score - float(ce.predict((QUERY, PASSAGE)))) < TOL
    assert [w.text for w in ex.words] == QUERY.split() + PASSAGE.split()
    pairs = [(without(QUERY, w.start, w.end), PASSAGE) if w.segment == "query"
             else (QUERY, without(PASSAGE, w.start, w.end)) for w in ex.words]
    independent = ce.predict(pairs, batch_size=1)  # each shortened pair scored on its own, in its own batch
    contributions = np.array([w.contribution for w in ex.words])
    np.testing.assert_allclose(ex.score - contributions, independent, atol=TOL, rtol=0)
    assert np.abs(contributions).max() > 1e-3  # the words matter
    n_query = len(QUERY.split())
    np.testing.assert_array_equal(ex.query_contributions, contributions[:n_query].astype(np.float32))
    np.testing.assert_array_equal(ex.passage_contributions, contributions[n_query:].astype(np.float32))


def test_a_number_is_one_word_of_several_pieces(ce):
    ex = ce.explain(QUERY, PASSAGE)
    number = next(w for w in ex.words if w.text == "3,520,031")
    assert number.segment == "passage" and PASSAGE[number.start:number.end] == "3,520,031"
    assert number.pieces == len(ce.tokenizer.pieces(["3,520,031"])[0]) > 1


def test_all_occluded_inputs_run_in_one_call(ce, monkeypatch):
    calls = []
    run = ce._run

    def counted(sequences, *args, **kwargs):
        calls.append(len(sequences))
        return run(sequences, *args, **kwargs)

    monkeypatch.setattr(ce, "_run", counted)
    passage = " ".join(f"w{i}" for i in range(200))
    ex = ce.explain("q", passage)
    assert len(ex.passage_contributions) == 200 and len(calls) == 1


def test_words_that_change_nothing_read_contribute_exactly_zero(ce):
    occ = occlusions(ce.tokenizer, "berlin", "city \x00 " + "the " * 100)  # \x00 has no pieces; past the cut
    assert occ.truncated
    ex = ce.explain("berlin", "city \x00 " + "the " * 100)
    control = next(w for w in ex.words if w.text == "\x00")
    assert control.pieces == 0 and control.contribution == 0.0
    assert ex.words[-1].contribution == 0.0  # the last "the" is past the 64-piece cut
    assert len(occ.encodings) < len(occ.words)  # identical inputs run once
    # which words were read: the pair's passage pieces up to the cut, as predict reads them
    passage = [w for w in ex.words if w.segment == "passage"]
    read = [w for w in passage if w.read]
    assert passage[:len(read)] == read  # a prefix
    n_query = sum(w.pieces for w in ex.words if w.segment == "query")
    kept = len(ce.tokenize("berlin", ["city \x00 " + "the " * 100])["input_ids"][0]) - 3 - n_query  # [CLS] [SEP] [SEP]
    pieces = [w.pieces for w in read]
    assert sum(pieces[:-1]) < kept <= sum(pieces)  # the last word read reaches the cut (maybe across it)
    assert all(w.read for w in ex.words if w.segment == "query")


def test_activation_and_dict(ce):
    ex = ce.explain(QUERY, PASSAGE, activation="sigmoid")
    assert 0 < ex.score < 1
    d = ex.to_dict()
    assert set(d) == {"query", "passage", "score", "truncated", "words"}
    assert set(d["words"][0]) == {"text", "segment", "start", "end", "pieces", "contribution", "read"}


def test_explain_checks_its_arguments(ce):
    with pytest.raises(TypeError, match="passage must be a str, got NoneType"):
        ce.explain("q", None)
    with pytest.raises(ValueError, match="activation must be one of"):
        ce.explain("q", "p", activation="relu")
    with pytest.raises(ValueError, match="explain needs a one-label model; .* has 3 labels"):
        CrossEncoder.from_pretrained(MODELS / "tiny-ce-3").explain("q", "p")


def test_empty_texts_have_no_words(ce):
    ex = ce.explain("", "")
    assert ex.words == [] and ex.query_contributions.shape == (0,) and ex.passage_contributions.shape == (0,)


def test_words_past_the_cut_build_no_input(ce, monkeypatch):
    """A word past the cut shares the pair's own row without its shortened pair being built: every word
    of a 5,000-word passage used to copy the whole passage's pieces, quadratic in its length (16,000 words:
    1.9 s, now 0.09 s). Only the words read cost an input."""
    built = []
    encode = ce.tokenizer.pair_encoding

    def recording(a, b):
        built.append(len(a) + len(b))
        return encode(a, b)

    monkeypatch.setattr(ce.tokenizer, "pair_encoding", recording)
    passage = " ".join(f"w{i}" for i in range(5000))
    ex = ce.explain("berlin", passage)
    read = sum(w.read for w in ex.words)
    assert len(ex.words) == 5001 and read < 64 and len(built) <= read + 2  # the pair, and one per word read
    assert max(built) <= ce.max_length - 3  # no input longer than what the model reads
