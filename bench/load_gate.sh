# Sourced by the bench/ scripts: wait for a quiet machine before a measurement and say how busy it was.
# Needs IDLE_PCT (busy percentage to wait below) and MAX_WAIT (seconds to wait at most).

# Percentage of CPU time spent busy (all cores) over two seconds.
busy_pct() {
    local a b
    read -r -a a < <(grep '^cpu ' /proc/stat)
    sleep 2
    read -r -a b < <(grep '^cpu ' /proc/stat)
    local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) ))
    local total=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
    echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}

# Waits for a quiet machine (bounded), then prints {"busy_pct_before": ..., "loadavg_before": ...}.
quiet_moment() {
    local waited=0 busy
    busy=$(busy_pct)
    while [ "$busy" -ge "$IDLE_PCT" ] && [ "$waited" -lt "$MAX_WAIT" ]; do
        sleep 8
        waited=$(( waited + 10 ))
        busy=$(busy_pct)
    done
    printf '{"busy_pct_before": %s, "loadavg_before": %s, "waited_s": %s}' \
        "$busy" "$(cut -d' ' -f1 /proc/loadavg)" "$waited"
}
