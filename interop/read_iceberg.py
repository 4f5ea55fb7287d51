#!/usr/bin/env python3
"""Read an Iceberg table written by lakemerge with pyiceberg, independently of
lakemerge's own code, and print its rows as JSON lines sorted by the key.

Usage:
  read_iceberg.py sqlite CATALOG_DB WAREHOUSE_URI DATABASE.TABLE KEY[,KEY...] [COLUMN,...]
  read_iceberg.py glue ENDPOINT_URL DATABASE.TABLE KEY[,KEY...] [COLUMN,...]

sqlite: pyiceberg's SqlCatalog on the same SQLite file, opened under the
catalog name lakemerge writes ("lakemerge"). glue: pyiceberg's GlueCatalog
against a Glue API endpoint (the moto server in tests), with S3 at the same
endpoint; credentials from the environment. With COLUMNs, only those columns
are printed. Values are rendered so that the Go side can compare them with
its reference model: decimals as their exact text, dates and timestamps in
ISO form, binary as hex, NULL as null. The system column _seq is left out.
"""
import datetime
import decimal
import json
import sys


def render(v):
    if v is None:
        return None
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    return v


def catalog(args):
    kind = args.pop(0)
    if kind == "sqlite":
        from pyiceberg.catalog.sql import SqlCatalog
        db, warehouse = args.pop(0), args.pop(0)
        return SqlCatalog("lakemerge", uri=f"sqlite:///{db}", warehouse=warehouse)
    if kind == "glue":
        from pyiceberg.catalog.glue import GlueCatalog
        ep = args.pop(0)
        return GlueCatalog("glue", **{
            "glue.endpoint": ep, "glue.region": "us-east-1",
            "s3.endpoint": ep, "s3.region": "us-east-1",
        })
    sys.exit(f"unknown catalog kind {kind!r}")


def main():
    args = sys.argv[1:]
    cat = catalog(args)
    name, keys = args[0], args[1].split(",")
    columns = args[2].split(",") if len(args) > 2 else None
    tbl = cat.load_table(name)
    fmt = tbl.metadata.format_version
    if fmt != 2:
        sys.exit(f"table {name} has format version {fmt}, want 2 (Athena reads v2)")
    rows = tbl.scan().to_arrow().to_pylist()
    out = []
    for r in rows:
        r.pop("_seq", None)
        out.append({k: render(v) for k, v in r.items() if columns is None or k in columns})
    out.sort(key=lambda r: tuple(r[k] for k in keys))
    for r in out:
        print(json.dumps(r, sort_keys=True, ensure_ascii=False))


if __name__ == "__main__":
    main()
