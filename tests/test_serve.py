"""minilm_np.serve: the real server (uvicorn on a free loopback port, in a thread of this process, or
`minilm-np serve` as a subprocess) talked to with real clients: httpx and huggingface_hub's InferenceClient
for TEI's routes, the official openai client for /v1/embeddings, the cohere clients for /v1/rerank and
/v2/rerank. Answers are compared with the library's for the same inputs. Every server and process started
here is stopped here.

Slow paths are made deterministic with a gate: a model wrapper whose calls wait until the test opens it,
so that requests can be queued behind a running call. Every wait is bounded.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("starlette", reason='the server needs the server extra: pip install -e ".[server]"')
uvicorn = pytest.importorskip("uvicorn", reason='the server needs the server extra: pip install -e ".[server]"')
httpx = pytest.importorskip("httpx", reason="the TEI routes are tested with httpx (the test extra)")

from minilm_np import CrossEncoder, Embedder, ModelLoadError  # noqa: E402
from minilm_np.serve import Limits, create_app, load_models  # noqa: E402
from minilm_np.serve.app import Served, _count_tokens  # noqa: E402
from minilm_np.serve.schemas import EmbedRequest, RerankRequest  # noqa: E402

from helpers import ARCHS, BLAS_ROWS_ALIKE, code_blocks, readme_sections  # noqa: E402

MODELS = Path(__file__).parent / "fixtures" / "models"
WAIT = 60.0  # seconds: the bound of every wait below (none is expected to come near it)

QUERY = "How many people live in Berlin?"
DOCS = ["Berlin had a population of 3,520,031 registered inhabitants in an area of 891.82 square kilometers.",
        "Berlin is well known for its museums.", "", "ünïcödé 北京 🙂", "the city the city the city"]
LONG = "berlin city people " * 200  # far over every model's maximum


@pytest.fixture(scope="module")
def reranker() -> CrossEncoder:
    return CrossEncoder.from_pretrained(MODELS / "tiny-ce-1")


@pytest.fixture(scope="module")
def embedder(minilm_dir) -> Embedder:
    return Embedder.from_pretrained(minilm_dir)


@pytest.fixture(scope="module")
def url(reranker, embedder):
    with running(create_app(reranker=reranker, embedder=embedder)) as base:
        yield base


@pytest.fixture
def client(url):
    with httpx.Client(base_url=url, timeout=WAIT) as c:
        yield c


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------

@contextmanager
def running(app):
    """Serve ``app`` with uvicorn on a free loopback port in a thread; stop it on exit."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, "the server to start")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(WAIT)
        sock.close()
    assert not thread.is_alive(), "the server did not stop"


def wait_for(condition, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.01)


def metric(client, name: str, **labels) -> float:
    """A counter's or gauge's value in /metrics (0 when absent); for a histogram give name + "_count"."""
    want = {f'{k}="{v}"' for k, v in labels.items()}
    for line in client.get("/metrics").text.splitlines():
        series, _, value = line.rpartition(" ")
        metric_name, _, label_text = series.partition("{")
        if metric_name == name and want <= set(label_text.rstrip("}").split(",")) - {""}:
            return float(value)
    return 0.0


class Gated:
    """A model whose calls record their inputs, then wait at ``gate`` (open unless closed), then fail if an
    input contains ``fail_on`` (raising ``error``), else return the wrapped model's answer."""

    def __init__(self, model, fail_on: str | None = None, error: type[BaseException] = ValueError):
        self._model, self._fail_on, self._error = model, fail_on, error
        self.calls: list[list] = []
        self.gate = threading.Event()
        self.gate.set()

    def __getattr__(self, name):
        return getattr(self._model, name)

    def predict(self, pairs, **options):
        self._enter(pairs)
        return self._model.predict(pairs, **options)

    def encode(self, texts, **options):
        self._enter(texts)
        return self._model.encode(texts, **options)

    def _enter(self, items) -> None:
        self.calls.append(list(items))
        if not self.gate.wait(WAIT):
            raise RuntimeError("the test never opened the gate")
        if self._fail_on is not None and self._fail_on in json.dumps(items):
            raise self._error(f"refused an input containing {self._fail_on!r}")


def post_all(url: str, requests: list[tuple[str, dict]], timeout: float = WAIT) -> list:
    """Send the requests at once, each from its own thread; their responses, in order."""
    def send(request):
        with httpx.Client(base_url=url, timeout=timeout) as c:
            return c.post(request[0], json=request[1])
    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests))


def send_later(url: str, path: str, body: dict, timeout: float = WAIT):
    """Start one request in a thread; returns the future of its response."""
    pool = ThreadPoolExecutor(1)
    future = pool.submit(lambda: httpx.post(url + path, json=body, timeout=timeout))
    pool.shutdown(wait=False)
    return future


def assert_same(got, expected) -> None:
    """The server's scores or vectors are the library's for the same inputs, within 1e-6 (the issue's bound;
    mostly bit-identical, but a float32 product may round differently by an ulp in another batch). Where BLAS
    does not treat every row alike (helpers.BLAS_ROWS_ALIKE), a row's rounding depends on its place in each
    product, and a score moves by up to ~2e-6: there the bound is the library's 1e-5 for a text in any batch."""
    np.testing.assert_allclose(np.asarray(got, dtype=np.float32), expected, rtol=0,
                               atol=1e-6 if BLAS_ROWS_ALIKE else 1e-5)


def queued(client, model: str, n: int) -> bool:
    return metric(client, "te_queue_size", model=model) == n


# --------------------------------------------------------------------------------------------------
# Health, info, metrics
# --------------------------------------------------------------------------------------------------

