"""``convert SRC_DIR DST_DIR``: ``pytorch_model.bin`` -> ``model.safetensors``, without torch.

The .bin is read by ``minilm_np.checkpoint.torch_bin`` (an allow-listed unpickler that never runs the pickle),
the tensors are written unchanged -- same names, same dtypes, same bits, bfloat16 included -- and read
back to check. Tied weights and views of one storage come out as separate copies (safetensors has no
sharing). The model's other small files (config, tokenizer, sentence-transformers modules) are copied.

Also home of ``copy_model_files``, which ``cast`` and ``download`` reuse; the writer is
``minilm_np.checkpoint.safetensors.write_safetensors``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np

from minilm_np.checkpoint.dtypes import dtype_name
from minilm_np.checkpoint.load import MODEL_FILES
from minilm_np.checkpoint.safetensors import read_safetensors, write_safetensors
from minilm_np.checkpoint.torch_bin import read_torch_bin
from minilm_np.errors import ModelNotFoundError

from . import ToolError

_MODULE_DIR = re.compile(r"^\d+_\w+$")  # sentence-transformers module folders: 1_Pooling, 2_Normalize, ...

def add_arguments(parser) -> None:
    parser.add_argument("src", type=Path, help="directory with pytorch_model.bin (and config, tokenizer, ...)")
    parser.add_argument("dst", type=Path, help="directory to write model.safetensors and the copied files to")
    parser.add_argument("--force", action="store_true", help="overwrite an existing DST/model.safetensors")


def run(args) -> int:
    convert(args.src, args.dst, overwrite=args.force)
    return 0


def convert(src: Path, dst: Path, *, overwrite: bool = False, log=print) -> Path:
    """Write ``dst/model.safetensors`` from ``src/pytorch_model.bin`` and copy the other model files."""
    src, dst = Path(src), Path(dst)
    bin_path = src / "pytorch_model.bin"
    if not bin_path.is_file():
        if (src / "pytorch_model.bin.index.json").is_file():
            raise ToolError(f"{src}: sharded checkpoints (pytorch_model.bin.index.json) are not supported")
        if not src.is_dir():
            raise ModelNotFoundError(f"model directory not found: {src}")
        raise ModelNotFoundError(f"{src}: no pytorch_model.bin to convert")
    out = dst / "model.safetensors"
    if out.exists() and not overwrite:
        raise ToolError(f"{out} already exists (use --force to overwrite)")
    tensors = read_torch_bin(bin_path)
    dst.mkdir(parents=True, exist_ok=True)
    write_safetensors(out, tensors)
    check_same_tensors(tensors, read_safetensors(out), out)
    copied = copy_model_files(src, dst)
    log(f"wrote {out}: {len(tensors)} tensors ({_dtype_summary(tensors)}), {out.stat().st_size:,} bytes; "
        f"read back bit-identical to {bin_path}")
    if copied:
        log(f"copied {', '.join(copied)}")
    return out


# --------------------------------------------------------------------------------------------------
# Checking what was written.
# --------------------------------------------------------------------------------------------------

def check_same_tensors(want: dict[str, np.ndarray], got: dict[str, np.ndarray], where: Path) -> None:
    """Raise unless ``got`` holds exactly ``want``'s names, shapes, dtypes and bytes."""
    if set(want) != set(got):
        raise ToolError(f"{where}: read back {len(got)} tensors, wrote {len(want)} "
                        f"(differing: {sorted(set(want) ^ set(got))[:5]})")
    for name, a in want.items():
        b = got[name]
        if a.shape != b.shape or dtype_name(a) != dtype_name(b) or a.tobytes() != np.ascontiguousarray(b).tobytes():
            raise ToolError(f"{where}: tensor {name} did not read back identical")


def _dtype_summary(tensors: dict[str, np.ndarray]) -> str:
    counts: dict[str, int] = {}
    for a in tensors.values():
        counts[dtype_name(a)] = counts.get(dtype_name(a), 0) + 1
    return ", ".join(f"{n} {d}" for d, n in sorted(counts.items(), key=lambda kv: -kv[1]))


# --------------------------------------------------------------------------------------------------
# The model's other files.
# --------------------------------------------------------------------------------------------------

def copy_model_files(src: Path, dst: Path) -> list[str]:
    """Copy config, tokenizer and sentence-transformers files (module folders included) from ``src`` to
    ``dst``, following symlinks (a Hub cache snapshot is made of them). Returns what was copied."""
    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    if src.resolve() == dst.resolve():
        return []
    copied = []
    for name in MODEL_FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)
            copied.append(name)
    for sub in sorted(_module_dirs(src)):
        shutil.copytree(src / sub, dst / sub, dirs_exist_ok=True)
        copied.append(sub + "/")
    return copied


def _module_dirs(src: Path) -> set[str]:
    """Folders of sentence-transformers modules: named in modules.json, or shaped like ``1_Pooling``."""
    found = {p.name for p in src.iterdir() if p.is_dir() and _MODULE_DIR.match(p.name)}
    try:
        modules = json.loads((src / "modules.json").read_text(encoding="utf-8"))
        found |= {m["path"] for m in modules if isinstance(m, dict) and isinstance(m.get("path"), str)
                  and m["path"] and "/" not in m["path"] and ".." not in m["path"] and (src / m["path"]).is_dir()}
    except (OSError, ValueError, TypeError):
        pass  # no or unreadable modules.json: the engine will say so when it loads the model
    return found
