"""Top-N through an API that sorts numbers as doubles, and plans made once.

Against a capture listener that sorts bigint and numeric fields as doubles
and, among values equal as doubles, puts them in the order opposite to the
exact one (the worst a search engine may do):
- ORDER BY a bigint or numeric column LIMIT n sends the sort and asks for
  n + 1 rows; the exact first n rows come back even when values that
  differ tie as doubles across the n-th row (9007199254740993 and
  9007199254740992, 0.1000000000000000001 and 0.1), ascending and
  descending (nulls first), with OFFSET and WITH TIES, from a cursor, a prepared
  statement, a LATERAL subquery and a correlated one (rescanned with a
  parameter in its filter);
- one list request when the row after the n-th does not tie, two when the
  tie group goes on past the first page;
- EXPLAIN VERBOSE: a Sort above the scan, the remote sort, limit and ties;
- mixpeek.pushdown: at safe the sort is sent only for an indexed column,
  at all for any, at off never; a numeric with a typmod is never sorted
  remotely; the rows are the same at every level;
- rows are counted once they pass the local check of the filters sent (the
  listener ignores them); a condition checked locally only keeps the whole
  scan (no limit sent).
Against the mock: a cached generic plan and a re-planned custom one send
the same request and return the same rows.
"""
import json
import os
import re
import sys
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402
import capture  # noqa: E402

KEY = "sk_test_alpha"
BIG = 9007199254740992          # 2^53: 2^53 + 1 rounds to it as a double


def num(text):
    """A JSON number written with every digit (see dumps)."""
    return "#" + text


DOCS = [
    {"document_id": "a", "v": 1, "x": num("0.2"), "k": 1},
    {"document_id": "b", "v": BIG + 1, "x": num("0.1000000000000000001"), "k": 2},
    {"document_id": "c", "v": BIG, "x": num("0.1"), "k": 2},
    {"document_id": "d", "v": BIG + 3, "x": num("0.30000000000000000001"), "k": 2},
    {"document_id": "e", "v": 10 ** 17, "x": num("0.3"), "k": 3},
    {"document_id": "n", "v": None},
    {"document_id": "m"},
]


def exact(value):
    if value is None:
        return None
    return Decimal(value[1:]) if isinstance(value, str) else Decimal(value)


def dumps(obj):
    return re.sub(r'"#([-0-9.eE+]+)"', r"\1", json.dumps(obj))


class DoubleSortingApi:
    """Lists every document, sorted as doubles, ties in the reverse of their
    exact order; paged by an offset cursor.  Filters are ignored: every
    document is a superset of what they ask for."""

    def __init__(self):
        self.cap = None

    def __call__(self, method, path, query, headers, body):
        if method == "GET" and path.endswith("/collections/col_topn"):
            # ANALYZE asks for the size first
            return 200, None, json.dumps({"collection_id": "col_topn", "collection_name": "topn",
                                          "document_count": len(DOCS)})
        if method != "POST" or not path.endswith("/documents/list"):
            return None
        b = json.loads(body or "{}")
        docs = list(DOCS)
        sort = b.get("sort")
        if sort:
            field, desc = sort["field"], sort.get("direction") == "desc"
            present = [d for d in docs if d.get(field) is not None]
            missing = [d for d in docs if d.get(field) is None]
            # exact order reversed, then a stable sort as doubles
            present.sort(key=lambda d: exact(d[field]), reverse=not desc)
            present.sort(key=lambda d: float(exact(d[field])), reverse=desc)
            docs = missing + present if desc else present + missing
        limit = int(query.get("limit", 100))
        pos = int(b.get("cursor") or 0)
        page = docs[pos:pos + limit]
        more = pos + limit < len(docs)
        return 200, None, dumps({"results": page,
                                 "pagination": {"next_cursor": str(pos + limit) if more else None,
                                                "has_more": more},
                                 "stats": {"total_documents": len(docs)}})


