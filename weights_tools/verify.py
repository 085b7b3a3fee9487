"""``verify DIR [--reference NPZ]``: run the engine on stored reference inputs, compare with stored outputs.

A reference is an ``.npz`` holding the expected outputs and, optionally, the inputs:
  * cross-encoder: ``logits`` [n] or [n, L] (raw, before any activation; ``logits_float64``, the same
    model run in float64, is preferred when present), inputs ``pairs_a``/``pairs_b`` (string arrays,
    query and passage of each pair);
  * embedder: ``embeddings`` (or ``st_embeddings``) [n, dim], inputs ``texts`` (string array).
When the inputs are not in the npz they are read from a JSON file (``"pairs": [[q, p], ...]`` or
``"texts": [...]``): ``--inputs``, else ``<npz stem>.json`` beside it, else ``tiny_inputs.json`` beside it
-- the layout of ``tests/fixtures/reference/`` written by ``make-fixtures``. A JSON that holds
``cranfield.refs`` and ``model_card_pairs`` instead (``msmarco_shaped_l6.json``, whose texts are not
copied into the repository) has its pairs rebuilt from the Cranfield collection: ``--cranfield DIR``, by
default ``../shared/data/cranfield`` beside the repository; each text is checked against its stored sha256.

Without ``--reference``: ``DIR/reference.npz``, else ``tests/fixtures/reference/<DIR name>.npz``.
Prints the largest absolute difference; exit status 3 when it exceeds the tolerance (default 1e-5 for
logits, 1e-6 for embeddings).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minilm_np.errors import ModelNotFoundError

from . import ToolError

REPO_REFERENCES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "reference"
DEFAULT_CRANFIELD = Path(__file__).resolve().parents[2] / "shared" / "data" / "cranfield"
TOLERANCE = {"logits": 1e-5, "embeddings": 1e-6}
CHECK_FAILED = 3


@dataclass(frozen=True)
class Reference:
    path: Path
    kind: str  # "logits" (cross-encoder) or "embeddings" (embedder)
    expected: np.ndarray  # [n] / [n, L] logits or [n, dim] embeddings
    pairs: list[tuple[str, str]] | None = None
    texts: list[str] | None = None

    @property
    def inputs(self) -> list:
        return self.pairs if self.kind == "logits" else self.texts


@dataclass(frozen=True)
class Result:
    kind: str
    n: int
    max_abs_diff: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance  # NaN compares False: not ok


def add_arguments(parser) -> None:
    parser.add_argument("model_dir", type=Path, help="model directory")
    parser.add_argument("--reference", type=Path, help="reference .npz (default: see above)")
    parser.add_argument("--inputs", type=Path, help="JSON with 'pairs' or 'texts' when the npz has no inputs")
    parser.add_argument("--cranfield", type=Path, help="the Cranfield collection, for a reference whose pairs "
                                                       f"are rebuilt from it (default {DEFAULT_CRANFIELD})")
    parser.add_argument("--tolerance", type=float, help="largest allowed absolute difference "
                                                        "(default 1e-5 for logits, 1e-6 for embeddings)")


def run(args) -> int:
    npz = args.reference or default_reference(args.model_dir)
    ref = load_reference(npz, args.inputs, cranfield=args.cranfield)
    result = verify(args.model_dir, ref, args.tolerance)
    verdict = "ok" if result.ok else "FAILED"
    print(f"{verdict}: {result.n} {'pairs' if ref.kind == 'logits' else 'texts'} from {ref.path}; "
          f"max abs diff of {ref.kind} {result.max_abs_diff:.3g} (tolerance {result.tolerance:g})")
    return 0 if result.ok else CHECK_FAILED


def default_reference(model_dir: Path) -> Path:
    for candidate in (Path(model_dir) / "reference.npz", REPO_REFERENCES / f"{Path(model_dir).name}.npz"):
        if candidate.is_file():
            return candidate
    raise ModelNotFoundError(f"no reference for {model_dir}: pass --reference NPZ (looked for "
                             f"{Path(model_dir) / 'reference.npz'} and {REPO_REFERENCES / Path(model_dir).name}.npz)")


def load_reference(npz_path: Path, inputs_path: Path | None = None, *, cranfield: Path | None = None) -> Reference:
    """Expected outputs from the npz; inputs from the npz or the JSON beside it (see module doc).
    ``cranfield``: the collection that Cranfield-referenced pairs are rebuilt from."""
    npz_path = Path(npz_path)
    if not npz_path.is_file():
        raise ModelNotFoundError(f"reference file not found: {npz_path}")
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise ToolError(f"{npz_path}: not a readable .npz ({e})") from None
    kind, expected = _expected(npz_path, arrays)
    if kind == "logits":
        if "pairs_a" in arrays and "pairs_b" in arrays:
            pairs = list(zip(arrays["pairs_a"].tolist(), arrays["pairs_b"].tolist()))
        else:
            pairs = [tuple(p) for p in _json_inputs(npz_path, inputs_path, "pairs", cranfield)]
        ref = Reference(npz_path, kind, expected, pairs=pairs)
    else:
        texts = arrays["texts"].tolist() if "texts" in arrays else _json_inputs(npz_path, inputs_path, "texts")
        ref = Reference(npz_path, kind, expected, texts=list(texts))
    if len(ref.inputs) != len(expected):
        raise ToolError(f"{npz_path}: {len(ref.inputs)} inputs but {len(expected)} expected rows")
    return ref


def _expected(npz_path: Path, arrays: dict[str, np.ndarray]) -> tuple[str, np.ndarray]:
    for key, kind in (("logits_float64", "logits"), ("logits", "logits"), ("embeddings", "embeddings"),
                      ("st_embeddings", "embeddings")):
        if key in arrays:
            return kind, arrays[key].astype(np.float32)
    raise ToolError(f"{npz_path}: no 'logits', 'embeddings' or 'st_embeddings' array (has {sorted(arrays)})")


def _json_inputs(npz_path: Path, inputs_path: Path | None, key: str, cranfield: Path | None = None) -> list:
    """The first JSON of the candidates that exists is the npz's (no falling through to another's)."""
    candidates = [inputs_path] if inputs_path else [npz_path.with_suffix(".json"), npz_path.parent / "tiny_inputs.json"]
    for path in candidates:
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise ToolError(f"{path}: not readable JSON ({e})") from None
            if isinstance(data, dict) and isinstance(data.get(key), list):
                return data[key]
            if key == "pairs" and isinstance(data, dict) and "cranfield" in data and "model_card_pairs" in data:
                return _rebuilt_pairs(path, data, cranfield)
            raise ToolError(f"{path}: no '{key}' list")
    raise ToolError(f"{npz_path}: the inputs ('{key}') are neither in the npz nor in "
                    f"{' or '.join(str(p) for p in candidates)}")


def _rebuilt_pairs(path: Path, data: dict, cranfield: Path | None) -> list:
    """The Cranfield refs' pairs, rebuilt and checked against their sha256, then the model-card pairs."""
    from .msmarco_shaped import cranfield_pairs

    directory = Path(cranfield or DEFAULT_CRANFIELD)
    if not directory.is_dir():
        raise ToolError(f"{path}: its pairs are rebuilt from the Cranfield collection, which is not at "
                        f"{directory}; pass --cranfield DIR")
    refs = data["cranfield"]["refs"]
    try:
        pairs = cranfield_pairs(directory, refs)
    except KeyError as e:
        raise ToolError(f"{directory} does not hold the query or document {e} that {path.name} refers to: "
                        f"another collection?") from None
    for ref, (query, passage) in zip(refs, pairs):
        for text, digest in ((query, ref.get("query_sha256")), (passage, ref.get("passage_sha256"))):
            if digest and hashlib.sha256(text.encode("utf-8")).hexdigest() != digest:
                raise ToolError(f"{directory} does not give the texts {path.name} was made from (query "
                                f"{ref['query']}, document {ref['doc']}): another copy of the collection?")
    return pairs + [tuple(p) for p in data["model_card_pairs"]]


