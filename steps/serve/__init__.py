"""Serve: the serving output of an online test - units assigned to variants, each variant's ranked lists, the
served table (A/B, interleaved, or the control with a shadow challenger) - from the spec's ``experiments:``."""

from stepml.core.steptypes import Consumes, StepType

STEP_TYPE = StepType(
    name="serve",
    spec="steps.serve.spec:ServeStep",
    local="steps.serve.local:run",
    states="steps.serve.states:build",
    cloud="steps.serve.cloud",
    read="stepml.outputs:read_tables",
    produces=("serving", "table"),
    consumes=(Consumes("model", 0, None), Consumes("table", 0, None)),
    sources=("steps.serve.entry",),
    description="An online test's serving table: assignment by salted hash, per-variant lists, A/B | interleave | shadow.",
)
