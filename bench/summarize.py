#!/usr/bin/python3
"""Markdown tables from the JSON lines bench/run.sh writes: one row per model, token count, thread count and
precision (PyTorch runs in fp32 only).

    python3 bench/summarize.py RESULTS.jsonl

"last-position ratio" is the issue's honest cache speedup: cache-off ms per token over cache-on ms per token at the
same positions, the median over the last 16 positions of each mode (each position is itself a median over runs).
"""
import json
import statistics
import sys


def fmt(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"


def last_positions_ms(mode, count=16):
    per_position = mode.get("per_position_ms") or []
    return statistics.median(per_position[-count:]) if per_position else None


def main():
    umt5_rows, torch_rows = {}, {}
    with open(sys.argv[1]) as f:
        for line in f:
            if not line.strip():
                continue
            m = json.loads(line)
            if m["implementation"] == "umt5":
                umt5_rows[(m["model"], m["new_tokens"], m["threads"], m.get("precision", "fp32"))] = m
            else:
                torch_rows[(m["model"], m["new_tokens"], m["threads"])] = m

    print("| model | new tokens | threads | precision | kernels | umt5 cache on tok/s | first token ms | "
          "umt5 cache off tok/s | overall speedup | last-position ratio | umt5 identical | PyTorch cache on tok/s | "
          "PyTorch cache off tok/s | umt5 / PyTorch (cache on) | same ids as PyTorch | busy % before (umt5, PyTorch) |")
    print("|---|---:|---:|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---|")
    for key, u in sorted(umt5_rows.items()):
        model, tokens, threads, precision = key
        p = torch_rows.get((model, tokens, threads)) if precision == "fp32" else None
        on, off = u["cache_on"], u["cache_off"]
        on_last, off_last = last_positions_ms(on), last_positions_ms(off)
        ratio = off_last / on_last if on_last and off_last else None
        p_on = p["cache_on"]["tokens_per_s"] if p else None
        p_off = p["cache_off"]["tokens_per_s"] if p and "cache_off" in p else None
        vs_torch = on["tokens_per_s"] / p_on if p_on else None
        same = "-" if not p else ("yes" if on["output_ids"] == p["cache_on"]["output_ids"] else "no")
        busy = ", ".join(str(x["busy_pct_before"]) if x else "-" for x in (u, p))
        print(f"| {model} | {tokens} | {threads} | {precision} | {u.get('kernels', '-')} | {fmt(on['tokens_per_s'])} | "
              f"{fmt(on['first_token_ms'])} | {fmt(off['tokens_per_s'])} | {fmt(u['speedup'], 2)}x | "
              f"{fmt(ratio, 1) + 'x' if ratio else '-'} | {'yes' if u['identical'] else 'NO'} | {fmt(p_on)} | "
              f"{fmt(p_off)} | {fmt(vs_torch, 2) + 'x' if vs_torch else '-'} | {same} | {busy} |")

    print()
    print("| model | new tokens | threads | implementation | ms/token median (on / off) | first token ms (on / off) "
          "| total ms (on / off) |")
    print("|---|---:|---:|---|---|---|---|")
    rows = [((k[0], k[1], k[2], "umt5 " + k[3]), v) for k, v in umt5_rows.items()]
    rows += [((k[0], k[1], k[2], "pytorch-eager"), v) for k, v in torch_rows.items()]
    for (model, tokens, threads, name), x in sorted(rows):
        on, off = x["cache_on"], x.get("cache_off")

        def pair(field):
            return fmt(on[field]) + " / " + (fmt(off[field]) if off else "-")

        print(f"| {model} | {tokens} | {threads} | {name} | {pair('ms_per_token_median')} | "
              f"{pair('first_token_ms')} | {pair('total_ms')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
