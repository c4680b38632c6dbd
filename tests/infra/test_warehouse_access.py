"""What the state machine may read and run in the warehouse: its tables' buckets (Athena), the Data API (Redshift)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.infra.conftest import IMAGE_URI, actions, resources, role_statements


def _synth(tmp: Path, mutate: Any, context: dict[str, str] | None = None) -> dict[str, Any]:
    """The pipeline stack's template for a mutated copy of pipeline.yaml (and extra CDK context)."""
    import aws_cdk as cdk

    from infra.app import build, config_from_context

    raw = yaml.safe_load((ROOT / "pipeline.yaml").read_text())
    raw["project_root"] = str(ROOT)
    for name in ("extract_train", "extract_score"):
        raw["steps"][name]["sql"] = str(ROOT / raw["steps"][name]["sql"])
    mutate(raw)
    tmp.mkdir(parents=True, exist_ok=True)
    spec = tmp / "pipeline.yaml"
    spec.write_text(yaml.safe_dump(raw, sort_keys=False))
    app = cdk.App(outdir=str(tmp / "out"), context={"image_uri": IMAGE_URI, "spec": str(spec), **(context or {})})
    stacks = build(app, config_from_context(app), nag=False)
    app.synth()
    return dict(json.loads((tmp / "out" / f"{stacks.pipeline.stack_name}.template.json").read_text()))


def _machine_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    machine = next(iter(resources(template, "AWS::StepFunctions::StateMachine").values()))
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    return role_statements(template, role)


@pytest.mark.slow
def test_the_warehouse_buckets_come_from_the_spec_and_the_context(tmp_path: Path) -> None:
    """AWS rule: Athena reads a table's data with its caller's permissions - the Step Functions role running
    ``startQueryExecution.sync`` needs ``s3:GetObject`` / ``s3:ListBucket`` / ``s3:GetBucketLocation`` on the
    buckets the tables are in (the template gives them on ``arn:aws:s3:::*``; stepml names the buckets), so they
    must be settable where a deployment is configured: the spec's ``deploy`` section and ``cdk -c``.
    https://docs.aws.amazon.com/step-functions/latest/dg/athena-iam.html
    """

    def buckets(raw: dict[str, Any]) -> None:
        raw["deploy"] = {"warehouse_buckets": ["raw-events"]}

    template = _synth(tmp_path, buckets, {"warehouse_buckets": "arn:aws:s3:::curated-tables, more-tables"})
    reads = [s for s in _machine_statements(template) if "s3:GetObject" in actions(s) and "s3:ListBucket" in actions(s)]
    text = json.dumps(reads)
    for bucket in ("raw-events", "curated-tables", "more-tables"):
        assert f':s3:::{bucket}"' in text and f':s3:::{bucket}/*"' in text, bucket


SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:warehouse-AbCdEf"
UNLOAD_ROLE = "arn:aws:iam::123456789012:role/warehouse-unload"


@pytest.mark.slow
def test_redshift_data_api_credentials_and_the_unload_role(tmp_path: Path) -> None:
    """AWS rules: a Data API caller needs ``redshift-data:ExecuteStatement`` / ``DescribeStatement`` and one way to
    authenticate - with a secret, ``secretsmanager:GetSecretValue`` on it; as an IAM identity on a provisioned
    cluster, ``redshift:GetClusterCredentialsWithIAM``; on a serverless workgroup, ``redshift-serverless:GetCredentials``.
    Redshift's ``UNLOAD`` writes to S3 as the ``IAM_ROLE`` it names (associated with the cluster), not as the Data
    API caller, so that role must be the one the statement names and may write the artifact bucket.
    https://docs.aws.amazon.com/redshift/latest/mgmt/data-api-access.html
    https://docs.aws.amazon.com/redshift-data/latest/APIReference/API_ExecuteStatement.html
    https://docs.aws.amazon.com/redshift/latest/dg/r_UNLOAD.html
    """

    def cluster(raw: dict[str, Any]) -> None:
        raw["warehouse"]["engine"] = "redshift"
        raw["warehouse"]["redshift"] = {
            "database": "analytics",
            "cluster_identifier": "warehouse",
            "secret_arn": SECRET,
            "unload_role_arn": UNLOAD_ROLE,
        }

    template = _synth(tmp_path / "cluster", cluster)
    statements = _machine_statements(template)
    assert any(actions(s) == ["secretsmanager:GetSecretValue"] and s["Resource"] == SECRET for s in statements)
    assert any("redshift-data:ExecuteStatement" in actions(s) for s in statements)
    assert any("redshift-data:DescribeStatement" in actions(s) for s in statements)
    plan = next(
        f for f in resources(template, "AWS::Lambda::Function").values() if "plan" in f["Properties"]["Handler"]
    )
    assert plan["Properties"]["Environment"]["Variables"]["REDSHIFT_ROLE_ARN"] == UNLOAD_ROLE
    data = json.loads((tmp_path / "cluster" / "out" / "stepml-job-matching-dev-data.template.json").read_text())
    policies = [p["Properties"]["PolicyDocument"] for p in resources(data, "AWS::S3::BucketPolicy").values()]
    writes = [s for p in policies for s in p["Statement"] if s.get("Principal") == {"AWS": UNLOAD_ROLE}]
    assert writes and "s3:PutObject" in json.dumps(writes)

    def serverless(raw: dict[str, Any]) -> None:
        raw["warehouse"]["engine"] = "redshift"
        raw["warehouse"]["redshift"] = {"database": "analytics", "workgroup": "warehouse"}

    statements = _machine_statements(_synth(tmp_path / "serverless", serverless))
    assert any("redshift-serverless:GetCredentials" in actions(s) for s in statements)

    def iam_identity(raw: dict[str, Any]) -> None:
        raw["warehouse"]["engine"] = "redshift"
        raw["warehouse"]["redshift"] = {"database": "analytics", "cluster_identifier": "warehouse"}

    statements = _machine_statements(_synth(tmp_path / "iam", iam_identity))
    (creds,) = [s for s in statements if "redshift:GetClusterCredentialsWithIAM" in actions(s)]
    assert ":dbname:warehouse/analytics" in json.dumps(creds["Resource"])
