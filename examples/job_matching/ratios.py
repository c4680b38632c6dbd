"""A helper the feature step imports: its code is part of that step's cache key (imports are followed)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def safe_ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """``numerator / denominator``, NaN where the denominator is 0 or missing."""
    den = denominator.astype("float64").replace(0.0, np.nan)
    return numerator.astype("float64") / den
