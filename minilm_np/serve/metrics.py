"""Prometheus text exposition (format 0.0.4), written by hand: counters, gauges and histograms.

Names follow TEI's (router/src/prometheus.rs and the ``metrics::*!`` calls in router/ and core/), so a
dashboard built for TEI reads these too; labels say which route or model. Updated from the event loop only
(the batcher records a model call's figures after the call returns), so there is no lock.
"""

from __future__ import annotations

import bisect
import math

# TEI's buckets: durations 1e-5 * 1.5^k (k = 1..35, 15 us .. 14 min); batch sizes and tokens powers of 2.
DURATION_BUCKETS = tuple(float(f"{1e-5 * 1.5 ** k:.4g}") for k in range(1, 36))
SIZE_BUCKETS = tuple(float(2 ** k) for k in range(13))
TOKEN_BUCKETS = tuple(float(2 ** k) for k in range(21))

# name: (type, help, histogram buckets or None)
FAMILIES = {
    "te_request_count": ("counter", "Requests received, by route", None),
    "te_request_success": ("counter", "Requests answered 200, by route", None),
    "te_request_failure": ("counter", "Requests answered with an error, by route and error type "
                                      "(dropped: the client went away before its answer)", None),
    "te_request_duration": ("histogram", "Seconds from a request's arrival to its answer (200 only), by route",
                            DURATION_BUCKETS),
    "te_request_queue_duration": ("histogram", "Seconds a request waited before its first model call, by model",
                                  DURATION_BUCKETS),
    "te_request_input_length": ("histogram", "Tokens of each input the model computed (after truncation), by model",
                                TOKEN_BUCKETS),
    "te_queue_size": ("gauge", "Inputs waiting for a model call, by model", None),
    "te_requests_in_flight": ("gauge", "Requests admitted (queued or running); --max-concurrent-requests bounds it",
                              None),
    "te_batch_next_size": ("histogram", "Inputs per model call, by model", SIZE_BUCKETS),
    "te_batch_next_tokens": ("histogram", "Tokens per model call, by model (--max-batch-tokens bounds it)",
                             TOKEN_BUCKETS),
    "te_batch_inference_duration": ("histogram", "Seconds per model call, by model", DURATION_BUCKETS),
    "te_tokens_total": ("counter", "Tokens computed, by model", None),
}


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]):
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)  # the last is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value


class Metrics:
    """Values by (family name, labels); ``render()`` gives the /metrics text."""

    def __init__(self):
        self._values: dict[str, dict[tuple, float | _Histogram]] = {name: {} for name in FAMILIES}

    def inc(self, name: str, value: float = 1, **labels: str) -> None:
        series = self._values[name]
        key = tuple(sorted(labels.items()))
        series[key] = series.get(key, 0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        self._values[name][tuple(sorted(labels.items()))] = value

    def observe(self, name: str, value: float, **labels: str) -> None:
        series = self._values[name]
        key = tuple(sorted(labels.items()))
        if key not in series:
            series[key] = _Histogram(FAMILIES[name][2])
        series[key].observe(value)

    def value(self, name: str, **labels: str) -> float:
        """A counter's or gauge's current value (0 when never set); a histogram's count."""
        v = self._values[name].get(tuple(sorted(labels.items())), 0)
        return sum(v.counts) if isinstance(v, _Histogram) else v

    def render(self) -> str:
        lines = []
        for name, (kind, text, _) in FAMILIES.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            for key, v in sorted(self._values[name].items()):
                if isinstance(v, _Histogram):
                    total = 0
                    for le, count in zip((*v.buckets, math.inf), v.counts):
                        total += count
                        lines.append(f"{name}_bucket{_labels(key + (('le', _number(le)),))} {total}")
                    lines.append(f"{name}_sum{_labels(key)} {_number(v.sum)}")
                    lines.append(f"{name}_count{_labels(key)} {total}")
                else:
                    lines.append(f"{name}{_labels(key)} {_number(v)}")
        return "\n".join(lines) + "\n"


def _labels(key: tuple) -> str:
    if not key:
        return ""
    escaped = (str(v).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") for _, v in key)
    return "{" + ",".join(f'{k}="{v}"' for (k, _), v in zip(key, escaped)) + "}"


def _number(x: float) -> str:
    if x == math.inf:
        return "+Inf"
    return str(int(x)) if float(x).is_integer() else repr(float(x))
