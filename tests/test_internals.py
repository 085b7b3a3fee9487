"""scripts/internals.py and docs/internals.md: the committed walkthrough is what the script writes from a real run.

Numbers may differ in their last printed digit between machines (BLAS kernels round differently), so they are
compared to within one unit of that digit; all other text, shapes and source line links must be identical."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("internals_script", REPO / "scripts" / "internals.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_walkthrough_is_the_scripts_output(msmarco_l6):
    script = load_script()
    committed = (REPO / "docs" / "internals.md").read_text(encoding="utf-8")
    problem = script.mismatch(committed, script.render(msmarco_l6))
    assert problem is None, f"docs/internals.md is out of date ({problem}): run python scripts/internals.py"


def test_a_number_may_move_by_one_unit_of_its_last_digit_and_no_more():
    mismatch = load_script().mismatch
    assert mismatch("gives 1.03266 for", "gives 1.03267 for") is None
    assert mismatch("gives 1.03265 for", "gives 1.03267 for") == "1.03265 != 1.03267"
    assert mismatch("gives 1.03267 to", "gives 1.03267 for") == "the text differs"


def test_every_link_points_at_the_function_it_names():
    doc = (REPO / "docs" / "internals.md").read_text(encoding="utf-8")
    links = re.findall(r"\[`([\w.]+)`\]\(\.\./([\w/]+\.py)#L(\d+)\)", doc)
    assert len(links) >= 8
    for name, path, line in links:
        source = (REPO / path).read_text(encoding="utf-8").splitlines()
        assert re.match(rf"\s*def {name.split('.')[-1]}\(", source[int(line) - 1]), (name, path, line)
