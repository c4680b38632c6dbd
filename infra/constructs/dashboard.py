"""The pipeline dashboard: executions and their duration, null fractions, drift, row counts, the model metric.

Only series something publishes: Step Functions' ``AWS/States`` per state machine, and what a check step's commit
sends (``monitoring.metrics``: ``Pipeline`` [+ ``Step``] [+ ``Feature``]); a test holds the two equal."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from constructs import Construct

from infra.constructs.alarms import execution_metric
from stepml.cloud.metrics import FEATURE, NAMESPACE, PIPELINE, STEP
from stepml.spec import Pipeline, PipelineSpec


def _metric(spec: PipelineSpec, name: str, stat: str, **dims: str) -> cw.Metric:
    return cw.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={PIPELINE: spec.name, **dims},
        statistic=stat,
        period=Duration.days(1),
        label=next(iter(dims.values()), name),
    )


class PipelineDashboard(Construct):
    def __init__(self, scope: Construct, id_: str, *, pipeline: Pipeline, name: str, state_machine_arn: str) -> None:
        super().__init__(scope, id_)
        spec = pipeline.spec
        columns = [*spec.model.features] if spec.model else []
        # the metrics a check step publishes carry its name as Step
        data_steps = [n for n, t in pipeline.types.items() if "RowCount" in t.metrics]

        def graph(title: str, metrics: list[cw.IMetric], width: int = 12) -> cw.GraphWidget:
            return cw.GraphWidget(title=title, left=metrics, width=width, height=6)

        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=name, default_interval=Duration.days(30))
        self.dashboard.add_widgets(
            graph(
                "Executions",
                [
                    execution_metric(state_machine_arn, m, Duration.hours(1))
                    for m in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut")
                ],
            ),
            graph(
                "Execution time (ms)",
                [
                    execution_metric(state_machine_arn, "ExecutionTime", Duration.hours(1)).with_(statistic=stat)
                    for stat in ("Average", "Maximum")
                ],
            ),
        )
        self.dashboard.add_widgets(
            graph(
                "Null fraction per column", [_metric(spec, "NullFraction", "Maximum", **{FEATURE: c}) for c in columns]
            ),
            graph("Drift per feature", [_metric(spec, "DriftScore", "Maximum", **{FEATURE: f}) for f in columns]),
        )
        self.dashboard.add_widgets(
            graph("Row counts", [_metric(spec, "RowCount", "Minimum", **{STEP: s}) for s in data_steps]),
            graph(
                f"Model metric ({spec.model.metric if spec.model else 'none'})",
                [_metric(spec, "ValidationMetric", "Maximum")],
            ),
        )
