"""Error rates of the experiment readout (issue 13): the full sweep behind docs/benchmarks.md.

    .venv/bin/python -m bench.experiments_aa                   # everything (~6 min on 2 cores)
    .venv/bin/python -m bench.experiments_aa --seeds 2000      # quicker, coarser

Every simulated experiment runs through ``stepml.experiments`` (``simulate`` hashes units into variants and draws
outcomes; the SRM test, the metric intervals and lifts are the readout's own code, vectorized over seeds).

* ``aa``: A/A experiments (50/50, no lift) of 1k, 10k and 100k units, for a conversion (Bernoulli 0.1), a count
  (Poisson 1.5) and a click-through ratio (clicks / impressions per unit, delta method): the SRM alert rate at
  alpha 0.001 / 0.01 / 0.05 and the metric's false-positive rate at alpha 0.01 / 0.05;
* ``ab``: the same with a planted +5% relative lift in B: coverage of the 95% intervals of the absolute and the
  relative lift, power at alpha 0.05; for the ratio metric also the coverage of the naive binomial interval
  (impressions as independent trials), which ignores that a unit's clicks are correlated;
* ``broken``: 0.5%, 1% or 2% of B's units lost (a logging bug in one arm): how often the SRM alert fires at
  alpha 0.001 and 0.01, at 10k, 100k and 1M units;
* ``interleave``: team-draft interleaving of 100k units' two 20-item lists into 10 (``interleave_frame``): time,
  and the share of units where A picks first.

Seeds per point: ``--seeds`` (default 20,000), at most ``--budget / units`` (default 1e8 simulated units per
point: 20,000 at 1k units, 10,000 at 10k, 1,000 at 100k; 200 for the broken splits). Results: ``bench/out/experiments_aa.json``; a summary is printed as markdown tables.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri
from scipy.stats import binom

from bench._common import machine, write_results
from stepml.experiments.interleave import interleave_frame
from stepml.experiments.simulate import Bernoulli, ClickThrough, Metric, Poisson, simulate

METRICS: dict[str, Metric] = {
    "bernoulli_0.1": Bernoulli(0.1),
    "poisson_1.5": Poisson(1.5),
    "ctr_0.05": ClickThrough(0.05),
}
SIZES = [1_000, 10_000, 100_000]
SRM_ALPHAS = (0.001, 0.01, 0.05)
METRIC_ALPHAS = (0.01, 0.05)
LIFT = 0.05


def band(rate: float, trials: int) -> list[float]:
    """The binomial 99% interval of an observed rate."""
    lo, hi = binom.interval(0.99, trials, rate)
    return [float(lo / trials), float(hi / trials)]


def aa_and_ab(seeds: int, budget: float) -> list[dict[str, Any]]:
    out = []
    for n in SIZES:
        trials = int(min(seeds, max(1000, budget // n)))
        for index, (name, metric) in enumerate(METRICS.items()):
            started = time.perf_counter()
            aa = simulate(n, {"A": 1, "B": 1}, seeds=trials, metric=metric, seed=10 * n + 2 * index)
            srm, p = aa.srm_pvalues(), aa.compare("A", "B").p_value
            ab = simulate(
                n, {"A": 1, "B": 1}, seeds=trials, metric=metric, lift={"B": LIFT}, seed=10 * n + 2 * index + 1
            )
            lifts = ab.compare("A", "B")
            absolute, relative = ab.true_lift("A", "B")
            row: dict[str, Any] = {
                "units": n,
                "metric": name,
                "seeds": trials,
                "srm_rate": {str(a): float((srm < a).mean()) for a in SRM_ALPHAS},
                "false_positive_rate": {str(a): float((p < a).mean()) for a in METRIC_ALPHAS},
                "coverage_absolute": float(
                    ((lifts.absolute_low <= absolute) & (absolute <= lifts.absolute_high)).mean()
                ),
                "coverage_relative": float(
                    ((lifts.relative_low <= relative) & (relative <= lifts.relative_high)).mean()
                ),
                "power_0.05": float((lifts.p_value < 0.05).mean()),
                "bands_99": {str(a): band(a, trials) for a in (*SRM_ALPHAS, 0.95)},
            }
            m = ab.moments
            if ab.kind == "ratio" and m is not None and m.mean_y is not None:
                z, mean_y = float(ndtri(0.975)), m.mean_y
                ratio = m.mean_x / mean_y
                se = np.sqrt(ratio * (1 - ratio) / (m.n * mean_y))  # impressions as independent trials
                diff, se_diff = ratio[:, 1] - ratio[:, 0], np.hypot(se[:, 0], se[:, 1])
                row["coverage_absolute_naive"] = float((np.abs(diff - absolute) <= z * se_diff).mean())
            row["seconds"] = time.perf_counter() - started
            out.append(row)
            print(f"  {name} n={n:,} seeds={trials:,}: {row['seconds']:.1f} s", flush=True)
    return out


def outside(rows: list[dict[str, Any]]) -> list[str]:
    """The A/A rates and coverages outside the binomial 99% interval of their nominal value."""
    out = []
    for r in rows:
        checks = [(f"srm@{a}", r["srm_rate"][str(a)], a) for a in SRM_ALPHAS]
        checks += [(f"fpr@{a}", r["false_positive_rate"][str(a)], a) for a in METRIC_ALPHAS]
        checks += [("coverage_abs", r["coverage_absolute"], 0.95), ("coverage_rel", r["coverage_relative"], 0.95)]
        for what, rate, nominal in checks:
            lo, hi = band(nominal, r["seeds"])
            if not lo <= rate <= hi:
                out.append(f"{r['metric']} n={r['units']}: {what} {rate:.4f} not in [{lo:.4f}, {hi:.4f}]")
    return out


def broken(seeds: int) -> list[dict[str, Any]]:
    out = []
    for n in (10_000, 100_000, 1_000_000):
        trials = min(seeds, 200)
        for drop in (0.005, 0.01, 0.02):
            sim = simulate(n, {"A": 1, "B": 1}, seeds=trials, metric=None, drop={"B": drop}, seed=7)
            p = sim.srm_pvalues()
            out.append(
                {
                    "units": n,
                    "drop": drop,
                    "seeds": trials,
                    **{f"alert_{a}": float((p < a).mean()) for a in (0.001, 0.01)},
                }
            )
    return out


def interleave_timing() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    units, length = 100_000, 20
    frames = []
    for variant in "AB":
        items = np.argsort(rng.random((units, 40)), axis=1)[:, :length]  # two rankings over 40 shared items
        frames.append(
            pd.DataFrame(
                {
                    "unit": np.repeat(np.arange(units), length),
                    "item": items.ravel(),
                    "rank": np.tile(np.arange(1, length + 1), units),
                    "variant": variant,
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    started = time.perf_counter()
    merged = interleave_frame(frame, 10, salt="bench")
    seconds = time.perf_counter() - started
    first = merged[merged["position"] == 1]
    return {
        "units": units,
        "list_length": length,
        "k": 10,
        "seconds": seconds,
        "a_first_share": float((first["team"] == "A").mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20_000, help="simulated experiments per point")
    parser.add_argument("--budget", type=float, default=1e8, help="simulated units per point (caps the seeds)")
    args = parser.parse_args()
    started = time.perf_counter()
    results: dict[str, Any] = {"machine": machine(), "seeds": args.seeds, "budget": args.budget}
    results["aa_ab"] = aa_and_ab(args.seeds, args.budget)
    results["broken"] = broken(args.seeds)
    results["interleave"] = interleave_timing()
    results["seconds"] = time.perf_counter() - started
    results["outside_99_band"] = outside(results["aa_ab"])
    write_results("experiments_aa", results)
    print(
        "\n| units | metric | seeds | SRM alerts at 0.001 / 0.01 / 0.05 | false positives at 0.01 / 0.05 |"
        " coverage abs / rel (95%) | power (+5%) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results["aa_ab"]:
        srm = " / ".join(f"{v:.4f}" for v in r["srm_rate"].values())
        fpr = " / ".join(f"{v:.4f}" for v in r["false_positive_rate"].values())
        naive = f" (naive binomial: {r['coverage_absolute_naive']:.3f})" if "coverage_absolute_naive" in r else ""
        print(
            f"| {r['units']:,} | {r['metric']} | {r['seeds']:,} | {srm} | {fpr} | "
            f"{r['coverage_absolute']:.4f} / {r['coverage_relative']:.4f}{naive} | {r['power_0.05']:.3f} |"
        )
    print("\n| units | B's units lost | seeds | SRM alerts at 0.001 / 0.01 |")
    print("|---|---|---|---|")
    for r in results["broken"]:
        print(f"| {r['units']:,} | {r['drop']:.1%} | {r['seeds']} | {r['alert_0.001']:.3f} / {r['alert_0.01']:.3f} |")
    il = results["interleave"]
    print(
        f"\ninterleave_frame: {il['units']:,} units, k={il['k']}: {il['seconds']:.2f} s; A first {il['a_first_share']:.4f}"
    )
    print(f"\nrates outside their binomial 99% interval: {results['outside_99_band'] or 'none'}")
    print(f"\n{results['seconds']:.0f} s")


if __name__ == "__main__":
    main()
