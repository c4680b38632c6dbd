"""pipeline.yaml as typed models: everything but the steps' own blocks, which each step type validates.

Pydantic only; loading (YAML, positions, per-type validation, graph checks) is ``stepml.spec.load``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stepml.spec.deploy import DeploySpec, NotificationsSpec
from stepml.spec.experiments import ExperimentSpec, check_experiments, layer_offsets
from stepml.spec.experiments import settings as experiment_settings

if TYPE_CHECKING:
    from stepml.spec.context import SpecContext, StepIssue

DEFAULT_SPEC = "pipeline.yaml"
NAME = r"^[a-z][a-z0-9_]{0,62}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .nan/.inf: "a finite number"


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
            from stepml.core.params import VALIDATION_DATE, coerce

            # raises ValueError with a readable message; a date may default to a run-date expression
            coerce(self.type, self.default, self, run_date=VALIDATION_DATE)
        return self


# ---------------------------------------------------------------- warehouse
class SampleWarehouse(BaseModel):
    """Generate a sample warehouse at ``local.path`` when the file is absent: ``generator`` names a function
    ``(path, **options) -> summary`` in the project; every other key is passed to it as an option."""

    model_config = ConfigDict(extra="allow", frozen=True)

    generator: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class LocalWarehouse(_Model):
    path: str = "data/warehouse.duckdb"
    sample: SampleWarehouse | None = None


class AthenaWarehouse(_Model):
    database: str
    workgroup: str = "primary"
    catalog: str = "AwsDataCatalog"

    def deployed_workgroup(self, stage: str) -> str:
        """The workgroup the data stack creates for ``stage``: Athena's built-in ``primary`` as is, any other name
        suffixed with the stage (workgroup names are unique in an account and Region)."""
        return self.workgroup if self.workgroup == "primary" else f"{self.workgroup}-{stage}"


class RedshiftWarehouse(_Model):
    database: str
    workgroup: str | None = None
    cluster_identifier: str | None = None
    secret_arn: str | None = None
    # the role UNLOAD writes to S3 as (associated with the cluster or namespace); None: the cluster's default role
    unload_role_arn: str | None = None


class WarehouseSpec(_Model):
    engine: Literal["athena", "redshift"] = "athena"  # the engine the cloud pipeline queries
    local: LocalWarehouse = LocalWarehouse()
    athena: AthenaWarehouse | None = None
    redshift: RedshiftWarehouse | None = None


# ---------------------------------------------------------------- model
MODEL_NAME = r"^[a-z][a-z0-9-]{0,47}$"  # also part of a SageMaker model package group name (no underscores)
MODEL_REF = r"^[a-z][a-z0-9-]{0,47}(@(champion|challenger|[1-9][0-9]{0,8}))?$"
CALLABLE = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"


def _finite(value: Any) -> bool:
    """No NaN or infinity anywhere in a JSON-like value."""
    import math

    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    return True


class ModelSpec(_Model):
    """What is learned and by what: the task, the target, the features, the user's factory or trainer and its
    hyperparameters. Shared by the train, gate, score and check steps that use the model."""

    task: Literal["classification", "regression"]
    target: str
    features: list[str] = Field(min_length=1)
    categorical: list[str] = []
    text: list[str] = []  # free-text features (strings; a text model's factory vectorizes them)
    id_columns: list[str] = Field(min_length=1)
    metric: Literal["roc_auc", "log_loss", "accuracy", "rmse", "mae", "r2"]
    validation_fraction: float = Field(0.2, gt=0, lt=1)
    seed: int = 42
    factory: str | None = Field(None, pattern=CALLABLE)  # package.module:callable -> estimator (default: GBM)
    trainer: str | None = Field(None, pattern=CALLABLE)  # package.module:Class with fit()/load() instead
    hyperparameters: dict[str, Any] = {}  # any the factory/trainer accepts; a value {param: NAME} is a run param

    @field_validator("hyperparameters")
    @classmethod
    def _finite_values(cls, hp: dict[str, Any]) -> dict[str, Any]:
        bad = sorted(k for k, v in hp.items() if not _finite(v))
        if bad:
            raise ValueError(f"{bad}: every number must be finite (no NaN or infinity)")
        return hp

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        unknown = [c for c in self.categorical if c not in self.features]
        if unknown:
            raise ValueError(f"categorical columns {unknown} are not in features")
        bad = [c for c in self.text if c not in self.features or c in self.categorical]
        if bad:
            raise ValueError(f"text columns {bad} must be features and not categorical")
        if self.target in self.features:
            raise ValueError(f"target {self.target!r} must not be a feature")
        classification_metrics = {"roc_auc", "log_loss", "accuracy"}
        if (self.task == "classification") != (self.metric in classification_metrics):
            raise ValueError(f"metric {self.metric!r} does not fit task {self.task!r}")
        if self.factory and self.trainer:
            raise ValueError("give either 'factory' (an estimator) or 'trainer' (fit/load), not both")
        for name, value in self.hyperparameters.items():
            if isinstance(value, dict) and "param" in value and set(value) != {"param"}:
                raise ValueError(f"hyperparameter {name!r}: a run parameter is given as {{param: NAME}} alone")

        return self

    @property
    def higher_is_better(self) -> bool:
        return self.metric in {"roc_auc", "accuracy", "r2"}

    @property
    def code_ref(self) -> str | None:
        """The user's factory or trainer (``package.module:name``), None for the built-in default."""
        return self.trainer or self.factory

    def param_refs(self) -> dict[str, str]:
        """hyperparameter -> the run parameter that feeds it."""
        return {k: str(v["param"]) for k, v in self.hyperparameters.items() if isinstance(v, dict) and "param" in v}

    def hyperparameters_for(self, params: Any) -> dict[str, Any]:
        """The hyperparameters with run parameters filled in (``params``: canonical JSON values by name)."""
        refs = self.param_refs()
        return {k: (params[refs[k]] if k in refs else v) for k, v in self.hyperparameters.items()}


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


