"""Scratch folders under the system temp dir: one per run (``stepml-run-<pid>-*``), every attempt's inside it.

The runner removes its folder when it ends, however it ends; a run killed with ``kill -9`` cannot, so each run
first sweeps the folders whose owner (``.owner.json``: host, pid, process start) is gone.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from stepml.store.lock import Owner, process_alive

PREFIX = "stepml-run-"
OWNER = ".owner.json"


def create(owner: Owner, base: Path | None = None) -> Path:
    """A fresh scratch folder for the run of ``owner``, recording who owns it."""
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{owner.pid}-", dir=base))
    body = {"run_id": owner.run_id, "host": owner.host, "pid": owner.pid, "pid_started": owner.pid_started}
    (path / OWNER).write_text(json.dumps(body))
    return path


def sweep(base: Path | None = None) -> list[Path]:
    """Remove the scratch folders of runs whose process is gone (on this host); the ones removed."""
    removed = []
    for path in Path(base or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            info = json.loads((path / OWNER).read_text())
            alive = process_alive(str(info["host"]), int(info["pid"]), info.get("pid_started"))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being created, or not ours to judge
        if alive is False:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
