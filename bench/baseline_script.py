"""The baseline for bench/cold_run.py: the reference pipeline as one hand-written script, data-scientist style.

Same work as ``stepml run`` on pipeline.yaml: the same two SQL files (rendered for DuckDB with
``stepml.sqlrender.render``) on the same warehouse into pandas, the same sklearn model (built with
``steps._model.build_pipeline`` from the same features and hyperparameters, so both sides fit an identical
estimator), an 80/20 split with the same seed and the validation ROC AUC, the model saved with joblib,
predictions for the scoring set (one ``predict_proba`` pass) written to parquet, then the row count and the
null fraction of every scoring column. No caching, no subprocesses, no thread limits.

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
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from stepml.sqlrender import render
from steps._model import TrainConfig, build_pipeline

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
    model = build_pipeline(config)
    model.fit(train_df.iloc[train_idx][features], y[train_idx])
    auc = roc_auc_score(y[valid_idx], model.predict_proba(train_df.iloc[valid_idx][features])[:, 1])
    joblib.dump(model, out / "model.joblib")
    times["train"], t = time.perf_counter() - t, time.perf_counter()

    # score
    proba = model.predict_proba(score_df[features])
    predictions = pd.DataFrame(
        {
            "invitation_id": score_df["invitation_id"].to_numpy(),
            "prediction": model.classes_[proba.argmax(axis=1)],
            "score": proba[:, 1],
        }
    )
    predictions.to_parquet(out / "predictions.parquet", index=False)
    times["score"], t = time.perf_counter() - t, time.perf_counter()

    # check
    null_fraction = score_df.isna().mean()
    report = {
        "rows": len(score_df),
        "max_null_fraction": float(null_fraction.max()),
        "null_fraction": {c: float(v) for c, v in null_fraction.items()},
        "roc_auc": float(auc),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    times["check"] = time.perf_counter() - t
    print(json.dumps({"rows": report["rows"], "roc_auc": report["roc_auc"], "times": times}))


if __name__ == "__main__":
    main()
