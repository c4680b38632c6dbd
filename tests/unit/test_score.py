"""Scoring step: streaming batch prediction over parquet files, and the ECS-style entrypoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from stepml.entry import Input, Invocation
from stepml.errors import StepInputError
from steps._model import LoadedModel, Task, load_model
from steps.score.entry import score_files
from steps.train.config import TrainConfig
from steps.train.entry import train, write_outputs

REPO = Path(__file__).resolve().parents[2]
FEATURES = ["x1", "x2", "color"]


def make_frame(n: int, seed: int = 0, start_id: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n).astype(object)
    frame = pd.DataFrame(
        {
            "id": np.arange(start_id, start_id + n, dtype=np.int64),
            "x1": x1,
            "x2": rng.normal(size=n),
            "color": color,
            "label": (x1 + np.where(color == "red", 1.0, -0.5) + rng.normal(scale=0.5, size=n) > 0).astype(int),
            "kind": rng.choice(["a", "b", "c"], size=n),
            "amount": 2.0 * x1 + rng.normal(scale=0.1, size=n),
        }
    )
    frame.loc[::7, "x2"] = np.nan
    frame.loc[::9, "color"] = None
    return frame


def fit(tmp: Path, task: Task = "classification", target: str = "label") -> LoadedModel:
    cfg = TrainConfig(
        task=task,
        target=target,
        features=tuple(FEATURES),
        categorical=("color",),
        id_columns=("id",),
        metric="accuracy" if task == "classification" else "rmse",
        model_params={"max_iter": 20},
        threads=1,
    )
    result = train(make_frame(200, seed=1), cfg)
    write_outputs(result, cfg, tmp)
    return load_model(tmp, step="score")


@pytest.fixture(scope="module")
def binary_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("binary")
    fit(path)
    return path


@pytest.fixture(scope="module")
def binary(binary_dir: Path) -> LoadedModel:
    return load_model(binary_dir, step="score")


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path, index=False)
    return path


def score(model: LoadedModel, inputs: list[Path], output: Path, batch_rows: int = 10_000) -> pd.DataFrame:
    result = score_files(model, inputs, output, batch_rows=batch_rows, run_id="run-1", model_version="v3", step="score")
    assert result.output == output
    frame = pd.read_parquet(output)
    assert result.rows == len(frame)
    return frame


def test_predictions_match_the_model(binary: LoadedModel, tmp_path: Path) -> None:
    frame = make_frame(150, seed=2)
    frame.loc[3, "color"] = "purple"  # unseen category
    out = score(binary, [write(frame, tmp_path / "in.parquet")], tmp_path / "out.parquet")
    assert list(out.columns) == ["id", "prediction", "score", "model_version", "run_id"]
    assert out["id"].tolist() == frame["id"].tolist()
    expected = binary.pipeline.predict(frame[FEATURES])
    np.testing.assert_array_equal(out["prediction"].to_numpy(), expected)
    np.testing.assert_allclose(out["score"], binary.pipeline.predict_proba(frame[FEATURES])[:, 1], rtol=1e-12)
    assert set(out["model_version"]) == {"v3"} and set(out["run_id"]) == {"run-1"}
    schema = pq.read_schema(tmp_path / "out.parquet")
    assert str(schema.field("id").type) == "int64" and str(schema.field("model_version").type) == "string"


def test_batch_size_does_not_change_results(binary: LoadedModel, tmp_path: Path) -> None:
    path = write(make_frame(103, seed=3), tmp_path / "in.parquet")
    small = score(binary, [path], tmp_path / "small.parquet", batch_rows=7)
    large = score(binary, [path], tmp_path / "large.parquet", batch_rows=10_000)
    pd.testing.assert_frame_equal(small, large)
    assert pq.ParquetFile(tmp_path / "small.parquet").metadata.num_row_groups == 15  # it did stream


def test_multiple_inputs_are_concatenated_in_order(binary: LoadedModel, tmp_path: Path) -> None:
    first = write(make_frame(30, seed=4, start_id=500), tmp_path / "b.parquet")
    second = write(make_frame(20, seed=5, start_id=0), tmp_path / "a.parquet")
    out = score(binary, [first, second], tmp_path / "out.parquet", batch_rows=8)
    assert out["id"].tolist() == list(range(500, 530)) + list(range(20))


def test_regression_and_multiclass_have_no_score_column(tmp_path: Path) -> None:
    frame = make_frame(40, seed=6)
    path = write(frame, tmp_path / "in.parquet")
    regression = fit(tmp_path / "reg", task="regression", target="amount")
    out = score(regression, [path], tmp_path / "reg.parquet")
    assert list(out.columns) == ["id", "prediction", "model_version", "run_id"]
    np.testing.assert_allclose(out["prediction"], regression.pipeline.predict(frame[FEATURES]))
    multiclass = fit(tmp_path / "multi", target="kind")
    out = score(multiclass, [path], tmp_path / "multi.parquet", batch_rows=9)
    assert "score" not in out.columns
    assert out["prediction"].tolist() == multiclass.pipeline.predict(frame[FEATURES]).tolist()


def test_missing_column_names_column_and_file(binary: LoadedModel, tmp_path: Path) -> None:
    good = write(make_frame(10), tmp_path / "good.parquet")
    bad = write(make_frame(10).drop(columns=["x2", "id"]), tmp_path / "bad.parquet")
    output = tmp_path / "out.parquet"
    with pytest.raises(StepInputError) as info:
        score(binary, [good, bad], output)
    assert "missing column(s) ['id', 'x2'] in 1 of 2 file(s): bad.parquet" in info.value.message
    assert not output.exists() and not output.with_name("out.parquet.tmp").exists()


def test_corrupt_or_missing_input_names_the_file(binary: LoadedModel, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"\x00garbage" * 50)
    output = tmp_path / "out.parquet"
    with pytest.raises(StepInputError, match=r"corrupt\.parquet is not a readable parquet file"):
        score(binary, [corrupt], output)
    with pytest.raises(StepInputError, match=r"nope\.parquet does not exist"):
        score(binary, [tmp_path / "nope.parquet"], output)
    with pytest.raises(StepInputError, match="no input files"):
        score(binary, [], output)
    assert list(tmp_path.iterdir()) == [corrupt]


def test_string_in_numeric_feature_is_an_input_error(binary: LoadedModel, tmp_path: Path) -> None:
    path = write(make_frame(10).assign(x1="big"), tmp_path / "in.parquet")
    with pytest.raises(StepInputError, match=r"'x1' has type string .* in in\.parquet"):
        score(binary, [path], tmp_path / "out.parquet")


def test_model_dir_without_model(tmp_path: Path) -> None:
    with pytest.raises(StepInputError, match=r"does not exist; expected the files a train step writes"):
        load_model(tmp_path / "missing", step="score")
    with pytest.raises(StepInputError, match=r"has no stepml_model\.json"):
        load_model(tmp_path, step="score")
    (tmp_path / "model_meta.json").write_text("{}")
    with pytest.raises(StepInputError, match=r"model_meta\.json is not a valid model_meta\.json"):
        load_model(tmp_path, step="score")


def invocation(
    model_dir: Path, inputs: list[Path], out: Path, *, step: str = "score", version: object = 9
) -> Invocation:
    """What the local runner and the task adapter give the score entry: a table input and a model input."""
    return Invocation(
        step=step,
        type="score",
        entry="steps.score.entry:run",
        pipeline="p",
        run_id="r-42",
        params={},
        param_types={},
        config={"batch_rows": 4},
        inputs={
            "extract": Input(kinds=("table",), tables={"": [str(p) for p in inputs]}),
            "gate": Input(kinds=("model",), model_dir=str(model_dir), summary={"version": version}),
        },
        output_dir=str(out),
        scratch_dir=str(out.parent / "scratch"),
        partition=3,
    )


def run_entry(inv: Invocation, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = inv.write(tmp_path / "invocation.json")
    return subprocess.run(
        [sys.executable, "-m", "stepml.entry", str(path)],
        env=dict(os.environ),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_entry_scores_its_partition_and_records_its_result(binary_dir: Path, tmp_path: Path) -> None:
    inputs = [write(make_frame(25, seed=7), tmp_path / "p0.parquet")]
    inputs.append(write(make_frame(5, seed=8, start_id=100), tmp_path / "p1.parquet"))
    out = tmp_path / "out"
    proc = run_entry(invocation(binary_dir, inputs, out), tmp_path)
    assert proc.returncode == 0, proc.stderr
    scored = pd.read_parquet(out / "data" / "part-00003.parquet")
    assert scored["id"].tolist() == list(range(25)) + list(range(100, 105))
    assert set(scored["run_id"]) == {"r-42"} and set(scored["model_version"]) == {"v9"}
    result = json.loads((out / "_results" / "part-00003.json").read_text())
    assert result == {"rows": 30, "summary": {"model_version": 9, "partitions": 1}, "detail": ""}
    assert not (out / "_results" / "failure-00003.json").exists()


def test_entry_failure_names_the_step_and_leaves_no_output(binary_dir: Path, tmp_path: Path) -> None:
    good = write(make_frame(25, seed=7), tmp_path / "p0.parquet")
    bad = write(make_frame(5).drop(columns=["color"]), tmp_path / "p1.parquet")
    out = tmp_path / "out"
    proc = run_entry(invocation(binary_dir, [good, bad], out, step="score_customers"), tmp_path)
    assert proc.returncode == 2, proc.stderr
    failure = json.loads((out / "_results" / "failure-00003.json").read_text())
    assert failure["error"] == "StepInputError" and failure["step"] == "score_customers"
    assert "['color']" in failure["message"] and "p1.parquet" in failure["message"]
    assert not list(out.rglob("*.parquet")) and not list(out.rglob("*.tmp"))  # nothing that looks finished


def test_a_full_disk_is_a_write_error_naming_the_output_not_a_corrupt_input(
    binary: LoadedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from stepml.errors import StepOutputError

    source = write(make_frame(500), tmp_path / "in.parquet")
    output = tmp_path / "out" / "predictions.parquet"

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    with pytest.raises(StepOutputError) as info:
        score(binary, [source], output)
    assert "predictions.parquet" in info.value.message and "disk is full" in info.value.message
    assert "in.parquet" not in info.value.message
    assert not output.exists() and not output.with_name(output.name + ".tmp").exists()


def test_a_worker_unpickles_the_model_once_while_its_files_keep_their_digests(tmp_path):
    from steps.score import entry

    # Given a model folder scored by two partitions in one worker process
    model_dir = tmp_path / "model"
    fit(model_dir)
    first = entry._loaded(model_dir, "score")
    # Then the second partition gets the same loaded model, not a second unpickling
    assert entry._loaded(model_dir, "score") is first
    # But once a model file no longer has its recorded digest, the load fails as it would in a fresh process
    estimator = model_dir / "estimator.joblib"
    estimator.write_bytes(estimator.read_bytes() + b"\0")
    with pytest.raises(StepInputError, match="does not match its recorded sha256"):
        entry._loaded(model_dir, "score")
