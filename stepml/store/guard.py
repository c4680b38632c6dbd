"""S3 calls whose transport errors become a short, redacted StoreError."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stepml.core.redact import redact
from stepml.errors import StoreError


class Guarded:
    """The S3 client, its transport errors (endpoint unreachable, no credentials, timeouts, failed transfers)
    turned into a short StoreError: never a botocore traceback whose frames hold the credentials. ClientError
    (an answer from S3) passes through for the store's methods to read its code."""

    def __init__(self, client: Any, root: str) -> None:
        self._client = client
        self._root = root

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with s3_errors(self._root, name):
                result = attr(*args, **kwargs)
            return _GuardedPages(result, self._root, name) if name == "get_paginator" else result

        return call


class _GuardedPages:
    def __init__(self, paginator: Any, root: str, op: str) -> None:
        self._paginator, self._root, self._op = paginator, root, op

    def paginate(self, **kwargs: Any) -> Iterator[Any]:
        with s3_errors(self._root, "list_objects_v2"):
            yield from self._paginator.paginate(**kwargs)


@contextmanager
def s3_errors(root: str, op: str) -> Iterator[None]:
    """Transport errors of one S3 call as a StoreError naming the store and the call (secrets redacted)."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError

    try:
        yield
    except (BotoCoreError, Boto3Error) as exc:
        message = redact(f"S3 {op} on {root} failed: {exc}")
        raise StoreError(message) from None  # no chained botocore frames (they hold the signed request)
