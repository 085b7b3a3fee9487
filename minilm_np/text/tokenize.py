"""A thin adapter over the ``tokenizers`` library: texts and (query, passage) pairs -> padded int arrays.

``tokenizers`` splits each text into pieces (WordPiece, byte-level BPE or SentencePiece/Unigram); the
template (``[CLS] a [SEP] b [SEP]`` for BERT, ``<s> a </s></s> b </s>`` for RoBERTa/XLM-R), the
longest-first truncation and the padding are done here. The template is read from the tokenizer's own
post-processor (``Template.read``), never assumed. The tokenizer's own padding and truncation settings are
ignored (all-MiniLM-L6-v2's tokenizer.json pads every text to 128).
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


class Segment(NamedTuple):
    """Special tokens the template puts at one place, with their token type ids."""
    ids: tuple[int, ...]
    type_ids: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Template:
    """Where a tokenizer's post-processor puts its special tokens, and the type ids it gives.

    single: ``prefix  text  suffix``; pair: ``pair_prefix  a  middle  b  pair_suffix``. BERT:
    [CLS] / [SEP] and [CLS] / [SEP] / [SEP] with b's tokens of type 1; RoBERTa and XLM-R: <s> / </s> and
    <s> / </s></s> / </s>, all of type 0.
    """
    prefix: Segment
    suffix: Segment
    text_type: int
    pair_prefix: Segment
    middle: Segment
    pair_suffix: Segment
    a_type: int
    b_type: int

    def single(self, pieces: list[int]) -> Encoded:
        return Encoded([*self.prefix.ids, *pieces, *self.suffix.ids],
                       [*self.prefix.type_ids, *[self.text_type] * len(pieces), *self.suffix.type_ids])

    def pair(self, a: list[int], b: list[int]) -> Encoded:
        return Encoded([*self.pair_prefix.ids, *a, *self.middle.ids, *b, *self.pair_suffix.ids],
                       [*self.pair_prefix.type_ids, *[self.a_type] * len(a), *self.middle.type_ids,
                        *[self.b_type] * len(b), *self.pair_suffix.type_ids])

    @property
    def single_specials(self) -> int:
        return len(self.prefix) + len(self.suffix)

    @property
    def pair_specials(self) -> int:
        return len(self.pair_prefix) + len(self.middle) + len(self.pair_suffix)

    @classmethod
    def read(cls, tokenizer: HFTokenizer, source: str) -> "Template":
        """The template of ``tokenizer``'s post-processor, found by encoding probe texts and locating their
        pieces; then checked on other probes. Refused unless a special token comes first (the heads and
        CLS pooling read it)."""
        try:
            template = cls._probe(tokenizer)
            agrees = template is not None and template._agrees(tokenizer, "the city of berlin", "people")
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # a broken file can make tokenizers panic: pyo3's PanicException is no Exception
            raise TokenizerError(f"{source}: the tokenizer fails on a probe text ({type(e).__name__}: {e})") from None
        if not agrees or not len(template.prefix) or not len(template.pair_prefix):
            raise TokenizerError(f"{source}: its post-processor does not produce a special token then the text "
                                 f"([CLS] a [SEP] b [SEP] or <s> a </s></s> b </s>); only BERT tokenizers and "
                                 f"RoBERTa-style ones are supported")
        return template

    @classmethod
    def _probe(cls, tokenizer: HFTokenizer) -> "Template | None":
        """Where "a b" and "c" land when encoded alone and as a pair; None if they cannot be found."""
        a, b = _pieces(tokenizer, ["a b", "c"])
        one, two = tokenizer.encode("a b"), tokenizer.encode("a b", "c")
        try:
            i = _find(one.ids, a, 0)
            prefix, suffix = _segment(one, 0, i), _segment(one, i + len(a), len(one.ids))
            j = _find(two.ids, a, 0)
            k = _find(two.ids, b, j + len(a))
            return cls(prefix, suffix, _type_of(one, i, len(a)), _segment(two, 0, j),
                       _segment(two, j + len(a), k), _segment(two, k + len(b), len(two.ids)),
                       _type_of(two, j, len(a)), _type_of(two, k, len(b)))
        except ValueError:
            return None

    def _agrees(self, tokenizer: HFTokenizer, a_text: str, b_text: str) -> bool:
        a, b = _pieces(tokenizer, [a_text, b_text])
        theirs = [tokenizer.encode(a_text), tokenizer.encode(a_text, b_text)]
        return all((mine.ids, mine.type_ids) == (t.ids, t.type_ids)
                   for mine, t in zip([self.single(a), self.pair(a, b)], theirs))


def _pieces(tokenizer: HFTokenizer, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]


def _find(ids: list[int], part: list[int], start: int) -> int:
    """First index >= start where ``part`` (non-empty) occurs in ``ids``."""
    for i in range(start, len(ids) - len(part) + 1):
        if part and ids[i:i + len(part)] == part:
            return i
    raise ValueError("not found")


def _segment(encoding, start: int, end: int) -> Segment:
    return Segment(tuple(encoding.ids[start:end]), tuple(encoding.type_ids[start:end]))


def _type_of(encoding, start: int, n: int) -> int:
    types = set(encoding.type_ids[start:start + n])
    if len(types) != 1:
        raise ValueError("mixed type ids in one text")
    return types.pop()


class Tokenizer:
    def __init__(self, tokenizer: HFTokenizer, max_length: int, pad_id: int = 0, source: str = "tokenizer"):
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._tok = tokenizer
        self.template = Template.read(tokenizer, source)
        if max_length < self.template.pair_specials + 1:
            raise TokenizerError(f"{source}: max length {max_length} leaves no room for text")
        self.cls_id = self.template.prefix.ids[0]  # the first token: [CLS] or <s>
        self.sep_id = (self.template.suffix.ids or self.template.prefix.ids)[0]  # [SEP] or </s>
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
        source = str(tok_json if tok_json.is_file() else vocab)
        return cls(tok, max_length(model_dir, max_positions), _pad_id(tok, model_dir), source)

    def encode_pairs(self, pairs: list[tuple[str, str]]) -> list[Encoded]:
        """The template's pair per (query, passage) (``[CLS] q [SEP] p [SEP]``, token types 0 then 1, for
        BERT), truncated longest-first to max_length (as ``tokenizers``' "longest_first" strategy).
        ``pad`` makes a Batch of them."""
        pieces = self.pieces([t for pair in pairs for t in pair])
        budget = self.max_length - self.template.pair_specials
        out = []
        for i in range(0, len(pieces), 2):
            a, b = pieces[i], pieces[i + 1]
            n_a, n_b = longest_first(len(a), len(b), budget)
            out.append(self._template(a[:n_a], b[:n_b]))
        return out

    def _template(self, a: list[int], b: list[int]) -> Encoded:
        return self.template.pair(a, b)

    def pair_encoding(self, a: list[int], b: list[int]) -> Encoded:
        """The pair template around two lists of pieces, as they are (no truncation): how
        ``text.windows`` builds each window's sequence."""
        return self._template(a, b)

    def encode_texts(self, texts: list[str]) -> list[Encoded]:
        """The template's single sequence per text (``[CLS] text [SEP]``), truncated to max_length."""
        keep = self.max_length - self.template.single_specials
        return [self.template.single(p[:keep]) for p in self.pieces(texts)]

    def pieces(self, texts: list[str]) -> list[list[int]]:
        """Piece ids of each text, without special tokens; each distinct text tokenized once."""
        unique = list(dict.fromkeys(texts))
        ids = dict(zip(unique, _pieces(self._tok, unique)))
        return [ids[t] for t in texts]

    def prompt_length(self, prompt: str) -> int:
        """Leading tokens of ``prompt + text`` that belong to the prompt, counted as sentence-transformers
        counts them: the prompt tokenized alone with its special tokens, less the trailing one."""
        return len(self.encode_texts([prompt])[0].ids) - (1 if len(self.template.suffix) else 0)

    def pieces_with_offsets(self, texts: list[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """(word-piece ids, each piece's [start, end) characters in its text) per text; each distinct
        text tokenized once."""
        unique = list(dict.fromkeys(texts))
        encodings = self._tok.encode_batch(unique, add_special_tokens=False)
        found = {t: (e.ids, e.offsets) for t, e in zip(unique, encodings)}
        return [found[t] for t in texts]

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


def _pad_id(tok: HFTokenizer, model_dir: Path) -> int:
    """The pad token's id: tokenizer_config.json's (or special_tokens_map.json's) pad_token, else [PAD] or
    <pad>, else 0. Padding only fills the arrays ``pad`` returns; no model output depends on it."""
    names = [_json_field(model_dir / f, "pad_token") for f in ("tokenizer_config.json", "special_tokens_map.json")]
    names = [n.get("content") if isinstance(n, dict) else n for n in names] + ["[PAD]", "<pad>"]
    ids = [tok.token_to_id(n) for n in names if isinstance(n, str)]
    return next((i for i in ids if i is not None), 0)


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
