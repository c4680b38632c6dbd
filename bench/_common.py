"""Helpers shared by the benchmark scripts: sample data, spec copies, timed child processes, results.

Timing is wall-clock around a child process (``time.perf_counter`` from spawn to reap); peak RSS and CPU time
come from ``os.wait4`` (the same rusage GNU ``/usr/bin/time -v`` reports), so no polling is needed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
PYTHON = sys.executable
STEPML = str(Path(sys.executable).parent / "stepml")  # the console script a user runs

# libgomp's default (active) wait policy spins between parallel regions; on this 2-vCPU VM that made
# HistGradientBoosting training take 26-180 s instead of ~27 s (see docs/benchmarks.md). The benchmarks set
# PASSIVE for *both* sides of every comparison unless --omp-wait-policy default is given.
OMP_POLICIES = ("passive", "default")


@dataclass
class Timed:
    wall_s: float
    user_s: float
    sys_s: float
    maxrss_mib: float
    returncode: int

    def to_json(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def bench_env(omp_policy: str, extra: Mapping[str, str] | None = None, *, repo_on_path: bool = True) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if omp_policy == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    if repo_on_path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH", "")] if p)
    env.update(extra or {})
    return env


def _spawn(
    cmd: Sequence[str], env: Mapping[str, str] | None, cwd: Path | None, log: Path | None
) -> subprocess.Popen[bytes]:
    out: Any = subprocess.DEVNULL
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = open(log, "wb")  # noqa: SIM115 - closed right after the spawn, the child keeps its copy
    try:
        return subprocess.Popen(
            list(cmd), env=dict(env) if env else None, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
    finally:
        if log is not None:
            out.close()


def _reap(proc: subprocess.Popen[bytes]) -> tuple[int, Any]:
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # reaped here, so Popen must not wait again
    return code, usage


def run_timed(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
    check: bool = True,
) -> Timed:
    """Run ``cmd`` to completion; wall time, CPU time and peak RSS of that child."""
    started = time.perf_counter()
    proc = _spawn(cmd, env, cwd, log)
    code, usage = _reap(proc)
    wall = time.perf_counter() - started
    if check and code != 0:
        where = f" (log: {log})" if log else ""
        raise RuntimeError(f"command failed with exit code {code}: {' '.join(cmd)}{where}")
    return Timed(wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss / 1024, code)


def run_parallel_timed(
    cmds: Sequence[Sequence[str]], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, list[Timed]]:
    """Start every command at once; (wall time until the last one exits, each child's own numbers)."""
    started = time.perf_counter()
    procs = [_spawn(c, env, cwd, None) for c in cmds]
    results = []
    for proc in procs:
        code, usage = _reap(proc)
        results.append(
            Timed(time.perf_counter() - started, usage.ru_utime, usage.ru_stime, usage.ru_maxrss / 1024, code)
        )
    wall = time.perf_counter() - started
    failed = [r.returncode for r in results if r.returncode != 0]
    if failed:
        raise RuntimeError(f"parallel commands failed with exit codes {failed}: {cmds}")
    return wall, results


# ------------------------------------------------------------------ data and specs


def ensure_warehouse(rows: int, score_rows: int, seed: int = 7) -> Path:
    """The sample warehouse with ``rows`` history and ``score_rows`` scoring invitations, generated once."""
    from examples.job_matching.sampledata import SampleConfig, write_sample_warehouse

    path = OUT / f"warehouse-{rows}-{score_rows}-{seed}.duckdb"
    if not path.exists():
        started = time.perf_counter()
        summary = write_sample_warehouse(path, SampleConfig(rows=rows, score_rows=score_rows, seed=seed))
        print(f"wrote {path.name} in {time.perf_counter() - started:.1f}s: {summary.tables}", flush=True)
    return path


def make_spec(workdir: Path, warehouse: Path, artifact_root: Path) -> Path:
    """A copy of pipeline.yaml (and sql/) in ``workdir``: only artifact_root and the warehouse path differ."""
    import yaml

    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "sql", workdir / "sql", dirs_exist_ok=True)
    data = yaml.safe_load((REPO / "pipeline.yaml").read_text())
    data["artifact_root"] = str(artifact_root)
    data["warehouse"]["local"]["path"] = str(warehouse)
    spec = workdir / "pipeline.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    return spec


def fresh_dir(prefix: str) -> Path:
    base = OUT / "work"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def latest_run(artifact_root: Path, pipeline: str = "job-matching") -> dict[str, Any]:
    """The newest run record (``<root>/<pipeline>/runs/<run_id>.json``)."""
    runs = sorted((artifact_root / pipeline / "runs").glob("*.json"))
    if not runs:
        raise RuntimeError(f"no run record under {artifact_root}")
    data: dict[str, Any] = json.loads(runs[-1].read_text())
    return data


def step_statuses(record: Mapping[str, Any]) -> dict[str, str]:
    return {s["name"]: s["status"] for s in record["steps"]}


def step_durations(record: Mapping[str, Any]) -> dict[str, float]:
    return {s["name"]: float(s["duration_s"]) for s in record["steps"]}


def manifests(artifact_root: Path, step: str, pipeline: str = "job-matching") -> list[dict[str, Any]]:
    found = sorted((artifact_root / pipeline / "steps" / step).glob("*/_manifest.json"))
    return [json.loads(p.read_text()) for p in found]


# ------------------------------------------------------------------ reporting


def machine() -> dict[str, Any]:
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "date": dt.datetime.now(tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "mem_gib": round(mem_kib / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "git": _git_state(),
    }


def _git_state() -> str:
    """HEAD and how many files differ from it (others edit the tree while benchmarks run)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    changed = len(dirty.stdout.splitlines())
    return head.stdout.strip() + (f" + {changed} uncommitted file(s)" if changed else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def print_table(title: str, rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    print(f"\n{title}\n" + "-" * len(title))
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def write_results(name: str, results: Mapping[str, Any]) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults: {path}")
    return path


def verdict(met: bool) -> str:
    return "MET" if met else "MISSED"