def test_health_info_and_metrics(client, reranker, embedder):
    health = client.get("/health")
    assert (health.status_code, health.content) == (200, b"")
    info = client.get("/info").json()
    assert info["model_id"] == reranker.name and "reranker" in info["model_type"]
    assert info["max_input_length"] == reranker.max_length
    assert (info["max_batch_tokens"], info["max_client_batch_size"], info["max_concurrent_requests"]) == \
        (16384, 32, 512)
    assert [m["model_id"] for m in info["models"]] == [reranker.name, embedder.name]
    assert info["models"][1]["model_type"] == {"embedding": {"pooling": "mean"}}
    assert info["models"][1]["dim"] == 384 and info["version"]
    client.post("/rerank", json={"query": QUERY, "texts": DOCS})
    text = client.get("/metrics").text
    for family in ("te_request_count", "te_request_success", "te_queue_size", "te_batch_next_size",
                   "te_batch_next_tokens", "te_request_duration", "te_batch_inference_duration", "te_tokens_total"):
        assert f"# TYPE {family} " in text
    assert metric(client, "te_request_success", route="/rerank") >= 1
    assert metric(client, "te_batch_next_tokens_count", model=reranker.name) >= 1


# --------------------------------------------------------------------------------------------------
# Answers equal the library's
# --------------------------------------------------------------------------------------------------

def test_the_readmes_curl_lines_are_answered_as_it_says(client):
    """Each curl command of the README's server section, sent as written (its path, its body): a 200 with
    the response the route table promises."""
    section = readme_sections()["## Serve it over HTTP"]
    lines = " ".join(b.replace("\\\n", " ") for b in code_blocks(section, "bash"))
    sent = {}
    for command in lines.replace(";", "\n").splitlines():
        if "curl" not in command:
            continue
        argv = shlex.split(command[command.index("curl"):])
        path = next(a for a in argv if a.startswith("localhost:8080")).removeprefix("localhost:8080")
        body = argv[argv.index("-d") + 1] if "-d" in argv else None
        r = client.post(path, content=body, headers={"Content-Type": "application/json"}) if body else client.get(path)
        assert r.status_code == 200, (command, r.text)
        sent[path] = r
    assert set(sent) == {"/rerank", "/embed", "/v1/rerank", "/v1/embeddings", "/health", "/info", "/metrics"}
    assert [sorted(hit) for hit in sent["/rerank"].json()] == [["index", "score", "text"]] * 2
    assert np.array(sent["/embed"].json()).shape == (2, 384)
    cohere = sent["/v1/rerank"].json()
    assert len(cohere["results"]) == 1 and set(cohere["results"][0]) == {"index", "relevance_score", "document"}
    assert len(sent["/v1/embeddings"].json()["data"][0]["embedding"]) == 384
    assert "te_request_count" in sent["/metrics"].text


def test_the_readmes_clients_run_as_written(url, monkeypatch):
    """The README's client block (OpenAI's SDK, Cohere's, huggingface_hub's TEI client, plain httpx), run
    against this server: only its address, 127.0.0.1:8080, is swapped for the test's free port."""
    for client in ("openai", "cohere"):
        pytest.importorskip(client, reason="the real clients are in the test extra")
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # as in test_huggingface_hub_inference_client
    code, = code_blocks(readme_sections()["## Serve it over HTTP"], "python")
    assert code.count("http://127.0.0.1:8080") == 4
    namespace = {}
    exec(compile(code.replace("http://127.0.0.1:8080", url), "README.md (Serve it over HTTP)", "exec"), namespace)
    assert len(namespace["vectors"]) == 1 and len(namespace["vectors"][0]) == 384  # the last client's answer
    assert len(namespace["ranked"].results) == 2  # top_n=3 of two documents


def test_the_model_thread_runs_on_single_threaded_blas(client, monkeypatch, two_blas_threads):
    """The server's model thread is not the one that first set BLAS's threads (this process's main thread
    did, in earlier calls); its forward passes must still see BLAS at one thread each, or every worker
    brings BLAS's own threads to the same cores (the server ran at half the library's speed so)."""
    from minilm_np import _encoder
    from minilm_np.threads import BLAS

    seen, encode = [], _encoder.encode_packed

    def watched(*args, **kwargs):
        seen.append([lib.num_threads for lib in BLAS.libraries])
        return encode(*args, **kwargs)

    monkeypatch.setattr(_encoder, "encode_packed", watched)
    assert client.post("/rerank", json={"query": QUERY, "texts": DOCS[:2]}).status_code == 200
    assert seen and all(threads == [1] * len(two_blas_threads) for threads in seen), seen


def test_tei_rerank_equals_the_library(client, reranker):
    pairs = [(QUERY, d) for d in DOCS]
    raw = client.post("/rerank", json={"query": QUERY, "texts": DOCS, "raw_scores": True, "return_text": True})
    assert raw.status_code == 200
    ranks = raw.json()
    expected = reranker.predict(pairs)
    assert [r["index"] for r in ranks] == np.argsort(-expected, kind="stable").tolist()  # best first
    assert [r["text"] for r in ranks] == [DOCS[r["index"]] for r in ranks]
    got = np.array([r["score"] for r in sorted(ranks, key=lambda r: r["index"])], dtype=np.float32)
    assert_same(got, expected)
    sigmoid = client.post("/rerank", json={"query": QUERY, "texts": DOCS}).json()
    assert all("text" not in r for r in sigmoid)
    got = np.array([r["score"] for r in sorted(sigmoid, key=lambda r: r["index"])], dtype=np.float32)
    assert_same(got, reranker.predict(pairs, activation="sigmoid"))


def test_tei_embed_equals_the_library(client, embedder):
    many = client.post("/embed", json={"inputs": DOCS})
    assert many.status_code == 200
    assert_same(np.array(many.json(), dtype=np.float32), embedder.encode(DOCS))
    one = client.post("/embed", json={"inputs": DOCS[0], "normalize": False}).json()  # a string -> [[...]]
    assert_same(np.array(one, dtype=np.float32), embedder.encode([DOCS[0]], normalize=False))


