"""Warm entry processes (workers): ``python -m stepml.local.warm`` runs step entries handed to it one at a time -
the same ``stepml.entry.execute`` a fresh ``python -m stepml.entry`` runs, so nothing but the start-up differs.

- ``stepml run`` starts one at once (:func:`start`): it imports pandas and pyarrow while the command line loads
  the spec and plans. The first step entry takes it (:func:`take`); taking it starts a replacement while steps
  remain to be started (:func:`steps_ahead`, set by the runner), so the next step's entry finds one ready too.
- A worker serves one step: the partitions of a step (a score step's ``max_concurrency`` processes) are handed
  to the same workers one after another, so a partition after the first finds the step's modules imported and
  its model loaded. It is closed when the step is done (or after a failed entry), never handed another step.
- Protocol: one JSON line per entry on the worker's stdin (the invocation file, the log file, the project's
  import path, the working folder); the worker points its stdout and stderr at that log, runs the entry and
  answers ``{"code": N}`` (the exit code a fresh process would have had) on a line of its own stdout pipe. It
  exits when its stdin closes; a crash ends it with the code a fresh process would have had (it dies with the
  runner too, ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from stepml.errors import StepExecutionError
from stepml.local.process import STEP_ENV, _pdeathsig, check_exit

_LOCK = threading.Lock()
_SPARE: list[Worker] = []  # at most one, started with the command or as a replacement
_POOL = {"enabled": False, "ahead": 1}  # start() enables replacements; steps still to be started by the runner


class Worker:
    """One warm entry process; runs the entries handed to it one at a time (not thread-safe: one user)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stepml.local.warm"],
            env={**os.environ, **STEP_ENV},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            preexec_fn=_pdeathsig if sys.platform == "linux" else None,  # noqa: PLW1509 - no threads touch it
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(
        self,
        step: str,
        invocation: Path,
        *,
        log: Path,
        import_path: Sequence[str],
        cwd: Path,
        failure_file: Path,
        timeout_s: float,
    ) -> None:
        """Run the entry of ``invocation``; on failure raise the error class it reported (or StepExecutionError)."""
        self._call(step, {"invocation": str(invocation)}, log, import_path, cwd, failure_file, timeout_s)

    def run_module(
        self,
        step: str,
        module: str,
        env: Mapping[str, str],
        *,
        log: Path,
        import_path: Sequence[str],
        cwd: Path,
        failure_file: Path,
        timeout_s: float,
    ) -> None:
        """``python -m MODULE`` with ``env`` added to the environment while it runs (for a program that reads
        its settings from the environment when it runs, not when the interpreter starts)."""
        message: dict[str, object] = {"module": module, "env": dict(env)}
        self._call(step, message, log, import_path, cwd, failure_file, timeout_s)

    def _call(
        self,
        step: str,
        message: dict[str, object],
        log: Path,
        import_path: Sequence[str],
        cwd: Path,
        failure_file: Path,
        timeout_s: float,
    ) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        log.parent.mkdir(parents=True, exist_ok=True)
        message = {**message, "log": str(log), "path": list(import_path), "cwd": str(cwd)}
        code: int | None = None
        try:
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:  # it died before taking the entry
            code = self.proc.wait()
        if code is None:
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
            if not ready:
                self.proc.kill()
                self.proc.wait()
                raise StepExecutionError(step, f"timed out after {timeout_s / 60:.0f} min")
            line = self.proc.stdout.readline()
            code = int(json.loads(line)["code"]) if line else self.proc.wait()
        check_exit(step, code, log_path=log, failure_file=failure_file)

    def close(self) -> None:
        """Let it exit (its stdin closes) and wait until it has, as the runner waits for a fresh process."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):  # a worker that died: nothing to tell it
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start() -> None:
    """Start the warm worker (once per command) and let taken ones be replaced; harmless when none is used."""
    with _LOCK:
        _POOL["enabled"] = True
        if not _SPARE:
            _SPARE.append(Worker())


def steps_ahead(count: int) -> None:
    """How many steps the runner has still to start: a taken worker is replaced only while some remain."""
    _POOL["ahead"] = count


def take() -> Worker | None:
    """The waiting warm worker, if there is one (each is taken once); a replacement is started if needed."""
    with _LOCK:
        worker = _SPARE.pop() if _SPARE else None
        if worker is not None and _POOL["enabled"] and _POOL["ahead"] > 0:
            _SPARE.append(Worker())
    if worker is not None and not worker.alive():
        return None
    return worker


def main() -> int:
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401 - the point: imported before the step is known

    replies = os.fdopen(os.dup(1), "w")  # to the runner; fd 1 and 2 become each entry's log
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    while line := sys.stdin.readline():
        code = _run(json.loads(line), quiet)
        replies.write(json.dumps({"code": code}) + "\n")
        replies.flush()
    return 0


def _run(message: dict[str, object], quiet: int) -> int:
    """One entry, its output in its log (as a fresh ``python -m stepml.entry`` whose stdout is the log)."""
    log = os.open(str(message["log"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    try:
        path = message["path"]
        assert isinstance(path, list)
        sys.path[:0] = [p for p in path if p not in sys.path]
        os.chdir(str(message["cwd"]))
        if "module" in message:
            return _run_module(str(message["module"]), message["env"])
        from stepml.entry import Invocation, execute

        return execute(Invocation.from_json(json.loads(Path(str(message["invocation"])).read_text())))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)


def _run_module(module: str, env: object) -> int:
    """``python -m MODULE``: run as ``__main__``, its ``SystemExit`` turned into the exit code; an uncaught
    error ends the worker with a traceback in the log and code 1, as it ends a fresh interpreter."""
    import runpy

    assert isinstance(env, dict)
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
