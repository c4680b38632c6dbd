"""Artifact store contract: the same behaviour from a local directory and from S3 (moto, in-process)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stepml.errors import StoreError
from stepml.store import LocalStore, S3Store, Store, join, open_store

BUCKET = "bucket"


@pytest.fixture(scope="module")
def s3_client() -> Iterator[Any]:
    """One in-process moto S3 for the module (starting moto per test is slow); tests use their own prefix."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return LocalStore(tmp_path / "root")
    client = request.getfixturevalue("s3_client")
    return S3Store(f"s3://{BUCKET}/{uuid.uuid4().hex}/prefix", client)


# ---------------------------------------------------------------- read and write
def test_write_then_read(store: Store) -> None:
    store.write_bytes("p/steps/a.bin", b"hello")
    assert store.read_bytes("p/steps/a.bin") == b"hello"
    assert store.exists("p/steps/a.bin")
    assert not store.exists("p/steps/b.bin")


def test_write_overwrites(store: Store) -> None:
    store.write_bytes("k", b"one")
    store.write_bytes("k", b"two!")
    assert store.read_bytes("k") == b"two!"


def test_read_versioned(store: Store) -> None:
    assert store.read_versioned("k") is None
    store.write_bytes("k", b"one")
    got = store.read_versioned("k")
    assert got is not None
    data, token = got
    assert data == b"one"
    assert token
    # the token names the version: same as stat's, and different after a change
    stat = store.stat("k")
    assert stat is not None and stat.token == token
    store.write_bytes("k", b"two")
    got2 = store.read_versioned("k")
    assert got2 is not None and got2[1] != token


def test_stat(store: Store) -> None:
    assert store.stat("missing") is None
    store.write_bytes("k", b"12345")
    stat = store.stat("k")
    assert stat is not None
    assert stat.size == 5


def test_missing_key_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="no object at"):
        store.read_bytes("nope/missing.json")


# ---------------------------------------------------------------- compare-and-swap
def test_create_exclusive(store: Store) -> None:
    assert store.create_exclusive("locks/a.json", b"first") is True
    assert store.create_exclusive("locks/a.json", b"second") is False
    assert store.read_bytes("locks/a.json") == b"first"


def test_replace_if(store: Store) -> None:
    store.write_bytes("k", b"v1")
    stat = store.stat("k")
    assert stat is not None
    # a wrong token leaves the object alone
    assert store.replace_if("k", b"bad", '"not-the-token"') is False
    assert store.read_bytes("k") == b"v1"
    # the right token replaces it, and is then stale
    assert store.replace_if("k", b"v2", stat.token) is True
    assert store.read_bytes("k") == b"v2"
    assert store.replace_if("k", b"v3", stat.token) is False
    assert store.read_bytes("k") == b"v2"


def test_replace_if_missing_key(store: Store) -> None:
    store.write_bytes("other", b"x")
    stat = store.stat("other")
    assert stat is not None
    assert store.replace_if("missing", b"v", stat.token) is False
    assert not store.exists("missing")


def test_delete_if(store: Store) -> None:
    store.write_bytes("k", b"v1")
    old = store.stat("k")
    assert old is not None
    store.write_bytes("k", b"v2")
    # a stale token does not delete
    assert store.delete_if("k", old.token) is False
    assert store.read_bytes("k") == b"v2"
    # the current token does
    current = store.stat("k")
    assert current is not None
    assert store.delete_if("k", current.token) is True
    assert not store.exists("k")
    # and there is nothing left to delete
    assert store.delete_if("k", current.token) is False


# ---------------------------------------------------------------- listing and prefixes
def test_list_under_a_prefix(store: Store) -> None:
    store.write_bytes("p/steps/a/1.bin", b"1")
    store.write_bytes("p/steps/a/sub/2.bin", b"2")
    store.write_bytes("p/steps/ab/3.bin", b"3")  # shares the string prefix, not the folder
    store.write_bytes("q/4.bin", b"4")
    assert store.list("p/steps/a") == ["p/steps/a/1.bin", "p/steps/a/sub/2.bin"]
    assert store.list("p") == ["p/steps/a/1.bin", "p/steps/a/sub/2.bin", "p/steps/ab/3.bin"]
    assert store.list("nothing") == []
    # a key that is an object lists as itself
    assert store.list("q/4.bin") == ["q/4.bin"]


def test_delete_prefix(store: Store) -> None:
    store.write_bytes("p/a/1", b"1")
    store.write_bytes("p/a/2/3", b"3")
    store.write_bytes("p/ab/4", b"4")
    store.delete_prefix("p/a")
    assert store.list("p") == ["p/ab/4"]
    store.delete_prefix("p/missing")  # nothing to delete is fine
    assert store.list("p") == ["p/ab/4"]


# ---------------------------------------------------------------- files
def test_put_file_and_get_file(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "in" / "model.joblib"
    src.parent.mkdir()
    src.write_bytes(b"\x00model\xff" * 100)
    store.put_file(src, "p/models/model.joblib")
    assert store.read_bytes("p/models/model.joblib") == src.read_bytes()
    dest = tmp_path / "out" / "deep" / "model.joblib"
    store.get_file("p/models/model.joblib", dest)
    assert dest.read_bytes() == src.read_bytes()


def test_get_missing_file_is_a_store_error(store: Store, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "x.bin"
    with pytest.raises(StoreError):
        store.get_file("missing.bin", dest)
    assert not dest.exists()


# ---------------------------------------------------------------- store-specific
def test_local_path(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.write_bytes("a/b.txt", b"x")
    path = store.local_path("a/b.txt")
    assert path == tmp_path.resolve() / "a" / "b.txt"
    assert path.read_bytes() == b"x"


def test_local_list_skips_temporary_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.write_bytes("d/real.bin", b"x")
    (tmp_path / "d" / ".real.bin.123.tmp").write_bytes(b"partial")
    assert store.list("d") == ["d/real.bin"]


def test_s3_local_path_is_none_and_uri(s3_client: Any) -> None:
    store = S3Store(f"s3://{BUCKET}/uri-test/", s3_client)
    assert store.local_path("a/b") is None
    assert store.uri("a/b") == f"s3://{BUCKET}/uri-test/a/b"
    store.write_bytes("a/b", b"x")
    # keys live under the prefix in the bucket
    assert s3_client.get_object(Bucket=BUCKET, Key="uri-test/a/b")["Body"].read() == b"x"


@pytest.mark.parametrize("root", ["s3://", "s3:///prefix", "bucket/prefix"])
def test_s3_bad_root(root: str) -> None:
    with pytest.raises(StoreError):
        S3Store(root, None)  # type: ignore[arg-type]


def test_open_store(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    with pytest.raises(StoreError, match="no S3 client"):
        open_store("s3://bucket/x")


def test_join() -> None:
    assert join("p", "/steps/", "", "a/") == "p/steps/a"
