#!/usr/bin/env python3
"""Reads the result table of one tool and prints {"rows": N, "digest": HEX}:
a digest of the rows sorted by id, every value rendered as text, so that the
harness can check that every tool produced the same table.

Usage: digest.py WORKDIR lakemerge|pyiceberg|delta|spark"""
import hashlib
import json
import os
import sys

import pyarrow as pa
import pyarrow.compute as pc

import common


def read(workdir, tool):
    if tool in ("delta", "spark"):
        from deltalake import DeltaTable
        return DeltaTable(os.path.join(workdir, "peers", tool, "orders")).to_pyarrow_table()
    from pyiceberg.catalog.sql import SqlCatalog
    if tool == "lakemerge":
        cat = SqlCatalog("lakemerge", uri=f"sqlite:///{workdir}/catalog.db", warehouse=f"file://{workdir}/warehouse")
    else:
        d = os.path.join(workdir, "peers", "pyiceberg")
        cat = SqlCatalog("bench", uri=f"sqlite:///{d}/catalog.db", warehouse=f"file://{d}/warehouse")
    return cat.load_table("bench.orders").scan().to_arrow()


def main():
    workdir, tool = sys.argv[1], sys.argv[2]
    t = read(workdir, tool)
    names = [n for n, _ in common.COLUMNS]
    t = t.select(names).cast(common.SCHEMA).sort_by("id")
    cols = [pc.fill_null(pc.cast(t[n], pa.string()), "\x00") for n in names]
    lines = pc.binary_join_element_wise(*cols, "|").combine_chunks()
    h = hashlib.sha256()
    _, offsets, data = lines.buffers()
    n = len(lines)
    h.update(offsets.to_pybytes()[: (n + 1) * 4])
    end = int.from_bytes(offsets.to_pybytes()[n * 4:(n + 1) * 4], "little")
    h.update(data.to_pybytes()[:end])
    print(json.dumps({"rows": t.num_rows, "digest": h.hexdigest()}))


if __name__ == "__main__":
    main()
