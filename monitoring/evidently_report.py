"""evidently's human drift report (HTML) on a bounded sample.

The check step keeps a deterministic, evenly spaced sample of the scored rows (``report.sample_rows``, 5000 by
default; ``sample.parquet`` beside the check report). The reference side is a uniform random sample of real
training rows (:func:`training_sample`, written by the training step as ``reference_sample.parquet`` beside
``profile.json``; the model's outputs from its out-of-sample rows, null past them). Without that file (models
trained before it existed) it is drawn from the reference profile: numeric columns by the quantile function of
the profile's bins - a step function where the reference has no value inside a bin (discrete columns keep their
values), linear inside a bin otherwise - categorical columns by their frequencies, nulls by the reference null
fraction. An interpolated sample of a 0/1 column is continuous and evidently flagged it on no-drift data.

evidently chooses its own tests and thresholds (from the reference size only) - its verdicts are shown for
people, stepml's verdicts (monitoring.drift) are the ones that alarm. evidently is imported lazily (~3-5 s);
its import-time and runtime warnings are silenced here, locally.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from monitoring.profile import OTHER

if TYPE_CHECKING:
    import pandas as pd


def reference_sample(profile: Mapping[str, Any], rows: int) -> pd.DataFrame:
    """A deterministic sample of ``rows`` rows distributed as the reference profile."""
    import pandas as pd

    data: dict[str, Any] = {}
    probs = (np.arange(rows) + 0.5) / max(rows, 1)
    for name, col in profile["columns"].items():
        n_null = round(col["null_fraction"] * rows)
        if col["kind"] == "numeric":
            values = _numeric_quantiles(col, rows - n_null)
            out = np.concatenate([values, np.full(n_null, np.nan)])
        else:
            freq = {k: v for k, v in col["frequencies"].items() if k != OTHER or v}
            total = sum(freq.values())
            labels = list(freq)
            if total == 0:
                out = np.array([None] * rows, dtype=object)
            else:
                cum = np.cumsum([freq[k] for k in labels]) / total
                idx = np.minimum(np.searchsorted(cum, probs[: rows - n_null], side="right"), len(labels) - 1)
                out = np.concatenate([np.asarray(labels, dtype=object)[idx], np.array([None] * n_null, dtype=object)])
        data[name] = np.random.default_rng(len(name)).permutation(out)
    return pd.DataFrame(data)


def _numeric_quantiles(col: Mapping[str, Any], n: int) -> Any:
    edges = np.asarray(col["bin_edges"], dtype=np.float64)
    counts = np.asarray(col["bin_counts"], dtype=np.float64)
    if n <= 0:
        return np.empty(0)
    if edges.size == 0:
        return np.zeros(n)
    if edges.size == 1 or counts.sum() == 0:
        return np.full(n, edges[0])
    cdf = np.cumsum(counts[:-1]) / counts.sum()  # F at each edge
    probs = (np.arange(n) + 0.5) / n
    at_edges = np.asarray(col.get("edge_counts") or np.zeros(edges.size), dtype=np.float64)
    if np.array_equal(counts[:-1], at_edges):  # every reference value is an edge: a step quantile function
        return edges[np.minimum(np.searchsorted(cdf, probs, side="left"), edges.size - 1)]
    # the quantile function through (F(edge), edge), linear between edges
    fx, ix = np.unique(cdf, return_index=True)
    return np.interp(probs, fx, edges[ix])


def training_sample(
    features: pd.DataFrame, outputs: pd.DataFrame | None = None, *, rows: int = 5_000, seed: int = 0
) -> pd.DataFrame:
    """A uniform random sample of ``rows`` real training rows (without replacement, seeded) for the human report;
    ``outputs`` (the model's out-of-sample outputs: prediction, score) fill the first rows of their columns with
    a sample of their own rows, null past them - never resampled, never in-sample."""
    rng = np.random.default_rng(seed)
    k = min(rows, len(features))
    sample = features.iloc[np.sort(rng.choice(len(features), k, replace=False))].reset_index(drop=True)
    if outputs is not None:
        j = min(k, len(outputs))
        picked = outputs.iloc[np.sort(rng.choice(len(outputs), j, replace=False))].reset_index(drop=True)
        for name in outputs.columns:
            column = picked[name].astype(object if picked[name].dtype == object else np.float64)
            sample[name] = column.reindex(range(k))
    return sample


REFERENCE_SAMPLE_FILE = "reference_sample.parquet"  # written beside profile.json by the training step

# evidently's distance methods flag a column at value >= threshold; its tests (KS, chi-square, Z) at p < threshold
_DISTANCES = ("distance", "divergence", "PSI", "psi")


def drift_flags(snapshot: Any) -> dict[str, bool]:
    """evidently's per-column verdicts in a DataDriftPreset snapshot: column -> drift detected."""
    out: dict[str, bool] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config") or {}
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        value, threshold = float(metric["value"]), float(config["threshold"])
        distance = any(word in str(config.get("method", "")) for word in _DISTANCES)
        out[str(config["column"])] = value >= threshold if distance else value < threshold
    return out


def run_report(
    reference: Mapping[str, Any],
    current: pd.DataFrame,
    *,
    sample_rows: int = 5_000,
    reference_rows: pd.DataFrame | None = None,
) -> Any:
    """evidently's DataDriftPreset snapshot for the profiled columns of ``current`` (at most ``sample_rows``,
    evenly spaced) against ``reference_rows`` (real training rows) or, without them, a sample drawn from the
    reference profile."""
    columns = [c for c in reference["columns"] if c in current.columns]
    if reference_rows is not None:
        columns = [c for c in columns if c in reference_rows.columns]
    numeric = [c for c in columns if reference["columns"][c]["kind"] == "numeric"]
    categorical = [c for c in columns if reference["columns"][c]["kind"] == "categorical"]
    cur = current[columns].copy()
    if len(cur) > sample_rows:
        cur = cur.iloc[np.linspace(0, len(cur) - 1, sample_rows).astype(np.int64)]
    if reference_rows is not None:
        ref = reference_rows[columns].reset_index(drop=True).copy()
    else:
        ref = reference_sample(
            {"columns": {c: reference["columns"][c] for c in columns}}, min(sample_rows, max(len(cur), 1))
        )
    for frame in (cur, ref):
        for c in categorical:
            frame[c] = frame[c].where(frame[c].isna(), frame[c].astype(str))
        for c in numeric:
            frame[c] = frame[c].astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy.core / pandas deprecations raised inside evidently
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
        return Report([DataDriftPreset()]).run(
            current_data=Dataset.from_pandas(cur.reset_index(drop=True), data_definition=definition),
            reference_data=Dataset.from_pandas(ref, data_definition=definition),
        )


def render(
    reference: Mapping[str, Any],
    current: pd.DataFrame,
    out: Path,
    *,
    sample_rows: int = 5_000,
    reference_rows: pd.DataFrame | None = None,
) -> Path:
    """Write evidently's DataDriftPreset report (:func:`run_report`) to ``out``."""
    snapshot = run_report(reference, current, sample_rows=sample_rows, reference_rows=reference_rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot.save_html(str(out))
    return out
