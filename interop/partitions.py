#!/usr/bin/env python3
"""Report how a partitioned table written by lakemerge is laid out, as
independent readers see it, for the Go tests to check. Prints one JSON object.

Usage:
  partitions.py iceberg CATALOG_DB WAREHOUSE_URI DATABASE.TABLE COLUMN VALUE
  partitions.py delta TABLE_DIR COLUMN VALUE

iceberg (pyiceberg, SqlCatalog "lakemerge" on the SQLite file):
  spec         the partition fields as "name=transform(source)"
  sort_order   the default sort order as "source direction null-order" items
  data_files   the live data files, deletes         the live position-delete files
  bad_partition   data files whose rows do not all have, by pyiceberg's own
                  transforms, the partition values the manifest records
                  (under the file's spec: older files keep theirs)
  bad_delete_partition  delete files whose spec and partition are not those
                  of every data file they reference (read from the delete file)
  unsorted     data files with live rows whose rows are not in the sort
               order
  unsorted_column  data files whose rows are not in ascending COLUMN order
  partition_files  the number of live data files per partition, keyed by
               the partition values as text
  pruned_files the data files plan_files keeps for the row filter COLUMN = VALUE
  filtered_rows   the rows a scan with that filter returns
delta (deltalake):
  partition_columns   metaData.partitionColumns
  files               the live data files (their log paths)
  bad_partition       files whose rows (read from the file) do not have
                      the partition values deltalake reads from the log
  bad_folder          files not in the folder col=value/... of their
                      partition values (Hive style, nulls as
                      __HIVE_DEFAULT_PARTITION__)
  pruned_files        file_uris(partition_filters=[(COLUMN, "=", VALUE)])
  filtered_rows       the rows to_pyarrow_table(partitions=...) returns
  duckdb_filtered_rows  the rows DuckDB's delta_scan returns WHERE COLUMN = VALUE
"""
import json
import sys
import urllib.parse


def iceberg(db, warehouse, name, column, value):
    import pyarrow.parquet as pq
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.expressions import EqualTo
    from pyiceberg.manifest import DataFileContent

    cat = SqlCatalog("lakemerge", uri=f"sqlite:///{db}", warehouse=warehouse)
    tbl = cat.load_table(name)
    schema, spec, specs = tbl.schema(), tbl.spec(), tbl.specs()
    out = {"spec": [], "sort_order": [], "data_files": 0, "deletes": 0, "bad_partition": [],
           "bad_delete_partition": [], "unsorted": [], "unsorted_column": [], "partition_files": {}}
    for f in spec.fields:
        out["spec"].append(f"{f.name}={f.transform}({schema.find_column_name(f.source_id)})")
    order = tbl.sort_order()
    for f in order.fields:
        out["sort_order"].append(f"{schema.find_column_name(f.source_id)} {f.direction} {f.null_order}")

    io = tbl.io
    tasks = tbl.scan().plan_files()
    data_partition = {}
    for task in tasks:
        df = task.file
        out["data_files"] += 1
        path = df.file_path
        data_partition[path] = (df.spec_id, tuple(df.partition))
        rows = pq.read_table(io.new_input(path).open()).to_pylist()
        part = repr(tuple(df.partition))
        out["partition_files"][part] = out["partition_files"].get(part, 0) + 1
        # Nulls sort first (as lakemerge writes them).
        if any(nulls_first(a[column]) > nulls_first(b[column]) for a, b in zip(rows, rows[1:])):
            out["unsorted_column"].append(path)
        # The partition values of each row, by pyiceberg's transforms under
        # the file's spec.
        for i, f in enumerate(specs[df.spec_id].fields):
            src = schema.find_field(f.source_id)
            fn = f.transform.transform(src.field_type)
            want = df.partition[i]
            got = {fn(r[src.name]) for r in rows}
            if got != {want}:
                out["bad_partition"].append(f"{path}: field {f.name} records {want!r}, rows give {sorted(map(repr, got))}")
        dead = set()
        for d in task.delete_files:
            pd = pq.read_table(io.new_input(d.file_path).open()).to_pylist()
            dead.update(r["pos"] for r in pd if r["file_path"] == path)
        if order.fields and len(dead) < len(rows):
            # Files whose rows are all deleted may be in an older order.
            keys = []
            for f in order.fields:
                keys.append((schema.find_column_name(f.source_id), str(f.direction), str(f.null_order)))

            for a, b in zip(rows, rows[1:]):
                if not ordered(a, b, keys):
                    out["unsorted"].append(path)
                    break
    # Every live position-delete file: its partition is that of the data
    # files its rows reference.
    seen = set()
    for task in tasks:
        for d in task.delete_files:
            if d.file_path in seen:
                continue
            seen.add(d.file_path)
            if d.content != DataFileContent.POSITION_DELETES:
                continue
            out["deletes"] += 1
            refs = set(pq.read_table(io.new_input(d.file_path).open(), columns=["file_path"]).column(0).to_pylist())
            for ref in refs:
                got = (d.spec_id, tuple(d.partition))
                if ref in data_partition and data_partition[ref] != got:
                    out["bad_delete_partition"].append(f"{d.file_path}: spec and partition {got!r}, its data file {ref}: {data_partition[ref]!r}")
    flt = EqualTo(column, value)
    out["pruned_files"] = len(list(tbl.scan(row_filter=flt).plan_files()))
    out["filtered_rows"] = tbl.scan(row_filter=flt).to_arrow().num_rows
    return out


