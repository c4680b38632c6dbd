"""Model lookups in AWS: a step's ``model@alias`` resolved against SageMaker model package groups, in the plan
Lambda (standard library + boto3).

One model package group per model name, ``<prefix>-<model>`` (the prefix is stage-scoped, so two stages of one
account never share a registry). A gate registers each candidate with ``CustomerMetadataProperties`` holding its
content ``digest``, ``train_key`` and metric ``value``; the champion is the latest ``Approved`` package, the
challenger the latest package that is not the champion - the same aliases as the local registry
(``stepml.store.models``). What a lookup finds enters the step's key as the version's digest
(``stepml.core.plan``). Each lookup costs one ListModelPackages page and one DescribeModelPackage call.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from stepml.core.plan import Resolver
from stepml.errors import StepExecutionError

GROUP_PREFIX_ENV = "STEPML_MODEL_GROUP_PREFIX"


GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # CreateModelPackageGroup's ModelPackageGroupName


def group_name(prefix: str, model: str) -> str:
    """The model package group of ``model``: ``<prefix>-<model>`` (never truncated: two models must not share a
    group; the stacks check the name against :data:`GROUP_NAME` at synth)."""
    return f"{prefix}-{model}"


def package_digest(metadata: Mapping[str, Any], arn: str, model_uri: str) -> str:
    """A model package's content digest: what its gate recorded; for a package registered before digests were
    recorded, a digest of its ARN and model data (so it still identifies exactly that version)."""
    recorded = metadata.get("digest")
    if isinstance(recorded, str) and recorded:
        return recorded
    return "package:" + hashlib.sha256(f"{arn}|{model_uri}".encode()).hexdigest()


def _packages(sagemaker: Any, group: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"ModelPackageGroupName": group, "SortBy": "CreationTime", "SortOrder": "Descending"}
    while True:
        page = sagemaker.list_model_packages(**kwargs)
        out.extend(page.get("ModelPackageSummaryList", []))
        if not page.get("NextToken") or len(out) >= 1000:
            return out
        kwargs["NextToken"] = page["NextToken"]


def _version(summary: Mapping[str, Any]) -> int | None:
    if isinstance(summary.get("ModelPackageVersion"), int):
        return int(summary["ModelPackageVersion"])
    tail = str(summary.get("ModelPackageArn", "")).rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def pick(packages: list[dict[str, Any]], alias: str) -> dict[str, Any] | None:
    """The package summary an alias names (``packages`` newest first)."""
    champion = next((p for p in packages if p.get("ModelApprovalStatus") == "Approved"), None)
    if alias == "champion":
        return champion
    if alias == "challenger":
        return next(
            (p for p in packages if champion is None or p["ModelPackageArn"] != champion["ModelPackageArn"]), None
        )
    return next((p for p in packages if str(_version(p)) == alias), None)


def sagemaker_resolver(sagemaker: Any, prefix: str) -> Resolver:
    def resolve(step: str, lookup: Mapping[str, Any], upstream: Mapping[str, str]) -> dict[str, Any] | None:
        model = str(lookup["model"])
        group = group_name(prefix, model)
        found = pick(_packages(sagemaker, group), str(lookup["alias"]))
        if found is None:
            return None
        package = sagemaker.describe_model_package(ModelPackageName=found["ModelPackageArn"])
        meta = package.get("CustomerMetadataProperties") or {}
        containers = (package.get("InferenceSpecification") or {}).get("Containers") or [{}]
        if not containers[0].get("ModelDataUrl"):
            raise StepExecutionError(
                step, f"model package {found['ModelPackageArn']} of {group} has no model data (ModelDataUrl)"
            )
        return {
            "model": model,
            "version": _version(found),
            "digest": package_digest(meta, found["ModelPackageArn"], containers[0]["ModelDataUrl"]),
            "uri": containers[0]["ModelDataUrl"],
            "train_key": meta.get("train_key"),
            "value": meta.get("value"),
            "arn": found["ModelPackageArn"],
        }

    return resolve
