#!/usr/bin/env python3
"""Read an Iceberg table written by lakemerge with pyiceberg, independently of
lakemerge's own code, and print its rows as JSON lines sorted by the key.

Usage:
  read_iceberg.py sqlite CATALOG_DB WAREHOUSE_URI DATABASE.TABLE KEY[,KEY...] [COLUMN,...]
  read_iceberg.py glue ENDPOINT_URL DATABASE.TABLE KEY[,KEY...] [COLUMN,...]
  read_iceberg.py --duckdb METADATA_JSON KEY[,KEY...]

sqlite: pyiceberg's SqlCatalog on the same SQLite file, opened under the
catalog name lakemerge writes ("lakemerge"). glue: pyiceberg's GlueCatalog
against a Glue API endpoint (the moto server in tests), with S3 at the same
endpoint; credentials from the environment. With COLUMNs, only those columns
are printed. With --duckdb the table (its metadata file, a local path) is
read by DuckDB's iceberg_scan instead, the iceberg and avro extensions
loaded from the duckdb-extension-iceberg and duckdb-extension-avro wheels
(no download at run time). Values are rendered so that the Go side can compare them with
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


def duckdb_rows(metadata):
    import glob
    import os

    import duckdb
    import duckdb_extension_avro
    import duckdb_extension_iceberg

    con = duckdb.connect(config={"allow_unsigned_extensions": True})
    for mod, name in ((duckdb_extension_avro, "avro"), (duckdb_extension_iceberg, "iceberg")):
        ext = glob.glob(os.path.join(os.path.dirname(mod.__file__), "extensions", "*", name + ".duckdb_extension"))
        if not ext:
            sys.exit(f"duckdb-extension-{name} has no extension file")
        con.execute(f"LOAD '{ext[0]}'")
    return con.execute("SELECT * FROM iceberg_scan(?)", [metadata]).to_arrow_table().to_pylist()


def print_rows(rows, keys, columns=None):
    out = []
    for r in rows:
        r.pop("_seq", None)
        out.append({k: render(v) for k, v in r.items() if columns is None or k in columns})
    out.sort(key=lambda r: tuple(r[k] for k in keys))
    for r in out:
        print(json.dumps(r, sort_keys=True, ensure_ascii=False))


def main():
    args = sys.argv[1:]
    if args[0] == "--duckdb":
        print_rows(duckdb_rows(args[1]), args[2].split(","))
        return
    cat = catalog(args)
    name, keys = args[0], args[1].split(",")
    columns = args[2].split(",") if len(args) > 2 else None
    tbl = cat.load_table(name)
    fmt = tbl.metadata.format_version
    if fmt != 2:
        sys.exit(f"table {name} has format version {fmt}, want 2 (Athena reads v2)")
    print_rows(tbl.scan().to_arrow().to_pylist(), keys, columns)


if __name__ == "__main__":
    main()
