"""A run in AWS as people see it: the notify Lambda's summary on the topic (the chat integration's custom
notification), and the monitoring notebook reading the run the Lambda recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from stepml.spec import load_spec
from tests.cloud_harness.rig import BUCKET, REGION


def _download(bucket: str, to: Path) -> None:
    """Every object of the artifact bucket under ``to`` (the same keys as paths)."""
    s3 = boto3.client("s3", region_name=REGION)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            path = to / obj["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(path))


@pytest.mark.slow
def test_a_cloud_run_reaches_the_topic_as_a_custom_notification_and_the_notebook_reads_it(
    make_pipeline: Any, cloud: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_pipeline()
    pipeline = load_spec(spec)
    # Given a fresh execution of the compiled state machine, and the notify Lambda run on its end
    with cloud(pipeline) as rig:
        described = rig.run()
        result = rig.notify(described["executionArn"])
        notices = rig.notices()
        _download(BUCKET, tmp_path / "cloud-root")
    assert described["status"] == "SUCCEEDED"
    # Then the topic's queue subscriber got the `default` message: the custom-notification event
    (notice,) = notices
    assert notice["Subject"] == f"stepml {pipeline.name}: SUCCEEDED"
    event = json.loads(notice["Message"])
    assert event["version"] == "1.0" and event["source"] == "custom"
    content = event["content"]
    assert content["textType"] == "client-markdown" and "SUCCEEDED" in content["title"]
    assert "* 6 ran: extract_train (" in content["description"] and "This run looks :)" in content["description"]
    assert "console.aws.amazon.com/states" in content["nextSteps"][0]
    # and the run record the Lambda wrote is the one the monitoring notebook loads (STEPML_ROOT / STEPML_RUN)
    run_id = result["run_id"]
    record = json.loads((tmp_path / "cloud-root" / pipeline.name / "runs" / f"{run_id}.json").read_text())
    assert record["execution_arn"] == described["executionArn"]

    from tests.functional.test_notebooks import _errors, _execute, _text

    monkeypatch.setenv("STEPML_SPEC", str(spec))
    monkeypatch.setenv("STEPML_ROOT", str(tmp_path / "cloud-root"))
    monkeypatch.setenv("STEPML_RUN", run_id)
    nb = _execute("monitoring.ipynb", spec)
    assert _errors(nb) == []
    text = _text(nb)
    # (a check report names the run by the execution's name; the record's id adds the start stamp in front of
    # names without one, as here)
    assert run_id.endswith(described["name"])
    assert f"run {described['name']}: check " in text and f"latest run {described['name']}: check " in text
    assert "made run" not in text  # nothing was computed: the cloud run was read
    assert "invitations scored by model v1" in text
