import json

import pytest

from minilm_np.retrieval.corpus import Corpus, CorpusError, as_passages, corpus_from_texts, join_title, read_corpus


def test_text_file_split_into_sentences_by_default(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("Berlin is big. Dr. Who is not.\n\nParis is old.\n", encoding="utf-8")
    corpus = read_corpus(f)
    assert corpus.ids == ["1", "2", "3"]
    assert corpus.texts == ["Berlin is big.", "Dr. Who is not.", "Paris is old."]


def test_text_file_split_modes(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("a. B.\nc\n\nd\n", encoding="utf-8")
    assert read_corpus(f, split="lines").texts == ["a. B.", "c", "d"]
    assert read_corpus(f, split="paragraphs").texts == ["a. B. c", "d"]
    with pytest.raises(ValueError, match="split mode"):
        read_corpus(f, split="words")


def test_jsonl_with_and_without_ids(tmp_path):
    f = tmp_path / "c.jsonl"
    lines = [{"id": "a", "text": "first. still first"}, {"text": "second"}, {"id": 7, "text": "  "},
             {"id": 9, "text": "x"}]
    f.write_text("\n".join(json.dumps(r) for r in lines) + "\n\n", encoding="utf-8")
    corpus = read_corpus(f)
    assert corpus.ids == ["a", "2", "9"]  # missing id -> line number; empty text dropped
    assert corpus.texts == ["first. still first", "second", "x"]


def test_jsonl_with_beir_ids_and_titles(tmp_path):
    f = tmp_path / "corpus.jsonl"
    lines = [{"_id": "doc1", "title": "Berlin", "text": "A city in Germany."},
             {"_id": "doc2", "title": "", "text": "No title here."},
             {"_id": 3, "text": "No title field."},
             {"_id": "doc4", "title": "Title only", "text": ""},
             {"_id": "doc5", "title": None, "text": "A null title."},
             {"_id": "both", "id": "ignored", "text": "_id wins over id."}]
    f.write_text("\n".join(json.dumps(r) for r in lines) + "\n", encoding="utf-8")
    corpus = read_corpus(f)
    assert corpus.ids == ["doc1", "doc2", "3", "doc4", "doc5", "both"]
    assert corpus.texts == ["Berlin A city in Germany.", "No title here.", "No title field.", "Title only",
                            "A null title.", "_id wins over id."]


def test_titles_are_joined_as_beir_sentence_bert_does():
    # beir.retrieval.models.SentenceBERT.encode_corpus: (doc["title"] + sep + doc["text"]).strip(), sep=" "
    assert join_title("Title", "text") == "Title text"
    assert join_title("", "text") == "text"
    assert join_title(None, " text ") == "text"
    assert join_title("Title ", "text") == "Title  text"  # inner spaces kept, as BEIR keeps them


def test_jsonl_message_says_at_once(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"text": "unterminated\n', encoding="utf-8")
    with pytest.raises(CorpusError, match="Unterminated string starting at column 10") as info:
        read_corpus(f)
    assert "at at" not in str(info.value)


def test_plain_lists_become_a_corpus():
    assert as_passages(["a", "", "b"]) == Corpus(["1", "3"], ["a", "b"])
    assert as_passages([("x", "a"), ("y", "b")]) == Corpus(["x", "y"], ["a", "b"])
    corpus = Corpus(["k"], ["kept as it is"])
    assert as_passages(corpus) is corpus
    with pytest.raises(TypeError, match="a corpus is a list of str.*got str"):
        as_passages("ab")
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str"):
        as_passages(["a", 3])
    with pytest.raises(TypeError, match="a corpus is a list of str"):
        as_passages(42)


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"text": "ok"}\n{"text": oops}\n', "line 2: not valid JSON"),
        ('{"text": "ok"}\n\n{"id": 3}\n', 'line 3: no "text" field'),
        ('{"text": 5}\n', 'line 1: "text" must be a string'),
        ('["text"]\n', "line 1: expected a JSON object"),
        ('{"id": [1], "text": "a"}\n', 'line 1: "id" must be'),
        ('{"_id": null, "text": "a"}\n', 'line 1: "_id" must be'),
        ('{"title": 5, "text": "a"}\n', 'line 1: "title" must be a string'),
        ('{"id": 1, "text": "a"}\n{"id": "1", "text": "b"}\n', "duplicate id '1'"),
        ('{"text": "ok"}\n' + "[" * 100_000 + "]" * 100_000 + "\n", "line 2: nests arrays or objects too deeply"),
        # valid JSON escapes of half a UTF-16 pair: not text
        ('{"text": "ok"}\n{"text": "caf\\udce9"}\n',
         r'line 2: "text" is not valid Unicode text .*\\udce9, at character 3'),
        ('{"title": "\\ud83d", "text": "a"}\n', 'line 1: "title" is not valid Unicode'),
        ('{"_id": "d\\ud800", "text": "a"}\n', 'line 1: "_id" is not valid Unicode'),
    ],
)
def test_jsonl_errors_name_the_line(tmp_path, content, message):
    f = tmp_path / "bad.jsonl"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError, match=message) as info:
        read_corpus(f)
    assert "bad.jsonl" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_directory_of_text_files(tmp_path):
    (tmp_path / "b.txt").write_text("One. Two.", encoding="utf-8")
    (tmp_path / "a.txt").write_text("Three.", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("Four.", encoding="utf-8")
    (tmp_path / "ignored.md").write_text("Not me.", encoding="utf-8")
    corpus = read_corpus(tmp_path)
    assert corpus.ids == ["a.txt:1", "b.txt:1", "b.txt:2", "sub/c.txt:1"]
    assert corpus.texts == ["Three.", "One.", "Two.", "Four."]


def test_empty_corpus_is_an_error(tmp_path):
    f = tmp_path / "empty.txt"
    f.write_text("  \n\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no passages"):
        read_corpus(f)
    with pytest.raises(CorpusError, match="no .txt files"):
        (tmp_path / "d").mkdir()
        read_corpus(tmp_path / "d")


def test_missing_file_and_bad_encoding(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_corpus(tmp_path / "nope.txt")
    f = tmp_path / "latin.txt"
    f.write_bytes("caf\xe9.".encode("latin-1"))
    with pytest.raises(CorpusError, match="not valid utf-8"):
        read_corpus(f)
    assert read_corpus(f, encoding="latin-1").texts == ["café."]


def test_corpus_from_texts():
    corpus = corpus_from_texts(["a", " ", "b"])
    assert corpus == Corpus(["1", "3"], ["a", "b"])
    assert len(corpus) == 2
    with pytest.raises(TypeError, match="not a single str"):
        corpus_from_texts("ab")
    with pytest.raises(CorpusError, match="duplicate"):
        corpus_from_texts(["a", "b"], ids=["x", "x"])
