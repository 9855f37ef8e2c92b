#!/usr/bin/env bash
# Installs the Debian packages the build, the demo and the tests need, when
# any is missing, and the mock's npm packages (test/mock/package-lock.json).
# Safe to run again; does nothing when all are present.
set -euo pipefail
pkgs=(build-essential pkg-config postgresql-15 postgresql-server-dev-15
      postgresql-common libcurl4-openssl-dev libjansson-dev nodejs curl
      python3-psycopg2 wrk clang libclang-rt-14-dev valgrind)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm comes with some builds of nodejs (NodeSource's) and is Debian's own
# package otherwise; installing Debian's beside NodeSource's would conflict
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}"
fi

# The mock's validator (ajv), exactly as package-lock.json pins it; the
# stamp (the lock file's hash) makes a second run a no-op.
mock=$(cd "$(dirname "${BASH_SOURCE[0]}")/mock" && pwd)
stamp="$mock/node_modules/.lock-sha256"
want=$(sha256sum "$mock/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  (cd "$mock" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi
