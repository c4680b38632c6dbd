"""How each step type runs on a laptop.

- extract: in-process, DuckDB on the local warehouse file;
- train:   ``python -m steps.train`` in a temporary /opt/ml-shaped directory, as SageMaker would run it;
- gate:    in-process, the gate core plus the model registry;
- score:   one ``python -m steps.score`` process per partition (an ECS task in AWS), ``max_concurrency`` at a time;
- check:   ``python -m steps.check`` (an ECS task in AWS).

Each runner writes the step's files into ``ctx.out_dir`` and returns what the manifest records. Inputs come from
upstream manifests through the store (read in place on a local store, downloaded on S3).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepml import stepconfig
from stepml.errors import GateError, StepExecutionError, StepInputError, from_failure
from stepml.manifest import output_files
from stepml.plan import PlannedStep, partition_files
from stepml.registry import Registry
from stepml.spec import CheckStep, ExtractStep, GateStep, Pipeline, ScoreStep
from stepml.store import Store, join

_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class StepContext:
    pipeline: Pipeline
    step: PlannedStep
    params: dict[str, Any]  # typed values
    store: Store
    run_id: str
    out_dir: Path  # where this attempt's files go (on a local store: the attempt directory itself)
    scratch: Path  # private temporary directory
    upstream: dict[str, dict[str, Any]]  # upstream step name -> its manifest
    registry: Registry
    log: Callable[[str], None] = print

    def input_paths(self, upstream: str, *, files: list[str] | None = None) -> list[Path]:
        """Local paths of an upstream step's data files (downloaded when the store is remote)."""
        keys = files if files is not None else output_files(self.upstream[upstream])
        out = []
        for k in keys:
            local = self.store.local_path(k)
            if local is None:
                local = self.scratch / "in" / k
                if not local.exists():
                    self.store.get_file(k, local)
            out.append(local)
        return out

    def upstream_of_type(self, step_type: str) -> str | None:
        for name in self.step.needs:
            if self.pipeline.step(name).type == step_type:
                return name
        return None


@dataclass
class StepResult:
    rows: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    detail: str = ""  # one line for the run summary


