#!/usr/bin/env python3
"""Read a Delta table written by lakemerge with the deltalake package
(delta-rs), independently of lakemerge's own code, and print its rows as JSON
lines sorted by the key, in the form of read_iceberg.py.

Usage: read_delta.py TABLE_URI KEY[,KEY...] [S3_ENDPOINT]

TABLE_URI is a folder path, file:// or s3:// URI; with S3_ENDPOINT the S3
API at that endpoint is used (credentials from the environment). The
system column _seq is left out.
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


def main():
    uri, keys = sys.argv[1], sys.argv[2].split(",")
    opts = None
    if len(sys.argv) > 3:
        opts = {"AWS_ENDPOINT_URL": sys.argv[3], "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true",
                "AWS_S3_ALLOW_UNSAFE_RENAME": "true", "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"), "AWS_FORCE_PATH_STYLE": "true"}
    rows = DeltaTable(uri, storage_options=opts).to_pyarrow_table().to_pylist()
    out = []
    for r in rows:
        r.pop("_seq", None)
        out.append({k: render(v) for k, v in r.items()})
    out.sort(key=lambda r: tuple(r[k] for k in keys))
    for r in out:
        print(json.dumps(r, sort_keys=True, ensure_ascii=False))


if __name__ == "__main__":
    main()
