"""Request bodies -> typed requests, and the errors clients see.

Errors take TEI's shape (>= 1.9, router/src/lib.rs ``ErrorResponse``): ``{"error": "...", "error_type":
"Validation" | "Tokenizer" | "Empty" | "Overloaded" | "Backend" | "Unhealthy"}``. Statuses follow TEI's
``From<&ErrorType> for StatusCode`` (router/src/http/server.rs) except Empty, which the issue asks to be 422
like every other malformed body (TEI answers 400); a body over the payload limit is 413.

Every field is checked here, before anything is queued or tokenized, and a wrong one is named with its JSON
type: ``invalid type for `texts[2]`: expected a string, got integer``. A string with a lone surrogate (a
``"\\ud800"`` escape without its pair: valid JSON, not text) is refused the same way. Unknown fields are
ignored, as TEI's serde structs and Cohere's and OpenAI's APIs ignore them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..validate import lone_surrogate
from .limits import Limits

STATUS = {"Validation": 422, "Tokenizer": 422, "Empty": 422, "Overloaded": 429, "Backend": 424, "Unhealthy": 503}


class ApiError(Exception):
    """An error answered to the client: ``status`` and the JSON body ``{"error", "error_type"}``."""

    def __init__(self, error_type: str, message: str, status: int | None = None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = STATUS[error_type] if status is None else status

    def body(self) -> dict:
        return {"error": self.message, "error_type": self.error_type}


@dataclass(frozen=True)
class RerankRequest:
    """POST /rerank (TEI) or /v1/rerank (Cohere, Jina): one query against ``texts``."""
    query: str
    texts: list[str]
    truncate: bool  # False: an input over the model's maximum is a 422 instead of being cut
    left: bool  # truncation_direction "left" (refused when a cut is needed, see app.py)
    raw_scores: bool  # False: sigmoid, 0..1
    return_text: bool
    top_n: int | None  # Cohere: keep the best n


@dataclass(frozen=True)
class EmbedRequest:
    """POST /embed (TEI) or /v1/embeddings (OpenAI)."""
    texts: list[str]
    normalize: bool
    truncate: bool
    left: bool
    base64: bool  # OpenAI encoding_format "base64": little-endian float32 bytes
    dimensions: int | None  # accepted only when it is the model's own dimension


def parse_json(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        if "integer string conversion" in str(e):  # Python's own limit, with advice meant for its programmer
            raise ApiError("Validation", "the request body holds an integer of more than 4,300 digits") from None
        raise ApiError("Validation", f"the request body is not valid JSON: {e}") from None
    except RecursionError:  # arrays or objects nested thousands deep: Python's parser recurses
        raise ApiError("Validation", "the request body nests arrays or objects too deeply to parse") from None
    if not isinstance(data, dict):
        raise ApiError("Validation", f"the request body must be a JSON object, got {_kind(data)}")
    return data


def tei_rerank(data: dict, limits: Limits) -> RerankRequest:
    """TEI's RerankRequest (router/src/http/types.rs): query, texts, truncate, truncation_direction,
    raw_scores, return_text."""
    query = _string(data, "query")
    texts = _strings(_required(data, "texts"), "texts")
    _check_count(texts, "texts", limits.max_client_batch_size)
    return RerankRequest(query=query, texts=texts,
                         truncate=_flag(data, "truncate", limits.auto_truncate), left=_left(data),
                         raw_scores=_flag(data, "raw_scores", False), return_text=_flag(data, "return_text", False),
                         top_n=None)


def cohere_rerank(data: dict, limits: Limits) -> RerankRequest:
    """Cohere's rerank (v1 and v2) and Jina's: model, query, documents (strings or {"text": ...}), top_n,
    return_documents. Scores are relevance scores in 0..1 (sigmoid), as Cohere documents them."""
    _optional_string(data, "model")
    query = _string(data, "query")
    documents = _required(data, "documents")
    if not isinstance(documents, list):
        raise ApiError("Validation", f"invalid type for `documents`: expected an array, got {_kind(documents)}")
    texts = [_document_text(d, i) for i, d in enumerate(documents)]
    _check_count(texts, "documents", limits.max_rerank_documents)
    top_n = data.get("top_n")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise ApiError("Validation", f"`top_n` must be a positive integer, got {json.dumps(top_n)}")
    return RerankRequest(query=query, texts=texts, truncate=limits.auto_truncate, left=False,
                         raw_scores=False, return_text=_flag(data, "return_documents", False), top_n=top_n)


def tei_embed(data: dict, limits: Limits) -> EmbedRequest:
    """TEI's EmbedRequest: inputs (a string or a list), normalize (default true), truncate,
    truncation_direction, dimensions; prompt_name only when null (these models have no prompts)."""
    if data.get("prompt_name") is not None:
        raise ApiError("Validation", "`prompt_name` is not supported: the model defines no prompts")
    texts = _one_or_many(_required(data, "inputs"), "inputs")
    _check_count(texts, "inputs", limits.max_client_batch_size)
    return EmbedRequest(texts=texts, normalize=_flag(data, "normalize", True),
                        truncate=_flag(data, "truncate", limits.auto_truncate), left=_left(data), base64=False,
                        dimensions=_dimensions(data))


def openai_embeddings(data: dict, limits: Limits) -> EmbedRequest:
    """OpenAI's embeddings request: input (a string or a list of strings), model, encoding_format
    ("float" | "base64"), dimensions, user. Vectors are unit length, as OpenAI's are."""
    _optional_string(data, "model")
    _optional_string(data, "user")
    texts = _one_or_many(_required(data, "input"), "input")
    _check_count(texts, "input", limits.max_embedding_inputs)
    encoding = data.get("encoding_format")
    if encoding not in (None, "float", "base64"):
        raise ApiError("Validation", f"`encoding_format` must be \"float\" or \"base64\", got {json.dumps(encoding)}")
    return EmbedRequest(texts=texts, normalize=True, truncate=limits.auto_truncate, left=False,
                        base64=encoding == "base64", dimensions=_dimensions(data))


