"""Length-sorted batches under an item count and a token budget (minilm_np.batching)."""

from types import SimpleNamespace

import numpy as np

from minilm_np.batching import batches_for_workers, run_sorted, token_budget_batches


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


def test_shared_work_comes_in_enough_batches_but_not_tiny_ones():
    assert batches_for_workers(128, 2) == 16  # 8 batches: 4 per worker
    assert batches_for_workers(512, 2) == 64  # run_sorted keeps batch_size (32) below this
    assert batches_for_workers(40, 2) == 16  # never smaller than 16...
    assert batches_for_workers(20, 2) == 10  # ...unless that would leave a worker without a batch
    assert batches_for_workers(1, 2) == 1


def test_two_workers_split_a_small_input_into_balanced_batches():
    sequences = [SimpleNamespace(ids=list(range(n))) for n in range(1, 129)]
    sizes = []

    def forward(batch):
        sizes.append(len(batch))
        return np.array([[len(s.ids)] for s in batch], dtype=np.float32)

    out = run_sorted(sequences, forward, batch_size=32, out_shape=(1,), workers=2)
    assert out[:, 0].tolist() == list(range(1, 129)) and sorted(sizes) == [16] * 8
