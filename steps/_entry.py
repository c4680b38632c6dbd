"""Shared plumbing for step entrypoints that run as their own process (SageMaker training job, ECS task).

An entrypoint parses its world (env, argv, /opt/ml paths) into typed inputs, calls a pure core, and maps the
outcome to an exit code. On failure it writes ``{"error", "step", "message"}`` JSON to its failure file (for
training that is SageMaker's ``/opt/ml/output/failure``) and prints the same message to stderr, so the local
runner - and in AWS, the state machine - can report which step failed and why.

Exit codes: 0 success, 2 bad input (a ``StepmlError``), 1 anything else (a crash).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from stepml.errors import StepError, StepExecutionError, StepmlError, to_failure


def write_failure(path: Path | None, error: StepError) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(to_failure(error)))
    os.replace(tmp, path)


def run_entrypoint(step: str, failure_file: Path | None, main: Callable[[], None]) -> int:
    """Run ``main``; turn any error into a failure file, a message on stderr and an exit code."""
    try:
        main()
    except StepmlError as exc:
        err = exc if isinstance(exc, StepError) else StepError(step, str(exc))
        write_failure(failure_file, err)
        print(f"stepml: {err}", file=sys.stderr)
        return 2
    except Exception as exc:  # a crash: keep the traceback in the log, report a named error
        traceback.print_exc()
        err = StepExecutionError(step, f"{type(exc).__name__}: {exc}")
        write_failure(failure_file, err)
        return 1
    return 0
