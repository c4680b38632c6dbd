"""Score: batch predictions of a table with a model, in partitions."""

from stepml.core.steptypes import Consumes, StepType

STEP_TYPE = StepType(
    name="score",
    spec="steps.score.spec:ScoreStep",
    local="steps.score.local:run",
    states="steps.score.states:build",
    cloud="steps.score.cloud",
    read="stepml.outputs:read_tables",
    produces=("predictions", "table"),
    consumes=(Consumes("model", 0, 1), Consumes("table", 1, 1)),
    sources=("steps.score.entry",),
    description="Batch predictions: local processes, or a Distributed Map of ECS tasks.",
)
