"""The Cranfield collection (1,400 aerodynamics abstracts, 225 queries, graded judgements) as a corpus,
queries and qrels ready for ``metrics``. The one parser of its files: the benchmarks and the MS MARCO
stand-in's fixtures read the collection through here too.

Files (see the collection's README): ``cran.all.1400`` documents, records ``.I id`` with fields ``.T``
title, ``.A`` authors, ``.B`` source, ``.W`` abstract; ``cran.qry`` queries, ``.I n`` + ``.W``, where the
``.I`` numbers are NOT the ids the judgements use: queries are numbered 1..225 by their position in the
file; ``cranqrel`` lines ``query doc grade`` with grade 1 (complete answer) .. 4 (minimum interest).

Choices made here, to state wherever a figure is reported:

* a passage is the ``.W`` abstract (which usually starts by repeating the title), whitespace collapsed;
  documents whose abstract is empty (471 and 995) are left out of the corpus;
* gain = 5 - grade, so grade 1 -> 4 ... grade 4 -> 1;
* every query has one judgement of grade -1; these are dropped (``dropped_judgements`` counts them);
* files are read as latin-1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ...retrieval.corpus import Corpus, CorpusError

DOCUMENTS_FILE = "cran.all.1400"
QUERIES_FILE = "cran.qry"
QRELS_FILE = "cranqrel"
_FIELD = re.compile(r"^\.([A-Z])\s*$")
_ID = re.compile(r"^\.I\s+(\S+)\s*$")
_SENTENCE_END = re.compile(r"\s\.(?=\s|$)")  # the collection ends sentences with " ."


@dataclass(frozen=True)
class Cranfield:
    corpus: Corpus  # ids "1".."1400" (documents with an empty abstract left out), texts = abstracts
    queries: list[tuple[str, str]]  # (query id "1".."225" by position in cran.qry, text)
    qrels: dict[str, dict[str, int]]  # query id -> document id -> gain (5 - grade)
    dropped_judgements: int  # grade -1 lines left out
    empty_documents: list[str]  # document ids whose abstract is empty, not in the corpus


def load_cranfield(directory: str | Path) -> Cranfield:
    """Read the collection from ``directory`` (holding cran.all.1400, cran.qry and cranqrel)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"Cranfield directory not found: {directory}")
    documents = read_documents(directory / DOCUMENTS_FILE)
    empty = [doc_id for doc_id, text in documents if not text]
    kept = [(doc_id, text) for doc_id, text in documents if text]
    corpus = Corpus([d for d, _ in kept], [t for _, t in kept], source=str(directory / DOCUMENTS_FILE))
    queries = _read_queries(directory / QUERIES_FILE)
    qrels, dropped = {}, 0
    for query, doc, grade in read_judgements(directory / QRELS_FILE):
        if grade == -1:
            dropped += 1
        else:
            qrels.setdefault(query, {})[doc] = 5 - grade
    unknown = sorted(set(qrels) - {q for q, _ in queries}, key=_numeric)
    if unknown:
        raise CorpusError(f"{directory / QRELS_FILE} judges queries not in {QUERIES_FILE}: {unknown[:5]}")
    return Cranfield(corpus, queries, qrels, dropped, empty)


def read_documents(path: str | Path) -> list[tuple[str, str]]:
    """``[(doc id, abstract)]`` in file order; the abstract is the ``.W`` field, whitespace collapsed."""
    return [(ident, fields.get("W", "")) for ident, fields in _records(path)]


def _read_queries(path: str | Path) -> list[tuple[str, str]]:
    """``[(query id, text)]`` with ids "1", "2", ... by position in the file (not the ``.I`` numbers)."""
    queries = [(str(n), fields.get("W", "")) for n, (_, fields) in enumerate(_records(path), start=1)]
    for ident, text in queries:
        if not text:
            raise CorpusError(f"{path}: query {ident} (by position) has no .W text")
    return queries


def read_judgements(path: str | Path) -> list[tuple[str, str, int]]:
    """``[(query id, doc id, grade)]`` as cranqrel states them: grade 1 (complete answer) .. 4 (minimum
    interest), or -1 (one per query, usually dropped)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Cranfield judgements not found: {path}")
    judgements = []
    for number, line in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or not all(re.fullmatch(r"-?\d+", p) for p in parts):
            raise CorpusError(f"{path} line {number}: expected 'query doc grade', got {line.strip()!r}")
        grade = int(parts[2])
        if grade != -1 and not 1 <= grade <= 5:
            raise CorpusError(f"{path} line {number}: grade {grade} is outside 1..5 (or -1)")
        judgements.append((str(int(parts[0])), str(int(parts[1])), grade))
    return judgements


def first_sentence(text: str) -> str:
    """The text up to and including the first sentence-ending " ." (the whole text if there is none).

    The collection is lower case and ends its sentences with a spaced " .", so the general splitter in
    ``minilm_np.text.passages`` (which never ends a sentence before a lower-case word) keeps abstracts whole.
    """
    m = _SENTENCE_END.search(text)
    return text[: m.end()] if m else text


def sentences(text: str) -> list[str]:
    """Every sentence of a Cranfield text, by the same " ." rule as ``first_sentence``."""
    out = []
    rest = text.strip()
    while rest:
        s = first_sentence(rest)
        out.append(s.strip())
        rest = rest[len(s):].strip()
    return out


def _records(path: str | Path) -> list[tuple[str, dict[str, str]]]:
    """Split a SMART-format file into ``[(.I value, {field letter: text})]``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Cranfield file not found: {path}")
    records: list[tuple[str, dict[str, list[str]]]] = []
    field = None
    for number, line in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
        if m := _ID.match(line):
            records.append((str(int(m.group(1))) if m.group(1).isdigit() else m.group(1), {}))
            field = None
        elif m := _FIELD.match(line):
            if not records:
                raise CorpusError(f"{path} line {number}: field .{m.group(1)} before any .I record")
            field = m.group(1)
            records[-1][1].setdefault(field, [])
        elif line.strip():
            if not records or field is None:
                raise CorpusError(f"{path} line {number}: text outside a .I record field")
            records[-1][1][field].append(line)
    if not records:
        raise CorpusError(f"{path} has no .I records")
    return [(ident, {k: " ".join(" ".join(v).split()) for k, v in fields.items()}) for ident, fields in records]


def _numeric(ident: str):
    return (0, int(ident)) if ident.isdigit() else (1, ident)
