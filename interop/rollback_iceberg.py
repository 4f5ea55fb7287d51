#!/usr/bin/env python3
"""Roll an Iceberg table back inside its metadata with pyiceberg, as an
operator would (Spark's rollback_to_snapshot does the same): the main branch
moves to an earlier snapshot, the table properties stay as they are.

Usage:
  rollback_iceberg.py CATALOG_DB WAREHOUSE_URI DATABASE.TABLE RUNS

The target is the newest snapshot whose summary says lakemerge had absorbed
RUNS runs (lakemerge.bookmark-runs). Prints its snapshot id.
"""
import sys

from pyiceberg.catalog.sql import SqlCatalog


def main():
    db, warehouse, name, runs = sys.argv[1:5]
    cat = SqlCatalog("lakemerge", uri="sqlite:///" + db, warehouse=warehouse)
    tbl = cat.load_table(name)
    target = None
    for s in tbl.metadata.snapshots:
        if s.summary is not None and s.summary.additional_properties.get("lakemerge.bookmark-runs") == runs:
            if target is None or s.sequence_number > target.sequence_number:
                target = s
    if target is None:
        sys.exit("no snapshot of %s after run %s" % (name, runs))
    tbl.manage_snapshots().rollback_to_snapshot(target.snapshot_id).commit()
    print(target.snapshot_id)


if __name__ == "__main__":
    main()