def test_embed_normalizes_when_the_model_does_not(tmp_path):
    """A pipeline without Normalize: normalize false gives the pooled vectors, true unit ones, as the library."""
    model_dir = shutil.copytree(MODELS / "tiny-embedder", tmp_path / "no-normalize")
    modules = json.loads((model_dir / "modules.json").read_text())
    (model_dir / "modules.json").write_text(json.dumps([m for m in modules if "Normalize" not in m["type"]]))
    emb = Embedder.from_pretrained(model_dir)
    assert not emb.pipeline.normalize
    with running(create_app(embedder=emb)) as base, httpx.Client(base_url=base, timeout=WAIT) as c:
        for normalize in (True, False):
            got = np.array(c.post("/embed", json={"inputs": DOCS, "normalize": normalize}).json(), dtype=np.float32)
            assert_same(got, emb.encode(DOCS, normalize=normalize))
        raw = np.array(c.post("/embed", json={"inputs": DOCS, "normalize": False}).json())
        assert not np.allclose(np.linalg.norm(raw, axis=1), 1)


def test_long_inputs_are_cut_like_the_library(client, reranker, embedder):
    texts = [LONG, "short"]
    ranks = client.post("/rerank", json={"query": LONG, "texts": texts, "raw_scores": True}).json()
    got = np.array([r["score"] for r in sorted(ranks, key=lambda r: r["index"])], dtype=np.float32)
    assert_same(got, reranker.predict([(LONG, t) for t in texts]))
    vectors = client.post("/embed", json={"inputs": texts, "truncate": True, "truncation_direction": "right"})
    assert_same(np.array(vectors.json(), dtype=np.float32), embedder.encode(texts))
    short = client.post("/embed", json={"inputs": ["short"], "truncation_direction": "Left"})  # nothing to cut
    assert short.status_code == 200


@pytest.mark.parametrize("reranker_dir, embedder_dir", [(MODELS / "tiny-ce-1", MODELS / "tiny-embedder"),
                                                         (ARCHS / "models" / "xlmr-ce-1",
                                                          ARCHS / "models" / "roberta-embedder")])
def test_token_counts_are_the_librarys_for_every_template(reranker_dir, embedder_dir):
    """The counts that batch requests and answer ``usage`` include the template's special tokens: 3 for a
    BERT pair, 4 for RoBERTa's <s> q </s></s> p </s>."""
    ce, emb = CrossEncoder.from_pretrained(reranker_dir), Embedder.from_pretrained(embedder_dir)
    texts = ["short", "berlin city people " * 80, ""]
    rerank = RerankRequest("berlin people", texts, truncate=True, left=False, raw_scores=True, return_text=False,
                           top_n=None)
    embed = EmbedRequest(texts, normalize=True, truncate=True, left=False, base64=False, dimensions=None)
    assert _count_tokens(Served("reranker", ce, None), rerank) == \
        [len(e.ids) for e in ce.tokenizer.encode_pairs([("berlin people", t) for t in texts])]
    assert _count_tokens(Served("embedder", emb, None), embed) == \
        [len(e.ids) for e in emb.tokenizer.encode_texts(texts)]


def test_a_server_reading_long_passages_in_windows_scores_as_the_library(reranker):
    texts = [LONG, "short", "berlin city people " * 40]
    pairs = [("berlin people", t) for t in texts]
    with running(create_app(reranker=reranker, limits=Limits(long_passages="maxp", stride=20))) as base, \
            httpx.Client(base_url=base, timeout=WAIT) as c:
        ranks = c.post("/rerank", json={"query": "berlin people", "texts": texts, "raw_scores": True}).json()
    got = np.array([r["score"] for r in sorted(ranks, key=lambda r: r["index"])], dtype=np.float32)
    assert_same(got, reranker.predict(pairs, long_passages="maxp", stride=20))
    assert not np.allclose(got, reranker.predict(pairs))  # the long passage's later windows changed its score
    with pytest.raises(ValueError, match="long_passages must be one of truncate, maxp, firstp, meanp, got 'lastp'"):
        Limits(long_passages="lastp")


def test_huggingface_hub_inference_client(url, embedder, monkeypatch):
    """huggingface_hub's InferenceClient, the TEI client LangChain uses, posts to the URL it is given:
    the root (TEI's default route) or /embed."""
    from huggingface_hub import InferenceClient, constants

    # huggingface_hub reads HF_HUB_OFFLINE once, at import (another test may have set it then), and in
    # offline mode refuses every request, even to this loopback server
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    for model in (url, url + "/embed"):
        vectors = InferenceClient(model=model, token="unused", timeout=WAIT).feature_extraction(DOCS[:2])
        assert_same(vectors, embedder.encode(DOCS[:2]))


def test_the_root_route_reranks_a_body_with_a_query(client, reranker):
    ranks = client.post("/", json={"query": QUERY, "texts": DOCS[:2], "raw_scores": True}).json()
    assert_same([r["score"] for r in sorted(ranks, key=lambda r: r["index"])],
                reranker.predict([(QUERY, d) for d in DOCS[:2]]))


# --------------------------------------------------------------------------------------------------
# Real clients: cohere (v1 and v2) and openai
# --------------------------------------------------------------------------------------------------

def test_cohere_clients_rerank(url, reranker):
    cohere = pytest.importorskip("cohere", reason="the cohere client is in the test extra")
    sigmoid = reranker.predict([(QUERY, d) for d in DOCS], activation="sigmoid")
    best = np.argsort(-sigmoid, kind="stable")
    v1 = cohere.Client(api_key="unused", base_url=url, timeout=WAIT)
    documents = [d if i % 2 else {"text": d} for i, d in enumerate(DOCS)]  # strings and {"text": ...}
    answer = v1.rerank(model="ms-marco", query=QUERY, documents=documents, top_n=3, return_documents=True)
    assert [r.index for r in answer.results] == best[:3].tolist()
    assert [r.document.text for r in answer.results] == [DOCS[i] for i in best[:3]]
    assert_same(np.array([r.relevance_score for r in answer.results], dtype=np.float32),
                                  sigmoid[best[:3]])
    assert answer.model == reranker.name and answer.usage["total_tokens"] > 0
    v2 = cohere.ClientV2(api_key="unused", base_url=url, timeout=WAIT)
    answer = v2.rerank(model="ms-marco", query=QUERY, documents=DOCS)
    assert [r.index for r in answer.results] == best.tolist()
    with pytest.raises(cohere.errors.UnprocessableEntityError, match="maximum allowed batch size 1000"):
        v1.rerank(model="ms-marco", query=QUERY, documents=["a"] * 1001)


