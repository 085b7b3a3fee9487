"""minilm_np.cli.plot: what the inspect picture writes in its cells, that its text reads on its colours, and
that a PNG comes out (matplotlib from the plot extra)."""

import numpy as np
import pytest

from minilm_np.cli import plot

# [CLS] how many [SEP] berlin [SEP] / [CLS] how many [SEP] a [SEP] [PAD]
BATCH = {"input_ids": np.array([[101, 2129, 2116, 102, 4068, 102], [101, 2129, 2116, 102, 1037, 102]]),
         "token_type_ids": np.array([[0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 1, 1]]),
         "attention_mask": np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])}
BATCH["input_ids"][1, 5], BATCH["token_type_ids"][1, 5], BATCH["attention_mask"][1, 5] = 0, 0, 0
BATCH["input_ids"][1, 4] = 102
TOKENS = [["[CLS]", "how", "many", "[SEP]", "berlin", "[SEP]"], ["[CLS]", "how", "many", "[SEP]", "[SEP]"]]


def test_every_cell_is_labelled_padding_included():
    cells = plot.batch_cells(BATCH, TOKENS)
    assert cells.labels[0] == TOKENS[0]
    assert cells.labels[1] == ["[CLS]", "how", "many", "[SEP]", "[SEP]", "[PAD]"]
    assert cells.roles[0] == ["special", "query", "query", "special", "passage", "special"]
    assert cells.roles[1][-1] == "padding"
    for c, width in enumerate(cells.widths):  # a label and its id fit their column
        assert width > max(len(cells.labels[r][c]) for r in range(2))
        assert width > max(len(str(BATCH["input_ids"][r, c])) for r in range(2))


def test_a_long_batch_is_drawn_without_labels_and_wraps_into_bands():
    t = plot.LABEL_POSITIONS_UP_TO + 1
    long = {name: np.ones((1, t), dtype=np.int64) for name in BATCH}
    cells = plot.batch_cells(long, [["x"] * t])
    assert set(cells.labels[0]) == {""} and cells.widths == [1.0] * t
    assert plot._bands([5.0] * 10, 12) == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
    assert plot._bands([20.0, 1.0], 12) == [(0, 1), (1, 2)]  # a column wider than a band gets one alone


def test_text_reads_on_every_colour_it_is_written_on():
    pairs = [(plot.TEXT, c) for c in plot.ROLE_COLOURS.values()] + [(plot.PAD_TEXT, plot.ROLE_COLOURS["padding"])]
    pairs += [(plot.TEXT, c) for c in plot.TYPE_COLOURS] + [(plot.TEXT, plot.MASK_COLOURS[0]),
                                                            ("#ffffff", plot.MASK_COLOURS[1])]
    for ink, paper in pairs:
        assert plot.contrast(ink, paper) >= 4.5, (ink, paper)
    assert plot.contrast("#ffffff", "#fde725") < 1.3  # the old white on viridis yellow, for scale


def test_save_batch_png(tmp_path):
    pytest.importorskip("matplotlib", reason="the plot extra is not installed")
    path = plot.save_batch_png(BATCH, tmp_path / "b.png", tokens=TOKENS, title="model: how many")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="share one 2-D shape"):
        plot.save_batch_png({**BATCH, "attention_mask": np.ones((2, 5))}, tmp_path / "c.png")
