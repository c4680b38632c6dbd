"""The one entrypoint of steps that run as their own process: ``python -m stepml.entry INVOCATION.json``.

Locally the runner starts it as a child process; in AWS the task adapter (``stepml.cloud.task``) starts it in the
pipeline image, in an ECS task or a SageMaker Processing job, after downloading the inputs. Both first write an
*invocation*: which step, which function of its type runs it (``entry``), the run parameters, the step's settings,
the local paths of its inputs and the folder its outputs go to. So a step computes the same thing from the same
inputs wherever it runs, and records the same summary: the entry function returns an :class:`EntryResult`, which
this module writes to ``<output>/_results/<partition>.json`` - the local runner and the cloud commit Lambda read it
from there.

A failure is reported as the step's named error: a ``StepmlError`` keeps its class and message; anything else is a
``StepExecutionError`` naming the entry function, with the traceback in the process's log. The error is written as
JSON to ``<output>/_results/failure.json`` (exit code 2 for bad input, 1 for a crash), so the caller re-raises it.

Standard library only until the entry function is imported.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stepml.core.redact import redact
from stepml.errors import StepError, StepExecutionError, StepmlError, to_failure

INVOCATION_SCHEMA = "stepml.invocation/1"
RESULTS = "_results"
FAILURE = "failure.json"


@dataclass(frozen=True)
class Input:
    """One upstream step's output, local: its tables (``""`` is the main one) as parquet files, its model."""

    kinds: tuple[str, ...]
    tables: dict[str, list[str]] = field(default_factory=dict)
    model_dir: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def files(self, table: str = "") -> list[Path]:
        return [Path(p) for p in self.tables.get(table, [])]


@dataclass(frozen=True)
class Invocation:
    step: str
    type: str
    entry: str  # "package.module:function", called with this invocation
    pipeline: str
    run_id: str
    params: dict[str, Any]  # canonical JSON values of the run parameters
    param_types: dict[str, str]
    config: dict[str, Any]  # the step's settings for its entry (each type decides)
    inputs: dict[str, Input]
    output_dir: str
    scratch_dir: str
    threads: int = 1
    partition: int | None = None  # a partitioned step: which partition this process computes
    secrets: tuple[str, ...] = ()  # names of environment variables that hold secrets (never logged)

    @property
    def output(self) -> Path:
        return Path(self.output_dir)

    @property
    def scratch(self) -> Path:
        return Path(self.scratch_dir)

    def typed_params(self) -> dict[str, Any]:
        from stepml.core.params import coerce

        return {k: coerce(self.param_types.get(k, "str"), v) for k, v in self.params.items()}

    def input(self, name: str) -> Input:
        return self.inputs[name]

    def upstream_of(self, kind: str) -> str | None:
        return next((n for n, i in self.inputs.items() if kind in i.kinds), None)

    def to_json(self) -> dict[str, Any]:
        return {"schema": INVOCATION_SCHEMA, **asdict(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Invocation:
        values = {k: v for k, v in data.items() if k != "schema"}
        values["inputs"] = {
            k: Input(**{**v, "kinds": tuple(v.get("kinds", ()))}) for k, v in values.get("inputs", {}).items()
        }
        values["secrets"] = tuple(values.get("secrets", ()))
        return cls(**values)

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1))
        return path


@dataclass
class EntryResult:
    rows: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    detail: str = ""


def result_path(output: Path, partition: int | None) -> Path:
    return output / RESULTS / (f"part-{partition:05d}.json" if partition is not None else "result.json")


def read_result(output: Path, partition: int | None = None) -> EntryResult:
    data = json.loads(result_path(output, partition).read_text())
    return EntryResult(rows=data.get("rows"), summary=data.get("summary", {}), detail=data.get("detail", ""))


def failure_path(output: Path, partition: int | None = None) -> Path:
    name = FAILURE if partition is None else f"failure-{partition:05d}.json"
    return output / RESULTS / name


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False, default=str))
    os.replace(tmp, path)


def guarded(step: str, failure: Path, name: str, fn: Callable[[], None]) -> int:
    """Run ``fn``; turn any error into the failure file, a message on stderr and an exit code (0, 2 bad input, 1
    a crash - whose traceback stays in the log and whose error names ``name``, the function that ran)."""
    try:
        fn()
    except StepmlError as exc:
        err = exc if isinstance(exc, StepError) else StepError(step, str(exc))
        _write_json(failure, to_failure(err))
        print(redact(f"stepml: {err}"), file=sys.stderr)
        return 2
    except Exception as exc:
        print(redact(traceback.format_exc()), file=sys.stderr, end="")  # never local variables
        err = StepExecutionError(step, f"{name} raised {type(exc).__name__}: {exc}")
        _write_json(failure, to_failure(err))
        print(redact(f"stepml: {err}"), file=sys.stderr)
        return 1
    return 0


def execute(invocation: Invocation) -> int:
    """Run the invocation's entry function; write its result or its failure; return the exit code."""
    from stepml.core.steptypes import load

    def run() -> None:
        fn = load(invocation.entry)
        result: EntryResult = fn(invocation)
        _write_json(result_path(invocation.output, invocation.partition), asdict(result))

    return guarded(invocation.step, failure_path(invocation.output, invocation.partition), invocation.entry, run)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m stepml.entry INVOCATION.json", file=sys.stderr)
        return 2
    return execute(Invocation.from_json(json.loads(Path(args[0]).read_text())))


if __name__ == "__main__":
    raise SystemExit(main())