@pytest.mark.parametrize("encoding_format", [None, "float", "base64"])
def test_openai_client_embeddings(url, embedder, encoding_format):
    """The openai client asks for base64 when no format is given and decodes it itself."""
    openai = pytest.importorskip("openai", reason="the openai client is in the test extra")
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=WAIT)
    options = {} if encoding_format is None else {"encoding_format": encoding_format}
    answer = client.embeddings.create(model="all-MiniLM-L6-v2", input=DOCS, **options)
    assert answer.object == "list" and answer.model == embedder.name
    assert [d.index for d in answer.data] == list(range(len(DOCS)))
    if encoding_format == "base64":  # the client hands the string back as it came
        vectors = np.stack([np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in answer.data])
    else:
        vectors = np.array([d.embedding for d in answer.data], dtype=np.float32)
    assert_same(vectors, embedder.encode(DOCS))
    tokens = sum(len(p) + 2 for p in embedder.tokenizer.pieces(DOCS))
    assert answer.usage.prompt_tokens == answer.usage.total_tokens == tokens
    single = client.embeddings.create(model="m", input="one text", encoding_format="float")
    assert_same(np.array(single.data[0].embedding, dtype=np.float32), embedder.encode("one text"))


def test_openai_client_sees_the_errors(url):
    openai = pytest.importorskip("openai", reason="the openai client is in the test extra")
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=WAIT)
    with pytest.raises(openai.UnprocessableEntityError, match="422"):
        client.embeddings.create(model="m", input=["a"] * 2049)
    with pytest.raises(openai.UnprocessableEntityError, match="422") as caught:
        client.embeddings.create(model="m", input=[], encoding_format="float")
    assert caught.value.body == "`input` cannot be empty"  # the client keeps the "error" field


# --------------------------------------------------------------------------------------------------
# Every error status
# --------------------------------------------------------------------------------------------------

def _escaped(body: dict) -> bytes:
    """``body`` as JSON bytes with every non-ASCII character escaped, lone surrogates included."""
    return json.dumps(body, ensure_ascii=True).encode("ascii")


@pytest.mark.parametrize("path, body, error_type, message", [
    ("/rerank", b"{not json", "Validation", "not valid JSON"),
    ("/rerank", b"[1, 2]", "Validation", "must be a JSON object, got array"),
    ("/rerank", b"[" * 100_000 + b"]" * 100_000, "Validation", "nests arrays or objects too deeply"),  # was a 500
    ("/v1/rerank", b'{"query": "q", "documents": ["a"], "top_n": 1' + b"0" * 5000 + b"}", "Validation",
     "^the request body holds an integer of more than 4,300 digits$"),  # not Python's sys.set_int_max_str_digits
    ("/v1/rerank", b'{"query": "q", "documents": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "Validation",
     "nests arrays or objects too deeply"),
    ("/rerank", {"texts": ["a"]}, "Validation", "missing field `query`"),
    ("/rerank", {"query": 3, "texts": ["a"]}, "Validation", "`query`: expected a string, got integer"),
    ("/rerank", {"query": "q", "texts": "a"}, "Validation", "`texts`: expected an array of strings"),
    ("/rerank", {"query": "q", "texts": ["a", None]}, "Validation", r"`texts\[1\]`: expected a string, got null"),
    ("/rerank", {"query": "q", "texts": ["a"], "raw_scores": "yes"}, "Validation", "`raw_scores`: expected a boolean"),
    ("/rerank", {"query": "q", "texts": []}, "Empty", "`texts` cannot be empty"),
    ("/rerank", {"query": "q", "texts": ["a"] * 33}, "Validation", "batch size 33 > maximum allowed batch size 32"),
    ("/rerank", {"query": "q", "texts": [LONG], "truncate": False}, "Validation", "more than the model's maximum"),
    ("/rerank", {"query": "q", "texts": [LONG], "truncation_direction": "left"}, "Validation",
     "\"left\" is not supported"),
    ("/rerank", {"query": "q", "texts": ["a"], "truncation_direction": "up"}, "Validation", "`truncation_direction`"),
    ("/embed", {"inputs": [[101, 102]]}, "Validation", "token ids are not accepted"),
    ("/embed", {"inputs": []}, "Empty", "`inputs` cannot be empty"),
    ("/embed", {"inputs": ["a"] * 33}, "Validation", "batch size 33 > maximum allowed batch size 32"),
    ("/embed", {"inputs": [LONG], "truncate": False}, "Validation", r"inputs\[0\] has \d+ tokens"),
    ("/embed", {"inputs": "a", "prompt_name": "query"}, "Validation", "`prompt_name` is not supported"),
    ("/embed", {"inputs": "a", "dimensions": 128}, "Validation", "`dimensions` 128 is not supported"),
    ("/v1/rerank", {"query": "q", "documents": [{"title": "no text"}]}, "Validation", r"`documents\[0\]`"),
    ("/v1/rerank", {"query": "q", "documents": ["a"], "top_n": 0}, "Validation", "`top_n` must be a positive"),
    ("/v1/rerank", {"query": "q", "documents": []}, "Empty", "`documents` cannot be empty"),
    ("/v1/embeddings", {"input": ["a"], "encoding_format": "int8"}, "Validation", "`encoding_format`"),
    ("/v1/embeddings", {"input": ["a"] * 2049}, "Validation", "maximum allowed batch size 2048"),
    # JSON may escape half of a UTF-16 pair alone; sent as such (httpx's json= would refuse to encode it)
    ("/rerank", _escaped({"query": "\ud800", "texts": ["a"]}), "Validation",
     r"`query` is not valid Unicode text.*\\ud800"),
    ("/rerank", _escaped({"query": "q", "texts": ["a", "b\udc00"]}), "Validation",
     r"`texts\[1\]` is not valid Unicode"),
    ("/embed", _escaped({"inputs": "\udfff"}), "Validation", r"`inputs` is not valid Unicode text"),
    ("/v1/rerank", _escaped({"query": "q", "documents": [{"text": "\ud83d"}]}), "Validation",
     r"`documents\[0\]\.text` is not valid Unicode"),
    ("/v1/embeddings", _escaped({"input": ["ok", "\ud83d"]}), "Validation", r"`input\[1\]` is not valid Unicode"),
])
def test_bad_requests_get_422_in_tei_shape(client, path, body, error_type, message):
    response = client.post(path, content=body) if isinstance(body, bytes) else client.post(path, json=body)
    assert response.status_code == 422
    assert set(response.json()) == {"error", "error_type"}
    assert response.json()["error_type"] == error_type
    assert re.search(message, response.json()["error"]), response.json()["error"]


