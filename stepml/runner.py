"""The local executor: run a plan with gokart's semantics.

- A step whose manifest exists (and whose files are intact) is a cache hit and is skipped.
- ``rerun`` recomputes the named steps and everything downstream.
- A step is computed only under its lock; a run that finds a step locked by another live run works on other
  ready steps and comes back, then finds the step committed (a cache hit) - so concurrent runs never compute the
  same step twice. A lock whose holder died is broken at once (same host) or when its lease runs out.
- Files go into a fresh attempt directory; the manifest, written last, commits them. A failed or killed attempt
  leaves no manifest, so nothing anyone can mistake for a result; earlier outputs are never touched.
- Every run writes its tree (step, cached/ran/failed, duration, output) to ``<pipeline>/runs/<run_id>.json``.

A cached run reads manifests only: it imports neither pandas nor scikit-learn.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stepml import manifest as mf
from stepml.errors import LockError, RunError, StepError, StepExecutionError, StepmlError
from stepml.lock import Owner, StepLock
from stepml.plan import Plan, PlannedStep, make_plan, plan_input
from stepml.registry import Registry
from stepml.spec import Pipeline
from stepml.store import Store, join

RUN_SCHEMA = mf.RUN_SCHEMA


@dataclass
class StepOutcome:
    name: str
    type: str
    key: str
    status: str = "pending"  # cached | ran | failed | skipped | pending
    duration_s: float = 0.0
    waited_s: float = 0.0
    output: str | None = None
    rows: int | None = None
    detail: str = ""
    error: str | None = None
    error_type: str | None = None


@dataclass
class RunRecord:
    run_id: str
    pipeline: str
    params: dict[str, Any]
    root: str
    started_at: float
    finished_at: float | None = None
    status: str = "running"  # running | succeeded | failed
    steps: list[StepOutcome] = field(default_factory=list)
    execution_arn: str | None = None  # runs in AWS: the Step Functions execution (written by the notify Lambda)

    def to_json(self) -> dict[str, Any]:
        return {"schema": RUN_SCHEMA, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        data = {k: v for k, v in data.items() if k != "schema"}
        steps = [StepOutcome(**s) for s in data.pop("steps", [])]
        return cls(**data, steps=steps)

    @property
    def duration_s(self) -> float:
        return (self.finished_at or time.time()) - self.started_at


class Events:
    """Progress callbacks (the CLI prints them; the Python API stays quiet)."""

    def step_started(self, step: PlannedStep) -> None: ...
    def step_waiting(self, step: PlannedStep, holder: dict[str, Any] | None) -> None: ...
    def step_finished(self, outcome: StepOutcome) -> None: ...
    def message(self, text: str) -> None: ...


def new_run_id(now: float | None = None) -> str:
    stamp = dt.datetime.fromtimestamp(now or time.time(), tz=dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


class LocalRunner:
    def __init__(
        self,
        pipeline: Pipeline,
        store: Store,
        *,
        events: Events | None = None,
        lease_seconds: float = 60.0,
        poll_seconds: float = 0.2,
        wait_timeout_seconds: float = 6 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.events = events or Events()
        self.lease = lease_seconds
        self.poll = poll_seconds
        self.wait_timeout = wait_timeout_seconds
        self.clock = clock

    # ------------------------------------------------------------ planning
    def plan(self, params: dict[str, Any]) -> Plan:
        return make_plan(plan_input(self.pipeline), params)

    # ------------------------------------------------------------ running
    def run(
        self,
        params: dict[str, Any] | None = None,
        *,
        rerun: set[str] | frozenset[str] = frozenset(),
        targets: set[str] | None = None,
    ) -> RunRecord:
        """Run the plan (or only what ``targets`` need); raise RunError if a step failed."""
        plan = self.plan(params or {})
        for name in rerun:
            plan.step(name)  # unknown names are an error before anything runs
        wanted = set().union(*(plan.upstream(t) for t in targets)) if targets else {s.name for s in plan.steps}
        steps = [s for s in plan.steps if s.name in wanted]
        forced = plan.downstream(set(rerun)) & wanted
        run_id = new_run_id(self.clock())
        record = RunRecord(
            run_id=run_id,
            pipeline=plan.pipeline,
            params=plan.params,
            root=self.store.root,
            started_at=self.clock(),
            steps=[StepOutcome(s.name, s.type, s.key) for s in steps],
        )
        outcomes = {o.name: o for o in record.steps}
        owner = Owner.current(run_id)
        typed = self._typed_params(plan)
        self._save(record)
        pending = list(steps)
        failures: list[StepError] = []
        waiting_since: dict[str, float] = {}
        announced: set[str] = set()
        while pending:
            progressed = False
            for step in list(pending):
                deps = [outcomes[d] for d in step.needs if d in outcomes]
                if any(d.status in {"failed", "skipped"} for d in deps):
                    outcomes[step.name].status = "skipped"
                    outcomes[step.name].detail = "an upstream step failed"
                    pending.remove(step)
                    self.events.step_finished(outcomes[step.name])
                    progressed = True
                    continue
                if any(d.status not in {"cached", "ran"} for d in deps):
                    continue
                done = self._try_step(step, plan, typed, owner, forced, outcomes, failures)
                if done:
                    pending.remove(step)
                    progressed = True
                    if step.name in waiting_since:
                        outcomes[step.name].waited_s = self.clock() - waiting_since[step.name]
                    self._save(record)
                else:
                    first = waiting_since.setdefault(step.name, self.clock())
                    if step.name not in announced:
                        announced.add(step.name)
                        holder = StepLock(self.store, mf.lock_key(plan.pipeline, step.name, step.key), owner).holder()
                        self.events.step_waiting(step, holder)
                    if self.clock() - first > self.wait_timeout:
                        raise LockError(
                            f"step {step.name!r} stayed locked by another run for {self.wait_timeout:.0f} s"
                        )
            if pending and not progressed:
                time.sleep(self.poll)
        record.finished_at = self.clock()
        record.status = "failed" if failures else "succeeded"
        self._save(record)
        if failures:
            raise RunError(failures, record)
        return record

    def _typed_params(self, plan: Plan) -> dict[str, Any]:
        from stepml.params import resolve

        return resolve(self.pipeline.spec.params, plan.params)

    def _hit(self, plan: Plan, step: PlannedStep) -> dict[str, Any] | None:
        m = mf.read_manifest(self.store, plan.pipeline, step.name, step.key)
        if m is None:
            return None
        if mf.damaged_files(self.store, m):
            return None
        return m

    def _try_step(
        self,
        step: PlannedStep,
        plan: Plan,
        params: dict[str, Any],
        owner: Owner,
        forced: set[str],
        outcomes: dict[str, StepOutcome],
        failures: list[StepError],
    ) -> bool:
        """Settle ``step`` (cache hit, computed or failed) and return True, or False if another run holds it."""
        out = outcomes[step.name]
        force = step.name in forced
        if not force:
            m = self._hit(plan, step)
            if m is not None:
                self._cached(out, m)
                return True
        lock = StepLock(self.store, mf.lock_key(plan.pipeline, step.name, step.key), owner, lease_seconds=self.lease)
        if not lock.acquire():
            return False
        try:
            if lock.broke:
                self.events.message(
                    f"{step.name}: broke a stale lock of run {lock.broke.get('run_id')} (pid {lock.broke.get('pid')})"
                )
            if not force:  # another run may have committed it while we looked elsewhere
                m = self._hit(plan, step)
                if m is not None:
                    self._cached(out, m)
                    return True
            self._compute(step, plan, params, owner, out, lock, failures)
            return True
        finally:
            lock.release()

    def _cached(self, out: StepOutcome, m: dict[str, Any]) -> None:
        out.status = "cached"
        out.output = self.store.uri(m["prefix"])
        out.rows = m.get("rows")
        out.detail = m.get("detail", "")
        self.events.step_finished(out)

    def _compute(
        self,
        step: PlannedStep,
        plan: Plan,
        params: dict[str, Any],
        owner: Owner,
        out: StepOutcome,
        lock: StepLock,
        failures: list[StepError],
    ) -> None:
        from stepml.local_steps import RUNNERS, StepContext

        self.events.step_started(step)
        started = self.clock()
        step_dir = mf.step_prefix(plan.pipeline, step.name, step.key)
        previous = mf.read_manifest(self.store, plan.pipeline, step.name, step.key)
        self._remove_orphans(step_dir, previous)
        attempt = f"{dt.datetime.fromtimestamp(started, tz=dt.UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        prefix = join(step_dir, attempt)
        scratch = Path(tempfile.mkdtemp(prefix=f"stepml-{step.name}-"))
        local = self.store.local_path(prefix)
        out_dir = local if local is not None else scratch / "out"
        out_dir.mkdir(parents=True, exist_ok=True)
        upstream = {
            d: m
            for d in step.needs
            if (m := mf.read_manifest(self.store, plan.pipeline, d, plan.step(d).key)) is not None
        }
        ctx = StepContext(
            pipeline=self.pipeline,
            step=step,
            params=params,
            store=self.store,
            run_id=owner.run_id,
            out_dir=out_dir,
            scratch=scratch,
            upstream=upstream,
            registry=Registry(self.store, plan.pipeline, owner),
            log=self.events.message,
        )
        try:
            try:
                result = RUNNERS[step.type](ctx)
            except StepError:
                raise
            except StepmlError as exc:
                raise StepExecutionError(step.name, str(exc)) from exc
            except Exception as exc:
                raise StepExecutionError(step.name, f"{type(exc).__name__}: {exc}") from exc
            if lock.lost:
                raise StepExecutionError(step.name, "lost its lock while running (lease expired); not committing")
            files = []
            for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
                rel = path.relative_to(out_dir).as_posix()
                if local is None:
                    self.store.put_file(path, join(prefix, rel))
                files.append({"path": rel, "size": path.stat().st_size, "role": mf.file_role(rel)})
            manifest = mf.new_manifest(
                plan,
                step,
                prefix=prefix,
                files=files,
                rows=result.rows,
                summary=result.summary,
                detail=result.detail,
                run_id=owner.run_id,
                started=started,
                finished=self.clock(),
                versions=mf.package_versions(),
            )
            mf.write_manifest(self.store, manifest)  # the commit point
            if previous is not None and previous.get("prefix") != prefix:
                self.store.delete_prefix(previous["prefix"])
            out.status = "ran"
            out.output = self.store.uri(prefix)
            out.rows = result.rows
            out.detail = result.detail
        except StepError as exc:
            self.store.delete_prefix(prefix)  # nothing of a failed attempt stays behind
            out.status = "failed"
            out.error = exc.message
            out.error_type = type(exc).__name__
            failures.append(exc)
        finally:
            out.duration_s = round(self.clock() - started, 3)
            shutil.rmtree(scratch, ignore_errors=True)
            self.events.step_finished(out)

    def _remove_orphans(self, step_dir: str, current: dict[str, Any] | None) -> None:
        """Attempt directories no manifest names (left by killed runs); safe because we hold the lock."""
        keep = current["prefix"] if current else None
        attempts = {k[len(step_dir) + 1 :].split("/")[0] for k in self.store.list(step_dir)}
        local = self.store.local_path(step_dir)
        if local is not None and local.is_dir():  # a run killed right after mkdir leaves an empty directory
            attempts |= {p.name for p in local.iterdir() if p.is_dir()}
        for a in attempts:
            if a != mf.MANIFEST and join(step_dir, a) != keep:
                self.store.delete_prefix(join(step_dir, a))

    def _save(self, record: RunRecord) -> None:
        self.store.write_bytes(
            mf.run_key(record.pipeline, record.run_id), json.dumps(record.to_json(), indent=2).encode()
        )


def list_runs(store: Store, pipeline: str) -> list[str]:
    """Run ids, newest last."""
    keys = store.list(join(pipeline, "runs"))
    return sorted(k.rsplit("/", 1)[-1].removesuffix(".json") for k in keys if k.endswith(".json"))


def load_run(store: Store, pipeline: str, run_id: str | None = None) -> RunRecord | None:
    ids = list_runs(store, pipeline)
    if not ids:
        return None
    if run_id is None:
        run_id = ids[-1]
    matches = [i for i in ids if i == run_id or i.startswith(run_id) or i.endswith(f"-{run_id}")]
    if not matches:
        raise StepmlError(f"no run {run_id!r} under {store.uri(join(pipeline, 'runs'))}")
    return RunRecord.from_json(json.loads(store.read_bytes(mf.run_key(pipeline, matches[-1]))))
