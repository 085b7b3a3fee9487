import json
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minilm_np import CrossEncoder, TokenizerError
from minilm_np.text.tokenize import Tokenizer, max_length

from helpers import MODELS, make_checkpoint


def test_pairs_follow_the_bert_template(tmp_path):
    ce = CrossEncoder.from_pretrained(make_checkpoint(tmp_path / "m"))
    b = ce.tokenize("how many", ["the city", "berlin"])
    ids, types, mask = b["input_ids"], b["token_type_ids"], b["attention_mask"]
    tok = ce.tokenizer
    assert [tok.id_to_token(i) for i in ids[0]] == ["[CLS]", "how", "many", "[SEP]", "the", "city", "[SEP]"]
    assert types[0].tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert [tok.id_to_token(i) for i in ids[1][:6]] == ["[CLS]", "how", "many", "[SEP]", "berlin", "[SEP]"]
    assert mask[1].tolist() == [1] * 6 + [0] and ids[1, 6] == 0 and types[1, 6] == 0
    assert all(a.dtype == np.int64 for a in b.values())


def test_truncation_is_longest_first_to_the_max_length(tmp_path):
    ce = CrossEncoder.from_pretrained(make_checkpoint(tmp_path / "m"))  # max positions 32
    b = ce.tokenize("a " * 5, ["b " * 100])
    types = b["token_type_ids"][0]
    assert b["input_ids"].shape == (1, 32)
    assert (types == 0).sum() == 7  # the short query is kept whole: [CLS] 5 tokens [SEP]
    b = ce.tokenize("a " * 100, ["b " * 100])
    assert (b["token_type_ids"][0] == 0).sum() == 16  # both cut to equal halves


def test_max_length_sources_in_order(tmp_path):
    assert max_length(tmp_path, 512) == 512
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 1000000000000000019884624838656}))
    assert max_length(tmp_path, 512) == 512  # transformers' "unlimited" sentinel
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 128}))
    assert max_length(tmp_path, 512) == 128
    (tmp_path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 256}))
    assert max_length(tmp_path, 512) == 256
    assert max_length(tmp_path, 64) == 64  # never above the position table


def test_baked_in_padding_and_truncation_are_ignored(minilm_dir):
    tok = Tokenizer.from_dir(minilm_dir, 512)  # its tokenizer.json pads and truncates to 128
    assert tok.max_length == 256  # sentence_bert_config.json
    encs = tok.encode_texts(["hi", "word " * 300])
    assert [len(e.ids) for e in encs] == [3, 256]


def test_vocab_txt_alone_builds_the_same_tokenizer(minilm_dir, tmp_path):
    for f in ("vocab.txt", "tokenizer_config.json", "sentence_bert_config.json"):
        shutil.copy(minilm_dir / f, tmp_path / f)
    texts = ["Hello, World! café naïve", "東京は日本の首都です 🙂", "e\u0301 a\x00b\tc", "", "unaffable x" * 40]
    from_json = Tokenizer.from_dir(minilm_dir, 512)
    from_vocab = Tokenizer.from_dir(tmp_path, 512)
    for a, b in zip(from_json.encode_pairs([(t, t) for t in texts]), from_vocab.encode_pairs([(t, t) for t in texts])):
        assert a.ids == b.ids and a.type_ids == b.type_ids


def test_unreadable_tokenizer_is_named(tmp_path):
    d = make_checkpoint(tmp_path / "m")
    (d / "tokenizer.json").write_text("{ broken")
    with pytest.raises(TokenizerError, match="tokenizer.json"):
        CrossEncoder.from_pretrained(d)
    (d / "tokenizer.json").unlink()
    (d / "vocab.txt").unlink()
    with pytest.raises(FileNotFoundError, match="tokenizer.json or vocab.txt"):
        CrossEncoder.from_pretrained(d)


def test_huge_pairs_tokenize_in_linear_memory(tmp_path):
    import resource
    ce = CrossEncoder.from_pretrained(make_checkpoint(tmp_path / "m"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    b = ce.tokenize("word " * 20_000, ["word " * 20_000])
    assert b["input_ids"].shape == (1, 32)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 80), st.integers(0, 80), st.integers(4, 70))
