#!/usr/bin/env python3
"""Restore a Delta table to an earlier version with deltalake (delta-rs), as
an operator would (Spark's RESTORE TABLE does the same): a new log entry
puts back the files of that version; lakemerge's state is not in it.

Usage:
  restore_delta.py TABLE_PATH RUNS [--by-time]

The target is the newest log version whose commitInfo says lakemerge had
absorbed RUNS runs (commitInfo.lakemerge.runs). Prints that version. With
--by-time the table is restored to that commit's time (commitInfo.timestamp)
instead of its version.
"""
import datetime
import glob
import json
import os
import sys

from deltalake import DeltaTable


def main():
    path, runs = sys.argv[1:3]
    by_time = sys.argv[3:] == ["--by-time"]
    target = None
    at = {}
    for name in glob.glob(os.path.join(path, "_delta_log", "*.json")):
        version = int(os.path.basename(name).split(".")[0])
        with open(name) as f:
            for line in f:
                ci = json.loads(line).get("commitInfo")
                if ci and (ci.get("lakemerge") or {}).get("runs") == runs:
                    target = version if target is None else max(target, version)
                    at[version] = ci["timestamp"]
    if target is None:
        sys.exit("no log version of %s after run %s" % (path, runs))
    if by_time:
        DeltaTable(path).restore(datetime.datetime.fromtimestamp(at[target] / 1000, tz=datetime.timezone.utc))
    else:
        DeltaTable(path).restore(target)
    print(target)


if __name__ == "__main__":
    main()
