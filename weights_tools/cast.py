"""``cast DIR DST --dtype float16|bfloat16``: a half-size checkpoint, and how much it moves the scores.

Only floating tensors are cast (integer buffers such as position_ids keep their dtype); every other
model file is copied. Rounding is to nearest, ties to even, from the float32 value: numpy's own cast
for float16, and on the float32 bit pattern for bfloat16 (NaN becomes the quiet NaN 0x7FC0) -- both
bit for bit what torch's ``.half()`` / ``.bfloat16()`` give for every non-NaN value (tested against
stored torch output; torch's own NaN bits depend on its code path). A float64 tensor
goes through float32 first. A finite value that would become infinite (beyond float16's 65504) is
refused by tensor name.

The engine widens half-precision weights to float32 on load, so the cast only changes the weights'
values, not the arithmetic. The drift report loads both checkpoints with the engine and compares
their raw logits (cross-encoder) or embeddings on a few built-in pairs/texts, or on the inputs of a
reference ``.npz`` (``--reference``, the format ``verify`` reads). ``--max-drift`` makes it a check.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minilm_np.checkpoint.dtypes import is_floating, to_bfloat16, to_float32
from minilm_np.checkpoint.load import read_tensors, weights_file
from minilm_np.checkpoint.safetensors import read_safetensors, write_safetensors
from minilm_np.errors import ModelNotFoundError

from . import ToolError
from .convert import check_same_tensors, copy_model_files
from .inspect import is_cross_encoder

CHECK_FAILED = 3

# A few MS MARCO-like pairs and sentences: enough to see drift, short enough to run anywhere.
BUILTIN_PAIRS = [
    ("How many people live in Berlin?",
     "Berlin had a population of 3,520,031 registered inhabitants in an area of 891.82 square kilometers."),
    ("How many people live in Berlin?", "Berlin is well known for its museums."),
    ("what is the boiling point of water at sea level",
     "At sea level, pure water boils at 100 degrees Celsius (212 degrees Fahrenheit)."),
    ("what is the boiling point of water at sea level", "The Dead Sea is the lowest point on land."),
    ("who wrote the origin of species",
     "On the Origin of Species, published in 1859, is a work of scientific literature by Charles Darwin."),
    ("symptoms of vitamin d deficiency", "Fatigue, bone pain and muscle weakness can all be signs of it."),
    ("", "an empty query"),
    ("boundary layer transition at supersonic speeds",
     "Experiments in the wind tunnel at Mach 2.5 showed that transition moved downstream when the wall was cooled."),
]
BUILTIN_TEXTS = [q for q, _ in BUILTIN_PAIRS[::2]] + [p for _, p in BUILTIN_PAIRS]


@dataclass(frozen=True)
class Drift:
    kind: str  # "logits" or "embeddings"
    n: int
    max_abs: float
    mean_abs: float
    scale: float  # largest |value| of the original outputs, to read max_abs against
    min_cosine: float | None = None  # embeddings only

    def describe(self) -> str:
        text = (f"score drift over {self.n} {'pairs' if self.kind == 'logits' else 'texts'}: "
                f"max abs diff of {self.kind} {self.max_abs:.3g}, mean {self.mean_abs:.3g} "
                f"(largest |{self.kind[:-1]}| {self.scale:.3g})")
        return text + (f", min cosine {self.min_cosine:.7f}" if self.min_cosine is not None else "")


def add_arguments(parser) -> None:
    parser.add_argument("src", type=Path, help="model directory to read")
    parser.add_argument("dst", type=Path, help="directory to write the cast checkpoint to")
    parser.add_argument("--dtype", required=True, choices=("float16", "bfloat16"))
    parser.add_argument("--reference", type=Path, help="score the inputs of this reference .npz "
                                                       "(see verify) instead of the built-in ones")
    parser.add_argument("--max-drift", type=float, help="exit with status 3 if the max abs diff exceeds this")
    parser.add_argument("--no-drift", action="store_true", help="only write the checkpoint")
    parser.add_argument("--force", action="store_true", help="overwrite an existing DST/model.safetensors")


def run(args) -> int:
    if args.no_drift:
        cast_dir(args.src, args.dst, args.dtype, overwrite=args.force)
        return 0
    check_destination(args.src, args.dst, overwrite=args.force)
    pairs = texts = None
    if args.reference:
        from .verify import load_reference
        ref = load_reference(args.reference)
        pairs, texts = ref.pairs, ref.texts
    # Cast beside DST and move the files in only once the drift passes: a failed check leaves DST as it was.
    args.dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{args.dst.name}.cast-", dir=args.dst.parent) as staging:
        said = []
        cast_dir(args.src, Path(staging), args.dtype, log=said.append)
        drift = score_drift(args.src, Path(staging), pairs=pairs, texts=texts)
        if args.max_drift is not None and not drift.max_abs <= args.max_drift:
            print(drift.describe())
            print(f"FAILED: drift {drift.max_abs:.3g} exceeds --max-drift {args.max_drift:g}; nothing was "
                  f"written to {args.dst}")
            return CHECK_FAILED
        _move_into(Path(staging), args.dst)
    print(said[0].replace(str(Path(staging)), str(args.dst)))  # "wrote DST/model.safetensors: sizes"
    print(drift.describe())
    return 0


def _move_into(staging: Path, dst: Path) -> None:
    """Every file and folder of ``staging`` into ``dst`` (created if needed), replacing what is there."""
    dst.mkdir(parents=True, exist_ok=True)
    for entry in staging.iterdir():
        if entry.is_dir() and (dst / entry.name).is_dir():
            shutil.rmtree(dst / entry.name)
        os.replace(entry, dst / entry.name)


def check_destination(src: Path, dst: Path, *, overwrite: bool) -> None:
    """The source exists and is not ``dst``; ``dst`` holds no model.safetensors unless ``overwrite``."""
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise ModelNotFoundError(f"model directory not found: {src}")
    out = dst / "model.safetensors"
    if out.exists() and not overwrite:
        raise ToolError(f"{out} already exists (use --force to overwrite)")
    if dst.exists() and src.resolve() == dst.resolve():
        raise ToolError(f"{dst} is the source directory; cast into another one")


def cast_dir(src: Path, dst: Path, dtype: str, *, overwrite: bool = False, log=print) -> Path:
    """Write ``dst/model.safetensors`` with ``src``'s floating tensors cast to ``dtype``; copy the rest."""
    src, dst = Path(src), Path(dst)
    check_destination(src, dst, overwrite=overwrite)
    out = dst / "model.safetensors"
    source = weights_file(src)
    tensors = cast_tensors(read_tensors(source), dtype)
    dst.mkdir(parents=True, exist_ok=True)
    write_safetensors(out, tensors)
    check_same_tensors(tensors, read_safetensors(out), out)
    copy_model_files(src, dst)
    log(f"wrote {out}: {_size(source)} -> {_size(out)} ({dtype})")
    return out


