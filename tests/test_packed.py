"""The forward that runs (packed tokens, fused QKV, in-place ops) against the plain padded reference."""

import dataclasses

import numpy as np
import pytest

from minilm_np import CrossEncoder
from minilm_np.model import reference
from minilm_np.model.heads import classify
from minilm_np.model.ops import gelu, gelu_
from minilm_np.model.packed import PackedBatch, encode_packed

from helpers import KERNELS, assert_batch_invariant, make_checkpoint

PAIRS = [("how many people live in berlin", "berlin is the city " * 3), ("", ""), ("abc", "x y z " * 40),
         ("the", "s"), ("a b c d e f g h i j k l m n o p q r s t u v w x y z " * 2, "the people")]


@pytest.fixture(scope="module")
def ce(tmp_path_factory):
    return CrossEncoder.from_pretrained(make_checkpoint(tmp_path_factory.mktemp("m"), seed=3))


def test_packed_hidden_states_equal_the_padded_reference(ce):
    encodings = ce.tokenizer.encode_pairs(PAIRS)
    b = ce.tokenizer.pad(encodings)
    assert (b.attention_mask == 0).any()  # the batch really is padded
    padded = reference.encode(ce.checkpoint.weights, ce.config, b.input_ids, b.attention_mask, b.token_type_ids)
    batch = PackedBatch.from_sequences(encodings)
    packed = encode_packed(ce._model, batch)
    real = b.attention_mask.astype(bool)
    assert packed.shape == (real.sum(), ce.config.hidden_size)
    assert packed.dtype == np.float32  # no silent float64 promotion anywhere in the layers
    assert [e - s for s, e in batch.spans] == real.sum(1).tolist()
    np.testing.assert_allclose(packed, padded[real], atol=2e-5, rtol=0)


def test_first_only_equals_the_reference_first_states(ce):
    """The last layer on the [CLS] rows alone (keys and values still from every token)."""
    encodings = ce.tokenizer.encode_pairs(PAIRS)
    b = ce.tokenizer.pad(encodings)
    padded = reference.encode(ce.checkpoint.weights, ce.config, b.input_ids, b.attention_mask, b.token_type_ids)
    first = encode_packed(ce._model, PackedBatch.from_sequences(encodings), first_only=True)
    assert first.shape == (len(PAIRS), ce.config.hidden_size) and first.dtype == np.float32
    np.testing.assert_allclose(first, padded[:, 0], atol=2e-5, rtol=0)


def test_blocks_group_whole_sequences_up_to_the_row_count():
    batch = PackedBatch.from_sequences([_Seq(n) for n in (3, 4, 2, 9, 1)])  # rows 0-3, 3-7, 7-9, 9-18, 18-19
    assert batch.blocks(7) == [(0, 7, [(0, 3), (3, 7)]), (7, 9, [(0, 2)]), (9, 18, [(0, 9)]), (18, 19, [(0, 1)])]
    assert batch.blocks(100) == [(0, 19, batch.spans)]
    assert batch.blocks(1) == [(s, e, [(0, e - s)]) for s, e in batch.spans]  # each sequence alone


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("block_rows", [1, 20, 45])
def test_a_layer_in_blocks_of_rows_equals_it_in_one_block_bit_for_bit(ce, monkeypatch, kernels, block_rows):
    """Every row's values are the same whether its layer runs on the whole batch or on blocks of it: bit for bit
    where BLAS treats every row alike (the products see other row counts), elsewhere within 1e-5."""
    from minilm_np.model import kernels as kernel_sets, packed
    model = dataclasses.replace(ce._model, kernels=kernel_sets.by_name(kernels))
    batch = PackedBatch.from_sequences(ce.tokenizer.encode_pairs(PAIRS))  # 5 sequences of 3 to 32 rows
    whole = encode_packed(model, batch), encode_packed(model, batch, first_only=True)
    monkeypatch.setattr(packed, "_BLOCK_ROWS", block_rows)
    assert len(batch.blocks(block_rows)) > 1
    blocked = encode_packed(model, batch), encode_packed(model, batch, first_only=True)
    for a, b in zip(whole, blocked):
        assert_batch_invariant(a, b, atol=1e-5)


class _Seq:
    def __init__(self, n: int):
        self.ids, self.type_ids = [1] * n, [0] * n


