#!/usr/bin/env bash
# The whole test suite: pg_regress files (sql/, expected/) and the scripted
# tests under test/scripted/, against the bundled mock, in a throwaway
# cluster.  --long runs the long variants (load, fuzzing, memory checking).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export MX_LONG=0
[ "${1:-}" = "--long" ] && MX_LONG=1

mx_build
mx_start_mock
echo "mock Mixpeek API at $MIXPEEK_MOCK_URL"

mx_in_cluster bash -c '
  set -u
  cd "$MX_TOP"
  status=0
  make -s installcheck || { cat regression.diffs 2>/dev/null | head -200; status=1; }
  for t in test/scripted/test_*.py; do
    [ -e "$t" ] || continue
    echo "== $t"
    /usr/bin/python3 "$t" || { echo "FAILED: $t"; status=1; }
  done
  exit $status
'
echo "all tests passed"
