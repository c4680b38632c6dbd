"""Reading files AWS services wrote - an Athena UNLOAD's parquet, SageMaker's ``model.tar.gz`` - as the very objects
their step's manifest recorded (standard library; the S3 client is passed in).

The process that writes a file stepml writes itself records its sha256 (``_digests/``); a file an AWS service
writes has no such record, so the commit Lambda records the **S3 ETag** the listing returns for it (every file of
the attempt gets one). Readers then:

* **pin** the read: ``GetObject`` with ``If-Match: <recorded ETag>``. S3 answers ``412 Precondition Failed`` when
  the object's ETag differs (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, ``If-Match``);
  :func:`download_pinned` turns that into :class:`stepml.errors.InputChangedError` naming the step, the upstream,
  the file and the ETag expected. An object overwritten with other bytes of the same size has another ETag
  ("Objects with different object data will have different entity tags", API_CompleteMultipartUpload /
  API_Object), so a same-size corruption is refused, not served as a cache hit.
* or, where something else downloads (SageMaker's S3 channel into the training container), **verify** what
  arrived: its sha256 where the manifest records one, else its S3 ETag recomputed (:func:`etag_matches`). Per
  "Checking object integrity" in the Amazon S3 User Guide, an object created by PutObject or CopyObject,
  unencrypted or SSE-S3, has the MD5 hex of its data as ETag; one created by a multipart upload has the MD5 of
  the concatenated binary MD5s of its parts, ``-`` and the part count - which needs the part size the writer
  used, so only the usual ones are tried (:data:`PART_SIZES`). SSE-KMS/SSE-C ETags are no MD5 at all: such
  objects are checked by sha256 or not by content (the artifact bucket is SSE-S3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stepml.core.etag import CHUNK, PART_SIZES, etag_matches, normalize, s3_etag
from stepml.errors import StepInputError, input_changed

__all__ = ["PART_SIZES", "download_pinned", "etag_matches", "open_pinned", "s3_etag", "verify_channel"]


def _code(exc: BaseException) -> tuple[str, int]:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) if isinstance(response, dict) else 0
    return str(error.get("Code", "")), int(status or 0)


def precondition_failed(exc: BaseException) -> bool:
    """Whether an S3 client error is ``412 Precondition Failed`` (a pinned read of a changed object)."""
    code, status = _code(exc)
    return code in ("PreconditionFailed", "412") or status == 412


def open_pinned(s3: Any, bucket: str, key: str, etag: str | None, *, step: str, upstream: str) -> Any:
    """``GetObject`` of ``key``, with ``If-Match`` the recorded ``etag`` when there is one: the response. A 412 is an
    :class:`InputChangedError`; a missing object a :class:`StepInputError`."""
    uri = f"s3://{bucket}/{key}"
    extra = {"IfMatch": f'"{normalize(etag)}"'} if etag else {}
    try:
        return s3.get_object(Bucket=bucket, Key=key, **extra)
    except Exception as exc:
        if precondition_failed(exc):
            raise input_changed(step, upstream, uri, normalize(etag)) from exc
        code, status = _code(exc)
        if code in ("NoSuchKey", "404") or status == 404:
            raise StepInputError(step, f"input file {uri} of upstream step {upstream!r} is missing") from exc
        raise


def download_pinned(s3: Any, bucket: str, key: str, local: Path, etag: str | None, *, step: str, upstream: str) -> Path:
    """Download ``key`` to ``local`` in one pinned GET (:func:`open_pinned`), streamed in 1 MiB blocks."""
    body = open_pinned(s3, bucket, key, etag, step=step, upstream=upstream)["Body"]
    local.parent.mkdir(parents=True, exist_ok=True)
    with local.open("wb") as out:
        while block := body.read(CHUNK):
            out.write(block)
    return local


def verify_channel(channel: Path, manifest_path: Path, *, step: str) -> int:
    """Check what SageMaker downloaded into a training channel (``S3Prefix`` ``<upstream attempt>/data/``, which no
    GET of ours can pin) against the upstream's committed manifest (downloaded beside it as its own channel): the
    same files, none more, each with the sha256 the manifest records or else the S3 ETag it records. Returns how
    many files were checked; a file changed after the upstream committed is an :class:`InputChangedError`."""
    import json

    from stepml.core.manifest import file_table, problems
    from stepml.errors import InputChangedError

    try:
        manifest = json.loads(manifest_path.read_text())
        found = problems(manifest, manifest.get("pipeline"), manifest.get("step"), manifest.get("key"))
    except (OSError, ValueError, AttributeError) as exc:
        found = [str(exc)]
    if found:
        raise StepInputError(step, f"the training input's manifest {manifest_path} is not valid: {'; '.join(found)}")
    upstream, prefix = str(manifest["step"]), str(manifest["prefix"])
    expected = {
        str(f["path"]).removeprefix("data/"): f
        for f in manifest["files"]
        if f.get("role", "data") == "data" and file_table(str(f["path"])) == ""
    }
    got = {p.relative_to(channel).as_posix(): p for p in sorted(channel.rglob("*")) if p.is_file()}
    extra, missing = sorted(set(got) - set(expected)), sorted(set(expected) - set(got))
    if extra:
        raise InputChangedError(
            step,
            f"the training channel holds {extra[:5]}, which upstream step {upstream!r}'s manifest does not list "
            f"(written under {prefix}/data/ after it committed); rerun {upstream!r}",
        )
    if missing:
        raise StepInputError(step, f"input files {missing[:5]} of upstream step {upstream!r} are missing")
    from stepml.core.manifest import sha256_of

    for rel, path in got.items():
        entry, key = expected[rel], f"{prefix}/data/{rel}"
        if entry.get("sha256"):
            if sha256_of(path) != entry["sha256"]:
                raise input_changed(step, upstream, key, str(entry["sha256"]), how="sha256")
        elif entry.get("etag"):
            same = etag_matches(path, str(entry["etag"]))
            if same is False:
                raise input_changed(step, upstream, key, str(entry["etag"]))
            if same is None:
                raise StepInputError(
                    step,
                    f"input file {key} of upstream step {upstream!r} has a multipart ETag {entry['etag']} whose "
                    f"part size is none of the usual ones: it cannot be verified; rerun {upstream!r}",
                )
    return len(got)


__all__ = [
    "PART_SIZES",
    "download_pinned",
    "etag_matches",
    "normalize",
    "open_pinned",
    "precondition_failed",
    "s3_etag",
    "verify_channel",
]
