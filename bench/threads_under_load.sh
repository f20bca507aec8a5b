#!/bin/bash
# The thread setting on an idle machine and with one competing busy process: `umt5 bench` with --threads 1, 2 and
# auto, alternated in one run (the order rotates every round), for each model.
#
#   bench/threads_under_load.sh [RESULTS.jsonl]
#
# Environment (defaults in brackets):
#   UMT5      the umt5 tool [build/app/umt5 of this checkout]
#   SMALL     random umt5-small checkpoint, made by make_random_checkpoint.py when missing [/tmp/umt5-small-random]
#   MODELS    "demo", "small" or both ["demo small"]
#   ROUNDS    rounds; each runs every load and thread setting once [5]
#   TOKENS_DEMO, TOKENS_SMALL  forced new tokens per run [128, 64]
#   REPEAT    runs per mode inside each umt5 bench (medians) [1]
#   SETTINGS  thread settings ["1 2 auto"]
#   LOADS     "idle", "busy" or both ["idle busy"]
#   PIN       CPU to pin the busy process to with taskset; empty: the scheduler places it [""]
#   PRECISION weight precision [fp32]
# The busy process is `sh -c 'while :; do :; done'`, started before a "busy" measurement and killed (by its pid)
# after it. Each measurement appends umt5's JSON line plus "load" ("idle"/"busy"), "round", the load average and
# how busy the CPUs were during the run (/proc/stat, all processes: the busy process and umt5 included) to
# RESULTS.jsonl [bench/results-threads-<date>.jsonl]; summarize_threads.py prints the tables.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
UMT5=${UMT5:-$ROOT/build/app/umt5}
SMALL=${SMALL:-/tmp/umt5-small-random}
MODELS=${MODELS:-demo small}
ROUNDS=${ROUNDS:-5}
TOKENS_DEMO=${TOKENS_DEMO:-128}
TOKENS_SMALL=${TOKENS_SMALL:-64}
REPEAT=${REPEAT:-1}
SETTINGS=${SETTINGS:-1 2 auto}
LOADS=${LOADS:-idle busy}
PIN=${PIN:-}
PRECISION=${PRECISION:-fp32}
RESULTS=${1:-$HERE/results-threads-$(date +%Y%m%d-%H%M%S).jsonl}
PROMPT="translate English to German: The file could not be saved because the disk is full. Please free up some space on the device and try again."
PYTHON=/usr/bin/python3

[ -x "$UMT5" ] || { echo "threads_under_load.sh: $UMT5 is not built" >&2; exit 1; }
if [[ " $MODELS " == *" small "* ]] && [ ! -f "$SMALL/config.json" ]; then
    "$PYTHON" "$HERE/make_random_checkpoint.py" "$SMALL"
fi

busy_pid=""
stop_busy() {
    if [ -n "$busy_pid" ]; then
        kill "$busy_pid" 2>/dev/null || true
        wait "$busy_pid" 2>/dev/null || true
        busy_pid=""
    fi
}
trap stop_busy EXIT
start_busy() {
    if [ -n "$PIN" ]; then
        taskset -c "$PIN" sh -c 'while :; do :; done' &
    else
        sh -c 'while :; do :; done' &
    fi
    busy_pid=$!
    sleep 0.5  # let the scheduler place it
}

cpu_ticks() { grep '^cpu ' /proc/stat; }
# Busy percentage of all CPUs between two /proc/stat "cpu" lines.
busy_between() {
    local -a a b
    read -r -a a <<< "$1"
    read -r -a b <<< "$2"
    local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) total=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
    echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}

echo "results: $RESULTS"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) CPUs; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
settings=($SETTINGS)
for round in $(seq 1 "$ROUNDS"); do
    # Rotate the order of the thread settings each round, so none always runs first after a load change.
    shift_by=$(( (round - 1) % ${#settings[@]} ))
    order=("${settings[@]:$shift_by}" "${settings[@]:0:$shift_by}")
    for model in $MODELS; do
        dir=$ROOT/resources/models/demo-umt5
        tokens=$TOKENS_DEMO
        if [ "$model" = small ]; then dir=$SMALL; tokens=$TOKENS_SMALL; fi
        for load in $LOADS; do
            [ "$load" = busy ] && start_busy
            for threads in "${order[@]}"; do
                loadavg=$(cut -d' ' -f1 /proc/loadavg)
                before=$(cpu_ticks)
                out=$("$UMT5" bench --model "$dir" --prompt "$PROMPT" --new-tokens "$tokens" --repeat "$REPEAT" \
                      --threads "$threads" --precision "$PRECISION" --json)
                busy=$(busy_between "$before" "$(cpu_ticks)")
                "$PYTHON" -c 'import json, sys
m = json.loads(sys.argv[1])
m.update(load=sys.argv[2], round=int(sys.argv[3]), setting=sys.argv[4], loadavg_before=float(sys.argv[5]),
         cpu_busy_pct_during=int(sys.argv[6]))
print(json.dumps(m))' "$out" "$load" "$round" "$threads" "$loadavg" "$busy" >> "$RESULTS"
                printf 'round %s %s %s threads=%s: cache on %s tok/s (load avg %s, CPUs %s%% busy)\n' "$round" \
                    "$model" "$load" "$threads" \
                    "$("$PYTHON" -c 'import json,sys; print(round(json.loads(sys.argv[1])["cache_on"]["tokens_per_s"], 1))' "$out")" \
                    "$loadavg" "$busy"
            done
            stop_busy
        done
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PYTHON" "$HERE/summarize_threads.py" "$RESULTS"
