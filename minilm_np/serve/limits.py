"""The server's limits: one frozen dataclass, each default with its reason."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..text.windows import MODES as LONG_PASSAGE_MODES


@dataclass(frozen=True)
class Limits:
    # Tokens of one model call, summed over its inputs (real tokens: minilm-np computes nothing on padding).
    # TEI's default. It bounds what one call holds and how long it runs, whatever the text lengths.
    max_batch_tokens: int = 16384
    # Requests admitted at once (queued or running); one more is answered 429. TEI's default number;
    # TEI counts inputs, here a request counts once (its inputs are bounded by the limits below).
    max_concurrent_requests: int = 512
    # Inputs of one TEI-style request (/rerank texts, /embed inputs). TEI's default.
    max_client_batch_size: int = 32
    # Documents of one /v1/rerank (and /v2/rerank) request: the 1,000 Cohere's API documents, so Cohere
    # and Jina clients that send a few hundred documents work unchanged.
    max_rerank_documents: int = 1000
    # Inputs of one /v1/embeddings request: the 2,048 OpenAI's API documents (LangChain sends 1,000).
    max_embedding_inputs: int = 2048
    # Request bodies above this many bytes get 413. TEI's default (2 MB).
    payload_limit: int = 2_000_000
    # Requests whose inputs may share one model call; None: only the token budget decides (TEI's default).
    # 1 scores one request at a time (what dynamic batching is measured against).
    max_batch_requests: int | None = None
    # Inputs over the model's maximum are cut unless a request says "truncate": false. TEI's default.
    auto_truncate: bool = True
    # Seconds a graceful shutdown waits for admitted requests; those still waiting then get 503.
    shutdown_timeout: float = 30.0
    # How the reranker reads a passage past its maximum length: "truncate" (TEI's way) or in windows,
    # "maxp" / "firstp" / "meanp", with ``stride`` pieces between window starts (CrossEncoder.predict).
    # Token budgets count a passage as truncated; the library's own batches still hold 16,384 tokens at most.
    long_passages: str = "truncate"
    stride: int | None = None

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "long_passages":
                if value not in LONG_PASSAGE_MODES:
                    raise ValueError(f"long_passages must be one of {', '.join(LONG_PASSAGE_MODES)}, got {value!r}")
                continue
            if f.name == "auto_truncate" or (f.name in ("max_batch_requests", "stride") and value is None):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{f.name} must be a positive number, got {value!r}")
