#!/usr/bin/env bash
# Installs the dependencies, builds everything (tests included) and runs the test suite. Idempotent: run it again
# and only what changed is rebuilt (ccache keeps even a wiped build directory cheap).
#
#   ./scripts/test.sh               Release build in build/: ctest natively and with ONEDNN_MAX_CPU_ISA=AVX2,
#                                   then the .deb check (packaging/check-deb.sh)
#   ./scripts/test.sh --sanitize    ... then the whole suite with AddressSanitizer + UndefinedBehaviorSanitizer
#                                   (build-asan/) and the controller/worker tests with ThreadSanitizer (build-tsan/)
#   ./scripts/test.sh --no-deps     skip scripts/deps.sh (when the packages are known to be there)
#
# Environment: UMT5_JOBS (build parallelism, default: the number of cores), CTEST_ARGS (extra ctest arguments,
# e.g. "-R test_model"). Every step runs even when an earlier one failed, so a run reports all failures at once;
# the exit status is non-zero when any step failed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SANITIZE=0
DEPS=1
for arg in "$@"; do
  case "$arg" in
    --sanitize) SANITIZE=1 ;;
    --no-deps) DEPS=0 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

JOBS=${UMT5_JOBS:-$(nproc)}
read -r -a EXTRA_CTEST <<<"${CTEST_ARGS:-}"
# ccache: paths relative to the checkout, so a clone elsewhere still hits the cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$ROOT}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
export QT_QPA_PLATFORM=offscreen

failed=()
stage() { printf '\n==== %s (%s)\n' "$1" "$(date +%T)"; }
fail() { failed+=("$1"); echo "test.sh: FAILED: $1" >&2; }

# configure DIR BUILD_TYPE [cmake args...]: configures once; later runs reuse the cache (cmake re-runs by itself
# when a CMakeLists.txt changes).
configure() {
  local dir=$1 type=$2
  shift 2
  if [[ -f "$dir/CMakeCache.txt" ]]; then
    cmake -S "$ROOT" -B "$dir" "$@" >/dev/null
  else
    cmake -S "$ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
  fi
}

if ((DEPS)); then
  stage "dependencies"
  bash "$ROOT/scripts/deps.sh" || { echo "test.sh: installing the dependencies failed" >&2; exit 1; }
fi

stage "Release build (build/)"
if configure build Release -DUMT5_BUILD_BENCH=ON && cmake --build build -j "$JOBS"; then
  stage "ctest (build/)"
  ctest --test-dir build --output-on-failure "${EXTRA_CTEST[@]}" || fail "ctest (Release)"
  # Again with oneDNN and the engine held to AVX2 (core/engine/cpu.h honours the same variable): what a machine
  # without AVX-512 runs. Precisions it cannot run must be refused in one line, and their tests skip saying why.
  stage "ctest with ONEDNN_MAX_CPU_ISA=AVX2 (build/)"
  ONEDNN_MAX_CPU_ISA=AVX2 ctest --test-dir build --output-on-failure "${EXTRA_CTEST[@]}" \
    || fail "ctest (ONEDNN_MAX_CPU_ISA=AVX2)"
  stage "Debian package (build/)"
  bash "$ROOT/packaging/check-deb.sh" build || fail "Debian package check"
else
  fail "Release build"
fi

if ((SANITIZE)); then
  # AddressSanitizer + UndefinedBehaviorSanitizer over the whole suite. UBSan aborts on the first report
  # (-fno-sanitize-recover); LeakSanitizer is on, with tests/lsan.supp for leaks inside system libraries.
  stage "ASan + UBSan build (build-asan/)"
  if configure build-asan RelWithDebInfo -DUMT5_SANITIZE=ON && cmake --build build-asan -j "$JOBS"; then
    stage "ctest (build-asan/)"
    ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1:check_initialization_order=1" \
    LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
      ctest --test-dir build-asan --output-on-failure "${EXTRA_CTEST[@]}" || fail "ctest (ASan + UBSan)"
  else
    fail "ASan build"
  fi

  # ThreadSanitizer over the tests of the controller and its worker thread (tests/gui/test_controller*). libgomp
  # is not instrumented, so OpenMP's own synchronisation is invisible to TSan: OMP_THREAD_LIMIT=1 keeps every
  # oneDNN parallel region on the calling thread (the tests' ENVIRONMENT sets OMP_NUM_THREADS, which would
  # override ours; OMP_THREAD_LIMIT caps it). Qt is not instrumented either: ignore_noninstrumented_modules=1
  # stops its allocations from counting as writes, and tests/tsan.supp names the hand-offs through Qt's event
  # queue that TSan cannot see (each entry explained there).
  stage "ThreadSanitizer build (build-tsan/)"
  mapfile -t tsan_targets < <(find tests/gui -maxdepth 1 -name 'test_controller*.cpp' -printf '%f\n' | sed 's/\.cpp$//' | sort)
  if ((${#tsan_targets[@]} == 0)); then
    echo "test.sh: no tests/gui/test_controller*.cpp: nothing to run under ThreadSanitizer"
  elif configure build-tsan RelWithDebInfo -DUMT5_TSAN=ON && cmake --build build-tsan -j "$JOBS" --target umt5 "${tsan_targets[@]}"; then
    stage "ctest (build-tsan/: ${tsan_targets[*]})"
    regex="^($(IFS='|'; echo "${tsan_targets[*]}"))\$"
    OMP_THREAD_LIMIT=1 \
    TSAN_OPTIONS="suppressions=$ROOT/tests/tsan.supp:ignore_noninstrumented_modules=1:halt_on_error=1:second_deadlock_stack=1:history_size=4" \
      ctest --test-dir build-tsan --output-on-failure -R "$regex" || fail "ctest (TSan)"
  else
    fail "TSan build"
  fi
fi

echo
if ((${#failed[@]})); then
  echo "test.sh: ${#failed[@]} step(s) failed: $(IFS=','; echo "${failed[*]}" | sed 's/,/, /g')" >&2
  exit 1
fi
echo "test.sh: all steps passed"
