"""The MS MARCO cross-encoder family and the default embedder: names, shapes and published quality.

Quality figures are those printed on the cross-encoder/ms-marco-* model cards (TREC Deep Learning 2019
NDCG@10 and MS MARCO passage dev MRR@10, from the sentence-transformers MS MARCO training page).
Parameter counts are computed from the architecture, not copied.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

DEFAULT_RERANKER = "L-6"
DEFAULT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class FamilyMember:
    size: str
    hub_id: str
    layers: int
    hidden: int
    heads: int
    intermediate: int
    trec_dl19_ndcg10: float
    msmarco_dev_mrr10: float

    @property
    def parameters(self) -> int:
        return bert_parameters(vocab=30522, positions=512, types=2, hidden=self.hidden, layers=self.layers,
                               intermediate=self.intermediate, labels=1)


FAMILY = (
    FamilyMember("TinyBERT-L-2", "cross-encoder/ms-marco-TinyBERT-L-2-v2", 2, 128, 2, 512, 69.84, 32.56),
    FamilyMember("L-2", "cross-encoder/ms-marco-MiniLM-L-2-v2", 2, 384, 12, 1536, 71.01, 34.85),
    FamilyMember("L-4", "cross-encoder/ms-marco-MiniLM-L-4-v2", 4, 384, 12, 1536, 73.04, 37.70),
    FamilyMember("L-6", "cross-encoder/ms-marco-MiniLM-L-6-v2", 6, 384, 12, 1536, 74.30, 39.01),
    FamilyMember("L-12", "cross-encoder/ms-marco-MiniLM-L-12-v2", 12, 384, 12, 1536, 74.31, 39.02),
)


def bert_parameters(vocab: int, positions: int, types: int, hidden: int, layers: int, intermediate: int,
                    labels: int | None) -> int:
    """Parameter count of a BERT encoder (+ pooler and classifier when labels is given)."""
    d, f = hidden, intermediate
    embeddings = (vocab + positions + types) * d + 2 * d
    per_layer = 4 * (d * d + d) + 2 * d + (d * f + f) + (f * d + d) + 2 * d
    head = (d * d + d) + (labels * d + labels) if labels else 0
    return embeddings + layers * per_layer + head


@dataclass(frozen=True)
class KnownCheckpoint:
    """A checkpoint outside the family that loads and scores correctly. What the engine runs is read from
    the checkpoint's own files; the fields here say what those files hold, for the table."""
    hub_id: str
    architecture: str  # config.json's architectures[0]
    layers: int
    hidden: int
    pooling: str | None  # embedders: the Pooling mode, then "+ Normalize" when the pipeline has one
    prompts: str  # what config_sentence_transformers.json holds; conventions the card asks for, in words
    max_length: int
    head: str | None  # cross-encoders: the head and its labels

    @property
    def kind(self) -> str:
        return "cross-encoder" if self.head else "embedder"


_E5 = "none in its files; the card asks for \"query: \" / \"passage: \" (pass prompt=)"
_BGE = ("none in its files; the card's query instruction \"Represent this sentence for searching relevant "
        "passages: \" (pass prompt=)")
KNOWN = (
    KnownCheckpoint("sentence-transformers/all-MiniLM-L6-v2", "BertModel", 6, 384, "mean + Normalize", "none",
                    256, None),
    KnownCheckpoint("sentence-transformers/all-MiniLM-L12-v2", "BertModel", 12, 384, "mean + Normalize", "none",
                    128, None),
    KnownCheckpoint("sentence-transformers/multi-qa-MiniLM-L6-cos-v1", "BertModel", 6, 384, "mean + Normalize", "none",
                    512, None),
    KnownCheckpoint("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", "BertModel (XLM-R tokenizer)", 12,
                    384, "mean", "none", 128, None),
    KnownCheckpoint("BAAI/bge-small-en-v1.5", "BertModel", 12, 384, "cls + Normalize", _BGE, 512, None),
    KnownCheckpoint("BAAI/bge-base-en-v1.5", "BertModel", 12, 768, "cls + Normalize", _BGE, 512, None),
    KnownCheckpoint("intfloat/e5-small-v2", "BertModel", 12, 384, "mean + Normalize", _E5, 512, None),
    KnownCheckpoint("intfloat/multilingual-e5-small", "BertModel (XLM-R tokenizer)", 12, 384, "mean + Normalize", _E5,
                    512, None),
    KnownCheckpoint("thenlper/gte-small", "BertModel", 12, 384, "mean + Normalize", "none", 512, None),
    KnownCheckpoint("Snowflake/snowflake-arctic-embed-xs", "BertModel", 6, 384, "cls + Normalize",
                    "query: \"Represent this sentence for searching relevant passages: \" (encode_query)", 512, None),
    KnownCheckpoint("BAAI/bge-reranker-base", "XLMRobertaForSequenceClassification", 12, 768, None, "none", 512,
                    "out_proj(tanh(dense(h[<s>]))), 1 label"),
    KnownCheckpoint("cross-encoder/mmarco-mMiniLMv2-L12-H384-v1", "XLMRobertaForSequenceClassification", 12, 384, None,
                    "none", 512, "out_proj(tanh(dense(h[<s>]))), 1 label"),
    KnownCheckpoint("cross-encoder/ms-marco-electra-base", "ElectraForSequenceClassification", 12, 768, None, "none",
                    512, "out_proj(gelu(dense(h[CLS]))), 1 label"),
    KnownCheckpoint("cross-encoder/nli-distilroberta-base", "RobertaForSequenceClassification", 6, 768, None, "none",
                    512, "out_proj(tanh(dense(h[<s>]))), 3 labels: contradiction, entailment, neutral"),
)
FAMILY_HEAD = "classifier(tanh(pooler(h[CLS]))), 1 label"


def models() -> list[dict]:
    """The family table: one dict per model (size, hub_id, architecture, kind, layers, hidden, heads,
    intermediate, parameters, pooling, prompts, max_length, head, trec_dl19_ndcg10, msmarco_dev_mrr10)."""
    return [{**asdict(m), "architecture": "BertForSequenceClassification", "kind": "cross-encoder",
             "parameters": m.parameters, "pooling": None, "prompts": "none", "max_length": 512,
             "head": FAMILY_HEAD} for m in FAMILY]


def known_checkpoints() -> list[dict]:
    """The other checkpoints known to load and score correctly, with the family table's keys (None where
    one does not apply)."""
    keys = list(models()[0])
    return [{**dict.fromkeys(keys), **asdict(k), "kind": k.kind} for k in KNOWN]


def hub_id_for(name: str) -> str:
    """A family size ("L-6", "TinyBERT-L-2", also "MiniLM-L-6") -> its Hub id; anything else unchanged."""
    key = name.removeprefix("MiniLM-").removeprefix("ms-marco-")
    for m in FAMILY:
        if key.lower() == m.size.lower():
            return m.hub_id
    if name.lower() in ("all-minilm-l6-v2",):
        return DEFAULT_EMBEDDER
    return name
