"""Check results -> metrics: CloudWatch Embedded Metric Format and the local metric history.

One definition of every metric (name, unit, dimensions) serves both sinks, and the names are those of
``stepml.spec.KNOWN_METRICS``, namespace ``stepml``, dimensions ``Pipeline`` (+ ``Step``, + ``Feature``), so
the alarms declared in the spec (compiled to CloudWatch by the CDK stacks, evaluated locally by
:mod:`monitoring.alarms`) read the same series.

Per check run:

=====================  =========  ==========================  ================================================
metric                 unit       dimensions                  value
=====================  =========  ==========================  ================================================
RowCount               Count      Pipeline[, Step]            rows of the scored dataset
NullFraction           None       Pipeline[, Step], Feature   null share of each column
MaxNullFraction        None       Pipeline[, Step]            the ``max_null_fraction`` check's value
NonFiniteFraction      None       Pipeline[, Step], Feature   share of +-Inf among the non-null values of each
                                                              floating-point column
MaxNonFiniteFraction   None       Pipeline[, Step]            the largest ``NonFiniteFraction``
DriftScore             None       Pipeline[, Step], Feature   PSI of each profiled column (one scale for
                                                              numeric and categorical); omitted when the column
                                                              has ``insufficient_data``
DriftedColumnsShare    None       Pipeline[, Step]            share of drifted columns (features and model
                                                              outputs); omitted when none has a verdict
PredictionDrift        None       Pipeline[, Step]            1 when a model output (label, score, regression
                                                              prediction) drifted, else 0; omitted without a
                                                              verdict
FailedChecks           Count      Pipeline[, Step]            failed data-quality checks (every check but drift)
FailedExpectations     Count      Pipeline[, Step]            failed ``expect_*`` checks (the suite generated
                                                              from the reference profile)
PredictionMean         None       Pipeline[, Step]            mean of ``score`` (binary classification) or of a
                                                              numeric ``prediction``
ValidationMetric       None       Pipeline[, Step]            the serving model's validation metric
=====================  =========  ==========================  ================================================

EMF documents publish each metric under both dimension sets (with and without ``Step``). The history keeps one
JSON object per run under ``<pipeline>/metrics/`` in the artifact store (S3-safe: no appends).

Standard library plus aws-lambda-powertools (for EMF) only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

NAMESPACE = "stepml"
# the catalog of the metrics a check run publishes (``stepml.spec.KNOWN_METRICS`` adds the pipeline's own)
CHECK_METRICS = frozenset(
    {
        "RowCount",
        "NullFraction",
        "MaxNullFraction",
        "NonFiniteFraction",
        "MaxNonFiniteFraction",
        "DriftScore",
        "DriftedColumnsShare",
        "PredictionDrift",
        "FailedChecks",
        "FailedExpectations",
        "PredictionMean",
        "ValidationMetric",
    }
)
HISTORY_SCHEMA = "stepml.metrics/1"
HISTORY_DIR = "metrics"


@dataclass(frozen=True)
class Datapoint:
    metric: str
    value: float
    unit: str = "None"
    dimensions: dict[str, str] = field(default_factory=dict)  # Pipeline, Step (+ Feature)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def metrics_from_report(
    report: Mapping[str, Any],
    *,
    pipeline: str,
    step: str,
    profile: Mapping[str, Any] | None = None,
    validation_metric: float | None = None,
) -> list[Datapoint]:
    """The datapoints of one check run, from its report document (and the current profile for the mean)."""
    base = {"Pipeline": pipeline, "Step": step}
    out: list[Datapoint] = [Datapoint("RowCount", float(report.get("rows", 0)), "Count", dict(base))]
    worst_nonfinite: float | None = None
    prediction_drift: float | None = None
    failed_checks = failed_expectations = 0
    for c in report.get("checks", []):
        name, column, status = c["name"], c.get("column"), c["status"]
        if status == "fail" and name not in ("drift", "dataset_drift"):
            failed_checks += 1
            failed_expectations += name.startswith("expect_")
        if name == "drift" and (c.get("details") or {}).get("role") == "prediction" and status != "insufficient_data":
            prediction_drift = max(prediction_drift or 0.0, 1.0 if status == "fail" else 0.0)
        if name == "null_fraction" and column is not None:
            out.append(Datapoint("NullFraction", c["value"], "None", {**base, "Feature": column}))
        elif name == "max_null_fraction":
            out.append(Datapoint("MaxNullFraction", c["value"], "None", dict(base)))
        elif name == "nonfinite_fraction" and column is not None:
            out.append(Datapoint("NonFiniteFraction", c["value"], "None", {**base, "Feature": column}))
            worst_nonfinite = max(worst_nonfinite or 0.0, float(c["value"]))
        elif name == "drift" and column is not None and status != "insufficient_data":
            psi = (c.get("details") or {}).get("psi", c["value"])
            out.append(Datapoint("DriftScore", float(psi), "None", {**base, "Feature": column}))
        elif name == "dataset_drift" and status != "insufficient_data":
            out.append(Datapoint("DriftedColumnsShare", c["value"], "None", dict(base)))
    out.append(Datapoint("FailedChecks", float(failed_checks), "Count", dict(base)))
    out.append(Datapoint("FailedExpectations", float(failed_expectations), "Count", dict(base)))
    if prediction_drift is not None:
        out.append(Datapoint("PredictionDrift", prediction_drift, "None", dict(base)))
    if worst_nonfinite is not None:
        out.append(Datapoint("MaxNonFiniteFraction", worst_nonfinite, "None", dict(base)))
    mean = prediction_mean(profile) if profile is not None else None
    if mean is not None:
        out.append(Datapoint("PredictionMean", mean, "None", dict(base)))
    if validation_metric is not None and math.isfinite(validation_metric):
        out.append(Datapoint("ValidationMetric", float(validation_metric), "None", dict(base)))
    return [d for d in out if math.isfinite(d.value)]


def prediction_mean(profile: Mapping[str, Any]) -> float | None:
    cols = profile.get("columns", {})
    for name in ("score", "prediction"):
        col = cols.get(name)
        if col is not None and col.get("kind") == "numeric" and col.get("mean") is not None:
            return float(col["mean"])
    return None


def metric_data(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A history record as CloudWatch ``PutMetricData`` items: every datapoint under both dimension sets (with and
    without ``Step``), as the EMF documents publish it, at the record's timestamp."""
    import datetime as dt

    when = dt.datetime.fromtimestamp(float(record["timestamp"]), tz=dt.UTC)
    items = []
    for d in record.get("datapoints", []):
        dims = dict(d.get("dimensions") or {})
        for chosen in (dims, {k: v for k, v in dims.items() if k != "Step"}):
            items.append(
                {
                    "MetricName": d["metric"],
                    "Dimensions": [{"Name": k, "Value": str(v)} for k, v in chosen.items()],
                    "Timestamp": when,
                    "Value": float(d["value"]),
                    "Unit": d.get("unit") or "None",
                }
            )
    return items


