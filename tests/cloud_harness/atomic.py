"""moto made to keep two AWS guarantees the lock protocol stands on: conditional writes are atomic.

- DynamoDB: "DynamoDB provides four operations for basic create, read, update, and delete (CRUD)
  functionality. All these operations are atomic." and "Individual write operations such as UpdateItem are atomic
  and always operate on the most recent version of the item, regardless of concurrency."
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithItems.html
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/BestPractices_ImplementingVersionControl.html
- S3: "Conditional writes with the HTTP If-None-Match header check for the existence of an object during the
  WRITE operation. If an identical key name is found in the bucket, the operation fails" (412 Precondition Failed).
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html

moto evaluates the condition and then writes, in two steps with nothing between them: two threads (the Step
Functions interpreter runs each execution in its own, ``ThreadedMotoServer`` each request) can both pass the
condition and both "take" one lock. :func:`install` serializes moto's item writes and conditional S3 puts with one
lock, so the tests exercise the protocol AWS runs, not that race. Installed once per test session (tests/conftest.py),
from the main thread.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.RLock()

DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")


def _serialized(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return fn(*args, **kwargs)

    call.__stepml_atomic__ = True  # type: ignore[attr-defined]
    return call


def install() -> None:
    """Patch moto's DynamoDB backend writes and S3 ``PutObject`` handler (idempotent)."""
    if installed():
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.s3.responses import S3Response

    for name in DYNAMODB_WRITES:
        setattr(DynamoDBBackend, name, _serialized(getattr(DynamoDBBackend, name)))
    S3Response.put_object = _serialized(S3Response.put_object)  # type: ignore[method-assign]


def installed() -> bool:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.s3.responses import S3Response

    return all(
        getattr(f, "__stepml_atomic__", False)
        for f in (*(getattr(DynamoDBBackend, n) for n in DYNAMODB_WRITES), S3Response.put_object)
    )
