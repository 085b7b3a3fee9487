"""Pictures of the batch a model sees: rows per (query, passage) pair, one column per position.

Three arrays share the columns: ``input_ids`` (each cell names its token, written level, with its id
beneath; the cell's colour says what the token is: [CLS]/[SEP], query, passage, or [PAD]),
``token_type_ids`` (0 query segment, 1 passage segment) and ``attention_mask`` (1 token, 0 padding), with
each cell's value written in it; the three rows of a pair sit together, so a column reads as one
position. A column is as wide as its longest token, so every label fits its cell, and long batches wrap
into bands like the text output. Text is dark on a light cell or white on a dark one (contrast >= 4.5,
WCAG AA; ``contrast`` checks it). Batches too long to label (more than ``LABEL_POSITIONS_UP_TO`` positions)
are drawn as coloured cells only.

matplotlib is optional (the ``plot`` extra) and imported only when a picture is drawn; without it,
``check_plotting`` and ``save_batch_png`` raise ``PlotUnavailableError`` (an ``ImportError``) saying how to
install it. Only ``matplotlib.figure.Figure`` is used, never pyplot, so no global backend or state is
touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

INSTALL_HINT = 'pip install "minilm-np[plot]"'
LABEL_POSITIONS_UP_TO = 128  # write tokens in the cells up to this many positions; plain cells beyond
BAND_WIDTH = 130  # character widths a band of labelled columns may take before the next band starts
LONG_BAND = 128  # columns per band when not labelled
GAP = 0.4  # row units between two pairs' blocks
SPECIAL_TOKENS = ("[CLS]", "[SEP]")
PAD = "[PAD]"

# What each cell of the input_ids panel is, and its colour: light tints, so that black text reads on all.
ROLES = ("special", "query", "passage", "padding")
ROLE_COLOURS = {"special": "#d4d4d4", "query": "#c6dbef", "passage": "#fdd9b5", "padding": "#ffffff"}
ROLE_NAMES = {"special": "[CLS] / [SEP]", "query": "query token", "passage": "passage token", "padding": "[PAD]"}
TYPE_COLOURS = ("#9ecae1", "#fdae6b")  # token type 0 (query segment), 1 (passage segment)
MASK_COLOURS = ("#ffffff", "#4d4d4d")  # attention mask 0 (padding), 1 (token)
TEXT, PAD_TEXT, EDGE = "#000000", "#6e6e6e", "#b0b0b0"


class PlotUnavailableError(ImportError):
    """matplotlib is not installed."""


@dataclass(frozen=True)
class Cells:
    """What the picture shows in each cell, [B, T] each, and each column's width in character widths."""
    roles: list[list[str]]  # one of ROLES
    labels: list[list[str]]  # the token's text ([PAD] for padding); "" when the batch is too long to label
    widths: list[float]  # [T]


def batch_cells(batch: dict[str, np.ndarray], tokens: list[list[str]] | None) -> Cells:
    """Roles, labels and column widths of a batch (``tokens``: each row's token strings, padding left out)."""
    ids, types, mask = (np.asarray(batch[n]) for n in ("input_ids", "token_type_ids", "attention_mask"))
    b, t = ids.shape
    labelled = tokens is not None and t <= LABEL_POSITIONS_UP_TO
    roles, labels = [], []
    for r in range(b):
        row_tokens = list(tokens[r]) if tokens is not None else []
        roles.append([])
        labels.append([])
        for c in range(t):
            text = PAD if not mask[r, c] else row_tokens[c] if c < len(row_tokens) else ""
            role = ("padding" if not mask[r, c] else "special" if text in SPECIAL_TOKENS
                    else "passage" if types[r, c] else "query")
            roles[r].append(role)
            labels[r].append(text if labelled else "")
    if not labelled:
        return Cells(roles, labels, [1.0] * t)
    widths = [max(3, *(len(labels[r][c]) for r in range(b)), *(len(str(int(ids[r, c]))) for r in range(b))) + 1.5
              for c in range(t)]
    return Cells(roles, labels, widths)