def put_metrics(cloudwatch: Any, record: Mapping[str, Any], *, batch: int = 500) -> int:
    """Publish a history record to CloudWatch (namespace ``stepml``) with an injected client; the item count."""
    items = metric_data(record)
    for i in range(0, len(items), batch):
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=items[i : i + batch])
    return len(items)


def emf_documents(datapoints: Sequence[Datapoint], *, timestamp_ms: int) -> list[dict[str, Any]]:
    """EMF JSON documents (aws-lambda-powertools' CloudWatch EMF provider): one per dimension group."""
    import warnings

    order = {"Pipeline": 0, "Step": 1, "Feature": 2}
    groups: dict[tuple[tuple[str, str], ...], list[Datapoint]] = {}
    for d in datapoints:
        dims = tuple(sorted(d.dimensions.items(), key=lambda kv: (order.get(kv[0], 9), kv[0])))
        groups.setdefault(dims, []).append(d)
    docs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # powertools warns about timestamps CloudWatch would drop (old history)
        for dims, points in groups.items():
            docs.append(_emf_document(dict(dims), points, timestamp_ms))
    return docs


def _emf_document(dims: dict[str, str], points: Sequence[Datapoint], timestamp_ms: int) -> dict[str, Any]:
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    provider = AmazonCloudWatchEMFProvider(namespace=NAMESPACE)
    provider.service = None  # type: ignore[assignment]  # no "service" dimension from POWERTOOLS_SERVICE_NAME
    provider.set_timestamp(timestamp_ms)
    for k, v in dims.items():
        if k != "Step":
            provider.add_dimension(k, v)
    if "Step" in dims:
        provider.add_dimensions(**dims)
    for p in points:
        provider.add_metric(name=p.metric, unit=p.unit, value=p.value)
    return dict(provider.serialize_metric_set())


def history_record(
    datapoints: Iterable[Datapoint], *, pipeline: str, step: str, run_id: str, timestamp: float
) -> dict[str, Any]:
    return {
        "schema": HISTORY_SCHEMA,
        "pipeline": pipeline,
        "step": step,
        "run_id": run_id,
        "timestamp": timestamp,
        "datapoints": [d.to_dict() for d in datapoints],
    }


def history_key(pipeline: str, run_id: str, timestamp: float) -> str:
    """``<pipeline>/metrics/<ms>-<run_id>.json``: sortable by time, one object per run."""
    return f"{pipeline}/{HISTORY_DIR}/{int(timestamp * 1000):013d}-{run_id}.json"


def file_history(store: Any, pipeline: str, run_id: str, path: Any) -> str | None:
    """A step's metric record (``history.json`` its process wrote) filed under ``<pipeline>/metrics/`` in the
    store, where the alarms and the report read it; None when the step wrote none."""
    if not path.exists():
        return None
    data = path.read_bytes()
    key = history_key(pipeline, run_id, float(json.loads(data)["timestamp"]))
    store.write_bytes(key, data)
    return key


def load_history(store: Any, pipeline: str) -> list[dict[str, Any]]:
    """Every history record under ``<pipeline>/metrics/`` (oldest first); damaged objects are skipped."""
    out = []
    for key in sorted(store.list(f"{pipeline}/{HISTORY_DIR}")):
        if not key.endswith(".json"):
            continue
        raw = store.read_bytes(key)
        try:
            data = json.loads(raw) if raw is not None else None
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("schema") == HISTORY_SCHEMA:
            out.append(data)
    out.sort(key=lambda r: r.get("timestamp", 0))
    return out
