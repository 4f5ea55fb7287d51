#!/usr/bin/env python3
"""Read an Iceberg table written by lakemerge with pyiceberg, independently of
lakemerge's own code, and print its rows as JSON lines sorted by the key.

Usage: read_iceberg.py CATALOG_DB WAREHOUSE_URI DATABASE.TABLE KEY[,KEY...] [COLUMN,...]

With COLUMNs, only those columns are printed.

The catalog is pyiceberg's SqlCatalog on the same SQLite file, opened under
the catalog name lakemerge writes ("lakemerge"). Values are rendered so that
the Go side can compare them with its reference model: decimals as their
exact text, dates and timestamps in ISO form, binary as hex, NULL as null.
The system column _seq is left out.
"""
import base64
import datetime
import decimal
import json
import sys

from pyiceberg.catalog.sql import SqlCatalog


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


def main():
    db, warehouse, name, keys = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
    columns = sys.argv[5].split(",") if len(sys.argv) > 5 else None
    cat = SqlCatalog("lakemerge", uri=f"sqlite:///{db}", warehouse=warehouse)
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