# Bodies as a client might get them wrong: a valid body whose fields (the routes' own, and "text") hold any
# JSON, nested a little: strings with any code point (lone surrogates included, sent as JSON escapes), numbers
# past int64 or NaN, lists where strings belong and strings where lists do.
_FIELDS = ("query", "texts", "documents", "inputs", "input", "truncate", "truncation_direction", "raw_scores",
           "return_text", "top_n", "return_documents", "normalize", "dimensions", "encoding_format", "model", "user",
           "prompt_name", "text")
_TEXT = st.one_of(st.text(st.characters(blacklist_categories=()), max_size=12),  # any code point
                  st.sampled_from(["\ud800", "a \udcff", "\x00", "", " ", "word " * 300]))  # and known trouble
_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2, 2**70), st.floats(allow_nan=True), _TEXT,
                  st.sampled_from(["left", "Right", "base64", "float", "berlin"]))
_JSON = st.recursive(_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.lists(_TEXT, min_size=1, max_size=3),
    st.dictionaries(st.sampled_from(_FIELDS), inner, max_size=3)),
                     max_leaves=10)


_VALID = {"/": {"query": "berlin", "texts": ["a city", "people"]}, "/rerank": {"query": "berlin", "texts": ["a city"]},
          "/embed": {"inputs": ["a city", "people"]}, "/v1/rerank": {"query": "q", "documents": ["a", {"text": "b"}]},
          "/v2/rerank": {"query": "q", "documents": ["a"]}, "/v1/embeddings": {"input": ["a city"]}}


_TEXT_FIELDS = ("query", "texts", "documents", "inputs", "input")
_CHANGES = st.one_of(st.dictionaries(st.sampled_from(_FIELDS), _JSON, max_size=3),  # any field, any JSON
                     st.dictionaries(st.sampled_from(_TEXT_FIELDS), _TEXT | st.lists(_TEXT, min_size=1, max_size=3),
                                     min_size=1, max_size=2))  # the texts themselves, where the models read them


@settings(max_examples=200, deadline=None, derandomize=True,  # the same 200 bodies on every run
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(sorted(_VALID)), changes=_CHANGES)
def test_no_request_body_gets_a_server_error(client, route, changes):
    """A valid body with fields changed to any JSON: an answer or a 4xx in TEI's error shape, never a 500
    (a lone surrogate in a text gave one before)."""
    body = {**_VALID[route], **changes}
    response = client.post(route, content=json.dumps(body, allow_nan=True).encode("ascii"))
    assert response.status_code in (200, 413, 422), (body, response.text)
    if response.status_code != 200:
        assert set(response.json()) == {"error", "error_type"}


def test_a_body_over_the_payload_limit_gets_413(reranker):
    with running(create_app(reranker=reranker, limits=Limits(payload_limit=1000))) as base, \
            httpx.Client(base_url=base, timeout=WAIT) as c:
        declared = c.post("/rerank", json={"query": "q", "texts": ["x" * 2000]})  # Content-Length says so
        assert declared.status_code == 413 and declared.json()["error_type"] == "Validation"
        chunked = c.post("/rerank", content=iter([b'{"query": "q", "texts": ["', b"x" * 2000, b'"]}']))
        assert chunked.status_code == 413 and "payload limit of 1000" in chunked.json()["error"]
        assert c.post("/rerank", json={"query": "q", "texts": ["x"]}).status_code == 200


def test_a_route_whose_model_is_not_loaded_gets_424(reranker):
    with running(create_app(reranker=reranker)) as base, httpx.Client(base_url=base, timeout=WAIT) as c:
        response = c.post("/embed", json={"inputs": "a"})
        assert response.status_code == 424
        assert response.json() == {"error": "no embedder is loaded: start the server with --embedder MODEL",
                                   "error_type": "Backend"}


def test_a_full_server_answers_429_and_recovers(reranker):
    gated = Gated(reranker)
    gated.gate.clear()
    limits = Limits(max_concurrent_requests=2)
    with running(create_app(reranker=gated, limits=limits)) as base, httpx.Client(base_url=base, timeout=WAIT) as c:
        first = send_later(base, "/rerank", {"query": "q", "texts": ["a"]})
        wait_for(lambda: len(gated.calls) == 1, "the first request to reach the model")
        second = send_later(base, "/rerank", {"query": "q", "texts": ["b"]})
        wait_for(lambda: queued(c, reranker.name, 1), "the second request to queue")
        refused = c.post("/rerank", json={"query": "q", "texts": ["c"]})
        assert refused.status_code == 429
        assert refused.json()["error_type"] == "Overloaded" and "Model is overloaded" in refused.json()["error"]
        gated.gate.set()
        assert first.result(WAIT).status_code == second.result(WAIT).status_code == 200
        assert c.post("/rerank", json={"query": "q", "texts": ["c"]}).status_code == 200
        assert metric(c, "te_request_failure", route="/rerank", err="overloaded") == 1


