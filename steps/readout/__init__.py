"""Readout: an online test read out from its exposure/outcome table - per-variant metrics with intervals, lift,
sample-ratio mismatch, multiple exposure, interleaving preference, shadow agreement - as a table, a report and
metrics the spec's alarms watch."""

from stepml.core.steptypes import Consumes, StepType

METRICS = (
    "SampleRatioMismatch",
    "SRMPValue",
    "MultipleExposureShare",
    "GuardrailBreaches",
    "ExperimentUnits",
)

STEP_TYPE = StepType(
    name="readout",
    spec="steps.readout.spec:ReadoutStep",
    local="steps.readout.local:run",
    states="steps.readout.states:build",
    cloud="steps.readout.cloud",
    read="steps.readout.local:read",
    produces=("readout", "table"),
    consumes=(Consumes("serving", 0, 1), Consumes("table", 1, 1)),
    sources=("steps.readout.entry",),
    metrics=METRICS,
    description="An online test's read-out: metrics with intervals, SRM, multiple exposure, preference, agreement.",
)
