"""What ``minilm-np explain`` prints: the query and the passage word by word, each word shown with its
contribution, on a coloured background where the terminal has colour (green helps, red hurts, the strength
of the colour its size), as ``word(+0.123)`` where it has not."""

from __future__ import annotations

from ..explain.occlusion import Explanation, Word

# A diverging scale (ColorBrewer RdYlGn's ends and middle): contribution -max .. 0 .. +max.
_RED, _MIDDLE, _GREEN = (215, 48, 39), (255, 255, 191), (26, 152, 80)
_SHOWN = 5  # words listed as helping or hurting most


def explanation_lines(ex: Explanation, model: str, *, colour: bool, width: int) -> list[str]:
    kind = "a cut pair: words past the model's maximum length were not read" if ex.truncated else "the whole pair"
    lines = [f"score {ex.score:.4f} by {model} ({kind})",
             "each word: the score with it minus the score without it (exact occlusion)", ""]
    limit = max((abs(w.contribution) for w in ex.words), default=0.0) or 1.0
    for segment in ("query", "passage"):
        words = [w for w in ex.words if w.segment == segment and w.read]
        cells = [_coloured(w, limit) if colour else f"{w.text}({w.contribution:+.3f})" for w in words]
        lines += _wrap(f"{segment:8}", cells, [len(w.text) if colour else len(c) for w, c in zip(words, cells)], width)
        unread = ex.unread(segment)
        if unread:  # counted, not listed: a long passage would fill the screen with words the model never saw
            lines.append(f"{'':8} + {unread} {segment} word{'s' * (unread != 1)} not read: past the model's "
                         f"maximum length")
    ranked = sorted((w for w in ex.words if w.contribution), key=lambda w: w.contribution)
    helps = [w for w in reversed(ranked) if w.contribution > 0][:_SHOWN]
    hurts = [w for w in ranked if w.contribution < 0][:_SHOWN]
    lines.append("")
    lines.append("helps most: " + (", ".join(f"{w.text} {w.contribution:+.3f}" for w in helps) or "-"))
    lines.append("hurts most: " + (", ".join(f"{w.text} {w.contribution:+.3f}" for w in hurts) or "-"))
    return lines


def _wrap(label: str, cells: list[str], widths: list[int], width: int) -> list[str]:
    """Cells (maybe holding colour codes, so their printed ``widths`` are given) after a label, wrapped."""
    if not cells:
        return [label.rstrip() + "  (no words)"]
    out, line, used, indent = [], label, len(label), " " * len(label)
    for cell, w in zip(cells, widths):
        if used > len(label) and used + 1 + w > width:
            out.append(line)
            line, used = indent, len(indent)
        line += " " + cell
        used += 1 + w
    return out + [line]


def _coloured(word: Word, limit: float) -> str:
    """The word on a 24-bit background coloured by its contribution, black or white ink to stay readable."""
    x = max(-1.0, min(1.0, word.contribution / limit))
    end = _GREEN if x > 0 else _RED
    r, g, b = (round(m + abs(x) * (e - m)) for m, e in zip(_MIDDLE, end))
    ink = "30" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "97"
    return f"\x1b[{ink};48;2;{r};{g};{b}m{word.text}\x1b[0m"
