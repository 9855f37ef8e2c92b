#!/usr/bin/env bash
# Installs the Debian packages the build, the demo and the tests need, when
# any is missing.  Safe to run again; does nothing when all are present.
set -euo pipefail
pkgs=(build-essential pkg-config postgresql-15 postgresql-server-dev-15
      postgresql-common libcurl4-openssl-dev libjansson-dev nodejs curl
      python3-psycopg2 wrk clang libclang-rt-14-dev valgrind)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}"
