#!/usr/bin/env bash
# Proves the README's two commands on a brand-new machine: builds a minimal Debian 12 root with mmdebstrap (from
# this machine's apt sources and settings), puts a clean clone of the checkout in it with ../shared beside it, and
# runs `./scripts/run.sh` and `./scripts/test.sh` there, unchanged, in chroot. Whatever an earlier install left on
# this machine is absent there, so a package missing from scripts/deps.sh fails here rather than on a user's.
#
#   sudo ./scripts/check-fresh-machine.sh              both README commands
#   sudo ./scripts/check-fresh-machine.sh --first      only ./scripts/run.sh (set up, build, translate)
#
# Needs root (chroot and mounts); installs mmdebstrap with apt if it is missing. Commits only: the clone is of
# HEAD, so uncommitted changes are not tested. This machine's compiler cache is shared with the new root (the same
# sources are not compiled twice; ccache checks every header it recorded, so a missing -dev package still fails).
# Environment: FRESH_ROOT (where the root is made, default build-fresh/root; deleted first), FRESH_CCACHE (the
# cache to share, default this machine's; "none" for a cold build), UMT5_JOBS (passed through).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=$(cd "$ROOT/.." && pwd)/shared

first_only=0
for arg in "$@"; do
  case "$arg" in
    --first) first_only=1 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "check-fresh-machine.sh: unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done
if [[ $(id -u) -ne 0 ]]; then
  echo "check-fresh-machine.sh: needs root (mmdebstrap, chroot, mounts); run it with sudo" >&2
  exit 2
fi
[[ -d "$SHARED" ]] || { echo "check-fresh-machine.sh: no $SHARED beside the checkout" >&2; exit 2; }

stage() { printf '\n==== fresh machine: %s (%s)\n' "$1" "$(date +%T)"; }

if ! command -v mmdebstrap >/dev/null; then
  stage "installing mmdebstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap
fi

NEWROOT=${FRESH_ROOT:-$ROOT/build-fresh/root}
mounted=()
cleanup() {
  local m
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    m=${mounted[i]}
    umount -l "$m" 2>/dev/null || true
  done
}
trap cleanup EXIT
# A root left by an interrupted run may still have mounts inside; never delete through them.
for m in dev/pts dev proc; do umount -l "$NEWROOT/$m" 2>/dev/null || true; done
rm -rf --one-file-system "$NEWROOT"
mkdir -p "$(dirname "$NEWROOT")"

# This machine's sources (one-line or deb822) and apt settings (proxies, snapshot validity), so the new root
# reaches the same archive the same way.
sources=()
[[ -s /etc/apt/sources.list ]] && grep -q '^[[:space:]]*deb' /etc/apt/sources.list && sources+=(/etc/apt/sources.list)
for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [[ -f "$f" ]] && sources+=("$f")
done
((${#sources[@]})) || { echo "check-fresh-machine.sh: no apt sources on this machine" >&2; exit 1; }
aptopts=()
for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/*; do
  [[ -f "$f" ]] && aptopts+=(--aptopt="$f")
done

stage "mmdebstrap: minimal Debian 12 root in $NEWROOT"
# minbase is essential + apt: no compiler, no sudo, no git. The README's commands must bring what they need.
mmdebstrap --variant=minbase --mode=root "${aptopts[@]}" bookworm "$NEWROOT" "${sources[@]}"

stage "copying a clean clone and ../shared"
mkdir -p "$NEWROOT/work"
git clone --quiet --no-hardlinks "$ROOT" "$NEWROOT/work/umt5"
cp -a "$SHARED" "$NEWROOT/work/shared"
cp /etc/resolv.conf "$NEWROOT/etc/resolv.conf" 2>/dev/null || true

for m in proc dev dev/pts; do
  mkdir -p "$NEWROOT/$m"
  case "$m" in
    proc) mount -t proc proc "$NEWROOT/proc" ;;
    *) mount --bind "/$m" "$NEWROOT/$m" ;;
  esac
  mounted+=("$NEWROOT/$m")
done

cache=${FRESH_CCACHE:-$(ccache -k cache_dir 2>/dev/null || true)}
if [[ -n "$cache" && "$cache" != none ]]; then
  mkdir -p "$cache" "$NEWROOT/root/.cache/ccache"
  mount --bind "$cache" "$NEWROOT/root/.cache/ccache"
  mounted+=("$NEWROOT/root/.cache/ccache")
fi

in_root() {
  chroot "$NEWROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 CI="${CI:-}" ${UMT5_JOBS:+UMT5_JOBS=$UMT5_JOBS} /bin/bash -c "cd /work/umt5 && $1"
}

status=0
# The README promises this translation for run.sh's default prompt (the line the command-line tool prints last).
expected="Datei nicht gefunden"
log="$(dirname "$NEWROOT")/run.log"
stage "./scripts/run.sh (no display: translates with the command-line tool)"
if in_root ./scripts/run.sh 2>&1 | tee "$log"; then
  if [[ "$(tail -n 1 "$log")" != "$expected" ]]; then
    echo "check-fresh-machine.sh: FAILED: run.sh printed '$(tail -n 1 "$log")', the README says '$expected'" >&2
    status=1
  fi
else
  echo "check-fresh-machine.sh: FAILED: ./scripts/run.sh" >&2
  status=1
fi

if ((!first_only)); then
  stage "./scripts/test.sh"
  in_root ./scripts/test.sh || { echo "check-fresh-machine.sh: FAILED: ./scripts/test.sh" >&2; status=1; }
fi

cleanup
mounted=()
if ((status == 0)); then
  rm -rf --one-file-system "$NEWROOT"
  stage "passed"
fi
exit $status
