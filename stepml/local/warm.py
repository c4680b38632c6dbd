"""A warm entry process: started when ``stepml run`` starts, it imports pandas and pyarrow while the command line
loads the spec and plans, then runs the first step entry the runner hands it - the same ``stepml.entry`` a fresh
child runs, so nothing but the start-up time differs.

The runner hands over one line on the child's stdin: the invocation file, the log file, the project's import
path. The child points its stdout and stderr at the log and runs the invocation; its exit code is the entry's.
A warm process nobody used exits when its stdin closes (the runner ends, or dies: it also dies with the runner).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from stepml.local.process import STEP_ENV, _pdeathsig

_LOCK = threading.Lock()
_WAITING: list[subprocess.Popen[bytes]] = []  # at most one


def start() -> None:
    """Start the warm process (once per command); harmless when no step ends up using it."""
    with _LOCK:
        if not _WAITING:
            proc = subprocess.Popen(
                [sys.executable, "-m", "stepml.local.warm"],
                env={**os.environ, **STEP_ENV},
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_pdeathsig if sys.platform == "linux" else None,  # noqa: PLW1509 - no threads touch it
            )
            _WAITING.append(proc)


def take() -> subprocess.Popen[bytes] | None:
    """The warm process, if one is waiting (each is used once)."""
    with _LOCK:
        proc = _WAITING.pop() if _WAITING else None
    if proc is not None and proc.poll() is not None:
        return None
    return proc


def hand_over(proc: subprocess.Popen[bytes], invocation: Path, log: Path, import_path: list[str], cwd: Path) -> None:
    assert proc.stdin is not None
    message = {"invocation": str(invocation), "log": str(log), "path": import_path, "cwd": str(cwd)}
    proc.stdin.write((json.dumps(message) + "\n").encode())
    proc.stdin.close()


def main() -> int:
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401 - the point: imported before the step is known

    line = sys.stdin.readline()
    if not line:
        return 0
    message = json.loads(line)
    log = os.open(message["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.path[:0] = [p for p in message["path"] if p not in sys.path]
    os.chdir(message["cwd"])
    from stepml.entry import Invocation, execute

    return execute(Invocation.from_json(json.loads(Path(message["invocation"]).read_text())))


if __name__ == "__main__":
    raise SystemExit(main())
