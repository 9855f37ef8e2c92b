#!/usr/bin/python3
"""pg_mixpeek benchmarks: lookups, full scan, per-call overhead, and the mock.

Run through bench/run.sh, which provides a throwaway cluster (PGHOST, ...)
with the library preloaded and the bundled mock Mixpeek API
(MIXPEEK_MOCK_URL).  Every benchmark runs its variants side by side in the
same round, BENCH_RUNS rounds, and reports the median; ratios are taken
between medians measured in the same invocation.

Knobs (environment):
  BENCH_RUNS          rounds per benchmark (5)
  BENCH_ONLY          comma list of: mock, lookups, scan, percall (all)
  BENCH_COLLECTION    collection to read (col_big)
  BENCH_LOOKUP_N      ids per lookup statement (200)
  BENCH_LATENCY_MS    latency the mock adds to each request in lookups (20)
  BENCH_CALLS         mixpeek_document() calls in the per-call benchmark (10000)
  BENCH_PAGE_SIZE     page size of the scan, FDW and clients alike (100):
                      the foreign tables' page_size option, so that the
                      FDW's pages do not grow past the clients'
  BENCH_SCAN_LATENCY_MS  latency the mock adds to each request in the scan (0)
  BENCH_SCAN_LIMIT_PAGES  0: scan the whole collection; N: skip the scan
                      unless the collection has at most N pages (quick mode)
  BENCH_WRK_SECONDS   duration of each wrk run against the mock (5)
"""
import datetime
import http.client
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

TOP = os.environ.get("MX_TOP") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "test", "scripted"))
import mxtest as mx  # noqa: E402
import psycopg2  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "mock,lookups,scan,percall").split(",")))
COLLECTION = os.environ.get("BENCH_COLLECTION", "col_big")
LOOKUP_N = int(os.environ.get("BENCH_LOOKUP_N", "200"))
LATENCY_MS = int(os.environ.get("BENCH_LATENCY_MS", "20"))
CALLS = int(os.environ.get("BENCH_CALLS", "10000"))
PAGE_SIZE = int(os.environ.get("BENCH_PAGE_SIZE", "100"))
SCAN_LATENCY_MS = int(os.environ.get("BENCH_SCAN_LATENCY_MS", "0"))
SCAN_LIMIT_PAGES = int(os.environ.get("BENCH_SCAN_LIMIT_PAGES", "0"))
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "5"))
COMMAND = os.environ.get("BENCH_COMMAND", "bench/run.sh")
KEY = "sk_test_alpha"

MOCK = urllib.parse.urlsplit(mx.MOCK_URL)
RESULTS_DIR = os.path.join(TOP, "bench", "results")

TARGET_LOOKUP = 1.5
TARGET_SCAN = 1.2
TARGET_SCAN_RSS_MB = 32
TARGET_PERCALL = 1.3

rows_out = []       # the results table
notes_out = []      # lines printed under the table


def log(*a):
    print(*a, flush=True)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_s(s):
    return "%.3f s" % s if s == s else "n/a"


def verdict(ratio, target):
    if ratio != ratio:
        return "n/a"
    return "yes" if ratio <= target else "**no**"


# ---------- talking to the mock directly (the baselines) ----------

def mock_conn():
    return http.client.HTTPConnection(MOCK.hostname, MOCK.port, timeout=60)


HEADERS = {"Authorization": "Bearer " + KEY, "X-Namespace": "default",
           "Accept": "application/json", "Content-Type": "application/json"}

CURSOR_RE = re.compile(rb'"next_cursor"\s*:\s*("(?:[^"\\]|\\.)*"|null)')


def list_path(limit):
    return "/v1/collections/%s/documents/list?limit=%d" % (urllib.parse.quote(COLLECTION, safe=""), limit)


