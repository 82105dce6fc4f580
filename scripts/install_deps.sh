#!/usr/bin/env bash
# Installs, with apt-get, every Debian package the build, tests and main job need.
# Quick when all are present (one dpkg query, no apt-get run). Needs root on a fresh machine.
# Extra package names as arguments are installed too (scripts/fuzz.sh adds clang-14 libfuzzer-14-dev).
set -euo pipefail

packages=(
  g++ cmake make git ca-certificates pkg-config
  xtensor-dev libxtensor-blas-dev libxsimd-dev libopenblas-dev
  catch2 libfmt-dev nlohmann-json3-dev libcli11-dev zlib1g-dev libpng-dev
  openmpi-bin libopenmpi-dev
  bible-kjv dataset-fashion-mnist mmseqs2-examples
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if (( ${#missing[@]} == 0 )); then
  exit 0
fi
echo "install_deps: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "install_deps: these packages are missing and installing them needs root: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install_deps: done"
