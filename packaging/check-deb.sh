#!/usr/bin/env bash
# Builds the Debian package from a configured and built build directory and checks it without installing it:
# its control fields, its file list, the desktop entry and AppStream metadata (when the validators are
# installed), and that the unpacked binaries run from a scratch root, where the embedded model must be found
# relative to the binary (<root>/usr/share/umt5-studio/models/demo-umt5), not in the source or install tree.
#
#   packaging/check-deb.sh [BUILD_DIR]     (default: build)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
ID=io.github.umt5studio.Studio

(cd "$BUILD" && cpack -G DEB >cpack.log 2>&1) || { cat "$BUILD/cpack.log"; echo "check-deb: cpack failed" >&2; exit 1; }
deb=$(ls -t "$BUILD"/umt5-studio_*.deb | head -n 1)
echo "check-deb: built $(basename "$deb") ($(du -h "$deb" | cut -f1))"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
problems=()
check() { # check DESCRIPTION COMMAND...
  if "${@:2}" >"$scratch/out" 2>&1; then echo "  ok: $1"; else problems+=("$1"); echo "  FAILED: $1"; sed 's/^/    /' "$scratch/out"; fi
}

dpkg-deb --field "$deb" Package Version Architecture Section Maintainer Depends Recommends | sed 's/^/  /'
check "Depends lists the shared libraries (dpkg-shlibdeps ran)" \
  bash -c "dpkg-deb --field '$deb' Depends | grep -q 'libdnnl' && dpkg-deb --field '$deb' Depends | grep -q 'libqt6widgets6'"

dpkg-deb -c "$deb" >"$scratch/contents"
for path in ./usr/bin/umt5 ./usr/bin/umt5-studio \
            ./usr/share/umt5-studio/models/demo-umt5/config.json \
            ./usr/share/umt5-studio/models/demo-umt5/model.safetensors \
            ./usr/share/umt5-studio/models/demo-umt5/spiece.model \
            ./usr/share/applications/$ID.desktop ./usr/share/metainfo/$ID.metainfo.xml \
            ./usr/share/icons/hicolor/scalable/apps/$ID.svg \
            ./usr/share/doc/umt5-studio/user-guide.md; do
  check "package contains $path" grep -q " $path\$" "$scratch/contents"
done

root="$scratch/root"
dpkg-deb -x "$deb" "$root"
if command -v desktop-file-validate >/dev/null; then
  check "desktop-file-validate" desktop-file-validate "$root/usr/share/applications/$ID.desktop"
fi
if command -v appstreamcli >/dev/null; then
  check "appstreamcli validate" appstreamcli validate --no-net "$root/usr/share/metainfo/$ID.metainfo.xml"
fi

# Run the unpacked tools with the source tree and the build's install prefix out of reach: an empty HOME, no
# UMT5_DEMO_MODEL, and a working directory outside the checkout.
run() { (cd "$scratch" && env -u UMT5_DEMO_MODEL HOME="$scratch" "$@"); }
check "umt5 --version" run "$root/usr/bin/umt5" --version
echo "  $(cat "$scratch/out")"
check "umt5 generate from the unpacked package" \
  run "$root/usr/bin/umt5" generate --json --max-new-tokens 16 --prompt "translate English to German: File not found"
cp "$scratch/out" "$scratch/answer"
echo "  $(cat "$scratch/answer")"
check "it produced an answer" grep -q '"finish":"eos"' "$scratch/answer"
# Prove that the model came from the unpacked tree and not from a fallback (the source tree, the configured
# install prefix): with the unpacked config.json damaged, the error must name the unpacked file.
model="$root/usr/share/umt5-studio/models/demo-umt5"
cp "$model/config.json" "$scratch/config.json.good"
echo '{' >"$model/config.json"
run "$root/usr/bin/umt5" generate --prompt "x" >"$scratch/damaged" 2>&1 || true
cp "$scratch/config.json.good" "$model/config.json"
check "the model was found relative to the binary" grep -qF "$model/config.json" "$scratch/damaged"
check "umt5-studio --version" run env QT_QPA_PLATFORM=offscreen "$root/usr/bin/umt5-studio" --version

if ((${#problems[@]})); then
  echo "check-deb: ${#problems[@]} problem(s): ${problems[*]}" >&2
  exit 1
fi
echo "check-deb: $(basename "$deb") is good"
