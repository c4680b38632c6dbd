"""The manifest: the record that commits one step output, written last (``<step>/<key>/_manifest.json``).

An output without its manifest does not exist: a killed or failed attempt leaves only an attempt directory that
no manifest names, and the next holder of the step's lock deletes it. A manifest lists the files of its attempt
with their sizes (a cache hit can tell a truncated output without reading it) and sha256 digests (a step that
consumes a file checks it: a file changed in place, even of the same size, is refused); one committed in AWS also
records each file's S3 ETag (``etag``), the only record of a file an AWS service wrote, which readers pin their
GETs to (and, in a versioned bucket, its ``version_id``: the very object committed, restorable after an overwrite). The local runner
and the cloud commit Lambda both build it with :func:`new_manifest`, so a step records the same fields wherever
it ran.

Beside it, :func:`write_manifest` writes its **head** (``_manifest.head.json``: every field but the file list,
the key components and the package versions), right after the manifest. The state machine's cache check reads the
head, never the manifest: a state's input or output is limited to 256 KiB, and a manifest grows with its files
(about 200 bytes each) while the head does not.

Manifests are validated before they are used (:func:`problems`): schema, pipeline/step/key, and a ``prefix``
confined to the step's own folder - a manifest that fails is treated as absent, never followed. Schema
``stepml.manifest/1`` (before step types were plugins) has the same fields and is still read.
"""

from __future__ import annotations

import json
import logging
import platform
import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from stepml.core.layout import MANIFEST, MANIFEST_HEAD, is_inside, join, manifest_head_key, manifest_key, step_prefix

if TYPE_CHECKING:
    from pathlib import Path

    from stepml.core.plan import Plan, PlannedStep

_log = logging.getLogger("stepml.manifest")
MANIFEST_SCHEMA = "stepml.manifest/2"
DIGESTS = "_digests"  # in an attempt written in AWS: {relative path: sha256} per process, written by its writer
READABLE_SCHEMAS = ("stepml.manifest/1", MANIFEST_SCHEMA)
ETAG = re.compile(r"^[0-9A-Za-z-]{1,128}$")  # an S3 ETag as recorded (no quotes): MD5 hex, or MD5 hex-<parts>
VERSION_ID = re.compile(r"^[0-9A-Za-z._+=/-]{1,1024}$")  # an S3 version id
_VERSIONED = ("stepml", "duckdb", "pyarrow", "pandas", "numpy", "scikit-learn", "sqlglot", "boto3")
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "pipeline": str,
    "step": str,
    "type": str,
    "key": str,
    "prefix": str,
    "files": list,
    "summary": dict,
    "run_id": str,
}


class Readable(Protocol):
    def read_versioned(self, key: str) -> tuple[bytes, str] | None: ...
    def size(self, key: str) -> int | None: ...
    def list(self, prefix: str) -> list[str]: ...


@cache
def package_versions() -> dict[str, str]:
    """Installed versions, read from package metadata (imports nothing); once per process."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def file_role(rel: str) -> str:
    """``data`` (tables downstream steps read), ``log``, or ``artifact`` (model, reports), by attempt path."""
    if rel.startswith("logs/"):
        return "log"
    return "data" if rel.startswith(("data/", "tables/")) else "artifact"


def file_table(rel: str) -> str | None:
    """The table a data file belongs to: ``data/...`` is the step's main table (``""``), ``tables/<name>/...``
    a named one; other files belong to none."""
    if rel.startswith("data/"):
        return ""
    if rel.startswith("tables/"):
        return rel.split("/")[1]
    return None


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
    executor: Mapping[str, Any],
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
        "executor": dict(executor),
    }


def problems(data: Any, pipeline: str, step: str, key: str) -> list[str]:
    """Why ``data`` is not a usable manifest of ``pipeline``/``step``/``key`` (empty: it is)."""
    if not isinstance(data, dict):
        return [f"not a JSON object but {type(data).__name__}"]
    out = []
    if data.get("schema") not in READABLE_SCHEMAS:
        out.append(f"schema {data.get('schema')!r} is not one of {list(READABLE_SCHEMAS)}")
    for name, kind in _REQUIRED.items():
        if not isinstance(data.get(name), kind):
            out.append(f"field {name!r} is missing or not a {getattr(kind, '__name__', kind)}")
    if out:
        return out
    for field, want in (("pipeline", pipeline), ("step", step), ("key", key)):
        if data[field] != want:
            out.append(f"{field} is {data[field]!r}, expected {want!r}")
    if not is_inside(data["prefix"], step_prefix(pipeline, step, key)) or data["prefix"] == step_prefix(
        pipeline, step, key
    ):
        out.append(f"prefix {data['prefix']!r} is not an attempt folder of {step_prefix(pipeline, step, key)}")
    for f in data["files"]:
        if not (isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("size"), int)):
            out.append(f"a file entry is malformed: {f!r}")
            break
        if not is_inside(f["path"], f["path"].split("/")[0]):
            out.append(f"file path {f['path']!r} leaves the attempt folder")
            break
        digest = f.get("sha256")
        if digest is not None and not (isinstance(digest, str) and len(digest) == 64):
            out.append(f"file {f['path']!r} has a malformed sha256 {digest!r}")
            break
        etag, version = f.get("etag"), f.get("version_id")
        if etag is not None and not (isinstance(etag, str) and ETAG.match(etag)):
            out.append(f"file {f['path']!r} has a malformed etag {etag!r}")
            break
        if version is not None and not (isinstance(version, str) and VERSION_ID.match(version)):
            out.append(f"file {f['path']!r} has a malformed version_id {version!r}")
            break
    return out


def parse_manifest(
    raw: bytes, pipeline: str, step: str, key: str, *, where: str | None = None
) -> dict[str, Any] | None:
    """The manifest in ``raw`` if it is a valid one of ``pipeline``/``step``/``key``; else None, and a warning
    naming ``where`` (the object it was read from) says why."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        found = [f"not JSON ({exc})"]
    else:
        found = problems(data, pipeline, step, key)
    if not found:
        return data  # type: ignore[no-any-return]
    _log.warning(
        "ignoring the manifest %s of step %r: %s - treated as absent, the step recomputes",
        where or manifest_key(pipeline, step, key),
        step,
        "; ".join(found),
    )
    return None


