"""cross_encoder.py: label names of multi-label heads."""

import pytest

from minilm_np import CrossEncoder

from helpers import ARCHS, MODELS


def test_return_labels_needs_several_labels():
    with pytest.raises(ValueError, match="return_labels needs a model with several labels; .* has one"):
        CrossEncoder.from_pretrained(MODELS / "tiny-ce-1").predict([("a", "b")], return_labels=True)


def test_repr_names_the_body():
    assert "xlm-roberta" in repr(CrossEncoder.from_pretrained(ARCHS / "models" / "xlmr-ce-1"))
