"""Files AWS services write (an UNLOAD's parquet, SageMaker's ``model.tar.gz``) are read as the objects their
manifest recorded: GETs pinned to the recorded ETag, or what SageMaker downloaded checked against it
(``stepml.cloud.pinned``)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from stepml.cloud.pinned import PART_SIZES, download_pinned, etag_matches, s3_etag, verify_channel
from stepml.core.manifest import problems
from stepml.errors import InputChangedError, StepInputError, from_failure, to_failure
from tests.unit.conftest import BUCKET

MiB = 1 << 20


def test_a_pinned_get_of_an_object_overwritten_with_the_same_size_is_a_named_error(s3: Any, tmp_path: Path) -> None:
    """GetObject ``If-Match``: "Return the object only if its entity tag (ETag) is the same as the one specified in
    this header; otherwise, return a 412 Precondition Failed error."
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html - and "Objects with different object data
    will have different entity tags" (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html, ETag), so a
    same-size overwrite changes the ETag the manifest recorded."""
    key = "p/steps/extract/k1/a/data/part-00000.parquet"
    recorded = s3.put_object(Bucket=BUCKET, Key=key, Body=b"PAR1 rows PAR1")["ETag"].strip('"')
    # Given the object as committed: the pinned read gets its bytes
    got = download_pinned(s3, BUCKET, key, tmp_path / "a", recorded, step="score", upstream="extract")
    assert got.read_bytes() == b"PAR1 rows PAR1"
    # When it is overwritten by other bytes of the same size
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"PAR1 ROWS PAR1")
    # Then the pinned read is refused (S3's 412) with the step, the upstream, the file and the ETag expected
    with pytest.raises(InputChangedError) as caught:
        download_pinned(s3, BUCKET, key, tmp_path / "b", recorded, step="score", upstream="extract")
    message = str(caught.value)
    assert caught.value.step == "score" and "'extract'" in message and f"s3://{BUCKET}/{key}" in message
    assert recorded in message and not (tmp_path / "b").exists()
    assert isinstance(caught.value, StepInputError)
    # and it crosses a process boundary (a task's failure file) as itself
    assert type(from_failure(to_failure(caught.value), step="score")) is InputChangedError
    # and a missing object is a named error too, not a crash
    with pytest.raises(StepInputError, match="is missing"):
        download_pinned(s3, BUCKET, key + ".gone", tmp_path / "c", recorded, step="score", upstream="extract")


def test_the_etag_s3_gives_is_recomputed_from_the_bytes_single_and_multipart(s3: Any, tmp_path: Path) -> None:
    """ "Checking object integrity" (Amazon S3 User Guide,
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html) and API_Object's ETag: an
    object created by PutObject or CopyObject, plaintext or SSE-S3, has the MD5 digest of its data as ETag; one
    created by a multipart upload has no MD5 of the data but the MD5 of the parts' binary MD5s concatenated, ``-``
    and the number of parts - so the part size the writer used is needed (boto3's and the CLI's default: 8 MiB)."""
    small = tmp_path / "small"
    small.write_bytes(b"x" * 1000)
    assert s3_etag(small) == hashlib.md5(b"x" * 1000).hexdigest()
    put = s3.put_object(Bucket=BUCKET, Key="small", Body=small.read_bytes())["ETag"]
    assert etag_matches(small, put) is True
    # a multipart upload, as s3transfer does it above its 8 MiB threshold (parts of 8 MiB)
    big = tmp_path / "big"
    big.write_bytes(bytes(range(256)) * (9 * MiB // 256) + b"tail")
    s3.upload_file(str(big), BUCKET, "big")
    etag = s3.head_object(Bucket=BUCKET, Key="big")["ETag"].strip('"')
    assert etag.endswith("-2") and etag == s3_etag(big, 8 * MiB)
    assert etag_matches(big, etag) is True
    # the same size with one byte changed does not match, single-part or multipart
    flipped = bytearray(big.read_bytes())
    flipped[100] ^= 0xFF
    other = tmp_path / "other"
    other.write_bytes(bytes(flipped))
    assert etag_matches(other, etag) is False
    assert etag_matches(other, s3_etag(big)) is False
    # a part count no usual part size gives for this size cannot be told either way
    assert etag_matches(big, f"{'0' * 32}-7") is None and 9 * MiB // min(PART_SIZES) < 7


def _manifest(files: dict[str, bytes], *, etag: bool = True, sha: bool = False) -> dict[str, Any]:
    listed = []
    for rel, body in files.items():
        entry: dict[str, Any] = {"path": rel, "size": len(body), "role": "data"}
        if etag:
            entry["etag"] = hashlib.md5(body).hexdigest()
        if sha:
            entry["sha256"] = hashlib.sha256(body).hexdigest()
        listed.append(entry)
    return {
        "schema": "stepml.manifest/2",
        "pipeline": "p",
        "step": "extract",
        "type": "extract",
        "key": "k1",
        "prefix": "p/steps/extract/k1/a",
        "files": listed,
        "summary": {},
        "run_id": "r",
    }


def _channel(tmp_path: Path, files: dict[str, bytes], manifest: dict[str, Any]) -> tuple[Path, Path]:
    channel = tmp_path / "train"
    channel.mkdir()
    for rel, body in files.items():
        (channel / rel.removeprefix("data/")).write_bytes(body)
    path = tmp_path / "manifest" / "_manifest.json"
    path.parent.mkdir()
    path.write_text(json.dumps(manifest))
    return channel, path


@pytest.mark.parametrize("sha", [False, True], ids=["etag (UNLOAD)", "sha256 (task)"])
def test_a_training_channel_is_checked_against_the_manifest_it_was_committed_with(tmp_path: Path, sha: bool) -> None:
    files = {"data/part-00000.parquet": b"PAR1 one PAR1", "data/part-00001.parquet": b"PAR1 two PAR1"}
    manifest = _manifest(files, etag=not sha, sha=sha)
    # Given the channel SageMaker downloaded holds the committed files: they pass
    channel, path = _channel(tmp_path, files, manifest)
    assert verify_channel(channel, path, step="train") == 2
    # When one was overwritten with bytes of the same size before the job downloaded it
    (channel / "part-00001.parquet").write_bytes(b"PAR1 TWO PAR1")
    # Then the training job refuses it, naming the step, the upstream and the file
    with pytest.raises(InputChangedError, match=re.escape("p/steps/extract/k1/a/data/part-00001.parquet")) as caught:
        verify_channel(channel, path, step="train")
    assert caught.value.step == "train" and "'extract'" in caught.value.message
    # and a file written under the prefix after the commit (SageMaker downloads the whole prefix) is refused too
    (channel / "part-00001.parquet").write_bytes(b"PAR1 two PAR1")
    (channel / "part-00002.parquet").write_bytes(b"PAR1 new PAR1")
    with pytest.raises(InputChangedError, match="does not list"):
        verify_channel(channel, path, step="train")


def test_a_manifest_records_etags_and_refuses_malformed_ones() -> None:
    manifest = _manifest({"data/part-00000.parquet": b"x"})
    assert problems(manifest, "p", "extract", "k1") == []
    manifest["files"][0]["etag"] = "0cc175b9c0f1b6a831c399e269772661-3"  # multipart
    assert problems(manifest, "p", "extract", "k1") == []
    manifest["files"][0]["version_id"] = "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo"
    assert problems(manifest, "p", "extract", "k1") == []
    manifest["files"][0]["version_id"] = 7
    assert problems(manifest, "p", "extract", "k1") == ["file 'data/part-00000.parquet' has a malformed version_id 7"]
    del manifest["files"][0]["version_id"]
    manifest["files"][0]["etag"] = '"quoted"; rm -rf /'
    assert problems(manifest, "p", "extract", "k1") == [
        "file 'data/part-00000.parquet' has a malformed etag '\"quoted\"; rm -rf /'"
    ]
