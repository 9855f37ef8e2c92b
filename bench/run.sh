#!/usr/bin/env bash
# The pg_mixpeek benchmarks, from one command: builds and installs the
# extension, starts the bundled mock Mixpeek API on loopback, and runs
# bench/bench.py in a throwaway cluster.  The results table is written to
# bench/results/<timestamp>.md (and bench/results/latest.md).
#
#   bench/run.sh            all benchmarks, 5 runs each (median reported)
#   bench/run.sh --quick    1 run each, smaller sizes: checks that it works
#   bench/run.sh --workload the analyst workload (bench/workload.py): requests
#                           and time per query at a real-world latency
#
# Sizes and run counts can be changed through the environment, e.g.
#   BENCH_RUNS=7 BENCH_ONLY=lookups,percall bench/run.sh
# (see the top of bench/bench.py for every knob).
set -euo pipefail
. "$(dirname "$0")/../test/lib.sh"

if [ "${1:-}" = "--quick" ]; then
  export BENCH_RUNS=${BENCH_RUNS:-1}
  export BENCH_CALLS=${BENCH_CALLS:-1000}
  export BENCH_SCAN_LIMIT_PAGES=${BENCH_SCAN_LIMIT_PAGES:-0}
fi
export BENCH_COMMAND="bench/run.sh${1:+ $1}"

mx_build
mx_start_mock
export MX_AGGREGATE_PUSHDOWN=on		# the default, as users have it
echo "mock Mixpeek API at $MIXPEEK_MOCK_URL"
mkdir -p "$MX_TOP/bench/results"
if [ "${1:-}" = "--workload" ]; then
  mx_in_cluster /usr/bin/python3 "$MX_TOP/bench/workload.py"
else
  mx_in_cluster /usr/bin/python3 "$MX_TOP/bench/bench.py"
fi
