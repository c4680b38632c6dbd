"""One attempt at computing one step, under its lock: the files go to a fresh attempt folder, the manifest last.

1. attempt folders no manifest names (left by killed runs) are removed - safe, the caller holds the lock;
2. the step type's local facet computes into ``<key>/<attempt>/`` (on S3: a scratch folder, uploaded after);
3. the manifest is written (``stepml.core.manifest.new_manifest``, the same builder the cloud commit uses) - the
   commit point; a previous output of the same key (a ``--rerun``) is removed only after it;
4. on failure the attempt folder is removed: nothing anyone could mistake for a result stays, and earlier outputs
   are never touched.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepml.core import layout
from stepml.core import manifest as mf
from stepml.core.manifest import sha256_of
from stepml.core.runs import StepOutcome
from stepml.errors import StepError, StepExecutionError, StepmlError
from stepml.local.context import LocalContext, StepResult

if TYPE_CHECKING:
    from collections.abc import Callable

    from stepml.core.plan import Plan, PlannedStep
    from stepml.spec.pipeline import Pipeline
    from stepml.store.lock import StepLock
    from stepml.store.models import Registries
    from stepml.store.objects import Store

EXECUTOR = {"name": "local"}


@dataclass
class Attempt:
    pipeline: Pipeline
    store: Store
    plan: Plan
    step: PlannedStep
    params: dict[str, Any]
    run_id: str
    registry: Registries  # the project's model registries, by model name
    log: Callable[[str], None]
    clock: Callable[[], float]
    scratch_root: Path | None = None  # the run's scratch folder (``stepml.local.scratch``)

    def run(self, out: StepOutcome, lock: StepLock) -> StepError | None:
        """Compute the step into ``out`` (status ran or failed); the error, if it failed."""
        started = self.clock()
        step_dir = layout.step_prefix(self.plan.pipeline, self.step.name, self.step.key)
        previous = mf.read_manifest(self.store, self.plan.pipeline, self.step.name, self.step.key)
        self._remove_orphans(step_dir, previous)
        prefix = layout.join(step_dir, layout.attempt_id(started))
        scratch = Path(tempfile.mkdtemp(prefix=f"{self.step.name}-", dir=self.scratch_root))
        local = self.store.local_path(prefix)
        out_dir = local if local is not None else scratch / "out"
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            result = self._compute(prefix, out_dir, scratch)
            if lock.lost:
                raise StepExecutionError(self.step.name, "lost its lock while running (lease expired); not committing")
            files = self._files(out_dir, prefix, upload=local is None)
            manifest = mf.new_manifest(
                self.plan,
                self.step,
                prefix=prefix,
                files=files,
                rows=result.rows,
                summary=result.summary,
                detail=result.detail,
                run_id=self.run_id,
                started=started,
                finished=self.clock(),
                versions=mf.package_versions(),
                executor=EXECUTOR,
            )
            mf.write_manifest(self.store.write_bytes, manifest)  # the commit point
            if previous is not None and previous["prefix"] != prefix:
                self.store.delete_prefix(previous["prefix"])
            self._committed(manifest)
            out.status, out.output, out.rows, out.detail = "ran", self.store.uri(prefix), result.rows, result.detail
            return None
        except StepError as exc:
            kept = self._keep_logs(out_dir)
            self.store.delete_prefix(prefix)  # nothing of a failed attempt stays behind, but its logs
            if kept is not None:
                exc = type(exc)(exc.step, f"{exc.message} [logs: {kept}]")
            out.status, out.error, out.error_type = "failed", exc.message, type(exc).__name__
            return exc
        finally:
            out.duration_s = round(self.clock() - started, 3)
            shutil.rmtree(scratch, ignore_errors=True)

    def _committed(self, manifest: dict[str, Any]) -> None:
        """The type's ``committed(store, manifest)`` hook, once the output is committed (an online test's serving
        table published where the serving side reads it). The output stands whatever it does: a failure here is
        a warning naming the step, never a lost output."""
        import importlib

        module = importlib.import_module(self.pipeline.step_type(self.step.name).local.split(":", 1)[0])
        hook = getattr(module, "committed", None)
        if hook is None:
            return
        try:
            hook(self.store, manifest)
        except Exception as exc:  # reported; the committed output stays
            self.log(
                f"warning: {self.step.name}: committed, but its after-commit work failed: {type(exc).__name__}: {exc}"
            )

    def _compute(self, prefix: str, out_dir: Path, scratch: Path) -> StepResult:
        name = self.step.name
        upstream = {
            d: m
            for d in self.step.needs
            if (m := mf.read_manifest(self.store, self.plan.pipeline, d, self.plan.step(d).key)) is not None
        }
        ctx = LocalContext(
            pipeline=self.pipeline,
            plan=self.plan,
            step=self.step,
            params=self.params,
            store=self.store,
            run_id=self.run_id,
            prefix=prefix,
            out_dir=out_dir,
            scratch=scratch,
            upstream=upstream,
            registry=self.registry,
            log=self.log,
        )
        run = self.pipeline.step_type(name).facet("local")
        try:
            result: StepResult = run(ctx)
        except StepError:
            raise
        except StepmlError as exc:
            raise StepExecutionError(name, str(exc)) from exc
        except Exception as exc:
            raise StepExecutionError(name, f"{type(exc).__name__}: {exc}") from exc
        return result

    def _files(self, out_dir: Path, prefix: str, *, upload: bool) -> list[dict[str, Any]]:
        files = []
        for path in sorted(p for p in out_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
            rel = path.relative_to(out_dir).as_posix()
            if upload:
                self.store.put_file(path, layout.join(prefix, rel))
            entry = {"path": rel, "size": path.stat().st_size, "role": mf.file_role(rel), "sha256": sha256_of(path)}
            files.append(entry)
        return files

    def _keep_logs(self, out_dir: Path) -> str | None:
        """Copy a failed attempt's logs to ``<pipeline>/failures/<run>/<step>/logs/``; where they are now."""
        logs = out_dir / "logs"
        files = sorted(p for p in logs.rglob("*") if p.is_file()) if logs.is_dir() else []
        if not files:
            return None
        kept = layout.join(layout.failure_prefix(self.plan.pipeline, self.run_id, self.step.name), "logs")
        for path in files:
            self.store.put_file(path, layout.join(kept, path.relative_to(logs).as_posix()))
        return self.store.uri(kept)

    def _remove_orphans(self, step_dir: str, current: dict[str, Any] | None) -> None:
        """Attempt folders no manifest names (left by killed runs); safe because we hold the lock."""
        keep = current["prefix"] if current else None
        attempts = {k[len(step_dir) + 1 :].split("/")[0] for k in self.store.list(step_dir)}
        local = self.store.local_path(step_dir)
        if local is not None and local.is_dir():  # a run killed right after mkdir leaves an empty folder
            attempts |= {p.name for p in local.iterdir() if p.is_dir()}
        for a in attempts:
            if a not in (layout.MANIFEST, layout.MANIFEST_HEAD) and layout.join(step_dir, a) != keep:
                self.store.delete_prefix(layout.join(step_dir, a))
