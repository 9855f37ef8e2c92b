#!/usr/bin/env bash
# The whole test suite: pg_regress files (sql/, expected/) and the scripted
# tests under test/scripted/, against the bundled mock, in a throwaway
# cluster.  --long runs the long variants (load, fuzzing, memory checking).
#
#   test/run-tests.sh [--long] [--no-install] [NAME...]
#
# NAMEs run only those tests (no fuzzing, load or --long steps):
#   fdw_scan                      a pg_regress file (sql/fdw_scan.sql)
#   test_wire                     a scripted file (test/scripted/test_wire.py)
#   test_wire.Wire.test_03_cursor_cycle, test_wire.Wire.test_cursor_cycle,
#   test_wire.cursor_cycle        one case of it (the number may be left
#                                 out), test_wire.Wire its class
# --no-install skips building and installing the extension (test what is
# installed).  MX_MOCK_SEMANTICS=strict (default) or lenient chooses the
# mock's filter semantics.  Any request or answer that breaks Mixpeek's
# OpenAPI fails the file during which the mock saw it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export MX_LONG=${MX_LONG:-0}

usage() { sed -n '6,20s/^# \{0,1\}//p' "$MX_TOP/test/run-tests.sh"; }
install=1 selected=0 regress=() scripted_files=()
declare -A scripted_cases=()
for arg in "$@"; do
  case $arg in
    --long) MX_LONG=1 ;;
    --no-install) install=0 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "run-tests.sh: unknown option $arg" >&2; usage >&2; exit 2 ;;
    *)
      selected=1
      name=${arg#sql/} name=${name#test/scripted/}
      if [ -e "$MX_TOP/sql/${name%.sql}.sql" ]; then
        regress+=("${name%.sql}")
        continue
      fi
      name=${name%.py} file=${name%%.*} case_name=
      [ "$file" != "$name" ] && case_name=${name#*.}
      if [ ! -e "$MX_TOP/test/scripted/$file.py" ]; then
        echo "run-tests.sh: no test $arg (neither sql/${name%%.*}.sql nor test/scripted/$file.py)" >&2
        exit 2
      fi
      [ -n "${scripted_cases[$file]+set}" ] || scripted_files+=("$file")
      scripted_cases[$file]+="${case_name:+ $case_name}"
      ;;
  esac
done
# what the cluster runs: MX_RUN_REGRESS (file names), MX_RUN_SCRIPTED (lines
# of "test/scripted/FILE.py [CASE...]"); every file when no NAME was given
export MX_RUN_SELECTED=$selected MX_RUN_REGRESS="${regress[*]}" MX_RUN_SCRIPTED=
for f in "${scripted_files[@]}"; do
  MX_RUN_SCRIPTED+="test/scripted/$f.py${scripted_cases[$f]}"$'\n'
done

if [ "$install" = 1 ]; then mx_build; else echo "not building or installing (--no-install)"; fi
mx_start_mock
echo "mock Mixpeek API at $MIXPEEK_MOCK_URL ($MX_MOCK_SEMANTICS filter semantics)"

status=0
mx_in_cluster bash -c '
  set -u
  cd "$MX_TOP"
  status=0
  if [ "$MX_RUN_SELECTED" = 0 ]; then
    make -s installcheck || { cat regression.diffs 2>/dev/null | head -200; status=1; }
    /usr/bin/python3 test/mock/violations.py "pg_regress" || status=1
    runs=(test/scripted/test_*.py)
  else
    if [ -n "$MX_RUN_REGRESS" ]; then
      make -s installcheck REGRESS="$MX_RUN_REGRESS" || { cat regression.diffs 2>/dev/null | head -200; status=1; }
      /usr/bin/python3 test/mock/violations.py "pg_regress" || status=1
    fi
    mapfile -t runs <<<"$MX_RUN_SCRIPTED"
  fi
  # a session opened before each file must still be alive after it: a
  # backend crash makes the postmaster end every session (session_watch.py)
  for run in "${runs[@]}"; do
    t=${run%% *} cases=
    [ "$t" = "$run" ] || cases=${run#* }
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
    /usr/bin/python3 "$t" $cases || { echo "FAILED: $t${cases:+ $cases}"; status=1; }
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
    # contract check: no request or answer since the last check broke the OpenAPI
    /usr/bin/python3 test/mock/violations.py "$t" || status=1
  done
  exit $status
' || status=1

if [ "$selected" = 1 ]; then
  [ "$status" -eq 0 ] || { echo "some tests FAILED"; exit 1; }
  echo "the tests named passed"
  exit 0
fi

# fuzzing (a smoke run of seconds; 20 s per harness with --long), load
# (pgbench, 10 s; 60 s with --long) and valgrind (--long only): each
# script builds what it needs and runs its own cluster
export MX_BUILT=1
if [ "$MX_LONG" = 1 ]; then fuzz_s=20 load_s=60; else fuzz_s=2 load_s=10; fi
echo "== test/fuzz/run.sh $fuzz_s"
"$MX_TOP/test/fuzz/run.sh" "$fuzz_s" || { echo "FAILED: fuzzing"; status=1; }
echo "== test/load.sh $load_s"
"$MX_TOP/test/load.sh" "$load_s" || { echo "FAILED: load"; status=1; }
# the AddressSanitizer build (its own private installation and cluster):
# the key matrix, the aggregate merges and the batched joins (about 80 s);
# with --long the scripted tests asan.sh lists
if [ "$MX_LONG" = 1 ]; then
  echo "== test/asan.sh"
  "$MX_TOP/test/asan.sh" || { echo "FAILED: asan"; status=1; }
else
  asan_tests="test/scripted/test_key_matrix.py test/scripted/test_aggregates.py test/scripted/test_batch_join.py"
  echo "== test/asan.sh ($asan_tests)"
  MX_ASAN_TESTS=$asan_tests "$MX_TOP/test/asan.sh" || { echo "FAILED: asan"; status=1; }
fi
if [ "$MX_LONG" = 1 ]; then
  echo "== test/memcheck.sh"
  "$MX_TOP/test/memcheck.sh" || { echo "FAILED: memcheck"; status=1; }
  # the Debian package: build, dpkg -i, make installcheck, remove
  echo "== test/deb.sh"
  "$MX_TOP/test/deb.sh" || { echo "FAILED: deb"; status=1; }
fi
[ "$status" -eq 0 ] || { echo "some tests FAILED"; exit 1; }
echo "all tests passed"