def test_health_is_503_while_loading_then_200(reranker):
    release = threading.Event()

    def load():
        if not release.wait(WAIT):
            raise RuntimeError("never released")
        return reranker, None

    with running(create_app(load=load)) as base, httpx.Client(base_url=base, timeout=WAIT) as c:
        loading = c.get("/health")
        assert loading.status_code == 503
        assert loading.json() == {"error": "the models are loading", "error_type": "Unhealthy"}
        assert c.post("/rerank", json={"query": "q", "texts": ["a"]}).status_code == 503
        assert c.get("/info").status_code == 503
        release.set()
        wait_for(lambda: c.get("/health").status_code == 200, "the models to load")
        assert c.post("/rerank", json={"query": "q", "texts": ["a"]}).status_code == 200


def test_health_is_503_when_loading_fails():
    def load():
        raise ModelLoadError("model directory not found: /nowhere")

    with running(create_app(load=load)) as base, httpx.Client(base_url=base, timeout=WAIT) as c:
        wait_for(lambda: "not found" in c.get("/health").text, "loading to fail")
        health = c.get("/health")
        assert health.status_code == 503 and health.json()["error_type"] == "Unhealthy"
        assert "ModelLoadError: model directory not found: /nowhere" in health.json()["error"]


def test_a_fatal_model_error_makes_the_server_unhealthy(reranker):
    gated = Gated(reranker, fail_on="explode", error=MemoryError)
    with running(create_app(reranker=gated)) as base, httpx.Client(base_url=base, timeout=WAIT) as c:
        assert c.get("/health").status_code == 200
        response = c.post("/rerank", json={"query": "q", "texts": ["explode"]})
        assert response.status_code == 503 and response.json()["error_type"] == "Unhealthy"
        health = c.get("/health")
        assert health.status_code == 503 and "MemoryError" in health.json()["error"]
        assert c.post("/rerank", json={"query": "q", "texts": ["fine"]}).status_code == 503


# --------------------------------------------------------------------------------------------------
# Batching, isolation, disconnects
# --------------------------------------------------------------------------------------------------

def test_requests_waiting_together_share_one_call_within_the_token_budget(reranker):
    """While the model is busy, requests queue; the next call takes them in arrival order, up to the token
    budget, splitting a request across calls when needed; every answer is the library's."""
    gated = Gated(reranker)
    gated.gate.clear()
    queries = [f"query {i}" for i in range(5)]
    texts = [["berlin city"], ["the people live", "in berlin"], ["museums"], ["a b c", "d e f", "g"], ["x"]]
    pairs = [(q, x) for q, t in zip(queries, texts) for x in t]
    budget = sum(len(e.ids) for e in reranker.tokenizer.encode_pairs(pairs)) - 1  # all but the last: two calls
    with running(create_app(reranker=gated, limits=Limits(max_batch_tokens=budget))) as base, \
            httpx.Client(base_url=base, timeout=WAIT) as c:
        blocker = send_later(base, "/rerank", {"query": "block", "texts": ["blocking"]})
        wait_for(lambda: len(gated.calls) == 1, "the first call")
        answers = []
        for q, t in zip(queries, texts):  # one after the other, so that they queue in this order
            answers.append(send_later(base, "/rerank", {"query": q, "texts": t, "raw_scores": True}))
            waiting = sum(len(x) for x in texts[:len(answers)])
            wait_for(lambda: queued(c, reranker.name, waiting), f"request {len(answers)} to queue")
        gated.gate.set()
        assert blocker.result(WAIT).status_code == 200
        for q, t, answer in zip(queries, texts, answers):
            ranks = answer.result(WAIT).json()
            got = np.array([r["score"] for r in sorted(ranks, key=lambda r: r["index"])], dtype=np.float32)
            assert_same(got, reranker.predict([(q, x) for x in t]))
    calls = gated.calls[1:]
    assert len(calls) == 2  # 8 pairs from five requests in two calls, not five
    assert [pair for call in calls for pair in call] == pairs
    for call in calls:
        assert sum(len(e.ids) for e in reranker.tokenizer.encode_pairs(call)) <= budget


def test_one_bad_request_fails_alone(reranker):
    """A call that raises is run again request by request: only the request at fault gets 424."""
    gated = Gated(reranker, fail_on="poison")
    gated.gate.clear()
    with running(create_app(reranker=gated)) as base, httpx.Client(base_url=base, timeout=WAIT) as c:
        blocker = send_later(base, "/rerank", {"query": "q", "texts": ["block"]})
        wait_for(lambda: len(gated.calls) == 1, "the first call")
        bad = send_later(base, "/rerank", {"query": "q", "texts": ["fine", "poison"]})
        wait_for(lambda: queued(c, reranker.name, 2), "the bad request to queue")
        good = send_later(base, "/rerank", {"query": "q", "texts": ["also fine"], "raw_scores": True})
        wait_for(lambda: queued(c, reranker.name, 3), "the good request to queue")
        gated.gate.set()
        assert blocker.result(WAIT).status_code == 200
        failed = bad.result(WAIT)
        assert failed.status_code == 424 and failed.json()["error_type"] == "Backend"
        assert "refused an input containing 'poison'" in failed.json()["error"]
        good = good.result(WAIT)
        assert good.status_code == 200
        assert_same(np.float32(good.json()[0]["score"]), reranker.predict(("q", "also fine")))
        assert c.get("/health").status_code == 200
    assert gated.calls[1] == [("q", "fine"), ("q", "poison"), ("q", "also fine")]  # they shared a call


def test_a_client_that_disconnects_costs_nothing_more(reranker):
    gated = Gated(reranker)
    gated.gate.clear()
    with running(create_app(reranker=gated)) as base, httpx.Client(base_url=base, timeout=WAIT) as c:
        blocker = send_later(base, "/rerank", {"query": "q", "texts": ["block"]})
        wait_for(lambda: len(gated.calls) == 1, "the first call")
        impatient = send_later(base, "/rerank", {"query": "q", "texts": ["gone"] * 20}, timeout=0.5)
        with pytest.raises(httpx.ReadTimeout, match="timed out"):
            impatient.result(WAIT)
        wait_for(lambda: metric(c, "te_request_failure", route="/rerank", err="dropped") == 1, "the drop")
        assert queued(c, reranker.name, 0)  # its inputs left the queue
        gated.gate.set()
        assert blocker.result(WAIT).status_code == 200
        after = c.post("/rerank", json={"query": "q", "texts": ["after"]})
        assert after.status_code == 200
    assert all(("q", "gone") not in call for call in gated.calls)  # never computed


