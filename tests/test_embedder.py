"""embedder.py: prompts, truncate_dim and precision as arguments, and the errors they give."""

import numpy as np
import pytest

from minilm_np import Embedder

from helpers import MODELS, pipeline_dir


@pytest.fixture(scope="module")
def prompted(tmp_path_factory):
    """A Dense + Normalize pipeline with query/document prompts."""
    return Embedder.from_pretrained(pipeline_dir(tmp_path_factory.mktemp("p"), "mean-dense-normalize"))


def test_prompts_are_the_models_own(prompted):
    assert prompted.prompts == {"query": "query: ", "document": "passage: "}
    texts = ["what is the boundary layer?", ""]
    assert np.array_equal(prompted.encode_query(texts), prompted.encode(texts, prompt_name="query"))
    assert np.array_equal(prompted.encode_query(texts), prompted.encode(["query: " + t for t in texts]))
    assert np.array_equal(prompted.encode_document(texts), prompted.encode(texts, prompt="passage: "))
    assert np.array_equal(prompted.encode_query(texts, prompt=""), prompted.encode(texts))  # prompt wins
    assert prompted.encode("a", prompt_name="query").shape == (16,)


def test_an_unknown_prompt_name_is_refused_naming_it(prompted):
    with pytest.raises(ValueError, match="prompt name 'search' is not one of .*'s prompts .query, document.$"):
        prompted.encode(["a"], prompt_name="search")
    with pytest.raises(TypeError, match="prompt must be a str"):
        prompted.encode(["a"], prompt=3)


def test_truncate_dim_and_precision(prompted):
    texts = ["the city", "people live in berlin", "a"]
    full = prompted.encode(texts, normalize=False)
    cut = prompted.encode(texts, normalize=False, truncate_dim=8)
    assert np.array_equal(cut, full[:, :8])  # cut after the model's Normalize: not unit length any more
    np.testing.assert_allclose(np.linalg.norm(prompted.encode(texts, truncate_dim=8), axis=1), 1, rtol=1e-6)
    at_load = Embedder.from_pretrained(MODELS / "tiny-embedder", truncate_dim=4)
    assert at_load.dim == 4 and at_load.encode(texts).shape == (3, 4)
    assert prompted.encode(texts, precision="ubinary").shape == (3, 2)
    assert prompted.encode(texts, truncate_dim=12, precision="binary").dtype == np.int8
    assert prompted.encode(texts[:0], precision="int8").shape[0] == 0


@pytest.mark.parametrize("kwargs, error, words", [
    ({"truncate_dim": 17}, ValueError, "truncate_dim 17 is larger than .* 16 dimensions"),
    ({"truncate_dim": 0}, ValueError, "truncate_dim"),
    ({"precision": "int4"}, ValueError, "precision must be one of float32, int8, uint8, binary, ubinary; got 'int4'"),
])
def test_bad_output_arguments_are_named(prompted, kwargs, error, words):
    with pytest.raises(error, match=words):
        prompted.encode(["a", "b"], **kwargs)


def test_int8_of_a_single_text_needs_a_calibration(prompted):
    with pytest.raises(ValueError, match="single embedding"):
        prompted.encode("a", precision="int8")


def test_a_long_call_is_read_in_parts_with_the_same_vectors(prompted, small_parts):
    """As ``CrossEncoder.predict``: a part of the texts at a time (``_encoder.PART_CHARS``), the same vectors,
    progress for every text, and int8 ranges calibrated on the whole call, not on a part."""
    texts = [f"text number {i} " * (1 + i % 7) for i in range(40)]
    whole, whole_int8 = prompted.encode(texts, prompt_name="query"), prompted.encode(texts, precision="int8")
    seen = []
    run_sizes = small_parts(200)
    cut = prompted.encode(texts, prompt_name="query", progress=seen.append)
    assert len(run_sizes) > 5 and sum(run_sizes) == len(texts) and sum(seen) == len(texts)
    np.testing.assert_allclose(cut, whole, atol=1e-6, rtol=0)  # another batch's rounding at most
    cut_int8 = prompted.encode(texts, precision="int8")
    assert np.abs(cut_int8.astype(np.int16) - whole_int8).max() <= 1  # one calibration: a part's would move more
    assert prompted.encode([]).shape == (0, prompted.dim)
