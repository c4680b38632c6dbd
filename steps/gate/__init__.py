"""Gate: should the freshly trained model replace the champion? The model registry records the answer."""

from stepml.core.steptypes import Consumes, StepType

STEP_TYPE = StepType(
    name="gate",
    spec="steps.gate.spec:GateStep",
    local="steps.gate.local:run",
    states="steps.gate.states:build",
    cloud="steps.gate.cloud",
    read="steps.gate.local:read",
    produces=("model",),
    consumes=(Consumes("model", 1, 1),),
    sources=("steps.gate.core",),
    description="Candidate vs thresholds and the champion; the local registry or a SageMaker model package group.",
)