def server_and_table(test, conn, server, url, table_sql):
    """A server at url, the key's user mapping and table_sql (%s: the
    server), all dropped when the test ends."""
    for sql, args in (
            ("DROP SERVER IF EXISTS %s CASCADE" % server, None),
            ("CREATE SERVER %s FOREIGN DATA WRAPPER mixpeek_fdw "
             "OPTIONS (base_url %%s, namespace 'default')" % server, (url,)),
            ("CREATE USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (api_key %%s)" % server, (KEY,)),
            (table_sql % server, None)):
        mx.query(conn, sql, args)
    test.addCleanup(mx.query, conn, "DROP SERVER IF EXISTS %s CASCADE" % server)


def setUpModule():
    global su
    su = mx.fdw_superuser()


class TopN(mx.TestCase):

    def setUp(self):
        super().setUp()
        api = DoubleSortingApi()
        self.cap = capture.CaptureServer(handler=api).start()
        api.cap = self.cap
        self.addCleanup(self.cap.stop)
        server_and_table(self, su, "mx_topn", self.cap.url,
                         "CREATE FOREIGN TABLE mx_topn_t (document_id text, "
                         "v bigint OPTIONS (indexed 'true'), x numeric OPTIONS (indexed 'true'), "
                         "vu bigint OPTIONS (field 'v'), x2 numeric(20,19) OPTIONS (field 'x', indexed 'true'), "
                         "grade integer OPTIONS (field 'k', indexed 'true')) "
                         "SERVER %s OPTIONS (collection 'col_topn', page_size '100')")
        self.c = mx.connect()
        self.addCleanup(self.c.close)
        mx.query(self.c, "SET statement_timeout = '30s'")

    def lists(self):
        return [r for r in self.cap.requests() if r["path"].endswith("/documents/list")]

    def run_at(self, sql, level):
        mx.query(self.c, "SET mixpeek.pushdown = %s", (level,))
        self.cap.clear()
        return mx.query(self.c, sql)

    def check_query(self, sql, want, sort, limit, nrequests, level="safe"):
        """sql returns want at level, sending sort (or none) with ?limit=
        limit in nrequests list requests; the same rows at off.  Leaves the
        session at level."""
        got = self.run_at(sql, level)
        mx.check_eq(got, want, "%s at %s: rows" % (sql, level))
        sent = self.lists()
        mx.check_eq(len(sent), nrequests, "%s at %s: list requests" % (sql, level))
        if sent:
            mx.check_eq(sent[0]["json"].get("sort"), sort, "%s at %s: sort sent" % (sql, level))
            mx.check_eq(sent[0]["query"].get("limit"), limit, "%s at %s: ?limit" % (sql, level))
        mx.check_eq(self.run_at(sql, "off"), want, "%s at off: rows" % sql)
        mx.query(self.c, "SET mixpeek.pushdown = %s", (level,))

    def test_01_bigint_ties(self):
        """bigint: the n-th row's tie group as doubles is read to its end"""
        asc = {"field": "v", "direction": "asc"}
        # the API sends a, b (2^53+1), c (2^53), d, ...: c belongs, b does not
        self.check_query("SELECT document_id, v FROM mx_topn_t ORDER BY v LIMIT 2",
                         [("a", 1), ("c", BIG)], asc, "3", 2)
        # the row after the first does not tie: one page
        self.check_query("SELECT document_id, v FROM mx_topn_t ORDER BY v LIMIT 1",
                         [("a", 1)], asc, "2", 1)
        self.check_query("SELECT document_id FROM mx_topn_t ORDER BY v LIMIT 2 OFFSET 1",
                         [("c",), ("b",)], asc, "4", 1)
        self.check_query("SELECT document_id FROM mx_topn_t ORDER BY v FETCH FIRST 2 ROWS WITH TIES",
                         [("a",), ("c",)], asc, "3", 2)
        desc = {"field": "v", "direction": "desc"}
        # missing and null first; the API sends n, m, e, d, c, b, a
        self.check_query("SELECT v FROM mx_topn_t ORDER BY v DESC LIMIT 4",
                         [(None,), (None,), (10 ** 17,), (BIG + 3,)], desc, "5", 1)
        self.check_query("SELECT v FROM mx_topn_t ORDER BY v DESC LIMIT 5",
                         [(None,), (None,), (10 ** 17,), (BIG + 3,), (BIG + 1,)], desc, "6", 2)

    def test_02_numeric_ties(self):
        """numeric: 0.1000000000000000001 and 0.1 tie as doubles"""
        asc = {"field": "x", "direction": "asc"}
        # the API sends b, c, a, d, e, n, m
        self.check_query("SELECT document_id, x FROM mx_topn_t ORDER BY x LIMIT 1",
                         [("c", Decimal("0.1"))], asc, "2", 2)
        self.check_query("SELECT document_id, x FROM mx_topn_t ORDER BY x LIMIT 2",
                         [("c", Decimal("0.1")), ("b", Decimal("0.1000000000000000001"))], asc, "3", 1)
        self.check_query("SELECT x FROM mx_topn_t ORDER BY x DESC NULLS FIRST LIMIT 3",
                         [(None,), (None,), (Decimal("0.30000000000000000001"),)],
                         {"field": "x", "direction": "desc"}, "4", 2)
        # a typmod rounds the values: the API's order would not hold, no sort
        self.check_query("SELECT x2 FROM mx_topn_t ORDER BY x2 LIMIT 1",
                         [(Decimal("0.1000000000000000000"),)], None, "100", 1)

    def test_06_several_keys(self):
        """ORDER BY a, b LIMIT n: the API sorts by a, the tie group on a is
        read to its end, the Sort above orders by both"""
        asc = {"field": "k", "direction": "asc"}
        self.check_query("SELECT document_id, grade FROM mx_topn_t ORDER BY grade, document_id DESC LIMIT 2",
                         [("a", 1), ("d", 2)], asc, "100", 1)
        self.check_query("SELECT document_id, grade FROM mx_topn_t ORDER BY grade DESC, document_id LIMIT 2",
                         [("m", None), ("n", None)], {"field": "k", "direction": "desc"}, "100", 1)
        self.check_query("SELECT document_id FROM mx_topn_t ORDER BY grade, document_id LIMIT 1",
                         [("a",)], asc, "100", 1)
        # bigint first: ties as doubles and on the second key at once
        self.check_query("SELECT document_id FROM mx_topn_t ORDER BY v, grade DESC LIMIT 2",
                         [("a",), ("c",)], {"field": "v", "direction": "asc"}, "100", 1)
        # a text first key is not compared here: no sort sent, whole scan
        self.check_query("SELECT document_id FROM mx_topn_t ORDER BY document_id, grade LIMIT 2",
                         [("a",), ("b",)], None, "100", 1, "all")
        # ties are expected: the first page is the table's page_size, else
        # as large as the API allows (each further page is a round trip)
        mx.query(su, "ALTER FOREIGN TABLE mx_topn_t OPTIONS (DROP page_size)")
        self.check_query("SELECT document_id FROM mx_topn_t ORDER BY grade, document_id LIMIT 2",
                         [("a",), ("b",)], asc, "1000", 1)
        # with statistics: n + 1 and twice the expected tie group (7 rows,
        # 3 distinct grades: 3 a value)
        mx.query(su, "ANALYZE mx_topn_t")
        self.check_query("SELECT document_id FROM mx_topn_t ORDER BY grade, document_id LIMIT 2",
                         [("a",), ("b",)], asc, "9", 1)
        self.run_at("SELECT document_id, v FROM mx_topn_t ORDER BY v LIMIT 2", "safe")
        mx.check_eq([r["query"].get("limit") for r in self.lists()], ["3", "6"],
                    "a tie group past the first page: the next page grows")
        plan = "\n".join(r[0] for r in mx.query(
            self.c, "EXPLAIN (VERBOSE, COSTS OFF) SELECT document_id FROM mx_topn_t "
                    "ORDER BY grade, document_id LIMIT 1"))
        mx.check("Sort Key: mx_topn_t.grade, mx_topn_t.document_id" in plan, "several keys sorted above:\n" + plan)
        mx.check("Remote Limit Ties" in plan, "tie group read:\n" + plan)

    def test_03_levels(self):
        """safe sorts an indexed column only; all any; off none"""
        sql = "SELECT document_id FROM mx_topn_t ORDER BY vu LIMIT 2"
        self.check_query(sql, [("a",), ("c",)], None, "100", 1, "safe")
        self.check_query(sql, [("a",), ("c",)], {"field": "v", "direction": "asc"}, "3", 2, "all")
        self.check_query("SELECT document_id FROM mx_topn_t ORDER BY v LIMIT 2",
                         [("a",), ("c",)], None, "100", 1, "off")

    def test_04_plan_shapes(self):
        """EXPLAIN, a local condition, a cursor, a prepared statement, LATERAL"""
        mx.query(self.c, "SET mixpeek.pushdown = safe")
        plan = "\n".join(r[0] for r in mx.query(
            self.c, "EXPLAIN (VERBOSE, COSTS OFF) SELECT document_id FROM mx_topn_t ORDER BY v LIMIT 2"))
        lines = [x.strip() for x in plan.split("\n")]
        order = [i for i, x in enumerate(lines)
                 if x in ("Limit", "->  Sort", "Sort Key: mx_topn_t.v", "->  Foreign Scan on public.mx_topn_t")]
        mx.check_eq([lines[i] for i in order],
                    ["Limit", "->  Sort", "Sort Key: mx_topn_t.v", "->  Foreign Scan on public.mx_topn_t"],
                    "EXPLAIN: a Sort above the scan")
        for line in ("Remote Sort: {\"field\":\"v\",\"direction\":\"asc\"}", "Remote Limit: 2",
                     "Remote Limit Ties: read on while equal as doubles, sorted locally",
                     "Remote Request: POST /v1/collections/col_topn/documents/list?limit=3"):
            mx.check(line in plan, "EXPLAIN shows %s" % line, plan)
        # a filter the API does not apply (a superset): rows are counted
        # once they pass the local check; the API sends a, b, c, d...
        self.check_query("SELECT document_id FROM mx_topn_t WHERE v >= 9007199254740992 "
                         "ORDER BY v LIMIT 1", [("c",)], {"field": "v", "direction": "asc"}, "2", 2)
        plan = "\n".join(r[0] for r in mx.query(
            self.c, "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT document_id "
                    "FROM mx_topn_t WHERE v >= 9007199254740992 ORDER BY v LIMIT 1"))
        for line in ("Rows Removed by Filter: 1", "Remote Pages: 2"):
            mx.check(line in plan, "EXPLAIN ANALYZE shows %s" % line, plan)
        self.run_at("SELECT document_id FROM mx_topn_t WHERE v >= 9007199254740992 "
                    "ORDER BY v LIMIT 1", "safe")
        mx.check("filters" in self.lists()[0]["json"], "the filter is sent")
        # a condition not sent: the scan returns everything, the Sort decides
        self.check_query("SELECT document_id FROM mx_topn_t WHERE v + 0 > 1 ORDER BY v LIMIT 1",
                         [("c",)], None, "100", 1)
        self.cap.clear()
        cur = self.c.cursor()
        cur.execute("BEGIN")
        cur.execute("DECLARE k SCROLL CURSOR FOR SELECT document_id FROM mx_topn_t ORDER BY v LIMIT 2")
        cur.execute("FETCH ALL FROM k")
        first = cur.fetchall()
        cur.execute("FETCH BACKWARD ALL FROM k")
        back = cur.fetchall()
        cur.execute("COMMIT")
        mx.check_eq((first, back), ([("a",), ("c",)], [("c",), ("a",)]), "a scroll cursor")
        mx.check_eq([r["query"].get("limit") for r in self.lists()], ["3", "3"], "a scroll cursor: top-N")
        mx.query(self.c, "PREPARE p AS SELECT document_id FROM mx_topn_t ORDER BY x LIMIT 2")
        mx.query(self.c, "SET plan_cache_mode = force_generic_plan")
        for i in range(3):
            self.cap.clear()
            mx.check_eq(mx.query(self.c, "EXECUTE p"), [("c",), ("b",)], "prepared, run %d" % (i + 1))
            mx.check_eq([(r["query"].get("limit"), r["json"].get("sort")) for r in self.lists()],
                        [("3", {"field": "x", "direction": "asc"})], "prepared, run %d: one page" % (i + 1))
        mx.query(self.c, "RESET plan_cache_mode")
        got = mx.query(self.c, "SELECT k, t.document_id FROM generate_series(1, 2) k, LATERAL "
                               "(SELECT document_id FROM mx_topn_t ORDER BY v LIMIT k) t ORDER BY 1, 2")
        mx.check_eq(got, [(1, "a"), (2, "a"), (2, "c")], "LATERAL: a limit per outer row")
        # a top-N scan rescanned per outer row, its filter a parameter
        self.cap.clear()
        got = mx.query(self.c, "SELECT k, (SELECT document_id FROM mx_topn_t WHERE v >= k ORDER BY v LIMIT 1) "
                               "FROM (VALUES (1::bigint), (2), (%s), (%s)) o(k) ORDER BY 1" % (BIG, BIG + 4))
        mx.check_eq(got, [(1, "a"), (2, "c"), (BIG, "c"), (BIG + 4, "e")], "a correlated subquery")
        mx.check_eq([r["query"].get("limit") for r in self.lists()], ["2", "2", "2", "2", "2", "2", "2", "2"],
                    "a correlated subquery: 1, 2, 2 and 3 pages of two rows")


