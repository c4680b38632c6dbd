"""Python: the user's own function as a step - ``function: package.module:callable`` in the project."""

from stepml.core.steptypes import Consumes, StepType

STEP_TYPE = StepType(
    name="python",
    spec="steps.python.spec:PythonStep",
    local="steps.python.local:run",
    states="steps.python.states:build",
    cloud="steps.python.cloud",
    read="stepml.outputs:read_tables",
    produces=("table",),
    consumes=(Consumes("table", 0, None), Consumes("model", 0, None), Consumes("report", 0, None)),
    any_upstream=True,
    sources=("steps.python.entry",),
    description="A user function: a local process; an ECS task, or a SageMaker Processing job given an instance type.",
)
