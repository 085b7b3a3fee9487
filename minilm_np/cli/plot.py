"""Pictures of the batch a model sees, one cell per token, in the manner of Mathematica's ArrayPlot.

Three panels, one row per (query, passage) pair and one column per position: ``input_ids`` (colour =
token id, with the token text written in the cell when the batch is small), ``token_type_ids`` (query
segment vs passage segment) and ``attention_mask`` (real tokens vs padding).

matplotlib is optional (the ``plot`` extra) and imported only when a picture is drawn; without it,
``save_batch_png`` raises ``PlotUnavailableError`` (an ``ImportError``) saying how to install it.
Only ``matplotlib.figure.Figure`` is used, never pyplot, so no global backend or state is touched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

INSTALL_HINT = 'pip install "minilm-np[plot]"'
_LABEL_CELLS_UP_TO = 600  # write token texts in the cells when the batch has at most this many cells


class PlotUnavailableError(ImportError):
    """matplotlib is not installed."""


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

    ``tokens``: the token strings per row (without padding), written into the ``input_ids`` cells when
    the batch is small enough to read them.
    """
    try:
        from matplotlib.colors import ListedColormap
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotUnavailableError(f"--png needs matplotlib, which is not installed; add it with: "
                                   f"{INSTALL_HINT}") from None
    names = ("input_ids", "token_type_ids", "attention_mask")
    missing = [n for n in names if n not in batch]
    if missing:
        raise ValueError(f"batch lacks {', '.join(missing)}")
    ids = np.asarray(batch["input_ids"])
    if ids.ndim != 2 or any(np.asarray(batch[n]).shape != ids.shape for n in names):
        raise ValueError("input_ids, token_type_ids and attention_mask must share one 2-D shape [B, T]")
    b, t = ids.shape

    cell = 0.32 if t <= 40 else max(0.08, 14 / max(t, 1))  # inches per cell, keeping long batches on a page
    width = min(max(t * cell + 2.5, 6), 30)
    fig = Figure(figsize=(width, 3 * (b * cell + 0.9) + 0.6), layout="constrained")
    axes = fig.subplots(3, 1)
    two = {
        "token_type_ids": ListedColormap(["#4c72b0", "#dd8452"]),  # 0 query segment, 1 passage segment
        "attention_mask": ListedColormap(["#f0f0f0", "#2a2a2a"]),  # 0 padding, 1 token
    }
    for ax, name in zip(axes, names):
        values = np.asarray(batch[name])
        if name == "input_ids":
            id_image = ax.imshow(values, cmap="viridis", interpolation="nearest", aspect="equal")
            fig.colorbar(id_image, ax=ax, label="token id", shrink=0.8)
        else:
            image = ax.imshow(values, cmap=two[name], vmin=0, vmax=1, interpolation="nearest", aspect="equal")
            bar = fig.colorbar(image, ax=ax, ticks=[0.25, 0.75], shrink=0.8)
            bar.ax.set_yticklabels(["0 query", "1 passage"] if name == "token_type_ids" else ["0 pad", "1 token"])
        ax.set_title(f"{name}  [{b}, {t}]", fontsize=10, loc="left")
        ax.set_ylabel("pair")
        ax.set_yticks(range(b))
        ax.set_xticks(range(0, t, max(1, t // 20)))
        ax.set_xticks(np.arange(-0.5, t, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, b, 1), minor=True)
        ax.grid(which="minor", color="white", linewidth=0.5)
        ax.tick_params(which="minor", length=0)
    axes[-1].set_xlabel("position")
    if tokens is not None and b * t <= _LABEL_CELLS_UP_TO:
        for row, row_tokens in enumerate(tokens):
            for col, token in enumerate(row_tokens[:t]):
                r, g, bl, _ = id_image.cmap(id_image.norm(ids[row, col]))
                ink = "black" if 0.299 * r + 0.587 * g + 0.114 * bl > 0.5 else "white"  # readable on the cell
                axes[0].text(col, row, token, ha="center", va="center", rotation=90, fontsize=5, color=ink)
    if title:
        fig.suptitle(title, fontsize=10)
    path = Path(path)
    fig.savefig(path, dpi=150)
    return path