def read_manifest(store: Readable, pipeline: str, step: str, key: str) -> dict[str, Any] | None:
    """The committed manifest of ``step`` at ``key``, or None (absent, unreadable or invalid: with a warning)."""
    got = store.read_versioned(manifest_key(pipeline, step, key))
    return parse_manifest(got[0], pipeline, step, key) if got is not None else None


def digests(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Store key -> recorded sha256 of the manifest's files (older manifests record none)."""
    return {join(manifest["prefix"], f["path"]): f["sha256"] for f in manifest.get("files", []) if f.get("sha256")}


def fingerprints(manifest: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Store key -> what the manifest records to recognise the file by: ``sha256`` (files stepml writes) and/or
    ``etag`` (every file a cloud commit listed - the only record of those AWS services write)."""
    out = {}
    for f in manifest.get("files", []):
        record = {k: str(f[k]) for k in ("sha256", "etag") if f.get(k)}
        if record:
            out[join(manifest["prefix"], f["path"])] = record
    return out


def unrecognised(path: Path, record: Mapping[str, str]) -> str | None:
    """None when the local file ``path`` holds the bytes ``record`` (:func:`fingerprints`) describes, else what was
    expected (``"sha256 <hex>"`` or ``"ETag <etag>"``). A multipart ETag whose part size cannot be told is taken
    as matching (``stepml.core.etag.etag_matches``)."""
    if record.get("sha256"):
        return None if sha256_of(path) == record["sha256"] else f"sha256 {record['sha256']}"
    if record.get("etag"):
        from stepml.core.etag import etag_matches

        return None if etag_matches(path, record["etag"]) is not False else f"ETag {record['etag']}"
    return None


def etags(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Store key -> recorded S3 ETag of the manifest's files: what a manifest committed in AWS records for every
    file (the only record of a file an AWS service wrote: an UNLOAD's parquet, ``model.tar.gz``); readers pin
    their GETs to it (``If-Match``). Local manifests and older ones record none."""
    return {join(manifest["prefix"], f["path"]): f["etag"] for f in manifest.get("files", []) if f.get("etag")}


def damaged_files(store: Readable, manifest: Mapping[str, Any]) -> list[str]:
    """Files the manifest names that are missing or have another size than recorded."""
    return [
        f["path"] for f in manifest.get("files", []) if store.size(join(manifest["prefix"], f["path"])) != f["size"]
    ]


HEAD_FIELDS = (
    "schema",
    "pipeline",
    "step",
    "type",
    "key",
    "prefix",
    "rows",
    "summary",
    "detail",
    "run_id",
    "finished_at",
)


def head(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What the state machine's cache check reads of a manifest: its identity, prefix and summary (no file list, so
    its size does not grow with the output's files), and how many files the manifest lists."""
    return {k: manifest[k] for k in HEAD_FIELDS if k in manifest} | {"file_count": len(manifest.get("files", []))}


def write_manifest(write: Callable[[str, bytes], None], manifest: Mapping[str, Any]) -> None:
    """The manifest (the commit point), then its head: a head without its manifest never exists, and a manifest
    whose head is missing (a writer killed between the two) is a cache miss in AWS, which recomputes."""
    pipeline, step, key = manifest["pipeline"], manifest["step"], manifest["key"]
    write(manifest_key(pipeline, step, key), json.dumps(manifest, indent=2, sort_keys=True).encode())
    write(manifest_head_key(pipeline, step, key), json.dumps(head(manifest), sort_keys=True).encode())


def list_manifests(store: Readable, pipeline: str, step: str) -> list[dict[str, Any]]:
    """Every committed (and valid) manifest of ``step``, newest first."""
    out = []
    for k in store.list(join(pipeline, "steps", step)):
        parts = k.split("/")
        if parts[-1] == MANIFEST and len(parts) >= 2:
            m = read_manifest(store, pipeline, step, parts[-2])
            if m is not None:
                out.append(m)
    out.sort(key=lambda m: m.get("finished_at", 0), reverse=True)
    return out


def output_files(manifest: Mapping[str, Any], table: str = "") -> list[str]:
    """Store keys of the data files of one of the manifest's tables (``""``: its main table), in order."""
    return [
        join(manifest["prefix"], f["path"])
        for f in manifest.get("files", [])
        if f.get("role", "data") == "data" and file_table(f["path"]) == table
    ]


def tables(manifest: Mapping[str, Any]) -> list[str]:
    """The tables a manifest holds (``""`` is the main table)."""
    names = {file_table(f["path"]) for f in manifest.get("files", []) if f.get("role", "data") == "data"}
    return sorted(n for n in names if n is not None)


__all__ = [
    "DIGESTS",
    "MANIFEST",
    "MANIFEST_HEAD",
    "MANIFEST_SCHEMA",
    "damaged_files",
    "digests",
    "etags",
    "file_role",
    "head",
    "list_manifests",
    "new_manifest",
    "output_files",
    "package_versions",
    "parse_manifest",
    "problems",
    "read_manifest",
    "tables",
    "write_manifest",
]


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file, read in 1 MiB blocks (what a manifest records per file)."""
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()
