"""minilm_np.explain.plot: the explain picture is drawn (labelled or not), without pyplot."""

from __future__ import annotations

import sys

import pytest

from minilm_np import CrossEncoder
from minilm_np.explain import plot

from helpers import MODELS

pytest.importorskip("matplotlib", reason="the plot extra is not installed")


@pytest.fixture(scope="module")
def drawn_inputs():
    ce = CrossEncoder.from_pretrained(MODELS / "tiny-ce-1")
    q, p = "people in berlin?", "a city."  # short: the picture is about its parts, not its size
    return ce.explain(q, p), ce.trace(q, p)


def test_draws_a_png_without_pyplot(drawn_inputs, tmp_path):
    pyplot_before = "matplotlib.pyplot" in sys.modules
    path = plot.save_explanation_png(*drawn_inputs, tmp_path / "e.png", title="tiny")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ("matplotlib.pyplot" in sys.modules) == pyplot_before


def test_long_inputs_are_drawn_without_map_labels(drawn_inputs, tmp_path, monkeypatch):
    monkeypatch.setattr(plot, "LABELLED_UP_TO", 8)  # the pair has more tokens than that
    small = plot.save_explanation_png(*drawn_inputs, tmp_path / "small.png")
    monkeypatch.setattr(plot, "LABELLED_UP_TO", 96)
    labelled = plot.save_explanation_png(*drawn_inputs, tmp_path / "labelled.png")
    assert small.stat().st_size < labelled.stat().st_size  # smaller maps, no token labels


def test_without_matplotlib(drawn_inputs, tmp_path, monkeypatch):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.colors"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(plot.PlotUnavailableError, match=r'pip install "minilm-np\[plot\]"'):
        plot.save_explanation_png(*drawn_inputs, tmp_path / "e.png")


def test_words_past_the_cut_are_counted_not_drawn(tmp_path):
    """A long passage used to be drawn word by word to the end, every word past the cut at +0.000 as if it
    had been read and changed nothing (400 words: 20 lines of words the model never saw)."""
    ce = CrossEncoder.from_pretrained(MODELS / "tiny-ce-1")
    q, p = "people in berlin?", "the city of berlin " * 100
    ex = ce.explain(q, p)
    assert plot._unread(ex) == f"{sum(not w.read for w in ex.words)} passage words" and ex.truncated
    shown = [w for w in ex.words if w.read]
    assert plot._layout(shown, 20.0)[-1][1] < plot._layout(ex.words, 20.0)[-1][1]  # fewer lines of words
    assert plot.save_explanation_png(ex, ce.trace(q, p), tmp_path / "cut.png").read_bytes()[:4] == b"\x89PNG"
