"""Data: the artifact bucket, the lock table, the Athena workgroup, the optional exploration notebook."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import InfraConfig
from infra.constructs.artifact_store import ArtifactStore
from infra.constructs.lock_table import LockTable
from infra.constructs.notebook import ExplorationAccess, ExplorationNotebook
from infra.constructs.warehouse import AthenaWorkgroup, RedshiftUnloadWriter


class DataStack(Stack):
    def __init__(self, scope: Construct, id_: str, *, config: InfraConfig, **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        self.store = ArtifactStore(self, "Artifacts", retain=config.retain_data)
        self.locks = LockTable(self, "Locks", retain=config.retain_data)
        athena = config.pipeline.spec.warehouse.athena
        self.workgroup: AthenaWorkgroup | None = None
        if config.pipeline.spec.warehouse.engine == "athena":
            # the stack creates it, one per stage (``stepml.fetch(engine="athena")`` finds it by the same name)
            name = athena.deployed_workgroup(config.stage) if athena else "primary"
            self.workgroup = AthenaWorkgroup(self, "Athena", name=name, results_bucket=self.store.bucket)
        redshift = config.pipeline.spec.warehouse.redshift
        if config.pipeline.spec.warehouse.engine == "redshift" and redshift and redshift.unload_role_arn:
            RedshiftUnloadWriter(
                self,
                "RedshiftUnload",
                role_arn=redshift.unload_role_arn,
                bucket=self.store.bucket,
                prefix=f"{config.name}/steps",
            )
        self.notebook: ExplorationNotebook | None = None
        if config.notebook_spec is not None and config.notebook_spec.kind == "instance":  # studio: pipeline stack
            self.notebook = ExplorationNotebook(
                self,
                "Notebook",
                name=f"{config.prefix}-notebook",
                spec=config.notebook_spec,
                access=ExplorationAccess(
                    bucket=self.store.bucket,
                    athena=athena if config.pipeline.spec.warehouse.engine == "athena" else None,
                    athena_workgroup=self.workgroup.name if self.workgroup else None,
                    warehouse_bucket_arns=config.warehouse_bucket_arns,
                ),
            )
            CfnOutput(self, "NotebookUrl", value=self.notebook.url)
        CfnOutput(self, "ArtifactBucketName", value=self.store.bucket.bucket_name)
        CfnOutput(self, "LockTableName", value=self.locks.table.table_name)
