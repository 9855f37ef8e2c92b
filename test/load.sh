#!/usr/bin/env bash
# test/load.sh [seconds]: a bounded pgbench run against the mock on
# loopback: 8 clients for SECONDS (default 60; the normal suite runs 10),
# mixing mixpeek_document() and mixpeek_documents() calls, documents that do
# not exist, foreign scans (document_id = value, = ANY(array), list scans
# with filters, sort and limit pushed down) and a few percent of injected
# faults, in the functions and on later list pages (test/load/*.pgbench,
# the checking functions in test/load/setup.sql).
#
# It fails unless:
#   - no backend crashed (no "terminated by signal" in the server log) and
#     the postmaster is the same process at the end;
#   - every failure had a documented SQLSTATE, and every injected fault the
#     one README's error table promises (else the check function raises MX002);
#   - every row returned was the right one (else MX001);
#   - no pgbench client aborted;
#   - backend memory stayed flat: private resident memory (RssAnon) of each
#     pgbench backend grows by less than MX_LOAD_RSS_SLACK_KB (default 2048)
#     between the sample at a quarter of the run and the end.
# The summary goes to stdout; numbers for test/LOAD.md come from there.
#
# MX_LOAD_CLIENTS (8), MX_LOAD_WEIGHTS (percent of transactions per script,
# e.g. "one=70 many=15 missing=10 fault=5" for the functions alone).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
secs=${1:-60}
clients=${MX_LOAD_CLIENTS:-8}
weights=${MX_LOAD_WEIGHTS:-"one=35 many=10 missing=5 fault=3 fdw_get=20 fdw_any=10 fdw_list=15 fdw_fault=2"}
slack_kb=${MX_LOAD_RSS_SLACK_KB:-2048}

[ "${MX_BUILT:-}" = 1 ] || mx_build >/dev/null
mx_start_mock
# the request log is of no use here and would only cost the mock time
curl -s -X POST -H 'Content-Type: application/json' -d '{"record": false}' \
  "$MIXPEEK_MOCK_CONTROL/config" >/dev/null
mx_cluster_start -c "log_min_messages = log" -c "log_min_error_statement = error" \
  -c "max_connections = $((clients + 10))"
postmaster=$(mx_cluster_postmaster_pid)
PGOPTIONS="-c client_min_messages=warning" psql -q -v ON_ERROR_STOP=1 -v mock_url="$MIXPEEK_MOCK_URL" -f "$MX_TOP/test/load/setup.sql" >/dev/null

scripts=()
for w in $weights; do
  scripts+=(-f "$MX_TOP/test/load/${w%%=*}.pgbench@${w##*=}")
done
echo "load: $clients clients, $secs s, scripts (percent of transactions): $weights"

