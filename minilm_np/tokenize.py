"""A thin adapter over the ``tokenizers`` library: texts and (query, passage) pairs -> padded int arrays.

The tokenizer's own padding and truncation settings are ignored (all-MiniLM-L6-v2's tokenizer.json
pads every text to 128): we truncate longest-first to the model's max length and pad here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

from .errors import ModelNotFoundError, TokenizerError

# Above this, tokenizer_config's model_max_length is transformers' "no limit" sentinel, not a length.
_NO_LIMIT = 1_000_000


@dataclass(frozen=True)
class Batch:
    """The arrays the model sees. All int64 [B, T]; T = the longest sequence of the batch."""
    input_ids: np.ndarray
    attention_mask: np.ndarray  # 1 for real tokens, 0 for padding
    token_type_ids: np.ndarray  # 0 for [CLS] query [SEP], 1 for passage [SEP]

    def as_dict(self) -> dict[str, np.ndarray]:
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask,
                "token_type_ids": self.token_type_ids}


class Tokenizer:
    def __init__(self, tokenizer: HFTokenizer, max_length: int, pad_id: int = 0):
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length, strategy="longest_first")
        self._tok = tokenizer
        self.max_length = max_length
        self.pad_id = pad_id

    @classmethod
    def from_dir(cls, model_dir: str | Path, max_positions: int) -> "Tokenizer":
        """tokenizer.json (or vocab.txt) from a model directory, truncating at the model's max length."""
        model_dir = Path(model_dir)
        tok_json, vocab = model_dir / "tokenizer.json", model_dir / "vocab.txt"
        try:
            if tok_json.is_file():
                tok = HFTokenizer.from_file(str(tok_json))
            elif vocab.is_file():
                tok = _wordpiece_from_vocab(vocab, _lowercase(model_dir))
            else:
                raise ModelNotFoundError(f"no tokenizer in {model_dir}: expected tokenizer.json or vocab.txt")
        except ModelNotFoundError:
            raise
        except Exception as e:  # tokenizers raises plain Exception subclasses on bad files
            raise TokenizerError(f"{tok_json if tok_json.is_file() else vocab}: cannot be read as a "
                                 f"tokenizer ({e})") from None
        pad_id = tok.token_to_id("[PAD]")
        return cls(tok, max_length(model_dir, max_positions), 0 if pad_id is None else pad_id)

    def encode_pairs(self, pairs: list[tuple[str, str]]) -> list:
        """``[CLS] q [SEP] p [SEP]`` per pair, token types 0 then 1, truncated longest-first.
        Returns ``tokenizers.Encoding`` objects; ``pad`` turns a list of them into a Batch."""
        return self._tok.encode_batch(pairs)

    def encode_texts(self, texts: list[str]) -> list:
        """``[CLS] text [SEP]`` per text, truncated to max_length."""
        return self._tok.encode_batch(texts)

    def pad(self, encodings) -> Batch:
        return pad(encodings, self.pad_id)

    def id_to_token(self, i: int) -> str:
        return self._tok.id_to_token(int(i))


def pad(encodings, pad_id: int = 0) -> Batch:
    """Right-pad a list of ``tokenizers.Encoding`` to their longest.  -> [B, T] arrays"""
    t = max((len(e.ids) for e in encodings), default=0)
    ids = np.full((len(encodings), t), pad_id, dtype=np.int64)
    mask = np.zeros((len(encodings), t), dtype=np.int64)
    types = np.zeros((len(encodings), t), dtype=np.int64)
    for i, e in enumerate(encodings):
        n = len(e.ids)
        ids[i, :n] = e.ids
        mask[i, :n] = 1
        types[i, :n] = e.type_ids
    return Batch(ids, mask, types)


def max_length(model_dir: Path, max_positions: int) -> int:
    """sentence_bert_config.json's max_seq_length, else tokenizer_config.json's model_max_length,
    never above the model's max_position_embeddings."""
    limit = _json_field(model_dir / "sentence_bert_config.json", "max_seq_length")
    if limit is None:
        limit = _json_field(model_dir / "tokenizer_config.json", "model_max_length")
    if limit is None or not isinstance(limit, (int, float)) or limit <= 0 or limit > _NO_LIMIT:
        return max_positions
    return min(int(limit), max_positions)


def _lowercase(model_dir: Path) -> bool:
    lower = _json_field(model_dir / "tokenizer_config.json", "do_lower_case")
    return True if lower is None else bool(lower)


def _json_field(path: Path, key: str):
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TokenizerError(f"{path}: not valid JSON ({e})") from None
    return d.get(key) if isinstance(d, dict) else None


def _wordpiece_from_vocab(vocab: Path, lowercase: bool) -> HFTokenizer:
    """The BERT uncased/cased WordPiece pipeline, built from vocab.txt alone."""
    tok = HFTokenizer(WordPiece.from_file(str(vocab), unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=None, lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    if cls_id is None or sep_id is None:
        raise TokenizerError(f"{vocab}: has no [CLS] or [SEP] token")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    tok.decoder = decoders.WordPiece()
    return tok
