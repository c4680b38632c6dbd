"""The baseline for bench/cold_run.py: the reference pipeline as one hand-written script, data-scientist style.

Same work as ``stepml run`` on pipeline.yaml: the same two SQL files (rendered for DuckDB with
``stepml.sqlrender.render``) on the same warehouse into pandas, the same sklearn model (built with
``TrainConfig.build``, the default factory, from the same features and hyperparameters, on the same prepared
feature frame, so both sides fit an identical estimator), an 80/20 split with the same seed and the validation ROC AUC, the model saved with joblib,
predictions for the scoring set (one ``predict_proba`` pass) written to parquet, then the check step's checks by
hand against the training set: row count, null fraction of every scoring column, reference ranges and category
sets (what the GX suite expects), and drift per feature (scipy's KS and Wasserstein for numeric features,
chi-square and PSI for categorical ones, Benjamini-Hochberg adjusted). No caching, no subprocesses, no thread
limits.

    python bench/baseline_script.py --warehouse W.duckdb --out DIR
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import duckdb
import joblib
import numpy as np
import pandas as pd
import yaml
from scipy.stats import chi2_contingency, false_discovery_control, ks_2samp, wasserstein_distance
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from steps._model import prepare_features
from steps.extract.sqlrender import render
from steps.train.config import TrainConfig

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    t = time.perf_counter()

    spec = yaml.safe_load((REPO / "pipeline.yaml").read_text())
    model_spec = spec["model"]
    params = {"as_of": dt.date(2026, 5, 1), "lookback_days": 180, "score_days": 30}  # the spec's defaults
    features: list[str] = model_spec["features"]
    target: str = model_spec["target"]

    # extract
    con = duckdb.connect(args.warehouse, read_only=True)
    train_df = con.execute(render((REPO / "sql/training_set.sql").read_text(), params, dialect="duckdb")).df()
    score_df = con.execute(render((REPO / "sql/scoring_set.sql").read_text(), params, dialect="duckdb")).df()
    con.close()
    times["extract"], t = time.perf_counter() - t, time.perf_counter()

    # train: 80/20 split, fit, validation AUC, save the model
    config = TrainConfig(
        task="classification",
        target=target,
        features=tuple(features),
        categorical=tuple(model_spec["categorical"]),
        id_columns=tuple(model_spec["id_columns"]),
        metric="roc_auc",
        validation_fraction=model_spec["validation_fraction"],
        seed=model_spec["seed"],
        model_params=model_spec["hyperparameters"],
    )
    y = train_df[target].to_numpy()
    train_idx, valid_idx = train_test_split(
        np.arange(len(train_df)), test_size=config.validation_fraction, random_state=config.seed, stratify=y
    )
    model = config.build()
    x = prepare_features(train_df, config.numeric, config.categorical)
    model.fit(x.iloc[train_idx], y[train_idx])
    auc = roc_auc_score(y[valid_idx], model.predict_proba(x.iloc[valid_idx])[:, 1])
    joblib.dump(model, out / "model.joblib")
    times["train"], t = time.perf_counter() - t, time.perf_counter()

    # score
    proba = model.predict_proba(prepare_features(score_df, config.numeric, config.categorical))
    predictions = pd.DataFrame(
        {
            "invitation_id": score_df["invitation_id"].to_numpy(),
            "prediction": model.classes_[proba.argmax(axis=1)],
            "score": proba[:, 1],
        }
    )
    predictions.to_parquet(out / "predictions.parquet", index=False)
    times["score"], t = time.perf_counter() - t, time.perf_counter()

    # check: what the pipeline's check step checks, written by hand with pandas/scipy against the training set:
    # row count, null fraction per column, ranges and category sets (the GX suite), and drift per feature
    # (KS + normalized Wasserstein for numeric columns, chi-square + PSI for categorical ones, BH-adjusted)
    null_fraction = score_df.isna().mean()
    categorical = set(model_spec["categorical"])
    failed: list[str] = []
    p_values: dict[str, float] = {}
    effects: dict[str, float] = {}
    for col in features:
        ref, cur = train_df[col].dropna(), score_df[col].dropna()
        if col in categorical:
            if not set(cur.unique()) <= set(ref.unique()):
                failed.append(f"{col}: unseen categories")
            ref_counts = ref.value_counts()
            cur_counts = cur.value_counts().reindex(ref_counts.index, fill_value=0)
            table = np.array([ref_counts.to_numpy(), cur_counts.to_numpy()])
            p_values[col] = float(chi2_contingency(table[:, table.sum(axis=0) > 0])[1])
            ref_share = np.maximum(ref_counts.to_numpy() / len(ref), 1e-4)
            cur_share = np.maximum(cur_counts.to_numpy() / max(len(cur), 1), 1e-4)
            effects[col] = float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))
        else:
            ref_v, cur_v = ref.to_numpy(dtype=float), cur.to_numpy(dtype=float)
            lo, hi = ref_v.min(), ref_v.max()
            pad = 0.1 * (hi - lo)
            if cur_v.min() < lo - pad or cur_v.max() > hi + pad:
                failed.append(f"{col}: out of range")
            p_values[col] = float(ks_2samp(ref_v, cur_v).pvalue)
            effects[col] = float(wasserstein_distance(ref_v, cur_v) / max(ref_v.std(), 1e-3))
    adjusted = dict(zip(p_values, false_discovery_control(list(p_values.values())), strict=True))
    drifted = [c for c in features if adjusted[c] < 0.05 and effects[c] >= 0.1]  # the spec's default thresholds
    report = {
        "rows": len(score_df),
        "max_null_fraction": float(null_fraction.max()),
        "null_fraction": {c: float(v) for c, v in null_fraction.items()},
        "failed": failed,
        "drifted": drifted,
        "roc_auc": float(auc),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    times["check"] = time.perf_counter() - t
    print(json.dumps({k: report[k] for k in ("rows", "roc_auc", "failed", "drifted")} | {"times": times}))


if __name__ == "__main__":
    main()
