"""mixpeek_fdw behaviour that pg_regress cannot show: timing and memory.

- pipelining: the next list page is requested while the current page's rows
  are still being returned (a cursor that fetched one row has two pages);
- concurrent GETs for document_id IN (...): with per-request latency the
  scan takes about ceil(n / max_concurrency) round trips, never more than
  max_concurrency requests overlap, and each id is asked for once;
- cancel and statement_timeout stop a foreign scan at once (a few ms;
  asserted within mx.PROMPT_MS, far below the 30 s stall), waiting for a
  later page or for GETs, and the backend keeps working;
- memory: a scan of 100,000 documents (about 80 MB of JSON) stays within a
  bounded amount of backend memory (only ~two pages at a time), and rescans
  that abandon requests in flight do not pile up memory;
- an ERROR while a later page or GETs are in flight is cleaned up without
  touching freed memory (checked in a cluster of its own whose malloc
  overwrites what is freed);
- a page whose next_cursor is the cursor it was asked with is an error, not
  an endless scan (nor an endless IMPORT FOREIGN SCHEMA);
- a GET's document counts only for the id it was asked for; 20,000 ids from
  a local table as = ANY (ARRAY(SELECT ...)) (time printed);
- no key in EXPLAIN (ANALYZE, VERBOSE) output or in errors;
- over a namespace whose lists page by offset: pipelining (the next page's
  offset), cancel while a later page stalls, bounded memory, and the API's
  10,000-result cap as an ERROR.
"""
import base64
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402
from capture import CaptureServer  # noqa: E402
BOUND_MS = mx.PROMPT_MS


def backend_peak_kb(backend):
    """VmHWM of a backend; skips the case where /proc is not readable."""
    kb = mx.peak_rss_kb(backend)
    if kb is None:
        raise mx.Skip("the backend's /proc entry is not readable here")
    return kb


def in_own_cluster(sql, wrapper):
    """Run sql with psql in a cluster of its own whose server is started
    through wrapper (test/cluster.sh); psql's output, then the lines of
    the server log that tell of a crashed process."""
    script = r"""
        . "$MX_TOP/test/lib.sh"; . "$MX_TOP/test/cluster.sh"
        mx_cluster_start -- "$@" >/dev/null || exit 1
        psql -X -f - 2>&1
        grep -a "terminated by signal" "$MX_CLUSTER_LOG"
        exit 0
    """
    run = subprocess.run(["bash", "-c", script, "_"] + wrapper, input=sql,
                         capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, MX_TOP=mx.TOP))
    if run.returncode != 0:
        raise mx.Skip("no cluster of its own: %s" % run.stderr.strip()[-300:])
    return run.stdout


def list_requests(since):
    return [r for r in mx.mock_requests(since=since) if r["method"] == "POST"]


def after_prefetch(since):
    """The list requests since since, once there are two: the prefetch of
    page 2 was sent during the FETCH, but the mock may take it in later."""
    mx.wait_until(lambda: len(list_requests(since)) >= 2, 10)
    return list_requests(since)


def cancel_case(what, sql, mech):
    c = mx.connect()
    if mech == "statement_timeout":
        mx.query(c, "SET statement_timeout = 1000")
    since = mx.mock_last_seq()
    # a cancel goes once the stalled request is at the mock
    err, ms = mx.run_interrupted(c, sql, mech, 1.0, setup, what,
                                 ready=lambda: any(r["answered_ms"] is None
                                                   for r in mx.mock_requests(since=since)))
    if ms is None:
        return
    if mx.check(err is not None, "%s: expected ERROR 57014" % what):
        mx.check_eq(err.sqlstate, "57014", "%s: SQLSTATE (%s)" % (what, err.message))
        mx.check_no_keys(err.all_text(), what + ": error text")
    mx.check(ms < BOUND_MS, "%s: stopped %.1f ms after the %s (bound %d ms)"
             % (what, ms, "cancel" if mech == "pg_cancel_backend" else "deadline", BOUND_MS), ms)
    mx.log("  %.1f ms" % ms)
    mx.run_error(c, "RESET ALL")
    mx.check_eq(mx.scalar(c, "SELECT count(*) FROM tfdw_paged"), 20,
                "%s: then the backend scans again" % what)
    c.close()


