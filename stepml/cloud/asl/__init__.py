"""The spec compiled to Amazon States Language: pure functions, printable offline (``stepml asl``).

builder        Task states with retry/catch policies, placeholders
shape          the step graph as sequences and Parallel branches
locks          a step's lock: take it, wait for its release by callback, release it and wake the waiters
steps          StepStates: what a step type's states facet builds with; what its steps need from the stacks
envelope       per step: cache check -> lock -> recheck -> <type states> -> commit -> release
machine        the whole machine: Plan, the steps in order, Notify failure / Failed / Succeeded
substitutions  ``${Name}`` placeholders and offline stand-ins
"""

from stepml.cloud.asl.builder import CONTAINER_NAME, SUBNET_COUNT, task_definition_var
from stepml.cloud.asl.machine import (
    Compiled,
    compile_definition,
    compile_pipeline,
    named_states,
    state_machine_timeout,
    to_json,
)
from stepml.cloud.asl.substitutions import resolve

__all__ = [
    "CONTAINER_NAME",
    "SUBNET_COUNT",
    "Compiled",
    "compile_definition",
    "compile_pipeline",
    "named_states",
    "resolve",
    "state_machine_timeout",
    "task_definition_var",
    "to_json",
]
