"""A user step's overhead over calling its function directly: target <= 0.3 s on 1M rows.

The function is the example project's feature step (``examples.job_matching.features:add_features``) on the 1M
scoring invitations of the sample warehouse.

- ``ours``: ``stepml run --step features --rerun features`` - a fresh CLI process that loads the spec, plans,
  finds the extract cached, takes the step's lock, runs the function in its entry process (the same process model
  as every run), writes its table and commits the manifest.
- ``baseline``: a fresh ``python`` process that reads the same extract's parquet files into a DataFrame, calls the
  function, and writes its result to parquet - calling the function directly, with the same input and output.

Both sides alternate for ``--rounds`` rounds; the overhead is the difference of the medians (and of the minimums).

    .venv/bin/python -m bench.user_step [--score-rows 1000000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import yaml

from bench._common import (
    OMP_POLICIES,
    PYTHON,
    REPO,
    STEPML,
    bench_env,
    ensure_warehouse,
    fresh_dir,
    latest_run,
    machine,
    print_table,
    run_timed,
    step_statuses,
    verdict,
    write_results,
)

TARGET_S = 0.3
PIPELINE = "user-step-bench"
BASELINE = """
import sys
import pyarrow.parquet as pq
from examples.job_matching.features import add_features
files, out = sys.argv[1:-1], sys.argv[-1]
frame = pq.ParquetDataset(files).read().to_pandas()
add_features(frame, clip_ratio=3.0).to_parquet(out, index=False)
"""


def make_project(work: Path, warehouse: Path) -> Path:
    spec = {
        "name": PIPELINE,
        "artifact_root": str(work / "artifacts"),
        "project_root": str(REPO),
        "warehouse": {"local": {"path": str(warehouse)}},
        "params": {"as_of": {"type": "date", "default": "2026-05-01"}, "score_days": {"type": "int", "default": 30}},
        "steps": {
            "invitations": {"type": "extract", "sql": str(REPO / "sql" / "scoring_set.sql"), "rows_per_file": 500_000},
            "features": {
                "type": "python",
                "function": "examples.job_matching.features:add_features",
                "needs": ["invitations"],
                "inputs": {"raw": "invitations"},
                "config": {"clip_ratio": 3.0},
                "rows_per_file": 2_000_000,
            },
        },
    }
    path = work / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def extract_files(artifact_root: Path) -> list[str]:
    (manifest,) = [
        json.loads(p.read_text()) for p in (artifact_root / PIPELINE / "steps" / "invitations").glob("*/_manifest.json")
    ]
    prefix = artifact_root / manifest["prefix"]
    return [str(prefix / f["path"]) for f in manifest["files"] if f["role"] == "data"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--score-rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--omp-wait-policy", choices=OMP_POLICIES, default="passive")
    args = parser.parse_args()

    warehouse = ensure_warehouse(args.rows, args.score_rows)
    env = bench_env(args.omp_wait_policy)
    work = fresh_dir("user-step-")
    spec = make_project(work, warehouse)
    run_timed([STEPML, "run", "--spec", str(spec)], env=env, cwd=work)  # the extract, cached from here on
    files = extract_files(work / "artifacts")
    ours_cmd = [STEPML, "run", "--spec", str(spec), "--step", "features", "--rerun", "features"]
    base_cmd = [PYTHON, "-c", BASELINE, *files, str(work / "baseline.parquet")]
    ours, base = [], []
    for _ in range(args.rounds):
        ours.append(run_timed(ours_cmd, env=env, cwd=work).wall_s)
        statuses = step_statuses(latest_run(work / "artifacts", PIPELINE))
        assert statuses == {"invitations": "cached", "features": "ran"}, statuses
        base.append(run_timed(base_cmd, env=env, cwd=work).wall_s)
    record = latest_run(work / "artifacts", PIPELINE)
    rows = next(s["rows"] for s in record["steps"] if s["name"] == "features")
    median = statistics.median(ours) - statistics.median(base)
    best = min(ours) - min(base)
    results: dict[str, Any] = {
        "machine": machine(),
        "rows": rows,
        "ours_s": [round(x, 3) for x in ours],
        "baseline_s": [round(x, 3) for x in base],
        "overhead_median_s": round(median, 3),
        "overhead_min_s": round(best, 3),
        "target_s": TARGET_S,
        "met": median <= TARGET_S,
    }
    print_table(
        f"user step overhead over calling its function ({rows:,} rows)",
        [
            ("stepml run --step features (each)", ", ".join(f"{x:.3f}" for x in ours)),
            ("the function in a script (each)", ", ".join(f"{x:.3f}" for x in base)),
            ("overhead, medians", f"{median:.3f} s"),
            ("overhead, minimums", f"{best:.3f} s"),
            (f"target <= {TARGET_S} s", verdict(median <= TARGET_S)),
        ],
    )
    write_results("user_step", results)


if __name__ == "__main__":
    main()
