"""Concurrent batches: an error in the middle, then bounded memory.

The other concurrency cases live elsewhere: duplicates, missing ids and
NULLs (test_paths.py, sql/fdw_joins.sql), waves of at most max_concurrency
requests (test_paths.py, test_fdw.py), cancel during a batch
(test_cancel.py, test_fdw.py).  This file adds:

- an error in the middle of a 10,000-id lookup (ten list requests of 1,000
  ids, against a capture listener), through mixpeek_documents() and through
  a foreign scan with document_id = ANY(array): the statement fails with the
  SQLSTATE and message of that one request while others are in flight or
  not sent yet; when the failing request is the first one, the rest is
  never sent; the same backend then answers a normal lookup with exactly
  the right rows, and reuses its connections (at most max_concurrency new
  ones, for those closed with the transfers cut short);
- memory: a 20,000-id lookup at max_concurrency 2 does not grow the
  backend's peak RSS (VmHWM) by more than BOUND_KB.  Why that bound: the ids
  themselves take about 2 MB (the array and the sorted copy); at most
  max_concurrency list replies are in flight besides the one whose
  documents are returned, each 1,000 documents of col_big of about 0.8 kB
  of JSON (a 1 MB buffer), and the current one is parsed into jsonb, whose
  parse tree is several times its size while it is built: about 16 MB
  measured, whatever the number of ids.  Keeping each document (JSON and
  jsonb, 1.8 kB) until the end of the statement would add 36 MB and cross
  the bound.  The FROM form materializes its rows in a tuplestore of
  work_mem, so that case runs with work_mem = 64kB."""
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402
from capture import CaptureServer  # noqa: E402

BOUND_KB = 24576
N_MEMORY = 20000
MEMORY_CONCURRENCY = 2
CONCURRENCY = 4

# ten list requests of 1,000 ids (sorted: "bad_first" before, "zz_bad_last"
# after every "doc_..."); the one holding a bad id is answered with 403, the
# others after 20..68 ms (when the failing one is the first: only after the
# statement failed, see HOLD)
NORMAL = ["doc_%05d" % i for i in range(9999)]
MSG_403 = (r"^Mixpeek returned HTTP 403 \(AuthorizationError: API key is not allowed to "
           r"access this resource\)$")
CONTEXT_403 = r"(?m)^Mixpeek request POST /v1/collections/col_faults/documents/list\?limit=1000&include_total=true$"
ERROR_FIRST = "bad_first"
ERROR_LAST = "zz_bad_last"
BIG_50 = ["doc_%06d" % (i * 997 % 100000) for i in range(50)]

ROUTES = {
    "mixpeek_documents": ("SELECT d->>'document_id' FROM mixpeek_documents('col_faults', %s::text[]) d",
                          "SELECT d->>'document_id' FROM mixpeek_documents('col_big', %s::text[]) d"),
    "FDW = ANY": ("SELECT document_id FROM tbatch_faults WHERE document_id = ANY(%s::text[])",
                  "SELECT document_id FROM tbatch_big WHERE document_id = ANY(%s::text[])"),
}


# set while the failing request is the first: the others are answered only
# once the statement has failed (an Event set then), so that whatever the
# threads' scheduling, no answer can reach the client before the 403
HOLD = {"until": None}


def faulty(method, path, query, headers, body):
    """Id lookups: 403 for the request holding a bad id, else the documents."""
    ids = json.loads(body)["filters"]["AND"][0]["value"]
    if ERROR_FIRST in ids or ERROR_LAST in ids:
        return 403, None, {"success": False, "status": 403, "error": {
            "message": "API key is not allowed to access this resource",
            "type": "AuthorizationError", "details": None}}
    until = HOLD["until"]
    if until is not None:
        until.wait(60)
    time.sleep((20 + len(ids) % 49) / 1000.0)
    return 200, None, {"results": [{"document_id": i} for i in ids],
                       "pagination": {"next_cursor": None}}


def normal_batch_after(c, route, what):
    """The same backend answers a normal 50-id batch, reusing connections."""
    before = mx.mock_stats()["connections"]
    try:
        rows = mx.query(c, ROUTES[route][1], (BIG_50,))
    except Exception as exc:  # noqa: BLE001
        mx.check(False, "%s: then a normal batch fails: %s" % (what, exc))
        return
    mx.check_eq(sorted(r[0] for r in rows), sorted(BIG_50),
                "%s: then a normal 50-id batch returns exactly its 50 documents" % what)
    opened = mx.mock_stats()["connections"] - before
    mx.log("  normal batch after the error opened %d connection(s)" % opened)
    mx.check(opened <= CONCURRENCY, "%s: the next batch opens at most max_concurrency (%d) "
             "connections" % (what, CONCURRENCY), opened)


MEMORY = [
    ("mixpeek_documents() in the select list (rows stream out)",
     "SELECT count(d) FROM (SELECT mixpeek_documents('col_big', %s::text[]) AS d) s", []),
    ("mixpeek_documents() in FROM, work_mem 64kB",
     "SELECT count(*) FROM mixpeek_documents('col_big', %s::text[])", ["SET work_mem = '64kB'"]),
    ("one mixpeek_document() per id",
     "SELECT count(mixpeek_document('col_big', id)) FROM unnest(%s::text[]) AS id", []),
]

big_ids = ["doc_%06d" % (i * 7 % 100000) for i in range(N_MEMORY)]
literal = "{" + ",".join(big_ids) + "}"


