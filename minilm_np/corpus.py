"""Corpus files -> passages with ids.

Three inputs are read:

* a text file (``.txt`` or any extension other than ``.jsonl``): split into sentences by default, or by
  lines or paragraphs (see ``split``); ids are the passage numbers "1", "2", ... in file order;
* a ``.jsonl`` file: one JSON object per line with a string ``text`` and an optional ``id`` (string or
  integer; the line number when absent); each record is one passage, never split further;
* a directory: every ``*.txt`` file under it (sorted by path), each split as a text file, with ids
  "name.txt:3" (the relative path, a colon and the passage number within that file).

Queries (``read_queries``) and relevance judgements (``read_qrels``) for evaluation are read here too.

Empty passages are dropped (so their numbers are not used). A corpus with no passage at all, duplicate
ids or a malformed JSON line is a ``CorpusError`` (a ``ValueError``) naming the file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .split import SPLIT_MODES, split_text


class CorpusError(ValueError):
    """A corpus file is malformed (bad JSON, a missing ``text``, duplicate ids) or holds no passage."""


@dataclass(frozen=True)
class Corpus:
    """Passages and their ids, in corpus order. ``ids[i]`` names ``texts[i]``."""

    ids: list[str]
    texts: list[str]
    source: str = field(default="", compare=False)  # where it was read from, for messages

    def __post_init__(self):
        if len(self.ids) != len(self.texts):
            raise ValueError(f"corpus has {len(self.ids)} ids but {len(self.texts)} texts")

    def __len__(self) -> int:
        return len(self.texts)


def corpus_from_texts(texts: list[str], ids: list[str] | None = None, *, source: str = "") -> Corpus:
    """A ``Corpus`` from in-memory texts (ids "1", "2", ... by default); empty texts are dropped."""
    if isinstance(texts, str):
        raise TypeError("texts must be a list of str, not a single str")
    texts = list(texts)
    ids = [str(i) for i in range(1, len(texts) + 1)] if ids is None else [str(i) for i in ids]
    if len(ids) != len(texts):
        raise ValueError(f"got {len(ids)} ids for {len(texts)} texts")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be a str, got {type(text).__name__}")
    kept = [(i, t.strip()) for i, t in zip(ids, texts) if t.strip()]
    corpus = Corpus([i for i, _ in kept], [t for _, t in kept], source=source)
    _check_unique(corpus)
    return corpus


def read_corpus(path: str | Path, *, split: str = "sentences", encoding: str = "utf-8") -> Corpus:
    """Read a text file, a ``.jsonl`` file or a directory of ``.txt`` files (see the module docstring).

    Raises ``FileNotFoundError`` if ``path`` does not exist, ``CorpusError`` if it is malformed or holds
    no passage, ``ValueError`` for an unknown ``split`` mode.
    """
    if split not in SPLIT_MODES:
        raise ValueError(f"unknown split mode {split!r}; expected one of {', '.join(SPLIT_MODES)}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"corpus not found: {path}")
    if path.is_dir():
        corpus = _read_directory(path, split, encoding)
    elif path.suffix.lower() == ".jsonl":
        corpus = _read_jsonl(path, encoding)
    else:
        passages = split_text(_read_text(path, encoding), split)
        corpus = Corpus([str(i) for i in range(1, len(passages) + 1)], passages, source=str(path))
    if len(corpus) == 0:
        raise CorpusError(f"corpus {path} has no passages (empty files or only blank text)")
    _check_unique(corpus)
    return corpus


def _read_directory(path: Path, split: str, encoding: str) -> Corpus:
    files = sorted(p for p in path.rglob("*.txt") if p.is_file())
    if not files:
        raise CorpusError(f"corpus directory {path} has no .txt files")
    ids, texts = [], []
    for file in files:
        name = file.relative_to(path).as_posix()
        for number, passage in enumerate(split_text(_read_text(file, encoding), split), start=1):
            ids.append(f"{name}:{number}")
            texts.append(passage)
    return Corpus(ids, texts, source=str(path))


def _read_jsonl(path: Path, encoding: str) -> Corpus:
    ids, texts = [], []
    for number, line in enumerate(_read_text(path, encoding).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise CorpusError(f"{path} line {number}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(record, dict):
            raise CorpusError(f"{path} line {number}: expected a JSON object, got {type(record).__name__}")
        if "text" not in record:
            raise CorpusError(f'{path} line {number}: no "text" field')
        text = record["text"]
        if not isinstance(text, str):
            raise CorpusError(f'{path} line {number}: "text" must be a string, got {type(text).__name__}')
        ident = record.get("id", number)
        if isinstance(ident, bool) or not isinstance(ident, (str, int)):
            raise CorpusError(f'{path} line {number}: "id" must be a string or an integer')
        if text.strip():
            ids.append(str(ident))
            texts.append(text.strip())
    return Corpus(ids, texts, source=str(path))


def _read_text(path: Path, encoding: str) -> str:
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path} is not valid {encoding} text (byte {e.start})") from None


def _check_unique(corpus: Corpus) -> None:
    if len(set(corpus.ids)) != len(corpus.ids):
        seen, duplicate = set(), None
        for ident in corpus.ids:
            if ident in seen:
                duplicate = ident
                break
            seen.add(ident)
        where = f" {corpus.source}" if corpus.source else ""
        raise CorpusError(f"corpus{where} has duplicate id {duplicate!r}")


# --------------------------------------------------------------------------------------------------
# Evaluation inputs: queries and relevance judgements
# --------------------------------------------------------------------------------------------------

def read_queries(path: str | Path, *, encoding: str = "utf-8") -> list[tuple[str, str]]:
    """``[(query id, text)]`` from a ``.jsonl`` file (``id``, ``text``), a ``.tsv`` file (``id<TAB>text``)
    or a text file (one query per non-blank line, ids "1", "2", ...)."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".tsv":
        queries = []
        for number, line in enumerate(_read_text(path, encoding).splitlines(), start=1):
            if not line.strip():
                continue
            ident, sep, text = line.partition("\t")
            if not sep or not ident.strip() or not text.strip():
                raise CorpusError(f"{path} line {number}: expected 'id<TAB>text'")
            queries.append((ident.strip(), text.strip()))
        if not queries:
            raise CorpusError(f"query file {path} has no queries")
        found = Corpus([q for q, _ in queries], [t for _, t in queries], source=str(path))
        _check_unique(found)
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
    for number, line in enumerate(_read_text(path, encoding).splitlines(), start=1):
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
