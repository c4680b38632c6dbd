"""The ``experiments:`` block: validated with the rest of the spec, each problem named at its field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from stepml.core.plan import make_plan
from stepml.errors import ExperimentChangedError, SpecError
from stepml.experiments import record as records
from stepml.spec import load_spec

BASE: dict[str, Any] = {
    "name": "exp-test",
    "params": {"as_of": {"type": "date", "default": "2026-05-01"}},
    "experiments": {
        "recs-ab": {
            "kind": "ab",
            "unit": "candidate_id",
            "item": "job_id",
            "salt": "recs-2026",
            "variants": {"control": {"model": "recs@champion"}, "treatment": {"model": "recs@challenger"}},
            "metrics": [{"name": "apply_rate", "kind": "ratio", "numerator": "applies", "denominator": "impressions"}],
        }
    },
    "steps": {
        "items": {"type": "extract", "sql": "q.sql"},
        "outcomes": {"type": "extract", "sql": "q.sql"},
        "serve": {"type": "serve", "experiment": "recs-ab", "needs": ["items"]},
        "readout": {"type": "readout", "experiment": "recs-ab", "needs": ["outcomes", "serve"]},
    },
}


def write(tmp_path: Path, raw: dict[str, Any]) -> Path:
    (tmp_path / "q.sql").write_text("SELECT 1 AS candidate_id WHERE :as_of IS NOT NULL")
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def spec_with(tmp_path: Path, edit: Any) -> Path:
    raw = copy.deepcopy(BASE)
    edit(raw)
    return write(tmp_path, raw)


def problems(tmp_path: Path, edit: Any) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(spec_with(tmp_path, edit))
    return str(info.value)


def exp(raw: dict[str, Any]) -> dict[str, Any]:
    block: dict[str, Any] = raw["experiments"]["recs-ab"]
    return block


def test_the_base_spec_is_valid(tmp_path: Path) -> None:
    pipeline = load_spec(write(tmp_path, BASE))
    assert pipeline.spec.experiment_settings("recs-ab") == {
        "experiment": "recs-ab",
        "kind": "ab",
        "unit": "candidate_id",
        "salt": "recs-2026",
        "layer": "experiment:recs-ab",
        "offset": 0.0,
        "weights": {"control": 0.5, "treatment": 0.5},
    }


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda r: exp(r).update(kind="multi"), "experiments.recs-ab.kind"),
        (lambda r: exp(r)["variants"].pop("treatment"), "at least 2"),
        (lambda r: exp(r)["variants"]["control"].update(step="items"), "exactly one of them"),
        (lambda r: exp(r)["variants"]["control"].update(weight=-1), "greater than or equal to 0"),
        (lambda r: exp(r)["variants"]["control"].update(weight=float("nan")), "weight"),
        (lambda r: exp(r).update(coverage=1.5), "coverage"),
        (lambda r: exp(r).update(coverage=0), "coverage"),
        (lambda r: exp(r).update(fallback={"variant": "nobody", "min_items": 3}), "'nobody' is not one of"),
        (lambda r: exp(r).update(fallback={"variant": "control", "min_items": 30}), "exceeds top_k"),
        (lambda r: exp(r).update(kind="interleave", item=None), "names its 'item'"),
        (lambda r: exp(r).update(window={"start": "2026-05-10", "end": "2026-05-01"}), "must be after"),
        (lambda r: exp(r).update(guardrails=[{"name": "g", "kind": "mean", "column": "x"}]), "needs 'max_drop'"),
        (lambda r: exp(r)["metrics"].append({"name": "m", "kind": "ratio", "column": "x"}), "numerator"),
        (lambda r: exp(r).update(salt=""), "salt"),
        (lambda r: r["experiments"].update({"Bad_Name": exp(r)}), "experiment names must match"),
        (lambda r: r["steps"]["serve"].update(experiment="other"), "unknown experiment 'other'"),
        (lambda r: r["steps"]["serve"].update(needs=[]), "name the table it scores"),
        (lambda r: exp(r)["variants"]["treatment"].update(model=None, step="ranker"), "add it to 'needs'"),
        (lambda r: exp(r).update(metrics=[]), "declares no metrics"),
    ],
)
def test_bad_experiment_blocks_are_named(tmp_path: Path, edit: Any, expected: str) -> None:
    assert expected in problems(tmp_path, edit)


def test_experiments_of_one_layer_may_not_overlap(tmp_path: Path) -> None:
    def two(r: dict[str, Any]) -> None:
        exp(r).update(layer="ranking", coverage=0.6)
        r["experiments"]["other"] = {**copy.deepcopy(exp(r)), "salt": "x", "coverage": 0.6}

    assert "passes 1 in layer 'ranking'" in problems(tmp_path, two)

    def explicit(r: dict[str, Any]) -> None:
        two(r)
        r["experiments"]["other"].update(coverage=0.3, offset=0.5)

    assert "overlap" in problems(tmp_path, explicit)

    def fine(r: dict[str, Any]) -> None:
        two(r)
        r["experiments"]["other"].update(coverage=0.4)

    pipeline = load_spec(spec_with(tmp_path, fine))
    assert pipeline.spec.experiment_settings("other")["offset"] == 0.6


class Store:
    """A dict-backed stand-in for the store's read side (the record check reads one key)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def exists(self, key: str) -> bool:
        return key in self.data

    def read_bytes(self, key: str) -> bytes:
        return self.data[key]

    def uri(self, key: str) -> str:
        return f"mem://{key}"


