"""Regenerate what sentence-transformers' own calls return when given its keyword names, for tests/test_st_names.py.

    python -m weights_tools make-st-api-reference [--fixtures DIR]

On the tiny fixture models (tests/fixtures/models) and inputs (reference/tiny_inputs.json):
  * ``SentenceTransformer.similarity`` with each ``similarity_fn_name`` (cosine, dot, euclidean, manhattan), on
    seeded float32 vectors with a zero row among them, and on the tiny embedder's own embeddings; and
    ``similarity_pairwise`` with each, on the first four of those vectors against the other four;
  * ``get_embedding_dimension()`` of the tiny embedder, as loaded and with ``truncate_dim=8``;
  * ``CrossEncoder.predict(pairs, apply_softmax=True)`` on the three-label tiny-ce-3, and on the one-label
    tiny-ce-1 (whose default activation_fn in sentence-transformers is Sigmoid);
  * ``CrossEncoder.rank(query, passages, return_documents=False)`` on tiny-ce-1;
  * what the constructors take: ``CrossEncoder(tiny-ce-1, max_length=12, activation_fn=Identity())``'s logits,
    ``SentenceTransformer(tiny-embedder, prompts={"query": "query: "}, default_prompt_name="query")``'s
    embeddings, and the embedder's with ``max_seq_length = 8`` set after loading.

Writes, under tests/fixtures/reference:
  st_api.npz   a [5, 16], b [4, 16] (the seeded vectors; a's row 2 is zero), similarity_<fn> [5, 4] and
               similarity_pairwise_<fn> [4] (a[:4] against b) for each function; texts_similarity [n, n]
               (cosine of the embedder's vectors of the tiny texts);
               ce3_apply_softmax [pairs, 3], ce1_apply_softmax [pairs]; rank_ids [k], rank_scores [k];
               ce1_max_length_12 [pairs]; texts_default_prompt [n, 32]; texts_max_seq_length_8 [n, 32]
  st_api.json  the rank's query, the results' keys, each model's activation_fn, the embedder's dimensions, the
               versions
Needs sentence-transformers (torch).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .make_fixtures import DEFAULT_FIXTURES, save_npz, write_json

FUNCTIONS = ("cosine", "dot", "euclidean", "manhattan")
RANK_QUERY = "what is the capital of france?"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m weights_tools make-st-api-reference",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    args = p.parse_args(argv)
    import sentence_transformers
    import torch
    from sentence_transformers import CrossEncoder, SentenceTransformer

    models, ref = args.fixtures / "models", args.fixtures / "reference"
    inputs = json.loads((ref / "tiny_inputs.json").read_text(encoding="utf-8"))
    texts, pairs = inputs["texts"], [tuple(p) for p in inputs["pairs"]]
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 16), dtype=np.float32), rng.standard_normal((4, 16), dtype=np.float32)
    a[2] = 0
    st = SentenceTransformer(str(models / "tiny-embedder"), device="cpu", local_files_only=True)
    arrays = {"a": a, "b": b}
    for fn in FUNCTIONS:
        st.similarity_fn_name = fn
        arrays[f"similarity_{fn}"] = st.similarity(a, b).numpy().astype(np.float32)
        arrays[f"similarity_pairwise_{fn}"] = st.similarity_pairwise(a[:4], b).numpy().astype(np.float32)
    st.similarity_fn_name = "cosine"
    vectors = st.encode(texts, convert_to_numpy=True)
    arrays["texts_similarity"] = st.similarity(vectors, vectors).numpy().astype(np.float32)

    ce3 = CrossEncoder(str(models / "tiny-ce-3"), device="cpu", local_files_only=True)
    ce1 = CrossEncoder(str(models / "tiny-ce-1"), device="cpu", local_files_only=True)
    arrays["ce3_apply_softmax"] = np.asarray(ce3.predict(pairs, apply_softmax=True), np.float32)
    arrays["ce1_apply_softmax"] = np.asarray(ce1.predict(pairs, apply_softmax=True), np.float32)
    passages = [passage for _, passage in pairs]
    ranked = ce1.rank(RANK_QUERY, passages, return_documents=False)
    arrays["rank_ids"] = np.array([r["corpus_id"] for r in ranked], np.int64)
    arrays["rank_scores"] = np.array([r["score"] for r in ranked], np.float32)
    short = CrossEncoder(str(models / "tiny-ce-1"), device="cpu", local_files_only=True, max_length=12,
                         activation_fn=torch.nn.Identity())
    arrays["ce1_max_length_12"] = np.asarray(short.predict(pairs), np.float32)
    prompted = SentenceTransformer(str(models / "tiny-embedder"), device="cpu", local_files_only=True,
                                   prompts={"query": "query: "}, default_prompt_name="query")
    arrays["texts_default_prompt"] = prompted.encode(texts, convert_to_numpy=True)
    st.max_seq_length = 8
    arrays["texts_max_seq_length_8"] = st.encode(texts, convert_to_numpy=True)
    truncated = SentenceTransformer(str(models / "tiny-embedder"), device="cpu", local_files_only=True, truncate_dim=8)
    dimensions = {"as loaded": st.get_embedding_dimension(), "truncate_dim=8": truncated.get_embedding_dimension()}
    save_npz(ref / "st_api.npz", arrays)
    write_json(ref / "st_api.json", {
        "what": "sentence-transformers' own calls with its keyword names (weights_tools/make_st_api_reference.py)",
        "rank_query": RANK_QUERY, "rank_keys": sorted(ranked[0]),
        "activation_fn": {"tiny-ce-1": type(ce1.activation_fn).__name__,
                          "tiny-ce-3": type(ce3.activation_fn).__name__},
        "embedding_dimension": dimensions,
        "versions": {"sentence-transformers": sentence_transformers.__version__, "torch": torch.__version__,
                     "numpy": np.__version__},
    })
    print(f"wrote {ref / 'st_api.npz'} and st_api.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
