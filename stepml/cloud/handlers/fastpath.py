"""The plan Lambda's look at the cache: when every step the run wants is already committed, the run is done.

A fully cached execution would otherwise enter three states per step (cache check, cache valid?, cached) plus one
per Parallel state. The plan Lambda already runs once per execution: it reads each wanted step's manifest head
(``_manifest.head.json``, the object the envelope's cache check reads) and, when all are valid heads of their
step's key, returns their results; the state machine's ``All cached?`` Choice then skips every step
(``stepml.cloud.asl.machine``): a constant number of transitions, one Lambda invocation.

A head counts only if :func:`stepml.core.manifest.problems` accepts it (schema, pipeline, step, key, an attempt
folder of the step's own) - stricter than the envelope's Choice, so a head the fast path refuses is checked again
by the step's envelope, which recomputes or fails as it always did. Any answer but the object (``NoSuchKey``,
``AccessDenied``, a 5xx) ends the look: the steps' own cache checks decide, and report what they find.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from stepml.core.manifest import problems

_log = logging.getLogger(__name__)

ALL_CACHED_CHOICE = "All cached?"  # the state machine's Choice after Plan: is ``$.plan.cached`` there?
ALL_CACHED = "All cached"  # its Pass: each step's result is the plan's; the notify Lambda reads it by this name

Read = Callable[[str], "bytes | None"]  # an artifact-bucket key -> its bytes, None when absent or unreadable


def cached_results(read: Read, pipeline: str, steps: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """``{step: result}`` as each step's ``cached`` state would give it, when every planned step's head is a valid
    commit of its key; None at the first one that is not (the rest are not read)."""
    results: dict[str, Any] = {}
    for name, entry in steps.items():
        raw = read(str(entry["head_key"]))
        if raw is None:
            return None
        try:
            head = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(head, dict) or problems({**head, "files": []}, pipeline, name, str(entry["key"])):
            return None
        results[name] = {
            "status": "cached",
            "key": head["key"],
            "prefix": head["prefix"],
            "summary": head["summary"],
            "run_id": head["run_id"],
        }
    return results


def s3_reader(s3: Any, bucket: str) -> Read:
    """:data:`Read` on the artifact bucket: a missing key is None; so is any other error, logged (the envelope's
    cache check meets it again and names it)."""

    def read(key: str) -> bytes | None:
        try:
            body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:  # the steps' own cache checks decide and report
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            if code not in ("NoSuchKey", "404"):
                _log.warning(
                    "the fast path could not read s3://%s/%s (%s): the steps check the cache", bucket, key, code
                )
            return None
        return body

    return read
