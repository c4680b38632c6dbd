"""The step-type registry: every type is one folder that provides every facet, found by name."""

from __future__ import annotations

import inspect
import typing

import pytest

from stepml.cloud.asl.steps import StepStates
from stepml.core.digest import Finder, closure
from stepml.core.steptypes import FACETS, Registry, StepType
from stepml.local.context import LocalContext
from stepml.spec.models import StepSpec
from tests.conftest import ROOT

BUILT_IN = ["check", "extract", "gate", "python", "readout", "score", "serve", "train"]


def test_the_registry_finds_every_built_in_type_by_folder() -> None:
    registry = Registry()
    assert registry.names() == BUILT_IN
    assert registry.get("no_such_type") is None and registry.get("../etc") is None


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_type_provides_every_facet_from_its_own_folder(name: str) -> None:
    step_type = Registry().get(name)
    assert isinstance(step_type, StepType) and step_type.package == f"steps.{name}"
    # its spec model: a StepSpec whose ``type`` is the type's name
    spec = step_type.facet("spec")
    assert issubclass(spec, StepSpec) and typing.get_args(spec.model_fields["type"].annotation) == (name,)
    # local: run(ctx: LocalContext); states: build(b: StepStates) -> first state; read(store, manifest)
    for facet, parameter in (("local", LocalContext), ("states", StepStates)):
        fn = step_type.facet(facet)
        hints = typing.get_type_hints(fn)
        assert list(inspect.signature(fn).parameters) in (["ctx"], ["b"]) and parameter in hints.values(), facet
    assert list(inspect.signature(step_type.facet("read")).parameters) == ["store", "manifest"]
    # cloud: finish(ctx) in the Lambda handlers; its module imports only the standard library, boto3 and stepml
    cloud = step_type.facet("cloud")
    assert callable(cloud.finish)
    for source in closure([step_type.cloud], Finder([ROOT])):
        assert not source.module.startswith(("pandas", "numpy", "pydantic", "sklearn", "pyarrow")), source
    # its facets live in its own folder (a reader of tables may be the shared one)
    for facet in FACETS:
        module = getattr(step_type, facet).partition(":")[0]
        assert module.startswith(f"steps.{name}.") or module == "stepml.outputs", (facet, module)
    # and its code is found: the modules its key hashes exist
    assert closure(step_type.sources, Finder([ROOT]), project=False)
