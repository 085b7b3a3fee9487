"""Corpus files -> passages with ids.

Three inputs are read:

* a text file (``.txt`` or any extension other than ``.jsonl``): split into sentences by default, or by
  lines or paragraphs (see ``minilm_np.text.passages``); ids are the passage numbers "1", "2", ... in file order;
* a ``.jsonl`` file: one JSON object per line with a string ``text``, an optional ``id`` or ``_id`` (string
  or integer; the line number when absent; BEIR names it ``_id``) and an optional ``title``, joined before
  the text as BEIR's sentence-transformers models do (``beir.retrieval.models.SentenceBERT``, separator
  " "): ``(title + " " + text).strip()``, so an empty title leaves the text alone; each record is one
  passage, never split further;
* a directory: every ``*.txt`` file under it (sorted by path), each split as a text file, with ids
  "name.txt:3" (the relative path, a colon and the passage number within that file).

Empty passages are dropped (so their numbers are not used). A corpus with no passage at all, duplicate
ids or a malformed JSON line is a ``CorpusError`` (a ``ValueError``) naming the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..text.passages import SPLIT_MODES, split_text
from ..validate import lone_surrogate
from .scorers import CorpusLike, Passages


TITLE_SEPARATOR = " "  # BEIR's SentenceBERT default ``sep``


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


def corpus_from_texts(texts: Sequence[str], ids: Sequence[str] | None = None, *, source: str = "") -> Corpus:
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
    check_unique(corpus)
    return corpus


def as_passages(corpus: CorpusLike) -> Passages:
    """What a retrieval function takes as its corpus: anything with ``ids`` and ``texts`` (a ``Corpus``, an
    ``EmbeddingIndex``) as it is; a list of str (ids "1", "2", ...) or of (id, text) pairs made into a
    ``Corpus`` by ``corpus_from_texts`` (so empty texts are dropped, their ids unused)."""
    if hasattr(corpus, "ids") and hasattr(corpus, "texts"):
        return corpus
    if isinstance(corpus, (str, bytes)) or not isinstance(corpus, Sequence):
        raise TypeError(f"a corpus is a list of str, a list of (id, text) pairs or a Corpus, "
                        f"got {type(corpus).__name__}")
    if corpus and all(isinstance(item, tuple) and len(item) == 2 for item in corpus):
        return corpus_from_texts([text for _, text in corpus], [ident for ident, _ in corpus])
    return corpus_from_texts(corpus)


def gather_passages(texts: Sequence[str], path: str | Path | None = None, *, split: str = "lines") -> Corpus:
    """Passages given one by one (ids "1", "2", ...), then those of the corpus file at ``path`` (if any):
    a text file's numbered on after them, a ``.jsonl`` file's or a directory's with their own ids. The ids
    are those ``read_corpus`` gives the file alone, shifted past the given texts."""
    given = corpus_from_texts(texts)
    if path is None:
        return given
    found = read_corpus(path, split=split)
    path = Path(path)
    if not path.is_dir() and path.suffix.lower() != ".jsonl":  # numbered passages: number on
        found = Corpus([str(int(i) + len(texts)) for i in found.ids], found.texts, source=found.source)
    corpus = Corpus(given.ids + found.ids, given.texts + found.texts, source=str(path))
    check_unique(corpus)
    return corpus


def join_title(title, text: str) -> str:
    """A passage from a title and a text, as BEIR's sentence-transformers models join them."""
    return ((title or "") + TITLE_SEPARATOR + text).strip()


def read_corpus(path: str | Path, *, split: str = "sentences", encoding: str = "utf-8",
                what: str = "corpus") -> Corpus:
    """Read a text file, a ``.jsonl`` file or a directory of ``.txt`` files (see the module docstring).

    Raises ``FileNotFoundError`` if ``path`` does not exist, ``CorpusError`` if it is malformed or holds
    no passage, ``ValueError`` for an unknown ``split`` mode. ``what`` names the file in those messages
    ("query file" when it holds queries).
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
        passages = split_text(read_text(path, encoding), split)
        corpus = Corpus([str(i) for i in range(1, len(passages) + 1)], passages, source=str(path))
    if len(corpus) == 0:
        raise CorpusError(f"{what} {path} has no passages (empty files or only blank text)")
    check_unique(corpus, what)
    return corpus


def _read_directory(path: Path, split: str, encoding: str) -> Corpus:
    files = sorted(p for p in path.rglob("*.txt") if p.is_file())
    if not files:
        raise CorpusError(f"corpus directory {path} has no .txt files")
    ids, texts = [], []
    for file in files:
        name = file.relative_to(path).as_posix()
        for number, passage in enumerate(split_text(read_text(file, encoding), split), start=1):
            ids.append(f"{name}:{number}")
            texts.append(passage)
    return Corpus(ids, texts, source=str(path))


def _read_jsonl(path: Path, encoding: str) -> Corpus:
    ids, texts = [], []
    for number, line in enumerate(read_text(path, encoding).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            # e.msg may end in "at" ("Unterminated string starting at"): say "at" once
            raise CorpusError(f"{path} line {number}: not valid JSON ({e.msg.removesuffix(' at')} at column "
                              f"{e.colno})") from None
        except RecursionError:  # arrays or objects nested thousands deep
            raise CorpusError(f"{path} line {number}: nests arrays or objects too deeply to parse") from None
        if not isinstance(record, dict):
            raise CorpusError(f"{path} line {number}: expected a JSON object, got {type(record).__name__}")
        if "text" not in record:
            raise CorpusError(f'{path} line {number}: no "text" field')
        text = record["text"]
        if not isinstance(text, str):
            raise CorpusError(f'{path} line {number}: "text" must be a string, got {type(text).__name__}')
        key = "_id" if "_id" in record else "id"
        ident = record.get(key, number)
        if isinstance(ident, bool) or not isinstance(ident, (str, int)):
            raise CorpusError(f'{path} line {number}: "{key}" must be a string or an integer')
        title = record.get("title")
        if title is not None and not isinstance(title, str):
            raise CorpusError(f'{path} line {number}: "title" must be a string, got {type(title).__name__}')
        for name, value in ((key, ident), ("title", title), ("text", text)):
            at = lone_surrogate(value) if isinstance(value, str) else None
            if at is not None:  # JSON can escape half of a UTF-16 pair alone; no tokenizer or file can take it
                raise CorpusError(f'{path} line {number}: "{name}" is not valid Unicode text (a lone surrogate, '
                                  f'\\u{ord(value[at]):04x}, at character {at})')
        passage = join_title(title, text)
        if passage:
            ids.append(str(ident))
            texts.append(passage)
    return Corpus(ids, texts, source=str(path))


def read_text(path: Path, encoding: str) -> str:
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path} is not valid {encoding} text (byte {e.start})") from None


def check_unique(corpus: Corpus, what: str = "corpus") -> None:
    """Every id once; ``what`` names the file's role in the message ("corpus", "query file")."""
    if len(set(corpus.ids)) != len(corpus.ids):
        seen, duplicate = set(), None
        for ident in corpus.ids:
            if ident in seen:
                duplicate = ident
                break
            seen.add(ident)
        where = f" {corpus.source}" if corpus.source else ""
        raise CorpusError(f"{what}{where} has duplicate id {duplicate!r}")
