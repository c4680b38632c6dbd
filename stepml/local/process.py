"""Child processes of a local run: a step's entrypoint, with its log, timeout and error.

A child dies with the runner (Linux ``PR_SET_PDEATHSIG``), so a killed run leaves nothing computing. Its output
goes to ``<attempt>/logs/<name>.log`` (kept when the attempt fails, ``stepml.local.attempt``); a failure is
re-raised as the error class the child reported in its failure file, or as ``StepExecutionError`` with the log's
last lines.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from stepml.errors import StepExecutionError, from_failure


def _pdeathsig() -> None:  # pragma: no cover - runs in the child
    """Linux: let the child die with its runner, so a killed run leaves no orphan computing."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


# what every step process runs with, locally and in the image (Dockerfile): string hashing (the order of sets
# pickled into a model) fixed, so the same training gives byte-identical model files and content digests
STEP_ENV = {"PYTHONHASHSEED": "0"}


def child_env(extra: Mapping[str, str], import_path: Sequence[Path]) -> dict[str, str]:
    """The runner's environment, the project on the import path, :data:`STEP_ENV`, and ``extra``."""
    path = [str(p) for p in import_path] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, **STEP_ENV, "PYTHONPATH": os.pathsep.join(dict.fromkeys(path)), **extra}


def run_process(
    step: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    failure_file: Path,
    timeout_s: float,
) -> None:
    """Run ``python ARGS``; on failure raise the error class it reported (or StepExecutionError)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, *args],
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            preexec_fn=_pdeathsig if sys.platform == "linux" else None,  # noqa: PLW1509 - no threads touch it
        )
        wait_process(step, proc, log_path=log_path, failure_file=failure_file, timeout_s=timeout_s)


def wait_process(
    step: str, proc: subprocess.Popen[bytes], *, log_path: Path, failure_file: Path, timeout_s: float
) -> None:
    """Wait for a step's child; on failure raise the error class it reported (or StepExecutionError)."""
    try:
        code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise StepExecutionError(step, f"timed out after {timeout_s / 60:.0f} min") from None
    check_exit(step, code, log_path=log_path, failure_file=failure_file)


def check_exit(step: str, code: int, *, log_path: Path, failure_file: Path) -> None:
    """A step entry's exit code: nothing for 0, else the error class it reported (or StepExecutionError)."""
    if code == 0:
        return
    if failure_file.exists():
        raise from_failure(json.loads(failure_file.read_text()), step=step)
    tail = log_path.read_text(errors="replace").strip().splitlines()[-5:] if log_path.exists() else []
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    raise StepExecutionError(step, f"the process {how}: {' | '.join(tail)}")