def setUpModule():
    global setup
    # the extension first: probing the FDW needs it
    mx.setup_extension().close()
    fdw_ok, fdw_why = mx.fdw_usable()
    if not fdw_ok:
        raise mx.Skip("the FDW is not usable (%s)" % fdw_why)
    setup = mx.connect()
    mx.query(setup, """
        DROP SERVER IF EXISTS mx_tfdw CASCADE;
        CREATE SERVER mx_tfdw FOREIGN DATA WRAPPER mixpeek_fdw;
        CREATE FOREIGN TABLE tfdw_paged (document_id text, word_count int)
          SERVER mx_tfdw OPTIONS (collection 'col_articles', page_size '3');
        CREATE FOREIGN TABLE tfdw_faults (document_id text, ok boolean)
          SERVER mx_tfdw OPTIONS (collection 'col_faults');
        CREATE FOREIGN TABLE tfdw_stalled_page (document_id text)
          SERVER mx_tfdw OPTIONS (collection 'faultpage-2-stall-30000', page_size '5');
        CREATE FOREIGN TABLE tfdw_stalled_ids (document_id text)
          SERVER mx_tfdw OPTIONS (collection 'faultpage-1-stall-30000');
        CREATE FOREIGN TABLE tfdw_big (document_id text, document jsonb)
          SERVER mx_tfdw OPTIONS (collection 'col_big', page_size '1000');
    """)
    mx.mock_reset()


def tearDownModule():
    mx.query(setup, "DROP SERVER mx_tfdw CASCADE")
    setup.close()
    mx.mock_reset()


