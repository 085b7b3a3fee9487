"""Dynamic batching: requests that arrive together share model calls, under a token budget.

After TEI's queue (core/src/queue.rs): a model call takes waiting inputs in arrival order while their tokens
stay within ``max_batch_tokens``, skips requests whose client has gone, and a request whose inputs do not
all fit is split across consecutive calls. Budgeting tokens rather than inputs bounds what one call holds
and how long it runs, whatever the text lengths: 16,384 tokens are 300 short pairs or 32 of 512 tokens.

Model calls run in one worker thread, off the event loop, so the server keeps answering (health, metrics,
new requests) while the model computes; inside a call the library spreads its length-sorted sub-batches
over the cores itself. Several models (the reranker and the embedder) take turns on that one thread
through a shared lock, and each forms its batch only once the thread is free, so a call always takes
everything that arrived while the previous one ran.

Results go back to each request in its own input order. If a call fails, each request in it is run again
on its own, so an input that breaks the model fails only its own request (424, Backend). A MemoryError,
or an error in the batcher itself, is fatal: every waiting request gets 503 and ``on_fatal`` is told.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from .metrics import Metrics
from .schemas import ApiError


@dataclass(eq=False)
class Job:
    """One request's inputs on their way through the model."""
    items: list  # what the model function takes: (query, passage) pairs or texts
    tokens: list[int]  # each item's cost in the token budget
    future: asyncio.Future  # -> float32 [n, ...]: one row per item, in item order
    queued_at: float = field(default_factory=time.perf_counter)
    taken: int = 0  # items handed to model calls so far
    received: int = 0  # rows back so far
    out: np.ndarray | None = None


class Batcher:
    """One model's queue. ``submit`` from the event loop; ``start`` the scheduling task once the loop runs."""

    def __init__(self, run: Callable[[list], np.ndarray], *, model: str, executor: Executor, turn: asyncio.Lock,
                 max_batch_tokens: int, max_batch_requests: int | None, metrics: Metrics,
                 on_fatal: Callable[[str], None]):
        self._run_model = run  # items -> float32 [len(items), ...], in the worker thread
        self.model = model
        self._executor = executor
        self._turn = turn  # held while this model's call runs: one model call at a time, whatever the model
        self._budget = max_batch_tokens
        self._max_requests = max_batch_requests
        self._metrics = metrics
        self._on_fatal = on_fatal
        self._queue: deque[Job] = deque()
        self._waiting = 0  # inputs not yet handed to a model call
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._schedule(), name=f"batcher {self.model}")

    async def close(self) -> None:
        """Stop scheduling; whatever still waits gets 503 (the server is going down)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._fail_all(ApiError("Unhealthy", "the server is shutting down"))

    def submit(self, items: list, tokens: list[int]) -> Job:
        job = Job(items, tokens, asyncio.get_running_loop().create_future())
        self._queue.append(job)
        self._count_waiting(len(items))
        self._wake.set()
        return job

    def cancel(self, job: Job) -> None:
        """The client went away: what is not yet computed never will be."""
        if not job.future.done():
            job.future.cancel()
        self._count_waiting(-(len(job.items) - job.taken))
        job.taken = len(job.items)

    # ----------------------------------------------------------------------------------------------

    async def _schedule(self) -> None:
        try:
            while True:
                if not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                async with self._turn:
                    batch = self._take()
                    if batch:
                        await self._call(batch)
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # MemoryError, or a bug here: nothing queued can be trusted to finish
            message = f"fatal error in the {self.model} worker: {type(e).__name__}: {e}"
            self._on_fatal(message)
            self._fail_all(ApiError("Unhealthy", message))

    def _take(self) -> list[tuple[Job, int, int]]:
        """(job, start, end) slices for the next model call, in arrival order, within the token budget;
        at least one input, so an input longer than the budget cannot block the queue."""
        batch, total = [], 0
        while self._queue:
            job = self._queue[0]
            if job.future.done() or job.taken == len(job.items):  # cancelled, failed or fully taken
                self._queue.popleft()
                continue
            if self._max_requests is not None and len(batch) == self._max_requests:
                break
            start = end = job.taken
            while end < len(job.items) and (total + job.tokens[end] <= self._budget or total == 0):
                total += job.tokens[end]
                end += 1
            if end == start:
                break
            if start == 0:
                self._metrics.observe("te_request_queue_duration", time.perf_counter() - job.queued_at,
                                      model=self.model)
            batch.append((job, start, end))
            job.taken = end
            self._count_waiting(start - end)
            if end < len(job.items):  # the budget is spent: the rest of this job goes in the next call
                break
            self._queue.popleft()
        return batch

    async def _call(self, batch: list[tuple[Job, int, int]]) -> None:
        items = [item for job, start, end in batch for item in job.items[start:end]]
        loop = asyncio.get_running_loop()
        try:
            rows, seconds = await loop.run_in_executor(self._executor, _timed, self._run_model, items)
        except MemoryError:
            for job, _, _ in batch:
                _fail(job, ApiError("Unhealthy", "the model ran out of memory"))
            raise
        except Exception as e:
            if len(batch) == 1:
                _fail(batch[0][0], ApiError("Backend", f"Backend error: {type(e).__name__}: {e}"))
                return
            for part in batch:  # find the request at fault: each runs again on its own
                await self._call([part])
            return
        tokens = sum(t for job, start, end in batch for t in job.tokens[start:end])
        self._metrics.observe("te_batch_next_size", len(items), model=self.model)
        self._metrics.observe("te_batch_next_tokens", tokens, model=self.model)
        self._metrics.observe("te_batch_inference_duration", seconds, model=self.model)
        self._metrics.inc("te_tokens_total", tokens, model=self.model)
        offset = 0
        for job, start, end in batch:
            part = rows[offset:offset + end - start]
            offset += end - start
            for t in job.tokens[start:end]:
                self._metrics.observe("te_request_input_length", t, model=self.model)
            if job.future.done():  # the client went away meanwhile
                continue
            if job.out is None:
                job.out = np.empty((len(job.items), *rows.shape[1:]), dtype=rows.dtype)
            job.out[start:end] = part
            job.received += end - start
            if job.received == len(job.items):
                job.future.set_result(job.out)

    def _count_waiting(self, change: int) -> None:
        self._waiting += change
        self._metrics.set("te_queue_size", self._waiting, model=self.model)

    def _fail_all(self, error: ApiError) -> None:
        while self._queue:
            _fail(self._queue.popleft(), error)
        self._count_waiting(-self._waiting)


def _timed(run: Callable[[list], np.ndarray], items: list) -> tuple[np.ndarray, float]:
    """In the worker thread: the model call, checked, and its duration."""
    start = time.perf_counter()
    rows = run(items)
    if not np.isfinite(rows).all():
        raise FloatingPointError("the model returned NaN or infinite values")
    return rows, time.perf_counter() - start


def _fail(job: Job, error: ApiError) -> None:
    if not job.future.done():
        job.future.set_exception(error)
