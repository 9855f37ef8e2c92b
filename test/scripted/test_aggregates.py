"""Aggregates sent to POST .../documents/aggregate.

- differential: random GROUP BY queries (count(*), count(col),
  count(DISTINCT col), min/max of integers and C-collated text, sum/avg of
  smallint, integer, bigint and double precision; group keys, date_trunc
  keys; exact WHERE clauses; HAVING on counts; ORDER BY/LIMIT done locally)
  over col_big equal the same queries on a local copy to the digit (the text
  of every value), and each pushed one made exactly one aggregate request
  and no list request;
- sums: PostgreSQL's types and scales; the 2^53 bound (an ERROR where
  doubles lose digits, the exact sum below it); no number is null though
  the API's sum of none is 0; answers with sums written 1.5e7 or
  15000000.0, fractions, nulls;
- date_trunc: sent only in a time zone without offset; a plan made in UTC
  and run (or a cursor fetched) in another zone is an ERROR;
- what is not exact is not pushed (nullable group key, a standard column
  with two locations, sum/avg, a local condition) and still gives the rows;
- without GROUP BY and no matching document: one row, count 0, min null;
- faults: a 500 and a 429 are retried; a 400 is an ERROR naming the
  request; mixpeek_stats counts aggregate_documents;
- a correlated subquery and LATERAL send one request per outer row; the
  request carries the key of the role the scan runs as (a view's owner).

The test clusters run with mixpeek.aggregate_pushdown off (test/lib.sh);
these sessions turn it on.
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402
import capture  # noqa: E402

TABLE = """CREATE FOREIGN TABLE {name} (document_id text, collection_id text,
  category text NOT NULL, word_count int NOT NULL, published boolean NOT NULL,
  cluster_id text NOT NULL,
  label text OPTIONS (field 'taxonomy_topics_label') COLLATE "C" NOT NULL,
  author text OPTIONS (field 'metadata.author'), rating float8,
  created_at timestamptz,
  wc2 smallint OPTIONS (field 'word_count') NOT NULL, views bigint NOT NULL,
  huge bigint NOT NULL, score float8 OPTIONS (field 'rating') NOT NULL,
  published_at timestamptz NOT NULL)
  SERVER mx_agg OPTIONS (collection '{collection}', page_size '1000')"""


def aggregate_requests(since):
    reqs = mx.mock_requests(since=since)
    agg = [r for r in reqs if r["path"].endswith("/documents/aggregate")]
    lists = [r for r in reqs if r["path"].endswith("/documents/list")]
    return agg, lists


def capture_table(c, cap, server, table):
    """A server for the capture listener and a foreign table of collection c on it."""
    mx.query(c, "DROP SERVER IF EXISTS %s CASCADE" % server)
    mx.query(c, "CREATE SERVER %s FOREIGN DATA WRAPPER mixpeek_fdw "
                "OPTIONS (base_url %%s, namespace 'default')" % server, (cap.url,))
    mx.query(c, "CREATE USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (api_key 'sk_test_alpha')" % server)
    mx.query(c, "CREATE FOREIGN TABLE %s SERVER %s OPTIONS (collection 'c')" % (table, server))


def texts(rows):
    """Each value as its text: numeric's scale and every digit of a double."""
    return [tuple(None if v is None else str(v) for v in r) for r in rows]


