"""Length-sorted batches under an item count and a token budget (minilm_np.batching)."""

from types import SimpleNamespace

import numpy as np

from minilm_np.batching import batches_for_workers, dealt_batches, run_sorted, token_budget_batches

from helpers import most_at_once


def batch_tokens(lengths, workers, batch_size=32, max_tokens=16384):
    """The token count of each batch ``run_sorted`` hands to ``forward``, in the order it hands them."""
    sequences = [SimpleNamespace(ids=list(range(n))) for n in lengths]
    seen = []

    def forward(batch):
        seen.append(sum(len(s.ids) for s in batch))
        return np.array([[len(s.ids)] for s in batch], dtype=np.float32)

    out = run_sorted(sequences, forward, batch_size=batch_size, out_shape=(1,), workers=workers,
                     max_tokens=max_tokens)
    assert out[:, 0].tolist() == list(lengths)
    return seen


def test_token_budget_cuts_batches_before_they_overflow():
    assert token_budget_batches([5, 5, 5, 5], batch_size=32, max_tokens=10) == [[0, 1], [2, 3]]
    assert token_budget_batches([5, 5, 5, 5], batch_size=3, max_tokens=100) == [[0, 1, 2], [3]]
    assert token_budget_batches([50, 4, 4], batch_size=32, max_tokens=10) == [[0], [1, 2]]  # too long: alone
    assert token_budget_batches([], batch_size=4, max_tokens=10) == []


def test_run_sorted_respects_the_budget_and_returns_rows_in_input_order():
    lengths = [3, 9, 1, 7, 7, 2]
    seen = batch_tokens(lengths, workers=1, batch_size=4, max_tokens=12)  # checks the rows' order too
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


def test_two_workers_get_equal_work_from_a_request_of_two_batches():
    """32 texts make two batches for two workers. Cut from the sorted order, the first would hold the 16
    longest (392 tokens against 136); dealt, each holds about half, and both workers finish together."""
    lengths = np.random.default_rng(0).permutation(np.arange(1, 33)).tolist()
    tokens = batch_tokens(lengths, workers=2)
    assert len(tokens) == 2 and max(tokens) - min(tokens) <= 1
    assert sorted(batch_tokens(lengths, workers=1)) == [sum(lengths)]  # one worker: one batch, as before


def test_batches_are_dealt_only_when_too_few_to_even_out():
    assert len(batch_tokens(range(1, 49), workers=2)) == 4  # 3 batches of 16 -> 4 equal ones, 2 a worker
    assert sorted(batch_tokens(range(1, 97), workers=2)) == [sum(range(1, 97)[i:i + 16]) for i in range(0, 96, 16)]


def test_dealt_batches_keep_every_limit():
    lengths = sorted(np.random.default_rng(1).integers(1, 600, size=200).tolist(), reverse=True)
    batches = dealt_batches(lengths, 8, batch_size=32, max_tokens=2048)
    assert sorted(i for b in batches for i in b) == list(range(200))
    assert all(len(b) <= 32 and sum(lengths[i] for i in b) <= 2048 for b in batches)
    assert all(b == sorted(b) for b in batches)  # each longest first, as the sorted input
    tokens = [sum(lengths[i] for i in b) for b in batches]
    assert tokens == sorted(tokens, reverse=True)


def test_dealt_batches_open_a_batch_when_none_has_room():
    assert dealt_batches([9, 6, 5, 5], 2, batch_size=4, max_tokens=10) == [[2, 3], [0], [1]]  # most tokens first
    assert dealt_batches([50, 4, 4], 2, batch_size=4, max_tokens=10) == [[0], [1, 2]]  # over the budget: alone
    assert dealt_batches([3, 3, 3], 2, batch_size=1, max_tokens=10) == [[0], [1], [2]]  # full by count
    assert dealt_batches([], 2, batch_size=4, max_tokens=10) == []


def most_batches_at_once(slots, callers: int = 6) -> int:
    """The most forwards running at once while ``callers`` threads each make a two-worker call of four batches
    (``slots`` shared by all the calls, or None)."""
    from concurrent.futures import ThreadPoolExecutor

    forward, most = most_at_once(lambda batch: np.zeros((len(batch), 1), np.float32), pause=0.02)
    sequences = [SimpleNamespace(ids=[0] * 5) for _ in range(64)]
    with ThreadPoolExecutor(callers) as app:
        list(app.map(lambda _: run_sorted(sequences, forward, batch_size=16, out_shape=(1,), workers=2,
                                          slots=slots), range(callers)))
    return most[0]


def test_calls_sharing_slots_run_no_more_batches_at_once_than_there_are_slots():
    """An app's threads each calling one model: without a shared bound every call ran its own workers (32 app
    threads on 2 cores: 0.73x the throughput, +1.5 GB); a model's calls share its slots."""
    import threading
    assert most_batches_at_once(None) > 2  # what each call's own workers would do together
    assert most_batches_at_once(threading.BoundedSemaphore(2)) == 2