def cast_tensors(tensors: dict[str, np.ndarray], dtype: str) -> dict[str, np.ndarray]:
    """Floating tensors rounded to ``dtype`` ("float16" or "bfloat16"); others unchanged."""
    if dtype not in ("float16", "bfloat16"):
        raise ValueError(f"dtype must be float16 or bfloat16, got {dtype!r}")
    out = {}
    for name, a in tensors.items():
        if not is_floating(a):
            out[name] = a
            continue
        x = to_float32(a)
        with np.errstate(over="ignore"):  # overflow is detected below, by name
            y = x.astype(np.float16) if dtype == "float16" else to_bfloat16(x)
        overflow = np.isfinite(x) & ~np.isfinite(to_float32(y))
        if overflow.any():
            raise ToolError(f"tensor {name}: {int(overflow.sum())} finite value(s) such as "
                            f"{x[overflow].flat[0]:g} overflow {dtype}")
        out[name] = y
    return out


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.2f} MB" if path.stat().st_size >= 1e5 else f"{path.stat().st_size:,} bytes"


def score_drift(src: Path, dst: Path, pairs: list[tuple[str, str]] | None = None,
                texts: list[str] | None = None) -> Drift:
    """Compare the engine's outputs on ``src`` and ``dst`` (a cross-encoder if the config says
    ForSequenceClassification, else an embedder), on the given or the built-in inputs."""
    from minilm_np import CrossEncoder, Embedder  # the engine; imported when needed

    if is_cross_encoder(src):
        pairs = pairs or BUILTIN_PAIRS
        a = CrossEncoder.from_pretrained(src).predict(pairs)
        b = CrossEncoder.from_pretrained(dst).predict(pairs)
        return _drift("logits", a, b)
    texts = texts or BUILTIN_TEXTS
    a = Embedder.from_pretrained(src).encode(texts)
    b = Embedder.from_pretrained(dst).encode(texts)
    cosine = np.sum(a * b, axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return _drift("embeddings", a, b, float(cosine.min()))


def _drift(kind: str, a: np.ndarray, b: np.ndarray, min_cosine: float | None = None) -> Drift:
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return Drift(kind, len(a), float(d.max()), float(d.mean()), float(np.abs(a).max()), min_cosine)