def ordered(a, b, keys):
    """Whether row a may precede row b in the sort order keys."""
    for col, direction, nulls in keys:
        x, y = a[col], b[col]
        if x == y:
            continue
        if x is None or y is None:
            first = "FIRST" in nulls.upper()
            return (x is None) == first
        if "DESC" in direction.upper():
            return x > y
        return x < y
    return True


def delta(path, column, value):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    dt = DeltaTable(path)
    pcols = dt.metadata().partition_columns
    out = {"partition_columns": pcols, "files": [], "bad_partition": [], "bad_folder": []}
    adds = dt.get_add_actions(flatten=True)
    adds = pa.table(adds).to_pylist()  # deltalake 1.x returns an arro3 table
    for a in adds:
        rel = a["path"]
        out["files"].append(rel)
        vals = {c: a.get("partition." + c) for c in pcols}
        rows = pq.read_table(path + "/" + urllib.parse.unquote(rel), columns=pcols).to_pylist()
        for c in pcols:
            got = {r[c] for r in rows}
            if got != {vals[c]}:
                out["bad_partition"].append(f"{rel}: {c} is {vals[c]!r} in the log, the rows have {sorted(map(repr, got))}")
        folder = "/".join(f"{c}={('__HIVE_DEFAULT_PARTITION__' if vals[c] is None else hive(vals[c]))}" for c in pcols)
        if not urllib.parse.unquote(rel).startswith(folder + "/"):
            out["bad_folder"].append(f"{rel} not under {folder}/")
    filt = [(column, "=", value)]
    out["pruned_files"] = len(dt.file_uris(partition_filters=filt))
    out["filtered_rows"] = dt.to_pyarrow_table(partitions=filt).num_rows
    out["duckdb_filtered_rows"] = duckdb_count(path, column, value)
    return out


def hive(v):
    """The folder text of a partition value as Spark writes it."""
    if isinstance(v, bool):
        s = "true" if v else "false"
    else:
        s = str(v)
    return "".join(f"%{ord(c):02X}" if (ord(c) < 0x20 or ord(c) == 0x7F or c in "\"#%'*/:=?\\{[]^") else c for c in s)


def duckdb_count(path, column, value):
    import glob
    import os

    import duckdb
    import duckdb_extension_delta

    ext = glob.glob(os.path.join(os.path.dirname(duckdb_extension_delta.__file__), "extensions", "*", "delta.duckdb_extension"))
    if not ext:
        sys.exit("duckdb-extension-delta has no extension file")
    con = duckdb.connect(config={"allow_unsigned_extensions": True})
    con.execute(f"LOAD '{ext[0]}'")
    return con.execute(f'SELECT count(*) FROM delta_scan(?) WHERE "{column}" = ?', [path, value]).fetchone()[0]


def nulls_first(v):
    return (v is not None, v)


def main():
    args = sys.argv[1:]
    kind = args.pop(0)
    if kind == "iceberg":
        out = iceberg(*args)
    elif kind == "delta":
        out = delta(*args)
    else:
        sys.exit(f"unknown kind {kind!r}")
    print(json.dumps(out, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
