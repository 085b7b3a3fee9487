"""Queries and relevance judgements in the plain layouts IR tools share: queries as ``.jsonl`` (``id``,
``text``), ``.tsv`` (``id<TAB>text``) or one per line; judgements (qrels) as ``query doc gain`` lines or
TREC's ``query iteration doc gain``."""

from __future__ import annotations

from pathlib import Path

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
        check_unique(found)
        return queries
    if path.is_dir():
        raise CorpusError(f"{path} is a directory; queries come in one .jsonl, .tsv or text file")
    found = read_corpus(path, split="lines", encoding=encoding)
    return list(zip(found.ids, found.texts))


def read_qrels(path: str | Path, *, encoding: str = "utf-8") -> dict[str, dict[str, float]]:
    """``{query id: {doc id: gain}}`` from whitespace-separated lines ``query doc gain`` or the TREC
    layout ``query iteration doc gain``. Gains are used as given; <= 0 means not relevant."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"judgements file not found: {path}")
    qrels: dict[str, dict[str, float]] = {}
    for number, line in enumerate(read_text(path, encoding).splitlines(), start=1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) not in (3, 4):
            raise CorpusError(f"{path} line {number}: expected 'query doc gain' or 'query 0 doc gain', "
                              f"got {len(parts)} fields")
        query, doc, gain = parts[0], parts[-2], parts[-1]
        try:
            value = float(gain)
        except ValueError:
            raise CorpusError(f"{path} line {number}: gain {gain!r} is not a number") from None
        qrels.setdefault(query, {})[doc] = value
    if not qrels:
        raise CorpusError(f"judgements file {path} has no judgements")
    return qrels
