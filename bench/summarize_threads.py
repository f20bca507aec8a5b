#!/usr/bin/python3
"""Markdown tables from the JSON lines bench/threads_under_load.sh writes: per model and load, the median over
rounds of cache-on (and cache-off) tokens/s for each thread setting, the range over rounds, and how the automatic
setting compares with the better fixed one (issue 14 asks for >= 0.9x idle and >= 0.8x with one busy process).

    /usr/bin/python3 bench/summarize_threads.py RESULTS.jsonl [...]
"""
import collections
import json
import statistics
import sys


def main(paths):
    runs = collections.defaultdict(list)  # (model, load, setting) -> measurements
    for path in paths:
        with open(path) as f:
            for line in f:
                if line.strip():
                    m = json.loads(line)
                    runs[(m["model"], m["load"], m["setting"])].append(m)

    def tps(ms, mode):
        return [m[mode]["tokens_per_s"] for m in ms]

    print("| model | load | mode | threads 1 | threads 2 | auto | auto ÷ best fixed | rounds | "
          "load avg before (median) | CPUs busy during auto (median) | auto's steps at 1 / 2 threads (all rounds) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for model, load in sorted({(k[0], k[1]) for k in runs}, key=lambda k: (k[0], k[1] != "idle")):
        for mode in ("cache_on", "cache_off"):
            cells, medians = [], {}
            for setting in ("1", "2", "auto"):
                ms = runs.get((model, load, setting), [])
                if not ms:
                    cells.append("-")
                    continue
                values = tps(ms, mode)
                medians[setting] = statistics.median(values)
                cells.append(f"**{medians[setting]:.1f}** ({min(values):.0f}–{max(values):.0f})")
            best = max(medians.get("1", 0), medians.get("2", 0))
            ratio = f"{medians['auto'] / best:.2f}x" if "auto" in medians and best > 0 else "-"
            auto = runs.get((model, load, "auto"), [])
            every = [m for s in ("1", "2", "auto") for m in runs.get((model, load, s), [])]
            steps = collections.Counter()
            for m in auto:
                steps.update({int(k): v for k, v in m.get("decoder_steps_per_thread_count", {}).items()})
            steps_text = " / ".join(str(steps.get(c, 0)) for c in (1, 2)) if auto else "-"
            loadavg = statistics.median(m["loadavg_before"] for m in every) if every else 0
            busy = statistics.median(m["cpu_busy_pct_during"] for m in auto) if auto else 0
            print(f"| {model} | {load} | {mode.replace('_', ' ')} | {' | '.join(cells)} | {ratio} | "
                  f"{len(auto)} | {loadavg:.1f} | {busy:.0f} % | {steps_text if mode == 'cache_on' else ''} |")


if __name__ == "__main__":
    main(sys.argv[1:])
