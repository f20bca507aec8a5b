#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) and runs each one, one after the other,
# for a bounded time. Exits non-zero when any target finds a crash, leak, sanitizer report, timeout or
# oversized allocation; the reproducer is saved under tests/fuzz/findings/<target>/ (ignored by git).
#
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   space-separated subset of targets (default: all that were built)
#   FUZZ_BUILD_DIR build directory (default: <repo>/../build-fuzz)
#   FUZZ_JOBS      build parallelism (default 2)
#   CXX            clang++ to use (default clang++-14, else clang++)
#
# New inputs a run discovers go to a scratch corpus, not to the committed seeds; only a fixed finding's reproducer
# is added to tests/fuzz/corpus/<target>/ by hand (named regression-*).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${FUZZ_BUILD_DIR:-$ROOT/../build-fuzz}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-2}
CXX=${CXX:-$(command -v clang++-14 || command -v clang++ || true)}
[[ -n "$CXX" ]] || { echo "fuzz.sh: clang++ is needed (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 2; }

cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DUMT5_FUZZ=ON -DUMT5_BUILD_APP=OFF -DUMT5_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target fuzz_all -j "$JOBS"

if [[ -n "${FUZZ_TARGETS:-}" ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for exe in "$BUILD"/tests/fuzz/fuzz_*; do [[ -x "$exe" && -f "$exe" ]] && targets+=("$(basename "$exe")"); done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in "${targets[@]}"; do
  exe="$BUILD/tests/fuzz/$t"
  seeds="$ROOT/tests/fuzz/corpus/$t"
  findings="$ROOT/tests/fuzz/findings/$t"
  mkdir -p "$scratch/$t" "$findings"
  echo "== $t: ${SECONDS_PER_TARGET}s"
  # Replay the seeds (including every regression input) first: a fixed bug that came back fails here at once.
  if ! "$exe" -runs=0 "$seeds" >"$scratch/$t.replay.log" 2>&1; then
    tail -n 40 "$scratch/$t.replay.log"
    failed+=("$t (seed replay)")
    continue
  fi
  if "$exe" "$scratch/$t" "$seeds" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
      -malloc_limit_mb=1024 -max_len=65536 -artifact_prefix="$findings/" -print_final_stats=1 \
      >"$scratch/$t.log" 2>&1; then
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)|#[0-9]+ +DONE" "$scratch/$t.log" || true
  else
    tail -n 60 "$scratch/$t.log"
    failed+=("$t")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz.sh: findings in: ${failed[*]} (reproducers in tests/fuzz/findings/)" >&2
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets ran ${SECONDS_PER_TARGET}s each, no findings"
