"""Check: missing-data, data-quality and drift checks of a table and of a model's predictions, with metrics."""

from stepml.core.steptypes import Consumes, StepType

STEP_TYPE = StepType(
    name="check",
    spec="steps.check.spec:CheckStep",
    local="steps.check.local:run",
    states="steps.check.states:build",
    cloud="steps.check.cloud",
    read="steps.check.local:read",
    produces=("report",),
    consumes=(Consumes("predictions", 0, 1), Consumes("table", 0, 1)),
    min_upstream=1,
    sources=("steps.check.entry", "monitoring"),
    metrics=(  # monitoring.metrics.CHECK_METRICS (a test holds them equal): what the spec's alarms may watch
        "DriftScore",
        "DriftedColumnsShare",
        "FailedChecks",
        "FailedExpectations",
        "MaxNonFiniteFraction",
        "MaxNullFraction",
        "NonFiniteFraction",
        "NullFraction",
        "PredictionDrift",
        "PredictionMean",
        "RowCount",
        "ValidationMetric",
    ),
    cli="steps.check.cli",
    description="Row counts, null fractions, expectations, drift; metrics for the alarms. A local process / ECS task.",
)
