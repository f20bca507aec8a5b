#!/bin/bash
# umt5 bench and the PyTorch eager baseline on the same checkpoints, one process at a time, never overlapping.
#
#   bench/run.sh [RESULTS.jsonl]
#
# Environment (defaults in brackets):
#   UMT5      the umt5 tool [/work/build-bench/app/umt5]
#   SMALL     random umt5-small checkpoint, made by make_random_checkpoint.py when missing [/tmp/umt5-small-random]
#   MODELS    "demo", "small" or both ["demo small"]
#   TOKENS    forced new tokens ["32 128 512"]
#   THREADS   engine threads ["1 2"]
#   IMPLEMENTATIONS  which to time ["umt5 pytorch"]
#   PRECISIONS  umt5 weight precisions; PyTorch runs once per row, in fp32 ["fp32"]
#   PROMPT    the prompt [a 32-token request: "translate English to German: The file could not be saved ..."]
#   REPEAT    runs per mode; medians are reported [3]
#   TORCH_NO_CACHE=1  also time PyTorch without its cache (slow at 512 tokens on umt5-small) [0]
#   IDLE_PCT  before every measurement, wait until the machine was less busy than this over 2 s [25]
#   MAX_WAIT  ... but at most this many seconds [300]
# Every measurement appends one JSON line (umt5's or PyTorch's output plus the load before it) to RESULTS.jsonl
# [bench/results-<date>.jsonl]; a Markdown summary table is printed at the end.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
UMT5=${UMT5:-/work/build-bench/app/umt5}
SMALL=${SMALL:-/tmp/umt5-small-random}
MODELS=${MODELS:-demo small}
TOKENS=${TOKENS:-32 128 512}
THREADS=${THREADS:-1 2}
PRECISIONS=${PRECISIONS:-fp32}
IMPLEMENTATIONS=${IMPLEMENTATIONS:-umt5 pytorch}
REPEAT=${REPEAT:-3}
TORCH_NO_CACHE=${TORCH_NO_CACHE:-0}
IDLE_PCT=${IDLE_PCT:-25}
MAX_WAIT=${MAX_WAIT:-300}
RESULTS=${1:-$HERE/results-$(date +%Y%m%d-%H%M%S).jsonl}
PROMPT=${PROMPT:-"translate English to German: The file could not be saved because the disk is full. Please free up some space on the device and try again."}
PYTHON=/usr/bin/python3  # Debian's python3-torch

[ -x "$UMT5" ] || { echo "run.sh: $UMT5 is not built" >&2; exit 1; }

# busy_pct, quiet_moment
source "$HERE/load_gate.sh"

record() {  # record IMPLEMENTATION CONTEXT_JSON MEASUREMENT_JSON
    "$PYTHON" -c 'import json, sys
m = json.loads(sys.argv[3])
m.update(json.loads(sys.argv[2]), implementation=sys.argv[1])
print(json.dumps(m))' "$1" "$2" "$3" >> "$RESULTS"
}

if [[ " $MODELS " == *" small "* ]] && [ ! -f "$SMALL/config.json" ]; then
    "$PYTHON" "$HERE/make_random_checkpoint.py" "$SMALL"
fi

echo "results: $RESULTS"
for model in $MODELS; do
    dir=$ROOT/resources/models/demo-umt5
    [ "$model" = small ] && dir=$SMALL
    for tokens in $TOKENS; do
        for threads in $THREADS; do
            [[ " $IMPLEMENTATIONS " == *" umt5 "* ]] && for precision in $PRECISIONS; do
                context=$(quiet_moment)
                echo "$model tokens=$tokens threads=$threads umt5 $precision $context"
                out=$(OMP_NUM_THREADS=$threads "$UMT5" bench --model "$dir" --prompt "$PROMPT" --new-tokens "$tokens" \
                      --repeat "$REPEAT" --threads "$threads" --precision "$precision" --json)
                record umt5 "$context" "$out"
            done
            [[ " $IMPLEMENTATIONS " == *" pytorch "* ]] || continue

            context=$(quiet_moment)
            echo "$model tokens=$tokens threads=$threads pytorch $context"
            extra=()
            [ "$TORCH_NO_CACHE" = 1 ] && extra=(--no-cache-too)
            out=$(OMP_NUM_THREADS=$threads "$PYTHON" "$HERE/pytorch_eager.py" --model "$dir" --prompt "$PROMPT" \
                  --new-tokens "$tokens" --repeat "$REPEAT" --threads "$threads" "${extra[@]}")
            record pytorch-eager "$context" "$out"
        done
    done
done

"$PYTHON" "$HERE/summarize.py" "$RESULTS"
