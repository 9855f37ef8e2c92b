"""Concurrent batches: an error in the middle, then bounded memory.

The other concurrency cases live elsewhere: duplicates, missing ids and
NULLs (test_paths.py, sql/fdw_joins.sql), waves of at most max_concurrency
requests (test_paths.py, test_fdw.py), cancel during a batch
(test_cancel.py, test_fdw.py).  This file adds:

- an error in the middle of a 50-id batch, through mixpeek_documents() and
  through a foreign scan with document_id = ANY(array): the statement fails
  with the SQLSTATE and message of that one request while the others are in
  flight or queued; when the failing id is among the first ones, the queued
  rest is never sent; the same backend then answers a normal 50-id batch with
  exactly the right rows, and reuses its connections (at most
  max_concurrency new ones, for those closed with the transfers cut short);
- memory: a 5,000-id batch does not grow the backend's peak RSS (VmHWM) by
  more than BOUND_KB.  Why that bound: the ids themselves take about 0.5 MB
  (the array and the sorted copy), and at most 2 x max_concurrency requests
  are queued or in flight (16 x a few kB); a document of col_big is about
  0.8 kB of JSON and 1 kB of jsonb, so keeping each one (or each response
  buffer) until the end of the statement would add at least 5 MB and cross
  the bound.  The FROM form materializes its rows in a tuplestore of
  work_mem, so that case runs with work_mem = 64kB."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402

BOUND_KB = 4096
N_MEMORY = 5000
CONCURRENCY = 8

FAULTS = "/v1/collections/col_faults/documents/"
# 49 normal documents, each after 20..68 ms, and one id answered with 403
NORMAL = ["latency-%d" % ms for ms in range(20, 69)]
MSG_403 = (r"^Mixpeek returned HTTP 403 \(AuthorizationError: API key is not allowed to "
           r"access this resource\)$")
CONTEXT_403 = r"(?m)^Mixpeek request GET /v1/collections/col_faults/documents/%s$"
# ids are fetched in sorted order: "flaky-..." comes before every "latency-...",
# "status-403" after them
ERROR_FIRST = "flaky-403-1000000-batch"
ERROR_LAST = "status-403"
BIG_50 = ["doc_%06d" % (i * 997 % 100000) for i in range(50)]

ROUTES = {
    "mixpeek_documents": ("SELECT d->>'document_id' FROM mixpeek_documents('col_faults', %s::text[]) d",
                          "SELECT d->>'document_id' FROM mixpeek_documents('col_big', %s::text[]) d"),
    "FDW = ANY": ("SELECT document_id FROM tbatch_faults WHERE document_id = ANY(%s::text[])",
                  "SELECT document_id FROM tbatch_big WHERE document_id = ANY(%s::text[])"),
}


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
            CREATE SERVER mx_tbatch FOREIGN DATA WRAPPER mixpeek_fdw;
            CREATE FOREIGN TABLE tbatch_faults (document_id text, ok boolean)
              SERVER mx_tbatch OPTIONS (collection 'col_faults');
            CREATE FOREIGN TABLE tbatch_big (document_id text, document jsonb)
              SERVER mx_tbatch OPTIONS (collection 'col_big');""")
    else:
        mx.log("SKIP: FDW cases: %s" % fdw_why)


def tearDownModule():
    if fdw_ok:
        mx.run_error(conn, "DROP SERVER IF EXISTS mx_tbatch CASCADE")


class Batch(mx.TestCase):

    def test_01_error_in_the_middle_of_a_batch(self):
        """an error in the middle of a batch, through each route"""
        for route in ROUTES:
            if route.startswith("FDW") and not fdw_ok:
                continue
            for where, bad in (("first", ERROR_FIRST), ("last", ERROR_LAST)):
                what = "%s, 50 ids, the failing one %s in fetch order" % (route, where)
                with mx.case(what):
                    c = mx.connect()
                    mx.query(c, "SET mixpeek.max_concurrency = %d" % CONCURRENCY)
                    mx.query(c, "SET mixpeek.max_retries = 0")
                    pid = mx.pid(c)
                    ids = NORMAL[:25] + [bad] + NORMAL[25:]
                    since = mx.mock_last_seq()
                    err = mx.expect_error(c, ROUTES[route][0], (ids,), "42501", MSG_403, what)
                    if err is not None:
                        mx.check(re.search(CONTEXT_403 % re.escape(bad), err.context),
                                 "%s: the context names the failing request" % what, err.context)
                    got = mx.mock_requests(since=since, path_contains="/col_faults/")
                    asked = [r["path"][len(FAULTS):] for r in got]
                    mx.log("  GETs sent before the error: %d of 50; %d cut short"
                           % (len(asked), sum(1 for r in got if r.get("aborted"))))
                    mx.check_eq(asked.count(bad), 1, "%s: the failing id asked once" % what)
                    mx.check(len(set(asked)) == len(asked), "%s: no id asked twice" % what, asked)
                    if where == "first":
                        # at most the first 2 x max_concurrency ids were queued when the
                        # 403 came back: the rest of the batch is never sent
                        mx.check(len(asked) <= 2 * CONCURRENCY,
                                 "%s: the queued rest is not sent after the error (%d GETs)"
                                 % (what, len(asked)), len(asked))
                    else:
                        mx.check_eq(len(asked), 50, "%s: every id was sent" % what)
                    mx.check_eq(mx.pid(c), pid, "%s: same backend" % what)
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
