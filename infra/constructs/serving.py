"""Where an online test's serving side reads its lists in AWS: a Glue table per experiment over the published
serving tables (``serving/<experiment>/served_date=<day>/``, written by the serve step's commit), partitioned by
day with Athena's partition projection - no crawler, no partition to register
(https://docs.aws.amazon.com/athena/latest/ug/partition-projection-supported-types.html).

Query it as ``SELECT * FROM <database>.<experiment> WHERE served_date = '2026-05-01'``; ``serving_run`` tells the
serves of one day apart, ``serving/<experiment>/latest.json`` names the latest.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stepml.experiments.record import serving_prefix
from stepml.spec import Pipeline

PARTITION = "served_date"  # "date" is reserved in Athena's SQL


def database_name(stage: str, pipeline: str) -> str:
    """``stepml_<stage>_<pipeline>_serving`` (Glue names: lower case, digits and ``_``); one per stage."""
    return f"stepml_{stage}_{pipeline}_serving".replace("-", "_")


def table_name(experiment: str) -> str:
    return experiment.replace("-", "_")


def columns(unit: str, item: str | None) -> list[tuple[str, str]]:
    """The published table's schema (``steps.serve.entry.published``): ids as strings."""
    ids = [(unit, "string"), *([(item, "string")] if item else [])]
    return [
        *ids,
        ("rank", "bigint"),
        ("score", "double"),
        ("variant", "string"),
        ("served_variant", "string"),
        ("in_experiment", "boolean"),
        ("fallback", "boolean"),
        ("team", "string"),
        ("experiment", "string"),
        ("serving_run", "string"),
    ]


class ServingTables(Construct):
    def __init__(self, scope: Construct, id_: str, *, pipeline: Pipeline, bucket: s3.IBucket, stage: str) -> None:
        super().__init__(scope, id_)
        served = sorted({str(getattr(s, "experiment", "")) for s in pipeline.steps.values() if s.type == "serve"})
        self.tables: dict[str, glue.CfnTable] = {}
        self.database_name = database_name(stage, pipeline.name)
        if not served:
            return
        account = Stack.of(self).account
        database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name, description=f"stepml: online tests of {pipeline.name} ({stage})"
            ),
        )
        for name in served:
            exp = pipeline.spec.experiments[name]
            location = f"s3://{bucket.bucket_name}/{serving_prefix(name)}/"
            table = glue.CfnTable(
                self,
                f"Table{table_name(name).title().replace('_', '')}",
                catalog_id=account,
                database_name=self.database_name,
                table_input=glue.CfnTable.TableInputProperty(
                    name=table_name(name),
                    description=f"stepml: the serving table of experiment {name}",
                    table_type="EXTERNAL_TABLE",
                    partition_keys=[glue.CfnTable.ColumnProperty(name=PARTITION, type="string")],
                    parameters={
                        "classification": "parquet",
                        "projection.enabled": "true",
                        f"projection.{PARTITION}.type": "date",
                        f"projection.{PARTITION}.format": "yyyy-MM-dd",
                        f"projection.{PARTITION}.range": "2020-01-01,NOW",
                        f"projection.{PARTITION}.interval": "1",
                        f"projection.{PARTITION}.interval.unit": "DAYS",
                        "storage.location.template": f"{location}{PARTITION}=${{{PARTITION}}}/",
                    },
                    storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                        location=location,
                        columns=[glue.CfnTable.ColumnProperty(name=c, type=t) for c, t in columns(exp.unit, exp.item)],
                        input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                        output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                        serde_info=glue.CfnTable.SerdeInfoProperty(
                            serialization_library="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                        ),
                    ),
                ),
            )
            table.add_dependency(database)
            self.tables[name] = table
