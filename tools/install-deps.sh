#!/usr/bin/env bash
# Installs what tilecopy needs from Debian 12's packages, only when something is missing
# (apt-get update first, as a fresh machine needs). Run as root, or with sudo available.
set -euo pipefail

packages=(
  build-essential meson ninja-build pkg-config cmake
  libtbb-dev libhwloc-dev doctest-dev libtorch-dev libisal-dev
  nlohmann-json3-dev libcli11-dev gnuplot-nox
  clang-14 libfuzzer-14-dev
  python3-dev pybind11-dev python3-pybind11 python3-torch python3-numpy python3-pytest
)
missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || true
  [ "$status" = 'install ok installed' ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
