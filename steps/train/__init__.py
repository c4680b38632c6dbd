"""Train: fit the spec's model on an upstream table by SageMaker's training-container contract."""

from stepml.core.steptypes import Consumes, StepType

STEP_TYPE = StepType(
    name="train",
    spec="steps.train.spec:TrainStep",
    local="steps.train.local:run",
    states="steps.train.states:build",
    cloud="steps.train.cloud",
    read="steps.train.local:read",
    produces=("model",),
    consumes=(Consumes("table", 1, 1),),
    sources=("steps.train.entry", "monitoring"),
    metrics=("ValidationMetric",),
    description="Fit a model (SageMaker training contract): a local process, or a SageMaker training job.",
)
