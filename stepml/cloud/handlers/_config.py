"""The config JSON embedded in the Lambda asset (written by ``stepml.cloud.bundle.stage_asset``), and the step
types' cloud facets it names."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
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


def type_facet(config: Mapping[str, Any], step: str) -> Any:
    """The cloud facet module of ``step``'s type (standard library + boto3; bundled in the asset)."""
    return importlib.import_module(config["types"][config["steps"][step]["type"]])
