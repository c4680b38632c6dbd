"""pipeline.yaml -> typed, validated models.

Every problem in a spec is reported at once, each with its line and column in the file: unknown keys, wrong
types, missing or unknown dependencies, cycles, steps wired to the wrong kind of upstream, bad cron expressions,
unknown time zones, SQL placeholders that name no declared parameter.

Loading reads the YAML and the SQL files and hashes the step code; it imports neither pandas nor sqlglot.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from monitoring.config import ColumnCheck, DriftSettings, ExpectationSettings, ReportSettings
from monitoring.metrics import CHECK_METRICS
from stepml.errors import Issue, SpecError

DEFAULT_SPEC = "pipeline.yaml"
_NAME = r"^[a-z][a-z0-9_]{0,62}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- parameters
class ParamSpec(_Model):
    """A typed run parameter. Values given on the command line are strings and are coerced to ``type``."""

    type: Literal["str", "int", "float", "bool", "date"]
    default: Any = None
    description: str = ""
    min: float | None = None
    max: float | None = None
    choices: list[str] | None = None

    @model_validator(mode="after")
    def _default_has_type(self) -> ParamSpec:
        if self.default is not None:
            from stepml.params import coerce

            coerce(self.type, self.default, self)  # raises ValueError with a readable message
        return self


# ---------------------------------------------------------------- warehouse
class SampleWarehouse(_Model):
    """Generate the bundled sample warehouse at ``local.path`` when the file is absent."""

    rows: int = Field(200_000, ge=100)
    score_rows: int = Field(100_000, ge=1)
    seed: int = 7


class LocalWarehouse(_Model):
    path: str = "data/warehouse.duckdb"
    sample: SampleWarehouse | None = None


class AthenaWarehouse(_Model):
    database: str
    workgroup: str = "primary"
    catalog: str = "AwsDataCatalog"


class RedshiftWarehouse(_Model):
    database: str
    workgroup: str | None = None
    cluster_identifier: str | None = None
    secret_arn: str | None = None


class WarehouseSpec(_Model):
    engine: Literal["athena", "redshift"] = "athena"  # the engine the cloud pipeline queries
    local: LocalWarehouse = LocalWarehouse()
    athena: AthenaWarehouse | None = None
    redshift: RedshiftWarehouse | None = None


# ---------------------------------------------------------------- model
class ModelSpec(_Model):
    """What is learned: the task, the target, the features. Shared by train, score and check."""

    task: Literal["classification", "regression"]
    target: str
    features: list[str] = Field(min_length=1)
    categorical: list[str] = []
    id_columns: list[str] = Field(min_length=1)
    metric: Literal["roc_auc", "log_loss", "accuracy", "rmse", "mae", "r2"]
    validation_fraction: float = Field(0.2, gt=0, lt=1)
    seed: int = 42
    hyperparameters: dict[str, int | float | str | bool] = {}

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        unknown = [c for c in self.categorical if c not in self.features]
        if unknown:
            raise ValueError(f"categorical columns {unknown} are not in features")
        if self.target in self.features:
            raise ValueError(f"target {self.target!r} must not be a feature")
        classification_metrics = {"roc_auc", "log_loss", "accuracy"}
        if (self.task == "classification") != (self.metric in classification_metrics):
            raise ValueError(f"metric {self.metric!r} does not fit task {self.task!r}")
        return self

    @property
    def higher_is_better(self) -> bool:
        return self.metric in {"roc_auc", "accuracy", "r2"}


# ---------------------------------------------------------------- steps
class Resources(_Model):
    """Where a step runs in AWS. Locally only ``threads`` (derived from cpu) and ``timeout_minutes`` apply."""

    instance_type: str | None = None  # SageMaker training
    instance_count: int = Field(1, ge=1)
    volume_gb: int = Field(30, ge=1)
    cpu: int | None = None  # Fargate CPU units (1024 = 1 vCPU)
    memory: int | None = None  # Fargate MiB
    timeout_minutes: int = Field(60, ge=1, le=7 * 24 * 60)
    retries: int = Field(0, ge=0, le=10)

    @field_validator("cpu")
    @classmethod
    def _fargate_cpu(cls, v: int | None) -> int | None:
        if v is not None and v not in (256, 512, 1024, 2048, 4096, 8192, 16384):
            raise ValueError("Fargate cpu must be one of 256, 512, 1024, 2048, 4096, 8192, 16384")
        return v

    @property
    def threads(self) -> int:
        return max(1, (self.cpu or 1024) // 1024)


class _Step(_Model):
    needs: list[str] = []
    params: list[str] = []  # run parameters that change this step's output (extract: found in its SQL)
    resources: Resources = Resources()
    description: str = ""


class ExtractStep(_Step):
    type: Literal["extract"]
    sql: str
    min_rows: int = Field(1, ge=0)
    rows_per_file: int = Field(500_000, ge=1)


class TrainStep(_Step):
    type: Literal["train"]


class GateStep(_Step):
    type: Literal["gate"]
    min_value: float | None = None  # absolute threshold on model.metric (a max for lower-is-better metrics)
    min_improvement: float = 0.0  # required improvement over the champion's metric
    compare_to_champion: bool = True


class ScoreStep(_Step):
    type: Literal["score"]
    partitions: int = Field(4, ge=1, le=10_000)
    max_concurrency: int = Field(2, ge=1, le=1000)
    batch_rows: int = Field(65_536, ge=1)


class CheckStep(_Step):
    """Missing-data, data-quality and drift checks; the settings models live in ``monitoring.config``."""

    type: Literal["check"]
    min_rows: int = Field(1, ge=0)
    max_null_fraction: float = Field(0.1, ge=0, le=1)
    columns: dict[str, ColumnCheck] = {}  # per-column overrides (null fraction, drift, ranges)
    drift: DriftSettings = DriftSettings()
    expectations: ExpectationSettings = ExpectationSettings()
    report: ReportSettings = ReportSettings()
    fail_run: bool = False


StepSpec = Annotated[
    ExtractStep | TrainStep | GateStep | ScoreStep | CheckStep,
    Field(discriminator="type"),
]


# ---------------------------------------------------------------- schedule and alarms
class ScheduleSpec(_Model):
    cron: str
    timezone: str = "UTC"
    enabled: bool = True
    params: dict[str, Any] = {}

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        from stepml.cron import validate_cron

        validate_cron(v)
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r} (expected an IANA name like 'Asia/Tokyo')") from exc
        return v


class AlarmSpec(_Model):
    """One alarm, declared once: evaluated locally over the metric history and compiled to CloudWatch."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    metric: str
    statistic: Literal["Average", "Sum", "Minimum", "Maximum", "SampleCount"] = "Maximum"
    comparison: Literal[
        "GreaterThanThreshold",
        "GreaterThanOrEqualToThreshold",
        "LessThanThreshold",
        "LessThanOrEqualToThreshold",
    ]
    threshold: float
    period_minutes: int = Field(1440, ge=1)
    evaluation_periods: int = Field(1, ge=1)
    datapoints_to_alarm: int | None = Field(None, ge=1)
    treat_missing_data: Literal["breaching", "notBreaching", "ignore", "missing"] = "missing"
    dimensions: dict[str, str] = {}
    description: str = ""

    @model_validator(mode="after")
    def _m_of_n(self) -> AlarmSpec:
        if self.datapoints_to_alarm is not None and self.datapoints_to_alarm > self.evaluation_periods:
            raise ValueError("datapoints_to_alarm must be <= evaluation_periods")
        return self


