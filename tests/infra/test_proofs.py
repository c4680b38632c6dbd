"""Offline proofs on the synthesized output: cfn-lint, cdk-nag, IAM wildcards, Lambda asset contents, snapshots."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.constructs.state_machine_policy import WILDCARD_ALLOWED
from stepml.cloud.bundle import asset_files
from stepml.spec import load_spec
from tests.conftest import ROOT
from tests.infra.conftest import IMAGE_URI, Synth, resources, synthesize

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("STEPML_UPDATE_SNAPSHOTS") == "1"
HEAVY = ("pandas", "numpy", "great_expectations", "evidently", "sklearn", "pydantic", "sqlglot", "pyarrow", "duckdb")


def test_cfn_lint_reports_no_errors(synth: Synth) -> None:
    paths = [str(synth.path(k)) for k in ("data", "monitoring", "pipeline")]
    done = subprocess.run(
        [sys.executable, "-m", "cfnlint", "--format", "json", *paths], capture_output=True, text=True, check=False
    )
    findings = json.loads(done.stdout or "[]")
    errors = [f for f in findings if f["Level"] == "Error"]
    assert errors == [], json.dumps(errors, indent=1)[:4000]


def test_cdk_nag_aws_solutions_has_no_unsuppressed_findings(synth: Synth) -> None:
    reports = sorted(synth.outdir.glob("AwsSolutions-*-NagReport.csv"))
    assert len(reports) == 3
    open_findings = []
    suppressed = 0
    for report in reports:
        with report.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            if row["Compliance"] == "Non-Compliant":
                open_findings.append(row)
            elif row["Compliance"] == "Suppressed":
                suppressed += 1
                assert row["Exception Reason"].strip(), row  # every suppression says why
    assert open_findings == []
    assert suppressed > 0


def _statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for logical_id, res in template["Resources"].items():
        doc = res["Properties"].get("PolicyDocument") if res["Type"] in ("AWS::IAM::Policy", "AWS::KMS::Key") else None
        if res["Type"] == "AWS::KMS::Key":
            doc = res["Properties"]["KeyPolicy"]
        for statement in (doc or {}).get("Statement", []):
            out.append((logical_id, statement))
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_wildcard_action_and_wildcard_resources_only_where_aws_requires(synth: Synth) -> None:
    for kind, template in synth.templates.items():
        for logical_id, statement in _statements(template):
            actions = [a for a in _as_list(statement.get("Action", [])) if isinstance(a, str)]
            assert "*" not in actions, (kind, logical_id)
            if _is_account_key_admin(template, logical_id, statement):
                continue  # AWS's default key policy: the account administers its key via IAM (kms:*)
            assert not any(a.endswith(":*") for a in actions), (kind, logical_id, actions)
            if "*" in _as_list(statement.get("Resource", [])) and statement["Effect"] == "Allow":
                unexplained = [a for a in actions if a not in WILDCARD_ALLOWED]
                assert unexplained == [], (kind, logical_id, unexplained)


def _is_account_key_admin(template: dict[str, Any], logical_id: str, statement: dict[str, Any]) -> bool:
    is_key = template["Resources"][logical_id]["Type"] == "AWS::KMS::Key"
    root = json.dumps(statement.get("Principal", {}))
    return is_key and statement.get("Action") == "kms:*" and ":root" in root


def test_lambda_asset_holds_only_light_modules(synth: Synth) -> None:
    manifest = json.loads((synth.outdir / f"{synth.stacks_name('pipeline')}.assets.json").read_text())
    zips = [
        synth.outdir / a["source"]["path"] for a in manifest["files"].values() if a["source"].get("packaging") == "zip"
    ]
    (asset,) = [z for z in zips if (z / "stepml_cloud.json").exists()]
    keys = {
        f["Properties"]["Code"]["S3Key"]
        for f in resources(synth.templates["pipeline"], "AWS::Lambda::Function").values()
    }
    assert keys == {f"{asset.name.removeprefix('asset.')}.zip"}  # all three functions run this asset
    files = sorted(p.relative_to(asset).as_posix() for p in asset.rglob("*") if p.is_file())
    assert files == sorted([*asset_files(load_spec(ROOT / "pipeline.yaml")), "stepml_cloud.json"])
    # the core, the handlers, and each type's cloud facet with the project modules it imports
    assert {
        "stepml/core/plan.py",
        "stepml/cloud/handlers/commit.py",
        "steps/gate/cloud.py",
        "steps/gate/core.py",
    } <= set(files)
    assert not any(f.endswith(("local.py", "spec.py", "states.py", "entry.py")) for f in files)
    for path in asset.rglob("*.py"):
        imports = re.findall(r"^\s*(?:from|import)\s+([A-Za-z_][\w]*)", path.read_text(), flags=re.M)
        assert not set(imports) & set(HEAVY), (path, imports)


def _mask(template: dict[str, Any]) -> str:
    text = json.dumps(template, indent=1, sort_keys=True)
    text = re.sub(r"[0-9a-f]{64}", "<asset-hash>", text)
    return re.sub(r"cdk-hnb659fds-[a-z-]+-\$\{AWS::AccountId\}-\$\{AWS::Region\}", "<bootstrap>", text)


@pytest.mark.parametrize("kind", ["data", "monitoring", "pipeline"])
def test_snapshot(synth: Synth, kind: str) -> None:
    """Masked snapshot per stack. Update after an intended change: STEPML_UPDATE_SNAPSHOTS=1 pytest tests/infra."""
    path = SNAPSHOTS / f"{kind}.template.json"
    current = _mask(synth.templates[kind])
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(f"no snapshot at {path}; run with STEPML_UPDATE_SNAPSHOTS=1 to create it")
        path.write_text(current + "\n")
    assert current + "\n" == path.read_text(), f"{kind} stack drifted from {path}; see docs/deploy.md (snapshots)"


def test_dockerfile_image_is_a_deploy_time_asset(tmp_path: Path) -> None:
    # Without an image URI, synth (no Docker here) only declares the image asset that `cdk deploy` builds
    out = synthesize(tmp_path / "cdk.out", image_uri=None, nag=False)
    assets = json.loads((out.outdir / f"{out.stacks_name('pipeline')}.assets.json").read_text())
    (image,) = assets["dockerImages"].values()
    assert image["source"]["dockerFile"] == "Dockerfile"
    assert Path(image["source"]["directory"]).name.startswith("asset.")
    task = next(iter(resources(out.templates["pipeline"], "AWS::ECS::TaskDefinition").values()))
    assert IMAGE_URI not in json.dumps(task)


@pytest.mark.slow
def test_cdk_cli_synth_without_credentials(node_tools: Path, tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k not in {"CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION"}
    }
    env |= {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    out = tmp_path / "cdk.out"
    done = subprocess.run(
        [str(node_tools / "cdk"), "synth", "--no-notices", "--quiet", "-o", str(out), "-c", f"image_uri={IMAGE_URI}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # every pipeline of the project (stepml.yaml): the first one's data stack shared
    assert sorted(p.name for p in out.glob("*.template.json")) == [
        "stepml-daily-scores-dev-monitoring.template.json",
        "stepml-daily-scores-dev-pipeline.template.json",
        "stepml-job-matching-dev-data.template.json",
        "stepml-job-matching-dev-monitoring.template.json",
        "stepml-job-matching-dev-pipeline.template.json",
    ]
