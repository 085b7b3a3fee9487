"""The routes: TEI's, Cohere's (and Jina's) rerank, OpenAI's embeddings; health, info and metrics.

Shapes follow the systems imitated (see the README's "Serve it over HTTP"):
  POST /rerank           TEI   {query, texts, raw_scores, return_text, truncate, truncation_direction}
                               -> [{index, score[, text]}], best first
  POST /embed            TEI   {inputs, normalize, truncate, truncation_direction} -> [[float]]
  POST /v1/rerank        Cohere v1 / Jina {model, query, documents, top_n, return_documents}
  POST /v2/rerank        Cohere v2 (the same handler: its client sends a subset)
                               -> {id, results: [{index, relevance_score[, document: {text}]}], model, usage}
  POST /v1/embeddings    OpenAI {input, model, encoding_format, dimensions, user}
                               -> {object: "list", data: [{object, index, embedding}], model, usage}
  POST /                 TEI's default route: /rerank for a body with a "query", else /embed
  GET  /health  /info  /metrics

Every request goes the same way: read the body (413 over the payload limit), parse it (422), take a slot
(429 when ``max_concurrent_requests`` are in flight), count its tokens in the tokenizer thread (422 for an
input over the model's maximum with ``truncate: false``), queue it for the model (batcher.py), answer. Scores
and vectors are the library's own for the same inputs: the batcher calls ``CrossEncoder.predict`` and
``Embedder.encode``, whose results do not depend on what else is in the call.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass

import numpy as np
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .. import __version__
from ..model.heads import l2_normalize
from ..model.ops import sigmoid
from . import schemas
from .batcher import Batcher
from .limits import Limits
from .metrics import Metrics
from .schemas import ApiError, EmbedRequest, RerankRequest


@dataclass(frozen=True)
class Served:
    """A loaded model as the routes use it."""
    kind: str  # "reranker" | "embedder"
    model: object  # CrossEncoder | Embedder
    batcher: Batcher


class ServerState:
    """What the routes share: limits, metrics, loaded models, and whether the server can answer."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.metrics = Metrics()
        self.status = "loading"  # -> "ready", or "failed" (loading failed, or a fatal error later)
        self.reason = "the models are loading"
        self.models: dict[str, Served] = {}
        self.in_flight = 0
        self.model_thread: ThreadPoolExecutor | None = None
        self.tokenizer_thread: ThreadPoolExecutor | None = None

    def install(self, reranker, embedder) -> None:
        turn = asyncio.Lock()  # one model call at a time, whichever model
        for kind, model, run in (("reranker", reranker, _rerank_call(reranker, self.limits)),
                                 ("embedder", embedder, _embed_call(embedder))):
            if model is None:
                continue
            batcher = Batcher(run, model=model.name, executor=self.model_thread, turn=turn,
                              max_batch_tokens=self.limits.max_batch_tokens,
                              max_batch_requests=self.limits.max_batch_requests, metrics=self.metrics,
                              on_fatal=self.fail)
            batcher.start()
            self.models[kind] = Served(kind, model, batcher)
        self.status, self.reason = "ready", ""

    def fail(self, reason: str) -> None:
        self.status, self.reason = "failed", reason


