"""Drift + missing-data checks on 1M rows x 25 columns (20 numeric, 5 categorical) against a 200k reference.

    .venv/bin/python -m bench.drift_bench                 # all three, 1M rows (evidently takes ~2 min)
    .venv/bin/python -m bench.drift_bench --rows 200000   # quicker

Three contenders, each in its own process (so each peak RSS is its own), on the same parquet files:

* ``stepml``   - ``monitoring.checks.run_checks`` with the reference profile: streamed null counts, the current
  profile (1000 quantile bins per numeric column, category counts), KS / PSI / Wasserstein / chi-square, BH;
* ``numpy``    - a plain numpy/scipy script computing the same statistics on the same bins from whole columns;
* ``evidently`` - evidently 0.7's ``DataDriftPreset`` (its default tests) on the same rows, reference = the raw
  200k reference rows.

The reference profile is built once beforehand (that is the train step's job) and is not timed. Results go to
``bench/out/drift_bench.json``; times are wall-clock seconds of the check itself (data loading included, imports
excluded), peak memory is the process's maximum RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parent / "out"
N_NUM, N_CAT = 20, 5


def make_data(rows: int, ref_rows: int, workdir: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from monitoring.profile import build_profile

    workdir.mkdir(parents=True, exist_ok=True)

    def frame(n: int, seed: int, shift: float) -> dict[str, Any]:
        rng = np.random.default_rng(seed)
        cols: dict[str, Any] = {}
        for j in range(N_NUM):
            x = rng.normal(shift if j < 2 else 0.0, 1.0 + j / 10, n)
            x[rng.random(n) < 0.02] = np.nan
            cols[f"num_{j:02d}"] = x
        for j in range(N_CAT):
            cats = np.array([f"v{k}" for k in range(5 + 3 * j)])
            p = np.linspace(1, 2, cats.size)
            cols[f"cat_{j}"] = cats[rng.choice(cats.size, n, p=p / p.sum())]
        return cols

    ref = frame(ref_rows, 1, 0.0)
    cur = frame(rows, 2, 0.2)  # two numeric columns drift by 0.2 sigma
    pq.write_table(pa.table(ref), workdir / "reference.parquet", row_group_size=65_536)
    pq.write_table(pa.table(cur), workdir / "current.parquet", row_group_size=65_536)
    import pandas as pd

    profile = build_profile(
        pd.DataFrame(ref),
        numeric=[f"num_{j:02d}" for j in range(N_NUM)],
        categorical=[f"cat_{j}" for j in range(N_CAT)],
    )
    (workdir / "profile.json").write_text(json.dumps(profile))


def run_stepml(workdir: Path) -> dict[str, Any]:
    from monitoring.checks import run_checks
    from monitoring.config import CheckConfig

    profile = json.loads((workdir / "profile.json").read_text())
    started = time.perf_counter()
    report = run_checks([workdir / "current.parquet"], CheckConfig(), reference=profile)
    elapsed = time.perf_counter() - started
    drift = report.drift or {}
    return {"seconds": elapsed, "drifted": drift.get("dataset", {}).get("drifted"), "checks": len(report.checks)}


def run_numpy(workdir: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq
    from scipy.special import kolmogorov
    from scipy.stats import chi2_contingency

    profile = json.loads((workdir / "profile.json").read_text())
    started = time.perf_counter()
    table = pq.read_table(workdir / "current.parquet")
    out: dict[str, Any] = {}
    for name, ref in profile["columns"].items():
        col = table.column(name)
        if ref["kind"] == "numeric":
            x = col.to_numpy()
            isnan = np.isnan(x)
            null_fraction = isnan.mean()
            x = x[~isnan]
            edges = np.asarray(ref["bin_edges"])
            idx = np.searchsorted(edges, x, side="left")
            counts = np.bincount(idx, minlength=edges.size + 1)
            at = np.bincount(idx[x == edges[np.minimum(idx, edges.size - 1)]], minlength=edges.size)
            r = np.asarray(ref["bin_counts"], dtype=float)
            m, n = r.sum(), counts.sum()
            fr, fc = np.cumsum(r[:-1]) / m, np.cumsum(counts[:-1]) / n
            d = max(np.abs(fr - fc).max(), np.abs(fr - np.asarray(ref["edge_counts"]) / m - (fc - at / n)).max())
            en = np.sqrt(n * m / (n + m))
            p = kolmogorov((en + 0.12 + 0.11 / en) * d)
            cum = np.cumsum(r) / m
            ends = np.unique(np.searchsorted(cum, np.arange(1, 10) / 10 - 1e-12))
            g = np.searchsorted(ends, np.arange(r.size))
            rs, cs = np.bincount(g, weights=r) / m, np.bincount(g, weights=counts) / n
            rs, cs = np.clip(rs, 1e-4, None), np.clip(cs, 1e-4, None)
            psi = np.sum((rs - cs) * np.log(rs / cs))
            diff = fr - fc
            w = np.sum(np.diff(edges) * (np.abs(diff[:-1]) + np.abs(diff[1:])) / 2) / ref["std"]
            out[name] = (null_fraction, d, p, psi, w, x.mean(), x.std())
        else:
            # dictionary-encode (pyarrow, as it is read) and count codes with numpy: far faster than np.unique
            # on a million Python strings, so the baseline is not handicapped
            encoded = col.combine_chunks().dictionary_encode()
            codes = encoded.indices.to_numpy(zero_copy_only=False)
            counts = np.bincount(codes, minlength=len(encoded.dictionary))
            lookup = dict(zip(encoded.dictionary.to_pylist(), counts.tolist(), strict=True))
            keys = [k for k in ref["frequencies"] if k != "__other__"]
            c = np.array([lookup.get(k, 0) for k in keys])
            r = np.array([ref["frequencies"][k] for k in keys])
            stat, p, _, _ = chi2_contingency(np.vstack([r, c]), correction=False)
            rs, cs = r / r.sum(), c / c.sum()
            out[name] = (col.null_count / len(col), stat, p, np.sum((rs - cs) * np.log(rs / cs)))
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "columns": len(out)}


def run_evidently(workdir: Path) -> dict[str, Any]:
    import warnings

    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        started = time.perf_counter()
        ref = pd.read_parquet(workdir / "reference.parquet")
        cur = pd.read_parquet(workdir / "current.parquet")
        definition = DataDefinition(
            numerical_columns=[c for c in cur.columns if c.startswith("num_")],
            categorical_columns=[c for c in cur.columns if c.startswith("cat_")],
        )
        Report([DataDriftPreset()]).run(
            current_data=Dataset.from_pandas(cur, data_definition=definition),
            reference_data=Dataset.from_pandas(ref, data_definition=definition),
        )
        elapsed = time.perf_counter() - started
    return {"seconds": elapsed}


RUNNERS = {"stepml": run_stepml, "numpy": run_numpy, "evidently": run_evidently}


def one(name: str, workdir: Path) -> None:
    result = RUNNERS[name](workdir)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=200_000)
    parser.add_argument("--only", choices=sorted(RUNNERS))
    parser.add_argument("--one", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, default=OUT / "drift-data")
    parser.add_argument("--repeat", type=int, default=3, help="runs of stepml and numpy (best is kept)")
    args = parser.parse_args()
    if args.one:
        one(args.one, args.workdir)
        return
    make_data(args.rows, args.reference_rows, args.workdir)
    results: dict[str, Any] = {"rows": args.rows, "reference_rows": args.reference_rows, "columns": N_NUM + N_CAT}
    for name in [args.only] if args.only else ["stepml", "numpy", "evidently"]:
        runs = []
        for _ in range(1 if name == "evidently" else args.repeat):
            proc = subprocess.run(
                [sys.executable, "-m", "bench.drift_bench", "--one", name, "--workdir", str(args.workdir)],
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        best = min(runs, key=lambda r: r["seconds"])
        results[name] = best
        print(f"{name:10s} {best['seconds']:7.2f} s  peak {best['peak_rss_mb']:7.0f} MB", flush=True)
    if "stepml" in results and "numpy" in results:
        results["stepml_vs_numpy"] = results["stepml"]["seconds"] / results["numpy"]["seconds"]
    if "stepml" in results and "evidently" in results:
        results["evidently_vs_stepml"] = results["evidently"]["seconds"] / results["stepml"]["seconds"]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "drift_bench.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k.endswith("vs_numpy") or k.endswith("vs_stepml")}))


if __name__ == "__main__":
    main()