# RSS of the pgbench backends, every second, while pgbench runs
rss_log=$MX_TMP/rss.log
: >"$rss_log"
(
  t=0
  while :; do
    for pid in $(psql -XAtq -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench'" 2>/dev/null); do
      [ -r "/proc/$pid/status" ] || continue
      awk -v t="$t" -v pid="$pid" '/^VmRSS:/{v=$2} /^RssAnon:/{a=$2} END{if (v) print t, pid, v, a}' "/proc/$pid/status" >>"$rss_log" 2>/dev/null || true
    done
    sleep 1
    t=$((t + 1))
  done
) &
sampler=$!

start_requests=$(curl -s "$MIXPEEK_MOCK_CONTROL/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
pgbench_rc=0
pgbench -n -c "$clients" -j 2 -T "$secs" -P "$(( secs >= 30 ? 10 : 5 ))" "${scripts[@]}" \
  >"$MX_TMP/pgbench.out" 2>"$MX_TMP/pgbench.err" || pgbench_rc=$?
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
end_requests=$(curl -s "$MIXPEEK_MOCK_CONTROL/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
postmaster_after=$(mx_cluster_postmaster_pid 2>/dev/null || echo gone)
alive=yes
"$MX_PGBIN/pg_isready" -q || alive=no
# the server log is complete once the server is down
mx_cluster_stop

set +e
python3 - "$MX_TMP/pgbench.out" "$MX_TMP/pgbench.err" "$pgbench_rc" "$MX_CLUSTER_LOG" \
  "$rss_log" "$postmaster" "$postmaster_after" "$alive" "$slack_kb" \
  "$((end_requests - start_requests))" "$secs" <<'PYEOF'
import re, sys
from collections import Counter, defaultdict

(out_f, err_f, rc, log_f, rss_f, pm_before, pm_after, alive, slack_kb,
 requests, secs) = sys.argv[1:12]
out = open(out_f).read()
err = open(err_f).read()
problems = []

def grab(pattern, text=out, cast=float):
    m = re.search(pattern, text)
    return cast(m.group(1)) if m else None

tps = grab(r"tps = ([\d.]+) \(without initial connection time\)")
done = grab(r"number of transactions actually processed: (\d+)", cast=int)
failed = grab(r"number of failed transactions: (\d+)", cast=int) or 0
lat = grab(r"latency average = ([\d.]+) ms")
per_script = re.findall(r"SQL script \d+: \S+/(\w+)\.pgbench\n - weight: \d+ \(targets [\d.]+% of total\)\n"
                        r" - (\d+) transactions \(([\d.]+)% of total, tps = ([\d.]+)\)", out)
aborted = len(re.findall(r"client \d+ aborted", err))

states = Counter()
kinds = defaultdict(Counter)
uncaught = Counter()
crashes = []
for line in open(log_f, errors="replace"):
    m = re.search(r"LOG:  mxload failure (.+) (\S{5}) (expected|unexpected)$", line.rstrip())
    if m:
        states[(m.group(2), m.group(3))] += 1
        kinds[m.group(3)][m.group(1) + " " + m.group(2)] += 1
        continue
    m = re.search(r"\] (\S{5}) ERROR:  (.*)", line)
    if m:
        uncaught[m.group(1)] += 1
        if len(crashes) + sum(uncaught.values()) <= 5:
            print("  server ERROR: " + line.strip())
    if re.search(r"terminated by signal|was terminated|terminating any other active", line):
        crashes.append(line.strip())

rss = defaultdict(list)
for line in open(rss_f):
    t, pid, vm, anon = (int(x) for x in line.split())
    rss[pid].append((t, vm, anon))

print("load result:")
print("  pgbench: %s transactions in %s s, %.1f tps, latency average %s ms, %d failed, %d clients aborted (exit %s)"
      % (done, secs, tps or 0, lat, failed, aborted, rc))
for name, n, pct, stps in per_script:
    print("    %-8s %8s transactions (%5s%%), %8s tps" % (name, n, pct, stps))
req = int(requests)
print("  requests the mock answered: %d (%.0f per second)" % (req, req / float(secs)))
inj = sum(n for (s, k), n in states.items() if k == "expected")
print("  failures, by SQLSTATE (all caught in SQL and logged):")
for (s, k), n in sorted(states.items()):
    print("    %s  %6d  %s" % (s, n, "injected faults" if k == "expected" else "NOT injected"))
if not states:
    print("    none")
print("  injected faults that failed as promised: %d; faults were %.1f%% of transactions" %
      (inj, 100.0 * sum(int(n) for name, n, p, t in per_script if name in ("fault", "fdw_fault")) / max(done or 1, 1)))
if kinds["unexpected"]:
    print("  failures of fault-free calls (documented SQLSTATEs, reported):")
    for k, n in kinds["unexpected"].most_common():
        print("    %6d  %s" % (n, k))
print("  uncaught errors (MX001 wrong row, MX002 undocumented/wrong SQLSTATE, others): %s"
      % (dict(uncaught) or "none"))
print("  backend crashes: %d; postmaster pid %s -> %s; server %s" %
      (len(crashes), pm_before, pm_after, "up" if alive == "yes" else "DOWN"))

grow = []
for pid, samples in sorted(rss.items()):
    samples.sort()
    if len(samples) < 4:
        continue
    q = samples[len(samples) // 4]
    first, last = samples[0], samples[-1]
    grow.append((pid, first, q, last, last[2] - q[2]))
if grow:
    print("  backend memory, kB (VmRSS / RssAnon), start -> quarter -> end:")
    for pid, first, q, last, g in grow:
        print("    pid %-7d %7d/%-6d -> %7d/%-6d -> %7d/%-6d  RssAnon growth after warm-up %+d"
              % (pid, first[1], first[2], q[1], q[2], last[1], last[2], g))
    worst = max(g for *_, g in grow)
    print("  largest RssAnon growth after warm-up: %+d kB (limit %s kB)" % (worst, slack_kb))
    if worst >= int(slack_kb):
        problems.append("backend memory grew by %d kB" % worst)
else:
    problems.append("no RSS samples")

if crashes:
    problems.append("backend crashes: %s" % crashes[:3])
if pm_before != pm_after or alive != "yes":
    problems.append("postmaster changed or server down")
if uncaught:
    problems.append("uncaught errors %s" % dict(uncaught))
if aborted or rc != "0":
    problems.append("pgbench: %d clients aborted, exit %s" % (aborted, rc))
    print(err[-3000:])
if not done:
    problems.append("no transactions")
print("load verdict: %s" % ("FAILED: " + "; ".join(problems) if problems else "passed"))
sys.exit(1 if problems else 0)
PYEOF
verdict=$?
exit $verdict
