"""minilm-np over HTTP: TEI's, Cohere's and OpenAI's routes with dynamic batching (``minilm-np serve``).

    >>> from minilm_np.serve import serve
    >>> serve(reranker="L-6", embedder="sentence-transformers/all-MiniLM-L6-v2", port=8080)

or, to run the ASGI app yourself: ``create_app(reranker=ce, embedder=emb, limits=Limits(...))``.
The library never imports this package; it needs Starlette (app.py) and uvicorn (run.py), the server extra.
"""

from importlib.util import find_spec

_missing = [name for name in ("starlette", "uvicorn") if find_spec(name) is None]
if _missing:
    raise ImportError(f"minilm-np serve needs Starlette and uvicorn ({' and '.join(_missing)} not installed): "
                      f"pip install \"minilm-np[server]\"")

from .app import create_app  # noqa: E402
from .limits import Limits  # noqa: E402
from .run import load_models, serve  # noqa: E402
from .schemas import ApiError  # noqa: E402

__all__ = ["ApiError", "Limits", "create_app", "load_models", "serve"]