class PlanOnce(mx.TestCase):

    def test_05_generic_and_custom_plans(self):
        """a cached generic plan and a re-planned one send the same request"""
        c = mx.fdw_superuser()
        self.addCleanup(c.close)
        server_and_table(self, c, "mx_once", mx.MOCK_URL,
                         "CREATE FOREIGN TABLE mx_once_t (document_id text, category text, "
                         "word_count int OPTIONS (indexed 'true'), "
                         "big bigint OPTIONS (field 'word_count', indexed 'true')) "
                         "SERVER %s OPTIONS (collection 'col_articles')")
        mx.query(c, "SET mixpeek.pushdown = safe")
        for sql, args in (
                ("SELECT document_id, word_count FROM mx_once_t WHERE word_count >= $1 AND category = $2 "
                 "AND document_id LIKE 'doc%%' ORDER BY word_count LIMIT 3", "(100, 'news')"),
                ("SELECT document_id FROM mx_once_t WHERE big > $1 AND (category = $2 OR category IS NULL) "
                 "ORDER BY big DESC LIMIT 2", "(10, 'tech')"),
                ("SELECT a.document_id FROM mx_once_t a JOIN mx_once_t b ON b.document_id = a.document_id "
                 "WHERE a.word_count < $1 AND a.category <> $2 ORDER BY 1", "(400, 'x')")):
            mx.query(c, "DEALLOCATE ALL")
            mx.query(c, "PREPARE q(int, text) AS " + sql)
            seen = {}
            for mode in ("force_generic_plan", "force_custom_plan"):
                mx.query(c, "SET plan_cache_mode = " + mode)
                since = mx.mock_last_seq()
                rows = mx.query(c, "EXECUTE q" + args)
                sent = [(r["method"], mx.req_path(r), json.dumps(r.get("body"), sort_keys=True))
                        for r in mx.mock_requests(since=since)]
                seen[mode] = (rows, sorted(sent))
            mx.check(seen["force_generic_plan"][1] != [], "%s: requests sent" % sql)
            mx.check_eq(seen["force_generic_plan"], seen["force_custom_plan"],
                        "%s: generic and custom plans" % sql)
        mx.query(c, "RESET plan_cache_mode")


if __name__ == "__main__":
    mx.main(__name__)
