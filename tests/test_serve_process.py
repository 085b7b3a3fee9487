"""``minilm-np serve`` as a separate process: a load test (32 concurrent clients, mixed lengths, 320 requests),
graceful shutdown on SIGTERM and SIGINT, and how the command starts or refuses to. Every process started
here is stopped here; every wait is bounded.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette", reason='the server needs the server extra: pip install -e ".[server]"')
pytest.importorskip("uvicorn", reason='the server needs the server extra: pip install -e ".[server]"')
httpx = pytest.importorskip("httpx", reason="the server is tested with httpx (the test extra)")

from minilm_np import CrossEncoder, Embedder  # noqa: E402

MODELS = Path(__file__).parent / "fixtures" / "models"
WAIT = 60.0  # seconds: the bound of every wait below
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


def wait_for(condition, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.05)


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


def test_load_32_clients_every_answer_is_the_librarys(tmp_path, minilm_dir):
    """320 requests from 32 concurrent clients (half /rerank on the tiny cross-encoder, half /embed on the
    real all-MiniLM-L6-v2; a quarter of the texts longer than the models' maximum): none fails or is lost, each equals
    the library's answer to the same request alone, and the server's peak RSS stays under PEAK_RSS_MB."""
    rng = random.Random(0)
    payloads = []
    for i in range(40):  # 40 distinct requests, each sent 8 times
        texts = [text(rng, long=rng.random() < 0.25) for _ in range(rng.randint(1, 32 if i % 2 else 4))]
        payloads.append(("/rerank", {"query": text(rng, long=False), "texts": texts, "raw_scores": True})
                        if i % 2 else ("/embed", {"inputs": texts}))
    ce, emb = CrossEncoder.from_pretrained(MODELS / "tiny-ce-1"), Embedder.from_pretrained(minilm_dir)
    expected = [ce.predict([(body["query"], t) for t in body["texts"]]) if path == "/rerank"
                else emb.encode(body["inputs"]) for path, body in payloads]
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
        metrics = httpx.get(url + "/metrics", timeout=WAIT).text

    assert len(answers) == len(requests) and sorted(k for k, _, _ in answers) == sorted(requests)
    assert {status for _, status, _ in answers} == {200}
    for k, _, body in answers:
        if payloads[k][0] == "/rerank":
            got = np.array([r["score"] for r in sorted(body, key=lambda r: r["index"])], dtype=np.float32)
        else:
            got = np.array(body, dtype=np.float32)
        np.testing.assert_allclose(got, expected[k], rtol=0, atol=1e-6)
    assert peak < PEAK_RSS_MB, f"the server's peak RSS was {peak:.0f} MB"
    calls = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                if line.startswith("te_batch_next_size_count"))
    assert calls < len(requests)  # requests shared model calls


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_shuts_down_gracefully(tmp_path, minilm_dir, sig):
    """Requests admitted before the signal are answered; then the port closes and the process exits 0."""
    rng = random.Random(1)
    bodies = [{"inputs": [text(rng, long=True) for _ in range(12)]} for _ in range(4)]  # ~1 s of work each
    with server_process("--embedder", str(minilm_dir), "--reranker", "none", home=tmp_path) as (process, url, log):
        with ThreadPoolExecutor(len(bodies)) as pool:
            futures = [pool.submit(httpx.post, url + "/embed", json=b, timeout=WAIT) for b in bodies]
            wait_for(lambda: _in_flight(url) == len(bodies), "every request to be admitted")
            process.send_signal(sig)
            unanswered = sum(not f.done() for f in futures)
            statuses = [f.result().status_code for f in futures]
        assert process.wait(WAIT) == 0
        assert unanswered >= 2 and statuses == [200] * len(bodies)
        with pytest.raises(httpx.ConnectError, match="refused"):
            httpx.get(url + "/health", timeout=5)


def _in_flight(url: str) -> float:
    for line in httpx.get(url + "/metrics", timeout=WAIT).text.splitlines():
        if line.startswith("te_requests_in_flight "):
            return float(line.split()[1])
    return 0.0


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
    assert f"serving the embedder {(MODELS / 'tiny-embedder').resolve()} only" in said
    assert process.returncode == 0


def test_model_errors_stop_the_command_with_one_line(tmp_path):
    with server_process("--reranker", str(tmp_path / "nowhere"), "--embedder", "none", home=tmp_path,
                        wait_healthy=False) as (process, url, log):
        assert process.wait(WAIT) == 1
    last = log.read_text().strip().splitlines()[-1]
    assert last.startswith("minilm-np: error: model directory not found:") and str(tmp_path / "nowhere") in last
    refused = subprocess.run([sys.executable, "-m", "minilm_np", "serve", "--reranker", "none", "--embedder", "none"],
                             capture_output=True, text=True, timeout=WAIT)
    assert (refused.returncode, refused.stderr) == (
        1, "minilm-np: error: nothing to serve: give a reranker, an embedder or both\n")
