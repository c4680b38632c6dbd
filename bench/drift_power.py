"""False-alarm rates and power of the drift checks (issue 15): the full sweeps behind docs/monitoring.md.

    .venv/bin/python -m bench.drift_power                  # everything (~5 min on 2 cores)
    .venv/bin/python -m bench.drift_power --trials 200     # quicker, coarser

Every trial draws a fresh batch (and, for the null sweeps, a fresh reference) with a fixed seed and runs
stepml's own calculations (``NumericAccumulator`` / ``CategoricalAccumulator`` profiles, ``compare_column`` for
the raw test, ``evaluate_drift`` for verdicts with the effect gates and BH over the columns).

* ``null``: raw-test rejection rate at alpha = 0.05 per column kind (continuous -> KS, 0/1 and 10-value
  integers -> chi-square over the values, 5-category -> chi-square) and the dataset false-alarm rate (4 columns,
  verdicts), at batch sizes 50 .. 10k against a reference of max(5n, 5000) rows;
* ``clustered``: the same with rows clustered by entity (~10 rows each, batches are consecutive entities'
  rows) and the entity-aware mode (one row per unit), at 200, 1000 and 5000 rows;
* ``power``: detection rate (verdict ``drift``) of a mean shift of a normal column (in reference sigma), of a
  0/1 share, and of one category's share, at 1k and 100k rows against a 200k reference; the minimum detectable
  shift is the smallest grid value detected in >= 80% of trials.

Results: ``bench/out/drift_power.json``; a summary is printed as markdown tables.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binom

from monitoring.config import DriftSettings
from monitoring.drift import compare_column, evaluate_drift
from monitoring.profile import CategoricalAccumulator, NumericAccumulator, quantile_edges

OUT = Path(__file__).resolve().parent / "out"
ALPHA = 0.05
SETTINGS = DriftSettings()
CATS = np.array(["a", "b", "c", "d", "e"])
CAT_P = np.array([0.4, 0.25, 0.15, 0.12, 0.08])

Draw = Callable[[np.random.Generator, int], np.ndarray]
KINDS: dict[str, Draw] = {
    "continuous": lambda rng, n: rng.normal(size=n),
    "binary": lambda rng, n: (rng.random(n) < 0.3).astype(float),
    "integers_0_9": lambda rng, n: rng.integers(0, 10, n).astype(float),
    "categorical": lambda rng, n: CATS[rng.choice(5, n, p=CAT_P)],
}


def profiles(ref: np.ndarray, cur: np.ndarray) -> tuple[Any, Any]:
    if ref.dtype.kind in "fiu":
        edges = quantile_edges(ref, 1000)
        a, b = NumericAccumulator(edges), NumericAccumulator(edges)
        a.add(ref.astype(float))
        b.add(cur.astype(float))
        return a.to_profile(), b.to_profile()
    ca, cb = CategoricalAccumulator(), CategoricalAccumulator()
    ca.add_counts(zip(*np.unique(ref, return_counts=True), strict=True))
    cb.add_counts(zip(*np.unique(cur, return_counts=True), strict=True))
    pa = ca.to_profile(None, 50)
    return pa, cb.to_profile([k for k in pa["frequencies"] if k != "__other__"])


def null_sweep(trials: int, sizes: list[int], seed: int) -> list[dict[str, Any]]:
    out = []
    for n in sizes:
        rng = np.random.default_rng(seed + n)
        m = max(5 * n, 5000)
        rejected = dict.fromkeys(KINDS, 0)
        alarms = 0
        for _ in range(trials):
            refs, curs = {}, {}
            for kind, draw in KINDS.items():
                refs[kind], curs[kind] = profiles(draw(rng, m), draw(rng, n))
                stats, _ = compare_column(kind, refs[kind], curs[kind], SETTINGS)
                rejected[kind] += stats["p_value"] < ALPHA
            alarms += evaluate_drift(refs, curs, SETTINGS).dataset_verdict == "drift"
        out.append(
            {"n": n, "reference": m, "trials": trials, "alarms": alarms / trials}
            | {f"reject_{k}": v / trials for k, v in rejected.items()}
        )
    return out


def clustered_sweep(trials: int, sizes: list[int], seed: int) -> list[dict[str, Any]]:
    """Entities with ~10 rows each; the batch is consecutive entities' rows. Row mode: every row; unit mode:
    one row per entity (the entity's value)."""
    out = []
    for rows in sizes:
        rng = np.random.default_rng(seed + rows)
        res: dict[str, Any] = {"rows": rows, "trials": trials}
        for mode in ("rows", "units"):
            rejected = dict.fromkeys(("continuous", "binary"), 0)
            alarms, units = 0, []
            for _ in range(trials):
                refs, curs = {}, {}
                for kind in rejected:
                    draw = KINDS[kind]
                    ref_ent, cur_ent = draw(rng, 5000), draw(rng, 5000)
                    ref_size, cur_size = 1 + rng.poisson(9, 5000), 1 + rng.poisson(9, 5000)
                    cur_rows = np.repeat(np.arange(5000), cur_size)[:rows]
                    if mode == "rows":
                        ref, cur = np.repeat(ref_ent, ref_size), cur_ent[cur_rows]
                    else:
                        ref, cur = ref_ent, cur_ent[np.unique(cur_rows)]
                        units.append(cur.size)
                    refs[kind], curs[kind] = profiles(ref, cur)
                    stats, _ = compare_column(kind, refs[kind], curs[kind], SETTINGS)
                    rejected[kind] += stats["p_value"] < ALPHA
                alarms += evaluate_drift(refs, curs, SETTINGS).dataset_verdict == "drift"
            res |= {f"{mode}_reject_{k}": v / trials for k, v in rejected.items()} | {f"{mode}_alarms": alarms / trials}
            if units:
                res["units_mean"] = float(np.mean(units))
        out.append(res)
    return out


def power_sweep(trials: int, seed: int) -> list[dict[str, Any]]:
    grids: dict[str, tuple[list[float], Callable[[np.random.Generator, int, float], np.ndarray]]] = {
        "normal mean shift (sigma)": (
            [0.02, 0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3, 0.5],
            lambda rng, n, d: rng.normal(d, 1.0, n),
        ),
        "0/1 share +points (from 0.30)": (
            [0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1, 0.15],
            lambda rng, n, d: (rng.random(n) < 0.3 + d).astype(float),
        ),
        "category share +points (0.40 -> , others scaled)": (
            [0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2],
            lambda rng, n, d: CATS[rng.choice(5, n, p=np.r_[0.4 + d, CAT_P[1:] * (0.6 - d) / 0.6])],
        ),
    }
    out = []
    rng = np.random.default_rng(seed)
    for name, (grid, draw) in grids.items():
        ref = draw(rng, 200_000, 0.0)
        for n in (1000, 100_000):
            rates = []
            for d in grid:
                hits = sum(
                    evaluate_drift({"x": (p := profiles(ref, draw(rng, n, d)))[0]}, {"x": p[1]}, SETTINGS)
                    .columns[0]
                    .verdict
                    == "drift"
                    for _ in range(trials)
                )
                rates.append(hits / trials)
            detectable = next((d for d, r in zip(grid, rates, strict=True) if r >= 0.8), None)
            out.append({"what": name, "n": n, "grid": grid, "power": rates, "min_detectable": detectable})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=1000, help="trials per null point (power: a fifth)")
    args = parser.parse_args()
    started = time.perf_counter()
    results = {
        "trials": args.trials,
        "null": null_sweep(args.trials, [50, 200, 1000, 10_000], 1),
        "clustered": clustered_sweep(args.trials, [200, 1000, 5000], 2),
        "power": power_sweep(max(args.trials // 5, 50), 3),
    }
    results["seconds"] = time.perf_counter() - started
    lo, hi = binom.interval(0.99, args.trials, ALPHA)
    results["binomial_99_interval"] = [lo / args.trials, hi / args.trials]
    OUT.mkdir(exist_ok=True)
    (OUT / "drift_power.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"null rejection at alpha {ALPHA}, binomial 99% interval {results['binomial_99_interval']}")
    print("| n | reference | KS continuous | chi2 0/1 | chi2 0-9 | chi2 5 categories | dataset false alarms |")
    print("|---|---|---|---|---|---|---|")
    for r in results["null"]:
        print(
            f"| {r['n']:,} | {r['reference']:,} | {r['reject_continuous']:.3f} | {r['reject_binary']:.3f} | "
            f"{r['reject_integers_0_9']:.3f} | {r['reject_categorical']:.3f} | {r['alarms']:.3f} |"
        )
    print("\n| rows | units (mean) | rows: KS / chi2 0/1 / alarms | units: KS / chi2 0/1 / alarms |")
    print("|---|---|---|---|")
    for r in results["clustered"]:
        print(
            f"| {r['rows']:,} | {r['units_mean']:.0f} | {r['rows_reject_continuous']:.3f} / "
            f"{r['rows_reject_binary']:.3f} / {r['rows_alarms']:.3f} | {r['units_reject_continuous']:.3f} / "
            f"{r['units_reject_binary']:.3f} / {r['units_alarms']:.3f} |"
        )
    print("\n| shift | n | power along the grid | minimum detectable (>= 80%) |")
    print("|---|---|---|---|")
    for r in results["power"]:
        grid = ", ".join(f"{d:g}: {p:.2f}" for d, p in zip(r["grid"], r["power"], strict=True))
        print(f"| {r['what']} | {r['n']:,} | {grid} | {r['min_detectable']} |")
    print(f"\n{results['seconds']:.0f} s")


if __name__ == "__main__":
    main()
