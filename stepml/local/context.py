"""What a step type's local facet is given (:class:`LocalContext`) and returns (:class:`StepResult`).

The facet writes the step's files into ``ctx.out_dir`` (its tables under ``data/`` or ``tables/<name>/``, other
files anywhere else) and returns the row count, the summary and the one-line detail the manifest records. Inputs
come from upstream manifests through the store: read in place on a local store, downloaded on S3. Steps that run
as a process build an invocation (:meth:`LocalContext.invocation`) and run it (:meth:`LocalContext.run_entry`):
the same ``python -m stepml.entry`` the cloud task adapter runs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepml.core.layout import is_inside, join
from stepml.core.manifest import fingerprints, output_files, tables, unrecognised
from stepml.core.params import to_json
from stepml.core.plan import partition_files
from stepml.entry import EntryResult, Input, Invocation, failure_path, read_result
from stepml.errors import InputChangedError, StepInputError
from stepml.local import warm
from stepml.local.process import child_env, run_process

if TYPE_CHECKING:
    from stepml.core.plan import Plan, PlannedStep
    from stepml.spec.models import StepSpec
    from stepml.spec.pipeline import Pipeline
    from stepml.store.models import Registries
    from stepml.store.objects import Store


@dataclass
class StepResult:
    rows: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    detail: str = ""  # one line for the run summary

    @classmethod
    def of(cls, result: EntryResult) -> StepResult:
        return cls(rows=result.rows, summary=result.summary, detail=result.detail)


@dataclass
class LocalContext:
    pipeline: Pipeline
    plan: Plan
    step: PlannedStep
    params: dict[str, Any]  # typed values
    store: Store
    run_id: str
    prefix: str  # the attempt's prefix in the store
    out_dir: Path  # where this attempt's files go (on a local store: the attempt folder itself)
    scratch: Path  # private temporary folder
    upstream: dict[str, dict[str, Any]]  # upstream step name -> its manifest
    registry: Registries  # the project's model registries, by model name
    log: Callable[[str], None] = print
    _downloads: dict[str, Path] = field(default_factory=dict)
    _verified: set[str] = field(default_factory=set)
    _known: dict[str, dict[str, str]] | None = None

    @property
    def name(self) -> str:
        return self.step.name

    @property
    def spec(self) -> StepSpec:
        return self.pipeline.step(self.step.name)

    def output_uri(self, relative: str = "") -> str:
        """Where a file of this attempt will be once committed (a path locally, ``s3://...`` on S3)."""
        return self.store.uri(join(self.prefix, relative))

    def upstream_of(self, kind: str) -> str | None:
        """The (first) upstream step this step's type takes as ``kind``."""
        names = self.pipeline.upstream(self.step.name).get(kind, [])
        return names[0] if names else None

    def _check_digest(self, key: str, path: Path) -> None:
        """A file some upstream manifest (or the registry) recorded a digest for must still have it: its sha256, or
        for a file an AWS service wrote (an UNLOAD's parquet, SageMaker's model.tar.gz) the S3 ETag its cloud commit
        recorded."""
        if key in self._verified:
            return
        record = self._fingerprints().get(key)
        expected = unrecognised(path, record) if record is not None else None
        if expected is not None:
            upstream = next((n for n, m in self.upstream.items() if is_inside(key, m["prefix"])), None)
            rerun = f"rerun {upstream!r} (--rerun {upstream})" if upstream else "rerun the step that wrote it"
            raise InputChangedError(
                self.step.name,
                f"input file {self.store.uri(key)} does not match the digest recorded when it was written "
                f"(expected {expected}): changed or corrupted since; {rerun}",
            )
        self._verified.add(key)

    def _fingerprints(self) -> dict[str, dict[str, str]]:
        if self._known is None:
            self._known = {k: v for m in self.upstream.values() for k, v in fingerprints(m).items()}
            for version in self.registry.versions():
                files = version.get("files", {})
                self._known.update({join(version["model_prefix"], r): {"sha256": d} for r, d in files.items()})
        return self._known

    def input_paths(self, upstream: str, *, table: str = "", files: list[str] | None = None) -> list[Path]:
        """Local paths of an upstream step's data files (downloaded when the store is remote)."""
        keys = files if files is not None else output_files(self.upstream[upstream], table)
        return [self.local_file(k) for k in keys]

    def local_file(self, key: str) -> Path:
        """A file of the store as a local file (downloaded when the store is remote), its digest checked."""
        local = self.store.local_path(key)
        if local is None:
            if key not in self._downloads:
                target = self.scratch / "in" / key
                if not target.exists():
                    self.store.get_file(key, target)
                self._downloads[key] = target
            local = self._downloads[key]
        self._check_digest(key, local)
        return local

    def local_dir(self, prefix: str) -> Path:
        """A folder of the store (a model) as a local folder (downloaded when the store is remote), the digests
        of its files checked."""
        for key in self.store.list(prefix):
            self.local_file(key)
        local = self.store.local_path(prefix)
        return local if local is not None else self.scratch / "in" / prefix

    def model_dir(self, uri: str, *, only: tuple[str, ...] = ()) -> Path:
        """A model recorded by its ``uri`` (``summary.model.uri`` of a step producing a model) as a local folder;
        ``only``: just these files of it (e.g. its profile). A model outside the artifact root is an error."""
        key = self.store.key_of(uri)
        if key is None:
            raise StepInputError(self.step.name, f"the model {uri} is not inside the artifact root {self.store.root}")
        registered = {v["model_prefix"] for v in self.registry.versions()}
        if key not in registered and not any(is_inside(key, m["prefix"]) for m in self.upstream.values()):
            raise StepInputError(
                self.step.name,
                f"the model {uri} is neither an upstream step's output nor a registered model",
            )
        if only:
            for name in only:
                if self.store.exists(join(key, name)):
                    self.local_file(join(key, name))
            return self.local_dir(key) if self.store.local_path(key) else self.scratch / "in" / key
        return self.local_dir(key)

    # ------------------------------------------------------------------ processes
    def input(
        self,
        upstream: str,
        *,
        model_dir: Path | None = None,
        files: list[str] | None = None,
        with_tables: bool = True,
        summary: Mapping[str, Any] | None = None,
    ) -> Input:
        """An upstream output as the entry sees it: its tables as local files (``files``: only these, of its
        main table - one partition; ``with_tables=False``: none), a model folder if the caller resolved one, and
        its summary (or what the caller passes instead)."""
        manifest = self.upstream[upstream]
        kinds = self.pipeline.step_type(upstream).produces
        found: dict[str, list[str]] = {}
        if files is not None:
            found = {"": [str(p) for p in self.input_paths(upstream, files=files)]}
        elif with_tables:
            found = {t: [str(p) for p in self.input_paths(upstream, table=t)] for t in tables(manifest)}
        return Input(
            kinds=tuple(kinds),
            tables=found,
            model_dir=str(model_dir) if model_dir is not None else None,
            summary=dict(manifest.get("summary", {}) if summary is None else summary),
        )

    def invocation(
        self,
        entry: str,
        config: Mapping[str, Any],
        inputs: Mapping[str, Input],
        *,
        partition: int | None = None,
        threads: int = 1,
        secrets: tuple[str, ...] = (),
    ) -> Invocation:
        types: dict[str, str] = {k: str(p.type) for k, p in self.pipeline.spec.params.items()}
        return Invocation(
            step=self.step.name,
            type=self.step.type,
            entry=entry,
            pipeline=self.pipeline.name,
            run_id=self.run_id,
            params={k: to_json(v) for k, v in self.params.items()},
            param_types=types,
            config=dict(config),
            inputs=dict(inputs),
            output_dir=str(self.out_dir),
            scratch_dir=str(self.scratch / (f"part-{partition:05d}" if partition is not None else "entry")),
            threads=threads,
            partition=partition,
            secrets=secrets,
        )

    def run_entry(self, invocation: Invocation, *, env: Mapping[str, str] | None = None) -> StepResult:
        """``python -m stepml.entry`` on ``invocation`` as a child process; its result, or its error raised. It
        runs in the warm worker when one is waiting (``stepml.local.warm``; not with ``env``)."""
        worker = warm.take() if not env else None
        try:
            return self._entry(invocation, env, worker)
        finally:
            if worker is not None:
                worker.close()

    def _entry(self, invocation: Invocation, env: Mapping[str, str] | None, worker: warm.Worker | None) -> StepResult:
        """One entry: in ``worker``, or in a fresh process when None."""
        part = invocation.partition
        name = f"{invocation.step}-{part:05d}" if part is not None else invocation.step
        path = invocation.write(self.scratch / "invocations" / f"{name}.json")
        failure = failure_path(self.out_dir, part)
        if worker is None:
            self.run_process(["-m", "stepml.entry", str(path)], env=env or {}, failure_file=failure, log_name=name)
        else:
            worker.run(
                self.step.name,
                path,
                log=self.out_dir / "logs" / f"{name}.log",
                import_path=[str(self.pipeline.project_root)],
                cwd=self.scratch,
                failure_file=failure,
                timeout_s=self.spec.resources.timeout_minutes * 60,
            )
        return StepResult.of(read_result(self.out_dir, part))

    def run_partitions(
        self,
        entry: str,
        config: Mapping[str, Any],
        *,
        partitioned: str,
        partitions: int,
        max_concurrency: int,
        inputs: Mapping[str, Input],
        threads: int = 1,
        env: Mapping[str, str] | None = None,
        secrets: tuple[str, ...] = (),
        reuse: bool = False,
    ) -> list[dict[str, Any]]:
        """The entry once per partition of ``partitioned``'s files (``stepml.core.plan.partition_files``, as the
        cloud's Distributed Map), ``max_concurrency`` at a time, each in a process of its own - or, with
        ``reuse`` (an entry that keeps no state between calls but what it may reuse, such as a loaded model),
        in ``max_concurrency`` workers that take the next partition when done with one (``stepml.local.warm``;
        not with ``env``), so the entry's modules are imported once per worker, not once per partition. A
        failed partition does not stop the others; the next one starts in a new process. Each partition's
        result, in order."""
        files = output_files(self.upstream[partitioned])
        parts = partition_files(files, partitions)
        if not parts:
            raise StepInputError(self.step.name, f"{partitioned!r} has no files to process")
        items = [{"index": i, "files": part} for i, part in enumerate(parts)]
        (self.out_dir / "_partitions.json").write_text(json.dumps(items))
        todo = iter(range(len(parts)))
        lock = threading.Lock()
        outcomes: dict[int, StepResult | BaseException] = {}

        def serve() -> None:
            worker: warm.Worker | None = None
            try:
                while True:
                    with lock:
                        i = next(todo, None)
                    if i is None:
                        return
                    if worker is None and not env:
                        worker = warm.take() or (warm.Worker() if reuse else None)
                    try:
                        given = {**inputs, partitioned: self.input(partitioned, files=parts[i])}
                        inv = self.invocation(entry, config, given, partition=i, threads=threads, secrets=secrets)
                        outcomes[i] = self._entry(inv, env, worker)
                    except Exception as exc:
                        outcomes[i] = exc
                        reused = False  # after a failure the next partition starts in a new process
                    else:
                        reused = reuse
                    if worker is not None and not reused:
                        worker.close()
                        worker = None
            finally:
                if worker is not None:
                    worker.close()

        with ThreadPoolExecutor(max_workers=min(max_concurrency, len(parts))) as pool:
            for future in [pool.submit(serve) for _ in range(min(max_concurrency, len(parts)))]:
                future.result()
        results = [outcomes[i] for i in range(len(parts))]
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        return [
            {"rows": r.rows, "summary": r.summary, "detail": r.detail} for r in results if isinstance(r, StepResult)
        ]

    def run_process(
        self, args: list[str], *, env: Mapping[str, str], failure_file: Path, log_name: str, warm_ok: bool = False
    ) -> None:
        """Run ``python ARGS`` for this step (its log in ``logs/``, its timeout from the spec). ``warm_ok``: ARGS
        is ``-m MODULE``, a program that reads ``env`` when it runs (not at start-up), which may then run in the
        warm worker (``stepml.local.warm``) with ``env`` added to its environment meanwhile."""
        log, timeout = self.out_dir / "logs" / f"{log_name}.log", self.spec.resources.timeout_minutes * 60
        worker = warm.take() if warm_ok and len(args) == 2 and args[0] == "-m" else None
        if worker is not None:
            try:
                worker.run_module(
                    self.step.name,
                    args[1],
                    env,
                    log=log,
                    import_path=[str(self.pipeline.project_root)],
                    cwd=self.scratch,
                    failure_file=failure_file,
                    timeout_s=timeout,
                )
            finally:
                worker.close()
            return
        run_process(
            self.step.name,
            args,
            env=child_env(env, [self.pipeline.project_root]),
            cwd=self.scratch,
            log_path=log,
            failure_file=failure_file,
            timeout_s=timeout,
        )
