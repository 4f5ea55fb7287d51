#!/usr/bin/env python3
"""Read a Delta table written by lakemerge with the deltalake package
(delta-rs), independently of lakemerge's own code, and print its rows as JSON
lines sorted by the key, in the form of read_iceberg.py.

Usage: read_delta.py TABLE_URI KEY[,KEY...] [S3_ENDPOINT]
       read_delta.py --duckdb TABLE_DIR KEY[,KEY...]
       read_delta.py --files TABLE_URI [S3_ENDPOINT]

TABLE_URI is a folder path, file:// or s3:// URI; with S3_ENDPOINT the S3
API at that endpoint is used (credentials from the environment). With
--duckdb the table is read by DuckDB's delta extension (delta_scan) instead,
loaded from the duckdb-extension-delta wheel. The system column _seq is left
out. With --files it prints the live data files of the current version
instead, one "PATH RECORDS" line each (the log's add actions, as delta-rs
replays them), sorted.
"""
import datetime
import decimal
import json
import os
import sys

from deltalake import DeltaTable


def render(v):
    if v is None:
        return None
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return v.isoformat()
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    return v


def duckdb_rows(path):
    import glob

    import duckdb
    import duckdb_extension_delta

    ext = glob.glob(os.path.join(os.path.dirname(duckdb_extension_delta.__file__), "extensions", "*", "delta.duckdb_extension"))
    if not ext:
        sys.exit("duckdb-extension-delta has no extension file")
    con = duckdb.connect(config={"allow_unsigned_extensions": True})
    con.execute(f"LOAD '{ext[0]}'")
    return con.execute("SELECT * FROM delta_scan(?)", [path]).to_arrow_table().to_pylist()


def storage_options(endpoint):
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true",
            "AWS_S3_ALLOW_UNSAFE_RENAME": "true", "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"), "AWS_FORCE_PATH_STYLE": "true"}


def main():
    if sys.argv[1] == "--files":
        uri = sys.argv[2]
        opts = storage_options(sys.argv[3]) if len(sys.argv) > 3 else None
        import pyarrow

        # deltalake returns an arro3 table; pyarrow takes it through the
        # Arrow C stream interface.
        adds = pyarrow.table(DeltaTable(uri, storage_options=opts).get_add_actions(flatten=True)).to_pylist()
        for line in sorted(f"{a['path']} {a['num_records']}" for a in adds):
            print(line)
        return
    if sys.argv[1] == "--duckdb":
        path, keys = sys.argv[2], sys.argv[3].split(",")
        print_rows(duckdb_rows(path), keys)
        return
    uri, keys = sys.argv[1], sys.argv[2].split(",")
    opts = storage_options(sys.argv[3]) if len(sys.argv) > 3 else None
    print_rows(DeltaTable(uri, storage_options=opts).to_pyarrow_table().to_pylist(), keys)


def print_rows(rows, keys):
    out = []
    for r in rows:
        r.pop("_seq", None)
        out.append({k: render(v) for k, v in r.items()})
    out.sort(key=lambda r: tuple(r[k] for k in keys))
    for r in out:
        print(json.dumps(r, sort_keys=True, ensure_ascii=False))


if __name__ == "__main__":
    main()
    # Skip interpreter teardown: delta-rs's runtime threads can abort the
    # process while they are torn down ("terminate called without an active
    # exception") after the rows were printed, which would fail the test.
    sys.stdout.flush()
    os._exit(0)
