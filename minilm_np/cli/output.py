"""What the CLI prints: tables, hit lists, timing lines, JSON, progress bars, one-line errors."""

from __future__ import annotations

import json
import os
import sys
import textwrap

from .. import progress


def progress_bar(quiet: bool, total: int, desc: str, unit: str):
    """``minilm_np.progress.progress_bar``, shown unless quiet or stderr is not a terminal."""
    return progress.progress_bar(not quiet and sys.stderr.isatty(), total, desc, unit)


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


def print_table(rows: list[list[str]], right: set[int] = frozenset()) -> None:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r, row in enumerate(rows):
        cells = [cell.rjust(w) if c in right else cell.ljust(w) for c, (cell, w) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip())
        if r == 0:
            print("  ".join("-" * w for w in widths))


def print_columns(labels: list[str], rows: list[list[str]], width: int) -> None:
    """Print aligned rows of cells (one column per token), wrapped to ``width`` characters."""
    col_w = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    label_w = max(len(x) for x in labels)
    start = 0
    while start < len(col_w):
        used, end = label_w + 4, start
        while end < len(col_w) and (end == start or used + col_w[end] + 1 <= width):
            used += col_w[end] + 1
            end += 1
        for label, row in zip(labels, rows):
            print(f"  {label.ljust(label_w)}  " + " ".join(row[c].ljust(col_w[c]) for c in range(start, end)).rstrip())
        start = end
        if start < len(col_w):
            print()


def print_hits(hits, two_stage: bool) -> None:
    header = ["rank", "score", *(["1st stage"] if two_stage else []), "id", "text"]
    table = [header]
    for r, h in enumerate(hits, start=1):
        first = [f"#{h.first_stage_rank} ({h.first_stage_score:.3f})"] if two_stage else []
        table.append([str(r), f"{h.score:.4f}", *first, h.id, clip(h.text)])
    print_table(table, right={0, 1})


PART_NAMES = {"query_embedding": "query embedding", "similarity": "similarity + top-{n}", "reranking": "reranking"}


def parts(timings: dict[str, float], n: int) -> str:
    return ", ".join(f"{PART_NAMES[k].format(n=n)} {v:.3f}" for k, v in timings.items() if k in PART_NAMES)


def timing_line(timings: dict[str, float], n: int, corpus_seconds: float | None) -> str:
    line = f"time: {parts(timings, n)}; total {timings['total']:.3f} s"
    if corpus_seconds is not None:
        line += f" (+ corpus embedding {corpus_seconds:.3f} s, once; build an index to reuse it)"
    return line


def reading_line(counts: dict[str, int], mode: str) -> str:
    """How the reranker read the passages (``LongPassageScorer.counts``): how many were cut, or the windows."""
    n, cut, windows = counts["passages"], counts["truncated"], counts["windows"]
    if mode == "truncate":
        line = f"long passages: {cut} of {n} cut at the reranker's maximum length"
        if cut:
            line += " (--long-passages maxp reads them whole)"
    else:
        line = f"long passages: {n} read in {windows} windows ({windows / max(n, 1):.2f} per passage, {mode})"
        if cut:
            line += f"; {cut} only in their first window"
    if counts["query_truncated"]:
        line += f"; the query was cut to fit beside {counts['query_truncated']} of them"
    return line


def clip(text: str, width: int = 80) -> str:
    return textwrap.shorten(text, width=width, placeholder=" ...") or text[:width]


def one_line(error: BaseException) -> str:
    """The error as one line; an OSError from the system as "path: what went wrong", without "[Errno N]"."""
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        return f"{error.filename}: {error.strerror}"
    return " ".join(str(error).split()) or type(error).__name__


def warn(message: str) -> None:
    print(f"minilm-np: warning: {' '.join(message.split())}", file=sys.stderr)


def plural(n: int, one: str, many: str | None = None) -> str:
    """ "1 passage", "2 passages"; ``many`` for irregular words ("queries")."""
    return f"{n} {one if n == 1 else many or one + 's'}"


SIGPIPE_STATUS = 141  # 128 + SIGPIPE: what a shell reports for a tool that a closed pipe stopped


def quiet_broken_pipe() -> int:
    """After stdout's reader has gone (``| head``): point stdout at /dev/null, so that Python's own flush at
    exit does not complain either, and return the status a shell shows for such a tool."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a file (captured, as in tests)
        pass
    return SIGPIPE_STATUS
