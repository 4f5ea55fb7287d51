#!/usr/bin/env python3
"""Time what a reader pays for a table's files and count what it opens.

Iceberg: DuckDB's iceberg_scan and pyiceberg each run SELECT count(*) and
a filtered scan (an id range of 1% of the keys, summing a column), best
of 3 each; the metadata is counted: snapshots in the metadata file, data
and delete manifests in the current snapshot's manifest list. Delta:
deltalake (a pyarrow dataset) runs the same two queries. Prints one JSON
object: {"count": n, "count_s": t, "filter_rows": m, "filter_s": t, ...}
(Iceberg adds "py_count_s", "py_filter_s", "snapshots", "data_manifests",
"delete_manifests"). Used by benchmarks/maintain.sh.

Usage: maintain_query.py iceberg METADATA_JSON MAX_ID
       maintain_query.py delta TABLE_DIR MAX_ID
"""
import glob
import json
import os
import sys
import time


def duckdb_con():
    import duckdb
    import duckdb_extension_avro
    import duckdb_extension_iceberg

    con = duckdb.connect(config={"allow_unsigned_extensions": True})
    for mod, name in ((duckdb_extension_avro, "avro"), (duckdb_extension_iceberg, "iceberg")):
        ext = glob.glob(os.path.join(os.path.dirname(mod.__file__), "extensions", "*", name + ".duckdb_extension"))
        con.execute(f"LOAD '{ext[0]}'")
    return con


def best(f, n=3):
    out, ts = None, []
    for _ in range(n):
        t = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t)
    return out, min(ts)


def iceberg(where, lo, hi):
    from pyiceberg.manifest import ManifestContent
    from pyiceberg.table import StaticTable
    import pyarrow.compute as pc

    con = duckdb_con()
    count, count_s = best(lambda: con.execute("SELECT count(*) FROM iceberg_scan(?)", [where]).fetchone()[0])
    (rows, _), filter_s = best(lambda: con.execute(
        "SELECT count(*), sum(qty) FROM iceberg_scan(?) WHERE id BETWEEN ? AND ?", [where, lo, hi]).fetchone())

    def py_count():
        return StaticTable.from_metadata(where).scan().count()

    def py_filter():
        t = StaticTable.from_metadata(where).scan(
            row_filter=f"id >= {lo} and id <= {hi}", selected_fields=("id", "qty")).to_arrow()
        return t.num_rows, pc.sum(t["qty"]).as_py()

    py_count_n, py_count_s = best(py_count)
    (py_rows, _), py_filter_s = best(py_filter)
    if (py_count_n, py_rows) != (count, rows):
        sys.exit(f"pyiceberg read {py_count_n} rows, {py_rows} filtered; DuckDB {count}, {rows}")
    tbl = StaticTable.from_metadata(where)
    mans = tbl.current_snapshot().manifests(tbl.io)
    return {"count": count, "count_s": round(count_s, 4), "filter_rows": rows, "filter_s": round(filter_s, 4),
            "py_count_s": round(py_count_s, 4), "py_filter_s": round(py_filter_s, 4),
            "snapshots": len(tbl.metadata.snapshots),
            "data_manifests": sum(m.content == ManifestContent.DATA for m in mans),
            "delete_manifests": sum(m.content == ManifestContent.DELETES for m in mans)}


def delta(where, lo, hi):
    import deltalake
    import pyarrow.compute as pc

    def count_all():
        return deltalake.DeltaTable(where).to_pyarrow_dataset().count_rows()

    def filtered():
        ds = deltalake.DeltaTable(where).to_pyarrow_dataset()
        t = ds.to_table(columns=["id", "qty"], filter=(pc.field("id") >= lo) & (pc.field("id") <= hi))
        return t.num_rows, pc.sum(t["qty"]).as_py()

    count, count_s = best(count_all)
    (rows, _), filter_s = best(filtered)
    return {"count": count, "count_s": round(count_s, 4), "filter_rows": rows, "filter_s": round(filter_s, 4)}


def main():
    kind, where, max_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lo, hi = max_id // 2, max_id // 2 + max_id // 100
    print(json.dumps(iceberg(where, lo, hi) if kind == "iceberg" else delta(where, lo, hi)))


main()