def test_load_models_skips_an_optional_model_that_cannot_load(reranker):
    ce, emb = load_models(str(MODELS / "tiny-ce-1"), "/nowhere/embedder", optional=["embedder"])
    assert emb is None and ce.name == reranker.name
    with pytest.raises(ModelLoadError, match="no model could be loaded: reranker /nowhere/r"):
        load_models("/nowhere/r", "/nowhere/e", optional=["reranker", "embedder"])
    with pytest.raises(ModelLoadError, match="/nowhere/e"):
        load_models(str(MODELS / "tiny-ce-1"), "/nowhere/e")  # not optional


def test_each_loaded_model_is_warmed_up_by_one_call_before_it_is_served(monkeypatch):
    calls = []

    def record(cls, method):
        real = getattr(cls, method)

        def call(self, items, *args, **kwargs):
            calls.append((cls.__name__, list(items)))
            return real(self, items, *args, **kwargs)
        monkeypatch.setattr(cls, method, call)

    record(CrossEncoder, "predict")
    record(Embedder, "encode")
    load_models(str(MODELS / "tiny-ce-1"), str(MODELS / "tiny-embedder"))
    assert calls == [("CrossEncoder", [("warm up", "warm up")]), ("Embedder", ["warm up"])]


def test_the_served_models_run_the_kernels_asked_for_and_a_bad_name_stops_before_the_port_opens():
    from minilm_np.serve import serve
    ce, emb = load_models(str(MODELS / "tiny-ce-1"), str(MODELS / "tiny-embedder"), kernels="numpy")
    assert ce.kernels == emb.kernels == "numpy"
    with pytest.raises(ValueError, match="kernels must be one of 'numpy', 'numba', not 'cuda'"):
        serve(reranker=str(MODELS / "tiny-ce-1"), embedder=None, port=1, kernels="cuda")  # port 1 is never opened
    for port in (70000, -1, True, "8080"):  # bind() raised OverflowError from inside asyncio for the first two
        with pytest.raises(ValueError, match=f"port must be an integer from 0 to 65535 .*, got {port!r}"):
            serve(reranker=str(MODELS / "tiny-ce-1"), embedder=None, port=port)
    with pytest.raises(ValueError, match="cannot listen on 999.1.1.1:0: "):  # uvicorn logged it, exited 3
        serve(reranker=str(MODELS / "tiny-ce-1"), embedder=None, host="999.1.1.1", port=0)


def test_a_multi_label_model_is_refused_as_reranker():
    with pytest.raises(ValueError, match="one-label model"):
        create_app(reranker=CrossEncoder.from_pretrained(MODELS / "tiny-ce-3"))
    with pytest.raises(ValueError, match="nothing to serve"):
        create_app()


# --------------------------------------------------------------------------------------------------
# `minilm-np serve` as a separate process: a load test (32 concurrent clients, mixed lengths, 320
# requests), graceful shutdown on SIGTERM and SIGINT, and how the command starts or refuses to
# --------------------------------------------------------------------------------------------------

PEAK_RSS_MB = 600  # the load test's bound on the server's peak resident memory (measured: 370 MB)
WORDS = ("berlin paris city people live population museum river area square kilometers inhabitants the of "
         "in a is has many how registered known for its well history wall capital germany europe").split()


