"""Length-sorted batches under an item count and a token budget (minilm_np.batching)."""

from types import SimpleNamespace

import numpy as np

from minilm_np.batching import run_sorted, token_budget_batches


def test_token_budget_cuts_batches_before_they_overflow():
    assert token_budget_batches([5, 5, 5, 5], batch_size=32, max_tokens=10) == [[0, 1], [2, 3]]
    assert token_budget_batches([5, 5, 5, 5], batch_size=3, max_tokens=100) == [[0, 1, 2], [3]]
    assert token_budget_batches([50, 4, 4], batch_size=32, max_tokens=10) == [[0], [1, 2]]  # too long: alone
    assert token_budget_batches([], batch_size=4, max_tokens=10) == []


def test_run_sorted_respects_the_budget_and_returns_rows_in_input_order():
    lengths = [3, 9, 1, 7, 7, 2]
    sequences = [SimpleNamespace(ids=list(range(n))) for n in lengths]
    seen = []

    def forward(batch):
        seen.append(sum(len(s.ids) for s in batch))
        return np.array([[len(s.ids)] for s in batch], dtype=np.float32)

    out = run_sorted(sequences, forward, batch_size=4, out_shape=(1,), max_tokens=12)
    assert out[:, 0].tolist() == lengths
    assert max(seen) <= 12 and sum(seen) == sum(lengths)
