"""Reading committed outputs back as Python objects (``stepml.load``, ``stepml.build``, step types' read facets).

Files of a remote store are downloaded once into a local cache folder; a local store is read in place.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepml.core.layout import join
from stepml.core.manifest import fingerprints, output_files, tables, unrecognised
from stepml.errors import InputChangedError

if TYPE_CHECKING:
    from stepml.store.objects import Store

CACHE = Path(tempfile.gettempdir()) / "stepml-cache"


def local_files(
    store: Store, keys: list[str], recorded: Mapping[str, Mapping[str, str]] | None = None, *, step: str = ""
) -> list[Path]:
    """The files as local paths (a remote store's downloaded once into :data:`CACHE`), each checked against what
    its manifest records (``recorded``: :func:`stepml.core.manifest.fingerprints` - its sha256, or the S3 ETag of a
    file an AWS service wrote): a cached copy that no longer matches is fetched again; a file that does not match
    is an :class:`InputChangedError` naming ``step`` (whose output it is) - never read."""
    out = []
    for k in keys:
        p = store.local_path(k)
        remote = p is None
        if p is None:
            p = CACHE / k
            if not p.exists():
                store.get_file(k, p)
        record = (recorded or {}).get(k)
        if record is not None and not _matches(p, record):
            if remote:  # the cache may hold an older object of the same key: fetch it again, once
                store.get_file(k, p)
            if not remote or not _matches(p, record):
                raise InputChangedError(
                    step or "?",
                    f"{store.uri(k)} does not match the digest recorded when {step or 'its step'} committed it "
                    f"(expected {unrecognised(p, record)}): changed or corrupted since; rerun it "
                    f"(stepml run --rerun {step or 'STEP'})",
                )
        out.append(p)
    return out


_VERIFIED: set[tuple[str, int, int, str]] = set()  # (path, size, mtime_ns, record) already checked in this process


def _matches(path: Path, record: Mapping[str, str]) -> bool:
    st = path.stat()
    token = (str(path), st.st_size, st.st_mtime_ns, repr(sorted(record.items())))
    if token in _VERIFIED:
        return True
    if unrecognised(path, record) is not None:
        return False
    _VERIFIED.add(token)
    return True


def read_table(store: Store, manifest: Mapping[str, Any], table: str = "") -> Any:
    """One table of an output as a pandas DataFrame."""
    import pandas as pd
    import pyarrow.parquet as pq

    files = local_files(store, output_files(manifest, table), fingerprints(manifest), step=manifest.get("step", ""))
    if not files:
        return pd.DataFrame()
    return pq.ParquetDataset([str(f) for f in files]).read().to_pandas()


def read_tables(store: Store, manifest: Mapping[str, Any]) -> Any:
    """An output's main table as a DataFrame, or - when it has named tables - a dict of them (``""`` the main)."""
    names = tables(manifest)
    if names in ([], [""]):
        return read_table(store, manifest)
    return {name: read_table(store, manifest, name) for name in names}


def read_json(store: Store, manifest: Mapping[str, Any], name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(store.read_bytes(join(manifest["prefix"], name)))
    return data


def read_folder(store: Store, manifest: Mapping[str, Any], folder: str) -> dict[str, Path]:
    """The files of one folder of an output (a model), local, by name. An output made in AWS holds the folder as
    SageMaker's archive (``.../<folder>.tar.gz``): it is unpacked once into the local cache."""
    paths = [f["path"] for f in manifest["files"]]
    keys = [join(manifest["prefix"], p) for p in paths if p.startswith(folder + "/")]
    if not keys:
        archives = [p for p in paths if p.rsplit("/", 1)[-1] == f"{folder}.tar.gz"]
        if archives:
            return _unpacked(store, join(manifest["prefix"], archives[0]), manifest)
    return {p.name: p for p in local_files(store, keys, fingerprints(manifest), step=manifest.get("step", ""))}


def _unpacked(store: Store, key: str, manifest: Mapping[str, Any]) -> dict[str, Path]:
    import tarfile

    (archive,) = local_files(store, [key], fingerprints(manifest), step=manifest.get("step", ""))
    into = CACHE / "unpacked" / key
    if not (into / ".done").exists():
        into.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")  # no absolute paths, links or files outside ``into``
        (into / ".done").touch()
    return {p.name: p for p in into.rglob("*") if p.is_file() and p.name != ".done"}