def _pdeathsig() -> None:  # pragma: no cover - runs in the child
    """Linux: let the child die with its runner, so a killed run leaves no orphan computing."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def run_process(ctx: StepContext, args: list[str], *, env: dict[str, str], failure_file: Path, log_name: str) -> None:
    """Run a step entrypoint; on failure raise the error class it reported (or StepExecutionError)."""
    name = ctx.step.name
    timeout = ctx.pipeline.step(name).resources.timeout_minutes * 60
    log_path = ctx.out_dir / "logs" / f"{log_name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")]),
        **env,
    }
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, *args],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ctx.scratch,
            preexec_fn=_pdeathsig if sys.platform == "linux" else None,  # noqa: PLW1509 - no threads touch it
        )
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise StepExecutionError(name, f"timed out after {timeout // 60} min ({log_path})") from None
    if code == 0:
        return
    if failure_file.exists():
        raise from_failure(json.loads(failure_file.read_text()), step=name)
    tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    raise StepExecutionError(name, f"the process {how}: {' | '.join(tail)} (log: {log_path})")


# ------------------------------------------------------------------ extract
def run_extract(ctx: StepContext) -> StepResult:
    from steps.extract import connect, extract

    step = ctx.pipeline.step(ctx.step.name)
    assert isinstance(step, ExtractStep)
    warehouse = ctx.pipeline.resolve(ctx.pipeline.spec.warehouse.local.path)
    con = connect(warehouse, step=ctx.step.name)
    try:
        result = extract(
            con,
            ctx.pipeline.sql[ctx.step.name],
            ctx.params,
            ctx.out_dir / "data",
            rows_per_file=step.rows_per_file,
            min_rows=step.min_rows,
            step=ctx.step.name,
        )
    finally:
        con.close()
    return StepResult(
        rows=result.rows,
        summary={"columns": result.columns, "files": len(result.files)},
        detail=f"{result.rows:,} rows in {len(result.files)} file(s)",
    )


# ------------------------------------------------------------------ train
def run_train(ctx: StepContext) -> StepResult:
    name = ctx.step.name
    source = ctx.upstream_of_type("extract")
    assert source is not None
    opt_ml = ctx.scratch / "opt" / "ml"
    config_dir = opt_ml / "input" / "config"
    channel = opt_ml / "input" / "data" / "train"
    config_dir.mkdir(parents=True, exist_ok=True)
    channel.mkdir(parents=True, exist_ok=True)
    hyper = stepconfig.train_hyperparameters(ctx.pipeline.spec, name)
    (config_dir / "hyperparameters.json").write_text(json.dumps(hyper, indent=2))
    for i, path in enumerate(ctx.input_paths(source)):
        link = channel / f"part-{i:05d}.parquet"
        try:
            link.symlink_to(path)
        except OSError:
            link.write_bytes(path.read_bytes())
    model_dir = ctx.out_dir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    output = opt_ml / "output"
    env = {
        "SM_MODEL_DIR": str(model_dir),
        "SM_CHANNEL_TRAIN": str(channel),
        "SM_INPUT_CONFIG_DIR": str(config_dir),
        "SM_OUTPUT_DIR": str(output),
        "SM_OUTPUT_DATA_DIR": str(output / "data"),
    }
    run_process(ctx, ["-m", "steps.train"], env=env, failure_file=output / "failure", log_name="train")
    metrics = json.loads((model_dir / "metrics.json").read_text())
    return StepResult(
        rows=int(metrics.get("n_train", 0)) + int(metrics.get("n_validation", 0)),
        summary={
            "metric": metrics["metric"],
            "value": metrics["value"],
            "metrics": metrics.get("metrics", {}),
        },
        detail=f"{metrics['metric']}={metrics['value']:.4f} on {metrics.get('n_validation', '?'):,} validation rows",
    )


# ------------------------------------------------------------------ gate
def run_gate(ctx: StepContext) -> StepResult:
    from steps.gate import GateConfig, decide

    name = ctx.step.name
    step = ctx.pipeline.step(name)
    assert isinstance(step, GateStep)
    model_spec = ctx.pipeline.spec.model
    train_step = ctx.upstream_of_type("train")
    assert train_step is not None
    train = ctx.upstream[train_step]
    value = float(train["summary"]["value"])
    config = GateConfig(
        metric=model_spec.metric,
        higher_is_better=model_spec.higher_is_better,
        min_value=step.min_value,
        min_improvement=step.min_improvement,
        compare_to_champion=step.compare_to_champion,
    )
    champion = ctx.registry.champion()
    is_champion = champion is not None and champion.get("train_key") == train["key"]
    champion_value = float(champion["value"]) if champion and not is_champion else None
    decision = decide(value, champion_value, config, is_champion=is_champion)
    entry = {
        "train_key": train["key"],
        "metric": model_spec.metric,
        "value": value,
        "status": "approved" if decision.passed else "rejected",
    }
    candidate = ctx.registry.register(entry, source_prefix=join(train["prefix"], "model"), promote=decision.passed)
    if decision.passed:
        chosen = candidate
    elif champion is not None:
        chosen = champion
    else:
        raise GateError(name, "; ".join(decision.reasons) + "; there is no champion to fall back to")
    out = {
        "passed": decision.passed,
        "reasons": decision.reasons,
        "candidate": {"version": candidate["version"], "value": value, "train_key": train["key"]},
        "champion_before": (
            {"version": champion["version"], "value": champion["value"]} if champion is not None else None
        ),
        "model": {"version": chosen["version"], "prefix": chosen["model_prefix"], "value": chosen["value"]},
    }
    (ctx.out_dir / "decision.json").write_text(json.dumps(out, indent=2))
    verdict = f"promoted v{candidate['version']}" if decision.passed else f"kept champion v{chosen['version']}"
    return StepResult(summary=out, detail=f"{verdict}: {decision.reasons[0] if decision.reasons else ''}")


# ------------------------------------------------------------------ score
def _model_for_scoring(ctx: StepContext) -> tuple[str, str]:
    """(store prefix of the model directory, version label) from the gate's decision or the train step."""
    gate = ctx.upstream_of_type("gate")
    if gate is not None:
        decision = ctx.upstream[gate]["summary"]
        return str(decision["model"]["prefix"]), f"v{decision['model']['version']}"
    train = ctx.upstream_of_type("train")
    assert train is not None
    return join(ctx.upstream[train]["prefix"], "model"), ctx.upstream[train]["key"]


