#!/usr/bin/env bash
# test/memcheck.sh: the pg_regress suite and the scripted fault tests with
# every backend under valgrind memcheck, then a verdict on what valgrind saw.
#
# The server runs as `valgrind ... postgres` (a backend is a fork of the
# postmaster, so valgrind follows it), with PostgreSQL's own suppressions
# (test/valgrind/postgresql.supp).  Each process writes its own log; at the
# end every error is attributed: it counts against the extension when a
# frame of its stack, or of the stack that allocated the memory involved,
# lies in this repository's src/.  The script fails when any such error
# (invalid read/write/free, use of an uninitialised value, a syscall fed
# undefined bytes, a definite leak) was found, or when a backend crashed.
# Other errors are counted and shown, not judged.
#
# What valgrind cannot see here: Debian's postgres is built without
# USE_VALGRIND, so palloc'd chunks inside a memory-context block are not
# separately guarded (an overrun into the next chunk of the same block
# goes unnoticed); malloc'd memory (libcurl, jansson, our TopMemoryContext
# allocations' blocks) and uninitialised bytes are fully checked.
#
# Test outcomes are reported too; checks that measure time (cancel within
# 200 ms and the like) or resident memory (valgrind's shadow memory grows
# it) cannot hold under valgrind, so a failing test does not fail this
# script unless MX_MEMCHECK_STRICT=1.
#
# The logs are kept in MX_MEMCHECK_LOGS (default /tmp/pg_mixpeek-memcheck).
# MX_MEMCHECK_TESTS: the scripted tests to run (default: the fault matrix,
# errors in the middle of batches and scans, and the fuzz-through-SQL test
# with a smaller number of bodies: test_faults*.py, test_batch.py,
# test_fdw.py, test_fuzz_sql.py).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
export MX_LONG=0

command -v valgrind >/dev/null || { echo "valgrind is not installed (test/deps.sh)" >&2; exit 1; }
[ "${MX_BUILT:-}" = 1 ] || mx_build
mx_start_mock
echo "mock Mixpeek API at $MIXPEEK_MOCK_URL"

vglogs=$MX_TMP/valgrind
mkdir -p "$vglogs"
[ "$(id -u)" -eq 0 ] && chown postgres: "$vglogs"
started=$(date +%s)
mx_cluster_start -- valgrind --tool=memcheck --quiet --trace-children=yes \
  --track-origins=yes --leak-check=full --show-leak-kinds=definite \
  --errors-for-leak-kinds=definite --num-callers=40 --fullpath-after= \
  --suppressions="$MX_TOP/test/valgrind/postgresql.supp" \
  --error-markers=VALGRINDERROR-BEGIN,VALGRINDERROR-END \
  --log-file="$vglogs/%p.log"
postmaster=$(mx_cluster_postmaster_pid)
echo "postgres under valgrind: postmaster pid $postmaster, started in $(( $(date +%s) - started )) s"

tests_failed=()
cd "$MX_TOP"
echo "== pg_regress suite"
if ! make -s installcheck; then
  tests_failed+=("pg_regress")
  head -100 regression.diffs 2>/dev/null || true
fi
if [ -n "${MX_MEMCHECK_TESTS:-}" ]; then
  read -r -a scripted <<<"$MX_MEMCHECK_TESTS"
else
  scripted=(test/scripted/test_faults*.py test/scripted/test_batch.py
            test/scripted/test_fdw.py test/scripted/test_fuzz_sql.py)
fi
export MX_FUZZ_SQL_BODIES=${MX_FUZZ_SQL_BODIES:-300}
for t in "${scripted[@]}"; do
  [ -e "$t" ] || continue
  echo "== $t (under valgrind)"
  /usr/bin/python3 "$t" || tests_failed+=("$t")
done

alive=yes
kill -0 "$postmaster" 2>/dev/null || alive=no
mx_cluster_stop
echo "tests done and server stopped after $(( $(date +%s) - started )) s"

set +e
python3 - "$vglogs" "$MX_TOP/src" "$MX_CLUSTER_LOG" "$alive" <<'PYEOF'
import glob, os, re, sys
from collections import Counter

logdir, srcdir, serverlog, alive = sys.argv[1:5]
ours = srcdir.rstrip("/") + "/"
procs = 0
ours_errs = []
other = Counter()
for path in sorted(glob.glob(os.path.join(logdir, "*.log"))):
    procs += 1
    text = open(path, errors="replace").read()
    for block in re.findall(r"VALGRINDERROR-BEGIN\n(.*?)VALGRINDERROR-END", text, re.S):
        lines = [re.sub(r"^==\d+== ?", "", l) for l in block.splitlines()]
        lines = [l for l in lines if l.strip()]
        if not lines:
            continue
        kind = re.sub(r"\d[\d,]*", "N", lines[0])
        if ours in block:
            ours_errs.append((os.path.basename(path), lines))
        else:
            other[kind] += 1
    if "Process terminating with default action" in text:
        ours_errs.append((os.path.basename(path), ["process killed by a signal:"] +
                          re.findall(r"Process terminating.*", text)))

crashes = []
for line in open(serverlog, errors="replace"):
    if re.search(r"was terminated by signal|terminating any other active server", line):
        crashes.append(line.strip())

print("memcheck: %d processes checked under valgrind" % procs)
print("  errors attributed to the extension (a frame in %s): %d" % (ours, len(ours_errs)))
for name, lines in ours_errs[:20]:
    print("  --- %s" % name)
    for l in lines[:40]:
        print("      " + l)
if other:
    print("  other errors (no frame of ours; not judged): %d" % sum(other.values()))
    for kind, n in other.most_common(10):
        print("    %5d  %s" % (n, kind))
else:
    print("  other errors (no frame of ours): 0")
print("  backend crashes in the server log: %d" % len(crashes))
for c in crashes[:10]:
    print("    " + c)
if alive != "yes":
    print("  the postmaster had died before the end")
bad = bool(ours_errs) or bool(crashes) or alive != "yes"
print("memcheck verdict: %s" % ("FAILED" if bad else
      "clean: zero invalid accesses, uninitialised reads or definite leaks in mixpeek code"))
sys.exit(1 if bad else 0)
PYEOF
verdict=$?
set -e
if [ ${#tests_failed[@]} -gt 0 ]; then
  echo "tests that failed under valgrind (time and RSS checks cannot hold there): ${tests_failed[*]}"
  [ "${MX_MEMCHECK_STRICT:-0}" = 1 ] && verdict=1
fi
keep=${MX_MEMCHECK_LOGS:-/tmp/pg_mixpeek-memcheck}
rm -rf "$keep"; cp -r "$vglogs" "$keep"; cp "$MX_CLUSTER_LOG" "$keep/server.log"
echo "valgrind logs (one per process) and the server log: $keep"
exit $verdict
