"""An S3 object's ETag, recomputed from a local file's bytes (standard library).

Per "Checking object integrity" in the Amazon S3 User Guide, an object created by PutObject or CopyObject,
unencrypted or SSE-S3, has the MD5 hex of its data as ETag; one created by a multipart upload has the MD5 of the
concatenated binary MD5s of its parts, ``-`` and the part count - which needs the part size the writer used, so
only the usual ones are tried (:data:`PART_SIZES`). SSE-KMS/SSE-C ETags are no MD5 at all. Manifests record the
ETag of the files AWS services write (an UNLOAD's parquet, SageMaker's ``model.tar.gz``), which have no sha256:
a reader that cannot pin its GET to the ETag (``stepml.cloud.pinned``) checks what it got with
:func:`etag_matches`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

CHUNK = 1 << 20
MiB = 1 << 20
# the multipart part sizes writers use: the AWS CLI / boto3 (s3transfer) default 8 MiB, S3's minimum 5 MiB, and
# other common choices; a multipart ETag whose part count none of them gives cannot be recomputed
PART_SIZES = (8 * MiB, 5 * MiB, 16 * MiB, 15 * MiB, 32 * MiB, 64 * MiB, 100 * MiB, 128 * MiB, 256 * MiB, 512 * MiB)


def normalize(etag: Any) -> str:
    """An ETag as the manifest records it: without the double quotes S3 puts around it."""
    return str(etag).strip().strip('"')


def s3_etag(path: Path, part_size: int | None = None) -> str:
    """The ETag S3 gives ``path``'s bytes (unencrypted or SSE-S3): the MD5 hex of the data for a single-part upload
    (``part_size`` None), or for a multipart upload in parts of ``part_size`` bytes the MD5 hex of the concatenated
    binary MD5s of the parts, ``-`` and the number of parts ("Checking object integrity", Amazon S3 User Guide)."""
    whole, parts = hashlib.md5(usedforsecurity=False), []
    with path.open("rb") as f:
        if part_size is None:
            while block := f.read(CHUNK):
                whole.update(block)
            return whole.hexdigest()
        while True:
            part, left = hashlib.md5(usedforsecurity=False), part_size
            while left and (block := f.read(min(CHUNK, left))):
                part.update(block)
                left -= len(block)
            if left == part_size:
                break
            parts.append(part.digest())
            if left:
                break
    return f"{hashlib.md5(b''.join(parts), usedforsecurity=False).hexdigest()}-{len(parts)}"


def etag_matches(path: Path, etag: str) -> bool | None:
    """Whether ``path`` holds the bytes of the object whose ETag is ``etag``: True or False, or None when that cannot
    be told - a multipart ETag whose part count none of :data:`PART_SIZES` gives for this file's size."""
    etag = normalize(etag)
    if "-" not in etag:
        return s3_etag(path) == etag
    count = etag.rsplit("-", 1)[1]
    if not count.isdigit():
        return None
    size = path.stat().st_size
    sizes = [p for p in PART_SIZES if max(1, -(-size // p)) == int(count)]
    if not sizes:
        return None
    return any(s3_etag(path, p) == etag for p in sizes)