def run_score(ctx: StepContext) -> StepResult:
    name = ctx.step.name
    step = ctx.pipeline.step(name)
    assert isinstance(step, ScoreStep)
    source = ctx.upstream_of_type("extract")
    assert source is not None
    model_prefix, version = _model_for_scoring(ctx)
    model_dir = ctx.store.local_path(model_prefix)
    if model_dir is None:
        model_dir = ctx.scratch / "model"
        for k in ctx.store.list(model_prefix):
            ctx.store.get_file(k, model_dir / k[len(model_prefix) + 1 :])
    if not (model_dir / "model.joblib").exists():
        raise StepInputError(name, f"the model at {ctx.store.uri(model_prefix)} has no model.joblib")
    parts = partition_files(output_files(ctx.upstream[source]), step.partitions)
    (ctx.out_dir / "data").mkdir(parents=True, exist_ok=True)

    def one(i: int) -> None:
        inputs = ctx.input_paths(source, files=parts[i])
        failure = ctx.scratch / f"failure-{i}.json"
        args = [
            "-m",
            "steps.score",
            "--step",
            name,
            "--model-dir",
            str(model_dir),
            "--model-version",
            version,
        ]
        args += ["--run-id", ctx.run_id, "--batch-rows", str(step.batch_rows)]
        args += ["--threads", str(step.resources.threads), "--failure-file", str(failure)]
        args += ["--output", str(ctx.out_dir / "data" / f"part-{i:05d}.parquet")]
        for p in inputs:
            args += ["--input", str(p)]
        run_process(
            ctx,
            args,
            env={"OMP_NUM_THREADS": str(step.resources.threads)},
            failure_file=failure,
            log_name=f"score-{i:05d}",
        )

    with ThreadPoolExecutor(max_workers=step.max_concurrency) as pool:
        errors = [f.exception() for f in [pool.submit(one, i) for i in range(len(parts))]]
    failed = [e for e in errors if e is not None]
    if failed:
        raise failed[0]
    import pyarrow.parquet as pq

    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in sorted((ctx.out_dir / "data").glob("*.parquet")))
    return StepResult(
        rows=rows,
        summary={"model_version": version, "partitions": len(parts)},
        detail=f"{rows:,} rows scored with model {version} in {len(parts)} partition(s)",
    )


# ------------------------------------------------------------------ check
def run_check(ctx: StepContext) -> StepResult:
    """``python -m steps.check`` on the scored features (extract) and predictions (score), against the reference
    profile of the model that scored them; then this run's metrics go to the history (one object per run)."""
    from stepml import manifest as mf
    from stepml.store import join as store_join

    name = ctx.step.name
    step = ctx.pipeline.step(name)
    assert isinstance(step, CheckStep)
    extract = ctx.upstream_of_type("extract")
    score = ctx.upstream_of_type("score")
    features = extract or score
    assert features is not None
    failure = ctx.scratch / "failure.json"
    report = ctx.out_dir / "report.json"
    config = stepconfig.check_config(ctx.pipeline.spec, name)
    args = ["-m", "steps.check", "--step", name, "--config", json.dumps(config), "--output", str(report)]
    args += ["--failure-file", str(failure), "--pipeline", ctx.pipeline.name, "--run-id", ctx.run_id]
    for p in ctx.input_paths(features):
        args += ["--input", str(p)]
    if extract is not None and score is not None:
        for p in ctx.input_paths(score):
            args += ["--predictions", str(p)]
        # the model that scored: the gate's choice (or the train step); its profile.json is the reference
        score_m = ctx.upstream[score]
        model_prefix, value = None, None
        for parent, key in score_m.get("parents", {}).items():
            m = mf.read_manifest(ctx.store, ctx.pipeline.name, parent, key)
            if m is None or m.get("type") not in {"gate", "train"}:
                continue
            if m["type"] == "gate":
                model_prefix, value = m["summary"]["model"]["prefix"], m["summary"]["model"].get("value")
            else:
                model_prefix, value = store_join(m["prefix"], "model"), m.get("summary", {}).get("value")
        if model_prefix is not None and ctx.store.exists(store_join(model_prefix, "profile.json")):
            ref = ctx.input_paths(score, files=[store_join(model_prefix, "profile.json")])[0]
            args += ["--reference", str(ref)]
            if value is not None:
                args += ["--validation-metric", str(value)]
    run_process(ctx, args, env={}, failure_file=failure, log_name="check")
    data = json.loads(report.read_text())
    history = ctx.out_dir / "history.json"
    if history.exists():
        from monitoring.metrics import history_key

        record = json.loads(history.read_text())
        ctx.store.write_bytes(
            history_key(ctx.pipeline.name, ctx.run_id, float(record["timestamp"])), history.read_bytes()
        )
    failed = data.get("summary", {}).get("failed", [])
    dataset = (data.get("drift") or {}).get("dataset") or {}
    drift_note = ""
    if dataset:
        drift_note = f", drift: {dataset.get('verdict')}"
        if dataset.get("drifted"):
            drift_note += f" ({', '.join(dataset['drifted'])})"
    return StepResult(
        rows=data.get("rows"),
        summary={
            "status": data.get("status"),
            "failed": failed,
            "drift": dataset or None,
            "insufficient_data": data.get("summary", {}).get("insufficient_data", []),
        },
        detail=f"{data.get('status')}: {len(data.get('checks', []))} checks"
        + (f", failed: {', '.join(failed)}" if failed else "")
        + drift_note,
    )


RUNNERS: dict[str, Callable[[StepContext], StepResult]] = {
    "extract": run_extract,
    "train": run_train,
    "gate": run_gate,
    "score": run_score,
    "check": run_check,
}
