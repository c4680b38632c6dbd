"""evidently's human drift report (HTML) on a bounded sample.

The check step keeps a deterministic, evenly spaced sample of the scored rows (``report.sample_rows``, 5000 by
default; ``sample.parquet`` beside the check report). The reference side is drawn from the reference profile -
no raw training rows are needed: numeric columns by the quantile function of the profile's 1000 quantile bins
(linear inside a bin, at evenly spaced probabilities), categorical columns by their frequencies, nulls by the
reference null fraction. So evidently's plots show the same reference stepml tested against.

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
    # the quantile function through (F(edge), edge), linear between edges
    fx, ix = np.unique(cdf, return_index=True)
    return np.interp(probs, fx, edges[ix])


def render(
    reference: Mapping[str, Any],
    current: pd.DataFrame,
    out: Path,
    *,
    sample_rows: int = 5_000,
) -> Path:
    """Write evidently's DataDriftPreset report for the profiled columns of ``current`` to ``out``."""
    columns = [c for c in reference["columns"] if c in current.columns]
    numeric = [c for c in columns if reference["columns"][c]["kind"] == "numeric"]
    categorical = [c for c in columns if reference["columns"][c]["kind"] == "categorical"]
    cur = current[columns].copy()
    if len(cur) > sample_rows:
        cur = cur.iloc[np.linspace(0, len(cur) - 1, sample_rows).astype(np.int64)]
    for c in categorical:
        cur[c] = cur[c].where(cur[c].isna(), cur[c].astype(str))
    ref = reference_sample(
        {"columns": {c: reference["columns"][c] for c in columns}}, min(sample_rows, max(len(cur), 1))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy.core / pandas deprecations raised inside evidently
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
        snapshot = Report([DataDriftPreset()]).run(
            current_data=Dataset.from_pandas(cur.reset_index(drop=True), data_definition=definition),
            reference_data=Dataset.from_pandas(ref, data_definition=definition),
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(out))
    return out
