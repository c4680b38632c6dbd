"""Target 2: the unchanged re-run of stepml (everything cached) vs its cold run, and vs gokart's cached re-run.

1. stepml: one cold ``stepml run`` on a fresh artifact root (1M + 1M sample warehouse), then ``--reruns`` re-runs,
   each a fresh process; every re-run must report all six steps ``cached``. Target: median re-run <= 3% of cold.
2. One more re-run under ``python -X importtime``: which heavy packages a cached run imports (target: none of
   pandas, sklearn, pyarrow, duckdb) and where its import time goes.
3. gokart: a venv at bench/out/gokart-venv (created when missing), bench/gokart_pipeline.py run once cold, then
   ``--reruns`` cached re-runs (fresh processes; the workspace's files must stay untouched).
   Target: stepml's median cached re-run faster than gokart's.

    .venv/bin/python -m bench.cached_run [--rows N] [--score-rows N] [--reruns 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
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
    step_statuses,
    verdict,
    write_results,
)

FRACTION_TARGET = 0.03
HEAVY = ("pandas", "sklearn", "pyarrow", "duckdb")
INFO = ("numpy", "scipy", "sqlglot", "boto3", "botocore", "pydantic", "yaml", "rich", "typer", "click")
GOKART_VENV = OUT / "gokart-venv"
GOKART_PINS = ["gokart==1.12.2", "pandas==2.3.3", "scikit-learn==1.8.0", "duckdb==1.4.3", "pyarrow==22.0.0"]


# ------------------------------------------------------------------ stepml


def stepml_runs(warehouse: Path, env: dict[str, str], reruns: int) -> dict[str, Any]:
    work = fresh_dir("cached-stepml-")
    spec = make_spec(work, warehouse, work / "artifacts")
    cmd = [STEPML, "run", "--spec", str(spec)]
    cold = run_timed(cmd, env=env, cwd=work, log=OUT / "logs" / "cached-stepml-cold.log")
    statuses = step_statuses(latest_run(work / "artifacts"))
    if set(statuses.values()) != {"ran"}:
        raise RuntimeError(f"the cold run should run every step, got {statuses}")
    print(f"stepml cold run {cold.wall_s:.2f}s", flush=True)
    cached: list[float] = []
    not_cached: list[dict[str, str]] = []
    while len(cached) < reruns:
        timed = run_timed(cmd, env=env, cwd=work, log=OUT / "logs" / "cached-stepml-rerun.log")
        statuses = step_statuses(latest_run(work / "artifacts"))
        if set(statuses.values()) != {"cached"}:
            # someone changed a step's code or SQL in the meantime: that was no cached run; try again
            not_cached.append(statuses)
            if len(not_cached) > 3:
                raise RuntimeError(f"re-runs keep recomputing steps: {not_cached}")
            continue
        cached.append(timed.wall_s)
    imports = import_profile([PYTHON, "-X", "importtime", *cmd], env, work)
    shutil.rmtree(work, ignore_errors=True)
    return {
        "cold_wall_s": round(cold.wall_s, 3),
        "cached_wall_s": [round(t, 4) for t in cached],
        "cached_min_s": round(min(cached), 4),
        "cached_median_s": round(statistics.median(cached), 4),
        "reruns_that_recomputed": not_cached,
        "imports": imports,
    }


def import_profile(cmd: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Parse ``-X importtime`` output: heavy packages imported, total, and the costliest top-level imports."""
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=True)
    self_us = 0
    top: list[tuple[int, str]] = []
    modules: set[str] = set()
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
            continue
        self_part, cumulative, name = line[len("import time:") :].split("|")
        self_us += int(self_part.strip())
        modules.add(name.strip().split(".")[0])
        if not name[1:].startswith(" "):  # a top-level import (nesting is shown by indentation)
            top.append((int(cumulative.strip()), name.strip()))
    top.sort(reverse=True)
    return {
        "heavy_imported": {m: m in modules for m in HEAVY},
        "other_imported": {m: m in modules for m in INFO},
        "total_import_s": round(self_us / 1e6, 4),
        "top_level_cumulative_s": {n: round(us / 1e6, 4) for us, n in top[:10]},
    }


# ------------------------------------------------------------------ gokart


