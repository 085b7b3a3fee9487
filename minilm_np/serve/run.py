"""``serve``: load the models and run the app with uvicorn until SIGTERM or SIGINT."""

from __future__ import annotations

import copy
import logging
import signal
import socket
import threading
from collections.abc import Collection
from contextlib import contextmanager

import uvicorn

from .. import CrossEncoder, Embedder, HubError, ModelLoadError
from ..model import kernels as kernel_sets
from .app import check_models, create_app
from .limits import Limits

log = logging.getLogger("minilm_np.serve")


def serve(*, reranker: str | None, embedder: str | None,
          optional: Collection[str] = (), host: str = "127.0.0.1", port: int = 8080, log_level: str = "info",
          kernels: str = "numpy", **limits) -> None:
    """Serve ``reranker`` and ``embedder`` (directories, Hub ids or family sizes; None: not served) at
    http://host:port until SIGTERM or SIGINT, then shut down gracefully and return.

    The port opens at once; the models load in the background (/health answers 503 until they have).
    ``optional``: "reranker" and/or "embedder" may be skipped, with a warning, when they cannot be
    loaded. A model that is not optional and cannot be loaded, or no model at all, stops the server and
    raises ModelLoadError (or ValueError for a reranker with more than one label). ``limits``: the fields
    of ``Limits`` (max_batch_tokens, max_concurrent_requests, max_client_batch_size, payload_limit, ...).
    ``kernels``: the models' element-wise kernels, "numpy" or "numba" (checked before the port opens).
    """
    limits = Limits(**limits)
    kernel_sets.by_name(kernels)  # an unknown name, or numba absent, fails here and not in the background
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer from 0 to 65535 (0: any free port), got {port!r}")
    try:  # a host that does not resolve, said in one line before anything starts (uvicorn logs it and exits 3)
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise ValueError(f"cannot listen on {host}:{port}: {e.strerror if isinstance(e, OSError) else e}") from None
    if reranker is None and embedder is None:
        raise ValueError("nothing to serve: give a reranker, an embedder or both")
    failure: list[BaseException] = []

    def load():
        try:
            models = load_models(reranker, embedder, optional=optional, kernels=kernels)
            check_models(*models)
            return models
        except BaseException as e:  # stop the server; serve() raises it once uvicorn has shut down
            failure.append(e)
            server.should_exit = True
            raise

    config = uvicorn.Config(create_app(load=load, limits=limits), host=host, port=port, log_level=log_level,
                            log_config=_log_config(), timeout_graceful_shutdown=limits.shutdown_timeout,
                            lifespan="on")
    server = _Server(config)
    server.run()
    if failure:
        raise failure[0]


def load_models(reranker: str | None, embedder: str | None, *, optional: Collection[str] = (),
                kernels: str = "numpy") -> tuple:
    """(CrossEncoder or None, Embedder or None), each warmed up; see ``serve`` for ``optional``."""
    loaded, skipped = {}, []
    for kind, name, cls in (("reranker", reranker, CrossEncoder), ("embedder", embedder, Embedder)):
        if name is None:
            continue
        try:
            loaded[kind] = warm_up(cls.from_pretrained(name, kernels=kernels))
        except ModelLoadError as e:
            if isinstance(e, HubError):  # the advice in the server's terms, not from_pretrained(...)'s
                e = HubError(e.problem, e.repo_id, how=f"{kind}='/path/to/model-dir' (--{kind} DIR on the command "
                                                      f"line)")
            if kind not in optional:
                raise e from None
            skipped.append(f"{kind} {name}: {_one_line(e)}")
            log.warning("the %s %s cannot be loaded (%s)", kind, name, _one_line(e))
    if not loaded:
        raise ModelLoadError("no model could be loaded: " + "; ".join(skipped))
    if skipped:
        log.warning("serving the %s only", " and the ".join(f"{k} {m.name}" for k, m in loaded.items()))
    return loaded.get("reranker"), loaded.get("embedder")


def warm_up(model):
    """``model`` after one call on one short input, so that no request pays for first-call work and /health
    turns ready only once requests run at full speed. With ``kernels="numba"`` that work is compiling the
    loops (about 3 s) or loading them from numba's cache (about 0.3 s); with NumPy's kernels, milliseconds."""
    if isinstance(model, CrossEncoder):
        model.predict([("warm up", "warm up")])
    else:
        model.encode(["warm up"])
    return model


class _Server(uvicorn.Server):
    """uvicorn's server, except that a SIGTERM or SIGINT it caught is not raised again once it has shut
    down gracefully (uvicorn re-raises it, so the process would die by the signal instead of exiting 0)."""

    @contextmanager
    def capture_signals(self):
        if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _log_config() -> dict:
    """uvicorn's logging, with this package's warnings (models skipped) on the same stderr handler."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["minilm_np.serve"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
