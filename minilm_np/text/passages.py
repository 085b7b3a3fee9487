"""Text -> passages: by line, by paragraph, or by sentence with a small rule-based sentence splitter.

The sentence splitter looks at every run of terminal punctuation (``.``, ``!``, ``?``, ``...``, ``…``)
that is followed by whitespace, lets closing quotes and brackets stay with the sentence they close, and
decides from the word before the stop and the word after it whether a sentence ends there:

* a stop followed by a lower-case word never ends a sentence ("etc. and", "approx. three");
* titles and Latin abbreviations never end one ("Dr. Smith", "e.g. Paris", "cf. Table 2");
* single capital initials ("J. R. R. Tolkien") and dotted initialisms ("U.S.", "a.m.") end one only
  when the next word is a usual sentence opener ("... in the U.S. The next day"), so "the U.S. Army"
  stays whole;
* "etc.", "Inc." and the like end one before a capitalised word;
* anything else ends a sentence before a capital, a digit, a quote or an opening bracket.

A stop inside a token ("3.14", "example.com", "U.S.A") is not followed by whitespace, so it is never a
candidate. A blank line always ends a sentence. Whitespace inside a passage is collapsed to single spaces.
The rules are heuristics, not a trained model (compare Punkt in NLTK); they favour not splitting when
unsure, since an unsplit passage still ranks, while a split name or number does not.
"""

from __future__ import annotations

import re

SPLIT_MODES = ("sentences", "lines", "paragraphs")

# Never the end of a sentence: titles (followed by a name) and abbreviations followed by more sentence.
_NEVER_FINAL = frozenset(
    "mr mrs ms dr prof sr jr st rev gen col capt lt sgt hon messrs mme mlle "
    "e.g i.e cf vs viz al approx ca fig figs eq eqs no nos vol vols pp ch sec ref refs dept est".split()
)
# May end a sentence, but only before a capitalised word.
_MAYBE_FINAL = frozenset("etc inc ltd co corp bros jan feb mar apr jun jul aug sep sept oct nov dec".split())
# Words that usually open a sentence: after an initial or an initialism they signal a real boundary.
# "A" and "I" are left out: they are also initials ("A. A. Milne").
_OPENERS = frozenset(
    "the this that these those there then thus however but and or so yet it its he she we they you his "
    "her our their my in on at for from to by with as after before when while if although though since "
    "because an one some many most all no not what which who how why where each every".split()
)

_CLOSERS = "\"'”’)]}»"
_OPENERS_PUNCT = "\"'“‘([{«"
# terminal punctuation, then closing quotes/brackets, then whitespace or the end of the text
_STOP = re.compile(r"([.!?…]+)([" + re.escape(_CLOSERS) + r"]*)(?=\s|$)")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")
_SPACES = re.compile(r"\s+")
_NEXT_CHAR = re.compile(r"\s*(\S)")  # the first character after a stop, past any whitespace
_NEXT_WORD = re.compile(r"\s*([^\W\d_]+)")  # the letters that open the next word, if it opens with letters
# The word before a stop is looked for in this many characters: no abbreviation or initialism is longer,
# and looking no further keeps a paragraph with many stops that end nothing linear, not quadratic.
_WORD_WINDOW = 64


def split_text(text: str, mode: str = "sentences") -> list[str]:
    """Split ``text`` into non-empty passages by ``mode`` ("sentences", "lines" or "paragraphs")."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if mode == "sentences":
        return split_sentences(text)
    if mode == "lines":
        return split_lines(text)
    if mode == "paragraphs":
        return split_paragraphs(text)
    raise ValueError(f"unknown split mode {mode!r}; expected one of {', '.join(SPLIT_MODES)}")


def split_lines(text: str) -> list[str]:
    """One passage per non-blank line, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def split_paragraphs(text: str) -> list[str]:
    """One passage per block of text between blank lines, with its whitespace collapsed."""
    return [_squash(p) for p in _PARAGRAPH_BREAK.split(text) if p.strip()]


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences (see the module docstring for the rules)."""
    sentences: list[str] = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        start = 0
        for stop in _STOP.finditer(paragraph):
            end = stop.end()
            before = paragraph[max(start, stop.start() - _WORD_WINDOW):stop.start()]
            if _ends_sentence(before, stop.group(1), paragraph, end):
                sentences.append(paragraph[start:end])
                start = end
        sentences.append(paragraph[start:])
    return [_squash(s) for s in sentences if s.strip()]


def _ends_sentence(before: str, punct: str, text: str, after: int) -> bool:
    """Whether the stop ``punct``, after ``before`` (the end of the text before it) and followed by
    ``text[after:]``, ends a sentence."""
    next_char = _NEXT_CHAR.match(text, after)
    if next_char is None:
        return True
    nxt = next_char.group(1)
    if nxt.islower():
        return False  # "etc. and", "... and then", "Yahoo! is"
    if "!" in punct or "?" in punct or punct in ("...", "…") or len(punct) > 1:
        return nxt.isupper() or nxt.isdigit() or nxt in _OPENERS_PUNCT
    # a single "." from here on
    word = before.split()[-1] if before.split() else ""
    word = word.lstrip(_OPENERS_PUNCT)  # "(e.g" -> "e.g"
    key = word.lower()
    next_word = _NEXT_WORD.match(text, after)
    next_is_opener = bool(next_word) and next_word.group(1).lower() in _OPENERS
    if key in _NEVER_FINAL:
        return False
    if re.fullmatch(r"[A-Z]", word) or re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word):
        return next_is_opener  # "J. R. R. Tolkien", "the U.S. Army" vs "in the U.S. The"
    if key in _MAYBE_FINAL:
        return nxt.isupper()
    return nxt.isupper() or nxt.isdigit() or nxt in _OPENERS_PUNCT


def _squash(text: str) -> str:
    return _SPACES.sub(" ", text).strip()
