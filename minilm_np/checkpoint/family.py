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


def models() -> list[dict]:
    """The family table: one dict per model (size, hub_id, layers, hidden, heads, intermediate,
    parameters, trec_dl19_ndcg10, msmarco_dev_mrr10)."""
    return [{**asdict(m), "parameters": m.parameters} for m in FAMILY]


def hub_id_for(name: str) -> str:
    """A family size ("L-6", "TinyBERT-L-2", also "MiniLM-L-6") -> its Hub id; anything else unchanged."""
    key = name.removeprefix("MiniLM-").removeprefix("ms-marco-")
    for m in FAMILY:
        if key.lower() == m.size.lower():
            return m.hub_id
    if name.lower() in ("all-minilm-l6-v2",):
        return DEFAULT_EMBEDDER
    return name
