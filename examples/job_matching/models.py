"""The team's own models, as stepml runs them (``models.<name>.factory`` / ``models.<name>.trainer``).

Factories return an unfitted scikit-learn pipeline; their hyperparameters are their keyword arguments:
``logistic`` (imputation, scaling, one-hot encoding, a logistic regression) and ``text_logistic`` (TF-IDF of the
text columns beside the same numeric and categorical handling). Trainers are for models that are not scikit-learn
estimators: ``LeastSquares`` (a ridge regression solved with numpy, saved as JSON) and ``LightGBMTrainer``
(LightGBM's own ``lgb.train`` API, saved in LightGBM's text format).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def logistic(numeric: list[str], categorical: list[str], C: float = 1.0, max_iter: int = 500) -> Any:  # noqa: N803
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numbers = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categories = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
            ("encode", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    columns = ColumnTransformer([("numeric", numbers, numeric), ("categorical", categories, categorical)])
    return Pipeline([("columns", columns), ("model", LogisticRegression(C=C, max_iter=max_iter))])


def text_logistic(
    text: list[str], numeric: list[str], categorical: list[str], C: float = 1.0, min_df: int = 2,  # noqa: N803
    max_features: int = 5000, ngram_max: int = 2,
) -> Any:  # fmt: skip
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    base = logistic(numeric, categorical).steps[0][1]  # the numeric and categorical columns, as in logistic()
    words = [
        (f"text_{c}", TfidfVectorizer(min_df=min_df, max_features=max_features, ngram_range=(1, ngram_max)), c)
        for c in text
    ]
    columns = ColumnTransformer([*base.transformers, *words])
    return Pipeline([("columns", columns), ("model", LogisticRegression(C=C, max_iter=1000))])


class LightGBMTrainer:
    """Binary classification with LightGBM's native API: categoricals as pandas categories, early stopping on the
    validation rows."""

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame, model_dir: Path, *, num_boost_round: int = 200,
            learning_rate: float = 0.05, num_leaves: int = 31, early_stopping_rounds: int = 20) -> None:  # fmt: skip
        import lightgbm as lgb

        target = train.columns[-1]
        x, y = _lgb_frame(train.drop(columns=[target])), train[target].astype(int)
        xv, yv = _lgb_frame(validation.drop(columns=[target])), validation[target].astype(int)
        params = {"objective": "binary", "learning_rate": learning_rate, "num_leaves": num_leaves, "verbose": -1,
                  "seed": 0, "num_threads": 1}  # fmt: skip
        booster = lgb.train(
            params,
            lgb.Dataset(x, y),
            num_boost_round=num_boost_round,
            valid_sets=[lgb.Dataset(xv, yv)],
            callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)],
        )
        booster.save_model(str(model_dir / "model.txt"))
        (model_dir / "columns.json").write_text(json.dumps({"columns": list(x.columns)}))

    def load(self, model_dir: Path) -> Any:
        import lightgbm as lgb

        return _Booster(lgb.Booster(model_file=str(model_dir / "model.txt")))


def _lgb_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for name in out.columns:
        if out[name].dtype == object:
            out[name] = out[name].astype("category")
    return out


class _Booster:
    classes_ = np.array([0, 1])

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        p = np.asarray(self.booster.predict(_lgb_frame(frame)))
        return np.c_[1 - p, p]

    def predict(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        return (self.predict_proba(frame)[:, 1] > 0.5).astype(int)


class LeastSquares:
    """Ridge regression on the numeric features, solved in closed form; missing values become the column mean."""

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame, model_dir: Path, *, alpha: float = 1.0) -> None:
        target = train.columns[-1]  # stepml passes the prepared features, then the target
        x = train.drop(columns=[target]).select_dtypes("number")
        means = x.mean()
        a = np.c_[np.ones(len(x)), x.fillna(means).to_numpy()]
        coef = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ train[target].to_numpy(dtype=float))
        (model_dir / "coefficients.json").write_text(
            json.dumps({"columns": list(x.columns), "means": means.tolist(), "coef": coef.tolist(), "alpha": alpha})
        )

    def load(self, model_dir: Path) -> Any:
        return _Linear(json.loads((model_dir / "coefficients.json").read_text()))


class _Linear:
    def __init__(self, saved: dict[str, Any]) -> None:
        self.saved = saved

    def predict(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        x = frame[self.saved["columns"]].astype(float).fillna(pd.Series(self.saved["means"], self.saved["columns"]))
        return np.c_[np.ones(len(x)), x.to_numpy()] @ np.asarray(self.saved["coef"])