# --------------------------------------------------------------------------------------------------
# Fields
# --------------------------------------------------------------------------------------------------

def _kind(value) -> str:
    """The JSON type of a parsed value, for messages."""
    if value is None:
        return "null"
    for types, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                        (list, "array"), (dict, "object")):
        if isinstance(value, types):
            return name
    return type(value).__name__


def _required(data: dict, key: str):
    if data.get(key) is None:
        raise ApiError("Validation", f"missing field `{key}`")
    return data[key]


def _string(data: dict, key: str) -> str:
    value = _required(data, key)
    if not isinstance(value, str):
        raise ApiError("Validation", f"invalid type for `{key}`: expected a string, got {_kind(value)}")
    return _text(value, key)


def _text(value: str, field: str) -> str:
    """A JSON string that is text: JSON may escape half of a UTF-16 pair alone, which no tokenizer reads."""
    at = lone_surrogate(value)
    if at is not None:
        raise ApiError("Validation", f"`{field}` is not valid Unicode text: it has a lone surrogate, "
                                     f"\\u{ord(value[at]):04x}, at character {at}")
    return value


def _optional_string(data: dict, key: str) -> None:
    if data.get(key) is not None:
        _string(data, key)


def _flag(data: dict, key: str, default: bool) -> bool:
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ApiError("Validation", f"invalid type for `{key}`: expected a boolean, got {_kind(value)}")
    return value


def _strings(value, field: str) -> list[str]:
    if not isinstance(value, list):
        raise ApiError("Validation", f"invalid type for `{field}`: expected an array of strings, got {_kind(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ApiError("Validation", f"invalid type for `{field}[{i}]`: expected a string, got {_kind(item)}"
                                         + (" (token ids are not accepted; send text)" if _kind(item) in
                                            ("integer", "array") else ""))
        _text(item, f"{field}[{i}]")
    return value


def _one_or_many(value, field: str) -> list[str]:
    return [_text(value, field)] if isinstance(value, str) else _strings(value, field)


def _document_text(document, i: int) -> str:
    if isinstance(document, str):
        return _text(document, f"documents[{i}]")
    if isinstance(document, dict) and isinstance(document.get("text"), str):
        return _text(document["text"], f"documents[{i}].text")
    raise ApiError("Validation", f"invalid type for `documents[{i}]`: expected a string or an object with a "
                                 f"string `text`, got {_kind(document)}")


def _check_count(items: list, field: str, limit: int) -> None:
    if not items:
        raise ApiError("Empty", f"`{field}` cannot be empty")
    if len(items) > limit:
        raise ApiError("Validation", f"batch size {len(items)} > maximum allowed batch size {limit} (`{field}`)")


def _left(data: dict) -> bool:
    """TEI's truncation_direction: "right" (default) or "left", either capitalised."""
    value = data.get("truncation_direction")
    if value is None or value in ("right", "Right"):
        return False
    if value in ("left", "Left"):
        return True
    raise ApiError("Validation", f"`truncation_direction` must be \"right\" or \"left\", got {json.dumps(value)}")


def _dimensions(data: dict) -> int | None:
    value = data.get("dimensions")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ApiError("Validation", f"`dimensions` must be a positive integer, got {json.dumps(value)}")
    return value
