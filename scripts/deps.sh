#!/usr/bin/env bash
# Installs every Debian 12 package the project needs to build, run and test. Idempotent: packages that are
# already present are skipped without touching the network.
set -euo pipefail
PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  qt6-base-dev qt6-charts-dev qt6-tools-dev libqt6svg6 qt6-l10n-tools
  libgl1-mesa-dev libxkbcommon-dev
  libdnnl-dev libsentencepiece-dev libzip-dev nlohmann-json3-dev libcli11-dev
  # Recommends of the packages above that their CMake configs need; --no-install-recommends leaves them out:
  # dnnl-config.cmake calls find_package(OpenCL) even for a CPU-only build, and Qt6Charts' config needs Qt6OpenGL.
  ocl-icd-opencl-dev opencl-c-headers libqt6opengl6-dev
  # bench/micro: the layer microbenchmarks (Google Benchmark).
  libbenchmark-dev
  # zlib: the CRC-32 of session files (core/chat/conversation.cpp); libzip-dev pulls it in, named here because
  # the project links it directly.
  zlib1g-dev
  # libzip's CMake package refers to its command-line tools; without them find_package(libzip) fails.
  zipcmp zipmerge ziptool
  xvfb xauth
  # The Debian package: CPack's DEB generator runs dpkg-shlibdeps (dpkg-dev) on the files `file` says are ELF;
  # packaging/check-deb.sh validates the desktop entry and the AppStream metadata.
  dpkg-dev file desktop-file-utils appstream
  # Fonts the app relies on for Arabic, Hebrew, Devanagari and CJK text.
  fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji
  # tests/validate_schema.py checks exported JSON transcripts against docs/transcript.schema.json.
  python3-jsonschema
)
if [[ "${UMT5_WITH_PYTHON_TOOLS:-0}" == 1 ]]; then
  # Only needed to regenerate test fixtures and for the PyTorch comparison in bench/.
  # Debian's torch calls the BLAS that libblas.so.3 points to; OpenBLAS rather than the reference BLAS makes the
  # PyTorch baseline a fair one (the umt5-small output projection: 50 ms per token instead of 171).
  PACKAGES+=(python3-torch python3-sentencepiece python3-numpy libopenblas0-pthread)
fi
if [[ "${UMT5_WITH_FUZZ:-0}" == 1 ]]; then
  # scripts/fuzz.sh: libFuzzer comes with clang.
  PACKAGES+=(clang-14 libclang-rt-14-dev)
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "Installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
