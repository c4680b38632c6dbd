"""The artifact store: one interface over a local directory and an ``s3://bucket/prefix``.

Switching between them is one setting (``artifact_root`` in the spec, or ``--root``), as in gokart. Objects are
addressed by store-relative keys with ``/`` separators ("job-matching/steps/train/<key>/_manifest.json").

Guarantees both stores give:
- ``write_bytes`` and ``put_file`` are atomic: a reader sees the old object, the new one, or none; never a part.
- ``create_exclusive`` writes only if the key does not exist (O_EXCL locally, If-None-Match on S3) and tells
  whether it did; ``replace_if``/``delete_if`` are compare-and-swap on a version token (S3 ETag, local content
  digest). Locks are built on these.

The S3 client is injected (``s3_client``); this module never builds one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stepml.core.layout import join
from stepml.errors import StoreError
from stepml.store.guard import Guarded

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class Stat:
    size: int
    token: str  # version token for compare-and-swap


class Store(Protocol):
    root: str

    def uri(self, key: str) -> str: ...
    def key_of(self, uri: str) -> str | None: ...
    def local_path(self, key: str) -> Path | None: ...
    def exists(self, key: str) -> bool: ...
    def stat(self, key: str) -> Stat | None: ...
    def size(self, key: str) -> int | None: ...
    def read_bytes(self, key: str) -> bytes: ...
    def read_versioned(self, key: str) -> tuple[bytes, str] | None: ...
    def write_bytes(self, key: str, data: bytes) -> None: ...
    def create_exclusive(self, key: str, data: bytes) -> bool: ...
    def replace_if(self, key: str, data: bytes, token: str) -> bool: ...
    def delete_if(self, key: str, token: str) -> bool: ...
    def delete_prefix(self, prefix: str) -> None: ...
    def list(self, prefix: str) -> list[str]: ...
    def put_file(self, local: Path, key: str) -> None: ...
    def get_file(self, key: str, local: Path) -> None: ...


class LocalStore:
    """A directory on local disk."""

    def __init__(self, root: str | Path) -> None:
        self.base = Path(root).expanduser().resolve()
        self.root = str(self.base)

    def _p(self, key: str) -> Path:
        parts = key.split("/")
        if key.startswith("/") or ".." in parts or "\\" in key:  # whatever a manifest says: never outside the root
            raise StoreError(f"refusing the key {key!r}: it leaves the artifact root {self.root}")
        return self.base / key

    def uri(self, key: str) -> str:
        return str(self._p(key))

    def key_of(self, uri: str) -> str | None:
        """The key of a :meth:`uri` of this store, or None when ``uri`` is not inside it."""
        try:
            rel = Path(uri).resolve().relative_to(self.base)
        except ValueError:
            return None
        return rel.as_posix() if rel.parts else None

    def local_path(self, key: str) -> Path | None:
        return self._p(key)

    def exists(self, key: str) -> bool:
        return self._p(key).exists()

    def stat(self, key: str) -> Stat | None:
        try:
            data = self._p(key).read_bytes()
        except FileNotFoundError:
            return None
        return Stat(len(data), hashlib.sha256(data).hexdigest())

    def size(self, key: str) -> int | None:
        try:
            return self._p(key).stat().st_size
        except FileNotFoundError:
            return None

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._p(key).read_bytes()
        except FileNotFoundError as exc:
            raise StoreError(f"no object at {self.uri(key)}") from exc
        except OSError as exc:
            raise StoreError(f"cannot read {self.uri(key)}: {exc.strerror}") from exc

    def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        try:
            data = self._p(key).read_bytes()
        except FileNotFoundError:
            return None
        return data, hashlib.sha256(data).hexdigest()

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._p(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def create_exclusive(self, key: str, data: bytes) -> bool:
        path = self._p(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # write the content aside, then hard-link it into place: link() fails if the name exists, and readers
        # never see an empty or partial file
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def replace_if(self, key: str, data: bytes, token: str) -> bool:
        current = self.read_versioned(key)
        if current is None or current[1] != token:
            return False
        self.write_bytes(key, data)
        return True

    def delete_if(self, key: str, token: str) -> bool:
        path = self._p(key)
        current = self.read_versioned(key)
        if current is None or current[1] != token:
            return False
        # rename first so that only one deleter wins, then check we took the object we judged
        grave = path.with_name(f".{path.name}.{uuid.uuid4().hex}.del")
        try:
            os.rename(path, grave)
        except FileNotFoundError:
            return False
        if hashlib.sha256(grave.read_bytes()).hexdigest() != token:
            # somebody replaced it between our read and the rename: put theirs back unless a newer one exists
            with contextlib.suppress(FileExistsError):
                os.link(grave, path)
            grave.unlink(missing_ok=True)
            return False
        grave.unlink(missing_ok=True)
        return True

    def delete_prefix(self, prefix: str) -> None:
        path = self._p(prefix)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink(missing_ok=True)

    def list(self, prefix: str) -> list[str]:
        base = self._p(prefix)
        if not base.exists():
            return []
        if base.is_file():
            return [prefix]
        return sorted(
            str(p.relative_to(self.base)) for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")
        )

    def put_file(self, local: Path, key: str) -> None:
        path = self._p(key)
        if local.resolve() == path.resolve():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            shutil.copyfile(local, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def get_file(self, key: str, local: Path) -> None:
        src = self._p(key)
        if not src.exists():
            raise StoreError(f"no object at {self.uri(key)}")
        local.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, local)


class S3Store:
    """``s3://bucket/prefix`` through an injected boto3 S3 client."""

    def __init__(self, root: str, s3_client: S3Client) -> None:
        if not root.startswith("s3://"):
            raise StoreError(f"not an s3:// URI: {root!r}")
        bucket, _, prefix = root[5:].partition("/")
        if not bucket:
            raise StoreError(f"no bucket in {root!r}")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.root = root.rstrip("/")
        self.s3: Any = Guarded(s3_client, self.root)

    def _k(self, key: str) -> str:
        return join(self.prefix, key)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._k(key)}"

    def key_of(self, uri: str) -> str | None:
        """The key of a :meth:`uri` of this store, or None when ``uri`` is not inside it."""
        base = f"s3://{self.bucket}/" + (f"{self.prefix}/" if self.prefix else "")
        rest = uri[len(base) :].strip("/") if uri.startswith(base) else ""
        return rest or None

    def local_path(self, key: str) -> Path | None:
        return None

    def _error(self, exc: Any) -> str:
        return str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")) or type(exc).__name__

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def size(self, key: str) -> int | None:
        st = self.stat(key)
        return None if st is None else st.size

    def stat(self, key: str) -> Stat | None:
        from botocore.exceptions import ClientError

        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=self._k(key))
        except ClientError as exc:
            if self._error(exc) in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise StoreError(f"cannot stat {self.uri(key)}: {exc}") from exc
        return Stat(int(head["ContentLength"]), str(head["ETag"]))

    def read_bytes(self, key: str) -> bytes:
        got = self.read_versioned(key)
        if got is None:
            raise StoreError(f"no object at {self.uri(key)}")
        return got[0]

    def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        from botocore.exceptions import ClientError

        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=self._k(key))
        except ClientError as exc:
            if self._error(exc) in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise StoreError(f"cannot read {self.uri(key)}: {exc}") from exc
        return obj["Body"].read(), str(obj["ETag"])

    def write_bytes(self, key: str, data: bytes) -> None:
        from botocore.exceptions import ClientError

        try:
            self.s3.put_object(Bucket=self.bucket, Key=self._k(key), Body=data)
        except ClientError as exc:
            raise StoreError(f"cannot write {self.uri(key)}: {exc}") from exc

    def create_exclusive(self, key: str, data: bytes) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.s3.put_object(Bucket=self.bucket, Key=self._k(key), Body=data, IfNoneMatch="*")
        except ClientError as exc:
            if self._error(exc) in {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}:
                return False
            raise StoreError(f"cannot create {self.uri(key)}: {exc}") from exc
        return True

    def replace_if(self, key: str, data: bytes, token: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.s3.put_object(Bucket=self.bucket, Key=self._k(key), Body=data, IfMatch=token)
        except ClientError as exc:
            if self._error(exc) in {
                "PreconditionFailed",
                "ConditionalRequestConflict",
                "NoSuchKey",
                "412",
                "409",
                "404",
            }:
                return False
            raise StoreError(f"cannot replace {self.uri(key)}: {exc}") from exc
        return True

    def delete_if(self, key: str, token: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.s3.delete_object(Bucket=self.bucket, Key=self._k(key), IfMatch=token)
        except ClientError as exc:
            if self._error(exc) in {"PreconditionFailed", "NoSuchKey", "412", "404"}:
                return False
            raise StoreError(f"cannot delete {self.uri(key)}: {exc}") from exc
        return True

    def delete_prefix(self, prefix: str) -> None:
        keys = [self._k(k) for k in self.list(prefix)]
        from botocore.exceptions import ClientError

        for i in range(0, len(keys), 1000):
            try:
                self.s3.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True},
                )
            except ClientError as exc:
                raise StoreError(f"cannot delete under {self.uri(prefix)}: {exc}") from exc

    def list(self, prefix: str) -> list[str]:
        full = self._k(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        out: list[str] = []
        from botocore.exceptions import ClientError

        paginator = self.s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full + "/" if full else ""):
                out.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        except ClientError as exc:
            raise StoreError(f"cannot list {self.uri(prefix)}: {exc}") from exc
        if not out and self.exists(prefix):
            return [prefix]
        return sorted(out)

    def put_file(self, local: Path, key: str) -> None:
        self.s3.upload_file(str(local), self.bucket, self._k(key))

    def get_file(self, key: str, local: Path) -> None:
        from botocore.exceptions import ClientError

        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkstemp(dir=local.parent, prefix=f".{local.name}.")[1])
        try:
            self.s3.download_file(self.bucket, self._k(key), str(tmp))
            os.replace(tmp, local)
        except ClientError as exc:
            raise StoreError(f"cannot download {self.uri(key)}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)


def open_store(root: str, *, s3_client: S3Client | None = None) -> Store:
    """A store for ``root``: an ``s3://`` URI needs ``s3_client``; anything else is a local directory."""
    if root.startswith("s3://"):
        if s3_client is None:
            raise StoreError(f"artifact root {root} is on S3 but no S3 client was given")
        return S3Store(root, s3_client)
    return LocalStore(root)