def plan(tmp_path: Path, raw: dict[str, Any], store: Store) -> Any:
    from steps.serve.local import lookup_resolver

    pipeline = load_spec(write(tmp_path, raw))
    experiment = lookup_resolver(pipeline, clock=lambda: 0.0, store=store)
    models = {
        "champion": {"version": 1, "digest": "d1", "uri": "u1"},
        "challenger": {"version": 2, "digest": "d2", "uri": "u2"},
    }

    def resolve(step: str, lookup: Any, upstream: Any) -> Any:
        if lookup.get("kind") == "model":
            return models[lookup["alias"]]
        if lookup.get("kind") == "data":  # the extracts' data versions: none here
            return None
        return experiment(step, lookup, upstream)

    return make_plan(pipeline.plan_input, {}, resolve)


def test_a_running_experiment_may_not_change_its_weights_or_salt(tmp_path: Path) -> None:
    store = Store()
    first = plan(tmp_path, BASE, store)
    settings = load_spec(write(tmp_path, BASE)).spec.experiment_settings("recs-ab")
    store.data[records.record_key("recs-ab")] = records.encode(
        records.new_record(settings, run_id="r1", started_at="2026-05-01T00:00:00+00:00", coverage=1.0)
    )
    assert plan(tmp_path, BASE, store).step("serve").key == first.step("serve").key  # the record agrees

    raw = copy.deepcopy(BASE)
    exp(raw)["variants"]["treatment"]["weight"] = 3
    with pytest.raises(ExperimentChangedError) as info:
        plan(tmp_path, raw, store)
    assert "experiments.recs-ab.weights" in str(info.value) and "rename the experiment" in str(info.value)

    raw = copy.deepcopy(BASE)
    exp(raw)["salt"] = "new-salt"
    with pytest.raises(ExperimentChangedError, match="salt"):
        plan(tmp_path, raw, store)

    raw = copy.deepcopy(BASE)  # raising coverage is allowed: no unit moves
    exp(raw)["coverage"] = 0.5
    plan(tmp_path, raw, store)

    raw = copy.deepcopy(BASE)  # renamed: a new experiment, no record yet
    raw["experiments"] = {"recs-ab-2": {**exp(raw), "salt": "new-salt"}}
    raw["steps"]["serve"]["experiment"] = raw["steps"]["readout"]["experiment"] = "recs-ab-2"
    plan(tmp_path, raw, store)


def test_a_damaged_record_is_named_not_guessed(tmp_path: Path) -> None:
    store = Store()
    store.data[records.record_key("recs-ab")] = b"[]"
    from stepml.errors import StoreError

    with pytest.raises(StoreError, match="not an experiment record"):
        plan(tmp_path, BASE, store)


def test_the_serve_key_holds_each_variant_models_digest(tmp_path: Path) -> None:
    p = plan(tmp_path, BASE, Store())
    serve = p.step("serve")
    assert set(serve.resolved["parts"]) == {"experiment", "variant_control", "variant_treatment"}
    assert serve.resolved["parts"]["variant_control"]["digest"] == "d1"
    assert serve.components["resolved"] == serve.resolved["digest"]
