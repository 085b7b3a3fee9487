import pytest

from minilm_np.text.passages import split_lines, split_paragraphs, split_sentences, split_text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Berlin is big. Paris is old.", ["Berlin is big.", "Paris is old."]),
        ("Is it? Yes! It is.", ["Is it?", "Yes!", "It is."]),
        # abbreviations mid-sentence
        ("Use fruit, e.g. apples. Then eat.", ["Use fruit, e.g. apples.", "Then eat."]),
        ("Some fruit, i.e. Apples, are red.", ["Some fruit, i.e. Apples, are red."]),
        ("Dr. Smith met Mr. Jones. They talked.", ["Dr. Smith met Mr. Jones.", "They talked."]),
        ("Apples, pears, etc. are fruit. Yes.", ["Apples, pears, etc. are fruit.", "Yes."]),
        ("I like apples, pears, etc. Mr. Smith does not.", ["I like apples, pears, etc.", "Mr. Smith does not."]),
        ("The U.S. Army is large. It marches.", ["The U.S. Army is large.", "It marches."]),
        ("He moved to the U.S. The rest is history.", ["He moved to the U.S.", "The rest is history."]),
        # decimals and initials
        ("Pi is 3.14 or so. Ok.", ["Pi is 3.14 or so.", "Ok."]),
        ("J. R. R. Tolkien wrote it. Fine.", ["J. R. R. Tolkien wrote it.", "Fine."]),
        ("George W. Bush spoke.", ["George W. Bush spoke."]),
        # ellipses
        ("Wait... what was that? Nothing.", ["Wait... what was that?", "Nothing."]),
        ("He paused… Then he left.", ["He paused…", "Then he left."]),
        # quotes and brackets after the stop stay with their sentence
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("It works (see above.) Next one.", ["It works (see above.)", "Next one."]),
        ('"Hello." she said.', ['"Hello." she said.']),
        # numbers after a stop, and abbreviations before numbers
        ("It was 1999. 2000 came next.", ["It was 1999.", "2000 came next."]),
        ("See Fig. 3 for details.", ["See Fig. 3 for details."]),
        # whitespace, line breaks and blank lines
        ("one line\nwraps here. Next.", ["one line wraps here.", "Next."]),
        ("no stop at all\n\nnew paragraph", ["no stop at all", "new paragraph"]),
        ("", []),
        ("   \n\n  ", []),
        ("example.com is a site.", ["example.com is a site."]),
    ],
)
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def test_split_lines_drops_blank_lines():
    assert split_lines("a\n\n  b  \r\nc\n") == ["a", "b", "c"]


def test_split_paragraphs_collapses_whitespace():
    assert split_paragraphs("a b\nc\n\n\n d\n \n") == ["a b c", "d"]


def test_split_text_modes():
    text = "One. Two.\nThree.\n\nFour."
    assert split_text(text) == ["One.", "Two.", "Three.", "Four."]
    assert split_text(text, "lines") == ["One. Two.", "Three.", "Four."]
    assert split_text(text, "paragraphs") == ["One. Two. Three.", "Four."]


def test_split_text_rejects_bad_arguments():
    with pytest.raises(ValueError, match="words"):
        split_text("x", "words")
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        split_text(b"x")


def test_a_paragraph_of_stops_that_end_nothing_is_split_in_linear_time(monkeypatch):
    """Each stop looks back at most _WORD_WINDOW characters and forward from its own offset: it used to slice
    the whole text before it (back to the sentence's start) and the whole text after it, so a lower-cased
    corpus or one dense in abbreviations took quadratic time (360 kB of "Dr. Mr. e.g. i.e. ": 104 s)."""
    from minilm_np.text import passages

    seen = []
    decide = passages._ends_sentence

    def recording(before, punct, text, after):
        seen.append(len(before))
        return decide(before, punct, text, after)

    monkeypatch.setattr(passages, "_ends_sentence", recording)
    text = "e.g. i.e. approx. and so on. " * 2500  # 10,000 stops, each before a lower-case word: no sentence end
    assert split_sentences(text) == [text.strip()]
    assert len(seen) == 10_000 and max(seen) <= passages._WORD_WINDOW
