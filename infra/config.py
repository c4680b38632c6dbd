"""The typed configuration of the CDK app: what differs between environments, given to constructs as arguments."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

from aws_cdk import Aws

from stepml.spec import Pipeline
from stepml.spec.deploy import NetworkMode, NotebookSpec

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class InfraConfig:
    """Everything the stacks need besides the spec. Built once in ``infra/app.py`` from CDK context."""

    pipeline: Pipeline
    stage: str = "dev"
    asset_dir: Path = field(default_factory=lambda: REPO_ROOT / "cdk.out" / "stepml-staging" / "lambda")
    image_uri: str | None = None  # overrides the spec's container.image_uri; None and no spec URI: build Dockerfile
    warehouse_buckets: tuple[str, ...] = ()  # -c warehouse_buckets=a,b: added to the spec's deploy.warehouse_buckets
    no_success_hours: int = 26  # alarm when no execution succeeded for this long (missing data breaches)
    retain_data: bool = True  # keep the artifact bucket and the lock table when the stack is deleted
    max_azs: int = 2
    notebook: bool = False  # -c notebook=true: the exploration notebook even when the spec has no deploy.notebook

    @property
    def name(self) -> str:
        return self.pipeline.spec.name

    @property
    def prefix(self) -> str:
        """Resource-name prefix: ``stepml-<pipeline>-<stage>``."""
        return f"stepml-{self.name}-{self.stage}"

    @property
    def warehouse_bucket_arns(self) -> tuple[str, ...]:
        """The S3 buckets holding the warehouse's tables (read by Athena as the state machine): the spec's
        ``deploy.warehouse_buckets`` and the context's, as ARNs."""
        names = [*self.pipeline.spec.deploy.warehouse_buckets, *self.warehouse_buckets]
        arns = (n if n.startswith("arn:") else f"arn:{Aws.PARTITION}:s3:::{n.strip()}" for n in names if n.strip())
        return tuple(dict.fromkeys(arns))

    @property
    def network_mode(self) -> NetworkMode:
        """The spec's ``deploy.network`` (``-c network=...`` sets it through :func:`with_network`): the VPC's shape
        and the compiled RunTask parameters come from this one value."""
        return self.pipeline.spec.deploy.network

    @property
    def notebook_spec(self) -> NotebookSpec | None:
        """The notebook to deploy: the spec's ``deploy.notebook``, or the default one with ``-c notebook=true``."""
        return self.pipeline.spec.deploy.notebook or (NotebookSpec() if self.notebook else None)

    @property
    def resolved_image_uri(self) -> str | None:
        return self.image_uri or self.pipeline.spec.container.image_uri

    @property
    def dockerfile(self) -> Path:
        return self.pipeline.resolve(self.pipeline.spec.container.dockerfile)

    @property
    def build_args(self) -> dict[str, str]:
        """``REQUIREMENTS``: the project's extra Python dependencies (``container.requirements``), relative to
        the image's build folder."""
        requirements = self.pipeline.spec.container.requirements
        if requirements is None:
            return {}
        return {"REQUIREMENTS": str(self.pipeline.resolve(requirements).relative_to(self.dockerfile.parent))}

    @property
    def code_digest(self) -> str:
        """One digest of the code every step runs (their keys' code digests) and the image's recipe: the built
        image's tag changes exactly when one of them does."""
        import hashlib

        h = hashlib.sha256()
        for name in sorted(self.pipeline.steps):
            h.update(f"{name}:{self.pipeline.code_digest(name).digest}\n".encode())
        for path in (self.dockerfile, *self._requirements()):
            h.update(path.read_bytes() if path.is_file() else b"")
        return h.hexdigest()

    def _requirements(self) -> list[Path]:
        requirements = self.pipeline.spec.container.requirements
        return [self.pipeline.resolve(requirements)] if requirements else []


def with_network(pipeline: Pipeline, mode: str) -> Pipeline:
    """``pipeline`` with ``deploy.network`` set to ``mode`` (``-c network=...``), so that the stacks' VPC and the
    state machine compiled from the spec (``AssignPublicIp``) agree; a mode that is none of the three is a named
    error."""
    modes = get_args(NetworkMode)
    if mode not in modes:
        from stepml.errors import Issue, SpecError

        raise SpecError([Issue("context network", f"{mode!r}: expected one of {', '.join(modes)}")])
    spec = pipeline.spec
    spec = spec.model_copy(update={"deploy": spec.deploy.model_copy(update={"network": mode})})
    return Pipeline(spec, steps=pipeline.steps, types=pipeline.types, registry=pipeline.registry, path=pipeline.path)
