"""The README's per-ISA tables from several ``bench.py --json`` runs: each figure as the runs' values in
order, and minilm-np's ratio to each engine as its range over the runs (lowest-highest).

    python benchmarks/tables.py bench-out/run-native-*.json
    python benchmarks/tables.py bench-out/run-avx2-*.json

Every file must come from the same machine and ISA (the script checks the CPU model and the --isa flag).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

CE, EMB = "cross-encoder", "embedder"
# (section, workload, engine whose ratio is shown): the comparisons the speed issue sets goals for.
COMPARISONS = ((CE, "short", "torch"), (CE, "short", "ort-sorted"), (CE, "long", "torch"),
               (CE, "long", "ort-sorted"), (EMB, "sentences", "torch"), (EMB, "abstracts", "torch"))


def load(paths: list[Path]) -> list[dict]:
    runs = [json.loads(p.read_text()) for p in paths]
    machines = {(r["environment"]["cpu"], r["args"]["isa"]) for r in runs}
    if len(machines) != 1:
        raise SystemExit(f"runs from different machines or ISAs: {sorted(machines)}")
    return runs


def rate(run: dict, section: str, workload: str, engine: str) -> float:
    return run["timing"][section][workload][engine]["items_per_s_median"]


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    lo, hi = min(values), max(values)
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f"{fmt.format(lo)}-{fmt.format(hi)}"


def table(runs: list[dict]) -> str:
    """Markdown: one row per comparison, the runs' items/s for each engine, the ratios' ranges. The
    kernels="numba" columns (minilm-np-jit) appear when every run has that engine."""
    ours = ["minilm-np"] + (["minilm-np-jit"] if all("minilm-np-jit" in r["timing"][CE]["short"] for r in runs)
                            else [])
    lines = ["| workload | " + " | ".join(ours) + " | other engine | "
             + " | ".join(f"{o} / other" for o in ours) + " |", "|---|" + "---:|" * (2 * len(ours) + 1)]
    for section, workload, engine in COMPARISONS:
        mine = {o: [rate(r, section, workload, o) for r in runs] for o in ours}
        theirs = [rate(r, section, workload, engine) for r in runs]
        name = {"torch": "torch" if section == CE else "sentence-transformers",
                "ort-sorted": "ORT, length-sorted"}[engine]
        lines.append(f"| {workload}, vs {name} | "
                     + " | ".join(" / ".join(f"{v:.1f}" for v in mine[o]) for o in ours)
                     + f" | {' / '.join(f'{v:.1f}' for v in theirs)} | "
                     + " | ".join(f"{spread([a / b for a, b in zip(mine[o], theirs)])}x" for o in ours) + " |")
    return "\n".join(lines)


def facts(runs: list[dict]) -> str:
    """The machine, the kernels that ran, numpy's sgemm and minilm-np's share of it."""
    first = runs[0]
    isa, env = first["isa"], first["environment"]
    sgemm = [r["gemm"]["numpy"]["best_gflops"] for r in runs]
    engine = "minilm-np-jit" if all("minilm-np-jit" in r["timing"][CE]["short"] for r in runs) else "minilm-np"
    pct = {wl: [r["timing"][CE][wl][engine]["pct_sgemm_median"] for r in runs] for wl in ("short", "long")}
    beside = ""
    if all("pct_sgemm_beside_median" in r["timing"][CE]["short"][engine] for r in runs):  # bench.py's SGEMM engine
        rates = [v for r in runs for per_wl in r["sgemm_beside"].values() for wl_rates in per_wl.values()
                 for v in wl_rates]
        share = {wl: [r["timing"][CE][wl][engine]["pct_sgemm_beside_median"] for r in runs] for wl in ("short", "long")}
        beside = (f"; against numpy's sgemm timed beside them in every round ({spread(rates, '{:.0f}')} GFLOP/s "
                  f"sustained for 1 s): short {spread(share['short'], '{:.0f}')}%, long "
                  f"{spread(share['long'], '{:.0f}')}%")
    others = max(s["other_cpu_share_max"] for r in runs for sec in r["timing"].values()
                 for per_engine in sec.values() for s in per_engine.values())
    peak = isa["fma_peak_gflops_estimate"]
    peak_notes = (" at the reported clock, which the measured sgemm exceeds: the cores run faster"
                  if max(sgemm) > peak else "")
    measured = [r["isa"].get("fma_peak_gflops_measured") for r in runs]
    if all(measured):
        peak_notes += (f"; measured FMA peak {spread(measured, '{:.0f}')} GFLOP/s, of which numpy's sgemm is "
                       f"{spread([100 * s / m for s, m in zip(sgemm, measured)], '{:.0f}')}%")
    return (f"{env['cpu']}, {env['cpus']} CPUs; numpy's OpenBLAS kernel {isa['numpy_openblas_kernel'][0]}, "
            f"torch {isa['torch_cpu_capability']}; numba (kernels=\"numba\") {isa.get('numba_target', 'absent')}; "
            f"ONNX Runtime {isa['onnxruntime']}. "
            f"numpy sgemm {spread(sgemm, '{:.0f}')} GFLOP/s (FMA peak estimate "
            f"{peak:.0f}{peak_notes}); {engine}'s useful GFLOP/s as a share of that sgemm: "
            f"short {spread(pct['short'], '{:.0f}')}%, long {spread(pct['long'], '{:.0f}')}%{beside}. "
            f"Dates: {', '.join(r['environment']['date'][:16] for r in runs)}; other processes took at most "
            f"{100 * others:.0f}% of the CPUs during any timing.")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", type=Path, nargs="+", help="bench.py --json files, one ISA, one machine")
    args = p.parse_args(argv)
    runs = load(args.runs)
    print(table(runs))
    print()
    print(facts(runs))


if __name__ == "__main__":
    main()
