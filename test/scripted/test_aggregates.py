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
  request carries the key of the role the scan runs as (a view's owner);
- standard columns with two locations (source_type, root_object_id: flat in
  even documents of col_big, nested in odd ones) are split in a request per
  location, and one more for a nullable group key's null group; a
  count(DISTINCT) of a nullable column is counted from its groups: random
  queries (differential), a flat key holding null, documents with neither
  location, a collection of one shape, both filter readings, faults on one
  of the requests, answers that disagree (TwoLocations).

The test clusters run with mixpeek.aggregate_pushdown off (test/lib.sh);
these sessions turn it on.
"""
import json
import os
import random
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402
import capture  # noqa: E402
import psycopg2  # noqa: E402

TABLE = """CREATE FOREIGN TABLE {name} (document_id text, collection_id text,
  category text NOT NULL, word_count int NOT NULL, published boolean NOT NULL,
  cluster_id text NOT NULL,
  label text OPTIONS (field 'taxonomy_topics_label') COLLATE "C" NOT NULL,
  author text OPTIONS (field 'metadata.author'), rating float8,
  created_at timestamptz,
  wc2 smallint OPTIONS (field 'word_count') NOT NULL, views bigint NOT NULL,
  huge bigint NOT NULL, score float8 OPTIONS (field 'rating') NOT NULL,
  published_at timestamptz NOT NULL, source_type text, root_object_id text,
  weight float8)
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


def session_with_server(server):
    """A superuser session with aggregate pushdown on and a new server."""
    c = mx.fdw_superuser()
    mx.query(c, "SET mixpeek.aggregate_pushdown = on")
    mx.query(c, "DROP SERVER IF EXISTS %s CASCADE" % server)
    mx.query(c, "CREATE SERVER %s FOREIGN DATA WRAPPER mixpeek_fdw" % server)
    return c


def one_group_answer(state):
    """A capture handler answering an aggregate with one group of state["metrics"] (JSON text)."""
    def handler(method, path, query, headers, body):
        if not path.endswith("/documents/aggregate"):
            return None
        return 200, {}, ('{"results":[{"group":{"g0":"c"},"metrics":%s}],"total_groups":1}'
                         % state["metrics"])
    return handler


class Aggregates(mx.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = session_with_server("mx_agg")
        # date_trunc is sent in UTC only; doubles add up in scan order only
        # without parallel workers
        mx.query(cls.c, "SET TimeZone = 'UTC'")
        mx.query(cls.c, "SET max_parallel_workers_per_gather = 0")
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
        # the local copy: a hash aggregate adds each group's doubles in scan
        # order, as the API does; a sort would not keep that order.  Not for
        # the foreign table: with enable_sort off, PostgreSQL before 18 adds
        # a huge cost to every plan with a Sort, and plans that differ by
        # less than 1% of it look equally cheap.  A query not sent is run
        # again without sorts, for doubles added in scan order.
        since = mx.mock_last_seq()
        got = mx.query(self.c, sql.format(t="agg_big"))
        agg, lists = aggregate_requests(since)
        mx.query(self.c, "SET enable_sort = off")
        try:
            if not agg:
                got = mx.query(self.c, sql.format(t="agg_big"))
            want = mx.query(self.c, sql.format(t="agg_local"))
        finally:
            mx.query(self.c, "RESET enable_sort")
        return got, want, len(agg), len(lists)

    def test_01_differential(self):
        """random groupings equal local aggregation, one request each"""
        rnd = random.Random(int(os.environ.get("MX_SEED", "20261130")))
        keys = ["category", "word_count", "published", "cluster_id", "label",
                "date_trunc('month', published_at)", "date_trunc('year', published_at)",
                # may be null: its null group in a second request
                "author"]
        aggs = ["count(*)", "count(word_count)", "count(DISTINCT category)",
                "count(DISTINCT word_count)", "min(word_count)", "max(word_count)",
                "min(label)", "max(label)", "count(DISTINCT label)",
                "count(*) * 2 + 1", "max(word_count) - min(word_count)",
                "coalesce(max(label), '-') || '/' || count(*)",
                "sum(word_count)", "avg(word_count)", "sum(wc2)", "avg(wc2)",
                "sum(views)", "avg(views)", "sum(views) - sum(word_count)",
                "sum(score)", "avg(score)", "sum(rating)", "avg(score) * count(*)",
                # nullable doubles: the number of values from the API's sum and avg
                "avg(rating)", "avg(weight)", "sum(weight)", "avg(weight) + avg(rating)"]
        wheres = ["", "category = 'tech'", "published", "word_count < 250", "word_count < 20",
                  "word_count >= 900 AND category IN ('news', 'science')",
                  "cluster_id = 'cl_3'", "NOT published"]
        for _ in range(40 if not mx.LONG else 200):
            k = rnd.sample(keys, rnd.randint(0, 2))
            a = rnd.sample(aggs, rnd.randint(0 if k else 1, 3))
            if "author" in k or any("score" in x or "rating" in x or "weight" in x for x in a):
                # (with a nullable key, a count(DISTINCT) is counted locally
                # from groups of its own, and must be the only aggregate)
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
            mx.check_eq((nagg, nlist), (2 if "author" in k else 1, 0), "requests of " + sql)

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

    def test_01c_two_locations(self):
        """random groupings over two-location columns and nullable count(DISTINCT) equal local ones"""
        rnd = random.Random(int(os.environ.get("MX_SEED", "20261130")) + 3)
        keys = ["category", "published", "label", "source_type", "date_trunc('day', created_at)",
                "date_trunc('Week', created_at)"]
        plain = ["count(*)", "min(word_count)", "max(label)", "count(word_count)",
                 "count(*) * 2 + 1", "sum(word_count)", "avg(wc2)", "sum(views) - count(*)",
                 "avg(score)", "sum(weight)"]
        distinct = ["count(DISTINCT root_object_id)", "count(DISTINCT source_type)",
                    "count(DISTINCT author)", "count(DISTINCT category)",
                    "count(DISTINCT root_object_id) + 1"]
        wheres = ["", "category = 'tech'", "published", "word_count < 250",
                  "word_count >= 990 AND category IN ('news', 'science')"]
        for _ in range(24 if not mx.LONG else 120):
            k = rnd.sample(keys, rnd.randint(0, 2))
            a = [rnd.choice(distinct)] if rnd.random() < 0.5 else rnd.sample(plain, rnd.randint(1, 2))
            w = rnd.choice(wheres)
            # sent, or checked on merged groups; never with a count(DISTINCT) counted locally
            having = rnd.choice(["", " HAVING count(*) > 100", " HAVING count(*) <> 2000"]) \
                if k and "DISTINCT" not in a[0] else ""
            sql = "SELECT %s FROM {t}%s%s%s ORDER BY %s" % (
                ", ".join(k + a), " WHERE " + w if w else "",
                " GROUP BY " + ", ".join(k) if k else "", having,
                ", ".join(str(i + 1) for i in range(len(k) + len(a))))
            if k and rnd.random() < 0.3:
                sql += " LIMIT 3"
            text = " ".join(k + a)
            split = {c for c in ("source_type", "root_object_id", "created_at") if c in text}
            # a split group key may be null: one more request for its null group
            nullable_key = any(c in " ".join(k) for c in split)
            pushed = len(split) < 2 and not ("source_type" in k and "DISTINCT source_type" in text)
            # week: PostgreSQL's ISO weeks; doubles: not added across answers
            pushed = pushed and "Week" not in text and not (split and ("score" in text or "weight" in text))
            want_agg = 0
            if pushed:
                want_agg = 1 if not split else 3 if nullable_key else 2
            got, want, nagg, nlist = self.run_pair(sql)
            mx.check_eq(texts(got), texts(want), sql)
            mx.check_eq((nagg, nlist == 0), (want_agg, pushed), "requests of " + sql)

    def test_01d_date_trunc_time_zone(self):
        """date_trunc groups only in a UTC session; a generic plan made in one refuses to run in another"""
        sql = ("SELECT date_trunc('month', created_at), count(*) FROM {t} WHERE word_count < 3 "
               "GROUP BY 1 ORDER BY 1")
        for zone, nagg in [("UTC", 3), ("Etc/UTC", 3), ("America/New_York", 0), ("Asia/Kolkata", 0)]:
            mx.query(self.c, "SET TimeZone = %s", (zone,))
            got, want, n, _ = self.run_pair(sql)
            mx.check_eq(got, want, "%s in %s" % (sql, zone))
            mx.check_eq(n, nagg, "aggregate requests in " + zone)
        mx.query(self.c, "SET TimeZone = 'UTC'")
        mx.query(self.c, "SET plan_cache_mode = force_generic_plan")
        mx.query(self.c, "PREPARE agg_month(int) AS SELECT date_trunc('month', created_at), count(*) "
                 "FROM agg_big WHERE word_count < $1 GROUP BY 1 ORDER BY 1")
        first = mx.query(self.c, "EXECUTE agg_month(3)")
        mx.check_eq(first, mx.query(self.c, "SELECT date_trunc('month', created_at), count(*) FROM agg_local "
                                    "WHERE word_count < 3 GROUP BY 1 ORDER BY 1"), "the generic plan in UTC")
        mx.query(self.c, "SET TimeZone = 'America/New_York'")
        mx.expect_error(self.c, "EXECUTE agg_month(3)", None, "55000",
                        'date_trunc was sent to Mixpeek to truncate in UTC, but the time zone is now '
                        '"America/New_York"$', "a UTC plan in another time zone")
        mx.query(self.c, "DEALLOCATE agg_month")
        mx.query(self.c, "RESET plan_cache_mode")
        mx.query(self.c, "SET TimeZone = 'UTC'")

    def test_01e_workload_reports(self):
        """the analyst's reports over col_big: a request per location (and the null group), equal to local"""
        mx.query(self.c, "SET TimeZone = 'UTC'")
        for sql, nagg, rows in [
                ("SELECT count(DISTINCT root_object_id) FROM {t}", 2, 1),
                ("SELECT date_trunc('day', created_at) AS day, count(*) FROM {t} GROUP BY 1 ORDER BY 1", 3, 43),
                # as the workload's count and avg by an imported (nullable)
                # category: the null group in a request of its own, the
                # number of ratings from the API's sum and avg
                ("SELECT author, count(*), avg(rating) FROM {t} GROUP BY 1 ORDER BY 1", 2, 97)]:
            got, want, n, nlist = self.run_pair(sql)
            mx.check_eq(got, want, sql)
            mx.check_eq((len(got), n, nlist), (rows, nagg, 0), "rows and requests of " + sql)

    def test_02_not_pushed(self):
        """what is not exact falls back to a scan, with the same rows"""
        for sql in [# a nullable key and a column with two locations
                    "SELECT author, source_type, count(*) FROM {t} WHERE word_count = 5 GROUP BY 1, 2 ORDER BY 1",
                    "SELECT created_at::date, count(*) FROM {t} WHERE word_count = 5 GROUP BY 1 ORDER BY 1",
                    # doubles are not added across the answers of a split
                    "SELECT source_type, avg(rating) FROM {t} WHERE word_count = 5 GROUP BY 1 ORDER BY 1",
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

    def test_09b_answer_spellings(self):
        """an answer in any JSON spelling gives the same rows (read in one pass or parsed whole); broken ones are errors"""
        state = {"answer": None}

        def handler(method, path, query, headers, body):
            if not path.endswith("/documents/aggregate"):
                return None
            return 200, {}, state["answer"]

        good = [
            ("compact", '{"results":[{"group":{"g1":"news"},"metrics":{"a1":2}},'
                        '{"group":{"g1":"tech"},"metrics":{"a1":3}}],"total_groups":2}'),
            ("white space everywhere", ' \r\n{ "results" : [ {\t"group" : { "g1" : "news" } , "metrics" : '
                                       '{ "a1" : 2 } } ,\n{ "metrics":{"a1":3},"group":{"g1":"tech"}} ] ,'
                                       ' "total_groups" : 2 }\n'),
            ("total_groups and query_info first", '{"total_groups":2,"query_info":{"stages":[1,{"a":null}],'
                                                  '"ms":3.5e1},"results":[{"group":{"g1":"news"},"metrics":'
                                                  '{"a1":2}},{"group":{"g1":"tech"},"metrics":{"a1":3}}]}'),
            ("escapes in strings and keys", '{"results":[{"group":{"g\\u0031":"n\\u0065ws"},"metrics":'
                                            '{"a1":2}},{"group":{"g1":"te\\u0063h"},"metrics":{"a\\u0031":3}}],'
                                            '"total_groups":2}'),
            ("numbers with exponents", '{"results":[{"group":{"g1":"news"},"metrics":{"a1":2e0}},'
                                       '{"group":{"g1":"tech"},"metrics":{"a1":0.03E+2}}],'
                                       '"total_groups":2E0}'),
            ("a key twice: the last one counts", '{"results":[{"group":{"g1":"old","g1":"news"},"metrics":'
                                                 '{"a1":9,"a1":2}},{"group":{"g1":"tech"},"metrics":{"a1":3}}],'
                                                 '"total_groups":5,"total_groups":2}'),
            ("a result with another member", '{"results":[{"group":{"g1":"news"},"metrics":{"a1":2},'
                                             '"extra":[1,{"x":"y"}]},{"group":{"g1":"tech"},"metrics":'
                                             '{"a1":3}}],"total_groups":2}'),
            ("other members in groups and metrics", '{"results":[{"group":{"g1":"news","g9":{"deep":[1]}},'
                                                    '"metrics":{"a1":2,"a9":[null]}},{"group":{"g1":"tech"},'
                                                    '"metrics":{"a1":3,"a8":true,"a7":false}}],"total_groups":2}'),
        ]
        broken = [
            ("text after the object", '{"results":[],"total_groups":0} x'),
            ("a member of query_info cut short", '{"results":[],"total_groups":0,"query_info":{"a":[1,2}}'),
            ("a control character in a string", '{"results":[{"group":{"g1":"ne\x01ws"},"metrics":{"a1":2}}],'
                                                '"total_groups":1}'),
            ("a number JSON does not have", '{"results":[{"group":{"g1":"news"},"metrics":{"a1":02}}],'
                                            '"total_groups":1}'),
            ("an unterminated string", '{"results":[{"group":{"g1":"news}'),
            ("not valid UTF-8", b'{"results":[{"group":{"g1":"n\xffws"},"metrics":{"a1":2}}],"total_groups":1}'),
            ("a NUL byte", b'{"results":[{"group":{"g1":"n\x00ws"},"metrics":{"a1":2}}],"total_groups":1}'),
            ("results twice", '{"results":[],"results":[{"group":{"g1":"news"},"metrics":{"a1":2}}],'
                              '"total_groups":0}'),
            ("a result that is an array", '{"results":[[1]],"total_groups":1}',
             "An aggregate result is not an object."),
            ("a group that is an array", '{"results":[{"group":[],"metrics":{"a1":2}}],"total_groups":1}',
             'The aggregate answer has no valid "group".'),
            ("metrics that are an array", '{"results":[{"group":{"g1":"news"},"metrics":[2]}],"total_groups":1}',
             'The aggregate answer has no valid "metrics".'),
        ]
        # an exponent of 4 digits is past the one-pass read: parsed whole, as any number
        odd = [("a count of 1e1000", '{"results":[{"group":{"g1":"news"},"metrics":{"a1":1e1000}}],'
                                     '"total_groups":1}')]
        sql = "SELECT category, count(*) FROM agg_cap GROUP BY 1 ORDER BY 1"

        def outcome(answer):
            state["answer"] = answer
            try:
                return mx.query(self.c, sql)
            except psycopg2.Error as e:
                return (e.pgcode, e.diag.message_primary, e.diag.message_detail)

        def whole(answer):
            """The same answer with an escape in a member of its own, which the
            one-pass read leaves to the whole parse."""
            lead = b'{"zz":"\\u0041",' if isinstance(answer, bytes) else '{"zz":"\\u0041",'
            at = answer.index(lead[:1])
            return answer[:at] + lead + answer[at + 1:]
        with capture.CaptureServer(handler=handler) as cap:
            capture_table(self.c, cap, "mx_agg_cap", "agg_cap (category text NOT NULL)")
            try:
                for what, answer in good:
                    mx.check_eq(outcome(answer), [("news", 2), ("tech", 3)], what)
                for what, answer, *detail in broken:
                    state["answer"] = answer
                    err = mx.run_error(self.c, sql)
                    mx.check_eq(err.sqlstate if err else None, "HV00A", what)
                    mx.check(err is not None and "documents/aggregate" in (err.context or ""),
                             what + ": the request in the context", err)
                    if detail and err is not None:
                        mx.check_eq(err.detail, detail[0], what + ": detail")
                for what, answer, message in (
                        ("a group value that is an object",
                         '{"results":[{"group":{"g1":{"a":1}},"metrics":{"a1":2}}],"total_groups":1}',
                         'aggregate value of column "category" is not a JSON scalar'),
                        ("a count that is an array",
                         '{"results":[{"group":{"g1":"news"},"metrics":{"a1":[2]}}],"total_groups":1}',
                         'aggregate value of column "count" is not a JSON scalar')):
                    mx.check_eq(outcome(answer), ("HV004", message, None), what)
                    mx.check_eq(outcome(whole(answer)), ("HV004", message, None), what + ": read whole")
                # either way of reading: the same rows, or the same error
                for what, answer, *_ in good + broken + odd:
                    mx.check_eq(outcome(answer), outcome(whole(answer)), what + ": read whole, the same")
                mx.check_eq(mx.scalar(self.c, "SELECT 1"), 1, "the session is alive")
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
        handler = one_group_answer(state)

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

    def test_14b_avg_of_values(self):
        """avg of a nullable double: the number of values is rint(sum / avg) of the API's answer"""
        state = {"metrics": None}
        handler = one_group_answer(state)

        bad = 'The aggregate answer\'s "a1v" is not the average of "a1" over a whole number of values.'
        cases = [
            # 3 values of 5 documents
            ('{"a1":7.5,"a1n":5,"a1l":1.5,"a1h":3,"a1v":2.5}', [(2.5, 7.5)]),
            ('{"a1":0.30000000000000004,"a1n":9,"a1l":0.1,"a1h":0.1,"a1v":0.10000000000000002}',
             [(0.30000000000000004 / 3, 0.30000000000000004)]),
            # no value: null, though the API's sum of none is 0
            ('{"a1":0,"a1n":4,"a1l":null,"a1h":null,"a1v":null}', [(None, None)]),
            # values adding up to 0: 0 whatever their number
            ('{"a1":0,"a1n":4,"a1l":-1,"a1h":1,"a1v":0}', [(0.0, 0.0)]),
            ('{"a1":7.5,"a1n":5,"a1l":1.5,"a1h":3,"a1v":2.4}', ("HV00A", bad)),
            ('{"a1":7.5,"a1n":5,"a1l":1.5,"a1h":3,"a1v":0.01}', ("HV00A", bad)),
            ('{"a1":7.5,"a1n":5,"a1l":1.5,"a1h":3,"a1v":0}', ("HV00A", bad)),
            ('{"a1":0,"a1n":5,"a1l":1.5,"a1h":3,"a1v":2}', ("HV00A", bad)),
            ('{"a1":7.5,"a1n":5,"a1l":1.5,"a1h":3,"a1v":null}',
             ("HV00A", 'The aggregate answer\'s "a1" is not a sum of numbers.')),
            ('{"a1":7.5,"a1n":5,"a1l":1.5,"a1h":3}', ("HV00A", 'The aggregate answer has no valid "a1v".')),
            # beyond 2^40 documents rint(sum / avg) is no longer trusted
            ('{"a1":7.5,"a1n":1099511627777,"a1l":1.5,"a1h":3,"a1v":2.5}',
             ("22003", "A group of 1099511627777 documents has values missing in some; their number is found "
                       "from Mixpeek's sum and average only up to 1099511627776 documents.")),
        ]
        with capture.CaptureServer(handler=handler) as cap:
            capture_table(self.c, cap, "mx_agg_avg", "agg_avg_cap (f float8)")
            try:
                for metrics, want in cases:
                    state["metrics"] = metrics
                    sql = "SELECT avg(f), sum(f) FROM agg_avg_cap"
                    if isinstance(want, list):
                        mx.check_eq(mx.query(self.c, sql), want, metrics)
                        continue
                    err = mx.run_error(self.c, sql)
                    mx.check_eq((err.sqlstate, err.detail) if err else None, want, metrics)
                mx.check_eq(cap.requests()[0]["json"]["aggregations"],
                            [{"function": "sum", "alias": "a1", "field": "f"},
                             {"function": "count", "alias": "a1n"},
                             {"function": "min", "alias": "a1l", "field": "f"},
                             {"function": "max", "alias": "a1h", "field": "f"},
                             {"function": "avg", "alias": "a1v", "field": "f"}],
                            "the API's avg asked for with the sum")
            finally:
                mx.query(self.c, "DROP SERVER IF EXISTS mx_agg_avg CASCADE")

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


def api(method, path, body):
    """A request to the mock's /v1 API, as a client of Mixpeek would send it."""
    req = urllib.request.Request(mx.MOCK_URL + path, data=json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Bearer sk_test_alpha",
                                          "X-Namespace": "default"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


# (created with, then patched at the root with): lineage fields given at
# creation go under _internal.lineage, patched ones stay at the root.
SCRATCH_DOCS = [
    ({"grp": "x", "n": 1, "source_object_id": "a", "root_object_id": "o1"}, None),
    ({"grp": "x", "n": 2, "source_object_id": "b", "root_object_id": "o2"}, None),
    # a flat key holding null: the scan reads the nested value
    ({"grp": "y", "n": 3, "source_object_id": "a", "root_object_id": "o1"},
     {"source_object_id": None, "root_object_id": None}),
    # both locations: the flat one wins
    ({"grp": "y", "n": 4, "source_object_id": "b", "root_object_id": "o4"},
     {"source_object_id": "c", "root_object_id": "o5"}),
    # neither location, once missing and once a flat null
    ({"grp": "x", "n": 5}, None),
    ({"grp": "y", "n": 6}, {"source_object_id": None, "root_object_id": None}),
    # only the flat location
    ({"grp": "x", "n": 7}, {"source_object_id": "a", "root_object_id": "o2"}),
    ({"grp": "y", "n": 8, "source_object_id": "c", "root_object_id": "o8"}, None),
]

SCRATCH_TABLE = """CREATE FOREIGN TABLE {name} (document_id text, grp text NOT NULL,
  n int NOT NULL, source_object_id text, root_object_id text)
  SERVER mx_split OPTIONS (collection '{collection}')"""

# queries over the scratch documents: their rows as a scan reads them, and
# the aggregate requests they make
SCRATCH_QUERIES = [
    ("SELECT source_object_id, count(*), max(n) FROM {t} GROUP BY 1 ORDER BY 1 NULLS FIRST",
     [(None, 2, 6), ("a", 3, 7), ("b", 1, 2), ("c", 2, 8)], 3),
    ("SELECT count(DISTINCT root_object_id) FROM {t}", [(4,)], 2),
    ("SELECT count(DISTINCT source_object_id) FROM {t}", [(3,)], 2),
    ("SELECT grp, count(DISTINCT root_object_id) FROM {t} GROUP BY 1 ORDER BY 1",
     [("x", 2), ("y", 3)], 2),
    ("SELECT grp, source_object_id, count(*), min(n) FROM {t} GROUP BY 1, 2 ORDER BY 1, 2",
     [("x", "a", 2, 1), ("x", "b", 1, 2), ("x", None, 1, 5), ("y", "a", 1, 3), ("y", "c", 2, 4),
      ("y", None, 1, 6)], 3),
    ("SELECT source_object_id, count(DISTINCT grp) FROM {t} WHERE n > 1 GROUP BY 1 ORDER BY 1",
     [("a", 2), ("b", 1), ("c", 1), (None, 2)], 3),
    ("SELECT source_object_id, count(*) FROM {t} WHERE grp = 'nothing' GROUP BY 1", [], 3),
    ("SELECT count(DISTINCT root_object_id) FROM {t} WHERE grp = 'nothing'", [(0,)], 2),
    # HAVING: checked on the merged groups, not sent
    ("SELECT source_object_id, count(*) FROM {t} GROUP BY 1 HAVING count(*) > 1 ORDER BY 1",
     [("a", 3), ("c", 2), (None, 2)], 3),
    ("SELECT source_object_id FROM {t} GROUP BY 1 HAVING max(n) > 6 AND min(n) < 3 ORDER BY 1",
     [("a",)], 3),
    ("SELECT grp, count(DISTINCT root_object_id) FROM {t} GROUP BY 1 "
     "HAVING count(DISTINCT root_object_id) > 2 ORDER BY 1", [("y", 3)], 2),
    # integer sums and averages: each answer's parts added
    ("SELECT source_object_id, sum(n), avg(n)::text, count(*) FROM {t} GROUP BY 1 ORDER BY 1 NULLS FIRST",
     [(None, 11, "5.5000000000000000", 2), ("a", 11, "3.6666666666666667", 3),
      ("b", 2, "2.0000000000000000", 1), ("c", 12, "6.0000000000000000", 2)], 3),
    ("SELECT source_object_id, sum(n) FROM {t} GROUP BY 1 HAVING sum(n) > 11 ORDER BY 1", [("c", 12)], 3),
]


class TwoLocations(mx.TestCase):
    """standard columns with two locations, and count(DISTINCT) of nullable columns"""

    @classmethod
    def setUpClass(cls):
        cls.c = session_with_server("mx_split")
        tag = "%d" % random.randrange(10 ** 9)
        cls.mixed = "scratch-twoloc-" + tag
        cls.nested = "scratch-twoloc-nested-" + tag
        for doc, patch in SCRATCH_DOCS:
            made = api("POST", "/v1/collections/%s/documents" % cls.mixed,
                       dict(doc, collection_id=cls.mixed))
            if patch is not None:
                api("PATCH", "/v1/collections/%s/documents/%s" % (cls.mixed, made["document_id"]), patch)
            api("POST", "/v1/collections/%s/documents" % cls.nested, dict(doc, collection_id=cls.nested))
        mx.query(cls.c, SCRATCH_TABLE.format(name="split_mixed", collection=cls.mixed))
        mx.query(cls.c, SCRATCH_TABLE.format(name="split_nested", collection=cls.nested))
        for name, collection in [("split_flaky", "faultpage-2-flaky-500-1-split"),
                                 ("split_down", "faultpage-2-status-500"),
                                 ("split_stall", "faultpage-2-stall-3000"),
                                 ("split_articles", "col_articles")]:
            mx.query(cls.c, "CREATE FOREIGN TABLE %s (document_id text, category text, "
                     "root_object_id text, source_object_id text) SERVER mx_split "
                     "OPTIONS (collection '%s')" % (name, collection))

    @classmethod
    def tearDownClass(cls):
        mx.query(cls.c, "DROP SERVER IF EXISTS mx_split CASCADE")
        mx.mock_config(semantics="strict")

    def rows_and_requests(self, sql):
        since = mx.mock_last_seq()
        got = mx.query(self.c, sql)
        agg, lists = aggregate_requests(since)
        return got, agg, lists

    def without_pushdown(self, sql):
        mx.query(self.c, "SET mixpeek.pushdown = off")
        try:
            return mx.query(self.c, sql)
        finally:
            mx.query(self.c, "RESET mixpeek.pushdown")

    def test_01_mixed_shapes(self):
        """a flat key holding null, both locations, neither: the rows a scan reads, in 2 or 3 requests"""
        for semantics in ("strict", "lenient"):
            mx.mock_config(semantics=semantics)
            for sql, rows, nreq in SCRATCH_QUERIES:
                q = sql.format(t="split_mixed")
                got, agg, lists = self.rows_and_requests(q)
                mx.check_eq(got, rows, "%s (%s)" % (q, semantics))
                mx.check_eq((len(agg), len(lists)), (nreq, 0), "requests of %s (%s)" % (q, semantics))
                mx.check_eq(self.without_pushdown(q), rows, "%s without pushdown (%s)" % (q, semantics))
        mx.mock_config(semantics="strict")

    def test_02_one_shape(self):
        """a collection of nested documents only: the same requests, the same rows"""
        for sql, _, nreq in SCRATCH_QUERIES:
            q = sql.format(t="split_nested")
            got, agg, lists = self.rows_and_requests(q)
            mx.check_eq(got, self.without_pushdown(q), q)
            mx.check_eq((len(agg), len(lists)), (nreq, 0), "requests of " + q)
        mx.check_eq(mx.query(self.c, "SELECT source_object_id, count(*) FROM split_nested GROUP BY 1 ORDER BY 1"),
                    [("a", 2), ("b", 2), ("c", 1), (None, 3)], "nested only: exact rows")

    def test_03_partition_bodies(self):
        """the requests partition the documents by the flat field, with the user's filters"""
        _, agg, _ = self.rows_and_requests(
            "SELECT source_object_id, count(*) FROM split_mixed WHERE grp = 'x' GROUP BY 1")
        flat = {"AND": [{"field": "source_object_id", "operator": "exists", "value": True},
                        {"NOT": [{"field": "source_object_id", "operator": "is_null", "value": True}]}]}
        nested = {"AND": [{"field": "_internal.lineage.source_object_id", "operator": "exists", "value": True},
                          {"NOT": [{"field": "_internal.lineage.source_object_id", "operator": "is_null",
                                    "value": True}]}]}
        user = {"AND": [{"field": "grp", "operator": "eq", "value": "x"}], "case_sensitive": True}
        bodies = sorted((json.dumps(r["body"], sort_keys=True) for r in agg))
        want = sorted(json.dumps(b, sort_keys=True) for b in [
            {"group_by": [{"field": "source_object_id", "alias": "g1"}],
             "aggregations": [{"function": "count", "alias": "a1"}],
             "filters": {"AND": [user, flat]}},
            {"group_by": [{"field": "_internal.lineage.source_object_id", "alias": "g1"}],
             "aggregations": [{"function": "count", "alias": "a1"}],
             "filters": {"AND": [user, {"AND": [{"NOT": [flat]}, nested]}]}},
            {"group_by": [{"field": "collection_id", "alias": "g0"}],
             "aggregations": [{"function": "count", "alias": "a1"}],
             "filters": {"AND": [user, {"NOT": [flat, nested]}]}}])
        mx.check_eq(bodies, want, "the three request bodies")
        mx.check_eq([r["identity"] for r in agg], ["alpha"] * 3, "every request carries the key")

    def test_04_not_sent(self):
        """two two-location columns, an aggregate of a nullable split key, HAVING without GROUP BY: a scan"""
        for sql in ["SELECT source_object_id, count(DISTINCT root_object_id) FROM {t} GROUP BY 1 ORDER BY 1",
                    "SELECT count(DISTINCT root_object_id) FROM {t} HAVING count(DISTINCT root_object_id) > 1",
                    "SELECT grp, count(DISTINCT root_object_id) FROM {t} GROUP BY 1 HAVING count(*) > 1",
                    "SELECT source_object_id, count(DISTINCT source_object_id) FROM {t} GROUP BY 1 ORDER BY 1",
                    "SELECT count(DISTINCT root_object_id), count(*) FROM {t}",
                    "SELECT max(root_object_id) FROM {t}"]:
            q = sql.format(t="split_mixed")
            got, agg, lists = self.rows_and_requests(q)
            mx.check_eq(got, self.without_pushdown(q), q)
            mx.check_eq(len(agg), 0, "no aggregate request for " + q)

    def test_04b_correlated(self):
        """a correlated subquery and LATERAL: the split requests again for each outer row"""
        for sql, rows in [
                ("SELECT t.g, (SELECT count(DISTINCT root_object_id) FROM split_mixed b WHERE b.grp = t.g) "
                 "FROM (VALUES ('x'), ('y'), ('z')) t(g) ORDER BY 1", [("x", 2), ("y", 3), ("z", 0)]),
                ("SELECT t.g, l.* FROM (VALUES ('x'), ('z')) t(g), LATERAL (SELECT source_object_id, count(*) "
                 "FROM split_mixed b WHERE b.grp = t.g GROUP BY 1) l ORDER BY 1, 2 NULLS FIRST",
                 [("x", None, 1), ("x", "a", 2), ("x", "b", 1)])]:
            got, agg, lists = self.rows_and_requests(sql)
            mx.check_eq(got, rows, sql)
            mx.check_eq(got, self.without_pushdown(sql), sql + " without pushdown")
            mx.check_eq((len(agg), len(lists)), (6, 0), "requests of " + sql)

    def test_05_faults(self):
        """the nested request fails once: retried; for good: an ERROR, never the flat groups alone"""
        q = "SELECT count(DISTINCT root_object_id), count(DISTINCT root_object_id) + 1 FROM {t}"
        want = mx.query(self.c, q.format(t="split_articles"))
        mx.check_eq(want, [(16, 17)], "col_articles: distinct root objects")
        mx.check_eq(self.without_pushdown(q.format(t="split_articles")), want, "the same without pushdown")
        since = mx.mock_last_seq()
        mx.check_eq(mx.query(self.c, q.format(t="split_flaky")), want, "after a retried 500")
        agg, _ = aggregate_requests(since)
        mx.check_eq(sorted(r["status"] for r in agg), [200, 200, 500], "the 500 retried")
        since = mx.mock_last_seq()
        err = mx.run_error(self.c, q.format(t="split_down"))
        agg, _ = aggregate_requests(since)
        mx.check(err is not None and "documents/aggregate" in err.all_text(), "an ERROR naming the request", err)
        mx.check(err is not None and err.sqlstate.startswith("HV"), "an FDW error", err)
        mx.check(200 in [r["status"] for r in agg] and 500 in [r["status"] for r in agg],
                 "the flat request answered, the nested one failed", [r["status"] for r in agg])
        mx.check_no_keys(err.all_text() if err else "", "the error")
        mx.query(self.c, "SET statement_timeout = '300ms'")
        err = mx.run_error(self.c, q.format(t="split_stall"))
        mx.query(self.c, "RESET statement_timeout")
        mx.check_eq(err.sqlstate if err else None, "57014", "statement_timeout while the nested request stalls")
        mx.check_eq(mx.query(self.c, q.format(t="split_articles")), want, "the session goes on")

    def test_06_explain(self):
        """EXPLAIN VERBOSE shows every request's body and the local merge; ANALYZE counts the requests"""
        rows = mx.query(self.c, "EXPLAIN (VERBOSE, COSTS OFF) SELECT count(DISTINCT root_object_id) "
                        "FROM split_mixed")
        text = "\n".join(r[0] for r in rows)
        mx.check('Remote Body: {"group_by":[{"field":"root_object_id","alias":"d1"}]' in text, "body 1", text)
        mx.check('Remote Body 2: {"group_by":[{"field":"_internal.lineage.root_object_id","alias":"d1"}]'
                 in text, "body 2", text)
        mx.check("Remote Body 3" not in text, "no third request without a group key", text)
        mx.check("Local Merge: the groups of every answer by key" in text, "merge", text)
        rows = mx.query(self.c, "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
                        "SELECT source_object_id, count(*) FROM split_mixed GROUP BY 1")
        text = "\n".join(r[0] for r in rows)
        mx.check("Remote Requests: 3" in text, "three requests", text)

    def test_07_answers_disagree(self):
        """answers that do not add up are an ERROR naming a request; keys equal as values make one group"""
        def handler(method, path, query, headers, body):
            if not path.endswith("/documents/aggregate"):
                return None
            asked = json.loads(body)
            nested = "_internal" in json.dumps([asked["group_by"], asked["aggregations"]])
            if state["case"] == "days":
                day = "2024-01-01T00:00:00.000Z" if nested else "2024-01-01T00:00:00Z"
                return 200, {}, {"results": [{"group": {"g1": day}, "metrics": {"a1": 2 if nested else 3}},
                                             {"group": {"g1": "2024-01-0%dT00:00:00Z" % (3 if nested else 2)},
                                              "metrics": {"a1": 1}}],
                                 "total_groups": 2}
            if state["case"] == "twice":
                # a null key in the answer with the field too (a lenient is_null)
                return 200, {}, {"results": [{"group": {"g1": None, "g0": "c"}, "metrics": {
                    "a1": 1.5, "a1n": 1, "a1l": 1.5, "a1h": 1.5, "a1v": 1.5}}], "total_groups": 1}
            if state["case"] in ("sums", "bigsums"):
                # each answer within the 2^53 bound; with "bigsums" not their total
                most = 2 ** 52 if state["case"] == "bigsums" else 5
                return 200, {}, {"results": [{"group": {"g1": "k"}, "metrics": {
                    "a1": most + most // 2, "a1n": 2, "a1l": most // 2, "a1h": most}}], "total_groups": 1}
            if state["case"] == "types":
                v = 3 if nested else "x"
                return 200, {}, {"results": [{"group": {"g1": "k"}, "metrics": {"a1": v}}], "total_groups": 1}
            if state["case"] == "short" and nested:
                return 200, {}, {"results": [], "total_groups": 1}
            return 200, {}, {"results": [{"group": {"g1": "k"}, "metrics": {"a1": "x"}}], "total_groups": 1}

        state = {"case": None}
        with capture.CaptureServer(handler=handler) as cap:
            mx.query(self.c, "CREATE SERVER mx_split_cap FOREIGN DATA WRAPPER mixpeek_fdw "
                             "OPTIONS (base_url %s, namespace 'default')", (cap.url,))
            mx.query(self.c, "CREATE USER MAPPING FOR CURRENT_USER SERVER mx_split_cap "
                             "OPTIONS (api_key 'sk_test_alpha')")
            mx.query(self.c, "CREATE FOREIGN TABLE split_cap (category text NOT NULL, "
                             "source_type text COLLATE \"C\" NOT NULL, created_at timestamptz NOT NULL, "
                             "v bigint NOT NULL) "
                             "SERVER mx_split_cap OPTIONS (collection 'c')")
            try:
                sql = "SELECT category, max(source_type) FROM split_cap GROUP BY 1"
                state["case"] = "ok"
                mx.check_eq(mx.query(self.c, sql), [("k", "x")], "two answers of one group merge")
                mx.check_eq(len(cap.requests()), 2, "two requests")
                state["case"] = "sums"
                sums = "SELECT source_type, sum(v), avg(v)::text FROM split_cap GROUP BY 1"
                mx.check_eq(mx.query(self.c, sums), [("k", 14, "3.5000000000000000")],
                            "integer sums of two answers added")
                state["case"] = "bigsums"
                err = mx.run_error(self.c, sums)
                mx.check_eq((err.sqlstate, err.message) if err else None,
                            ("22003", 'sum of column "v" is too large for Mixpeek to add exactly'),
                            "the 2^53 bound on the merged total")
                mx.check(err is not None and "A group of 4 documents" in (err.detail or ""), "detail", err)
                state["case"] = "twice"
                mx.query(self.c, "CREATE FOREIGN TABLE split_cap_null (category text, f float8) "
                                 "SERVER mx_split_cap OPTIONS (collection 'c')")
                before = len(cap.requests())
                err = mx.run_error(self.c, "SELECT category, avg(f) FROM split_cap_null GROUP BY 1")
                mx.check_eq((err.sqlstate, err.detail) if err else None,
                            ("HV00A", "The aggregate answers hold one group twice."),
                            "doubles of one group in both answers of a nullable key")
                mx.check_eq(len(cap.requests()) - before, 2, "a nullable key: two requests")
                state["case"] = "types"
                err = mx.run_error(self.c, sql)
                mx.check_eq((err.sqlstate, err.detail) if err else None,
                            ("HV00A", "The aggregate answers mix value types in one group."), "mixed types")
                state["case"] = "short"
                err = mx.run_error(self.c, sql)
                mx.check_eq((err.sqlstate, err.detail) if err else None,
                            ("HV00A", "The aggregate answer does not hold every group it counts."),
                            "one answer short of its groups")
                state["case"] = "days"
                mx.query(self.c, "SET TimeZone = 'UTC'")
                rows = mx.query(self.c, "SELECT date_trunc('day', created_at), count(*) FROM split_cap "
                                "GROUP BY 1 ORDER BY 1")
                mx.check_eq([(d.isoformat(), n) for d, n in rows],
                            [("2024-01-01T00:00:00+00:00", 5), ("2024-01-02T00:00:00+00:00", 1),
                             ("2024-01-03T00:00:00+00:00", 1)], "one day written two ways is one group")
                mx.query(self.c, "RESET TimeZone")
            finally:
                mx.query(self.c, "DROP SERVER IF EXISTS mx_split_cap CASCADE")


if __name__ == "__main__":
    mx.main('test_aggregates')
