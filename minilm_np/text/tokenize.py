"""A thin adapter over the ``tokenizers`` library: texts and (query, passage) pairs -> padded int arrays.

``tokenizers`` splits each text into word pieces; the BERT template (``[CLS] a [SEP] b [SEP]``, token
types 0 then 1), the longest-first truncation and the padding are done here. The tokenizer's own
padding and truncation settings are ignored (all-MiniLM-L6-v2's tokenizer.json pads every text to 128).
Why not let ``tokenizers`` truncate: for a pair it also builds every combination of the overflowing
pieces, quadratic in the text lengths (two 2,000-word texts took 4 GB). Here each distinct text is
tokenized once, in linear time, and cut to the same lengths ``tokenizers`` would keep.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

from ..errors import ModelNotFoundError, TokenizerError

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


class Encoded(NamedTuple):
    """One sequence as the model sees it, before padding."""
    ids: list[int]
    type_ids: list[int]


class Tokenizer:
    def __init__(self, tokenizer: HFTokenizer, max_length: int, pad_id: int = 0, source: str = "tokenizer"):
        tokenizer.no_padding()
        tokenizer.no_truncation()
        cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
        if cls_id is None or sep_id is None:
            raise TokenizerError(f"{source}: has no [CLS] or [SEP] token; only BERT tokenizers are supported")
        if max_length < 4:
            raise TokenizerError(f"{source}: max length {max_length} leaves no room for text")
        self._tok = tokenizer
        self.cls_id, self.sep_id = cls_id, sep_id
        self.max_length = max_length
        self.pad_id = pad_id
        self._check_template(source)

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
        source = str(tok_json if tok_json.is_file() else vocab)
        return cls(tok, max_length(model_dir, max_positions), 0 if pad_id is None else pad_id, source)

    def encode_pairs(self, pairs: list[tuple[str, str]]) -> list[Encoded]:
        """``[CLS] q [SEP] p [SEP]`` per pair, token types 0 then 1, truncated longest-first to
        max_length (as ``tokenizers``' "longest_first" strategy). ``pad`` makes a Batch of them."""
        pieces = self.pieces([t for pair in pairs for t in pair])
        out = []
        for i in range(0, len(pieces), 2):
            a, b = pieces[i], pieces[i + 1]
            n_a, n_b = longest_first(len(a), len(b), self.max_length - 3)
            out.append(self._template(a[:n_a], b[:n_b]))
        return out

    def _template(self, a: list[int], b: list[int]) -> Encoded:
        return Encoded([self.cls_id, *a, self.sep_id, *b, self.sep_id], [0] * (len(a) + 2) + [1] * (len(b) + 1))

    def pair_encoding(self, a: list[int], b: list[int]) -> Encoded:
        """The pair template around two lists of pieces, as they are (no truncation): how
        ``text.windows`` builds each window's sequence."""
        return self._template(a, b)

    def encode_texts(self, texts: list[str]) -> list[Encoded]:
        """``[CLS] text [SEP]`` per text, truncated to max_length."""
        keep = self.max_length - 2
        return [Encoded([self.cls_id, *p[:keep], self.sep_id], [0] * (min(len(p), keep) + 2))
                for p in self.pieces(texts)]

    def pieces(self, texts: list[str]) -> list[list[int]]:
        """Word-piece ids of each text, without special tokens; each distinct text tokenized once."""
        unique = list(dict.fromkeys(texts))
        ids = dict(zip(unique, (e.ids for e in self._tok.encode_batch(unique, add_special_tokens=False))))
        return [ids[t] for t in texts]

    def pieces_with_offsets(self, texts: list[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """(word-piece ids, each piece's [start, end) characters in its text) per text; each distinct
        text tokenized once."""
        unique = list(dict.fromkeys(texts))
        found = {t: (e.ids, e.offsets) for t, e in zip(unique, self._tok.encode_batch(unique, add_special_tokens=False))}
        return [found[t] for t in texts]

    def _check_template(self, source: str) -> None:
        """The tokenizer's own post-processor must agree with the BERT template used here."""
        a, b = self.pieces(["a b", "c"])
        mine = self._template(a, b)
        theirs = self._tok.encode("a b", "c")
        if (mine.ids, mine.type_ids) != (theirs.ids, theirs.type_ids):
            raise TokenizerError(f"{source}: its post-processor does not produce [CLS] a [SEP] b [SEP] with "
                                 f"token types 0/1; only BERT tokenizers are supported")

    def pad(self, encodings: list[Encoded]) -> Batch:
        return pad(encodings, self.pad_id)

    def id_to_token(self, i: int) -> str:
        return self._tok.id_to_token(int(i))


def longest_first(n_a: int, n_b: int, budget: int) -> tuple[int, int]:
    """How many pieces of each text to keep so that n_a + n_b <= budget: the longer text is cut
    first; if both must be cut, they get budget // 2 each, the longer the odd one (the rule of
    ``tokenizers``' LongestFirst truncation)."""
    if n_a + n_b <= budget:
        return n_a, n_b
    short = min(n_a, n_b)
    if short <= budget // 2:
        keep_short, keep_long = short, budget - short
    else:
        keep_short, keep_long = budget // 2, budget // 2 + budget % 2
    return (keep_short, keep_long) if n_a <= n_b else (keep_long, keep_short)


def pad(encodings, pad_id: int = 0) -> Batch:
    """Right-pad a list of encodings (``.ids``, ``.type_ids``) to their longest.  -> [B, T] arrays"""
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
