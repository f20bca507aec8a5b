#!/usr/bin/python3
"""Markdown tables from the JSON lines bench/run.sh writes: one row per model, token count and thread count.

    python3 bench/summarize.py RESULTS.jsonl
"""
import json
import sys


def fmt(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"


def main():
    rows = {}
    with open(sys.argv[1]) as f:
        for line in f:
            if line.strip():
                m = json.loads(line)
                key = (m["model"], m["new_tokens"], m["threads"])
                rows.setdefault(key, {})[m["implementation"]] = m

    print("| model | new tokens | threads | umt5 cache on tok/s | umt5 cache off tok/s | speedup | "
          "umt5 identical | PyTorch cache on tok/s | PyTorch cache off tok/s | umt5 / PyTorch (cache on) | "
          "same ids as PyTorch | busy % before (umt5, PyTorch) |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---|")
    for (model, tokens, threads), m in sorted(rows.items()):
        u, p = m.get("umt5"), m.get("pytorch-eager")
        u_on = u["cache_on"]["tokens_per_s"] if u else None
        u_off = u["cache_off"]["tokens_per_s"] if u else None
        p_on = p["cache_on"]["tokens_per_s"] if p else None
        p_off = p["cache_off"]["tokens_per_s"] if p and "cache_off" in p else None
        ratio = u_on / p_on if u_on and p_on else None
        same = "-" if not (u and p) else ("yes" if u["cache_on"]["output_ids"] == p["cache_on"]["output_ids"]
                                          else "no")
        busy = ", ".join(str(x["busy_pct_before"]) if x else "-" for x in (u, p))
        print(f"| {model} | {tokens} | {threads} | {fmt(u_on)} | {fmt(u_off)} | "
              f"{fmt(u['speedup'], 2) + 'x' if u else '-'} | {('yes' if u['identical'] else 'NO') if u else '-'} | "
              f"{fmt(p_on)} | {fmt(p_off)} | {fmt(ratio, 2) + 'x' if ratio else '-'} | {same} | {busy} |")

    print()
    print("| model | new tokens | threads | implementation | ms/token median (on / off) | first token ms (on / off) "
          "| total ms (on / off) |")
    print("|---|---:|---:|---|---|---|---|")
    for (model, tokens, threads), m in sorted(rows.items()):
        for name in ("umt5", "pytorch-eager"):
            x = m.get(name)
            if not x:
                continue
            on, off = x["cache_on"], x.get("cache_off")

            def pair(field):
                return fmt(on[field]) + " / " + (fmt(off[field]) if off else "-")

            print(f"| {model} | {tokens} | {threads} | {name} | {pair('ms_per_token_median')} | "
                  f"{pair('first_token_ms')} | {pair('total_ms')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
