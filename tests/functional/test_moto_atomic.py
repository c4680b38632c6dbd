"""The test harness keeps AWS's atomic conditional writes in moto (tests/cloud_harness/atomic.py).

AWS rules encoded (docs/aws-rules.md, section 29):
- "DynamoDB provides four operations for basic create, read, update, and delete (CRUD) functionality. All these
  operations are atomic." - https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithItems.html
- "Conditional writes with the HTTP If-None-Match header check for the existence of an object during the WRITE
  operation. If an identical key name is found in the bucket, the operation fails."
  - https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html

Each test widens moto's window between reading the item (object) and writing it; without the harness's
serialization every racer passes the condition and "takes" the lock (they failed so before it: the step lock of
two woken waiters was taken twice in the rig, and both computed the step).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.cloud_harness import atomic

RACERS = 6


def _race(attempt: Callable[[int], None]) -> list[int]:
    """Run ``attempt(i)`` in RACERS threads started together; the indices whose attempt did not raise."""
    won: list[int] = []
    barrier = threading.Barrier(RACERS)

    def one(i: int) -> None:
        barrier.wait()
        try:
            attempt(i)
        except ClientError:
            return
        won.append(i)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return won


def _slow(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
    original = getattr(owner, name)

    def slow(*args: Any, **kwargs: Any) -> Any:
        found = original(*args, **kwargs)
        time.sleep(0.05)  # the window between the condition's read and the write
        return found

    monkeypatch.setattr(owner, name, slow)


def test_the_harness_is_installed_for_every_test() -> None:
    assert atomic.installed()


def test_one_of_many_concurrent_conditional_updates_of_a_dynamodb_item_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models.table import Table

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="locks",
            KeySchema=[{"AttributeName": "lock_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "lock_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        _slow(monkeypatch, Table, "get_item")

        def take(i: int) -> None:
            ddb.update_item(
                TableName="locks",
                Key={"lock_id": {"S": "score"}},
                UpdateExpression="SET #owner = :me",
                ConditionExpression="attribute_not_exists(lock_id)",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": {"S": f"run-{i}"}},
            )

        won = _race(take)
        assert len(won) == 1, won
        item = ddb.get_item(TableName="locks", Key={"lock_id": {"S": "score"}})["Item"]
        assert item["owner"]["S"] == f"run-{won[0]}"  # the winner's write, never overwritten by a loser


def test_one_of_many_concurrent_if_none_match_puts_of_an_s3_object_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.s3.models import S3Backend

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="artifacts")
        _slow(monkeypatch, S3Backend, "get_object")

        def create(i: int) -> None:
            s3.put_object(Bucket="artifacts", Key="record.json", Body=f"run-{i}".encode(), IfNoneMatch="*")

        won = _race(create)
        assert len(won) == 1, won
        assert s3.get_object(Bucket="artifacts", Key="record.json")["Body"].read() == f"run-{won[0]}".encode()