def verify(model_dir: Path, ref: Reference, tolerance: float | None = None) -> Result:
    """Score ``ref``'s inputs with the engine and compare with ``ref.expected``."""
    got = compute(model_dir, ref)
    tolerance = TOLERANCE[ref.kind] if tolerance is None else tolerance
    if got.shape != ref.expected.shape:
        raise ToolError(f"{model_dir} gives {ref.kind} of shape {list(got.shape)}, {ref.path} holds "
                        f"{list(ref.expected.shape)}")
    diff = float(np.max(np.abs(got - ref.expected))) if got.size else 0.0
    return Result(ref.kind, len(ref.expected), diff, tolerance)


def compute(model_dir: Path, ref: Reference) -> np.ndarray:
    """The engine's raw logits (shaped like the reference) or embeddings for ``ref``'s inputs."""
    from minilm_np import CrossEncoder, Embedder  # the engine; imported when needed

    if ref.kind == "logits":
        logits = CrossEncoder.from_pretrained(model_dir).predict(ref.pairs)
        return logits.reshape(ref.expected.shape)  # [n] <-> [n, 1]
    norms = np.linalg.norm(ref.expected, axis=1) if ref.expected.size else np.ones(0)
    normalized = bool(np.all(np.abs(norms - 1) < 1e-4))  # compare like with like
    return Embedder.from_pretrained(model_dir).encode(ref.texts, normalize=normalized)
