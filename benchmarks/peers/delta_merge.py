#!/usr/bin/env python3
"""Peer: deltalake (delta-rs). load: write the full load as a Delta table,
streamed file by file.
merge: one MERGE of the latest change per key (delete when matched and D,
update when matched, insert when not matched and not D).

Usage: delta_merge.py WORKDIR load|merge"""
import os
import sys

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake

import common


def main():
    workdir, phase = sys.argv[1], sys.argv[2]
    path = os.path.join(workdir, "peers", "delta", "orders")
    if phase == "load":
        os.makedirs(path, exist_ok=True)
        write_deltalake(path, common.stream_load(workdir), mode="overwrite")
        return
    upserts, deletes = common.read_changes(workdir)
    src = pa.concat_tables([
        upserts.append_column("_del", pa.array([False] * upserts.num_rows)),
        pa.table({n: pa.nulls(len(deletes), t) if n != "id" else deletes for n, t in common.COLUMNS}).append_column(
            "_del", pa.array([True] * len(deletes))),
    ])
    cols = {n: f"s.{n}" for n, _ in common.COLUMNS}
    (DeltaTable(path).merge(src, predicate="t.id = s.id", source_alias="s", target_alias="t")
        .when_matched_delete(predicate="s._del")
        .when_matched_update(updates=cols, predicate="NOT s._del")
        .when_not_matched_insert(updates=cols, predicate="NOT s._del")
        .execute())


if __name__ == "__main__":
    main()
