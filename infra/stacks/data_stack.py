"""Data: the artifact bucket, the lock table, the Athena workgroup."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import InfraConfig
from infra.constructs.artifact_store import ArtifactStore
from infra.constructs.lock_table import LockTable
from infra.constructs.warehouse import AthenaWorkgroup, RedshiftUnloadWriter


class DataStack(Stack):
    def __init__(self, scope: Construct, id_: str, *, config: InfraConfig, **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        self.store = ArtifactStore(self, "Artifacts", retain=config.retain_data)
        self.locks = LockTable(self, "Locks", retain=config.retain_data)
        athena = config.pipeline.spec.warehouse.athena
        self.workgroup: AthenaWorkgroup | None = None
        if config.pipeline.spec.warehouse.engine == "athena":
            name = athena.workgroup if athena else "primary"
            if name != "primary":  # the stack creates it: one per stage (names are unique in an account and region)
                name = f"{name}-{config.stage}"
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
        CfnOutput(self, "ArtifactBucketName", value=self.store.bucket.bucket_name)
        CfnOutput(self, "LockTableName", value=self.locks.table.table_name)
