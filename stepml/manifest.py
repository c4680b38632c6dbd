"""Where outputs live in the artifact store, and their manifests.

    <pipeline>/steps/<step>/<key>/_manifest.json      the commit point: written last, atomically
    <pipeline>/steps/<step>/<key>/<attempt>/...        the files of one attempt at computing the step
    <pipeline>/locks/<step>-<key>.json                 the step lock (stepml.lock)
    <pipeline>/runs/<run_id>.json                      one run's tree: what each step did
    <pipeline>/registry/...                            the model registry (stepml.registry)

An output without its manifest does not exist: a killed or failed attempt leaves only an attempt directory that
no manifest names, and the next holder of the step's lock deletes it. A manifest lists the files of its attempt
with their sizes, so a cache hit can tell a damaged output from a good one without reading it.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stepml.store import Store, join

if TYPE_CHECKING:
    from stepml.plan import Plan, PlannedStep

MANIFEST = "_manifest.json"
MANIFEST_SCHEMA = "stepml.manifest/1"
RUN_SCHEMA = "stepml.run/1"  # <pipeline>/runs/<run_id>.json, written by the local runner and the notify Lambda
_VERSIONED = ("stepml", "duckdb", "pyarrow", "pandas", "numpy", "scikit-learn", "sqlglot", "boto3")


def step_prefix(pipeline: str, step: str, key: str) -> str:
    return join(pipeline, "steps", step, key)


def manifest_key(pipeline: str, step: str, key: str) -> str:
    return join(step_prefix(pipeline, step, key), MANIFEST)


def lock_key(pipeline: str, step: str, key: str) -> str:
    return join(pipeline, "locks", f"{step}-{key}.json")


def run_key(pipeline: str, run_id: str) -> str:
    return join(pipeline, "runs", f"{run_id}.json")


def package_versions() -> dict[str, str]:
    """Installed versions, read from package metadata (imports nothing)."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def file_role(rel: str) -> str:
    """``data`` (what downstream steps read), ``log``, or ``artifact`` (model, reports), by attempt-relative path."""
    if rel.startswith("logs/"):
        return "log"
    return "data" if rel.startswith("data/") else "artifact"


def new_manifest(
    plan: Plan,
    step: PlannedStep,
    *,
    prefix: str,
    files: list[dict[str, Any]],
    rows: int | None,
    summary: Mapping[str, Any],
    detail: str,
    run_id: str,
    started: float,
    finished: float,
    versions: Mapping[str, str],
) -> dict[str, Any]:
    """The manifest of a finished attempt; the local runner and the cloud commit Lambda both build it here."""
    return {
        "schema": MANIFEST_SCHEMA,
        "pipeline": plan.pipeline,
        "step": step.name,
        "type": step.type,
        "key": step.key,
        "components": step.components,
        "params": {p: plan.params[p] for p in step.components["params"]},
        "parents": {d: plan.step(d).key for d in step.needs},
        "code_digest": step.components["code"],
        "prefix": prefix,
        "files": files,
        "rows": rows,
        "summary": dict(summary),
        "detail": detail,
        "run_id": run_id,
        "started_at": started,
        "finished_at": finished,
        "duration_s": round(finished - started, 3),
        "versions": dict(versions),
    }


def read_manifest(store: Store, pipeline: str, step: str, key: str) -> dict[str, Any] | None:
    got = store.read_versioned(manifest_key(pipeline, step, key))
    if got is None:
        return None
    try:
        data: dict[str, Any] = json.loads(got[0])
    except ValueError:
        return None
    if data.get("schema") != MANIFEST_SCHEMA or data.get("key") != key:
        return None
    return data


def damaged_files(store: Store, manifest: dict[str, Any]) -> list[str]:
    """Files the manifest names that are missing or have another size than recorded."""
    bad = []
    for f in manifest.get("files", []):
        if store.size(join(manifest["prefix"], f["path"])) != f["size"]:
            bad.append(f["path"])
    return bad


def write_manifest(store: Store, manifest: dict[str, Any]) -> None:
    store.write_bytes(
        manifest_key(manifest["pipeline"], manifest["step"], manifest["key"]),
        json.dumps(manifest, indent=2, sort_keys=True).encode(),
    )


def list_manifests(store: Store, pipeline: str, step: str) -> list[dict[str, Any]]:
    """Every committed manifest of ``step``, newest first."""
    out = []
    for k in store.list(join(pipeline, "steps", step)):
        parts = k.split("/")
        if parts[-1] == MANIFEST and len(parts) >= 2:
            m = read_manifest(store, pipeline, step, parts[-2])
            if m is not None:
                out.append(m)
    out.sort(key=lambda m: m.get("finished_at", 0), reverse=True)
    return out


def output_files(manifest: dict[str, Any]) -> list[str]:
    """Store keys of the manifest's data files (logs and sidecars excluded), in order."""
    return [join(manifest["prefix"], f["path"]) for f in manifest.get("files", []) if f.get("role", "data") == "data"]