class StepSpec(_Model):
    """The fields every step has. Each step type's spec model subclasses it, adds its fields and may override the
    hooks below; ``ctx`` (:class:`stepml.spec.context.SpecContext`) gives the step's name, the whole spec and
    file access relative to the spec."""

    type: str
    needs: list[str] = []
    params: list[str] = []  # run parameters that change this step's output (a type may find more, e.g. in SQL)
    resources: Resources = Resources()
    sources: list[str] = []  # modules loaded dynamically whose code enters the key (imports are followed anyway)
    description: str = ""

    def issues(self, ctx: SpecContext) -> list[StepIssue]:
        """Problems only the whole spec shows (a file that cannot be read, an unknown column)."""
        return []

    def key_config(self, ctx: SpecContext) -> dict[str, Any]:
        """What of this step's configuration changes its output (enters the cache key). Default: the type's own
        fields (not needs, params, resources, sources or description)."""
        return self.model_dump(mode="json", exclude=set(StepSpec.model_fields))

    def key_params(self, ctx: SpecContext) -> set[str]:
        """The run parameters this step's output depends on."""
        return set(self.params)

    def code_modules(self, ctx: SpecContext) -> list[str]:
        """Modules besides the type's own sources whose code enters the key (a user step: its function's)."""
        return list(self.sources)

    def cloud_settings(self, ctx: SpecContext) -> dict[str, Any]:
        """What the cloud facet of the type reads at run time (embedded in the Lambda asset's config)."""
        return {}

    def lookup(self, ctx: SpecContext) -> dict[str, Any] | None:
        """A model this step looks up when the run is planned (``stepml.core.plan.StepRecord.lookup``): its
        output depends on which version the registry holds, so that version's digest enters the key."""
        return None


# ---------------------------------------------------------------- schedule and alarms
SCHEDULE_NAME = r"^[a-z][a-z0-9-]{0,31}$"  # part of the EventBridge Scheduler schedule's name


class ScheduleSpec(_Model):
    """When the pipeline runs by itself (``stepml.core.schedule``): at ``cron`` in ``timezone``, with ``params``
    (a date's may be relative to the run's date: ``run_date - 1 day``), running ``steps`` and what they need
    (none named: every step)."""

    cron: str
    timezone: str = "UTC"
    enabled: bool = True
    params: dict[str, Any] = {}
    steps: list[str] = []
    description: str = ""

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        from stepml.core.cron import validate_cron

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
    """The image every step runs in, in AWS (built by CDK from ``dockerfile`` or given by URI). ``requirements``:
    the project's own Python dependencies, a requirements file installed into the image (build arg
    ``REQUIREMENTS``)."""

    image_uri: str | None = None
    dockerfile: str = "Dockerfile"
    requirements: str | None = None


