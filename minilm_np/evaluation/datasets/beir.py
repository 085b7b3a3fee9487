"""A collection in BEIR's layout (the folders the BEIR benchmark ships, e.g. scifact/, nfcorpus/):

    DIR/corpus.jsonl        one document a line: "_id", "title", "text"
    DIR/queries.jsonl       one query a line: "_id", "text" (other fields ignored)
    DIR/qrels/<split>.tsv   a header line "query-id<TAB>corpus-id<TAB>score", then one judgement a line

Read as BEIR's ``GenericDataLoader`` reads it, with two choices stated wherever a figure is reported:

* a passage is the title and the text joined as BEIR's sentence-transformers models join them
  (``beir.retrieval.models.SentenceBERT.encode_corpus``: ``(title + " " + text).strip()``, so an empty or
  missing title leaves the text alone; see ``retrieval.corpus.join_title``); a document whose title and
  text are both empty is left out;
* only the queries with judgements in the split are evaluated (as ``GenericDataLoader.load`` keeps them);
  a score <= 0 is not relevant, and scores are used as linear gains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...retrieval.corpus import Corpus, read_corpus
from .trec import read_qrels, read_queries

CORPUS_FILE = "corpus.jsonl"
QUERIES_FILE = "queries.jsonl"
QRELS_DIR = "qrels"
DEFAULT_SPLIT = "test"


@dataclass(frozen=True)
class Beir:
    corpus: Corpus  # ids = the documents' "_id", texts = title + " " + text
    queries: list[tuple[str, str]]  # (query "_id", text), every query of queries.jsonl
    qrels: dict[str, dict[str, float]]  # query id -> document id -> score, from qrels/<split>.tsv
    split: str


def load_beir(directory: str | Path, split: str = DEFAULT_SPLIT) -> Beir:
    """Read ``directory`` (corpus.jsonl, queries.jsonl, qrels/<split>.tsv). A missing file is a
    ``FileNotFoundError`` naming it; a missing split names the splits that are there."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"BEIR directory not found: {directory}")
    for name in (CORPUS_FILE, QUERIES_FILE):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory} is not a BEIR collection: {name} is missing")
    qrels_file = directory / QRELS_DIR / f"{split}.tsv"
    if not qrels_file.is_file():
        there = sorted(p.stem for p in (directory / QRELS_DIR).glob("*.tsv"))
        raise FileNotFoundError(f"{qrels_file} not found: the collection has "
                                + (f"the splits {', '.join(there)}" if there else f"no {QRELS_DIR}/*.tsv files"))
    return Beir(read_corpus(directory / CORPUS_FILE), read_queries(directory / QUERIES_FILE),
                read_qrels(qrels_file), split)