def create_app(reranker=None, embedder=None, *, limits: Limits | None = None,
               load: Callable[[], tuple] | None = None) -> Starlette:
    """The ASGI app serving ``reranker`` (a one-label CrossEncoder) and/or ``embedder`` (an Embedder).

    ``load``: instead of the models, a function returning ``(reranker, embedder)`` (either may be None),
    called in a thread once the server runs; /health answers 503 until it returns, and for good if it
    raises. Run the app with uvicorn (``serve`` does) or any ASGI server that runs lifespan events.
    """
    limits = limits or Limits()
    if load is None:
        check_models(reranker, embedder)
    elif reranker is not None or embedder is not None:
        raise ValueError("give the models or a load function, not both")
    state = ServerState(limits)

    @asynccontextmanager
    async def lifespan(app):
        state.model_thread = ThreadPoolExecutor(1, thread_name_prefix="minilm-np-model")
        state.tokenizer_thread = ThreadPoolExecutor(1, thread_name_prefix="minilm-np-tokenizer")
        loading = None
        if load is None:
            state.install(reranker, embedder)
        else:
            loading = asyncio.get_running_loop().create_task(_load(state, load))
        try:
            yield
        finally:  # uvicorn has stopped accepting and waited (bounded) for admitted requests
            if loading is not None:
                await asyncio.gather(loading, return_exceptions=True)
            for served in state.models.values():
                await served.batcher.close()
            state.model_thread.shutdown(wait=True)  # a model call under way finishes
            state.tokenizer_thread.shutdown(wait=True)

    def route(path: str, parse, answer):
        async def endpoint(request: Request) -> Response:
            return await _handle(state, request, path, parse, answer)
        return Route(path, endpoint, methods=["POST"])

    # async, so that they run on the event loop, which alone touches the state
    async def health(request: Request) -> Response:
        return _health(state)

    async def info(request: Request) -> Response:
        return _info(state)

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(state.metrics.render(), media_type="text/plain; version=0.0.4")

    routes = [
        route("/rerank", schemas.tei_rerank, _tei_ranks),
        route("/v1/rerank", schemas.cohere_rerank, _cohere_ranks),
        route("/v2/rerank", schemas.cohere_rerank, _cohere_ranks),
        route("/embed", schemas.tei_embed, _tei_vectors),
        route("/v1/embeddings", schemas.openai_embeddings, _openai_vectors),
        route("/", _tei_either, _tei_answer),  # TEI's default route; huggingface_hub's InferenceClient posts here
        Route("/health", health, methods=["GET"]),
        Route("/info", info, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.server = state
    return app


def check_models(reranker, embedder) -> None:
    if reranker is None and embedder is None:
        raise ValueError("nothing to serve: give a reranker, an embedder or both")
    if reranker is not None and reranker.num_labels != 1:
        raise ValueError(f"the reranker must be a one-label model (scores); {reranker.name} has "
                         f"{reranker.num_labels} labels")


async def _load(state: ServerState, load: Callable[[], tuple]) -> None:
    try:
        reranker, embedder = await asyncio.to_thread(load)
        check_models(reranker, embedder)
    except Exception as e:
        state.fail(f"the models could not be loaded: {type(e).__name__}: {e}")
        return
    state.install(reranker, embedder)


# --------------------------------------------------------------------------------------------------
# One request, start to finish
# --------------------------------------------------------------------------------------------------

class _ClientGone(Exception):
    pass


async def _handle(state: ServerState, request: Request, path: str, parse, answer) -> Response:
    metrics, limits = state.metrics, state.limits
    metrics.inc("te_request_count", route=path)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        if state.status != "ready":
            raise ApiError("Unhealthy", state.reason)
        req = parse(schemas.parse_json(await _read_body(request, limits.payload_limit)), limits)
        kind = "reranker" if isinstance(req, RerankRequest) else "embedder"
        served = state.models.get(kind)
        if served is None:
            raise ApiError("Backend", f"no {kind} is loaded: start the server with --{kind} MODEL")
        _check_dimensions(req, served.model)
        if state.in_flight >= limits.max_concurrent_requests:
            raise ApiError("Overloaded", f"Model is overloaded: {state.in_flight} requests in flight "
                                         f"(--max-concurrent-requests {limits.max_concurrent_requests})")
        state.in_flight += 1
        metrics.set("te_requests_in_flight", state.in_flight)
        try:
            tokens = await loop.run_in_executor(state.tokenizer_thread, _count_tokens, served, req)
            job = served.batcher.submit(_items(req), tokens)
            rows = await _result(served.batcher, job, request)
        finally:
            state.in_flight -= 1
            metrics.set("te_requests_in_flight", state.in_flight)
        response = JSONResponse(answer(req, rows, tokens, served.model))
    except ApiError as e:
        metrics.inc("te_request_failure", route=path, err=e.error_type.lower())
        return JSONResponse(e.body(), status_code=e.status)
    except (_ClientGone, ClientDisconnect):
        metrics.inc("te_request_failure", route=path, err="dropped")
        return Response(status_code=499)  # nobody reads it
    except asyncio.CancelledError:  # the shutdown stopped waiting for it: 503 says "try another replica", not 500
        metrics.inc("te_request_failure", route=path, err="unhealthy")
        error = ApiError("Unhealthy", f"the server is shutting down and stopped waiting for this request after "
                                      f"{limits.shutdown_timeout:g} s (--shutdown-timeout)")
        return JSONResponse(error.body(), status_code=error.status)
    metrics.inc("te_request_success", route=path)
    metrics.observe("te_request_duration", loop.time() - started, route=path)
    return response


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise _too_large(int(length), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError("Validation", f"the request body has {size} bytes or more, over the payload limit of "
                                  f"{limit} (--payload-limit)", status=413)


async def _result(batcher: Batcher, job, request: Request) -> np.ndarray:
    """The job's rows; if the client disconnects first, its inputs not yet computed are dropped."""
    gone = asyncio.ensure_future(_disconnected(request.receive))
    try:
        await asyncio.wait({job.future, gone}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # the server gave up on this request (shutdown timeout)
        batcher.cancel(job)
        raise
    finally:
        gone.cancel()
    if not job.future.done():
        batcher.cancel(job)
        raise _ClientGone
    return job.future.result()  # raises the job's ApiError if it failed


async def _disconnected(receive) -> None:
    """Returns when the client disconnects (the body has been read: nothing else arrives before)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _items(req) -> list:
    return [(req.query, t) for t in req.texts] if isinstance(req, RerankRequest) else req.texts


def _count_tokens(served: Served, req) -> list[int]:
    """Tokens each input costs the model (special tokens included, after truncation); in the tokenizer
    thread. An input over the maximum is a 422 when the request forbids truncation, or asks for a cut
    on the left (the library cuts on the right: longest-first for pairs, the end of a text)."""
    tokenizer, limit = served.model.tokenizer, served.model.max_length
    if isinstance(req, RerankRequest):  # [CLS] query [SEP] text [SEP], or RoBERTa's <s> q </s></s> t </s>
        pieces = tokenizer.pieces([req.query, *req.texts])
        lengths = [len(pieces[0]) + len(p) + tokenizer.template.pair_specials for p in pieces[1:]]
        what = "query and texts[{}] have"
    else:  # [CLS] text [SEP]
        lengths = [len(p) + tokenizer.template.single_specials for p in tokenizer.pieces(req.texts)]
        what = "inputs[{}] has"
    for i, n in enumerate(lengths):
        if n > limit and not req.truncate:
            raise ApiError("Validation", f"{what.format(i)} {n} tokens, more than the model's maximum of {limit}; "
                                         f"send \"truncate\": true to cut them")
        if n > limit and req.left:
            raise ApiError("Validation", f"{what.format(i)} {n} tokens, more than the model's maximum of {limit}, "
                                         f"and truncation_direction \"left\" is not supported: minilm-np cuts "
                                         f"on the right")
    return [min(n, limit) for n in lengths]


def _check_dimensions(req, model) -> None:
    if isinstance(req, EmbedRequest) and req.dimensions is not None and req.dimensions != model.dim:
        raise ApiError("Validation", f"`dimensions` {req.dimensions} is not supported: {model.name} gives "
                                     f"{model.dim}-dimensional vectors")


# --------------------------------------------------------------------------------------------------
# Model calls (in the model thread) and answers
# --------------------------------------------------------------------------------------------------

def _rerank_call(reranker, limits: Limits):
    if reranker is None:
        return None
    return lambda pairs: reranker.predict(pairs, long_passages=limits.long_passages,
                                          stride=limits.stride)  # raw logits, float32 [n]


def _embed_call(embedder):
    # Unit length only where the model's pipeline says so (as Embedder.encode(normalize=False));
    # the answers normalise per request.
    return None if embedder is None else (lambda texts: embedder.encode(texts, normalize=False))  # [n, dim]


def _unit(vectors: np.ndarray, model) -> np.ndarray:
    """What Embedder.encode(normalize=True) returns, from the normalize=False vectors."""
    return vectors if model.pipeline.normalize else l2_normalize(vectors)  # the first: unit length already


def _order(scores: np.ndarray) -> list[int]:
    """Best first; equal scores keep input order."""
    return np.argsort(-scores, kind="stable").tolist()


def _tei_ranks(req: RerankRequest, logits: np.ndarray, tokens: list[int], model) -> list[dict]:
    scores = logits if req.raw_scores else sigmoid(logits)
    return [{"index": i, "score": float(scores[i]), **({"text": req.texts[i]} if req.return_text else {})}
            for i in _order(scores)]


def _cohere_ranks(req: RerankRequest, logits: np.ndarray, tokens: list[int], model) -> dict:
    scores = sigmoid(logits)
    results = [{"index": i, "relevance_score": float(scores[i]),
                **({"document": {"text": req.texts[i]}} if req.return_text else {})}
               for i in _order(scores)[:req.top_n]]
    return {"id": str(uuid.uuid4()), "results": results, "model": model.name,
            "usage": {"total_tokens": sum(tokens)}}


def _tei_either(data: dict, limits: Limits):
    """POST /: TEI serves its model's own route there; here a body with a "query" is a rerank, else an embed."""
    return schemas.tei_rerank(data, limits) if "query" in data else schemas.tei_embed(data, limits)


def _tei_answer(req, rows: np.ndarray, tokens: list[int], model):
    return (_tei_ranks if isinstance(req, RerankRequest) else _tei_vectors)(req, rows, tokens, model)


def _tei_vectors(req: EmbedRequest, vectors: np.ndarray, tokens: list[int], model) -> list[list[float]]:
    return (_unit(vectors, model) if req.normalize else vectors).tolist()


def _openai_vectors(req: EmbedRequest, vectors: np.ndarray, tokens: list[int], model) -> dict:
    vectors = _unit(vectors, model)
    if req.base64:  # little-endian float32 bytes, as OpenAI (and TEI) encode them
        encoded = [base64.b64encode(v.astype("<f4").tobytes()).decode("ascii") for v in vectors]
    else:
        encoded = vectors.tolist()
    data = [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(encoded)]
    return {"object": "list", "data": data, "model": model.name,
            "usage": {"prompt_tokens": sum(tokens), "total_tokens": sum(tokens)}}


# --------------------------------------------------------------------------------------------------
# Health and info
# --------------------------------------------------------------------------------------------------

def _health(state: ServerState) -> Response:
    """200 with an empty body when every model can answer (as TEI); 503 Unhealthy while loading or after
    a fatal error."""
    if state.status == "ready":
        return Response(status_code=200)
    error = ApiError("Unhealthy", state.reason)
    return JSONResponse(error.body(), status_code=error.status)


def _info(state: ServerState) -> Response:
    """TEI's Info (router/src/lib.rs) for the first model (the reranker when there is one), so TEI clients
    read what they expect, with every served model under "models"."""
    if state.status != "ready":
        return _health(state)
    limits = state.limits
    models = [_model_info(served) for served in state.models.values()]
    return JSONResponse({
        **{k: v for k, v in models[0].items() if k != "routes"},
        "max_concurrent_requests": limits.max_concurrent_requests, "max_batch_tokens": limits.max_batch_tokens,
        "max_batch_requests": limits.max_batch_requests, "max_client_batch_size": limits.max_client_batch_size,
        "auto_truncate": limits.auto_truncate, "tokenization_workers": 1, "version": __version__, "sha": None,
        "docker_label": None, "max_rerank_documents": limits.max_rerank_documents,
        "max_embedding_inputs": limits.max_embedding_inputs, "payload_limit": limits.payload_limit,
        "models": models,
    })


def _model_info(served: Served) -> dict:
    model = served.model
    if served.kind == "reranker":
        model_type = {"reranker": {"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}}}
        routes, extra = ["/rerank", "/v1/rerank", "/v2/rerank"], {}
    else:
        model_type = {"embedding": {"pooling": "+".join(model.pipeline.pooling)}}
        routes, extra = ["/embed", "/v1/embeddings"], {"dim": model.dim}
    return {"model_id": model.name, "model_sha": None, "model_dtype": "float32", "served_model_name": model.name,
            "model_type": model_type, "max_input_length": model.max_length, **extra, "routes": routes}
