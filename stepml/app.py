"""The use cases the command line and the notebook API share: open a project, its store, its outputs.

Both sit on top of this module and never import each other. Step types are reached through the registry: reading
an output back is its type's ``read`` facet.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepml.core.manifest import read_manifest
from stepml.errors import StepmlError
from stepml.spec import load_spec

if TYPE_CHECKING:
    from stepml.spec.pipeline import Pipeline
    from stepml.store.objects import Store


def make_store(root: str) -> Store:
    """The artifact store for ``root``; builds an S3 client (honouring AWS_ENDPOINT_URL) for s3:// roots."""
    from stepml.store.objects import open_store

    if root.startswith("s3://"):
        import boto3

        return open_store(root, s3_client=boto3.client("s3"))
    return open_store(root)


def open_project(spec: str | Path, root: str | None = None, store: Store | None = None) -> tuple[Pipeline, Store]:
    """The validated pipeline and its artifact store (``root`` overrides the spec's; relative to the spec)."""
    pipeline = load_spec(spec)
    if store is not None:
        return pipeline, store
    configured = root or pipeline.spec.artifact_root
    if not configured.startswith("s3://") and not Path(configured).is_absolute():
        configured = str(pipeline.base_dir / configured)
    return pipeline, make_store(configured)


def ensure_warehouse(pipeline: Pipeline, say: Callable[[str], None] = print) -> None:
    """Create the spec's sample warehouse when its ``warehouse.local.sample`` says so and the file is absent."""
    local = pipeline.spec.warehouse.local
    path = pipeline.resolve(local.path)
    if local.sample is None or path.exists():
        return
    options = local.sample.options
    say(f"creating the sample warehouse at {path} ({local.sample.generator}, {options})")
    generate_sample(pipeline, path, options)


def generate_sample(pipeline: Pipeline, path: Path, options: dict[str, Any]) -> Any:
    """Run the spec's sample generator (``warehouse.local.sample.generator``), a function of the project."""
    import sys

    from stepml.core.steptypes import load

    sample = pipeline.spec.warehouse.local.sample
    if sample is None:
        raise StepmlError(f"{pipeline.path} names no sample generator (warehouse.local.sample.generator)")
    root = str(pipeline.project_root)
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        generator = load(sample.generator)
    except (ImportError, AttributeError) as exc:
        raise StepmlError(f"cannot load the sample generator {sample.generator!r}: {exc}") from exc
    try:
        return generator(path, **options)
    except (TypeError, ValueError) as exc:
        raise StepmlError(f"sample data: {exc}") from exc


def read_output(pipeline: Pipeline, store: Store, manifest: dict[str, Any]) -> Any:
    """The Python object behind a committed output, by its type's ``read`` facet."""
    step_type = pipeline.registry.get(manifest["type"])
    if step_type is None:
        raise StepmlError(f"output of unknown step type {manifest['type']!r}")
    return step_type.facet("read")(store, manifest)


def committed(pipeline: Pipeline, store: Store, step: str, key: str) -> dict[str, Any] | None:
    return read_manifest(store, pipeline.name, step, key)
