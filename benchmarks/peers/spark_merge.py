#!/usr/bin/env python3
"""Peer: Apache Spark with Delta Lake MERGE INTO — the shape of the AWS Glue
job lakemerge replaces. load: write the full load as a Delta table. merge:
read the changes, keep the latest per key (row_number over file and row
order), and MERGE INTO the table (delete when matched and D, update when
matched, insert when not matched and not D).

Usage: spark_merge.py WORKDIR load|merge

Runs Spark locally (local[*]) with delta-spark; the Delta jars come from
Maven Central the first time (Ivy cache)."""
import os
import sys

from delta import configure_spark_with_delta_pip
from delta.tables import DeltaTable
from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (DecimalType, IntegerType, LongType, StringType, StructField, StructType,
                               TimestampType)

import common

SCHEMA = StructType([
    StructField("id", LongType()), StructField("customer_id", LongType()), StructField("status", StringType()),
    StructField("amount", DecimalType(12, 2)), StructField("qty", IntegerType()),
    StructField("updated_at", TimestampType()), StructField("note", StringType()),
])


def spark():
    b = (SparkSession.builder.master("local[*]").appName("lmbench")
         .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
         .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.driver.memory", "4g")
         .config("spark.ui.enabled", "false"))
    return configure_spark_with_delta_pip(b).getOrCreate()


def read_csv(s, paths, with_op):
    fields = ([StructField("Op", StringType())] if with_op else []) + SCHEMA.fields
    return (s.read.schema(StructType(fields)).option("multiLine", True).option("escape", '"')
            .option("timestampFormat", "yyyy-MM-dd HH:mm:ss.SSSSSS").csv(paths))


def main():
    workdir, phase = sys.argv[1], sys.argv[2]
    path = os.path.join(workdir, "peers", "spark", "orders")
    s = spark()
    if phase == "load":
        read_csv(s, common.load_files(workdir), False).write.format("delta").mode("overwrite").save(path)
        return
    ch = read_csv(s, common.cdc_files(workdir), True)
    ch = ch.withColumn("_file", F.input_file_name()).withColumn("_row", F.monotonically_increasing_id())
    w = Window.partitionBy("id").orderBy(F.col("_file").desc(), F.col("_row").desc())
    latest = ch.withColumn("_rn", F.row_number().over(w)).filter("_rn = 1").drop("_rn", "_file", "_row")
    cols = {c: f"s.{c}" for c in SCHEMA.fieldNames()}
    (DeltaTable.forPath(s, path).alias("t").merge(latest.alias("s"), "t.id = s.id")
        .whenMatchedDelete(condition="s.Op = 'D'")
        .whenMatchedUpdate(condition="s.Op <> 'D'", set=cols)
        .whenNotMatchedInsert(condition="s.Op <> 'D'", values=cols)
        .execute())


if __name__ == "__main__":
    main()
