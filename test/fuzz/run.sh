#!/usr/bin/env bash
# test/fuzz/run.sh [seconds]: build the libFuzzer harnesses over the plain-C
# parts of the extension and run each for SECONDS (default 20; the suite
# runs a few seconds each, `test/run-tests.sh --long` the default, and by
# hand anything longer, e.g. `test/fuzz/run.sh 600`).
#
# Harnesses (each file says what it checks):
#   fuzz_percent      src/percent.c      path segment percent-encoding
#   fuzz_retry_after  src/retry_after.c  Retry-After header line and value
#   fuzz_float_bounds src/float_bounds.c bounds sent for a double precision
#                                        comparison (deparse.c)
#   fuzz_json         src/json_depth.c   nesting-depth pre-check, and the
#                                        UTF-8/NUL check json.c relies on
#   fuzz_control      src/control.c      error envelopes read with jansson
# The parts that need the backend (error messages, JSON-to-column
# conversion, the rest of filter building) are fuzzed through SQL instead:
# test/scripted/test_fuzz_sql.py.
#
# Built with clang's -fsanitize=fuzzer,address,undefined.  The seed corpus
# (test/fuzz/corpus/<harness>/) is copied to a work directory, so a run
# never changes the repository; MX_FUZZ_OUT names that directory (default: a
# new one under /tmp, removed unless something was found).  A finding stops
# that harness; the input is kept and shown, and the script exits non-zero.
# To keep new corpus entries: <harness> -merge=1 test/fuzz/corpus/<h> <work>/corpus/<h>
set -euo pipefail
secs=${1:-20}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
CC=${MX_FUZZ_CC:-clang}
pgc=${PG_CONFIG:-pg_config}
if [ -n "${MX_FUZZ_OUT:-}" ]; then out=$MX_FUZZ_OUT; keep=1; mkdir -p "$out"
else out=$(mktemp -d /tmp/pg_mixpeek_fuzz.XXXXXX); keep=0; fi

flags=(-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=all -Wall -Wextra -Werror -I"$top/src")
pginc=(-I"$("$pgc" --includedir-server)" -I"$("$pgc" --includedir)/internal"
       -Wno-ignored-attributes)
pglibs=(-L"$("$pgc" --libdir)" -L"$("$pgc" --pkglibdir)" -lpgcommon -lpgport)

build() {
  local name=$1; shift
  "$CC" "${flags[@]}" "$@" -o "$out/$name"
}
build fuzz_percent "$top/src/percent.c" "$here/fuzz_percent.c" -lcurl
build fuzz_retry_after "$top/src/retry_after.c" "$here/fuzz_retry_after.c" -lcurl
build fuzz_float_bounds "$top/src/float_bounds.c" "$here/fuzz_float_bounds.c" -lm
build fuzz_json "${pginc[@]}" "$top/src/json_depth.c" "$here/fuzz_json.c" "${pglibs[@]}"
build fuzz_control "$top/src/control.c" "$top/src/json_depth.c" "$here/fuzz_control.c" -ljansson

# name, max input length, dictionary
targets=("percent 1024 -" "retry_after 256 retry_after.dict" "float_bounds 64 -"
         "json 8192 json.dict" "control 4096 control.dict")
status=0
total=0
summary=()
for t in "${targets[@]}"; do
  read -r name maxlen dict <<<"$t"
  corpus=$out/corpus/$name
  mkdir -p "$corpus"
  cp "$here/corpus/$name/"* "$corpus/"
  args=(-max_total_time="$secs" -max_len="$maxlen" -timeout=10 -rss_limit_mb=2048
        -print_final_stats=1 -artifact_prefix="$out/finding-$name-")
  [ "$dict" != "-" ] && args+=(-dict="$here/$dict")
  rc=0
  # the log stays out of the terminal: libFuzzer prints a line per new unit
  "$out/fuzz_$name" "${args[@]}" "$corpus" >"$out/$name.log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log" | tail -1)
  execs=${execs:-0}
  cov=$(grep -o 'cov: [0-9]*' "$out/$name.log" | tail -1 | cut -d' ' -f2 || true)
  total=$((total + execs))
  if [ "$rc" -ne 0 ]; then
    status=1
    summary+=("$(printf '%-12s %12s executions, coverage %s: FINDING (exit %s)' "$name" "$execs" "${cov:-?}" "$rc")")
    echo "== fuzz_$name found a problem; log: $out/$name.log" >&2
    grep -E -A30 '^==[0-9]+==ERROR|check failed|runtime error|^value ' "$out/$name.log" | head -60 >&2 || tail -40 "$out/$name.log" >&2
    for f in "$out"/finding-"$name"-*; do
      [ -e "$f" ] || continue
      echo "-- input $f:" >&2
      od -A d -c "$f" | head -20 >&2
    done
  else
    summary+=("$(printf '%-12s %12s executions, coverage %s, corpus %s inputs: no findings' "$name" "$execs" "${cov:-?}" "$(ls "$corpus" | wc -l)")")
  fi
done
echo "fuzzing, ${secs} s per harness:"
printf '  %s\n' "${summary[@]}"
echo "  total        $(printf '%12s' "$total") executions"
if [ "$status" -ne 0 ] || [ "$keep" -eq 1 ]; then
  echo "work directory kept: $out"
else
  rm -rf "$out"
fi
exit $status
