"""Sizes the planner can trust: row counts and ANALYZE of foreign tables.

- by default planning sends nothing: 1,000 rows until ANALYZE;
- the "rows" option fixes the count, without requests; bad values fail;
- use_remote_estimate (server or table) takes document_count from
  GET /v1/collections/{id}: exact estimates, one request per
  mixpeek.count_cache_ms, none for a cached count, one per plan at 0;
- ANALYZE pages through the collection (1,000 a page, at most 10,000
  documents), stores document_count as reltuples and real distributions in
  pg_stats, which the estimates then use;
- with the sizes known, a join with a small local table of ids plans as
  GETs by id, a join with 10,000 ids and a whole report as paged scans.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402

BIG = 100000


def rows_of(conn, sql):
    """The top plan node's row estimate."""
    plan = mx.query(conn, "EXPLAIN " + sql)[0][0]
    return int(re.search(r"rows=(\d+)", plan).group(1))


def plan_text(conn, sql):
    return "\n".join(r[0] for r in mx.query(conn, "EXPLAIN (VERBOSE, COSTS OFF) " + sql))


def api_requests(since):
    return [(r["method"], r["path"]) for r in mx.mock_requests(since=since) if r["path"].startswith("/v1/")]


def setUpModule():
    global su
    su = mx.setup_extension()
    with mx.case("setup: a server, tables of col_big, a local table of ids"):
        mx.query(su, "DROP SERVER IF EXISTS mx_an CASCADE")
        mx.query(su, "DROP TABLE IF EXISTS mx_an_ids, mx_an_many")
        mx.query(su, "CREATE SERVER mx_an FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (namespace 'default')")
        for t, opts in (("mx_an_big", ""), ("mx_an_fixed", ""), ("mx_an_remote", ", use_remote_estimate 'true'")):
            mx.query(su, "CREATE FOREIGN TABLE %s (document_id text, category text, word_count int) "
                         "SERVER mx_an OPTIONS (collection 'col_big'%s)" % (t, opts))
        mx.query(su, "CREATE TABLE mx_an_ids AS SELECT format('doc_%s', lpad((i * 997)::text, 6, '0')) AS id "
                     "FROM generate_series(0, 9) i")
        mx.query(su, "CREATE TABLE mx_an_many AS SELECT format('doc_%s', lpad(i::text, 6, '0')) AS id "
                     "FROM generate_series(0, 9999) i")
        mx.query(su, "ANALYZE mx_an_ids, mx_an_many")
        mx.mock_reset()


def tearDownModule():
    with mx.case("clean up"):
        mx.query(su, "DROP SERVER mx_an CASCADE")
        mx.query(su, "DROP TABLE mx_an_ids, mx_an_many")
        mx.query(su, "RESET mixpeek.count_cache_ms")


