#!/bin/bash
# umt5 against another encoder-decoder engine on the same checkpoint, alternating in one run: for each weight
# precision, REPEAT pairs of (umt5 generate, peer driver), each a whole process, greedy, same prompt token ids.
#
#   bench/peer_compare.sh [RESULTS.jsonl]
#
# The peer is whatever the user built: a driver program that takes `MODEL THREADS NEW_TOKENS ID,ID,...` and prints
# one JSON line with at least "tokens_per_s", "decode_ms" and "ids" (greedy argmax ids, decoder start excluded),
# and the checkpoint converted to the peer's format, one file per precision. bench/README.md describes the driver
# used for its llama.cpp numbers (llama_encode once, then llama_decode one token at a time). Nothing here builds
# or downloads the peer: without PEER_DRIVER the script says so and measures umt5 alone.
#
# Environment (defaults in brackets):
#   UMT5         the umt5 tool [build/app/umt5]
#   SMALL        the umT5 checkpoint [/tmp/umt5-small-random] (bench/make_random_checkpoint.py makes it)
#   PEER_DRIVER  the peer's driver program [unset: umt5 only]
#   PEER_MODELS  "precision=file" pairs [fp32=$SMALL/model-f32.gguf bf16=$SMALL/model-bf16.gguf int8=$SMALL/model-q8_0.gguf]
#   PEER_NAME    the peer's name in the results [peer]
#   THREADS      threads for both [2]
#   TOKENS       new tokens per run ["64 128"]
#   REPEAT       pairs per row [3]
#   ISA          if set, umt5 runs with ONEDNN_MAX_CPU_ISA=$ISA (the peer is built for one ISA; say which)
#   IDLE_PCT / MAX_WAIT  before every measurement, wait (at most MAX_WAIT s) until the machine was less busy than
#                IDLE_PCT % over 2 s [25 / 120]; the load before each run is recorded either way
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
UMT5=${UMT5:-$ROOT/build/app/umt5}
SMALL=${SMALL:-/tmp/umt5-small-random}
PEER_DRIVER=${PEER_DRIVER:-}
PEER_MODELS=${PEER_MODELS:-"fp32=$SMALL/model-f32.gguf bf16=$SMALL/model-bf16.gguf int8=$SMALL/model-q8_0.gguf"}
PEER_NAME=${PEER_NAME:-peer}
THREADS=${THREADS:-2}
TOKENS=${TOKENS:-64 128}
REPEAT=${REPEAT:-3}
ISA=${ISA:-}
IDLE_PCT=${IDLE_PCT:-25}
MAX_WAIT=${MAX_WAIT:-120}
RESULTS=${1:-$HERE/results/peer-$(date +%Y%m%d-%H%M%S).jsonl}
# The issue's 32-token request.
PROMPT="translate English to German: The file could not be saved because the disk is full. Please free up some space on the device and try again."

[ -x "$UMT5" ] || { echo "peer_compare.sh: $UMT5 is not built" >&2; exit 1; }
[ -f "$SMALL/config.json" ] || { echo "peer_compare.sh: no checkpoint at $SMALL (bench/make_random_checkpoint.py)" >&2; exit 1; }
if [ -z "$PEER_DRIVER" ]; then
    echo "peer_compare.sh: PEER_DRIVER is not set: no peer to compare with, measuring umt5 alone" >&2
elif [ ! -x "$PEER_DRIVER" ]; then
    echo "peer_compare.sh: PEER_DRIVER=$PEER_DRIVER is not an executable" >&2
    exit 1
fi
mkdir -p "$(dirname "$RESULTS")"

# busy_pct, quiet_moment
source "$HERE/load_gate.sh"

umt5_env=()
[ -n "$ISA" ] && umt5_env=(env ONEDNN_MAX_CPU_ISA="$ISA")

# The prompt's token ids, from umt5's own tokenizer, so both engines decode from exactly the same input.
ids=$("${umt5_env[@]}" "$UMT5" generate --model "$SMALL" --max-new-tokens 1 --json --prompt "$PROMPT" |
      python3 -c 'import json,sys; print(",".join(map(str, json.load(sys.stdin)["prompt_ids"])))')

record() {  # engine precision tokens context_json isa json
    python3 -c 'import json,sys
engine, precision, tokens, context, isa, line = sys.argv[1:7]
r = json.loads(line)
stats = r.get("stats", r)
row = {"engine": engine, "precision": precision, "new_tokens": int(tokens), "isa_cap": isa or "native",
       "tokens_per_s": stats["tokens_per_s"], "decode_ms": stats["decode_ms"], "ids": r.get("output_ids", r.get("ids"))}
row.update(json.loads(context))
print(json.dumps(row))' "$@" >> "$RESULTS"
}

for pair in $PEER_MODELS; do
    precision=${pair%%=*}
    peer_model=${pair#*=}
    for tokens in $TOKENS; do
        for ((i = 0; i < REPEAT; i++)); do
            context=$(quiet_moment)
            out=$("${umt5_env[@]}" "$UMT5" generate --model "$SMALL" --precision "$precision" --threads "$THREADS" \
                  --max-new-tokens "$tokens" --json --prompt "$PROMPT")
            record umt5 "$precision" "$tokens" "$context" "$ISA" "$out"
            if [ -n "$PEER_DRIVER" ]; then
                if [ ! -f "$peer_model" ]; then
                    echo "peer_compare.sh: no $peer_model: skipping the $PEER_NAME side of $precision" >&2
                    continue
                fi
                context=$(quiet_moment)
                out=$("$PEER_DRIVER" "$peer_model" "$THREADS" "$tokens" "$ids")
                record "$PEER_NAME" "$precision" "$tokens" "$context" "" "$out"
            fi
        done
    done
done

# Medians per (precision, tokens, engine), and the ratio of the medians.
python3 - "$RESULTS" <<'EOF'
import collections, json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = collections.defaultdict(list)
for r in rows:
    by[(r["precision"], r["new_tokens"], r["engine"])].append(r["tokens_per_s"])
engines = sorted({r["engine"] for r in rows}, key=lambda e: e != "umt5")
print("| precision | new tokens | " + " | ".join(f"{e} tok/s (median)" for e in engines) + " | umt5 ÷ peer |")
print("|---|---:|" + "---:|" * len(engines) + "---:|")
for precision, tokens in sorted({(p, t) for p, t, _ in by}):
    med = {e: statistics.median(by[(precision, tokens, e)]) for e in engines if by[(precision, tokens, e)]}
    ratio = ""
    if "umt5" in med and len(med) > 1:
        other = [e for e in med if e != "umt5"][0]
        ratio = f"{med['umt5'] / med[other]:.2f}"
    print(f"| {precision} | {tokens} | " + " | ".join(f"{med[e]:.1f}" if e in med else "–" for e in engines) + f" | {ratio} |")
EOF
echo "results: $RESULTS" >&2
