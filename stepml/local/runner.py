"""The local executor: run a plan with gokart's semantics, independent steps at the same time.

- A step whose manifest exists (and whose files are intact) is a cache hit and is skipped.
- ``rerun`` recomputes the named steps and everything downstream.
- Steps whose upstream steps are done run at once, up to ``parallel`` at a time (extract_score runs while train
  trains); a step whose upstream failed is skipped.
- A step is computed only under its lock; a run that finds a step locked by another live run works on other
  ready steps and comes back, then finds the step committed (a cache hit) - so concurrent runs never compute the
  same step twice. A lock whose holder died is broken at once (same host) or when its lease runs out.
- Each attempt is committed by its manifest, written last (``stepml.local.attempt``).
- Every run writes its record (step, cached/ran/failed, duration, output) to ``<pipeline>/runs/<run_id>.json``.

A cached run reads manifests only: it imports neither pandas nor scikit-learn.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from stepml.core import layout
from stepml.core import manifest as mf
from stepml.core.plan import Plan, PlannedStep, Resolver, make_plan
from stepml.core.runs import DONE, HEARTBEAT_S, RunRecord, StepOutcome
from stepml.errors import LockError, RunError, StepError, StepmlError
from stepml.local import scratch, warm
from stepml.local.attempt import Attempt
from stepml.spec.pipeline import Pipeline
from stepml.store.lock import Owner, StepLock, process_alive
from stepml.store.models import Registries
from stepml.store.objects import Store

_log = logging.getLogger("stepml.runs")

DEFAULT_PARALLEL = 4


class Events:
    """Progress callbacks (the CLI prints them; the Python API stays quiet). Called from worker threads."""

    def step_started(self, step: PlannedStep) -> None: ...
    def step_waiting(self, step: PlannedStep, holder: dict[str, Any] | None) -> None: ...
    def step_finished(self, outcome: StepOutcome) -> None: ...
    def message(self, text: str) -> None: ...


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
        parallel: int = DEFAULT_PARALLEL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.events = events or Events()
        self.lease = lease_seconds
        self.poll = poll_seconds
        self.wait_timeout = wait_timeout_seconds
        self.parallel = max(1, parallel)
        self._scratch: Path | None = None  # the current run's scratch folder
        self.clock = clock
        self._save_lock = threading.Lock()

    def registries(self, owner: Owner) -> Registries:
        """The project's model registries (a pipeline's own registry from before named models is taken over by
        the model named after it)."""
        return Registries(self.store, owner, legacy={self.pipeline.name: self.pipeline.name})

    def resolver(self, owner: Owner) -> Resolver:
        """What the plan's lookups find now: models in the registry (a score step's ``model@champion``, a gate's
        champion), anything else by the step's type (an extract's data version: its local facet's
        ``lookup_resolver``)."""
        models = self.registries(owner).resolve
        by_type: dict[str, Resolver] = {}

        def resolve(step: str, lookup: Mapping[str, Any], upstream: Mapping[str, str]) -> dict[str, Any] | None:
            if lookup.get("kind", "model") == "model":
                return models(step, lookup, upstream)
            step_type = self.pipeline.step_type(step)
            if step_type.name not in by_type:
                facet = importlib.import_module(step_type.local.split(":", 1)[0])
                by_type[step_type.name] = facet.lookup_resolver(self.pipeline, clock=self.clock, store=self.store)
            return by_type[step_type.name](step, lookup, upstream)

        return resolve

    def run_date(self) -> dt.date:
        """The run's date outside a schedule: today in UTC (``stepml.core.schedule``)."""
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).date()

    def plan(
        self, params: dict[str, Any], *, targets: Collection[str] | None = None, run_date: dt.date | None = None
    ) -> Plan:
        """Keys for ``params`` (run-date expressions evaluated at ``run_date``, default :meth:`run_date`), with the
        steps' lookups resolved now (models in the registry, data versions); only ``targets`` and what they need
        when given."""
        return make_plan(
            self.pipeline.plan_input,
            params,
            self.resolver(Owner.current("plan")),
            run_date=run_date or self.run_date(),
            targets=targets,
        )

    def run(
        self,
        params: dict[str, Any] | None = None,
        *,
        rerun: set[str] | frozenset[str] = frozenset(),
        targets: Collection[str] | None = None,
        run_date: dt.date | None = None,
    ) -> RunRecord:
        """Run the plan (or only what ``targets`` need); raise RunError if a step failed."""
        plan = self.plan(params or {}, targets=targets, run_date=run_date)
        for name in rerun:
            self.pipeline.plan_input.record(name)  # unknown names are an error before anything runs
        steps = list(plan.steps)
        forced = plan.downstream(set(rerun))
        run_id = layout.run_id(self.clock())
        record = RunRecord(
            run_id=run_id,
            pipeline=plan.pipeline,
            params=plan.params,
            root=self.store.root,
            started_at=self.clock(),
            steps=[StepOutcome(s.name, s.type, s.key) for s in steps],
            host=socket.gethostname(),
            pid=os.getpid(),
            pid_started=Owner.current(run_id).pid_started,
        )
        owner = Owner.current(run_id)
        typed = self._typed_params(plan)
        self._save(record)
        scratch.sweep()  # the scratch folders of killed runs
        self._scratch = scratch.create(owner)
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(record, stop), name="stepml-run-heartbeat", daemon=True)
        beat.start()
        try:
            failures = self._schedule(steps, plan, typed, owner, forced, record)
        finally:
            stop.set()
            shutil.rmtree(self._scratch, ignore_errors=True)
        record.finished_at = self.clock()
        record.status = "failed" if failures else "succeeded"
        self._save(record)
        if failures:
            raise RunError(failures, record)
        return record

    def _schedule(
        self,
        steps: list[PlannedStep],
        plan: Plan,
        params: dict[str, Any],
        owner: Owner,
        forced: set[str],
        record: RunRecord,
    ) -> list[StepError]:
        """Settle every step: ready ones at once (up to ``parallel``), locked ones again after ``poll``."""
        outcomes = {o.name: o for o in record.steps}
        registry = self.registries(owner)
        failures: list[StepError] = []
        pending = list(steps)
        order = {s.name: i for i, s in enumerate(steps)}
        running: dict[Future[bool], PlannedStep] = {}
        retry_at: dict[str, float] = {}
        waiting_since: dict[str, float] = {}
        with ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="stepml-step") as pool:
            while pending or running:
                now = self.clock()
                for step in list(pending):
                    deps = [outcomes[d] for d in step.needs if d in outcomes]
                    if any(d.status in {"failed", "skipped"} for d in deps):
                        outcomes[step.name].status = "skipped"
                        outcomes[step.name].detail = "an upstream step failed"
                        pending.remove(step)
                        self.events.step_finished(outcomes[step.name])
                        continue
                    if len(running) >= self.parallel or retry_at.get(step.name, 0.0) > now:
                        continue
                    if all(d.status in DONE for d in deps):
                        pending.remove(step)
                        warm.steps_ahead(len(pending))  # a taken warm worker is replaced only while steps remain
                        future = pool.submit(
                            self._try_step, step, plan, params, owner, forced, outcomes[step.name], registry, failures
                        )
                        running[future] = step
                if not running:
                    time.sleep(self.poll)
                    continue
                done, _ = wait(list(running), timeout=self.poll, return_when=FIRST_COMPLETED)
                for future in done:
                    step = running.pop(future)
                    if future.result():
                        if step.name in waiting_since:
                            outcomes[step.name].waited_s = round(self.clock() - waiting_since[step.name], 3)
                        self._save(record)
                        continue
                    pending.append(step)  # another run holds it: come back after the other ready steps
                    retry_at[step.name] = self.clock() + self.poll
                    if step.name not in waiting_since:
                        waiting_since[step.name] = self.clock()
                        key = layout.lock_key(plan.pipeline, step.name, step.key)
                        self.events.step_waiting(step, StepLock(self.store, key, owner).holder())
                    first = waiting_since[step.name]
                    if self.clock() - first > self.wait_timeout:
                        raise LockError(
                            f"step {step.name!r} stayed locked by another run for {self.wait_timeout:.0f} s"
                        )
                pending.sort(key=lambda s: order[s.name])
        return failures

    def _typed_params(self, plan: Plan) -> dict[str, Any]:
        from stepml.core.params import resolve

        return resolve(self.pipeline.spec.params, plan.params)

    def _hit(self, plan: Plan, step: PlannedStep) -> dict[str, Any] | None:
        m = mf.read_manifest(self.store, plan.pipeline, step.name, step.key)
        if m is None or mf.damaged_files(self.store, m):
            return None
        return m

    def _try_step(
        self,
        step: PlannedStep,
        plan: Plan,
        params: dict[str, Any],
        owner: Owner,
        forced: set[str],
        out: StepOutcome,
        registry: Registries,
        failures: list[StepError],
    ) -> bool:
        """Settle ``step`` (cache hit, computed or failed) and return True, or False if another run holds it."""
        force = step.name in forced
        if not force and (m := self._hit(plan, step)) is not None:
            self._cached(out, m)
            return True
        lock = StepLock(
            self.store, layout.lock_key(plan.pipeline, step.name, step.key), owner, lease_seconds=self.lease
        )
        if not lock.acquire():
            return False
        try:
            if lock.broke:
                self.events.message(
                    f"{step.name}: broke a stale lock of run {lock.broke.get('run_id')} (pid {lock.broke.get('pid')})"
                )
            if not force and (m := self._hit(plan, step)) is not None:  # committed by another run meanwhile
                self._cached(out, m)
                return True
            self.events.step_started(step)
            attempt = Attempt(
                self.pipeline,
                self.store,
                plan,
                step,
                params,
                owner.run_id,
                registry,
                self.events.message,
                self.clock,
                self._scratch,
            )
            error = attempt.run(out, lock)
            if error is not None:
                failures.append(error)
            self.events.step_finished(out)
            return True
        finally:
            lock.release()

    def _cached(self, out: StepOutcome, m: dict[str, Any]) -> None:
        out.status = "cached"
        out.output = self.store.uri(m["prefix"])
        out.rows = m.get("rows")
        out.detail = m.get("detail", "")
        self.events.step_finished(out)

    def _heartbeat(self, record: RunRecord, stop: threading.Event) -> None:
        """Renew the record's heartbeat while the run lives (readers on other hosts judge a run by it)."""
        while not stop.wait(HEARTBEAT_S):
            try:
                self._save(record)
            except StepmlError as exc:
                self.events.message(f"could not renew the run record's heartbeat: {exc}")

    def _save(self, record: RunRecord) -> None:
        with self._save_lock:
            if record.status == "running":
                record.heartbeat_at = self.clock()
            body = json.dumps(record.to_json(), indent=2).encode()
            self.store.write_bytes(layout.run_key(record.pipeline, record.run_id), body)