def ensure_gokart_venv() -> Path:
    python = GOKART_VENV / "bin" / "python"
    if not python.exists():
        base = shutil.which("python3") or sys.executable
        print(f"creating {GOKART_VENV} ({' '.join(GOKART_PINS)})", flush=True)
        subprocess.run([base, "-m", "venv", str(GOKART_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *GOKART_PINS], check=True)
    return python


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*") if p.is_file()}


def gokart_runs(warehouse: Path, env: dict[str, str], reruns: int) -> dict[str, Any]:
    python = ensure_gokart_venv()
    work = fresh_dir("cached-gokart-")
    workspace = work / "workspace"
    cmd = [str(python), str(REPO / "bench" / "gokart_pipeline.py"), "--workspace", str(workspace)]
    cmd += ["--warehouse", str(warehouse)]
    # untimed warm-up of gokart's imports (stepml's were warmed by its own cold run)
    run_timed([str(python), "-c", "import gokart, luigi, duckdb, sklearn.ensemble"], env=env, cwd=work)
    cold = run_timed(cmd, env=env, cwd=work, log=OUT / "logs" / "cached-gokart-cold.log")
    print(f"gokart cold run {cold.wall_s:.2f}s", flush=True)
    before = snapshot(workspace)
    outputs = sorted(k for k in before if not k.startswith("log/"))
    cached = []
    for _ in range(reruns):
        cached.append(run_timed(cmd, env=env, cwd=work, log=OUT / "logs" / "cached-gokart-rerun.log").wall_s)
    after = snapshot(workspace)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if any(not k.startswith("log/") for k in changed):
        raise RuntimeError(f"gokart's re-runs rewrote outputs: {changed}")
    versions = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('gokart'), m.version('luigi'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    imports = import_profile([str(python), "-X", "importtime", *cmd[1:]], env, work)
    shutil.rmtree(work, ignore_errors=True)
    return {
        "versions": {"gokart": versions[0], "luigi": versions[1]},
        "outputs": outputs,
        "cold_wall_s": round(cold.wall_s, 3),
        "cached_wall_s": [round(t, 4) for t in cached],
        "cached_min_s": round(min(cached), 4),
        "cached_median_s": round(statistics.median(cached), 4),
        "imports": imports,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--score-rows", type=int, default=1_000_000)
    parser.add_argument("--reruns", type=int, default=5)
    parser.add_argument("--omp-wait-policy", choices=OMP_POLICIES, default="passive")
    args = parser.parse_args()

    started = time.perf_counter()
    warehouse = ensure_warehouse(args.rows, args.score_rows)
    ours = stepml_runs(warehouse, bench_env(args.omp_wait_policy), args.reruns)
    theirs = gokart_runs(warehouse, bench_env(args.omp_wait_policy, repo_on_path=False), args.reruns)

    fraction = ours["cached_median_s"] / ours["cold_wall_s"]
    vs_gokart = ours["cached_median_s"] / theirs["cached_median_s"]
    heavy = [m for m, hit in ours["imports"]["heavy_imported"].items() if hit]
    results = {
        "benchmark": "cached_run",
        "machine": machine(),
        "config": {
            "rows": args.rows,
            "score_rows": args.score_rows,
            "reruns": args.reruns,
            "omp_wait_policy": args.omp_wait_policy,
        },
        "stepml": ours,
        "gokart": theirs,
        "cached_over_cold": round(fraction, 5),
        "fraction_target": f"<= {FRACTION_TARGET}",
        "fraction_met": fraction <= FRACTION_TARGET,
        "stepml_over_gokart_cached": round(vs_gokart, 4),
        "gokart_target": "stepml cached re-run faster than gokart's (< 1.0)",
        "gokart_met": vs_gokart < 1.0,
        "heavy_imports_in_cached_run": heavy,
        "imports_met": not heavy,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    rows = [
        ("stepml cold run", f"{ours['cold_wall_s']:.2f}s"),
        ("stepml cached re-runs", ", ".join(f"{t:.3f}s" for t in ours["cached_wall_s"])),
        ("stepml cached median", f"{ours['cached_median_s']:.3f}s"),
        ("cached / cold", f"{fraction:.2%}  (target <= {FRACTION_TARGET:.0%}: {verdict(fraction <= FRACTION_TARGET)})"),
        ("gokart cold run", f"{theirs['cold_wall_s']:.2f}s"),
        ("gokart cached re-runs", ", ".join(f"{t:.3f}s" for t in theirs["cached_wall_s"])),
        ("gokart cached median", f"{theirs['cached_median_s']:.3f}s"),
        ("stepml / gokart cached", f"{vs_gokart:.3f}  (target < 1: {verdict(vs_gokart < 1.0)})"),
        ("heavy imports (cached stepml)", (", ".join(heavy) or "none") + f"  ({verdict(not heavy)})"),
        ("stepml import time (cached)", f"{ours['imports']['total_import_s']:.3f}s"),
        ("gokart import time (cached)", f"{theirs['imports']['total_import_s']:.3f}s"),
    ]
    print_table(f"cached re-run, {args.score_rows:,} scoring rows", rows)
    write_results("cached_run", results)


if __name__ == "__main__":
    main()