class Fdw(mx.TestCase):

    def test_01_pipelining_the_next_page_is_asked_for(self):
        """pipelining: the next page is asked for while rows are returned"""
        c = mx.connect(autocommit=False)
        since = mx.mock_last_seq()
        cur = c.cursor()
        cur.execute("DECLARE p CURSOR FOR SELECT document_id FROM tfdw_paged")
        cur.execute("FETCH 1 FROM p")
        first = cur.fetchall()
        seen = after_prefetch(since)
        mx.check_eq(len(first), 1, "one row fetched")
        mx.check_eq(len(seen), 2, "page 1 and the prefetched page 2 requested after one row")
        if len(seen) == 2:
            mx.check("cursor" in (seen[1]["body"] or {}), "page 2 carries page 1's cursor",
                     seen[1]["body"])
        cur.execute("FETCH ALL FROM p")
        rest = cur.fetchall()
        mx.check_eq(len(first) + len(rest), 20, "all 20 documents")
        mx.check_eq(len(list_requests(since)), 7, "7 pages of 3")
        c.rollback()
        c.close()

    def test_02_concurrent_gets_for_an_in_list(self):
        """concurrent list requests for an id array of 12,000 ids"""
        c = mx.connect()
        mx.query(c, "SET mixpeek.max_concurrency = 4")
        ids = ["doc_%06d" % i for i in range(12000)]
        since = mx.mock_last_seq()
        alone = mx.mock_stats()["gather_timeouts"]
        # each request waits at the mock until 4 are there: overlap is then
        # certain for a client that sends 4 at once, however slow the machine
        mx.mock_config(latency_ms=300, gather=mx.gather_config(4))
        try:
            with mx.Timer() as t:
                n = mx.scalar(c, "SELECT count(*) FROM tfdw_big WHERE document_id = ANY(%s)",
                              (ids + ids[:3],))
        finally:
            mx.mock_config(latency_ms=0, gather=None)
        log = [r for r in mx.mock_requests(since=since) if r["method"] == "POST"]
        mx.check_eq(n, 12000, "12,000 distinct documents")
        mx.check_eq(len(log), 12, "12 list requests of 1,000 ids")
        sent = sorted(i for r in log for i in r["body"]["filters"]["AND"][0]["value"])
        mx.check_eq(sent, ids, "each id sent once")
        most = mx.max_in_flight(log)
        mx.check(most <= 4, "at most max_concurrency (4) requests in flight", most)
        mx.check_eq(mx.mock_stats()["gather_timeouts"] - alone, 0,
                    "requests sent 4 at a time (none waited for others at the mock)")
        mx.check_eq(most, 4, "4 requests in flight at once")
        mx.log("  12 list requests: %.2f s, at most %d at once" % (t.elapsed, most))
        c.close()

    def test_03_cancel_during_scans(self):
        """pg_cancel_backend and statement_timeout during foreign scans"""
        for mech in ("pg_cancel_backend", "statement_timeout"):
            with mx.case("%s while a list scan waits for page 2" % mech):
                cancel_case("%s / list page 2" % mech,
                            "SELECT count(*) FROM tfdw_stalled_page", mech)
            with mx.case("%s while an IN list waits for its list request" % mech):
                cancel_case("%s / ids" % mech,
                            "SELECT count(*) FROM tfdw_stalled_ids WHERE document_id IN "
                            "('doc_flat_01', 'doc_flat_02', 'doc_nested_01')", mech)

    def test_04_memory_stays_bounded_over_100_000(self):
        """memory stays bounded over 100,000 documents"""
        c = mx.connect()
        backend = mx.pid(c)

        # every document of col_big: past the API's 10,000 results per query
        cap = mx.mock_config()["result_cap"]
        mx.mock_config(result_cap=None)
        before = backend_peak_kb(backend)
        n, total = mx.query(c, "SELECT count(*), sum(length(document::text)) FROM tfdw_big")[0]
        after = backend_peak_kb(backend)
        mx.mock_config(result_cap=cap)
        grown_mb = (after - before) / 1024.0
        mx.check_eq(n, 100000, "100,000 documents")
        mx.check(grown_mb < 64, "peak memory grew %.1f MB for %.0f MB of documents (< 64 MB)"
                 % (grown_mb, total / 1e6), grown_mb)
        mx.log("  peak grew %.1f MB over %.0f MB of JSON" % (grown_mb, total / 1e6))
        c.close()

    def test_05_rescans_that_drop_requests_in_flight(self):
        """rescans that drop requests in flight free them"""
        # each loop's scan stops after one of two GETs: the rescan abandons the
        # other, with the batch that ran it
        c = mx.connect()
        backend = mx.pid(c)
        loops = 5000
        mx.query(c, "SET jit = off")
        mx.query(c, "CREATE TEMP TABLE tfdw_loops AS SELECT g FROM generate_series(1, %d) g"
                 % loops)
        sql = ("SELECT count(x) FROM tfdw_loops l, LATERAL (SELECT document_id AS x "
               "FROM tfdw_paged WHERE document_id IN ('doc_flat_01', 'doc_flat_02') "
               "AND l.g > 0 LIMIT 1) s")
        mx.query(c, sql.replace("tfdw_loops l", "(SELECT 1 AS g) l"))
        before = backend_peak_kb(backend)
        n = mx.scalar(c, sql)
        grown_mb = (backend_peak_kb(backend) - before) / 1024.0
        mx.check_eq(n, loops, "one row per loop")
        mx.check(grown_mb < 2, "peak memory grew %.1f MB over %d rescans (< 2 MB)"
                 % (grown_mb, loops), grown_mb)
        mx.log("  peak grew %.2f MB over %d rescans" % (grown_mb, loops))
        c.close()

    def test_06_an_error_while_a_page_or_gets_are_in(self):
        """an ERROR while a page or GETs are in flight, freed memory scribbled"""
        # The clean-up of the aborted scan reads the requests still running.  In
        # a server whose malloc overwrites freed memory (MALLOC_PERTURB_), a
        # request freed before that clean-up crashes the backend.  Filters of
        # various sizes move the requests among the memory blocks of a page.
        stmts = ["CREATE EXTENSION mixpeek;",
                 "CREATE SERVER s FOREIGN DATA WRAPPER mixpeek_fdw;",
                 "CREATE FOREIGN TABLE t (document_id text, word_count int, category text) "
                 "SERVER s OPTIONS (collection 'col_articles', page_size '2');"]
        nerrors = 0
        for n in range(150, 325, 25):
            values = ", ".join("'v%04d'" % i for i in range(n))
            stmts += ["\\connect",
                      "SELECT document_id, 1 / (word_count - 40) FROM t WHERE category IN "
                      "('news', 'News', 'tech', 'Tech', 'science', 'Science', %s);" % values]
            nerrors += 1
        stmts += ["\\connect",
                  "SET mixpeek.max_retries = 0;",
                  "SELECT * FROM t WHERE document_id IN ('doc_flat_01', 'doc_flat_02', "
                  "'doc_flat_03', 'doc_nested_01', 'doc_nested_02', '100%%', '%s') "
                  "AND 1 / (word_count - 40) > 0;" % ("x" * 3000),
                  "SELECT count(*) AS alive FROM t;"]
        nerrors += 1
        out = in_own_cluster("\n".join(stmts), ["env", "MALLOC_PERTURB_=165"])
        crashes = out.count("terminated by signal")
        mx.check_eq(crashes, 0, "backends that crashed")
        mx.check_eq(out.count("ERROR:  division by zero"), nerrors, "statements ending in the ERROR")
        mx.check(" alive " in out and "    20" in out, "the last session scans again", out[-300:])
        mx.log("  %d statements aborted with requests in flight, %d crashes" % (nerrors, crashes))

    def test_07_a_gets_document_counts_only_for_the_id(self):
        """a document counts only for an id it was asked for"""
        # an API that matched ids loosely: the GET of one id answers with
        # another's document, the list of ids with documents of ids not asked
        # for, one of them twice
        doc = {"document_id": "loose-A", "collection_id": "col_canned"}
        page = {"results": [doc, dict(doc, document_id="LOOSE-A"), doc, dict(doc, document_id="loose-b")],
                "pagination": {"next_cursor": None}}
        for name, body in (("loose-a", doc), ("loose", page)):
            mx._mock("POST", "/canned", {"name": name, "status": 200, "body_base64":
                                         base64.b64encode(json.dumps(body).encode()).decode()})
        mx.query(setup, "CREATE FOREIGN TABLE IF NOT EXISTS tfdw_canned (document_id text) "
                        "SERVER mx_tfdw OPTIONS (collection 'col_canned')")
        mx.query(setup, "CREATE FOREIGN TABLE IF NOT EXISTS tfdw_canned_list (document_id text) "
                        "SERVER mx_tfdw OPTIONS (collection 'canned-loose')")
        c = mx.connect()
        rows = mx.query(c, "SELECT document_id FROM tfdw_canned_list "
                           "WHERE document_id IN ('loose-a', 'loose-A')")
        mx.check_eq(rows, [("loose-A",)], "the document once, for its own id")
        mx.check_eq(mx.query(c, "SELECT document_id FROM tfdw_canned "
                                "WHERE document_id = 'loose-a'"), [], "no row for the other id")
        c.close()

    def test_08_ids_from_a_local_table_any_array_select(self):
        """ids from a local table: = ANY (ARRAY(SELECT ...)) of 20,000 ids"""
        c = mx.connect()
        mx.query(c, "CREATE TEMP TABLE tfdw_ids AS SELECT 'doc_' || lpad(g::text, 6, '0') AS id "
                    "FROM generate_series(0, 19999) g")
        before = mx.mock_stats()["requests"]
        with mx.Timer() as t:
            n = mx.scalar(c, "SELECT count(*) FROM tfdw_big "
                             "WHERE document_id = ANY (ARRAY(SELECT id FROM tfdw_ids))")
        mx.check_eq(n, 20000, "every document")
        mx.check_eq(mx.mock_stats()["requests"] - before, 20, "one list request per 1,000 ids")
        with mx.Timer() as f:
            mx.scalar(c, "SELECT count(*) FROM mixpeek_documents('col_big', "
                         "ARRAY(SELECT id FROM tfdw_ids))")
        mx.log("  20,000 ids: %.2f s (mixpeek_documents(): %.2f s)" % (t.elapsed, f.elapsed))
        c.close()

    def test_09_a_page_that_hands_back_its_own_cursor(self):
        """a page that hands back its own cursor ends the scan with an error"""
        page = {"results": [{"document_id": "a", "collection_id": "c"}],
                "pagination": {"next_cursor": "same"}}
        mx._mock("POST", "/canned", {"name": "loop", "status": 200,
                                     "body_base64": base64.b64encode(json.dumps(page).encode()).decode()})
        c = mx.connect()
        mx.query(c, "SET statement_timeout = '10s'")
        mx.query(setup, "CREATE FOREIGN TABLE IF NOT EXISTS tfdw_loop (document_id text) "
                        "SERVER mx_tfdw OPTIONS (collection 'canned-loop')")
        err = mx.expect_error(c, "SELECT count(*) FROM tfdw_loop", None, "HV00A",
                              r"^unexpected response from Mixpeek$")
        if err is not None:
            mx.check_eq(err.detail, "The next cursor was already followed in this scan.", "detail")
            mx.check(err.context.startswith("Mixpeek request POST /v1/collections/canned-loop/documents/list"),
                     "context: the request", err.context)
        c.close()

    def test_10_import_foreign_schema_stops_at_a_page_of(self):
        """IMPORT FOREIGN SCHEMA stops at a page of collections that hands back its own cursor"""
        # a server of our own on loopback: the mock's collection list has no such fault
        looping = {"results": [], "pagination": {"next_cursor": "same"}}
        srv = CaptureServer(handler=lambda *req: (200, {}, looping)).start()
        mx.query(setup, "CREATE SERVER mx_tfdw_loop FOREIGN DATA WRAPPER mixpeek_fdw "
                        "OPTIONS (base_url %s)", (srv.url,))
        mx.query(setup, "CREATE USER MAPPING FOR CURRENT_USER SERVER mx_tfdw_loop "
                        "OPTIONS (api_key 'sk_test_alpha')")
        mx.query(setup, "CREATE SCHEMA tfdw_loop_import")
        c = mx.connect()
        mx.query(c, "SET statement_timeout = '10s'")
        err = mx.expect_error(c, "IMPORT FOREIGN SCHEMA x FROM SERVER mx_tfdw_loop "
                                 "INTO tfdw_loop_import", None, "HV00A",
                              r"^unexpected response from Mixpeek$")
        if err is not None:
            mx.check_eq(err.detail, "The next cursor was already followed in this import.", "detail")
            mx.check(err.context.startswith("Mixpeek request POST /v1/collections/list"),
                     "context: the request", err.context)
        mx.check_eq(len(srv.requests()), 2, "requests: the first page, then the cursor once")
        c.close()
        srv.stop()
        mx.query(setup, "DROP SERVER mx_tfdw_loop CASCADE; DROP SCHEMA tfdw_loop_import")

    def test_11_no_key_in_explain_or_in_errors(self):
        """no key in EXPLAIN or in errors"""
        c = mx.connect()
        rows = mx.query(c, "EXPLAIN (ANALYZE, VERBOSE) SELECT * FROM tfdw_paged "
                           "WHERE word_count > 10 OR document_id = 'x'")
        mx.check_no_keys("\n".join(r[0] for r in rows), "EXPLAIN ANALYZE VERBOSE")
        rows = mx.query(c, "EXPLAIN (VERBOSE) SELECT * FROM tfdw_faults WHERE document_id = 'status-200'")
        mx.check_no_keys("\n".join(r[0] for r in rows), "EXPLAIN VERBOSE of a GET")
        mx.query(c, "SET mixpeek.max_retries = 0")
        err = mx.run_error(c, "SELECT * FROM tfdw_faults WHERE document_id = 'echo-key'")
        if mx.check(err is not None, "echo-key fails"):
            mx.check_no_keys(err.all_text(), "error of a response that echoes the key")
        c.close()


