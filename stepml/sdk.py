"""What a step type's author works with, in one import (see ``steps/`` for the built-in types).

A type is a folder whose ``__init__.py`` defines ``STEP_TYPE = StepType(...)`` naming its facets:

    spec.py    a ``StepSpec`` subclass: the step's fields, what enters its key, its checks, its cloud settings
    local.py   ``run(ctx: LocalContext) -> StepResult``; ``read(store, manifest)`` for ``stepml.load``
    states.py  ``build(b: StepStates) -> str``: the states it compiles to, the name of the first
    cloud.py   ``finish(ctx)`` (and optionally ``plan_entry``, ``committed``, ``ACTIONS``), standard library and
               boto3 only: it runs in the Lambda handlers, which import it from ``stepml.cloud.handlers.context``
               types, never from here

Steps that run as a process implement an entry function ``(inv: Invocation) -> EntryResult``, run by
``python -m stepml.entry`` locally and by the task adapter in AWS.
"""

from stepml.cloud.asl.steps import StepStates, static_environment
from stepml.core.steptypes import Consumes, StepType
from stepml.entry import EntryResult, Input, Invocation
from stepml.local.context import LocalContext, StepResult
from stepml.outputs import read_folder, read_json, read_table, read_tables
from stepml.spec.context import SpecContext, SpecFileError, StepIssue
from stepml.spec.models import ModelSpec, Resources, StepSpec
from stepml.spec.pipeline import text_digest

__all__ = [
    "Consumes",
    "EntryResult",
    "Input",
    "Invocation",
    "LocalContext",
    "ModelSpec",
    "Resources",
    "SpecContext",
    "SpecFileError",
    "StepIssue",
    "StepResult",
    "StepSpec",
    "StepStates",
    "StepType",
    "read_folder",
    "read_json",
    "read_table",
    "read_tables",
    "static_environment",
    "text_digest",
]
