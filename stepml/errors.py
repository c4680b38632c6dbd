"""The one exception tree of stepml.

    StepmlError                      base of everything stepml raises on purpose
    ├── SpecError                    pipeline.yaml is invalid (all problems at once, with file locations)
    │   └── ExperimentChangedError   a running experiment's salt/weights differ from its first record
    ├── ParamError                   a run parameter is unknown or of the wrong type (all problems at once)
    ├── StoreError                   the artifact store (local path or s3://) failed or holds a damaged object
    ├── LockError                    a step lock could not be taken or kept
    ├── StepError                    a step failed; ``.step`` names it
    │   ├── StepInputError           the step's input is unusable: missing/corrupt file, missing column,
    │   │   │                        empty extract, NaN in the target, ...
    │   │   ├── InputChangedError    an upstream file is no longer the object its manifest recorded (S3 ETag
    │   │   │                        or digest differs: overwritten or corrupted after the commit)
    │   │   └── ExperimentError      an experiment's exposures/outcomes/rankings or its settings cannot be
    │   │                            analysed (unknown variant, negative count, zero denominator, ...)
    │   ├── QueryError               the warehouse rejected the step's SQL (syntax, missing table or column)
    │   ├── GateError                no model can be used: the candidate failed the gate and there is no champion
    │   ├── DataQualityError         a check marked ``fail_run`` failed
    │   ├── StepOutputError          the step could not write its output (disk full, no permission); names it
    │   └── StepExecutionError       the step's process crashed or was killed
    └── RunError                     a run ended with failed steps; ``.failures`` holds their StepErrors

Library and SDK errors are wrapped where they enter stepml (``raise StepInputError(...) from exc``); the CLI maps
this tree to exit codes in one place (``stepml.cli``). Entrypoints that run as separate processes (training
container, scoring task) report their error as JSON (``to_failure`` / ``from_failure``) so the runner can re-raise
the same class with the same message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class StepmlError(Exception):
    """Base class of all errors stepml raises on purpose."""

    exit_code = 1


@dataclass(frozen=True)
class Issue:
    """One problem found while validating a spec or parameters."""

    where: str  # dotted path, e.g. "steps.train.resources.cpu" or "param as_of"
    message: str
    line: int | None = None  # 1-based line in the spec file, when known
    column: int | None = None

    def render(self, filename: str | None = None) -> str:
        loc = ""
        if self.line is not None:
            loc = f"{filename or '<spec>'}:{self.line}"
            if self.column is not None:
                loc += f":{self.column}"
            loc += ": "
        return f"{loc}{self.where}: {self.message}"


class _IssuesError(StepmlError):
    title = "problems"

    def __init__(self, issues: list[Issue], filename: str | None = None) -> None:
        self.issues = list(issues)
        self.filename = filename
        super().__init__(self._render())

    def _render(self) -> str:
        n = len(self.issues)
        head = f"{self.title}: {n} problem{'s' if n != 1 else ''}"
        if self.filename:
            head += f" in {self.filename}"
        return head + "\n" + "\n".join("  - " + i.render(self.filename) for i in self.issues)


class SpecError(_IssuesError):
    """The pipeline spec is invalid."""

    title = "invalid pipeline spec"
    exit_code = 2


class ExperimentChangedError(SpecError):
    """A running experiment's spec disagrees with its first persisted record: its salt, weights, layer, offset,
    unit or kind changed (that would move units already assigned). Rename the experiment to start a new one."""

    title = "a running experiment was changed"


class ParamError(_IssuesError):
    """Run parameters do not match the spec's declared parameters."""

    title = "invalid run parameters"
    exit_code = 2


class StoreError(StepmlError):
    """The artifact store failed or holds a damaged object."""


class LockError(StepmlError):
    """A step lock could not be taken or kept."""


class StepError(StepmlError):
    """A step failed. ``step`` is the step's name in the spec."""

    def __init__(self, step: str, message: str) -> None:
        self.step = step
        self.message = message
        super().__init__(f"step {step!r}: {message}")


class StepInputError(StepError):
    """The step's input is unusable (missing or corrupt file, missing column, empty extract, NaN target...)."""


class InputChangedError(StepInputError):
    """An upstream file is not the object its committed manifest recorded: a read pinned to the recorded S3 ETag
    was refused (``412 Precondition Failed``), or what was downloaded has another digest. The file was overwritten
    or corrupted after its step committed - even with the same size. Build it with :func:`input_changed`."""


def input_changed(step: str, upstream: str, uri: str, expected: str, *, how: str = "ETag") -> InputChangedError:
    """The error of step ``step`` reading ``uri`` of upstream step ``upstream`` whose manifest records ``expected``
    (an S3 ETag, or a sha256 when ``how`` says so)."""
    return InputChangedError(
        step,
        f"input file {uri} of upstream step {upstream!r} is not the object its manifest records (expected {how} "
        f"{expected}): it was overwritten or corrupted after {upstream!r} committed; rerun {upstream!r} "
        f"(stepml run --rerun {upstream})",
    )


class ExperimentError(StepInputError):
    """An experiment's data or settings cannot be analysed; ``field`` names the input that is wrong.

    The pure statistics of ``stepml.experiments`` do not know the step they run in and name it ``experiments``;
    a step re-raises with its own name: ``raise exc.with_step(name) from exc``.
    """

    def __init__(self, step: str, message: str, *, field: str | None = None) -> None:
        super().__init__(step, f"{field}: {message}" if field else message)
        self.field = field

    def with_step(self, step: str) -> ExperimentError:
        """The same error, naming ``step``."""
        error = ExperimentError(step, self.message)
        error.field = self.field
        return error


class QueryError(StepError):
    """The warehouse rejected the step's SQL."""


class GateError(StepError):
    """No model can be used: the candidate failed the quality gate and there is no champion."""


class DataQualityError(StepError):
    """A data-quality check configured to fail the run failed."""


class StepOutputError(StepError):
    """The step could not write its output: the disk is full, or the folder is not writable."""


def write_error(step: str, path: Any, exc: BaseException) -> StepOutputError:
    """The error of failing to write ``path``: says so when the disk is full (ENOSPC), never blames the input."""
    import errno

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    full = getattr(exc, "errno", None) == errno.ENOSPC or "No space left on device" in text
    what = "the disk is full (no space left on device)" if full else text
    return StepOutputError(step, f"cannot write the output {path}: {what}")


class StepExecutionError(StepError):
    """The step's process crashed, was killed, or timed out."""


class RunError(StepmlError):
    """A run ended with failed steps. ``record`` is the run's tree (a ``stepml.runner.RunRecord``)."""

    def __init__(self, failures: list[StepError], record: Any = None) -> None:
        self.failures = failures
        self.record = record
        super().__init__("; ".join(str(f) for f in failures))


_STEP_ERRORS: dict[str, type[StepError]] = {
    cls.__name__: cls
    for cls in (
        StepError,
        StepInputError,
        InputChangedError,
        ExperimentError,
        QueryError,
        GateError,
        DataQualityError,
        StepOutputError,
        StepExecutionError,
    )
}


def to_failure(exc: StepError) -> dict[str, Any]:
    """Serialize a step error for a process boundary (SageMaker's /opt/ml/output/failure, a task's failure file)."""
    return {"error": type(exc).__name__, "step": exc.step, "message": exc.message}


def from_failure(data: dict[str, Any], *, step: str) -> StepError:
    """Rebuild a step error written by :func:`to_failure`; unknown classes become ``StepExecutionError``."""
    cls = _STEP_ERRORS.get(str(data.get("error")), StepExecutionError)
    return cls(step, str(data.get("message", "the step failed without a message")))
