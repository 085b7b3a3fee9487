"""Write the tiny ``pytorch_model.bin`` fixtures that test the torch-free reader (needs torch).

    python -m weights_tools make-torch-bin-fixtures [--out DIR]   # default: tests/fixtures/torch_bin

(Run it as a module, never as ``python weights_tools/make_torch_bin_fixtures.py``: with weights_tools/ first
on sys.path, its ``inspect.py`` would shadow the standard library's ``inspect`` that torch imports.)

Writes, from one seeded state dict that exercises every path of ``minilm_np.checkpoint.torch_bin``:
  state_dict.bin          torch.save, zip layout (torch >= 1.6)
  state_dict_legacy.bin   torch.save(..., _use_new_zipfile_serialization=False), the legacy layout
  expected.npz            every tensor as numpy (bfloat16 as its uint16 bits; their names under
                          ``__bf16__``), what the reader must return bit for bit
  rounding.npz            float32 values (random over the whole exponent range, exact ties, NaN/inf,
                          float16/bfloat16 edges) and torch's .half() / .bfloat16() of them, to test
                          ``weights_tools.cast`` rounding bit for bit without torch
  made_with.json          the torch and numpy versions that wrote them

The state dict holds float32/float16/bfloat16/float64/int64/bool tensors, a transposed (non-contiguous)
view, a view at a storage offset, a strided slice, three names sharing one storage, a tied pair (one
tensor under two names), a Parameter, a 0-d and an empty tensor, ``bert.``-prefixed names and the legacy
``LayerNorm.gamma``/``beta`` spellings. Tests never import torch; only this script does.
"""

from __future__ import annotations

import argparse
import json
from collections import OrderedDict
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "torch_bin"


def build_state_dict():
    """The seeded state dict; every tensor is tiny (the files stay a few KB)."""
    import torch

    g = torch.Generator().manual_seed(0)
    base = torch.randn(4, 6, generator=g)  # one storage shared by the three views below
    word = torch.randn(10, 4, generator=g)
    sd = OrderedDict()
    sd["bert.embeddings.word_embeddings.weight"] = word
    sd["cls.predictions.decoder.weight"] = word  # tied: the same tensor under a second name
    sd["bert.embeddings.LayerNorm.gamma"] = torch.randn(4, generator=g)
    sd["bert.embeddings.LayerNorm.beta"] = torch.randn(4, generator=g)
    sd["bert.encoder.layer.0.attention.self.query.weight"] = base.t()  # [6, 4], strides (1, 6)
    sd["bert.encoder.layer.0.attention.self.query.bias"] = base[1, 2:]  # storage offset 8
    sd["bert.encoder.layer.0.attention.self.key.weight"] = base[:, ::2]  # strides (6, 2)
    sd["bert.embeddings.position_ids"] = torch.arange(8).unsqueeze(0)  # int64 buffer
    sd["half"] = torch.randn(3, 2, generator=g).half()
    special = torch.tensor([1.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-40, 3.0e38])
    sd["bfloat16"] = torch.cat([torch.randn(5, generator=g), special]).bfloat16()
    sd["bfloat16_view"] = sd["bfloat16"][2:9:3]
    sd["double"] = torch.randn(2, 2, generator=g, dtype=torch.float64)
    sd["mask"] = torch.tensor([True, False, True])
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 3)
    sd["classifier.weight"] = torch.nn.Parameter(torch.randn(1, 4, generator=g))  # _rebuild_parameter
    return sd


def expected_arrays(state_dict) -> dict[str, np.ndarray]:
    """numpy copies of the tensors; bfloat16 as uint16 bits, listed under ``__bf16__``."""
    import torch

    arrays, bf16 = {}, []
    for name, t in state_dict.items():
        t = t.detach().contiguous()
        if t.dtype == torch.bfloat16:
            arrays[name] = t.view(torch.int16).numpy().view(np.uint16).copy()
            bf16.append(name)
        else:
            arrays[name] = t.numpy().copy()
    arrays["__bf16__"] = np.array(bf16, dtype=str)
    return arrays


def rounding_cases() -> dict[str, np.ndarray]:
    """float32 inputs and torch's float16 / bfloat16 of them (bits as uint16)."""
    import torch

    rng = np.random.default_rng(0)
    random = rng.standard_normal(600) * 10.0 ** rng.uniform(-44, 38, 600)
    random_bits = rng.integers(0, 2**32, 200, dtype=np.uint64).astype(np.uint32)
    kept = rng.integers(0, 2**16, 100, dtype=np.uint64).astype(np.uint32) << 16
    ties = kept | 0x8000  # exactly half-way between two bfloat16 values: even and odd kept bits
    near_ties = np.concatenate([kept | 0x7FFF, kept | 0x8001])
    edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 3.4028235e38, -3.4028235e38, 1e-45,
                      1.1754944e-38, 65504.0, 65519.99, 65520.0, -65520.0, 6.1e-5, 5.96e-8, 2.98e-8, 1.0,
                      1.0000001, 1.00390625, 1.01171875, 0.1, 1 / 3], dtype=np.float32)
    x = np.concatenate([random.astype(np.float32), random_bits.view(np.float32), ties.view(np.float32),
                        near_ties.view(np.float32), edges])
    t = torch.from_numpy(x.copy())
    return {"float32": x,
            "float16_bits": t.half().view(torch.int16).numpy().view(np.uint16).copy(),
            "bfloat16_bits": t.bfloat16().view(torch.int16).numpy().view(np.uint16).copy()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m weights_tools make-torch-bin-fixtures",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)

    import torch

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    sd = build_state_dict()
    torch.save(sd, out / "state_dict.bin")
    torch.save(sd, out / "state_dict_legacy.bin", _use_new_zipfile_serialization=False)
    np.savez(out / "expected.npz", **expected_arrays(sd))
    with np.errstate(over="ignore", invalid="ignore"):
        np.savez(out / "rounding.npz", **rounding_cases())
    versions = {"torch": torch.__version__, "numpy": np.__version__,
                "script": "weights_tools/make_torch_bin_fixtures.py"}
    (out / "made_with.json").write_text(json.dumps(versions, indent=2) + "\n")
    for path in sorted(out.iterdir()):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
