"""Queries, relevance judgements and runs in the plain layouts IR tools share: queries as ``.jsonl``
(``id`` or ``_id``, ``text``), ``.tsv`` (``id<TAB>text``) or one per line; judgements (qrels) as ``query doc
gain`` lines (BEIR's ``qrels/*.tsv``, header line included) or TREC's ``query iteration doc gain``; runs
written in TREC's ``query Q0 doc rank score tag`` layout, which trec_eval, ir-measures, pytrec_eval and
ranx read."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...retrieval.corpus import Corpus, CorpusError, check_unique, read_corpus, read_text


def read_queries(path: str | Path, *, encoding: str = "utf-8") -> list[tuple[str, str]]:
    """``[(query id, text)]`` from a ``.jsonl`` file (``id``, ``text``), a ``.tsv`` file (``id<TAB>text``)
    or a text file (one query per non-blank line, ids "1", "2", ...)."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".tsv":
        queries = []
        for number, line in enumerate(read_text(path, encoding).splitlines(), start=1):
            if not line.strip():
                continue
            ident, sep, text = line.partition("\t")
            if not sep or not ident.strip() or not text.strip():
                raise CorpusError(f"{path} line {number}: expected 'id<TAB>text'")
            queries.append((ident.strip(), text.strip()))
        if not queries:
            raise CorpusError(f"query file {path} has no queries")
        found = Corpus([q for q, _ in queries], [t for _, t in queries], source=str(path))
        check_unique(found, "query file")
        return queries
    if path.is_dir():
        raise CorpusError(f"{path} is a directory; queries come in one .jsonl, .tsv or text file")
    found = read_corpus(path, split="lines", encoding=encoding, what="query file")
    return list(zip(found.ids, found.texts))


def read_qrels(path: str | Path, *, encoding: str = "utf-8") -> dict[str, dict[str, float]]:
    """``{query id: {doc id: gain}}`` from lines ``query doc gain`` or the TREC layout ``query iteration doc
    gain``, split at tabs when the line has any (ids may then hold spaces), else at whitespace. Gains are
    used as given; <= 0 means not relevant. A first line whose gain is not a number is a header (BEIR's
    ``query-id corpus-id score``) and is skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"judgements file not found: {path}")
    qrels: dict[str, dict[str, float]] = {}
    first, header = True, False
    for number, line in enumerate(read_text(path, encoding).splitlines(), start=1):
        parts = [p.strip() for p in line.strip().split("\t")] if "\t" in line.strip() else line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if first and len(parts) in (3, 4) and not _is_number(parts[-1]):
            first, header = False, True
            continue
        first = False
        if len(parts) not in (3, 4):
            raise CorpusError(f"{path} line {number}: expected 'query doc gain' or 'query 0 doc gain', "
                              f"got {len(parts)} fields")
        query, doc, gain = parts[0], parts[-2], parts[-1]
        try:
            value = float(gain)
        except ValueError:
            raise CorpusError(f"{path} line {number}: gain {gain!r} is not a number") from None
        if not math.isfinite(value):  # nan or inf would make every metric of the query nan
            raise CorpusError(f"{path} line {number}: gain {gain!r} is not a finite number")
        qrels.setdefault(query, {})[doc] = value
    if not qrels:
        raise CorpusError(f"judgements file {path} has no judgements" + (" (only a header line)" if header else ""))
    return qrels


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Ranking:
    """One query's result: document ids best first, with scores that never increase down the list (tools
    that read a run order it by score)."""
    ids: list[str]
    scores: list[float]


_TOKEN = re.compile(r"\S+")


def write_run(path: str | Path, rankings: Mapping[str, Ranking], *, tag: str) -> Path:
    """Write ``{query id: Ranking}`` as a TREC run: ``query Q0 doc rank score tag`` per line, ranks from 1,
    scores as float32 values (what the engine computes) in Python's shortest exact repr. Tools that read
    runs order them by score and break ties by document id, not by our order, and trec_eval (so pytrec_eval
    and ir-measures) keeps scores as float32; so a score that is not below the one above it in float32 is
    written one float32 step (~1e-7 of it) lower: the order survives, the value barely moves. ``tag`` names
    the run; runs of whitespace and brackets in it become "-". Ids holding whitespace cannot be written
    (the layout is whitespace-separated): a ``ValueError`` names the first."""
    tag = re.sub(r"[\s()\[\]]+", "-", tag).strip("-") or "run"
    lines = []
    for query, ranking in rankings.items():
        for ident in (query, *ranking.ids):
            if not _TOKEN.fullmatch(ident):
                raise ValueError(f"id {ident!r} holds whitespace (or is empty) and cannot go in a TREC run file")
        above = np.float32(np.inf)
        for rank, (doc, score) in enumerate(zip(ranking.ids, ranking.scores), start=1):
            score = np.float32(score)
            above = score if score < above else np.nextafter(above, np.float32(-np.inf))
            lines.append(f"{query} Q0 {doc} {rank} {float(above)!r} {tag}")
    path = Path(path)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path
