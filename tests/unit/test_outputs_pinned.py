"""Reading a committed output back (``stepml.load``, a local run on an ``s3://`` root) checks each file against what
its manifest records - its sha256, or for a file an AWS service wrote only the S3 ETag the cloud commit listed
(``stepml.core.manifest.fingerprints``). AWS: an object written by PutObject/CopyObject (plaintext or SSE-S3) has the
MD5 of its data as ETag, and "Objects with different object data will have different entity tags"
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html ;
https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html) - so a same-size overwrite is
told from the committed object."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stepml import outputs
from stepml.core.etag import s3_etag
from stepml.core.manifest import fingerprints, sha256_of, unrecognised
from stepml.errors import InputChangedError
from stepml.store import open_store
from tests.unit.conftest import BUCKET


def _parquet(values: list[int]) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table({"x": values}), out)
    return out.getvalue()


def test_a_file_is_recognised_by_its_sha256_or_else_its_etag(tmp_path: Path) -> None:
    f = tmp_path / "part-0.parquet"
    f.write_bytes(_parquet([1, 2, 3]))
    good = {"sha256": sha256_of(f), "etag": s3_etag(f)}
    manifest = {"prefix": "p/steps/s/k/a", "files": [{"path": "data/part-0.parquet", "size": 1, **good}]}
    assert fingerprints(manifest) == {"p/steps/s/k/a/data/part-0.parquet": good}
    assert unrecognised(f, good) is None and unrecognised(f, {"etag": good["etag"]}) is None
    f.write_bytes(_parquet([1, 2, 4]))  # same size, other bytes
    assert unrecognised(f, {"sha256": good["sha256"]}) == f"sha256 {good['sha256']}"
    assert unrecognised(f, {"etag": f'"{good["etag"]}"'}) == f'ETag "{good["etag"]}"'
    assert unrecognised(f, {}) is None  # nothing recorded (an older manifest): nothing to check


def test_loading_an_output_aws_wrote_refuses_a_same_size_overwrite(
    s3: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = open_store(f"s3://{BUCKET}", s3_client=s3)
    key = "job-matching/steps/extract_score/k1/20260501T030000-abc/data/part-00000.parquet"
    body = _parquet([1, 2, 3])
    etag = s3.put_object(Bucket=BUCKET, Key=key, Body=body)["ETag"]
    manifest = {
        "step": "extract_score",
        "prefix": "job-matching/steps/extract_score/k1/20260501T030000-abc",
        "files": [{"path": "data/part-00000.parquet", "size": len(body), "etag": etag.strip('"')}],  # no sha256
    }
    monkeypatch.setattr(outputs, "CACHE", tmp_path / "first")
    assert outputs.read_table(store, manifest)["x"].tolist() == [1, 2, 3]
    changed = _parquet([1, 2, 4])
    assert len(changed) == len(body)
    s3.put_object(Bucket=BUCKET, Key=key, Body=changed)
    monkeypatch.setattr(outputs, "CACHE", tmp_path / "second")  # another machine: nothing cached
    with pytest.raises(InputChangedError) as exc:
        outputs.read_table(store, manifest)
    assert (
        "extract_score" in str(exc.value)
        and "part-00000.parquet" in str(exc.value)
        and etag.strip('"') in str(exc.value)
    )