class Aggregates(mx.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = mx.fdw_superuser()
        mx.query(cls.c, "SET mixpeek.aggregate_pushdown = on")
        # date_trunc is sent in UTC only; doubles add up in scan order only
        # without parallel workers
        mx.query(cls.c, "SET TimeZone = 'UTC'")
        mx.query(cls.c, "SET max_parallel_workers_per_gather = 0")
        mx.query(cls.c, "DROP SERVER IF EXISTS mx_agg CASCADE")
        mx.query(cls.c, "CREATE SERVER mx_agg FOREIGN DATA WRAPPER mixpeek_fdw")
        mx.query(cls.c, TABLE.format(name="agg_big", collection="col_big"))
        mx.query(cls.c, TABLE.format(name="agg_fault", collection="faultpage-1-flaky-500-1-agg"))
        mx.query(cls.c, TABLE.format(name="agg_429", collection="faultpage-1-flaky-429-1-agg"))
        mx.query(cls.c, TABLE.format(name="agg_400", collection="faultpage-1-status-400"))
        mx.mock_config(result_cap=None)
        mx.query(cls.c, "SET mixpeek.pushdown = off")
        mx.query(cls.c, "DROP TABLE IF EXISTS agg_local")
        mx.query(cls.c, "CREATE TABLE agg_local AS SELECT * FROM agg_big")
        mx.query(cls.c, "RESET mixpeek.pushdown")

    @classmethod
    def tearDownClass(cls):
        mx.query(cls.c, "DROP SERVER IF EXISTS mx_agg CASCADE")
        mx.query(cls.c, "DROP TABLE IF EXISTS agg_local")
        mx.mock_reset()

    def run_pair(self, sql):
        since = mx.mock_last_seq()
        got = mx.query(self.c, sql.format(t="agg_big"))
        agg, lists = aggregate_requests(since)
        # a hash aggregate adds each group's doubles in scan order, as the
        # API does; a sort would not keep that order
        mx.query(self.c, "SET enable_sort = off")
        want = mx.query(self.c, sql.format(t="agg_local"))
        mx.query(self.c, "RESET enable_sort")
        return got, want, len(agg), len(lists)

    def test_01_differential(self):
        """random groupings equal local aggregation, one request each"""
        rnd = random.Random(int(os.environ.get("MX_SEED", "20261130")))
        keys = ["category", "word_count", "published", "cluster_id", "label",
                "date_trunc('month', published_at)", "date_trunc('year', published_at)"]
        aggs = ["count(*)", "count(word_count)", "count(DISTINCT category)",
                "count(DISTINCT word_count)", "min(word_count)", "max(word_count)",
                "min(label)", "max(label)", "count(DISTINCT label)",
                "count(*) * 2 + 1", "max(word_count) - min(word_count)",
                "coalesce(max(label), '-') || '/' || count(*)",
                "sum(word_count)", "avg(word_count)", "sum(wc2)", "avg(wc2)",
                "sum(views)", "avg(views)", "sum(views) - sum(word_count)",
                "sum(score)", "avg(score)", "sum(rating)", "avg(score) * count(*)"]
        wheres = ["", "category = 'tech'", "published", "word_count < 250",
                  "word_count >= 900 AND category IN ('news', 'science')",
                  "cluster_id = 'cl_3'", "NOT published"]
        for _ in range(40 if not mx.LONG else 200):
            k = rnd.sample(keys, rnd.randint(0, 2))
            a = rnd.sample(aggs, rnd.randint(0 if k else 1, 3))
            if any("score" in x or "rating" in x for x in a):
                # a DISTINCT aggregate makes PostgreSQL sort each group
                a = [x for x in a if "DISTINCT" not in x] or ["count(*)"]
            w = rnd.choice(wheres)
            # (without GROUP BY a HAVING is not sent: test_01b)
            having = rnd.choice(["", " HAVING count(*) > 100", " HAVING count(*) <> 2000"]) if k else ""
            sql = "SELECT %s FROM {t}%s%s%s ORDER BY %s" % (
                ", ".join(k + a), " WHERE " + w if w else "",
                " GROUP BY " + ", ".join(k) if k else "", having,
                ", ".join(str(i + 1) for i in range(len(k) + len(a))))
            if len(k) == 1 and rnd.random() < 0.4:
                # one key: its groups are distinct, so the order is total
                sql = sql[:sql.rindex(" ORDER BY ")] + " ORDER BY 1" + rnd.choice(["", " DESC"])
            if k and rnd.random() < 0.3:
                sql += " LIMIT 3"
            got, want, nagg, nlist = self.run_pair(sql)
            mx.check_eq(texts(got), texts(want), sql)
            mx.check_eq((nagg, nlist), (1, 0), "requests of " + sql)

    def test_01b_order_limit(self):
        """ORDER BY one key and LIMIT are sent with the grouping; HAVING without GROUP BY is not"""
        for sql, body in [
                ("SELECT label, count(*) FROM {t} GROUP BY label ORDER BY label DESC LIMIT 2",
                 {"sort_by": "g1", "sort_direction": "desc", "limit": 2}),
                ("SELECT word_count, max(label) FROM {t} WHERE word_count < 500 GROUP BY word_count "
                 "ORDER BY word_count LIMIT 5", {"sort_by": "g1", "sort_direction": "asc", "limit": 5}),
                ("SELECT count(*) FROM {t} WHERE cluster_id = 'cl_3' HAVING count(*) <> 2000", None),
                ("SELECT count(*) FROM {t} WHERE cluster_id = 'cl_3' HAVING count(*) = 2000", None),
                ("SELECT word_count FROM {t} WHERE published GROUP BY word_count ORDER BY 1 DESC",
                 {"sort_by": "g1", "sort_direction": "desc"}),
                ("SELECT published, count(DISTINCT word_count) FROM {t} GROUP BY 1 ORDER BY 1",
                 {"sort_by": "g1", "sort_direction": "asc"}),
                ("SELECT cluster_id, min(word_count) FROM {t} WHERE word_count > 990 GROUP BY 1 "
                 "ORDER BY 2, 1", {})]:
            since = mx.mock_last_seq()
            got = mx.query(self.c, sql.format(t="agg_big"))
            agg, lists = aggregate_requests(since)
            want = mx.query(self.c, sql.format(t="agg_local"))
            mx.check_eq(got, want, sql)
            if body is None:        # HAVING without GROUP BY: not sent
                mx.check_eq(len(agg), 0, "no aggregate request for " + sql)
                continue
            mx.check_eq((len(agg), len(lists)), (1, 0), "requests of " + sql)
            sent = {k: v for k, v in (agg[0]["body"] if agg else {}).items()
                    if k in ("sort_by", "sort_direction", "limit")}
            mx.check_eq(sent, body, "sort and limit sent for " + sql)

    def test_02_not_pushed(self):
        """what is not exact falls back to a scan, with the same rows"""
        for sql in ["SELECT author, count(*) FROM {t} WHERE word_count = 5 GROUP BY author ORDER BY 1",
                    "SELECT created_at::date, count(*) FROM {t} WHERE word_count = 5 GROUP BY 1 ORDER BY 1",
                    "SELECT category, avg(rating) FROM {t} WHERE word_count = 5 GROUP BY 1 ORDER BY 1",
                    "SELECT category, sum(word_count::numeric) FROM {t} WHERE word_count = 5 GROUP BY 1 ORDER BY 1",
                    "SELECT category, min(category) FROM {t} WHERE word_count = 5 GROUP BY 1 ORDER BY 1",
                    "SELECT count(*) FROM {t} WHERE word_count = 5 AND rating > 1",
                    "SELECT count(*) FROM {t} WHERE category <> 'tech' AND word_count = 5"]:
            got, want, nagg, nlist = self.run_pair(sql)
            mx.check_eq(got, want, sql)
            mx.check_eq(nagg, 0, "no aggregate request for " + sql)
            mx.check(nlist > 0, "a list scan for " + sql, nlist)

    def test_03_empty(self):
        """no matching document: one row without GROUP BY, none with it"""
        got, want, nagg, _ = self.run_pair(
            "SELECT count(*), min(word_count), count(DISTINCT label) FROM {t} WHERE category = 'none'")
        mx.check_eq(got, [(0, None, 0)], "empty aggregate")
        mx.check_eq(got, want, "empty aggregate equals local")
        got, want, nagg, _ = self.run_pair(
            "SELECT category, count(*) FROM {t} WHERE category = 'none' GROUP BY category")
        mx.check_eq(got, [], "empty grouping")

    def test_04_explain_and_prepared(self):
        """EXPLAIN VERBOSE shows the request and body; parameters are sent"""
        rows = mx.query(self.c, "EXPLAIN (VERBOSE, COSTS OFF) SELECT category, count(*) FROM agg_big "
                        "WHERE word_count = 7 GROUP BY category")
        text = "\n".join(r[0] for r in rows)
        mx.check("Remote Request: POST /v1/collections/col_big/documents/aggregate" in text, "request", text)
        mx.check('"group_by":[{"field":"category","alias":"g1"}]' in text, "body", text)
        mx.query(self.c, "PREPARE agg_p(int) AS SELECT category, count(*) FROM agg_big "
                 "WHERE word_count = $1 GROUP BY category ORDER BY 1")
        for v in (7, 8, 7, 9, 10, 11, 12):
            mx.check_eq(mx.query(self.c, "EXECUTE agg_p(%s)", (v,)),
                        mx.query(self.c, "SELECT category, count(*) FROM agg_local "
                                 "WHERE word_count = %s GROUP BY category ORDER BY 1", (v,)),
                        "prepared with %d" % v)
        mx.query(self.c, "DEALLOCATE agg_p")

    def test_05_faults(self):
        """500 and 429 retried; 400 an ERROR naming the request"""
        want = mx.query(self.c, "SELECT count(*) FROM agg_local")  # unused shape check
        for t in ("agg_fault", "agg_429"):
            got = mx.query(self.c, "SELECT category, count(*) FROM %s GROUP BY 1 ORDER BY 1" % t)
            mx.check(len(got) > 0 and want is not None, "%s answered after a retry" % t, got)
        err = mx.run_error(self.c, "SELECT category, count(*) FROM agg_400 GROUP BY 1")
        mx.check(err is not None and "documents/aggregate" in err.all_text(), "400 names the request", err)
        mx.check_eq((err.sqlstate, err.message) if err else None,
                    ("22023", "Mixpeek refused the aggregate request with HTTP 400"), "400 error")
        mx.check(err is not None and "mixpeek.aggregate_pushdown" in err.hint, "400 hint", err)
        mx.query(self.c, "SET mixpeek.aggregate_pushdown = off")
        mx.check(mx.run_error(self.c, "SELECT category, count(*) FROM agg_fault GROUP BY 1") is None,
                 "with aggregate_pushdown off the same query scans")
        mx.query(self.c, "SET mixpeek.aggregate_pushdown = on")
        mx.check_no_keys(err.all_text() if err else "", "400 error")

    def test_06_stats(self):
        """mixpeek_stats counts aggregate_documents"""
        mx.query(self.c, "SELECT mixpeek_stats_reset()")
        mx.query(self.c, "SELECT count(*) FROM agg_big")
        n = mx.scalar(self.c, "SELECT sum(requests) FROM mixpeek_stats WHERE kind = 'aggregate_documents'")
        mx.check_eq(n, 1, "aggregate_documents requests")

    def test_07_correlated(self):
        """a correlated subquery and LATERAL: one aggregate request per outer row"""
        for sql in ["SELECT t.c, (SELECT count(*) FROM {t} b WHERE b.category = t.c) "
                    "FROM (VALUES ('tech'), ('news'), ('none')) t(c) ORDER BY 1",
                    "SELECT t.c, l.* FROM (VALUES ('tech'), ('news'), ('none')) t(c), LATERAL "
                    "(SELECT cluster_id, count(*), max(word_count) FROM {t} b WHERE b.category = t.c "
                    "GROUP BY cluster_id ORDER BY 2 DESC, 1 LIMIT 2) l ORDER BY 1, 2",
                    "SELECT t.c, l.* FROM (VALUES ('tech'), ('news'), ('none')) t(c), LATERAL "
                    "(SELECT date_trunc('year', published_at) AS y, sum(views), avg(wc2), sum(score) "
                    "FROM {t} b WHERE b.category = t.c GROUP BY 1) l ORDER BY 1, 2"]:
            got, want, nagg, nlist = self.run_pair(sql)
            mx.check_eq(texts(got), texts(want), sql)
            mx.check_eq((nagg, nlist), (3, 0), "requests of " + sql)

    def test_08_keys(self):
        """the request carries the key of the role the scan runs as (a view's owner)"""
        roles = ["mx_agg_owner", "mx_agg_reader"]
        mx.create_roles(self.c, roles)
        mx.query(self.c, """
            CREATE USER MAPPING FOR mx_agg_owner SERVER mx_agg OPTIONS (api_key 'sk_test_beta');
            CREATE USER MAPPING FOR mx_agg_reader SERVER mx_agg OPTIONS (api_key 'sk_test_gamma');
            GRANT SELECT ON agg_big TO mx_agg_owner, mx_agg_reader;
            CREATE VIEW agg_view AS SELECT category, count(*) AS n FROM agg_big GROUP BY category;
            ALTER VIEW agg_view OWNER TO mx_agg_owner;
            GRANT SELECT ON agg_view TO mx_agg_reader""")
        try:
            reader = mx.connect(user="mx_agg_reader", password="pw",
                                options="-c mixpeek.aggregate_pushdown=on")
            for sql, who in [("SELECT * FROM agg_view ORDER BY 1", "beta"),
                             ("SELECT count(*) FROM agg_big", "gamma")]:
                since = mx.mock_last_seq()
                rows = mx.query(reader, sql)
                agg, _ = aggregate_requests(since)
                mx.check(len(rows) > 0, "rows of " + sql, rows)
                mx.check_eq([r["identity"] for r in agg], [who], "key of " + sql)
            reader.close()
        finally:
            mx.query(self.c, "DROP VIEW IF EXISTS agg_view")
            mx.drop_roles(self.c, roles)

    def test_09_bad_answers(self):
        """an answer missing groups or metrics is an ERROR, never fewer rows"""
        state = {"answer": None}

        def handler(method, path, query, headers, body):
            if not path.endswith("/documents/aggregate"):
                return None
            return 200, {}, state["answer"]

        ok = [{"group": {"g1": "news"}, "metrics": {"a1": 2}},
              {"group": {"g1": "tech"}, "metrics": {"a1": 3}}]
        cases = [
            ("total_groups over the results", {"results": ok, "total_groups": 3},
             "HV00A", "The aggregate answer does not hold every group it counts."),
            ("a metric missing", {"results": [{"group": {"g1": "news"}, "metrics": {}}], "total_groups": 1},
             "HV00A", 'The aggregate answer has no valid "a1".'),
            ("a group missing", {"results": [{"metrics": {"a1": 1}}], "total_groups": 1},
             "HV00A", 'The aggregate answer has no valid "group".'),
            ("results not an array", {"results": {"a": 1}, "total_groups": 1},
             "HV00A", 'The aggregate answer\'s "results" is not an array.'),
            ("no total_groups", {"results": ok},
             "HV00A", 'The aggregate answer has no valid "total_groups".'),
            ("a count that is not a number", {"results": [{"group": {"g1": "x"}, "metrics": {"a1": "many"}}],
                                             "total_groups": 1}, "22P02", None),
        ]
        with capture.CaptureServer(handler=handler) as cap:
            capture_table(self.c, cap, "mx_agg_cap", "agg_cap (category text NOT NULL)")
            try:
                state["answer"] = {"results": ok, "total_groups": 2}
                mx.check_eq(mx.query(self.c, "SELECT category, count(*) FROM agg_cap GROUP BY 1 ORDER BY 1"),
                            [("news", 2), ("tech", 3)], "a good answer")
                mx.check_eq([(r["method"], r["path"], r["json"]) for r in cap.requests()],
                            [("POST", "/v1/collections/c/documents/aggregate",
                              {"group_by": [{"field": "category", "alias": "g1"}],
                               "aggregations": [{"function": "count", "alias": "a1"}]})],
                            "the request")
                for what, answer, sqlstate, detail in cases:
                    state["answer"] = answer
                    err = mx.run_error(self.c, "SELECT category, count(*) FROM agg_cap GROUP BY 1")
                    mx.check_eq(err.sqlstate if err else None, sqlstate, what)
                    if detail is not None and err is not None:
                        mx.check_eq(err.detail, detail, what + ": detail")
                    mx.check(err is not None and "documents/aggregate" in err.context,
                             what + ": the request in the context", err)
                state["answer"] = {"results": ok, "total_groups": 2}
                err = mx.run_error(self.c, "SELECT count(*) FROM agg_cap")
                mx.check_eq((err.sqlstate, err.detail) if err else None,
                            ("HV00A", "The aggregate answer does not hold every group it counts."),
                            "two groups where one was asked for")
            finally:
                mx.query(self.c, "DROP SERVER IF EXISTS mx_agg_cap CASCADE")

    def test_10_cursor_and_timeout(self):
        """through a cursor; statement_timeout while the answer stalls"""
        c = mx.connect(autocommit=False, options="-c mixpeek.aggregate_pushdown=on")
        mx.query(c, "DECLARE agg_cur CURSOR FOR SELECT category, count(*) FROM agg_big "
                    "GROUP BY category ORDER BY 1")
        got = mx.query(c, "FETCH 2 FROM agg_cur") + mx.query(c, "FETCH ALL FROM agg_cur")
        c.commit()
        mx.check_eq(got, mx.query(self.c, "SELECT category, count(*) FROM agg_local GROUP BY 1 ORDER BY 1"),
                    "rows through a cursor")
        mx.query(self.c, TABLE.format(name="agg_stall", collection="faultpage-1-stall-3000"))
        mx.query(self.c, "SET statement_timeout = '300ms'")
        err = mx.run_error(self.c, "SELECT category, count(*) FROM agg_stall GROUP BY 1")
        mx.query(self.c, "RESET statement_timeout")
        mx.check_eq(err.sqlstate if err else None, "57014", "statement_timeout during the request")
        mx.check_eq(mx.scalar(self.c, "SELECT count(*) FROM agg_big WHERE category = 'tech'"), 25000,
                    "the session goes on")
        c.close()

    def test_11_sum_types(self):
        """sum(int2/int4) bigint, sum(int8) numeric, avg numeric with PostgreSQL's scale"""
        sql = ("SELECT pg_typeof(sum(wc2))::text, pg_typeof(sum(word_count))::text, "
               "pg_typeof(sum(views))::text, pg_typeof(avg(wc2))::text, pg_typeof(avg(views))::text, "
               "pg_typeof(sum(score))::text, pg_typeof(avg(score))::text, "
               "sum(wc2)::text, sum(views)::text, avg(word_count)::text, avg(views)::text, "
               "sum(score)::text, avg(score)::text FROM {t} WHERE word_count = 1 AND published")
        got, want, nagg, nlist = self.run_pair(sql)
        mx.check_eq(got, want, "types and text")
        mx.check_eq(got[0][:7], ("bigint", "bigint", "numeric", "numeric", "numeric",
                                 "double precision", "double precision"), "types")
        mx.check_eq(got[0][9], "1.00000000000000000000", "avg(int) scale as numeric_div's")
        mx.check_eq((nagg, nlist), (1, 0), "one aggregate request")

    def test_12_sum_bound(self):
        """integer sums past 2^53: an ERROR where doubles lose digits, exact below"""
        values = [2 ** 47 + i for i in range(5, 100000, 1000)]
        double = 0.0
        for v in values:
            double += v
        mx.check(int(double) != sum(values), "100 values of huge lose digits in doubles",
                 (int(double), sum(values)))
        for sql in ["SELECT sum(huge) FROM agg_big WHERE word_count = 5",
                    "SELECT avg(huge) FROM agg_big WHERE word_count = 5",
                    "SELECT published, sum(huge) FROM agg_big WHERE word_count = 5 GROUP BY 1"]:
            err = mx.run_error(self.c, sql)
            mx.check_eq((err.sqlstate, err.message) if err else None,
                        ("22003", 'sum of column "huge" is too large for Mixpeek to add exactly'), sql)
            mx.check(err is not None and "mixpeek.aggregate_pushdown" in (err.hint or "") and
                     "documents/aggregate" in (err.context or ""), "hint and context of " + sql, err)
        err = mx.run_error(self.c, "SELECT sum(huge) FROM agg_big WHERE word_count = 5")
        mx.check_eq(err.detail if err else None,
                    "A group of 100 documents has values of up to 140737488454333 in magnitude; "
                    "a sum in double precision is exact only while their product is at most 2^53.",
                    "detail")
        mx.query(self.c, "SET mixpeek.aggregate_pushdown = off")
        mx.check_eq(mx.scalar(self.c, "SELECT sum(huge) FROM agg_big WHERE word_count = 5"), sum(values),
                    "local: exact")
        mx.query(self.c, "SET mixpeek.aggregate_pushdown = on")
        got, want, nagg, _ = self.run_pair(
            "SELECT published, sum(huge), avg(huge), sum(views) FROM {t} "
            "WHERE word_count = 5 AND NOT published GROUP BY 1")
        mx.check_eq(texts(got), texts(want), "34 values: exact")
        mx.check_eq((nagg, int(got[0][1]) > 2 ** 52), (1, True), "sent, a sum past 2^52")

    def test_13_no_number(self):
        """no number is null, though the API's sum of none is 0; avg of a nullable column stays local"""
        mx.query(self.c, """CREATE FOREIGN TABLE agg_nulls (category text NOT NULL,
            word_count int NOT NULL, missing int OPTIONS (field 'metadata.missing'),
            missing_f float8 OPTIONS (field 'metadata.missing'), author_len int OPTIONS (field 'metadata.x'))
            SERVER mx_agg OPTIONS (collection 'col_big')""")
        try:
            sqls = [("SELECT category, sum(missing), sum(missing_f), count(*) FROM agg_nulls "
                     "WHERE word_count = 3 GROUP BY 1 ORDER BY 1", 1),
                    ("SELECT sum(missing), sum(word_count), avg(word_count), count(*) FROM agg_nulls "
                     "WHERE word_count = 3", 1),
                    ("SELECT sum(word_count), avg(word_count), sum(missing_f) FROM agg_nulls "
                     "WHERE category = 'none'", 1),
                    ("SELECT category, avg(missing) FROM agg_nulls WHERE word_count = 3 GROUP BY 1", 0)]
            for sql, n in sqls:
                since = mx.mock_last_seq()
                got = mx.query(self.c, sql)
                agg, _ = aggregate_requests(since)
                mx.query(self.c, "SET mixpeek.aggregate_pushdown = off")
                want = mx.query(self.c, sql)
                mx.query(self.c, "SET mixpeek.aggregate_pushdown = on")
                mx.check_eq(texts(got), texts(want), sql)
                mx.check_eq(len(agg), n, "aggregate requests of " + sql)
            mx.check_eq(mx.query(self.c, sqls[0][0]), [("science", None, None, 100)], "null sums")
            mx.check_eq(mx.query(self.c, sqls[2][0]), [(None, None, None)], "no document")
        finally:
            mx.query(self.c, "DROP FOREIGN TABLE agg_nulls")

    def test_14_sum_answers(self):
        """sums written 1.5e7 or 15000000.0 are read exactly; fractions, nulls and the bound"""
        state = {"metrics": None}

        def handler(method, path, query, headers, body):
            if not path.endswith("/documents/aggregate"):
                return None
            return 200, {}, ('{"results":[{"group":{"g0":"c"},"metrics":%s}],"total_groups":1}'
                             % state["metrics"])

        cases = [
            # (want: the same values aggregated by PostgreSQL)
            ('{"a1":1.5e7,"a1n":3,"a1l":0,"a1h":10000000}', [0, 5000000, 10000000], None),
            ('{"a1":15000000.0,"a1n":3,"a1l":-5,"a1h":10000000}', [-5, 5000005, 10000000], None),
            ('{"a1":9007199254740992,"a1n":2,"a1l":4503599627370496,"a1h":4503599627370496}',
             [4503599627370496, 4503599627370496], None),
            ('{"a1":0,"a1n":3,"a1l":null,"a1h":null}', [None, None, None], None),
            ('{"a1":15000000.5,"a1n":3,"a1l":0,"a1h":10000000}', None,
             ("HV00A", 'The aggregate answer\'s "a1" is not an integer.')),
            ('{"a1":7,"a1n":3,"a1l":0.5,"a1h":4}', None, ("HV00A", 'The aggregate answer\'s "a1l" is not an integer.')),
            ('{"a1":null,"a1n":3,"a1l":1,"a1h":4}', None,
             ("HV00A", 'The aggregate answer\'s "a1" is not a sum of numbers.')),
            ('{"a1":"7","a1n":3,"a1l":1,"a1h":4}', None,
             ("HV00A", 'The aggregate answer\'s "a1" is not a sum of numbers.')),
            ('{"a1":7,"a1l":1,"a1h":4}', None, ("HV00A", 'The aggregate answer has no valid "a1n".')),
            ('{"a1":7,"a1n":2.5,"a1l":1,"a1h":4}', None,
             ("HV00A", 'The aggregate answer\'s "a1n" is not an integer.')),
            ('{"a1":7,"a1n":3,"a1l":-4503599627370497,"a1h":4}', None, ("22003", None)),
            ('{"a1":1e400,"a1n":3,"a1l":1,"a1h":4}', None, ("22003", None)),
        ]
        with capture.CaptureServer(handler=handler) as cap:
            capture_table(self.c, cap, "mx_agg_sum", "agg_sum_cap (n bigint NOT NULL, f float8 NOT NULL)")
            try:
                for metrics, want, error in cases:
                    state["metrics"] = metrics
                    sql = "SELECT sum(n)::text, avg(n)::text FROM agg_sum_cap"
                    if error is None:
                        local = mx.query(self.c, "SELECT sum(n)::text, avg(n)::text FROM "
                                         "unnest(%s::bigint[]) n", (want,))
                        mx.check_eq(mx.query(self.c, sql), local, metrics)
                        continue
                    err = mx.run_error(self.c, sql)
                    mx.check_eq(err.sqlstate if err else None, error[0], metrics)
                    if error[1] is not None and err is not None:
                        mx.check_eq(err.detail, error[1], metrics + ": detail")
                body = cap.requests()[0]["json"]
                mx.check_eq(body["aggregations"],
                            [{"function": "sum", "alias": "a1", "field": "n"},
                             {"function": "count", "alias": "a1n"},
                             {"function": "min", "alias": "a1l", "field": "n"},
                             {"function": "max", "alias": "a1h", "field": "n"}],
                            "sum and avg of one column share one sum, count, min and max")
                # doubles: the API's sum as written, the average its sum / count
                state["metrics"] = '{"a1":0.30000000000000004,"a1n":3,"a1l":0.1,"a1h":0.1}'
                mx.check_eq(mx.query(self.c, "SELECT sum(f), avg(f) FROM agg_sum_cap"),
                            [(0.30000000000000004, 0.30000000000000004 / 3)], "sum and avg of doubles")
                state["metrics"] = '{"a1":0,"a1n":3,"a1l":null,"a1h":null}'
                mx.check_eq(mx.query(self.c, "SELECT sum(f), avg(f) FROM agg_sum_cap"),
                            [(None, None)], "no double")
            finally:
                mx.query(self.c, "DROP SERVER IF EXISTS mx_agg_sum CASCADE")

    def test_15_date_trunc(self):
        """date_trunc units sent in UTC equal local; week, quarter and other time zones stay local"""
        for unit, sent in [("year", True), ("MONTH", True), ("mon", True), ("day", True),
                           ("hours", True), ("minute", True), ("sec", True), ("week", False),
                           ("quarter", False), ("decade", False), ("milliseconds", False)]:
            sql = ("SELECT date_trunc('%s', published_at), count(*), sum(word_count), max(label) "
                   "FROM {t} WHERE word_count < 20 AND published GROUP BY 1 ORDER BY 1" % unit)
            got, want, nagg, nlist = self.run_pair(sql)
            mx.check_eq(texts(got), texts(want), sql)
            mx.check_eq(nagg, 1 if sent else 0, "aggregate requests of " + sql)
        for zone, sent in [("Etc/UTC", True), ("GMT", True), ("America/New_York", False),
                           ("Europe/London", False), ("Asia/Kolkata", False)]:
            mx.query(self.c, "SET TimeZone = %s", (zone,))
            sql = ("SELECT date_trunc('day', published_at), count(*) FROM {t} "
                   "WHERE word_count = 9 GROUP BY 1 ORDER BY 1")
            got, want, nagg, nlist = self.run_pair(sql)
            mx.check_eq(texts(got), texts(want), "%s: %s" % (zone, sql))
            mx.check_eq(nagg, 1 if sent else 0, "%s: aggregate requests" % zone)
        mx.query(self.c, "SET TimeZone = 'UTC'")

    def test_16_zone_changed(self):
        """a plan made in UTC run in another zone, or a cursor fetched after SET TimeZone: an ERROR"""
        mx.query(self.c, "PREPARE agg_days AS SELECT date_trunc('day', published_at), count(*) "
                         "FROM agg_big WHERE word_count = 9 GROUP BY 1 ORDER BY 1")
        try:
            first = mx.query(self.c, "EXECUTE agg_days")
            for zone in ("Europe/London", "America/New_York"):
                mx.query(self.c, "SET TimeZone = %s", (zone,))
                err = mx.run_error(self.c, "EXECUTE agg_days")
                mx.check_eq((err.sqlstate, err.message) if err else None,
                            ("55000", 'date_trunc was sent to Mixpeek to truncate in UTC, but the time zone '
                             'is now "%s"' % zone), zone)
                mx.check(err is not None and "mixpeek.aggregate_pushdown" in (err.hint or ""), "hint", err)
            mx.query(self.c, "SET TimeZone = 'UTC'")
            mx.check_eq(mx.query(self.c, "EXECUTE agg_days"), first, "back in UTC")
        finally:
            mx.query(self.c, "DEALLOCATE agg_days")
        c = mx.connect(autocommit=False, options="-c mixpeek.aggregate_pushdown=on -c TimeZone=UTC")
        mx.query(c, "DECLARE agg_tz CURSOR FOR SELECT date_trunc('month', published_at), count(*) "
                    "FROM agg_big WHERE category = 'tech' GROUP BY 1")
        mx.check_eq(len(mx.query(c, "FETCH 2 FROM agg_tz")), 2, "two groups fetched in UTC")
        mx.query(c, "SET TimeZone = 'America/New_York'")
        err = mx.run_error(c, "FETCH 1 FROM agg_tz")
        mx.check_eq(err.sqlstate if err else None, "55000", "a cursor fetched in another zone")
        c.rollback()
        c.close()


if __name__ == "__main__":
    mx.main('test_aggregates')
