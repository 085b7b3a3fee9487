"""``download NAME [--revision R] [--dir DIR]``: fetch a model into the Hugging Face cache, ready to load.

NAME is a family size -- "L-2", "L-4", "L-6", "L-12" (cross-encoder/ms-marco-MiniLM-L-{n}-v2),
"TinyBERT-L-2" (cross-encoder/ms-marco-TinyBERT-L-2-v2) -- or any Hub id. Resolution is the engine's
own (``minilm_np.checkpoint.hub.resolve``): the standard HF cache, model.safetensors preferred, pytorch_model.bin
fetched only when the repository has no safetensors, ``HF_HUB_OFFLINE=1`` (or ``--offline``) for
cache-only. When only the .bin arrived it is converted (torch-free) to model.safetensors: into DIR with
``--dir``, otherwise next to it in the cache snapshot, so later loads memory-map it. ``--dir`` copies the
model's files (not the .bin) into DIR, a plain folder to ship or pass to ``from_pretrained``.
Without network the command fails at once with a one-line error.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from minilm_np.errors import HubError, ModelNotFoundError
from minilm_np.checkpoint.family import hub_id_for
from minilm_np.checkpoint.hub import resolve

from .convert import convert, copy_model_files


def add_arguments(parser) -> None:
    parser.add_argument("name", help='family size ("L-6", "TinyBERT-L-2", ...) or Hub id')
    parser.add_argument("--revision", help="branch, tag or commit to pin (default: main)")
    parser.add_argument("--dir", type=Path, help="also copy the model's files into this directory")
    parser.add_argument("--cache-dir", help="Hugging Face cache directory (default: the standard one)")
    parser.add_argument("--offline", action="store_true", help="use only the local cache (as HF_HUB_OFFLINE=1)")


def run(args) -> int:
    try:
        path = download(args.name, revision=args.revision, dst=args.dir, cache_dir=args.cache_dir,
                        local_files_only=True if args.offline else None)
    except HubError as e:  # the engine's advice (pass a directory, or run this command) does not fit here
        raise HubError(e.problem, e.repo_id, advice="Run this command where there is internet (without --offline "
                                                    "or HF_HUB_OFFLINE), then copy the directory it writes.") from None
    print(path)
    return 0


def download(name: str, *, revision: str | None = None, dst: Path | None = None, cache_dir: str | None = None,
             local_files_only: bool | None = None, log=print) -> Path:
    """The local directory holding ``name``, with a model.safetensors in it. Raises HubError offline."""
    repo_id = hub_id_for(name)
    snapshot = resolve(repo_id, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only)
    safetensors, torch_bin = snapshot / "model.safetensors", snapshot / "pytorch_model.bin"
    if not safetensors.is_file() and not torch_bin.is_file():
        raise ModelNotFoundError(f"{snapshot}: {repo_id} has neither model.safetensors nor pytorch_model.bin")
    if dst is None:
        if not safetensors.is_file():
            log(f"{repo_id} ships only pytorch_model.bin; converting it in {snapshot}")
            convert(snapshot, snapshot, log=log)
        return snapshot
    dst = Path(dst)
    if safetensors.is_file():
        copy_model_files(snapshot, dst)
        shutil.copyfile(safetensors, dst / "model.safetensors")  # follows the cache's symlink
    else:
        convert(snapshot, dst, overwrite=True, log=log)
    log(f"copied {repo_id}{'@' + revision if revision else ''} to {dst}")
    return dst
