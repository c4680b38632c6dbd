"""Publishing an online test's lists to DynamoDB: one item per unit, BatchWriteItem's rules kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from steps.serve.cloud import BATCH, write_items
from steps.serve.entry import published
from steps.serve.entry import write_items as items_file

MAX_ITEM_BYTES = 400 * 1024


def serving(units: int = 60, k: int = 5) -> pd.DataFrame:
    rows = [
        {"user": u, "item": u * 100 + r, "rank": r, "score": 1.0 / r, "variant": "control" if u % 2 else "treatment",
         "served_variant": "control" if u % 2 else "treatment", "in_experiment": True, "fallback": False,
         "team": None, "experiment": "t"}
        for u in range(units) for r in range(1, k + 1)
    ]  # fmt: skip
    return published(pd.DataFrame(rows), "user", "item", "run-1")


class Recorder:
    """BatchWriteItem that leaves part of each first request unprocessed, as a throttled partition does."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.stored: dict[str, dict[str, Any]] = {}

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:  # noqa: N803
        ((table, requests),) = RequestItems.items()
        self.calls.append(len(requests))
        keep, left = (requests, []) if len(self.calls) % 2 == 0 else (requests[:-3], requests[-3:])
        for r in keep:
            item = r["PutRequest"]["Item"]
            self.stored[item["unit"]["S"]] = item
        return {"UnprocessedItems": {table: left} if left else {}}


def test_at_most_25_requests_per_batch_and_unprocessed_items_are_resent(tmp_path: Path) -> None:
    """BatchWriteItem: "A single call to BatchWriteItem can transmit up to 16MB of data over the network,
    consisting of up to 25 item put or delete operations"; items it could not process come back in
    ``UnprocessedItems`` and must be sent again
    (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html)."""
    path = tmp_path / "items.jsonl"
    assert items_file(serving(), "user", "item", path, ttl_days=30, step="serve") == 60
    recorder = Recorder()
    assert write_items(recorder, "t", path.read_bytes().splitlines(), attempts=3) == 60
    assert max(recorder.calls) <= BATCH == 25
    assert len(recorder.stored) == 60  # nothing lost to the partial answers


def test_a_unit_item_stays_under_dynamodbs_item_size_limit(tmp_path: Path) -> None:
    """ "The maximum item size in DynamoDB is 400 KB" (names and values)
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html): a list at the largest
    top_k the spec allows (1,000) must fit."""
    path = tmp_path / "items.jsonl"
    items_file(serving(units=2, k=1000), "user", "item", path, ttl_days=30, step="serve")
    for line in path.read_bytes().splitlines():
        assert len(line) < MAX_ITEM_BYTES / 2  # JSON text over-counts DynamoDB's binary size


def test_the_items_land_in_a_real_table_api() -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="stepml-dev-p-t", KeySchema=[{"AttributeName": "unit", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "unit", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        )  # fmt: skip
        frame = serving(units=60)
        lines = []
        for unit, rows in frame.groupby("user"):
            lines.append(json.dumps({"unit": unit, "variant": rows["variant"].iloc[0], "items": [
                {"item": i, "rank": int(r), "score": float(s)} for i, r, s in zip(rows["item"], rows["rank"], rows["score"], strict=True)
            ]}).encode())  # fmt: skip
        assert write_items(client, "stepml-dev-p-t", lines) == 60
        got = client.get_item(TableName="stepml-dev-p-t", Key={"unit": {"S": "7"}})["Item"]
        assert got["variant"] == {"S": "control"}
        assert [x["M"]["rank"]["N"] for x in got["items"]["L"]] == ["1", "2", "3", "4", "5"]
        assert client.scan(TableName="stepml-dev-p-t", Select="COUNT")["Count"] == 60


@pytest.mark.parametrize("units", [1, 26])
def test_items_file_has_one_line_per_unit(tmp_path: Path, units: int) -> None:
    path = tmp_path / "items.jsonl"
    assert items_file(serving(units=units), "user", "item", path, ttl_days=1, step="serve") == units
    first = json.loads(path.read_text().splitlines()[0])
    assert first["unit"] == "0" and [e["rank"] for e in first["items"]] == [1, 2, 3, 4, 5]
    assert first["expires_at"] > 0 and first["serving_run"] == "run-1"