class FdwOffset(mx.TestCase):
    """The same scans over a namespace whose lists page by offset (the mock's
    "offset" namespace: has_more and total_count, no cursor)."""

    @classmethod
    def setUpClass(cls):
        mx.query(setup, """
            DROP SERVER IF EXISTS mx_tfdw_off CASCADE;
            CREATE SERVER mx_tfdw_off FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (namespace 'offset');
            CREATE FOREIGN TABLE tfdw_off_paged (document_id text, word_count int)
              SERVER mx_tfdw_off OPTIONS (collection 'col_articles', page_size '3');
            CREATE FOREIGN TABLE tfdw_off_stalled_page (document_id text)
              SERVER mx_tfdw_off OPTIONS (collection 'faultpage-2-stall-30000', page_size '5');
            CREATE FOREIGN TABLE tfdw_off_big (document_id text, word_count int, document jsonb)
              SERVER mx_tfdw_off OPTIONS (collection 'col_big', page_size '1000');
        """)

    @classmethod
    def tearDownClass(cls):
        mx.query(setup, "DROP SERVER mx_tfdw_off CASCADE")

    def test_01_pipelining_by_offset(self):
        """by offset: the next page (offset 3) is asked for while rows are returned"""
        c = mx.connect(autocommit=False)
        since = mx.mock_last_seq()
        cur = c.cursor()
        cur.execute("DECLARE p CURSOR FOR SELECT document_id FROM tfdw_off_paged")
        cur.execute("FETCH 1 FROM p")
        first = cur.fetchall()
        seen = after_prefetch(since)
        mx.check_eq(len(first), 1, "one row fetched")
        mx.check_eq([(r["query"].get("offset"), r["query"].get("include_total"),
                      "cursor" in (r["body"] or {})) for r in seen],
                    [(None, "true", False), ("3", None, False)],
                    "page 1 (with the total) and the prefetched page at offset 3")
        cur.execute("FETCH ALL FROM p")
        rest = cur.fetchall()
        mx.check_eq(len(first) + len(rest), 20, "all 20 documents")
        mx.check_eq([r["query"].get("offset") for r in list_requests(since)],
                    [None, "3", "6", "9", "12", "15", "18"], "7 pages of 3, by offset")
        c.rollback()
        c.close()

    def test_02_cancel_while_waiting_for_a_later_page(self):
        """pg_cancel_backend and statement_timeout while page 2 (by offset) stalls"""
        for mech in ("pg_cancel_backend", "statement_timeout"):
            with mx.case("%s while an offset scan waits for page 2" % mech):
                cancel_case("%s / offset page 2" % mech,
                            "SELECT count(*) FROM tfdw_off_stalled_page", mech)

    def test_03_memory_and_the_result_cap(self):
        """10,000 documents by offset in bounded memory; 100,000 are an ERROR, not 10,000 rows"""
        c = mx.connect()
        backend = mx.pid(c)
        before = backend_peak_kb(backend)
        n, total = mx.query(c, "SELECT count(DISTINCT document_id), sum(length(document::text)) "
                               "FROM tfdw_off_big WHERE word_count < 100")[0]
        mx.check_eq(n, 10000, "10,000 documents that match, by offset")
        err = mx.expect_error(c, "SELECT count(*), sum(length(document::text)) FROM tfdw_off_big",
                              None, "HV00M", r"^Mixpeek list ended after 10000 of 100000 documents$",
                              "a scan of 100,000 by offset")
        grown_mb = (backend_peak_kb(backend) - before) / 1024.0
        mx.check(grown_mb < 64, "peak memory grew %.1f MB for %.0f MB of documents (< 64 MB)"
                 % (grown_mb, total / 1e6), grown_mb)
        mx.check(err is None or "offset=9000" in err.context,
                 "the last page asked for is at offset 9000", err and err.context)
        mx.query(c, "SELECT 1")
        c.close()


if __name__ == "__main__":
    mx.main('test_fdw')
