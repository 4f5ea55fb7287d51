#!/usr/bin/env python3
"""Reads the result table of one tool and prints {"rows": N, "digest": HEX}:
a SHA-256 of the rows sorted by id, each row rendered as its values as text
joined by "|" and ended by a newline, so that the harness can check that
every tool produced the same table.

The table is read batch by batch. A table with more ids than fit one sort
(RANGE rows) is first split by id range into temporary Parquet files beside
WORKDIR, then each range is sorted and hashed in order, so memory stays
bounded whatever the table's size; the digest does not depend on the split.

Usage: digest.py WORKDIR lakemerge|pyiceberg|delta|spark"""
import hashlib
import json
import os
import shutil
import sys
import tempfile

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import common

# Ids per sort; LMBENCH_DIGEST_RANGE sets it (to test that the split does not matter).
RANGE = int(os.environ.get("LMBENCH_DIGEST_RANGE", 4_000_000))


def batches(workdir, tool):
    if tool in ("delta", "spark"):
        from deltalake import DeltaTable
        return DeltaTable(os.path.join(workdir, "peers", tool, "orders")).to_pyarrow_dataset().to_batches()
    from pyiceberg.catalog.sql import SqlCatalog
    if tool == "lakemerge":
        cat = SqlCatalog("lakemerge", uri=f"sqlite:///{workdir}/catalog.db", warehouse=f"file://{workdir}/warehouse")
    else:
        d = os.path.join(workdir, "peers", "pyiceberg")
        cat = SqlCatalog("bench", uri=f"sqlite:///{d}/catalog.db", warehouse=f"file://{d}/warehouse")
    return cat.load_table("bench.orders").scan().to_arrow_batch_reader()


def max_id(workdir):
    """An upper bound of the ids: the load's keys plus every insert of the
    largest change set (workload.json of lmbench gen)."""
    with open(os.path.join(workdir, "workload.json")) as f:
        wl = json.load(f)
    sets = wl.get("Sets") or [wl["Result"]]
    return wl["Spec"]["BaseRows"] + max(s["Inserts"] for s in sets)


def update(h, t):
    """Hashes table t's rows in id order."""
    names = [n for n, _ in common.COLUMNS]
    t = t.select(names).cast(common.SCHEMA).sort_by("id")
    if t.num_rows == 0:
        return
    cols = [pc.fill_null(pc.cast(t[n], pa.string()), "\x00") for n in names]
    lines = pc.binary_join_element_wise(*cols, pa.scalar("\n"), "|").combine_chunks()
    _, offsets, data = lines.buffers()
    off = memoryview(offsets).cast("i")
    h.update(memoryview(data)[off[lines.offset]:off[lines.offset + len(lines)]])


def main():
    workdir, tool = sys.argv[1], sys.argv[2]
    names = [n for n, _ in common.COLUMNS]
    h = hashlib.sha256()
    rows = 0
    ranges = max_id(workdir) // RANGE + 1
    if ranges == 1:
        parts = [pa.Table.from_batches(list(batches(workdir, tool)))]
        rows = parts[0].num_rows
        update(h, parts[0])
    else:
        tmp = tempfile.mkdtemp(prefix="digest-", dir=workdir)
        try:
            writers = {}
            for b in batches(workdir, tool):
                b = pa.Table.from_batches([b]).select(names).cast(common.SCHEMA)
                rows += b.num_rows
                part = pc.divide(b["id"], RANGE)
                for p in pc.unique(part).to_pylist():
                    if p not in writers:
                        writers[p] = pq.ParquetWriter(os.path.join(tmp, f"{p}.parquet"), common.SCHEMA)
                    writers[p].write_table(b.filter(pc.equal(part, p)))
            for w in writers.values():
                w.close()
            for p in sorted(writers):
                update(h, pq.read_table(os.path.join(tmp, f"{p}.parquet")))
        finally:
            shutil.rmtree(tmp)
    print(json.dumps({"rows": rows, "digest": h.hexdigest()}))


if __name__ == "__main__":
    main()