def setUpModule():
    global conn, fdw_ok
    mx.setup_extension().close()
    fdw_ok, fdw_why = mx.fdw_usable()
    conn = mx.connect()
    mx.mock_reset()
    if fdw_ok:
        mx.query(conn, """
            DROP SERVER IF EXISTS mx_tbatch CASCADE;
            DROP SERVER IF EXISTS mx_tbatch_cap CASCADE;
            CREATE SERVER mx_tbatch FOREIGN DATA WRAPPER mixpeek_fdw;
            CREATE SERVER mx_tbatch_cap FOREIGN DATA WRAPPER mixpeek_fdw
              OPTIONS (base_url 'http://127.0.0.1:1');
            CREATE USER MAPPING FOR CURRENT_USER SERVER mx_tbatch_cap
              OPTIONS (api_key 'sk_test_alpha');
            CREATE FOREIGN TABLE tbatch_faults (document_id text, ok boolean)
              SERVER mx_tbatch_cap OPTIONS (collection 'col_faults');
            CREATE FOREIGN TABLE tbatch_big (document_id text, document jsonb)
              SERVER mx_tbatch OPTIONS (collection 'col_big');""")
    else:
        mx.log("SKIP: FDW cases: %s" % fdw_why)


def tearDownModule():
    if fdw_ok:
        mx.run_error(conn, "DROP SERVER IF EXISTS mx_tbatch CASCADE")
        mx.run_error(conn, "DROP SERVER IF EXISTS mx_tbatch_cap CASCADE")


class Batch(mx.TestCase):

    def test_01_error_in_the_middle_of_a_batch(self):
        """an error in the middle of a batch, through each route"""
        for route in ROUTES:
            if route.startswith("FDW") and not fdw_ok:
                continue
            for where, bad in (("first", ERROR_FIRST), ("last", ERROR_LAST)):
                what = "%s, 10,000 ids, the failing request %s in fetch order" % (route, where)
                # a listener of each case's own: a request the error abandoned
                # may reach its thread late, and must not count in the next case
                with mx.case(what), CaptureServer(handler=faulty) as cap:
                    mx.query(conn, "ALTER SERVER mx_tbatch_cap OPTIONS (SET base_url %s)", (cap.url,))
                    c = mx.connect()
                    mx.query(c, "SET mixpeek.base_url = %s", (cap.url,))
                    mx.query(c, "SET mixpeek.max_concurrency = %d" % CONCURRENCY)
                    mx.query(c, "SET mixpeek.max_retries = 0")
                    pid = mx.pid(c)
                    ids = NORMAL[:5000] + [bad] + NORMAL[5000:]
                    HOLD["until"] = threading.Event() if where == "first" else None
                    err = mx.expect_error(c, ROUTES[route][0], (ids,), "42501", MSG_403, what)
                    if HOLD["until"] is not None:
                        HOLD["until"].set()
                    else:
                        # sent before the last one, but the listener's threads
                        # may take them in after it
                        mx.wait_until(lambda: len(cap.requests()) >= 10, 30)
                    if err is not None:
                        mx.check(re.search(CONTEXT_403, err.context),
                                 "%s: the context names the failing request" % what, err.context)
                    asked = [tuple(r["json"]["filters"]["AND"][0]["value"]) for r in cap.requests()]
                    mx.log("  list requests sent before the error: %d of 10" % len(asked))
                    mx.check_eq(sum(1 for a in asked if bad in a), 1, "%s: the failing request sent once" % what)
                    mx.check(len(set(asked)) == len(asked), "%s: no request sent twice" % what, len(asked))
                    if where == "first":
                        # at most max_concurrency requests were sent when the 403
                        # came back: the rest of the lookup is never sent
                        mx.check(len(asked) <= CONCURRENCY,
                                 "%s: the rest is not sent after the error (%d requests)"
                                 % (what, len(asked)), len(asked))
                    else:
                        mx.check_eq(len(asked), 10, "%s: every request was sent" % what)
                    mx.check_eq(mx.pid(c), pid, "%s: same backend" % what)
                    mx.query(c, "RESET mixpeek.base_url")
                    normal_batch_after(c, route, what)
                    c.close()

    def test_02_memory_of_large_batches(self):
        """memory: the peak RSS of large batches"""
        memory = list(MEMORY)
        if fdw_ok:
            # jit off: a large id list makes the plan costly enough for JIT, whose
            # library alone is tens of MB (it is not the batch's memory)
            memory.append(("FDW document_id = ANY(array)",
                           "SELECT sum(length(document::text)) FROM tbatch_big WHERE document_id = ANY(%s::text[])",
                           ["SET jit = off"]))
        mx.mock_config(record=False)
        try:
            for name, sql, settings in memory:
                with mx.case("memory: %d ids, %s" % (N_MEMORY, name)):
                    c = mx.connect()
                    mx.query(c, "SET mixpeek.max_concurrency = %d" % MEMORY_CONCURRENCY)
                    for s in settings:
                        mx.query(c, s)
                    pid = mx.pid(c)
                    # warm up: library, caches, connections, the plan's shape
                    mx.query(c, sql, ("{" + ",".join(big_ids[:50]) + "}",))
                    before = mx.peak_rss_kb(pid)
                    n = mx.scalar(c, sql, (literal,))
                    growth = mx.peak_rss_kb(pid) - before
                    if "sum(" in sql:
                        mx.check(n is not None and n > N_MEMORY * 500, "%s: the documents arrived" % name, n)
                    else:
                        mx.check_eq(n, N_MEMORY, "%s: every document" % name)
                    mx.log("  peak RSS growth: %d kB (bound %d kB)" % (growth, BOUND_KB))
                    mx.check(growth <= BOUND_KB, "%s: peak RSS grows by at most %d kB" % (name, BOUND_KB), growth)
                    c.close()
        finally:
            mx.mock_config(record=True)


if __name__ == "__main__":
    mx.main('test_batch')
