"""The config JSON embedded in the Lambda asset (written by ``stepml.cloud.bundle.stage_asset``)."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

CONFIG_FILE = "stepml_cloud.json"


@lru_cache(maxsize=1)
def load_config(path: str | None = None) -> dict[str, Any]:
    """The asset's config: ``STEPML_CLOUD_CONFIG`` if set, else ``stepml_cloud.json`` at the asset root."""
    where = path or os.environ.get("STEPML_CLOUD_CONFIG") or str(Path(__file__).resolve().parents[3] / CONFIG_FILE)
    data: dict[str, Any] = json.loads(Path(where).read_text())
    return data
