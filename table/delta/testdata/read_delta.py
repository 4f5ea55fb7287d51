"""Reads a Delta table written by lakemerge with two readers nobody here
wrote, for the interop test of package table/delta.

Usage: read_delta.py TABLE_DIR KEY_COLUMN

deltalake (delta-rs) replays the log and reads the table
(DeltaTable(path).to_pyarrow_table()); DuckDB reads the live Parquet files
that deltalake lists, as plain Parquet (partition columns from the files,
which lakemerge writes them in, not from their folder names). Both must
give the same rows, or the script exits 1. It prints one JSON object: the table version, the
lakemerge txn version, the number of history entries, and the rows sorted
by KEY_COLUMN, each value in a canonical form (decimals and timestamps as
strings, binary as hex, timestamps in UTC without zone).
"""

import datetime
import os
import decimal
import json
import sys

import deltalake
import duckdb


def canon(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return v.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    raise TypeError(f"no canonical form for {type(v).__name__}")


def rows_of(table, key):
    rows = [{k: canon(v) for k, v in r.items()} for r in table.to_pylist()]
    rows.sort(key=lambda r: r[key])
    return rows


def main():
    path, key = sys.argv[1], sys.argv[2]
    dt = deltalake.DeltaTable(path)
    tbl = dt.to_pyarrow_table()
    rows = rows_of(tbl, key)

    files = dt.file_uris()
    if files:
        con = duckdb.connect()
        cols = ", ".join('"' + n + '"' for n in tbl.column_names)
        rel = con.sql(f"SELECT {cols} FROM read_parquet(?, union_by_name = true, hive_partitioning = false)", params=[files])
        duck = rows_of(rel.to_arrow_table(), key)
    else:
        duck = []
    if duck != rows:
        print(f"duckdb and deltalake disagree: {len(duck)} vs {len(rows)} rows", file=sys.stderr)
        for a, b in zip(duck, rows):
            if a != b:
                print(f"  duckdb:    {a}\n  deltalake: {b}", file=sys.stderr)
                break
        sys.exit(1)

    out = {
        "version": dt.version(),
        "txn": dt.transaction_version("lakemerge"),
        "history": len(dt.history()),
        "rows": rows,
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
    # Skip interpreter teardown: delta-rs's runtime threads can abort the
    # process while being torn down after the output was printed.
    sys.stdout.flush()
    os._exit(0)