class Analyze(mx.TestCase):

    def test_01_planning_sends_nothing_by_default(self):
        """no rows option, no remote estimate, not analyzed: 1,000 rows, no request"""
        since = mx.mock_last_seq()
        mx.check_eq(rows_of(su, "SELECT * FROM mx_an_fixed"), 1000, "the default estimate")
        mx.check_eq(api_requests(since), [], "planning sent nothing")

    def test_02_rows_option(self):
        """the rows option fixes the count; bad values are refused"""
        mx.query(su, "ALTER FOREIGN TABLE mx_an_fixed OPTIONS (ADD rows '4321')")
        since = mx.mock_last_seq()
        mx.check_eq(rows_of(su, "SELECT * FROM mx_an_fixed"), 4321, "rows '4321'")
        mx.check_eq(api_requests(since), [], "planning sent nothing")
        for bad in ("-1", "abc", "1e3", "", "12.5", "99999999999999999"):
            mx.expect_error(su, "ALTER FOREIGN TABLE mx_an_fixed OPTIONS (SET rows '%s')" % bad, None, "HV024",
                            r'^invalid value for option "rows": ')
        mx.expect_error(su, "ALTER FOREIGN TABLE mx_an_fixed OPTIONS (ADD use_remote_estimate 'maybe')", None,
                        "HV024", r'invalid value for option "use_remote_estimate"')
        mx.expect_error(su, "ALTER SERVER mx_an OPTIONS (ADD rows '5')", None, "HV00D", r'invalid option "rows"')
        # the fixed count wins over a remote estimate
        mx.query(su, "ALTER FOREIGN TABLE mx_an_fixed OPTIONS (ADD use_remote_estimate 'true')")
        since = mx.mock_last_seq()
        mx.check_eq(rows_of(su, "SELECT * FROM mx_an_fixed"), 4321, "rows wins over use_remote_estimate")
        mx.check_eq(api_requests(since), [], "and nothing is asked")

    def test_03_remote_estimate_is_cached(self):
        """use_remote_estimate: document_count, once per mixpeek.count_cache_ms"""
        c = mx.connect()
        since = mx.mock_last_seq()
        mx.check_eq(rows_of(c, "SELECT * FROM mx_an_remote"), BIG, "document_count, exactly")
        mx.check_eq(rows_of(c, "SELECT * FROM mx_an_remote WHERE word_count > 10"), BIG // 3,
                    "a range condition: a third of document_count")
        mx.query(c, "PREPARE q AS SELECT * FROM mx_an_remote")
        mx.query(c, "EXPLAIN EXECUTE q")
        mx.check_eq(api_requests(since), [("GET", "/v1/collections/col_big")],
                    "one GET of the collection for three plans")
        mx.query(c, "SET mixpeek.count_cache_ms = 0")
        since = mx.mock_last_seq()
        rows_of(c, "SELECT * FROM mx_an_remote")
        rows_of(c, "SELECT * FROM mx_an_remote")
        mx.check_eq(len(api_requests(since)), 2, "count_cache_ms = 0: one GET per plan")
        # the server's option, and a table's 'false' over it
        mx.query(su, "ALTER SERVER mx_an OPTIONS (ADD use_remote_estimate 'true')")
        mx.query(su, "ALTER FOREIGN TABLE mx_an_remote OPTIONS (SET use_remote_estimate 'false')")
        since = mx.mock_last_seq()
        mx.check_eq(rows_of(c, "SELECT * FROM mx_an_big"), BIG, "the server's use_remote_estimate")
        mx.check_eq(rows_of(c, "SELECT * FROM mx_an_remote"), 1000, "the table's 'false' wins")
        mx.check_eq(len(api_requests(since)), 1, "only the table that asks, asks")
        mx.query(su, "ALTER SERVER mx_an OPTIONS (DROP use_remote_estimate)")
        mx.query(su, "ALTER FOREIGN TABLE mx_an_remote OPTIONS (SET use_remote_estimate 'true')")
        n = mx.scalar(su, "SELECT sum(requests) FROM mixpeek_stats WHERE datname = current_database() "
                          "AND kind = 'get_collection'")
        mx.check(n is not None and n >= 4, "mixpeek_stats counts them as get_collection", n)
        c.close()

    def test_04_analyze(self):
        """ANALYZE: 1 count + 10 pages, reltuples = document_count, real pg_stats"""
        since = mx.mock_last_seq()
        mx.query(su, "ANALYZE mx_an_big")
        reqs = api_requests(since)
        mx.check_eq(reqs[0], ("GET", "/v1/collections/col_big"), "the count first")
        mx.check_eq(reqs[1:], [("POST", "/v1/collections/col_big/documents/list")] * 10,
                    "then 10 pages of 1,000 (the API lists 10,000 at most)")
        limits = [r["query"].get("limit") for r in mx.mock_requests(since=since) if r["method"] == "POST"]
        mx.check_eq(set(limits), {"1000"}, "pages of 1,000")
        mx.check_eq(mx.scalar(su, "SELECT reltuples FROM pg_class WHERE oid = 'mx_an_big'::regclass"), BIG,
                    "reltuples is document_count")
        st = dict((r[0], r[1:]) for r in mx.query(
            su, "SELECT attname, n_distinct, most_common_vals::text, most_common_freqs "
                "FROM pg_stats WHERE tablename = 'mx_an_big'"))
        mx.check_eq(st["category"], (4.0, "{news,science,sports,tech}", [0.25, 0.25, 0.25, 0.25]),
                    "category: 4 values, a quarter each")
        mx.check_eq(st["document_id"][0], -1.0, "document_id: unique")
        mx.check(st["word_count"][0] == 1000.0, "word_count: 1,000 distinct values", st["word_count"])
        since = mx.mock_last_seq()
        mx.check_eq(rows_of(su, "SELECT * FROM mx_an_big"), BIG, "then the estimate is reltuples")
        mx.check_eq(rows_of(su, "SELECT * FROM mx_an_big WHERE category = 'news'"), BIG // 4,
                    "category = 'news': a quarter, from pg_stats")
        mx.check_eq(rows_of(su, "SELECT * FROM mx_an_big WHERE word_count = 7"), BIG // 1000,
                    "word_count = 7: 1/1000")
        mx.check_eq(api_requests(since), [], "planning sent nothing")
        # ANALYZE VERBOSE says what it read
        notices = []
        su.notices.clear()
        mx.query(su, "ANALYZE VERBOSE mx_an_big (category)")
        notices = [n for n in su.notices if "mx_an_big" in n]
        mx.check(any('collection "col_big" holds 100000 documents, 10000 read, 10000 rows in sample' in n
                     for n in notices), "ANALYZE VERBOSE reports the sample", notices)

    def test_05_join_plans(self):
        """known sizes: ten ids join by GETs; 10,000 ids and a report by paged scans"""
        mx.query(su, "ANALYZE mx_an_big")
        for ids in ("mx_an_ids", "mx_an_many"):
            batched = plan_text(su, "SELECT b.* FROM %s l JOIN mx_an_big b ON b.document_id = l.id" % ids)
            mx.check("Custom Scan (MixpeekBatchJoin)" in batched,
                     "%s against 100,000 documents: a batched join" % ids, batched)
        # without batched joins, GETs or a paged scan
        mx.query(su, "SET mixpeek.batch_join = off")
        few = plan_text(su, "SELECT b.* FROM mx_an_ids l JOIN mx_an_big b ON b.document_id = l.id")
        mx.check(re.search(r"Remote Request: GET /v1/collections/col_big/documents/\{document_id\}", few) and
                 re.search(r"Remote Document Id: l\.id", few),
                 "ten ids: a parameterized GET per id", few)
        many = plan_text(su, "SELECT b.* FROM mx_an_many l JOIN mx_an_big b ON b.document_id = l.id")
        # 10,000 GETs cost more than 1,000 pages of the whole collection
        mx.check("Hash Cond: (b.document_id = l.id)" in many and
                 "Remote Request: POST /v1/collections/col_big/documents/list?limit=100" in many,
                 "10,000 ids against 100,000 documents: one paged scan, hashed", many)
        mx.query(su, "ALTER FOREIGN TABLE mx_an_fixed OPTIONS (SET rows '100000000')")
        huge = plan_text(su, "SELECT b.* FROM mx_an_many l JOIN mx_an_fixed b ON b.document_id = l.id")
        mx.check("Remote Document Id: l.id" in huge,
                 "10,000 ids against 100,000,000 documents: a GET per id", huge)
        mx.query(su, "RESET mixpeek.batch_join")
        report = plan_text(su, "SELECT category, count(*) FROM mx_an_big GROUP BY 1")
        mx.check("Remote Request: POST /v1/collections/col_big/documents/list" in report,
                 "a whole report: paged list requests", report)


if __name__ == "__main__":
    mx.main('test_analyze')
