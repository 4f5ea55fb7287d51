#!/usr/bin/env python3
"""Draws the results.jsonl of benchmarks/maintain.sh as a PNG: per policy,
what a reader pays after every measured run (DuckDB's iceberg_scan and
pyiceberg for the Iceberg table, deltalake for the Delta table), against
the fresh table (dashed), and how many files each table holds, on log
scales. Prints a
markdown summary: per policy and table, the last run's average run and
maintain-phase times, and each reader time after the last run and on
average over the measured runs, as a multiple of the fresh table's.

Usage: maintain_chart.py OUT_PNG TITLE RESULTS_JSONL...
Several results.jsonl (one policy each, as parallel runs of maintain.sh
write them) are drawn together; the first fresh line per table is the
reference."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = [  # (table, key, title)
    ("ice", "count_s", "Iceberg count(*), DuckDB (s)"),
    ("ice", "filter_s", "Iceberg filtered scan, DuckDB (s)"),
    ("ice", "py_filter_s", "Iceberg filtered scan, pyiceberg (s)"),
    ("dl", "filter_s", "Delta filtered scan, deltalake (s)"),
    ("ice", "files", "Iceberg data + delete files"),
    ("dl", "files", "Delta data files"),
]
# Instead of the Delta panels when only Iceberg was run (TABLES=ice).
ICEBERG_ONLY = {
    ("dl", "filter_s"): ("ice", "py_count_s", "Iceberg count(*), pyiceberg (s)"),
    ("dl", "files"): ("ice", "cpu_ms", "Iceberg: average run CPU so far (ms)"),
}


def value(r, key):
    if key == "files":
        return r["files"]["data_files"] + r["files"]["delete_files"]
    return r.get(key)


def main():
    out, title, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
    rows = [json.loads(line) for p in paths for line in open(p) if line.strip()]
    fresh = {}
    for r in rows:
        if r["policy"] == "fresh":
            fresh.setdefault(r["table"], r)
    policies = list(dict.fromkeys(r["policy"] for r in rows if r["policy"] != "fresh"))
    panels = PANELS
    if not any(r["table"] == "dl" for r in rows):
        panels = [ICEBERG_ONLY.get(p[:2], p) for p in PANELS]
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5))
    for ax, (table, key, name) in zip(axes.flat, panels):
        for policy in policies:
            pts = [(r["run"], value(r, key)) for r in rows
                   if r["policy"] == policy and r["table"] == table and value(r, key) is not None]
            if pts:
                ax.plot(*zip(*pts), marker="o", markersize=3, label=f"policy {policy}")
        if table in fresh and value(fresh[table], key) and key != "cpu_ms":
            ax.axhline(value(fresh[table], key), color="black", linestyle="--", linewidth=1, label="fresh table")
        ax.set_title(name)
        ax.set_xlabel("run")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes.flat[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    summary(rows, fresh, policies)


def summary(rows, fresh, policies):
    keys = ["count_s", "filter_s", "py_count_s", "py_filter_s"]
    print("| policy | table | runs | avg run ms | avg run CPU ms | avg maintain ms (share) | files after | "
          + " | ".join(f"{k} last (avg) ×fresh" for k in keys) + " |")
    print("|---" * (7 + len(keys)) + "|")
    for policy in policies:
        for table in ("ice", "dl"):
            rs = [r for r in rows if r["policy"] == policy and r["table"] == table]
            if not rs:
                continue
            last, f = rs[-1], fresh.get(table, {})
            cells = []
            for k in keys:
                if last.get(k) is None or not f.get(k):
                    cells.append("—")
                    continue
                avg = sum(r[k] for r in rs) / len(rs) / f[k]
                cells.append(f"{last[k] / f[k]:.1f} ({avg:.1f})")
            share = last["maint_ms"] / last["run_ms"] if last["run_ms"] else 0
            print(f"| {policy} | {table} | {last['run']} | {last['run_ms']} | {last.get('cpu_ms', '—')} | "
                  f"{last['maint_ms']} ({share:.0%}) | "
                  f"{value(last, 'files')} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
