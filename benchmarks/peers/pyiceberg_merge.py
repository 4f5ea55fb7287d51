#!/usr/bin/env python3
"""Peer: pyiceberg. load: create the table and append the full load.
merge: delete the deleted keys and Table.upsert the rest (pyiceberg's
documented upsert), in two commits, as a pyiceberg user would.

Usage: pyiceberg_merge.py WORKDIR load|merge"""
import os
import sys

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import In

import common


def catalog(workdir):
    d = os.path.join(workdir, "peers", "pyiceberg")
    os.makedirs(d, exist_ok=True)
    return SqlCatalog("bench", uri=f"sqlite:///{d}/catalog.db", warehouse=f"file://{d}/warehouse")


def main():
    workdir, phase = sys.argv[1], sys.argv[2]
    cat = catalog(workdir)
    if phase == "load":
        cat.create_namespace_if_not_exists("bench")
        tbl = cat.create_table("bench.orders", schema=common.SCHEMA)
        tbl.append(common.read_load(workdir).cast(common.SCHEMA))
        return
    tbl = cat.load_table("bench.orders")
    upserts, deletes = common.read_changes(workdir)
    if len(deletes):
        tbl.delete(In("id", deletes.to_pylist()))
    tbl.upsert(upserts, join_cols=["id"])


if __name__ == "__main__":
    main()
