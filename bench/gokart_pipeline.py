"""The reference pipeline as gokart tasks, for bench/cached_run.py (runs in its own venv, bench/out/gokart-venv).

ExtractTrain, ExtractScore (DuckDB -> DataFrame -> parquet) -> Train (same features and hyperparameters as
pipeline.yaml, written by hand: ordinal-encoded categoricals + HistGradientBoostingClassifier, 80/20 split,
validation AUC; pickled) -> Score (predict_proba on the scoring set -> parquet) -> Check (row count and null
fractions -> pickle). Outputs go to ``--workspace``. The SQL is sql/*.sql as ``stepml.sqlrender.render`` transpiles
it for DuckDB with the spec's default parameters (pasted, since this venv has no sqlglot).

duckdb and scikit-learn are imported inside ``run()`` only, so a cached re-run pays for gokart, luigi and what
they import themselves (gokart imports pandas and pyarrow) and nothing more: the fairest setup for gokart.

    bench/out/gokart-venv/bin/python bench/gokart_pipeline.py --workspace DIR --warehouse FILE.duckdb
"""

from __future__ import annotations

import argparse
import logging

import gokart  # type: ignore[import-not-found]
import luigi  # type: ignore[import-not-found]

_SELECT = """
SELECT i.invitation_id, i.candidate_id, i.job_id, i.sent_at, c.region, c.years_experience, c.skill_score,
  c.desired_hourly_rate, CAST(c.lives_abroad AS INT) AS lives_abroad, c.last_active_days, j.category,
  j.hourly_rate_min, j.hourly_rate_max, j.required_experience, CAST(j.remote AS INT) AS remote, j.company_size,
  j.hourly_rate_max - c.desired_hourly_rate AS rate_gap, c.years_experience - j.required_experience AS experience_gap,
  DATE_DIFF('DAY', c.signup_date, CAST(i.sent_at AS DATE)) AS tenure_days{target}
FROM invitations AS i JOIN candidates AS c ON c.candidate_id = i.candidate_id JOIN job_posts AS j ON j.job_id = i.job_id
"""
TRAIN_SQL = (
    _SELECT.format(target=", CAST(i.accepted AS INT) AS accepted")
    + "WHERE i.sent_at >= CAST(CAST('2026-05-01' AS DATE) + INTERVAL (-180) DAY AS TIMESTAMP)"
    + " AND i.sent_at < CAST(CAST('2026-05-01' AS DATE) AS TIMESTAMP) ORDER BY i.invitation_id"
)
SCORE_SQL = (
    _SELECT.format(target="")
    + "WHERE i.sent_at >= CAST(CAST('2026-05-01' AS DATE) AS TIMESTAMP)"
    + " AND i.sent_at < CAST(CAST('2026-05-01' AS DATE) + INTERVAL 30 DAY AS TIMESTAMP) ORDER BY i.invitation_id"
)
TARGET = "accepted"
CATEGORICAL = ["region", "category", "company_size"]
NUMERIC = [
    "years_experience",
    "skill_score",
    "desired_hourly_rate",
    "lives_abroad",
    "last_active_days",
    "hourly_rate_min",
    "hourly_rate_max",
    "required_experience",
    "remote",
    "rate_gap",
    "experience_gap",
    "tenure_days",
]
HYPERPARAMETERS = {"max_iter": 200, "learning_rate": 0.1, "max_leaf_nodes": 31, "early_stopping": False}
SEED = 42


class _Base(gokart.TaskOnKart):  # type: ignore[misc]
    warehouse = luigi.Parameter()


def _query(warehouse: str, sql: str):
    import duckdb

    con = duckdb.connect(warehouse, read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


class ExtractTrain(_Base):
    def output(self):
        return self.make_target("extract/train.parquet")

    def run(self):
        self.dump(_query(self.warehouse, TRAIN_SQL))


class ExtractScore(_Base):
    def output(self):
        return self.make_target("extract/score.parquet")

    def run(self):
        self.dump(_query(self.warehouse, SCORE_SQL))


class Train(_Base):
    def requires(self):
        return self.clone(ExtractTrain)

    def output(self):
        return self.make_target("train/model.pkl")

    def run(self):
        import numpy as np
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import train_test_split
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OrdinalEncoder

        df = self.load()
        x, y = df[CATEGORICAL + NUMERIC], df[TARGET].to_numpy()
        train_idx, valid_idx = train_test_split(np.arange(len(df)), test_size=0.2, random_state=SEED, stratify=y)
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan, dtype=np.float64
        )
        model = Pipeline(
            [
                ("encode", ColumnTransformer([("categorical", encoder, CATEGORICAL)], remainder="passthrough")),
                (
                    "model",
                    HistGradientBoostingClassifier(
                        **HYPERPARAMETERS, random_state=SEED, categorical_features=list(range(len(CATEGORICAL)))
                    ),
                ),
            ]
        )
        model.fit(x.iloc[train_idx], y[train_idx])
        auc = roc_auc_score(y[valid_idx], model.predict_proba(x.iloc[valid_idx])[:, 1])
        self.dump({"model": model, "roc_auc": float(auc)})


class Score(_Base):
    def requires(self):
        return {"model": self.clone(Train), "data": self.clone(ExtractScore)}

    def output(self):
        return self.make_target("score/predictions.parquet")

    def run(self):
        import pandas as pd

        model = self.load("model")["model"]
        df = self.load("data")
        proba = model.predict_proba(df[CATEGORICAL + NUMERIC])
        self.dump(
            pd.DataFrame(
                {
                    "invitation_id": df["invitation_id"].to_numpy(),
                    "prediction": model.classes_[proba.argmax(axis=1)],
                    "score": proba[:, 1],
                }
            )
        )


class Check(_Base):
    def requires(self):
        return {"predictions": self.clone(Score), "data": self.clone(ExtractScore)}

    def output(self):
        return self.make_target("check/report.pkl")

    def run(self):
        df = self.load("data")
        nulls = df.isna().mean()
        self.dump(
            {
                "rows": len(df),
                "prediction_rows": len(self.load("predictions")),
                "null_fraction": {c: float(v) for c, v in nulls.items()},
            }
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--warehouse", required=True)
    args = parser.parse_args()
    luigi.configuration.get_config().set("TaskOnKart", "workspace_directory", args.workspace)
    gokart.build(Check(warehouse=args.warehouse), return_value=False, log_level=logging.ERROR)


if __name__ == "__main__":
    main()
