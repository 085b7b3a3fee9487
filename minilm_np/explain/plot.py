"""The picture of one explained pair (``minilm-np explain QUERY PASSAGE --png F``), top to bottom:

1. the words, each on a patch coloured by its contribution (green: the score drops without it; red: the
   score rises without it), with the number under it: the occlusion of ``explain.occlusion``; of a pair cut
   at the model's maximum length, the words read, and how many past the cut were not;
2. where [CLS] looks: its attention row in every layer and head, one row per (layer, head) over the tokens;
   the classifier reads [CLS] after the last layer, so this is where the score's evidence is gathered;
3. the full attention maps, one per layer (rows) and head (columns), every map labelled with the tokens:
   row i is what token i takes from each token (each row sums to 1).

Tick labels are coloured by segment (query blue, passage orange, special tokens grey). matplotlib is optional
(the ``plot`` extra) and imported here alone, only when a picture is drawn; only ``matplotlib.figure.Figure``
is used, never pyplot, so no global backend or state is touched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .occlusion import Explanation, Word
from .trace import Trace

INSTALL_HINT = 'pip install "minilm-np[plot]"'
SEGMENT_COLOURS = ("#1f5fa8", "#c0601a")  # query, passage
SPECIAL_COLOUR = "#808080"
SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[PAD]")
LABELLED_UP_TO = 96  # tokens; beyond, maps are drawn without token labels (the [CLS] strip keeps them)

# The layout, in inches. Axes are placed by hand (no constrained layout: with ~70 labelled maps it took ~50 s).
PAGE_MARGIN = 0.4
MAP_PER_TOKEN = 0.11  # a map's side grows with T, so that every token label stays readable
MAP_MIN = 2.2
LABEL_ROOM = 0.85  # beside and below a map, for its token labels
TITLE_ROOM = 0.35
WORD_FONT = 20
CHAR = 0.6 * WORD_FONT / 72  # one monospace character
WORD_LINE = 0.85  # a line of words and the number under it
STRIP_ROW = 0.11  # one (layer, head) row of the [CLS] strip
GAMMA = 0.5  # colour = weight ** 0.5, so that weights of a few percent still show


class PlotUnavailableError(ImportError):
    """matplotlib is not installed."""


def save_explanation_png(explanation: Explanation, trace: Trace, path: str | Path, *, title: str = "",
                         dpi: int = 90) -> Path:
    """Draw ``explanation`` (the words' contributions) and ``trace`` (the same pair's attentions) into a PNG."""
    try:
        from matplotlib.colors import PowerNorm, TwoSlopeNorm
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotUnavailableError(f"--png needs matplotlib, which is not installed; add it with: "
                                   f"{INSTALL_HINT}") from None
    layers, heads, t, _ = trace.attentions.shape
    labelled = t <= LABELLED_UP_TO
    side = max(MAP_MIN, MAP_PER_TOKEN * t) if labelled else MAP_MIN
    room = LABEL_ROOM if labelled else 0.1
    width = 2 * PAGE_MARGIN + heads * (side + room)
    shown = [w for w in explanation.words if w.read]  # a long passage's unread words are counted, not drawn
    layout = _layout(shown, width - 2 * PAGE_MARGIN - 1.6)
    word_lines = max((line for _, line, _ in layout), default=0) + 1 + (len(shown) < len(explanation.words))
    heights = [1.0, 0.8 + word_lines * WORD_LINE, TITLE_ROOM + layers * heads * STRIP_ROW + LABEL_ROOM + 0.3,
               TITLE_ROOM + layers * (side + room + TITLE_ROOM)]  # title, words, strip, maps
    height = sum(heights) + PAGE_MARGIN
    fig = Figure(figsize=(width, height))

    def axes(x: float, top: float, w: float, h: float):  # inches from the left and from the top
        return fig.add_axes((x / width, 1 - (top + h) / height, w / width, h / height))

    fig.text(PAGE_MARGIN / width, 1 - 0.55 / height, title or "explanation", fontsize=28, va="center")
    top = heights[0]
    contributions = np.array([w.contribution for w in explanation.words], dtype=np.float64)
    limit = float(max(np.abs(contributions).max(initial=0.0), 1e-6))
    _draw_words(axes(PAGE_MARGIN, top, width - 2 * PAGE_MARGIN, heights[1]), explanation, shown, layout,
                TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit))
    top += heights[1]
    colours = [SPECIAL_COLOUR if tok in SPECIAL_TOKENS else SEGMENT_COLOURS[int(y)]
               for tok, y in zip(trace.tokens, trace.token_type_ids)]
    norm = PowerNorm(GAMMA, vmin=0.0, vmax=1.0)
    strip = axes(PAGE_MARGIN + 0.6, top + TITLE_ROOM, width - 2 * PAGE_MARGIN - 1.6, layers * heads * STRIP_ROW)
    image = _draw_cls_rows(strip, trace, colours, norm)
    fig.colorbar(image, cax=axes(width - PAGE_MARGIN - 0.7, top + TITLE_ROOM, 0.15, layers * heads * STRIP_ROW),
                 label="attention weight")
    top += heights[2]
    fig.text(PAGE_MARGIN / width, 1 - (top + 0.15) / height,
             "attention maps: row = the token that looks, column = the token it looks at (each row sums to 1)"
             + ("" if labelled else f"; token labels left out above {LABELLED_UP_TO} tokens"), fontsize=18, va="center")
    for layer in range(layers):
        for head in range(heads):
            ax = axes(PAGE_MARGIN + head * (side + room) + room, top + TITLE_ROOM + layer * (side + room + TITLE_ROOM)
                      + TITLE_ROOM, side, side)
            _draw_map(ax, trace, layer, head, colours if labelled else None, norm)
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    return path


# --------------------------------------------------------------------------------------------------
# 1. The words
# --------------------------------------------------------------------------------------------------

def _layout(words: list[Word], width: float) -> list[tuple[str, int, float]]:
    """(segment, line, x in inches) of each word, wrapped to ``width``; the passage starts on a new line."""
    out, line, x, segment = [], 0, 0.0, None
    for w in words:
        if segment is not None and w.segment != segment:
            line, x = line + 1, 0.0
        segment = w.segment
        size = (max(len(w.text), 6) + 2.5) * CHAR
        if x > 0 and x + size > width:
            line, x = line + 1, 0.0
        out.append((w.segment, line, x))
        x += size
    return out


def _draw_words(ax, explanation: Explanation, shown: list[Word], layout, norm) -> None:
    from matplotlib import colormaps

    cmap = colormaps["RdYlGn"]
    width = ax.get_position().width * ax.figure.get_figwidth()
    height = ax.get_position().height * ax.figure.get_figheight()
    ax.set_axis_off()
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)  # inches, from the top
    cut = "; the pair was cut at the model's maximum length" if explanation.truncated else ""
    ax.text(0, 0.2, f"score {explanation.score:.4f}.  Each word: the score with it minus the score without it "
            f"(green: it helps, red: it hurts){cut}", fontsize=18, va="center")
    first_line = {}
    for w, (segment, line, x) in zip(shown, layout):
        first_line.setdefault(segment, line)
        y = 0.8 + line * WORD_LINE + 0.15
        if line == first_line[segment] and x == 0:
            ax.text(0, y, segment, fontsize=17, color=SEGMENT_COLOURS[segment == "passage"], va="center", weight="bold")
        r, g, b, _ = fill = cmap(norm(w.contribution))
        ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.45 else "white"  # readable on its patch
        ax.text(1.4 + x, y, w.text, family="monospace", fontsize=WORD_FONT, va="center", color=ink,
                bbox=dict(boxstyle="round,pad=0.25", facecolor=fill, edgecolor="none"))
        ax.text(1.4 + x, y + 0.4, f"{w.contribution:+.3f}", family="monospace", fontsize=12, va="center",
                color="#333333")
    unread = _unread(explanation)
    if unread:
        y = 0.8 + (max((line for _, line, _ in layout), default=-1) + 1) * WORD_LINE + 0.15
        ax.text(1.4, y, f"+ {unread} not read: past the model's maximum length", fontsize=17, va="center",
                color=SPECIAL_COLOUR, style="italic")


def _unread(explanation: Explanation) -> str:
    """What the model never read, as "12 passage words" (and the query's, if it was cut too); "" if nothing."""
    counts = {segment: explanation.unread(segment) for segment in ("query", "passage")}
    return " and ".join(f"{n} {segment} word{'s' * (n != 1)}" for segment, n in counts.items() if n)


# --------------------------------------------------------------------------------------------------
# 2. [CLS]'s attention in every layer and head; 3. every map
# --------------------------------------------------------------------------------------------------

def _label_tokens(ax, tokens: list[str], colours: list[str], axis: str, fontsize: float, every: int = 1) -> None:
    """Token labels beside (y) or under (x) an image, as plain texts (matplotlib's tick objects cost ~50x
    more, and a full picture has thousands of labels); ``every``: label one token in so many."""
    ax.set_xticks([]) if axis == "x" else ax.set_yticks([])
    transform = ax.get_xaxis_transform() if axis == "x" else ax.get_yaxis_transform()
    for i, (token, colour) in list(enumerate(zip(tokens, colours)))[::every]:
        if axis == "x":  # x in data, y in axes fraction: just under the image
            ax.text(i, -0.01, token, transform=transform, rotation=90, ha="center", va="top", fontsize=fontsize,
                    color=colour, clip_on=False)
        else:
            ax.text(-0.01, i, token, transform=transform, ha="right", va="center", fontsize=fontsize,
                    color=colour, clip_on=False)


def _draw_cls_rows(ax, trace: Trace, colours: list[str], norm):
    layers, heads, t, _ = trace.attentions.shape
    rows = trace.attentions[:, :, 0, :].reshape(layers * heads, t)  # [layers * H, T]: [CLS]'s row in each
    image = ax.imshow(rows, cmap="magma_r", norm=norm, aspect="auto", interpolation="nearest")
    ax.set_title("where [CLS] looks (the classifier reads [CLS] after the last layer): its attention over the "
                 "tokens, one row per layer and head", fontsize=18, loc="left", pad=8)
    per_token = ax.get_position().width * ax.figure.get_figwidth() * 72 / t  # points a token gets
    _label_tokens(ax, trace.tokens, colours, "x", min(11.0, 0.9 * per_token), every=max(1, int(np.ceil(5 / per_token))))
    ax.set_yticks([l * heads + (heads - 1) / 2 for l in range(layers)], [f"layer {l + 1}" for l in range(layers)],
                  fontsize=12)
    ax.set_ylabel(f"heads 1-{heads} of each layer, top to bottom", fontsize=11)
    for boundary in range(heads, layers * heads, heads):
        ax.axhline(boundary - 0.5, color="#1f5fa8", linewidth=1.2)
    return image


def _draw_map(ax, trace: Trace, layer: int, head: int, colours: list[str] | None, norm) -> None:
    ax.imshow(trace.attentions[layer, head], cmap="magma_r", norm=norm, interpolation="nearest")
    ax.set_title(f"layer {layer + 1}, head {head + 1}", fontsize=11, pad=3)
    if colours is None:
        ax.set_xticks([])
        ax.set_yticks([])
        return
    fontsize = float(np.clip(MAP_PER_TOKEN * 72 * 0.78, 4, 7))
    _label_tokens(ax, trace.tokens, colours, "x", fontsize)
    _label_tokens(ax, trace.tokens, colours, "y", fontsize)
