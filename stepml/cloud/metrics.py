"""The CloudWatch metric conventions shared by the local evaluator and the cloud alarms (pure).

Namespace ``stepml``; every metric carries ``Pipeline``; per-step series add ``Step``, per-column series (null
fraction, drift) add ``Feature`` - as ``monitoring/metrics.py`` publishes them (EMF, with and without ``Step``).
An alarm declared in pipeline.yaml (``alarms:``) watches ``namespace/metric`` with
``{"Pipeline": <name>, **alarm.dimensions}`` - exactly those dimensions, the set the local evaluator reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stepml.spec import AlarmSpec, PipelineSpec

NAMESPACE = "stepml"
PIPELINE = "Pipeline"
STEP = "Step"
FEATURE = "Feature"


def alarm_dimensions(spec: PipelineSpec, alarm: AlarmSpec) -> dict[str, str]:
    """The dimensions of the metric an alarm declared in the spec watches."""
    return {PIPELINE: spec.name, **alarm.dimensions}
