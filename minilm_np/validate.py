"""Argument checks shared by the public API: wrong types and shapes become TypeError/ValueError that
name the offending position, before anything reaches the tokenizer or NumPy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .errors import BadCountError


def check_text(value, where: str) -> str:
    """A str that is Unicode text: a lone surrogate (a JSON "\\ud800" escape without its pair, or bytes a
    file or command line could not decode, kept by Python's surrogateescape) is a ValueError naming where it
    is, not an error from inside the tokenizer."""
    if not isinstance(value, str):
        raise TypeError(f"{where} must be a str, got {type(value).__name__}")
    at = lone_surrogate(value)
    if at is not None:
        raise ValueError(f"{where} is not valid Unicode text: it has a lone surrogate, U+{ord(value[at]):04X}, "
                         f"at character {at} (half of a UTF-16 pair, or a byte that could not be decoded)")
    return value


def lone_surrogate(text: str) -> int | None:
    """Index of the first code point in U+D800..U+DFFF, which UTF-8 cannot write, or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return e.start
    return None


def check_texts(texts, where: str = "texts") -> list[str]:
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Iterable):
        raise TypeError(f"{where} must be a list of str, got {type(texts).__name__}")
    return [check_text(t, f"{where}[{i}]") for i, t in enumerate(texts)]


def check_pairs(pairs, where: str = "pairs") -> list[tuple[str, str]]:
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Iterable):
        raise TypeError(f"{where} must be a list of (query, passage) pairs, got {type(pairs).__name__}")
    checked = []
    for i, pair in enumerate(pairs):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            what = f"a {type(pair).__name__} of length {len(pair)}" if isinstance(pair, Sequence) \
                else f"a {type(pair).__name__}"
            raise ValueError(f"{where}[{i}] must be a (query, passage) pair, got {what}")
        checked.append((check_text(pair[0], f"{where}[{i}][0] (query)"),
                        check_text(pair[1], f"{where}[{i}][1] (passage)")))
    return checked


def is_single_pair(pairs) -> bool:
    """("query", "passage") given where a list of pairs was expected."""
    return isinstance(pairs, (tuple, list)) and len(pairs) == 2 and all(isinstance(p, str) for p in pairs)


def check_positive_int(value, where: str) -> int:
    """The one check for counts and cut-offs (batch_size, top_k, k, --top-n, ...): anything but an int
    above zero (a bool included) is a ``BadCountError`` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise BadCountError(f"{where} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise BadCountError(f"{where} must be positive, got {value}")
    return int(value)


def check_device(device) -> None:
    """None, "cpu" or torch's device("cpu"): the CPU, where this runs; anything else a ValueError."""
    if device is not None and str(device) != "cpu":
        raise ValueError(f"device={device!r}: minilm-np runs on the CPU (device None or 'cpu')")


def check_query(query, where: str = "query") -> str:
    """A search query: a str with something in it besides whitespace."""
    check_text(query, where)
    if not query.strip():
        raise ValueError(f"{where} is empty")
    return query