def test_packing_from_sequences_equals_packing_the_padded_batch(ce):
    encodings = ce.tokenizer.encode_pairs(PAIRS)
    b = ce.tokenizer.pad(encodings)
    direct = PackedBatch.from_sequences(encodings)
    unpadded = PackedBatch.from_padded(b.input_ids, b.attention_mask, b.token_type_ids)
    for field in ("input_ids", "positions", "token_type_ids"):
        assert np.array_equal(getattr(direct, field), getattr(unpadded, field)), field
    assert direct.spans == unpadded.spans
    assert direct.positions[direct.starts].tolist() == [0] * len(PAIRS)


def test_reference_logits_equal_packed_logits(ce):
    b = ce.tokenizer.pad(ce.tokenizer.encode_pairs(PAIRS))
    states = reference.encode(ce.checkpoint.weights, ce.config, b.input_ids, b.attention_mask, b.token_type_ids)
    expected = classify(states[:, 0], ce.checkpoint.head)[:, 0]
    np.testing.assert_allclose(ce.predict(PAIRS), expected, atol=1e-5, rtol=0)


def test_in_place_gelu_equals_gelu_across_block_boundaries():
    rng = np.random.default_rng(0)
    x = (rng.normal(0, 4, size=(3, (1 << 16) // 3 + 1000))).astype(np.float32)
    np.testing.assert_allclose(gelu_(x.copy()), gelu(x), atol=3e-7, rtol=0)


@pytest.mark.parametrize("name", ["roberta-nli-3", "xlmr-ce-1", "electra-ce-1", "distilbert-ce-2"])
def test_packed_equals_reference_for_every_body(name):
    """Including a literal <pad> inside a text: RoBERTa's positions skip it, in both paths."""
    from helpers import ARCHS
    ce = CrossEncoder.from_pretrained(ARCHS / "models" / name)
    pairs = PAIRS + [("what does <pad> do?", "a <pad> <pad> in the passage")]
    encodings = ce.tokenizer.encode_pairs(pairs)
    b = ce.tokenizer.pad(encodings)
    padded = reference.encode(ce.checkpoint.weights, ce.config, b.input_ids, b.attention_mask, b.token_type_ids)
    batch = PackedBatch.from_sequences(encodings)
    packed = encode_packed(ce._model, batch)
    real = b.attention_mask.astype(bool)
    np.testing.assert_allclose(packed, padded[real], atol=2e-5, rtol=0)
    np.testing.assert_allclose(encode_packed(ce._model, batch, first_only=True), padded[:, 0], atol=2e-5, rtol=0)
    expected = classify(padded[:, 0], ce.checkpoint.head)
    np.testing.assert_allclose(ce.predict(pairs).reshape(expected.shape), expected, atol=1e-5, rtol=0)


def test_roberta_positions_skip_pad_tokens_inside_a_text():
    from minilm_np.model.config import BertConfig
    from minilm_np.model.packed import position_rows
    from helpers import TINY_CONFIG
    cfg = BertConfig.from_dict({**TINY_CONFIG, "model_type": "roberta", "architectures": [], "pad_token_id": 1})
    ids = np.array([0, 7, 1, 8, 2, 0, 1, 1, 2])  # two sequences; the pad id (1) inside each
    batch = PackedBatch(ids, np.array([0, 1, 2, 3, 4, 0, 1, 2, 3]), np.zeros(9, np.int64), [(0, 5), (5, 9)])
    assert position_rows(cfg, batch).tolist() == [2, 3, 1, 4, 5, 2, 1, 1, 3]
    assert reference.position_ids(cfg, ids[None, :5]).tolist() == [[2, 3, 1, 4, 5]]


@pytest.mark.parametrize("rows", [[2, 3, 4, 5, 6, 2, 3, 4, 5], [2, 3, 1, 4, 5, 2, 1, 1, 3]],
                         ids=["consecutive (a slice per sequence)", "a pad inside (gathered)"])
def test_position_rows_add_what_gathering_them_adds(rows):
    from minilm_np.model.packed import add_position_rows_
    rng = np.random.default_rng(4)
    table, x = rng.normal(0, 1, (8, 6)).astype(np.float32), rng.normal(0, 1, (9, 6)).astype(np.float32)
    batch = PackedBatch(np.zeros(9, np.int64), np.array([0, 1, 2, 3, 4, 0, 1, 2, 3]), np.zeros(9, np.int64),
                        [(0, 5), (5, 9)])
    want = x + table[rows]
    np.testing.assert_array_equal(add_position_rows_(x, table, np.array(rows), batch), want)
