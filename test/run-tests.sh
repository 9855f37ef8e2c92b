#!/usr/bin/env bash
# The whole test suite: pg_regress files (sql/, expected/) and the scripted
# tests under test/scripted/, against the bundled mock, in a throwaway
# cluster.  --long runs the long variants (load, fuzzing, memory checking).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export MX_LONG=${MX_LONG:-0}
[ "${1:-}" = "--long" ] && MX_LONG=1

mx_build
mx_start_mock
echo "mock Mixpeek API at $MIXPEEK_MOCK_URL"

status=0
mx_in_cluster bash -c '
  set -u
  cd "$MX_TOP"
  status=0
  make -s installcheck || { cat regression.diffs 2>/dev/null | head -200; status=1; }
  # a session opened before each file must still be alive after it: a
  # backend crash makes the postmaster end every session (session_watch.py)
  for t in test/scripted/test_*.py; do
    [ -e "$t" ] || continue
    echo "== $t"
    coproc WATCH { /usr/bin/python3 test/scripted/session_watch.py 2>&1; }
    watch_pid=$WATCH_PID watch_in=${WATCH[0]} watch_out=${WATCH[1]}
    ready=
    read -r -t 60 ready <&"$watch_in" || true
    case $ready in
      ready:*) ;;
      *) echo "FAILED: $t: no session could be opened before it: $ready"; status=1 ;;
    esac
    /usr/bin/python3 "$t" || { echo "FAILED: $t"; status=1; }
    # builtins only: the coprocess fds are not open in subshells
    trap "" PIPE; echo >&"$watch_out" 2>/dev/null; trap - PIPE
    verdict=
    while IFS= read -r -t 60 line <&"$watch_in"; do verdict+="$line
"; done
    if wait "$watch_pid"; then
      echo -n "   crash check: $verdict"
    else
      echo "FAILED: $t: crash check (a session opened before the file must outlive it):"
      echo -n "$verdict" | sed "s/^/   /"
      status=1
    fi
  done
  exit $status
' || status=1

# fuzzing (a smoke run of seconds; 20 s per harness with --long), load
# (pgbench, 10 s; 60 s with --long) and valgrind (--long only): each
# script builds what it needs and runs its own cluster
export MX_BUILT=1
if [ "$MX_LONG" = 1 ]; then fuzz_s=20 load_s=60; else fuzz_s=2 load_s=10; fi
echo "== test/fuzz/run.sh $fuzz_s"
"$MX_TOP/test/fuzz/run.sh" "$fuzz_s" || { echo "FAILED: fuzzing"; status=1; }
echo "== test/load.sh $load_s"
"$MX_TOP/test/load.sh" "$load_s" || { echo "FAILED: load"; status=1; }
if [ "$MX_LONG" = 1 ]; then
  echo "== test/memcheck.sh"
  "$MX_TOP/test/memcheck.sh" || { echo "FAILED: memcheck"; status=1; }
  # the Debian package: build, dpkg -i, make installcheck, remove
  echo "== test/deb.sh"
  "$MX_TOP/test/deb.sh" || { echo "FAILED: deb"; status=1; }
fi
[ "$status" -eq 0 ] || { echo "some tests FAILED"; exit 1; }
echo "all tests passed"