def collect_ids(n):
    """The first n document ids of the collection, in list order."""
    conn = mock_conn()
    ids = []
    cursor = None
    while len(ids) < n:
        body = {} if cursor is None else {"cursor": cursor}
        conn.request("POST", list_path(1000), json.dumps(body), HEADERS)
        resp = conn.getresponse()
        page = json.loads(resp.read())
        if resp.status != 200:
            raise RuntimeError("listing %s: HTTP %d %r" % (COLLECTION, resp.status, page))
        ids += [d["document_id"] for d in page["results"]]
        cursor = (page.get("pagination") or {}).get("next_cursor")
        if not cursor:
            break
    conn.close()
    return ids[:n]


def page_python(select=None):
    """Page through the collection over one kept HTTP/1.1 connection.

    The client does what any client must: send each request, read the whole
    body, and find pagination.next_cursor (with a regular expression, not a
    full JSON parse, so the client costs as little as possible).  Returns
    (pages, bytes, cursors) -- cursors is the body of every request sent."""
    conn = mock_conn()
    cursor = None
    pages = 0
    nbytes = 0
    bodies = []
    while True:
        body = {} if cursor is None else {"cursor": cursor}
        if select is not None:
            body["select"] = select
        raw = json.dumps(body)
        bodies.append(raw)
        conn.request("POST", list_path(PAGE_SIZE), raw, HEADERS)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError("paging: HTTP %d %r" % (resp.status, data[:200]))
        pages += 1
        nbytes += len(data)
        m = CURSOR_RE.search(data)
        if m is None or m.group(1) == b"null":
            break
        cursor = json.loads(m.group(1))
        if cursor == "":
            break
    conn.close()
    return pages, nbytes, bodies


def curl_next_config(bodies, path):
    """A curl config that sends every list request of one scan, chained with
    `next` (one curl process, one kept connection)."""
    fd, name = tempfile.mkstemp(prefix="bench-curl-", suffix=".cfg")
    with os.fdopen(fd, "w") as f:
        for i, b in enumerate(bodies):
            if i > 0:
                f.write("next\n")
            f.write('header = "Authorization: Bearer %s"\n' % KEY)
            f.write('header = "X-Namespace: default"\n')
            f.write('header = "Accept: application/json"\n')
            f.write('header = "Content-Type: application/json"\n')
            f.write('data-raw = "%s"\n' % b.replace("\\", "\\\\").replace('"', '\\"'))
            f.write('url = "%s%s"\n' % (mx.MOCK_URL, path))
            f.write("silent\n")
    return name


def curl_get_config(ids):
    """A curl config with one GET per id; headers are global, so curl sends
    them all over one kept connection."""
    fd, name = tempfile.mkstemp(prefix="bench-curl-", suffix=".cfg")
    with os.fdopen(fd, "w") as f:
        f.write('header = "Authorization: Bearer %s"\n' % KEY)
        f.write('header = "X-Namespace: default"\n')
        f.write('header = "Accept: application/json"\n')
        f.write("silent\n")
        for i in ids:
            f.write('url = "%s/v1/collections/%s/documents/%s"\n' % (
                mx.MOCK_URL, urllib.parse.quote(COLLECTION, safe=""),
                urllib.parse.quote(i, safe="")))
    return name