def check_plotting() -> None:
    """Raise ``PlotUnavailableError`` now if matplotlib is missing (before any work is printed)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotUnavailableError(f"--png needs matplotlib, which is not installed; add it with: "
                                   f"{INSTALL_HINT}") from None


def save_batch_png(batch: dict[str, np.ndarray], path: str | Path, *, tokens: list[list[str]] | None = None,
                   title: str | None = None) -> Path:
    """Draw ``input_ids``, ``token_type_ids`` and ``attention_mask`` (each int [B, T]) into a PNG.

    ``tokens``: the token strings per row (without padding), written into the ``input_ids`` cells.
    """
    check_plotting()
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    names = ("input_ids", "token_type_ids", "attention_mask")
    missing = [n for n in names if n not in batch]
    if missing:
        raise ValueError(f"batch lacks {', '.join(missing)}")
    ids = np.asarray(batch["input_ids"])
    if ids.ndim != 2 or any(np.asarray(batch[n]).shape != ids.shape for n in names):
        raise ValueError("input_ids, token_type_ids and attention_mask must share one 2-D shape [B, T]")
    b, t = ids.shape
    types, mask = np.asarray(batch["token_type_ids"]), np.asarray(batch["attention_mask"])
    cells = batch_cells(batch, tokens)
    labelled = any(any(row) for row in cells.labels)
    bands = _bands(cells.widths, BAND_WIDTH if labelled else LONG_BAND)  # [(first column, end column)]
    span = max(sum(cells.widths[a:z]) for a, z in bands)  # every band on one scale

    # One block of three rows per pair: its tokens (with ids), token types, attention mask.
    heights = (1.0, 0.5, 0.5) if labelled else (0.5, 0.5, 0.5)
    block = sum(heights) + GAP
    char = 0.075 if labelled else 9 / span  # inches per character width (per column when not labelled)
    unit = 0.32  # inches per row unit
    fig = Figure(figsize=(span * char + 2.2, len(bands) * (b * block * unit + 0.45) + 0.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(bands), 1))
    colours = (lambda r, c: ROLE_COLOURS[cells.roles[r][c]], lambda r, c: TYPE_COLOURS[int(types[r, c])],
               lambda r, c: MASK_COLOURS[int(mask[r, c])])
    texts = (lambda r, c: f"{cells.labels[r][c]}\n{int(ids[r, c])}", lambda r, c: str(int(types[r, c])),
             lambda r, c: str(int(mask[r, c])))
    inks = (lambda r, c: PAD_TEXT if cells.roles[r][c] == "padding" else TEXT, lambda r, c: TEXT,
            lambda r, c: "#ffffff" if mask[r, c] else TEXT)
    for ax, (first, end) in zip(axes, bands):
        edges = np.concatenate([[0.0], np.cumsum(cells.widths[first:end])])
        ticks, tick_labels = [], []
        for r in range(b):
            top = r * block
            for row, height in enumerate(heights):
                ticks.append(top + height / 2)
                tick_labels.append((f"pair {r}  tokens" if labelled else f"pair {r}  input_ids",
                                    "token_type_ids", "attention_mask")[row])
                for i, c in enumerate(range(first, end)):
                    ax.add_patch(_rectangle(edges[i], top, cells.widths[c], height, colours[row](r, c)))
                    if labelled:
                        ax.text((edges[i] + edges[i + 1]) / 2, top + height / 2, texts[row](r, c), ha="center",
                                va="center", fontsize=8, color=inks[row](r, c), family="monospace",
                                linespacing=1.25)
                top += height
        ax.set_xlim(0, span)
        ax.set_ylim(b * block - GAP, 0)  # pair 0 on top
        ax.set_yticks(ticks, tick_labels, fontsize=8)
        step = 1 if labelled else 16
        ax.set_xticks((edges[:-1] + edges[1:])[::step] / 2, [str(c) for c in range(first, end, step)], fontsize=7)
        ax.tick_params(length=0)
        ax.set_title(f"positions {first}-{end - 1}", fontsize=8.5, loc="left", color=PAD_TEXT)
        for side in ax.spines.values():
            side.set_visible(False)
    legend = ([Patch(facecolor=ROLE_COLOURS[role], edgecolor=EDGE, label=ROLE_NAMES[role]) for role in ROLES]
              + [Patch(facecolor=TYPE_COLOURS[0], edgecolor=EDGE, label="type 0: query segment (padding too)"),
                 Patch(facecolor=TYPE_COLOURS[1], edgecolor=EDGE, label="type 1: passage segment"),
                 Patch(facecolor=MASK_COLOURS[1], edgecolor=EDGE, label="mask 1: attended"),
                 Patch(facecolor=MASK_COLOURS[0], edgecolor=EDGE, label="mask 0: ignored")])
    fig.legend(handles=legend, loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    shape = f"input_ids, token_type_ids, attention_mask: int [{b}, {t}] each" + (
        "" if labelled else f" (over {LABEL_POSITIONS_UP_TO} positions: colours only; the text output has the tokens)")
    fig.suptitle(f"{title}\n{shape}" if title else shape, fontsize=10)
    path = Path(path)
    fig.savefig(path, dpi=150, facecolor="white")
    return path


def _bands(widths: list[float], band_width: float) -> list[tuple[int, int]]:
    """Consecutive column ranges [first, end) whose widths add up to at most ``band_width`` (one at least)."""
    bands, first, used = [], 0, 0.0
    for c, w in enumerate(widths):
        if c > first and used + w > band_width:
            bands.append((first, c))
            first, used = c, 0.0
        used += w
    bands.append((first, len(widths)))
    return bands


def _rectangle(x: float, y: float, width: float, height: float, colour: str):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), width, height, facecolor=colour, edgecolor=EDGE, linewidth=0.6)


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two "#rrggbb" colours (1 to 21; 4.5 is AA for text)."""
    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)