# ---------------------------------------------------------------- the pipeline
class PipelineSpec(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")
    description: str = ""
    artifact_root: str = "./.stepml"
    warehouse: WarehouseSpec = WarehouseSpec()
    params: dict[str, ParamSpec] = {}
    model: ModelSpec | None = None  # one model, named after the pipeline (shorthand for ``models``)
    models: dict[str, ModelSpec] = {}  # named models: train, gate, score and check say which they use
    steps: dict[str, dict[str, Any]]  # validated per step type by stepml.spec.load (Pipeline.steps is typed)
    schedule: ScheduleSpec | None = None  # one schedule, named "default" (shorthand for ``schedules``)
    schedules: dict[str, ScheduleSpec] = {}  # named schedules, each with its cron, params and steps
    alarms: list[AlarmSpec] = []
    experiments: dict[str, ExperimentSpec] = {}  # online tests of the batch scores (type: serve / readout steps)
    container: ContainerSpec = ContainerSpec()
    deploy: DeploySpec = DeploySpec()
    notifications: NotificationsSpec = NotificationsSpec()
    step_types: list[str] = []  # packages to search for step types besides the built-in ones
    project_root: str | None = None  # where the project's own packages are (default: nearest pyproject.toml)

    @field_validator("steps")
    @classmethod
    def _names(cls, steps: dict[str, Any]) -> dict[str, Any]:
        bad = [n for n in steps if not re.match(NAME, n)]
        if bad:
            raise ValueError(f"step names must match {NAME}: {bad}")
        if not steps:
            raise ValueError("a pipeline needs at least one step")
        return steps

    @model_validator(mode="after")
    def _models(self) -> PipelineSpec:
        if self.model is not None and self.models:
            raise ValueError("give either 'model' (one model) or 'models' (named models), not both")
        bad = [n for n in self.models if not re.match(MODEL_NAME, n)]
        if bad:
            raise ValueError(f"model names must match {MODEL_NAME}: {bad}")
        for name, model in self.named_models().items():
            unknown = sorted(p for p in model.param_refs().values() if p not in self.params)
            if unknown:
                raise ValueError(f"model {name!r}: hyperparameters refer to undeclared run parameter(s) {unknown}")
        return self

    @model_validator(mode="after")
    def _experiments(self) -> PipelineSpec:
        check_experiments(self.experiments)
        return self

    def experiment_settings(self, name: str) -> dict[str, Any]:
        """What experiment ``name`` may not change while it runs (see ``stepml.spec.experiments.settings``)."""
        offsets, _ = layer_offsets(self.experiments)
        return experiment_settings(name, self.experiments[name], offsets[name])

    @model_validator(mode="after")
    def _schedules(self) -> PipelineSpec:
        if self.schedule is not None and self.schedules:
            raise ValueError("give either 'schedule' (one schedule) or 'schedules' (named schedules), not both")
        return self

    @field_validator("schedules")
    @classmethod
    def _schedule_names(cls, schedules: dict[str, Any]) -> dict[str, Any]:
        bad = [n for n in schedules if not re.match(SCHEDULE_NAME, n)]
        if bad:
            raise ValueError(f"schedule names must match {SCHEDULE_NAME}: {bad}")
        return schedules

    def named_schedules(self) -> dict[str, ScheduleSpec]:
        """Every schedule by name; the single ``schedule`` is named ``default``."""
        from stepml.core.schedule import DEFAULT

        return {DEFAULT: self.schedule} if self.schedule is not None else dict(self.schedules)

    def named_models(self) -> dict[str, ModelSpec]:
        """Every model by name; the single ``model`` is named after the pipeline."""
        return {self.name: self.model} if self.model is not None else dict(self.models)

    @field_validator("params")
    @classmethod
    def _param_names(cls, params: dict[str, Any]) -> dict[str, Any]:
        bad = [n for n in params if not re.match(NAME, n)]
        if bad:
            raise ValueError(f"parameter names must match {NAME}: {bad}")
        return params