def run_curl(config):
    t0 = time.perf_counter()
    out = subprocess.run(["curl", "-K", config], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError("curl failed (%d): %s" % (out.returncode, out.stderr[:300]))
    return elapsed, len(out.stdout)


def mock_stats():
    try:
        return mx.mock_stats()
    except Exception:  # noqa: BLE001 -- older mocks have no stats
        return {}


def mock_connections():
    return mock_stats().get("connections")


# ---------- PostgreSQL ----------

def connect():
    conn = mx.connect()
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS mixpeek")
    return conn


def timed(conn, sql, params=None):
    with conn.cursor() as cur:
        t0 = time.perf_counter()
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description is not None else None
        return time.perf_counter() - t0, rows


def requests_of(sql, params=None, setup=None):
    """Requests one run of sql makes: (counted by mixpeek_stats, received by
    the mock).  Run alone, outside the timed rounds, with nothing else
    talking to the mock."""
    conn = connect()
    if setup:
        timed(conn, setup)
    total = "SELECT coalesce(sum(requests), 0)::bigint FROM mixpeek_stats"
    s0, m0 = mx.scalar(conn, total), mock_stats().get("requests")
    timed(conn, sql, params)
    s1, m1 = mx.scalar(conn, total), mock_stats().get("requests")
    conn.close()
    return s1 - s0, (m1 - m0) if m0 is not None and m1 is not None else None


def requests_note(counted):
    stats, mock = counted
    return "%d requests a query (mixpeek_stats; the mock received %s%s)" % (
        stats, mock, "" if mock == stats else ", DIFFERENT")


def proc_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


FDW_SETUP = """
DROP SERVER IF EXISTS bench_srv CASCADE;
CREATE SERVER bench_srv FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url %s);
CREATE USER MAPPING FOR CURRENT_USER SERVER bench_srv OPTIONS (api_key %s);
CREATE FOREIGN TABLE bench_big (document_id text, document jsonb)
  SERVER bench_srv OPTIONS (collection %s, page_size %s);
CREATE FOREIGN TABLE bench_big_cols (document_id text, category text, word_count bigint)
  SERVER bench_srv OPTIONS (collection %s, page_size %s);
"""


def fdw_setup(conn, probe_ids):
    """Create the foreign table; (created, lookups work, why not)."""
    err = mx.run_error(conn, FDW_SETUP, (mx.MOCK_URL, KEY, COLLECTION, str(PAGE_SIZE),
                                         COLLECTION, str(PAGE_SIZE)))
    if err is not None:
        return False, False, "CREATE SERVER / FOREIGN TABLE failed: %s %s" % (err.sqlstate, err.message)
    try:
        _, rows = timed(conn, "SELECT count(*) FROM bench_big WHERE document_id = ANY(%s)",
                        (probe_ids,))
        if rows[0][0] != len(probe_ids):
            return True, False, "document_id = ANY(%d ids) returned %r rows" % (len(probe_ids), rows[0][0])
    except psycopg2.Error as exc:
        return True, False, "document_id = ANY() failed: %s %s" % (exc.pgcode, str(exc).strip().splitlines()[0])
    return True, True, ""


def fdw_scan_usable(conn):
    """(True, EXPLAIN VERBOSE text) when a list scan works."""
    try:
        _, rows = timed(conn, "SELECT count(*) FROM (SELECT document FROM bench_big LIMIT %d) s"
                        % (PAGE_SIZE * 2 + 1))
        if rows[0][0] != PAGE_SIZE * 2 + 1:
            return False, "a scan with LIMIT %d returned %r rows" % (PAGE_SIZE * 2 + 1, rows[0][0])
        _, rows = timed(conn, "EXPLAIN (VERBOSE) SELECT sum(length(document::text)) FROM bench_big")
        return True, "\n".join(r[0] for r in rows)
    except psycopg2.Error as exc:
        return False, "a list scan failed: %s %s" % (exc.pgcode, str(exc).strip().splitlines()[0])


# ---------- the benchmarks ----------

def bench_mock(ids):
    """wrk against the mock: how fast can it answer at all."""
    if shutil.which("wrk") is None:
        notes_out.append("- wrk is not installed: the mock's own rate was not measured.")
        return
    mx.mock_config(latency_ms=0, record=False)
    url = "%s/v1/collections/%s/documents/%s" % (mx.MOCK_URL, COLLECTION, urllib.parse.quote(ids[0], safe=""))
    for conns in (1, 8):
        out = subprocess.run(["wrk", "-t1", "-c%d" % conns, "-d%ds" % WRK_SECONDS,
                              "-H", "Authorization: Bearer " + KEY, "-H", "X-Namespace: default", url],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        m = re.search(r"Requests/sec:\s*([\d.]+)", out.stdout)
        lat = re.search(r"Latency\s+([\d.]+\w+)", out.stdout)
        rps = float(m.group(1)) if m else float("nan")
        log("wrk -c%d: %s req/s, mean latency %s" % (conns, rps, lat.group(1) if lat else "?"))
        rows_out.append(("mock (wrk)", "GET one document, %d connection%s, %d s" % (
            conns, "s" if conns > 1 else "", WRK_SECONDS),
            "%.0f req/s (%.3f ms/req)" % (rps, 1000.0 / rps if rps else 0),
            "", "", "", ""))
    lua = os.path.join(TOP, "test", "mock", "wrk-list.lua")
    if os.path.exists(lua):
        out = subprocess.run(["wrk", "-t1", "-c1", "-d%ds" % WRK_SECONDS, "-s", lua,
                              mx.MOCK_URL + list_path(PAGE_SIZE)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        m = re.search(r"Requests/sec:\s*([\d.]+)", out.stdout)
        rps = float(m.group(1)) if m else float("nan")
        log("wrk list -c1: %s pages/s" % rps)
        rows_out.append(("mock (wrk)", "POST documents/list?limit=%d (first page), 1 connection, %d s"
                         % (PAGE_SIZE, WRK_SECONDS),
                         "%.0f pages/s (%.3f ms/page)" % (rps, 1000.0 / rps if rps else 0),
                         "", "", "", ""))


def bench_lookups(ids, fdw_ok, fdw_why):
    conn = connect()
    conc = int(mx.scalar(conn, "SHOW mixpeek.max_concurrency"))
    n = len(ids)
    floor = n * LATENCY_MS / 1000.0 / conc
    mx.mock_config(latency_ms=LATENCY_MS, record=False)
    variants = [
        ("one-by-one mixpeek_document()",
         "SELECT count(mixpeek_document(%s, id)) FROM unnest(%s::text[]) AS id",
         (COLLECTION, ids)),
        ("mixpeek_documents()",
         "SELECT count(*) FROM mixpeek_documents(%s, %s::text[])", (COLLECTION, ids)),
    ]
    if fdw_ok:
        variants.append(("FDW document_id = ANY(array)",
                         "SELECT count(*) FROM bench_big WHERE document_id = ANY(%s::text[])",
                         (ids,)))
    times = {v[0]: [] for v in variants}
    counted = {v[0]: requests_of(v[1], v[2]) for v in variants}
    for r in range(RUNS):
        for name, sql, params in variants:
            c0 = mock_connections()
            t, rows = timed(conn, sql, params)
            c1 = mock_connections()
            if rows[0][0] != n:
                raise RuntimeError("%s returned %r, expected %d" % (name, rows[0][0], n))
            times[name].append(t)
            log("lookups run %d: %-32s %.3f s (new connections: %s)" % (
                r + 1, name, t, (c1 - c0) if c0 is not None and c1 is not None else "?"))
    mx.mock_config(latency_ms=0, record=False)
    for name, _, _ in variants:
        t = median(times[name])
        ratio = t / floor
        note = ""
        if name.startswith("one-by-one"):
            note = "sequential by nature: its own floor N·latency = %.1f s (%.2f×); " % (
                n * LATENCY_MS / 1000.0, t / (n * LATENCY_MS / 1000.0))
        note += requests_note(counted[name])
        rows_out.append(("lookups: %d ids @ %d ms" % (n, LATENCY_MS), name, fmt_s(t),
                         "floor %s (N·latency/%d)" % (fmt_s(floor), conc),
                         "%.2f×" % ratio, "≤ %.1f× %s" % (TARGET_LOOKUP, verdict(ratio, TARGET_LOOKUP)
                                                          if not name.startswith("one-by-one") else "(n/a)"),
                         note))
    if not fdw_ok:
        rows_out.append(("lookups: %d ids @ %d ms" % (n, LATENCY_MS), "FDW document_id = ANY(array)",
                         "pending", "", "", "≤ %.1f×" % TARGET_LOOKUP, fdw_why))
    conn.close()


def fdw_scan_once(sql):
    """One scan in a fresh backend: (seconds, result, VmHWM growth kB)."""
    conn = connect()
    pid = mx.pid(conn)
    # warm the backend: library, catalogs, the connection to the mock
    timed(conn, "SELECT count(*) FROM (SELECT * FROM bench_big LIMIT 1) s")
    before = proc_kb(pid, "VmHWM")
    t, rows = timed(conn, sql)
    after = proc_kb(pid, "VmHWM")
    conn.close()
    growth = (after - before) if before is not None and after is not None else None
    return t, rows[0][0], growth


def fdw_request_bodies(conn, sql):
    """The list request bodies a query sends (first page), from the mock's log."""
    mx.mock_config(record=True)
    mx.mock_reset()
    mx.mock_config(latency_ms=0, record=True, result_cap=None)
    timed(conn, "SELECT * FROM (%s) s LIMIT 1" % sql)
    reqs = [r for r in mx.mock_requests() if "/documents/list" in mx.req_path(r)]
    mx.mock_config(latency_ms=0, record=False)
    return reqs[0].get("body") if reqs else None


def load_local_tables(conn):
    """bench_local_jsonb: the documents as jsonb; bench_local_pages: the raw
    list page bodies exactly as the mock sends them (key order matters:
    jsonb sorts object keys, and already sorted input sorts much faster)."""
    timed(conn, "DROP TABLE IF EXISTS bench_local_jsonb, bench_local_pages")
    timed(conn, "CREATE TABLE bench_local_jsonb AS SELECT document FROM bench_big")
    timed(conn, "CREATE TABLE bench_local_pages (body text)")
    client = mock_conn()
    cursor = None
    buf = io.StringIO()
    while True:
        body = {} if cursor is None else {"cursor": cursor}
        client.request("POST", list_path(PAGE_SIZE), json.dumps(body), HEADERS)
        data = client.getresponse().read().decode()
        buf.write(data.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
                  .replace("\t", "\\t") + "\n")
        cursor = (json.loads(data).get("pagination") or {}).get("next_cursor")
        if not cursor:
            break
    client.close()
    buf.seek(0)
    with conn.cursor() as cur:
        cur.copy_expert("COPY bench_local_pages FROM STDIN", buf)
    timed(conn, "VACUUM ANALYZE bench_local_jsonb")
    timed(conn, "VACUUM ANALYZE bench_local_pages")


def bench_scan(fdw_created, fdw_why):
    # the whole collection, past the API's 10,000 results per query
    mx.mock_config(latency_ms=0, record=False, result_cap=None)
    pages, nbytes, bodies = page_python()
    log("scan: %s has %d pages of %d (%d bytes of JSON)" % (COLLECTION, pages, PAGE_SIZE, nbytes))
    if SCAN_LIMIT_PAGES and pages > SCAN_LIMIT_PAGES:
        notes_out.append("- full scan skipped (quick mode: %d pages)." % pages)
        return
    label = "full scan: %s, %d pages of %d" % (COLLECTION, pages, PAGE_SIZE)
    if SCAN_LATENCY_MS:
        label += " @ %d ms" % SCAN_LATENCY_MS
    scan_ok, explain = (False, fdw_why)
    ndocs = None
    fdw_queries = [("FDW SELECT count(*)", "SELECT count(*) FROM bench_big"),
                   ("FDW SELECT sum(length(document::text))",
                    "SELECT sum(length(document::text)) FROM bench_big"),
                   ("FDW two typed columns: SELECT category, sum(word_count) ... GROUP BY category",
                    "SELECT category, sum(word_count) FROM bench_big_cols GROUP BY category")]
    sent = {}
    counted = {}
    if fdw_created:
        conn = connect()
        timed(conn, "SET mixpeek.page_size = %d" % PAGE_SIZE)
        scan_ok, explain = fdw_scan_usable(conn)
        if scan_ok:
            ndocs = mx.scalar(conn, "SELECT count(*) FROM bench_big")
            for name, sql in fdw_queries:
                sent[name] = fdw_request_bodies(conn, sql)
                log("scan: %s sends %s" % (name, json.dumps(sent[name])))
                counted[name] = requests_of(sql, setup="SET mixpeek.page_size = %d" % PAGE_SIZE)
            # the same documents in local tables: what the query costs in
            # PostgreSQL alone, with and without parsing the JSON text
            load_local_tables(conn)
        conn.close()

    # the clients: each pages with the body the FDW sends for that query
    clients = [("python http.client, one kept connection", None),
               ("curl -K, requests chained with next", None)]
    selects = sorted({json.dumps((b or {}).get("select")) for b in sent.values()} - {"null"})
    for sel in selects:
        clients.append(("python http.client, body {\"select\": %s}" % sel, json.loads(sel)))
    cfg = curl_next_config(bodies, list_path(PAGE_SIZE))
    local = []
    if scan_ok:
        local = [("same query on a local jsonb table (the query's own work)",
                  "SELECT sum(length(document::text)) FROM bench_local_jsonb"),
                 ("the same page bodies from a local text table: ::jsonb, "
                  "jsonb_array_elements(results), same query (no HTTP)",
                  "SELECT sum(length(d::text)) FROM bench_local_pages, "
                  "jsonb_array_elements(body::jsonb -> 'results') AS d")]
    times = {}
    growth = {}
    os.environ["PGOPTIONS"] = "-c mixpeek.page_size=%d" % PAGE_SIZE
    mx.mock_config(latency_ms=SCAN_LATENCY_MS, record=False)
    for r in range(RUNS):
        for name, sel in clients:
            if name.startswith("curl"):
                t, out_bytes = run_curl(cfg)
                if abs(out_bytes - nbytes) > nbytes // 100:
                    raise RuntimeError("curl replay received %d bytes, python %d" % (out_bytes, nbytes))
            else:
                t0 = time.perf_counter()
                p, _, _ = page_python(sel)
                t = time.perf_counter() - t0
                if p != pages:
                    raise RuntimeError("python paging saw %d pages, then %d" % (pages, p))
            times.setdefault(name, []).append(t)
        if scan_ok:
            for name, sql in fdw_queries:
                t, res, g = fdw_scan_once(sql)
                times.setdefault(name, []).append(t)
                if g is not None:
                    growth.setdefault(name, []).append(g)
                if name.endswith("count(*)") and res != ndocs:
                    raise RuntimeError("count(*) %r then %r" % (ndocs, res))
            conn = connect()
            for name, sql in local:
                t, _ = timed(conn, sql)
                times.setdefault(name, []).append(t)
            conn.close()
        log("scan run %d: %s" % (r + 1, ", ".join("%s %.3f s" % (k, v[-1]) for k, v in times.items())))
    del os.environ["PGOPTIONS"]
    mx.mock_config(latency_ms=0, record=False)
    os.unlink(cfg)

    def baseline_for(body):
        sel = (body or {}).get("select")
        cands = [n for n, s in clients if s == sel]
        best = min(cands, key=lambda n: median(times[n]))
        return best, median(times[best])

    full_best, _ = baseline_for(None)
    for name, sel in clients:
        rows_out.append((label, name, fmt_s(median(times[name])), "", "", "",
                         "practical limit (fastest client for this body)"
                         if name == full_best or sel is not None else ""))
    for name, _ in fdw_queries if scan_ok else []:
        best, base = baseline_for(sent.get(name))
        t = median(times[name])
        ratio = t / base
        g = max(growth[name]) / 1024.0 if growth.get(name) else float("nan")
        rows_out.append((label, name, fmt_s(t), "%s (%s)" % (fmt_s(base), best.split(",")[0]),
                         "%.2f×" % ratio,
                         "≤ %.1f× %s; RSS +%.1f MB ≤ %d MB %s" % (
                             TARGET_SCAN, verdict(ratio, TARGET_SCAN), g, TARGET_SCAN_RSS_MB,
                             verdict(g, TARGET_SCAN_RSS_MB)),
                         "sends %s; %s; RSS: peak growth (VmHWM) of the backend, worst run" %
                         (json.dumps(sent.get(name)), requests_note(counted[name]))))
    if scan_ok:
        doc_t = median(times["FDW SELECT sum(length(document::text))"])
        for name, _ in local:
            t = median(times[name])
            rows_out.append((label, name, fmt_s(t), "", "FDW is %.2f× this" % (doc_t / t), "",
                             "reference for the FDW sum(length(document::text)) row"))
        notes_out.append("- EXPLAIN VERBOSE of the document scan:\n\n```\n%s\n```" % explain)
    else:
        rows_out.append((label, "FDW full scan", "pending", "", "", "≤ %.1f×" % TARGET_SCAN, explain))
    notes_out.append("- scan: %d documents, %.1f MB of JSON per scan with full documents." % (
        ndocs or pages * PAGE_SIZE, nbytes / 1e6))


def bench_percall(ids):
    mx.mock_config(latency_ms=0, record=False)
    n = len(ids)
    conn = connect()
    sql = "SELECT count(mixpeek_document(%s, id)) FROM unnest(%s::text[]) AS id"
    cfg = curl_get_config(ids)
    # warm both: the backend's connection and the mock's JIT
    timed(conn, sql, (COLLECTION, ids[:200]))
    run_curl(cfg)
    tc, tp, conns = [], [], []
    for r in range(RUNS):
        t, _ = run_curl(cfg)
        tc.append(t)
        c0 = mock_connections()
        t, rows = timed(conn, sql, (COLLECTION, ids))
        c1 = mock_connections()
        if rows[0][0] != n:
            raise RuntimeError("per-call: count %r, expected %d" % (rows[0][0], n))
        tp.append(t)
        if c0 is not None and c1 is not None:
            conns.append(c1 - c0)
        log("per-call run %d: curl -K %.3f s, mixpeek_document() %.3f s (new connections: %s)" % (
            r + 1, tc[-1], tp[-1], conns[-1] if conns else "?"))
    os.unlink(cfg)
    conn.close()
    base = median(tc)
    t = median(tp)
    label = "per call: %d GETs, no added latency" % n
    rows_out.append((label, "curl -K, one process, keep-alive", fmt_s(base),
                     "%.3f ms/GET" % (base * 1000 / n), "", "", "the peers' yardstick"))
    rows_out.append((label, "%d × mixpeek_document() in one statement" % n, fmt_s(t),
                     "%.3f ms/call" % (t * 1000 / n), "%.2f×" % (t / base),
                     "≤ %.1f× %s" % (TARGET_PERCALL, verdict(t / base, TARGET_PERCALL)),
                     "new TCP connections per statement: %s" % (
                         max(conns) if conns else "not reported by the mock")))


# ---------- report ----------

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True).stdout.strip()
    except Exception as exc:  # noqa: BLE001
        return "(%s)" % exc


def build_id(pid):
    """The commit benchmarked, and whether the library the server loaded is
    the one built from this checkout (others may install theirs meanwhile:
    the postmaster preloads the library once, so what counts is the file as
    it was at start, and that the mapping is not of a since-replaced file)."""
    head = sh("git -C %s rev-parse --short HEAD" % TOP)
    dirty = sh("git -C %s status --porcelain --untracked-files=no -- src | wc -l" % TOP)
    built = os.path.join(TOP, "mixpeek.so")
    installed = os.path.join(sh("pg_config --pkglibdir"), "mixpeek.so")
    same = sh("cmp -s %s %s && echo same || echo different" % (built, installed)) == "same"
    try:
        with open("/proc/%d/maps" % pid) as f:
            mapped = [line.strip() for line in f if "mixpeek.so" in line]
    except OSError:
        mapped = []
    replaced = any(line.endswith("(deleted)") for line in mapped)
    ok = same and not replaced
    return ok, "commit %s%s; the library the server runs %s the one built from this checkout" % (
        head, " with uncommitted changes in %s files under src/" % dirty if dirty != "0" else "",
        "is" if ok else "is NOT (someone installed another build meanwhile)")


def machine(conn):
    return "\n".join([
        "- date: %s" % datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "- command: `%s` (BENCH_RUNS=%d; median of the runs)" % (COMMAND, RUNS),
        "- build: %s" % BUILD,
        "- nproc: %s; kernel %s" % (sh("nproc"), sh("uname -r")),
        "- PostgreSQL: %s" % mx.scalar(conn, "SELECT version()"),
        "- libcurl: %s" % sh("curl --version | head -1"),
        "- node (mock): %s" % sh("node --version"),
        "- the machine is a shared 2-core VM: the mock, curl/python and the backend run on the same",
        "  two cores, and other work may run at the same time; ratios are measured side by side in",
        "  one invocation, rounds interleaved, to cancel most of that out.",
        "",
        "```",
        sh("lscpu | head"),
        "```",
    ])


def write_report(conn):
    head = "| benchmark | variant | median time | floor / baseline | ratio | target | notes |\n" \
           "| --- | --- | --- | --- | --- | --- | --- |\n"
    table = head + "".join("| " + " | ".join(str(c) for c in r) + " |\n" for r in rows_out)
    text = "# pg_mixpeek benchmark results\n\n%s\n\n%s\n%s\n" % (
        machine(conn), table, "\n".join(notes_out))
    os.makedirs(RESULTS_DIR, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(RESULTS_DIR, "results-%s.md" % stamp)
    with open(path, "w") as f:
        f.write(text)
    with open(os.path.join(RESULTS_DIR, "latest.md"), "w") as f:
        f.write(text)
    log("\n" + text)
    log("written to %s" % path)


BUILD = ""


def main():
    global BUILD
    conn = connect()
    ok, BUILD = build_id(mx.pid(conn))
    log("build:", BUILD)
    if not ok and os.environ.get("BENCH_ANY_BUILD") != "1":
        sys.exit("bench: the server does not run this checkout's build; run again "
                 "(or set BENCH_ANY_BUILD=1)")
    # the scans read all 100,000 documents, past the real API's 10,000 a
    # query: the mock's cap is lifted for the benchmarks, and its answers
    # are not checked against the OpenAPI (that costs the mock ~5 ms a page)
    mx.mock_config(latency_ms=0, record=False, result_cap=None, validate=False)
    want = max(LOOKUP_N, CALLS if "percall" in ONLY else 0)
    ids = collect_ids(want)
    log("collected %d ids of %s" % (len(ids), COLLECTION))
    fdw_created, fdw_ok, fdw_why = fdw_setup(conn, ids[:3])
    log("FDW lookups:", "usable" if fdw_ok else "pending (%s)" % fdw_why)
    if "mock" in ONLY:
        bench_mock(ids)
    if "lookups" in ONLY:
        bench_lookups(ids[:LOOKUP_N], fdw_ok, fdw_why)
    if "scan" in ONLY:
        bench_scan(fdw_created, fdw_why)
    if "percall" in ONLY:
        bench_percall(ids[:CALLS])
    mx.mock_config(latency_ms=0, record=True)
    write_report(conn)


if __name__ == "__main__":
    main()
