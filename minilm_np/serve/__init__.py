"""minilm-np over HTTP: TEI's, Cohere's and OpenAI's routes with dynamic batching (``minilm-np serve``).

    >>> from minilm_np.serve import serve
    >>> serve(reranker="L-6", embedder="sentence-transformers/all-MiniLM-L6-v2", port=8080)

or, to run the ASGI app yourself: ``create_app(reranker=ce, embedder=emb, limits=Limits(...))``.
The library never imports this package; it needs Starlette and uvicorn (``pip install "minilm-np[server]"``).
"""

try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as e:
    raise ImportError(f"minilm-np serve needs Starlette and uvicorn ({e.name} is not installed): "
                      f"pip install \"minilm-np[server]\"") from None

from .app import create_app
from .limits import Limits
from .run import load_models, serve
from .schemas import ApiError

__all__ = ["ApiError", "Limits", "create_app", "load_models", "serve"]
