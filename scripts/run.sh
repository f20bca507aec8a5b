#!/usr/bin/env bash
# Installs the dependencies, builds (Release, Ninja, ccache) into build/ and starts umT5 Studio. Idempotent: a
# second run rebuilds only what changed.
#
#   ./scripts/run.sh [APP ARGS...]              start umt5-studio (e.g. --model ~/models/umt5-base)
#   ./scripts/run.sh --cli [PROMPT [OPTIONS]]   translate PROMPT with the command-line tool instead
#                                               (default "translate English to German: File not found";
#                                               OPTIONS go to `umt5 generate`, e.g. --max-new-tokens 20)
#
# Without a display ($DISPLAY and $WAYLAND_DISPLAY both unset) it behaves as --cli. The app opens the model used
# last, or the embedded demo model the first time. Environment: UMT5_JOBS (build parallelism, default: cores),
# UMT5_SKIP_DEPS=1 (do not run scripts/deps.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DEFAULT_PROMPT="translate English to German: File not found"

cli=0
if [[ "${1:-}" == --cli ]]; then
  cli=1
  shift
elif [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
elif [[ -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" ]]; then
  echo "run.sh: no display (\$DISPLAY and \$WAYLAND_DISPLAY are unset): using the command-line tool instead of the app." >&2
  cli=1
  if (($#)); then
    echo "run.sh: ignoring the app arguments: $*" >&2
    set --
  fi
fi

[[ "${UMT5_SKIP_DEPS:-0}" == 1 ]] || bash "$ROOT/scripts/deps.sh"

export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$ROOT}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
if [[ ! -f build/CMakeCache.txt ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
targets=(umt5)
((cli)) || targets+=(umt5-studio)
cmake --build build -j "${UMT5_JOBS:-$(nproc)}" --target "${targets[@]}"

if ((cli)); then
  prompt=$DEFAULT_PROMPT
  if (($#)) && [[ "$1" != -* ]]; then
    prompt=$1
    shift
  fi
  echo "\$ umt5 generate --prompt \"$prompt\"${*:+ $*}" >&2
  exec build/app/umt5 generate --prompt "$prompt" "$@"
fi
exec build/app/umt5-studio "$@"