def list_runs(store: Store, pipeline: str) -> list[str]:
    """Run ids, newest last."""
    keys = store.list(layout.runs_prefix(pipeline))
    return sorted(k.rsplit("/", 1)[-1].removesuffix(".json") for k in keys if k.endswith(".json"))


def load_run(store: Store, pipeline: str, run_id: str | None = None) -> RunRecord | None:
    ids = list_runs(store, pipeline)
    if not ids:
        return None
    if run_id is None:  # the newest readable one
        return next((r for i in reversed(ids) if (r := read_run(store, pipeline, i)) is not None), None)
    matches = [i for i in ids if i == run_id or i.startswith(run_id) or i.endswith(f"-{run_id}")]
    if not matches:
        raise StepmlError(f"no run {run_id!r} under {store.uri(layout.runs_prefix(pipeline))}")
    record = read_run(store, pipeline, matches[-1])
    if record is None:
        raise StepmlError(f"run record {store.uri(layout.run_key(pipeline, matches[-1]))} is unreadable")
    return record


def read_run(store: Store, pipeline: str, run_id: str) -> RunRecord | None:
    """One run record, or None with a warning naming it when it is not a valid one."""
    key = layout.run_key(pipeline, run_id)
    try:
        return RunRecord.from_json(json.loads(store.read_bytes(key))).observed(process_alive)
    except (ValueError, TypeError) as exc:
        _log.warning("ignoring the run record %s: %s", store.uri(key), exc)
        return None
