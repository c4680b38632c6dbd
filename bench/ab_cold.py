"""A/B of two trees on the cold run: ``stepml run`` of this tree vs another checkout (``--other``, e.g. the tree
before a change: ``git archive REV | tar -x -C DIR``), with the hand-written script, alternating every round. The
other tree runs with this venv and ``PYTHONPATH=OTHER`` (ahead of the editable install). On a shared machine the
same-hour comparison of the two trees says more than either ratio to the script.

    .venv/bin/python -m bench.ab_cold --other /tmp/before [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import shutil

from bench._common import (
    OUT,
    REPO,
    STEPML,
    bench_env,
    ensure_warehouse,
    fresh_dir,
    latest_run,
    make_spec,
    run_timed,
    step_durations,
)
from bench.cold_run import run_baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--other", required=True, help="the other tree's root")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    warehouse = ensure_warehouse(1_000_000, 1_000_000)
    rows = []
    for i in range(args.rounds):
        for label, root in (("this", str(REPO)), ("other", args.other), ("script", None)):
            env = bench_env("passive")
            if root is None:
                r = run_baseline(warehouse, env, 100 + i)
                rows.append({"label": label, "wall_s": r["wall_s"], "steps_s": r["stages_s"]})
            else:
                env["PYTHONPATH"] = root
                work = fresh_dir(f"ab-{label}-")
                spec = make_spec(work, warehouse, work / "artifacts")
                log = OUT / "logs" / f"ab-{label}-{i}.log"
                timed = run_timed([STEPML, "run", "--spec", str(spec)], env=env, cwd=work, log=log)
                rows.append(
                    {"label": label, "wall_s": timed.wall_s, "steps_s": step_durations(latest_run(work / "artifacts"))}
                )
                shutil.rmtree(work, ignore_errors=True)
            print(json.dumps(rows[-1]), flush=True)
    (OUT / "ab_cold.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