class ContainerSpec(_Model):
    """The image that runs train, score and check in AWS (built by CDK from ``dockerfile`` or given by URI)."""

    image_uri: str | None = None
    dockerfile: str = "Dockerfile"


# ---------------------------------------------------------------- the pipeline
class PipelineSpec(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")
    description: str = ""
    artifact_root: str = "./.stepml"
    warehouse: WarehouseSpec = WarehouseSpec()
    params: dict[str, ParamSpec] = {}
    model: ModelSpec
    steps: dict[str, StepSpec]
    schedule: ScheduleSpec | None = None
    alarms: list[AlarmSpec] = []
    container: ContainerSpec = ContainerSpec()

    @field_validator("steps")
    @classmethod
    def _names(cls, steps: dict[str, Any]) -> dict[str, Any]:
        bad = [n for n in steps if not re.match(_NAME, n)]
        if bad:
            raise ValueError(f"step names must match {_NAME}: {bad}")
        if not steps:
            raise ValueError("a pipeline needs at least one step")
        return steps

    @field_validator("params")
    @classmethod
    def _param_names(cls, params: dict[str, Any]) -> dict[str, Any]:
        bad = [n for n in params if not re.match(_NAME, n)]
        if bad:
            raise ValueError(f"parameter names must match {_NAME}: {bad}")
        return params


class Pipeline:
    """A validated spec plus where it came from: the base directory for SQL paths and the SQL texts."""

    def __init__(self, spec: PipelineSpec, *, path: Path, sql: dict[str, str]) -> None:
        self.spec = spec
        self.path = path
        self.base_dir = path.parent
        self.sql = sql  # extract step name -> SQL text

    @property
    def name(self) -> str:
        return self.spec.name

    def resolve(self, relative: str) -> Path:
        p = Path(relative)
        return p if p.is_absolute() else self.base_dir / p

    def step(self, name: str) -> StepSpec:
        return self.spec.steps[name]


# ---------------------------------------------------------------- loading
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it


class _Positions:
    """Every path in the YAML document -> its (line, column), 1-based; composed only when a problem needs it."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._map: dict[tuple[str, ...], tuple[int, int]] | None = None

    def _positions(self) -> dict[tuple[str, ...], tuple[int, int]]:
        if self._map is None:
            self._map = _compose_positions(self._text)
        return self._map

    def get(self, path: tuple[str, ...]) -> tuple[int, int] | None:
        return self._positions().get(path)

    def __contains__(self, path: tuple[str, ...]) -> bool:
        return path in self._positions()

    def __getitem__(self, path: tuple[str, ...]) -> tuple[int, int]:
        return self._positions()[path]


_PositionMap = _Positions


def _compose_positions(text: str) -> dict[tuple[str, ...], tuple[int, int]]:
    positions: dict[tuple[str, ...], tuple[int, int]] = {}
    root = yaml.compose(text, Loader=_Loader)

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, str(key.value))
                positions[child] = (key.start_mark.line + 1, key.start_mark.column + 1)
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, str(i)))

    if root is not None:
        walk(root, ())
    return positions


def _locate(positions: _PositionMap, loc: tuple[Any, ...]) -> tuple[int, int] | None:
    """The position of the deepest existing prefix of ``loc`` (pydantic adds union tags that YAML lacks)."""
    path: tuple[str, ...] = ()
    best = positions.get(())
    for part in loc:
        candidate = (*path, str(part))
        if candidate in positions:
            path = candidate
            best = positions[candidate]
    return best


def _pydantic_issues(exc: ValidationError, positions: _PositionMap) -> list[Issue]:
    issues = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        # drop the discriminator tag pydantic inserts: steps.<name>.<type>.<field>
        shown = [str(p) for p in loc]
        if len(loc) >= 3 and loc[0] == "steps" and loc[2] in {"extract", "train", "gate", "score", "check"}:
            shown.pop(2)
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] == "union_tag_invalid":
            message = "unknown step type; expected one of extract, train, gate, score, check"
        elif err["type"] == "missing":
            message = "required key is missing"
        pos = _locate(positions, loc)
        issues.append(Issue(".".join(shown) or "<root>", message, *(pos or (None, None))))
    return issues


_UPSTREAM_RULES: dict[str, dict[str, tuple[int, int]]] = {
    # step type -> {upstream type: (min, max) count}
    "extract": {},
    "train": {"extract": (1, 1)},
    "gate": {"train": (1, 1)},
    "score": {"gate": (0, 1), "train": (0, 1), "extract": (1, 1)},
    "check": {"score": (1, 1), "extract": (0, 1)},
}


def _issue(positions: _PositionMap, where: str, message: str, *path: str) -> Issue:
    """An issue located at the deepest existing prefix of ``path`` in the YAML document."""
    pos = _locate(positions, path) or (None, None)
    return Issue(where, message, *pos)


def _graph_issues(raw_steps: dict[str, Any], positions: _PositionMap) -> list[Issue]:
    """Dependency problems, checked on the raw mapping so they are reported with field errors."""
    issues: list[Issue] = []
    types = {n: s.get("type") for n, s in raw_steps.items() if isinstance(s, dict)}
    needs: dict[str, list[str]] = {}
    for name, step in raw_steps.items():
        deps = (step.get("needs") or []) if isinstance(step, dict) else None
        if not isinstance(deps, list):
            continue
        needs[name] = [str(d) for d in deps]
        where = f"steps.{name}.needs"

        def at(message: str, *path: str, where: str = where, name: str = name) -> None:
            issues.append(_issue(positions, where, message, "steps", name, "needs", *path))

        for i, dep in enumerate(deps):
            if dep not in raw_steps:
                at(f"depends on {dep!r}, which is not a step", str(i))
            elif dep == name:
                at("a step cannot depend on itself", str(i))
        kind = types.get(name)
        rules = _UPSTREAM_RULES.get(str(kind))
        if rules is None:
            continue
        up_types = [types.get(d) for d in deps if d in raw_steps]
        for up_type, (lo, hi) in rules.items():
            n = up_types.count(up_type)
            if not lo <= n <= hi:
                want = f"exactly {lo}" if lo == hi else f"{lo} to {hi}"
                at(f"a {kind} step needs {want} {up_type} step(s), found {n}")
        if kind == "score" and up_types.count("gate") + up_types.count("train") != 1:
            at("a score step needs exactly one gate or train step")
        extra = sorted({str(t) for t in up_types if t not in rules})
        if extra:
            at(f"a {kind} step cannot depend on {', '.join(extra)} steps")
    for cycle in _cycles(needs):
        issues.append(
            _issue(
                positions,
                f"steps.{cycle[0]}.needs",
                "dependency cycle: " + " -> ".join(cycle),
                "steps",
                cycle[0],
                "needs",
            )
        )
    return issues


def _cycles(needs: dict[str, list[str]]) -> list[list[str]]:
    """One representative path per dependency cycle (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for d in needs.get(n, []):
            if d not in needs:
                continue
            if state.get(d) == 1:
                cycle = [*stack[stack.index(d) :], d]
                key = frozenset(cycle)
                if key not in seen_sets:
                    seen_sets.add(key)
                    found.append(cycle)
            elif state.get(d) is None:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in sorted(needs):
        if state.get(n) is None:
            visit(n)
    return found


def _semantic_issues(spec: PipelineSpec, path: Path, positions: _PositionMap) -> tuple[list[Issue], dict[str, str]]:
    """Checks that need the typed spec: SQL files exist and use declared params; params lists are declared."""
    from stepml.sqlrender import scan_placeholders

    issues: list[Issue] = []
    sql: dict[str, str] = {}

    def at(where: str, message: str, *p: str) -> None:
        issues.append(_issue(positions, where, message, *p))

    for name, step in spec.steps.items():
        for i, p in enumerate(step.params):
            if p not in spec.params:
                at(f"steps.{name}.params", f"unknown parameter {p!r}", "steps", name, "params", str(i))
        if isinstance(step, ExtractStep):
            sql_path = Path(step.sql) if Path(step.sql).is_absolute() else path.parent / step.sql
            try:
                text = sql_path.read_text()
            except OSError as exc:
                at(f"steps.{name}.sql", f"cannot read SQL file {sql_path}: {exc.strerror}", "steps", name, "sql")
                continue
            sql[name] = text
            for ph in scan_placeholders(text):
                if ph not in spec.params:
                    declared = sorted(spec.params)
                    msg = f"{step.sql} uses :{ph}, which is not a declared parameter (declared: {declared})"
                    at(f"steps.{name}.sql", msg, "steps", name, "sql")
        if isinstance(step, CheckStep):
            known = set(spec.model.features) | set(spec.model.id_columns) | {"prediction", "score"}
            for col in step.columns:
                if col not in known:
                    msg = "not a feature, id column or prediction column"
                    at(f"steps.{name}.columns.{col}", msg, "steps", name, "columns", col)
    for i, alarm in enumerate(spec.alarms):
        if alarm.metric not in KNOWN_METRICS:
            msg = f"unknown metric {alarm.metric!r}; known: {sorted(KNOWN_METRICS)}"
            at(f"alarms.{i}.metric", msg, "alarms", str(i), "metric")
    if spec.schedule:
        for k in spec.schedule.params:
            if k not in spec.params:
                at(f"schedule.params.{k}", "unknown parameter", "schedule", "params", k)
    return issues, sql


KNOWN_METRICS = CHECK_METRICS | frozenset({"PipelineFailed", "PipelineSucceeded", "StepDuration"})


def load_spec(path: str | Path = DEFAULT_SPEC) -> Pipeline:
    """Read, validate and return the pipeline at ``path``; raise ``SpecError`` listing every problem."""
    p = Path(path)
    name = str(p)
    try:
        text = p.read_text()
    except OSError as exc:
        raise SpecError([Issue("<file>", f"cannot read spec: {exc.strerror}")], name) from exc
    try:
        raw = yaml.load(text, Loader=_Loader)  # _Loader is a safe loader
        positions = _Positions(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        col = mark.column + 1 if mark is not None else None
        raise SpecError([Issue("<yaml>", f"not valid YAML: {getattr(exc, 'problem', exc)}", line, col)], name) from exc
    if not isinstance(raw, dict):
        raise SpecError([Issue("<root>", "the spec must be a mapping (name, model, steps, ...)", 1, 1)], name)

    issues: list[Issue] = []
    raw_steps = raw.get("steps")
    if isinstance(raw_steps, dict):
        issues.extend(_graph_issues(raw_steps, positions))
    spec: PipelineSpec | None = None
    try:
        spec = PipelineSpec.model_validate(raw)
    except ValidationError as exc:
        issues.extend(_pydantic_issues(exc, positions))
    sql: dict[str, str] = {}
    if spec is not None:
        more, sql = _semantic_issues(spec, p, positions)
        issues.extend(more)
    if issues:
        issues.sort(key=lambda i: (i.line or 0, i.column or 0))
        raise SpecError(issues, name)
    assert spec is not None
    return Pipeline(spec, path=p.resolve(), sql=sql)
