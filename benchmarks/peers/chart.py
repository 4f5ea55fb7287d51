#!/usr/bin/env python3
"""Draws results.json (from lmbench compare) as a PNG: merge wall time and
peak RSS per tool, the range of the load averages the merges started at
under the title. Usage: chart.py RESULTS_JSON OUT_PNG TITLE"""
import json
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main():
    results = [r for r in json.load(open(sys.argv[1])) if not r.get("error")]
    tools = [r["tool"] for r in results]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.bar(tools, [r["merge_seconds"] for r in results], color="#3b7dd8")
    a.set_title("merge wall time (s, lower is better)")
    b.bar(tools, [r["merge_peak_rss_mib"] for r in results], color="#d8823b")
    b.set_title("merge peak RSS (MiB, lower is better)")
    for ax, key in ((a, "merge_seconds"), (b, "merge_peak_rss_mib")):
        for i, r in enumerate(results):
            ax.annotate(f"{r[key]:.1f}", (i, r[key]), ha="center", va="bottom")
    title = sys.argv[3]
    loads = [float(r["merge_loadavg"].split()[0]) for r in results if r.get("merge_loadavg")]
    if loads:
        title += f"\n1-min load average at the merges' start: {min(loads):.1f}–{max(loads):.1f}"
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=100)


if __name__ == "__main__":
    main()
