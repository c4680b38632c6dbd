"""Target 1: a cold ``stepml run`` of the reference pipeline vs the hand-written script (bench/baseline_script.py).

Both read the same sample warehouse (1M history + 1M scoring invitations by default). ``ours`` is
``stepml run --spec <copy of pipeline.yaml>`` with a fresh artifact root every time; ``baseline`` is
``python bench/baseline_script.py`` with a fresh output directory. After an untimed warm-up of the imports and
the warehouse file, the two alternate for ``--rounds`` rounds; the minimum wall time of each is compared.
Target: ours / baseline <= 1.2. Both do the same checks (the baseline by hand with pandas/scipy); the ratio with
the check stage left out of both is reported beside it, so the runner's overhead around the same SQL, fit and
predict is visible on its own. Results go to bench/out/cold_run.json (cold_run-omp-default.json with
``--omp-wait-policy default``).

    .venv/bin/python bench/cold_run.py [--rows N] [--score-rows N] [--rounds 2] [--omp-wait-policy passive]
"""

from __future__ import annotations

import argparse
import json
import shutil
from typing import Any

from bench._common import (
    OMP_POLICIES,
    OUT,
    PYTHON,
    REPO,
    STEPML,
    bench_env,
    ensure_warehouse,
    fresh_dir,
    latest_run,
    machine,
    make_spec,
    print_table,
    run_timed,
    step_durations,
    step_statuses,
    verdict,
    write_results,
)

TARGET = 1.2


def run_ours(warehouse: Any, env: dict[str, str], i: int) -> dict[str, Any]:
    work = fresh_dir("cold-ours-")
    spec = make_spec(work, warehouse, work / "artifacts")
    timed = run_timed([STEPML, "run", "--spec", str(spec)], env=env, cwd=work, log=OUT / "logs" / f"cold-ours-{i}.log")
    record = latest_run(work / "artifacts")
    statuses = step_statuses(record)
    if set(statuses.values()) != {"ran"}:
        raise RuntimeError(f"a cold run should run every step, got {statuses}")
    shutil.rmtree(work, ignore_errors=True)
    return {
        **timed.to_json(),
        "steps_s": step_durations(record),
        "runner_s": record["finished_at"] - record["started_at"],
    }


def run_baseline(warehouse: Any, env: dict[str, str], i: int) -> dict[str, Any]:
    work = fresh_dir("cold-baseline-")
    log = OUT / "logs" / f"cold-baseline-{i}.log"
    cmd = [PYTHON, str(REPO / "bench" / "baseline_script.py"), "--warehouse", str(warehouse), "--out", str(work)]
    timed = run_timed(cmd, env=env, cwd=REPO, log=log)
    summary = json.loads(log.read_text().strip().splitlines()[-1])
    shutil.rmtree(work, ignore_errors=True)
    return {**timed.to_json(), "stages_s": summary["times"], "roc_auc": summary["roc_auc"], "rows": summary["rows"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--score-rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--omp-wait-policy", choices=OMP_POLICIES, default="passive")
    args = parser.parse_args()

    warehouse = ensure_warehouse(args.rows, args.score_rows)
    env = bench_env(args.omp_wait_policy)
    # warm-up, untimed: the page cache holds the interpreter's imports and the warehouse file afterwards
    run_timed([PYTHON, "-c", "import duckdb, pandas, pyarrow.parquet, sklearn.ensemble, stepml.cli"], env=env)
    warehouse.read_bytes()

    ours: list[dict[str, Any]] = []
    baseline: list[dict[str, Any]] = []
    for i in range(args.rounds):
        ours.append(run_ours(warehouse, env, i))
        print(f"round {i + 1}: ours {ours[-1]['wall_s']:.2f}s", flush=True)
        baseline.append(run_baseline(warehouse, env, i))
        print(f"round {i + 1}: baseline {baseline[-1]['wall_s']:.2f}s", flush=True)

    best_ours = min(ours, key=lambda r: r["wall_s"])
    best_base = min(baseline, key=lambda r: r["wall_s"])
    ratio = best_ours["wall_s"] / best_base["wall_s"]
    # the same comparison with the checks left out on both sides: what the runner costs around the same work
    bare_ours = best_ours["wall_s"] - best_ours["steps_s"]["check"]
    bare_base = best_base["wall_s"] - best_base["stages_s"]["check"]
    bare_ratio = bare_ours / bare_base
    results = {
        "benchmark": "cold_run",
        "machine": machine(),
        "config": {
            "rows": args.rows,
            "score_rows": args.score_rows,
            "rounds": args.rounds,
            "omp_wait_policy": args.omp_wait_policy,
            "spec": "pipeline.yaml (copy; artifact_root and warehouse path changed)",
        },
        "ours": {"runs": ours, "min_wall_s": best_ours["wall_s"]},
        "baseline": {"runs": baseline, "min_wall_s": best_base["wall_s"]},
        "ratio_ours_over_baseline": round(ratio, 3),
        "ratio_without_checks": round(bare_ratio, 3),
        "target": f"<= {TARGET}",
        "met": ratio <= TARGET,
    }
    rows = [
        ("ours (stepml run) wall, each", ", ".join(f"{r['wall_s']:.2f}s" for r in ours)),
        ("baseline script wall, each", ", ".join(f"{r['wall_s']:.2f}s" for r in baseline)),
        ("ours min", f"{best_ours['wall_s']:.2f}s"),
        ("baseline min", f"{best_base['wall_s']:.2f}s"),
        ("ratio ours/baseline", f"{ratio:.3f}  (target <= {TARGET}: {verdict(ratio <= TARGET)})"),
        ("ratio without the checks", f"{bare_ratio:.3f}  ({bare_ours:.2f}s vs {bare_base:.2f}s)"),
        ("ours steps (best run)", ", ".join(f"{k} {v:.1f}s" for k, v in best_ours["steps_s"].items())),
        ("baseline stages (best run)", ", ".join(f"{k} {v:.1f}s" for k, v in best_base["stages_s"].items())),
    ]
    print_table(f"cold run, {args.score_rows:,} scoring rows, OMP_WAIT_POLICY={args.omp_wait_policy}", rows)
    write_results("cold_run" if args.omp_wait_policy == "passive" else "cold_run-omp-default", results)


if __name__ == "__main__":
    main()