def test_our_truncation_equals_the_tokenizers_library(n_a, n_b, max_len):
    """Against ``tokenizers``' own longest-first truncation of the same pair."""
    from tokenizers import Tokenizer as HF
    hf = HF.from_file(str(MODELS / "tiny-ce-1" / "tokenizer.json"))
    hf.no_padding()
    hf.enable_truncation(max_len, strategy="longest_first")
    a, b = "the " * n_a, "city " * n_b
    want = hf.encode(a, b)
    ours = Tokenizer(HF.from_file(str(MODELS / "tiny-ce-1" / "tokenizer.json")), max_len).encode_pairs([(a, b)])[0]
    assert (ours.ids, ours.type_ids) == (want.ids, want.type_ids)
    single = Tokenizer(HF.from_file(str(MODELS / "tiny-ce-1" / "tokenizer.json")), max_len).encode_texts([a])[0]
    assert single.ids == hf.encode(a).ids


def test_a_non_bert_template_is_refused(tmp_path):
    from tokenizers import Tokenizer as HF
    from tokenizers import processors
    hf = HF.from_file(str(MODELS / "tiny-ce-1" / "tokenizer.json"))
    hf.post_processor = processors.TemplateProcessing(single="$A [SEP]", pair="$A [SEP] $B:1",
                                                      special_tokens=[("[SEP]", hf.token_to_id("[SEP]"))])
    with pytest.raises(TokenizerError, match="only BERT tokenizers"):
        Tokenizer(hf, 32)


def test_a_tokenizer_json_that_makes_tokenizers_panic_is_a_tokenizer_error(tmp_path):
    """A post-processor naming a special token it does not define loads, then panics in Rust on the first
    encode; pyo3's PanicException is a BaseException that no ``except Exception`` would stop."""
    d = shutil.copytree(MODELS / "tiny-ce-1", tmp_path / "m")
    spec = json.loads((d / "tokenizer.json").read_text())
    spec["post_processor"]["special_tokens"] = {}
    (d / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(TokenizerError, match=r"tokenizer.json: the tokenizer fails on a probe text \(PanicException"):
        CrossEncoder.from_pretrained(d)


@pytest.mark.parametrize("name, template", [
    ("roberta-nli-3", ["<s>", "A", "</s>", "</s>", "B", "</s>"]),  # byte-level BPE, RobertaProcessing
    ("xlmr-ce-1", ["<s>", "A", "</s>", "</s>", "B", "</s>"]),  # Unigram, TemplateProcessing
    ("electra-ce-1", ["[CLS]", "A", "[SEP]", "B", "[SEP]"]),
])
def test_the_pair_template_is_read_from_the_tokenizers_post_processor(name, template):
    from helpers import ARCHS
    tok = Tokenizer.from_dir(ARCHS / "models" / name, 64)
    (enc,) = tok.encode_pairs([("how many", "the city")])
    a, b = tok.pieces(["how many", "the city"])
    want = []
    for part in template:
        want += a if part == "A" else b if part == "B" else [tok._tok.token_to_id(part)]
    assert enc.ids == want
    assert tok.pad_id == (1 if "<s>" in template else 0)
    assert tok.template.pair_specials == len(template) - 2


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 60), st.integers(0, 60), st.integers(7, 50))
def test_roberta_truncation_equals_the_tokenizers_library(n_a, n_b, max_len):
    from tokenizers import Tokenizer as HF
    from helpers import ARCHS
    path = str(ARCHS / "models" / "xlmr-ce-1" / "tokenizer.json")
    hf = HF.from_file(path)
    hf.no_padding()
    hf.enable_truncation(max_len, strategy="longest_first")
    a, b = "the city " * n_a, "people live " * n_b
    ours = Tokenizer(HF.from_file(path), max_len)
    assert ours.encode_pairs([(a, b)])[0].ids == hf.encode(a, b).ids
    assert ours.encode_texts([a])[0].ids == hf.encode(a).ids


def test_prompt_length_counts_the_first_special_token_and_the_prompt():
    tok = Tokenizer.from_dir(MODELS / "tiny-embedder", 64)
    assert tok.prompt_length("query: ") == 1 + len(tok.pieces(["query: "])[0])