@contextmanager
def server_process(*options: str, home: Path, wait_healthy: bool = True):
    """``python -m minilm_np serve OPTIONS --port P`` with an empty, offline Hugging Face cache; yields
    (process, base url, its stderr file); stops it (SIGTERM, then SIGKILL after WAIT) on exit."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(home / "hf")}
    log = home / "server.log"  # a file, not a pipe: the access log must never fill a pipe and block the server
    with open(log, "w") as err:
        process = subprocess.Popen([sys.executable, "-m", "minilm_np", "serve", *options, "--port", str(port)],
                                   env=env, stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://127.0.0.1:{port}"
    try:
        if wait_healthy:
            wait_for(lambda: _healthy(url) or process.poll() is not None, "the server to be healthy")
            assert process.poll() is None, log.read_text()
        yield process, url, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(WAIT)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no /proc/PID/status VmHWM on this system")


def text(rng: random.Random, long: bool) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(150, 320) if long else rng.randint(3, 25)))


def test_load_32_clients_every_answer_is_the_librarys(tmp_path, minilm_dir, reranker, embedder):
    """320 requests from 32 concurrent clients (half /rerank on the tiny cross-encoder, half /embed on the
    real all-MiniLM-L6-v2; a quarter of the texts longer than the models' maximum): none fails or is lost,
    each equals the library's answer to the same request alone, and the server's peak RSS stays under
    PEAK_RSS_MB."""
    rng = random.Random(0)
    payloads = []
    for i in range(40):  # 40 distinct requests, each sent 8 times
        texts = [text(rng, long=rng.random() < 0.25) for _ in range(rng.randint(1, 32 if i % 2 else 4))]
        payloads.append(("/rerank", {"query": text(rng, long=False), "texts": texts, "raw_scores": True})
                        if i % 2 else ("/embed", {"inputs": texts}))
    expected = [reranker.predict([(body["query"], t) for t in body["texts"]]) if path == "/rerank"
                else embedder.encode(body["inputs"]) for path, body in payloads]
    requests = [i % len(payloads) for i in range(320)]
    rng.shuffle(requests)

    with server_process("--reranker", str(MODELS / "tiny-ce-1"), "--embedder", str(minilm_dir),
                        home=tmp_path) as (process, url, log):
        def client(share: list[int]) -> list[tuple[int, int, object]]:
            with httpx.Client(base_url=url, timeout=WAIT) as c:
                return [(k, (r := c.post(payloads[k][0], json=payloads[k][1])).status_code, r.json()) for k in share]

        with ThreadPoolExecutor(32) as pool:
            answers = [a for share in pool.map(client, [requests[i::32] for i in range(32)]) for a in share]
        peak = peak_rss_mb(process.pid)
        with httpx.Client(base_url=url, timeout=WAIT) as c:
            calls = sum(metric(c, "te_batch_next_size_count", model=m.name) for m in (reranker, embedder))

    assert len(answers) == len(requests) and sorted(k for k, _, _ in answers) == sorted(requests)
    assert {status for _, status, _ in answers} == {200}
    for k, _, body in answers:
        if payloads[k][0] == "/rerank":
            got = np.array([r["score"] for r in sorted(body, key=lambda r: r["index"])], dtype=np.float32)
        else:
            got = np.array(body, dtype=np.float32)
        assert_same(got, expected[k])
    assert peak < PEAK_RSS_MB, f"the server's peak RSS was {peak:.0f} MB"
    assert 0 < calls < len(requests)  # requests shared model calls


def signalled_with_requests_in_flight(tmp_path, minilm_dir, sig, *options: str):
    """An embedding server (``options`` added) sent ``sig`` once three /embed requests, one model call of ~1 s,
    are admitted: (how many were unanswered at the signal, their answers, the exit status, the server's url)."""
    rng = random.Random(1)
    bodies = [{"inputs": [text(rng, long=True) for _ in range(8)]} for _ in range(3)]
    with server_process("--embedder", str(minilm_dir), "--reranker", "none", *options,
                        home=tmp_path) as (process, url, log):
        with ThreadPoolExecutor(len(bodies)) as pool, httpx.Client(base_url=url, timeout=WAIT) as c:
            futures = [pool.submit(httpx.post, url + "/embed", json=b, timeout=WAIT) for b in bodies]
            wait_for(lambda: metric(c, "te_requests_in_flight") == len(bodies), "every request to be admitted")
            process.send_signal(sig)
            unanswered = sum(not f.done() for f in futures)
            answers = [f.result() for f in futures]
        return unanswered, answers, process.wait(WAIT), url


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_shuts_down_gracefully(tmp_path, minilm_dir, sig):
    """Requests admitted before the signal are answered; then the port closes and the process exits 0."""
    unanswered, answers, status, url = signalled_with_requests_in_flight(tmp_path, minilm_dir, sig)
    assert status == 0
    assert unanswered >= 2 and [a.status_code for a in answers] == [200] * len(answers)
    with pytest.raises(httpx.ConnectError, match="refused"):
        httpx.get(url + "/health", timeout=5)


def test_requests_the_shutdown_stops_waiting_for_get_503(tmp_path, minilm_dir):
    """Past --shutdown-timeout the requests still waiting are answered 503 with TEI's error body (uvicorn's
    cancellation had made them 500s, which says "bug" to a client rather than "try another replica")."""
    _, answers, status, _ = signalled_with_requests_in_flight(tmp_path, minilm_dir, signal.SIGTERM,
                                                              "--shutdown-timeout", "0.2")
    assert status == 0
    refused = [a for a in answers if a.status_code != 200]  # a model call that ended within 0.2 s answered
    assert refused and all(a.status_code == 503 for a in refused), [a.status_code for a in answers]
    assert all(a.json() == {"error": "the server is shutting down and stopped waiting for this request after 0.2 s "
                                     "(--shutdown-timeout)", "error_type": "Unhealthy"} for a in refused)


def test_a_default_model_that_cannot_load_is_skipped_and_said(tmp_path):
    """Offline with an empty cache the default L-6 reranker cannot be loaded: the server starts with the
    embedder, says so on stderr, and /rerank answers 424."""
    with server_process("--embedder", str(MODELS / "tiny-embedder"), home=tmp_path) as (process, url, log):
        assert httpx.post(url + "/embed", json={"inputs": "a text"}, timeout=WAIT).status_code == 200
        assert httpx.post(url + "/rerank", json={"query": "q", "texts": ["a"]}, timeout=WAIT).status_code == 424
        info = httpx.get(url + "/info", timeout=WAIT).json()
        assert [m["model_type"] for m in info["models"]] == [{"embedding": {"pooling": "mean"}}]
    said = log.read_text()
    assert "the reranker L-6 cannot be loaded (model 'cross-encoder/ms-marco-MiniLM-L-6-v2' offline" in said
    # the advice says how to pass a directory to the server, not to from_pretrained
    assert "e.g. reranker='/path/to/model-dir' (--reranker DIR on the command line)" in said
    assert f"serving the embedder {(MODELS / 'tiny-embedder').resolve()} only" in said
    assert process.returncode == 0


def test_model_errors_stop_the_command_with_one_line(tmp_path):
    with server_process("--reranker", str(tmp_path / "nowhere"), "--embedder", "none", home=tmp_path,
                        wait_healthy=False) as (process, url, log):
        assert process.wait(WAIT) == 1
    last = log.read_text().strip().splitlines()[-1]
    assert last.startswith("minilm-np: error: model directory not found:") and str(tmp_path / "nowhere") in last
    with server_process("--reranker", str(MODELS / "tiny-ce-3"), "--embedder", "none", home=tmp_path,
                        wait_healthy=False) as (process, url, log):
        assert process.wait(WAIT) == 1
    assert log.read_text().strip().splitlines()[-1].startswith(
        "minilm-np: error: the reranker must be a one-label model (scores);")
    refused = subprocess.run([sys.executable, "-m", "minilm_np", "serve", "--reranker", "none", "--embedder", "none"],
                             capture_output=True, text=True, timeout=WAIT)
    assert (refused.returncode, refused.stderr) == (
        1, "minilm-np: error: nothing to serve: give a reranker, an embedder or both\n")


def test_without_the_server_extra_the_command_says_what_to_install():
    blocked = "import sys; sys.modules['uvicorn'] = None; from minilm_np.cli import main; sys.exit(main(['serve']))"
    result = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, timeout=WAIT)
    assert (result.returncode, result.stderr) == (1, 'minilm-np: error: minilm-np serve needs Starlette and uvicorn '
                                                     '(uvicorn not installed): pip install "minilm-np[server]"\n')
