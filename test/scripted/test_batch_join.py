"""Batched joins on the document id (Custom Scan MixpeekBatchJoin): a local
table of ids joined with col_big (100,000 documents) sends the ids of up to
mixpeek.max_concurrency * 1,000 outer rows at once, 1,000 ids a list
request, instead of a GET per row or a scan of the whole collection.

Every query is compared with the rows PostgreSQL gives for it over a local
copy of col_big made with mixpeek.pushdown = off (some also with the
foreign table itself and mixpeek.batch_join and mixpeek.pushdown off), and
its requests are counted on the mock's request log: the exact number of
list requests (a single id is one GET), each "document_id in" list at most
1,000 ids, every distinct id once.

- 1, 5, 999, 1,000, 1,001 and 2,500 local ids: 1 GET, then 1, 1, 1, 2, 3
  list requests; with max_concurrency 1, 2,500 ids are 3 batches;
- duplicates, NULLs, empty strings, ids not in the collection, varchar ids
  and ids computed by an expression; a further join clause; a WHERE on the
  foreign side that can be sent and one that cannot;
- EXISTS (a semi-join: 500 ids, 1 request), NOT EXISTS (an anti-join, 1
  request too), LEFT JOIN (NULLs for ids without a document, a clause of the
  ON on either side, a WHERE over the join), the foreign table on the
  outer side (not batched), mixpeek.batch_join = off;
- a prepared statement's generic plan executed 6 times, a cursor fetched
  in parts (a SCROLL cursor too), the join under an Aggregate, a Sort, a
  LATERAL subquery and a correlated subquery (rescanned with a new
  parameter), two batched joins stacked, EXPLAIN VERBOSE and ANALYZE;
- statement_timeout with a batch in flight (57014, the session goes on),
  parallel query forced (the join stays in the leader), a savepoint rolled
  back under a cursor between batches;
- faults, against a capture listener: a batch's request answered 500 once
  (retried, every row) and always (an ERROR, never a short result), a
  missing collection (an ERROR).
"""
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402
from capture import CaptureServer, envelope  # noqa: E402

import psycopg2  # noqa: E402

su = None

BIG = "/v1/collections/col_big/documents"


def doc(i):
    return "doc_%06d" % i


def spread(n, start=0):
    """n distinct ids of col_big spread over the collection."""
    return [doc((start + i * 37) % 100000) for i in range(n)]


def load_ids(conn, rows):
    """bj.ids(id text, n int) holds exactly rows, in that order."""
    mx.query(conn, "TRUNCATE bj.ids")
    mx.query(conn, "INSERT INTO bj.ids SELECT * FROM unnest(%s::text[], %s::int[])",
             ([r[0] for r in rows], [r[1] for r in rows]))
    mx.query(conn, "ANALYZE bj.ids")


def rows_of(conn, sql, params=None, ordered=False):
    rows = mx.query(conn, sql, params)
    return rows if ordered else sorted(rows, key=repr)


def reference(conn, sql, params=None, ordered=False):
    """The rows over the local copy of col_big."""
    return rows_of(conn, sql.replace("bj.big ", "bj.big_local "), params, ordered)


def unbatched(conn, sql, params=None, ordered=False):
    """The rows with the foreign table, nothing batched and nothing sent."""
    mx.query(conn, "SET mixpeek.batch_join = off")
    mx.query(conn, "SET mixpeek.pushdown = off")
    try:
        return rows_of(conn, sql, params, ordered)
    finally:
        mx.query(conn, "RESET mixpeek.batch_join")
        mx.query(conn, "RESET mixpeek.pushdown")


def plan(conn, sql, params=None, options="COSTS OFF"):
    return "\n".join(r[0] for r in mx.query(conn, "EXPLAIN (%s) %s" % (options, sql), params))


def big_requests(since):
    return [r for r in mx.mock_requests(since=since) if r["path"].startswith(BIG)]


def id_lists(reqs):
    out = []
    for r in reqs:
        if r["method"] == "POST":
            cond = r["body"]["filters"]["AND"][0]
            assert cond["field"] == "document_id" and cond["operator"] == "in", r["body"]
            out.append(cond["value"])
    return out


def sent_with_ids(reqs):
    """The conditions each list request sent besides its ids."""
    return [r["body"]["filters"]["AND"][1:] for r in reqs if r["method"] == "POST"]


def gets(reqs):
    return [r["path"][len(BIG) + 1:] for r in reqs if r["method"] == "GET"]


def distinct_ids(ids):
    return sorted(set(i for i in ids if i))


def check_requests(reqs, ids, want_lists, what, also=()):
    """want_lists list requests (0: one GET for a single id, or none) that
    ask for every distinct id of ids once, at most 1,000 each, and send the
    conditions also with them."""
    ls = id_lists(reqs)
    want = distinct_ids(ids)
    mx.check_eq(sent_with_ids(reqs), [list(also)] * len(ls), what + ": the conditions sent with the ids")
    mx.check_eq(len(reqs) - len(ls) - len(gets(reqs)), 0, what + ": only id lookups")
    mx.check_eq(len(ls), want_lists, what + ": list requests")
    if want_lists == 0:
        mx.check_eq(gets(reqs), want, what + ": the one GET (or none)")
        return
    mx.check_eq(gets(reqs), [], what + ": no GET")
    sent = sorted(i for l in ls for i in l)
    mx.check(sent == want, what + ": every id once",
             "%d sent, %d wanted, extra %r, missing %r"
             % (len(sent), len(want), sorted(set(sent) - set(want))[:5],
                sorted(set(want) - set(sent))[:5]))
    mx.check(all(len(l) <= 1000 for l in ls), what + ": at most 1,000 ids a request",
             [len(l) for l in ls])


TECH = {"field": "category", "operator": "eq", "value": "tech"}
JOIN = ("SELECT i.n, b.document_id, b.category, b.word_count "
        "FROM bj.ids i JOIN bj.big b ON b.document_id = i.id")


class BatchJoin(mx.TestCase):

    @classmethod
    def setUpClass(cls):
        global su
        su = mx.fdw_superuser()
        # the local copy reads all of col_big with nothing sent
        cls.result_cap = mx._mock("GET", "/config").get("result_cap")
        mx.mock_config(result_cap=None)
        mx.query(su, "DROP SCHEMA IF EXISTS bj CASCADE")
        mx.query(su, "DROP SERVER IF EXISTS mx_bj CASCADE")
        mx.query(su, "CREATE SCHEMA bj")
        mx.query(su, "CREATE SERVER mx_bj FOREIGN DATA WRAPPER mixpeek_fdw")
        mx.query(su, "CREATE FOREIGN TABLE bj.big (document_id text, category text, word_count int) "
                     "SERVER mx_bj OPTIONS (collection 'col_big', rows '100000')")
        mx.query(su, "SET mixpeek.pushdown = off")
        mx.query(su, "CREATE TABLE bj.big_local AS SELECT * FROM bj.big")
        mx.query(su, "RESET mixpeek.pushdown")
        mx.query(su, "ANALYZE bj.big_local")
        mx.query(su, "CREATE TABLE bj.ids (id text, n int)")

    @classmethod
    def tearDownClass(cls):
        mx.query(su, "DROP SCHEMA IF EXISTS bj CASCADE")
        mx.query(su, "DROP SERVER IF EXISTS mx_bj CASCADE")
        mx.mock_config(result_cap=cls.result_cap)

    def setUp(self):
        super().setUp()
        self.c = mx.connect()

    def tearDown(self):
        try:
            self.c.rollback()
            self.c.close()
        except psycopg2.Error:
            pass
        mx.check_eq(mx.scalar(su, "SELECT 1"), 1, "the server is alive")
        super().tearDown()

    def same(self, sql, params=None, ordered=False, batched=True, what=None):
        """Rows equal to the reference's; the plan batched or not.
        Returns the requests the query sent to col_big."""
        what = what or sql
        p = plan(self.c, sql, params)
        if batched is not None:
            mx.check_eq("MixpeekBatchJoin" in p, batched, what + ": batched join in the plan\n" + p)
        seq = mx.mock_last_seq()
        got = rows_of(self.c, sql, params, ordered)
        reqs = big_requests(seq)
        want = reference(self.c, sql, params, ordered)
        mx.check(got == want, what + ": rows", "%d rows, %d wanted, first differing %r"
                 % (len(got), len(want), next(((a, b) for a, b in zip(got, want) if a != b), None)))
        return got, reqs

    def test_01_request_counts(self):
        """1, 5, 999, 1,000, 1,001, 2,500 ids: 1 GET, then 1, 1, 1, 2, 3 list requests"""
        for n, want in ((1, 0), (5, 1), (999, 1), (1000, 1), (1001, 2), (2500, 3)):
            with mx.case("%d ids" % n):
                ids = spread(n)
                load_ids(self.c, [(x, k) for k, x in enumerate(ids)])
                # a single id is one GET either way: a nested loop may do it
                got, reqs = self.same(JOIN, what="%d ids" % n, batched=None if n == 1 else True)
                mx.check_eq(len(got), n, "a row per id")
                check_requests(reqs, ids, want, "%d ids" % n)
        with mx.case("2,500 ids, max_concurrency 1: 3 batches of 1,000 rows"):
            mx.query(self.c, "SET mixpeek.max_concurrency = 1")
            p = plan(self.c, JOIN, options="VERBOSE, COSTS OFF")
            mx.check("Batch Size: 1000 rows" in p, "batch size shown", p)
            got, reqs = self.same(JOIN, what="concurrency 1")
            check_requests(reqs, spread(2500), 3, "concurrency 1")
            mx.query(self.c, "RESET mixpeek.max_concurrency")
        with mx.case("10,000 ids: 10 list requests"):
            ids = spread(10000, 5)
            load_ids(self.c, [(x, k) for k, x in enumerate(ids)])
            got, reqs = self.same(JOIN, what="10,000 ids")
            check_requests(reqs, ids, 10, "10,000 ids")

    def test_02_awkward_ids(self):
        """duplicates, NULLs, empty strings, missing ids, varchar and computed ids"""
        ids = spread(1200)
        rows = [(x, k) for k, x in enumerate(ids)]
        rows += [(ids[3], 9001), (ids[3], 9002), (None, 9003), ("", 9004), ("nope", 9005),
                 ("DOC_000000", 9006), (ids[1199], 9007), ("doc_100000", 9008)]
        load_ids(self.c, rows)
        want_ids = [r[0] for r in rows]
        with mx.case("duplicates, NULLs, missing"):
            got, reqs = self.same(JOIN)
            mx.check_eq(len(got), 1200 + 3, "a row per id found, duplicates repeated")
            check_requests(reqs, want_ids, 2, "awkward ids")
        with mx.case("duplicates, NULLs, missing: equal to batch_join and pushdown off"):
            mx.check_eq(rows_of(self.c, JOIN), unbatched(self.c, JOIN), "rows")
        with mx.case("a further join clause"):
            sql = JOIN + " AND b.word_count > i.n"
            got, reqs = self.same(sql)
            mx.check(0 < len(got) < 1203, "some rows pass", len(got))
            check_requests(reqs, want_ids, 2, "further clause")
            p = plan(self.c, sql, options="VERBOSE, COSTS OFF")
            mx.check("Join Filter: (b.word_count > i.n)" in p, "the clause in EXPLAIN", p)
        with mx.case("a WHERE on the foreign side that can be sent, and one that cannot"):
            for cond, also in (("b.category = 'tech'", [TECH]), ("b.word_count % 7 = 3", []),
                               ("lower(b.category) LIKE 't%%'", [])):
                got, reqs = self.same(JOIN + " WHERE " + cond)
                mx.check(0 < len(got) < 1203, cond + ": some rows", len(got))
                check_requests(reqs, want_ids, 2, cond, also)
        with mx.case("varchar ids"):
            mx.query(self.c, "CREATE TEMP TABLE vids AS SELECT id::varchar(20) AS id, n FROM bj.ids")
            mx.query(self.c, "ANALYZE vids")
            got, reqs = self.same(JOIN.replace("bj.ids", "pg_temp.vids"))
            check_requests(reqs, want_ids, 2, "varchar")
        with mx.case("ids computed by an expression"):
            sql = ("SELECT g.k, b.category FROM generate_series(0, 1499, 3) g(k) "
                   "JOIN bj.big b ON b.document_id = 'doc_' || lpad(g.k::text, 6, '0')")
            got, reqs = self.same(sql)
            mx.check_eq(len(got), 500, "a row per id")
            check_requests(reqs, [doc(k) for k in range(0, 1500, 3)], 1, "expression")

    def test_03_exists(self):
        """EXISTS and NOT EXISTS: a batched semi- and anti-join (500 ids, 1 request)"""
        ids = spread(500)
        rows = [(x, k) for k, x in enumerate(ids)] + [(ids[0], 777), ("nope", 778), (None, 779)]
        load_ids(self.c, rows)
        sql = ("SELECT i.n FROM bj.ids i WHERE EXISTS "
               "(SELECT 1 FROM bj.big b WHERE b.document_id = i.id AND b.category = 'tech')")
        with mx.case("EXISTS"):
            got, reqs = self.same(sql)
            check_requests(reqs, [r[0] for r in rows], 1, "EXISTS", [TECH])
            mx.check_eq(len(got), len(mx.query(self.c, "SELECT 1 FROM bj.big_local b JOIN bj.ids i "
                                                      "ON b.document_id = i.id WHERE b.category = 'tech'")),
                        "each outer row once")
            mx.check("Join Type: Semi" in plan(self.c, sql), "a semi-join")
            mx.check_eq(rows_of(self.c, sql), unbatched(self.c, sql), "equal to nothing batched or sent")
        with mx.case("EXISTS with a clause of both sides"):
            self.same("SELECT i.n FROM bj.ids i WHERE EXISTS (SELECT 1 FROM bj.big b "
                      "WHERE b.document_id = i.id AND b.word_count > i.n)")
        with mx.case("NOT EXISTS: a batched anti-join"):
            for cond in ("", " AND b.category = 'tech'", " AND b.word_count > i.n"):
                anti = sql.replace("WHERE EXISTS", "WHERE NOT EXISTS").replace(" AND b.category = 'tech'", cond)
                got, reqs = self.same(anti)
                check_requests(reqs, [r[0] for r in rows], 1, "NOT EXISTS" + cond,
                               [TECH] if "tech" in cond else [])
                mx.check("Join Type: Anti" in plan(self.c, anti), "an anti-join")
            mx.check_eq(rows_of(self.c, anti), unbatched(self.c, anti), "equal to nothing batched or sent")
        with mx.case("IN (subquery)"):
            got, reqs = self.same("SELECT i.n FROM bj.ids i WHERE i.id IN (SELECT b.document_id FROM bj.big b "
                                  "WHERE b.word_count < 500)")
            mx.check(len(got) > 0, "rows")

    def test_04_left_join(self):
        """LEFT JOIN: NULLs for ids without a document; ON and WHERE clauses"""
        ids = spread(800)
        load_ids(self.c, [(x, k) for k, x in enumerate(ids)] + [("nope", 5000), (None, 5001), (ids[5], 5002)])
        base = ("SELECT i.n, b.document_id, b.word_count FROM bj.ids i "
                "LEFT JOIN bj.big b ON b.document_id = i.id")
        for what, sql in (("plain", base),
                          ("an inner condition in ON", base + " AND b.category = 'news'"),
                          ("an outer condition in ON", base + " AND i.n % 2 = 0"),
                          ("a clause of both in ON", base + " AND b.word_count > i.n"),
                          ("a WHERE over both", base + " WHERE coalesce(b.word_count, -1) < i.n"),
                          ("a WHERE on the outer side", base + " WHERE i.n > 100"),
                          # PostgreSQL 16 on: the WHERE reads a column nulled by the join that the
                          # output does not hold
                          ("a WHERE on an inner column not in the output",
                           base + " WHERE b.category IS NULL OR b.category = 'news'"),
                          ("the same with an inner condition in ON",
                           base + " AND b.word_count >= 500 WHERE coalesce(b.category, 'x') <> 'tech'"),
                          ("written as a RIGHT JOIN", "SELECT i.n, b.document_id, b.word_count FROM bj.big b "
                                                     "RIGHT JOIN bj.ids i ON b.document_id = i.id")):
            with mx.case(what):
                got, reqs = self.same(sql)
                mx.check_eq(len([r for r in got if r[1] is None]) > 0, True, "rows with NULLs")
                mx.check_eq(rows_of(self.c, sql), unbatched(self.c, sql), "equal to nothing batched or sent")
        with mx.case("IS NULL over a LEFT JOIN is an anti-join"):
            got, reqs = self.same(base + " WHERE b.document_id IS NULL")
            mx.check_eq(len(got), 2, "the rows without a document (a NULL id and one not in the collection)")

    def test_05_not_offered(self):
        """the foreign table on the outer side, batch_join off, pushdown off: no batched join"""
        load_ids(self.c, [(x, k) for k, x in enumerate(spread(300))])
        with mx.case("foreign table preserved by a LEFT JOIN"):
            self.same("SELECT b.document_id, i.n FROM bj.big b LEFT JOIN bj.ids i ON i.id = b.document_id "
                      "WHERE b.word_count = 37", batched=False)
        for setting in ("mixpeek.batch_join", "mixpeek.pushdown"):
            with mx.case(setting + " off"):
                mx.query(self.c, "SET %s = off" % setting)
                mx.check("MixpeekBatchJoin" not in plan(self.c, JOIN), "not batched")
                mx.query(self.c, "RESET %s" % setting)
        with mx.case("an outer side much larger than the collection: a paged scan, hashed"):
            mx.query(self.c, "CREATE TEMP TABLE many AS SELECT format('doc_%s', lpad(i::text, 6, '0')) AS id "
                             "FROM generate_series(0, 199999) i")
            mx.query(self.c, "ANALYZE many")
            mx.query(su, "CREATE FOREIGN TABLE bj.small (document_id text, category text) SERVER mx_bj "
                         "OPTIONS (collection 'col_big', rows '200')")
            p = plan(self.c, "SELECT s.category FROM pg_temp.many m JOIN bj.small s ON s.document_id = m.id")
            mx.check("MixpeekBatchJoin" not in p and "Hash Join" in p, "hashed", p)
            p = plan(self.c, "SELECT s.category FROM pg_temp.many m JOIN bj.small s ON s.document_id = m.id "
                             "WHERE m.id < 'doc_000100'")
            mx.check("MixpeekBatchJoin" in p, "a few of them: batched", p)
        with mx.case("FOR UPDATE of the local table"):
            mx.query(self.c, "BEGIN")
            mx.check("MixpeekBatchJoin" not in plan(self.c, JOIN + " FOR UPDATE OF i"), "not batched")
            mx.query(self.c, "ROLLBACK")

    def test_06_prepared_generic(self):
        """a prepared statement's generic plan, executed 6 times with other parameters"""
        ids = spread(3000)
        load_ids(self.c, [(x, k) for k, x in enumerate(ids)] + [(None, 3001), ("nope", 3002)])
        mx.query(self.c, "SET plan_cache_mode = force_generic_plan")
        mx.query(self.c, "PREPARE q(int, int) AS " + JOIN + " WHERE i.n >= $1 AND i.n < $2")
        for lo, hi in ((0, 1), (0, 5), (10, 1010), (0, 3003), (2999, 3003), (5000, 6000)):
            with mx.case("EXECUTE q(%d, %d)" % (lo, hi)):
                seq = mx.mock_last_seq()
                got = rows_of(self.c, "EXECUTE q(%s, %s)", (lo, hi))
                reqs = big_requests(seq)
                mx.check_eq(got, reference(self.c, JOIN + " WHERE i.n >= %s AND i.n < %s", (lo, hi)), "rows")
                wanted = [r[0] for r in mx.query(self.c, "SELECT id FROM bj.ids WHERE n >= %s AND n < %s",
                                                 (lo, hi))]
                n = len(distinct_ids(wanted))
                check_requests(reqs, wanted, 0 if n <= 1 else math.ceil(n / 1000), "q(%d, %d)" % (lo, hi))
        p = plan(self.c, "EXECUTE q(0, 10)")
        mx.check("MixpeekBatchJoin" in p, "the generic plan is batched", p)
        mx.query(self.c, "DEALLOCATE q")

    def test_07_cursor(self):
        """a cursor fetched in parts; a SCROLL cursor moved back"""
        ids = spread(2500)
        load_ids(self.c, [(x, k) for k, x in enumerate(ids)])
        sql = JOIN + " ORDER BY i.n"
        want = reference(self.c, sql, ordered=True)
        c = mx.connect(autocommit=False)
        try:
            seq = mx.mock_last_seq()
            cur = c.cursor()
            cur.execute("DECLARE cur NO SCROLL CURSOR FOR " + sql)
            got = []
            for n in (1, 10, 989, 1, 1500, 100):
                cur.execute("FETCH %d FROM cur" % n)
                got += cur.fetchall()
            mx.check_eq(got, want, "rows fetched in parts, in order")
            check_requests(big_requests(seq), ids, 3, "cursor")
            cur.execute("CLOSE cur")
            cur.execute("DECLARE sc SCROLL CURSOR FOR " + sql)
            cur.execute("FETCH 1200 FROM sc")
            cur.execute("FETCH BACKWARD 3 FROM sc")
            back = cur.fetchall()
            mx.check_eq(back, want[1198:1195:-1], "a SCROLL cursor moved back")
            cur.execute("FETCH ALL FROM sc")
            mx.check_eq(cur.fetchall(), want[1197:], "and forward again")
            c.rollback()
            # a batch looked up inside a savepoint rolled back: the next
            # batches are looked up as before
            cur.execute("SET mixpeek.max_concurrency = 1")
            cur.execute("DECLARE sp NO SCROLL CURSOR FOR " + sql)
            cur.execute("FETCH 500 FROM sp")
            got = cur.fetchall()
            cur.execute("SAVEPOINT s")
            cur.execute("FETCH 1000 FROM sp")
            got += cur.fetchall()
            cur.execute("ROLLBACK TO SAVEPOINT s")
            cur.execute("FETCH ALL FROM sp")
            got += cur.fetchall()
            mx.check_eq(got, want, "rows through a rolled-back savepoint")
            c.rollback()
        finally:
            c.close()

    def test_08_larger_plans(self):
        """under an Aggregate, a Sort with LIMIT, a LATERAL and a correlated subquery"""
        ids = spread(2200)
        load_ids(self.c, [(x, k) for k, x in enumerate(ids)] + [("nope", 1), (None, 2)])
        with mx.case("Aggregate"):
            self.same("SELECT b.category, count(*), sum(b.word_count + i.n) FROM bj.ids i "
                      "JOIN bj.big b ON b.document_id = i.id GROUP BY b.category")
        with mx.case("Sort and LIMIT"):
            self.same(JOIN + " ORDER BY b.word_count DESC, i.n LIMIT 25", ordered=True)
        with mx.case("LATERAL, rescanned for each outer value"):
            sql = ("SELECT c.cat, x.cnt, x.total FROM (VALUES ('tech'), ('news'), ('none')) c(cat) "
                   "CROSS JOIN LATERAL (SELECT count(*) AS cnt, sum(b.word_count) AS total "
                   "FROM bj.ids i JOIN bj.big b ON b.document_id = i.id "
                   "WHERE b.category = c.cat AND i.n % 3 = 0) x")
            got, reqs = self.same(sql)
            mx.check_eq(len(got), 3, "a row per value")
            lists_ = id_lists(reqs)
            mx.check(len(lists_) in (1, 3), "the ids once, or once per value", len(lists_))
        with mx.case("a correlated subquery"):
            self.same("SELECT c.cat, (SELECT count(*) FROM bj.ids i JOIN bj.big b ON b.document_id = i.id "
                      "WHERE b.category = c.cat) FROM (VALUES ('tech'), ('sports')) c(cat)")
        with mx.case("two batched joins, one the outer side of the other"):
            got, reqs = self.same("SELECT i.n, b.category, c.word_count FROM bj.ids i "
                                  "JOIN bj.big b ON b.document_id = i.id "
                                  "JOIN bj.big c ON c.document_id = b.document_id AND c.word_count < 500")
            mx.check(len(got) > 0, "rows", len(got))
        with mx.case("a foreign scan's documents as the outer side"):
            got, reqs = self.same("SELECT a.document_id, b.category FROM bj.big a "
                                  "JOIN bj.big b ON b.document_id = a.document_id WHERE a.word_count = 7")
            mx.check_eq(len(got), 100, "a row per document of the outer scan")
        with mx.case("the batched join inside another join"):
            mx.query(self.c, "CREATE TEMP TABLE cats (cat text, label text)")
            mx.query(self.c, "INSERT INTO cats VALUES ('tech', 'T'), ('news', 'N')")
            self.same("SELECT c.label, i.n FROM bj.ids i JOIN bj.big b ON b.document_id = i.id "
                      "JOIN pg_temp.cats c ON c.cat = b.category")

    def test_09_explain(self):
        """EXPLAIN VERBOSE shows the batch, ANALYZE the batches and ids sent"""
        ids = spread(1500)
        load_ids(self.c, [(x, k) for k, x in enumerate(ids)] + [(ids[0], 1500)])
        p = plan(self.c, JOIN + " AND b.word_count > i.n", options="VERBOSE, COSTS OFF")
        for want in ("Custom Scan (MixpeekBatchJoin)", "Join Type: Inner", "Outer Document Id: i.id",
                     "Join Filter: (b.word_count > i.n)", "Batch Size: 5000 rows",
                     "Remote Filters: {\"AND\":[{\"field\":\"document_id\",\"operator\":\"in\","
                     "\"value\":[...]}],\"case_sensitive\":true}"):
            mx.check(want in p, "EXPLAIN VERBOSE shows " + want, p)
        p = plan(self.c, JOIN, options="ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF")
        mx.check("Batches: 1" in p and "Ids Sent: 1500" in p, "ANALYZE: one batch, 1,500 ids", p)
        mx.check(re.search(r"Remote Requests: 2\b", p) is not None, "ANALYZE: two requests", p)

    def test_10_timeout_and_parallel(self):
        """statement_timeout while a batch is in flight; parallel query forced"""
        ids = spread(2500)
        load_ids(self.c, [(x, k) for k, x in enumerate(ids)])
        with mx.case("statement_timeout mid-batch: 57014, the session goes on"):
            mx.mock_config(latency_ms=3000)
            try:
                mx.query(self.c, "SET statement_timeout = '300ms'")
                with mx.Timer() as t:
                    mx.expect_error(self.c, JOIN, None, "57014")
                mx.log("  cancelled after %.2f s" % t.elapsed)
                mx.query(self.c, "RESET statement_timeout")
            finally:
                mx.mock_config(latency_ms=0)
            got, reqs = self.same(JOIN)
            check_requests(reqs, ids, 3, "after the timeout")
        with mx.case("parallel query forced: the join runs in the leader"):
            guc = "debug_parallel_query" if int(mx.scalar(self.c, "SHOW server_version_num")) >= 160000 \
                else "force_parallel_mode"
            mx.query(self.c, "SET %s = on" % guc)
            mx.query(self.c, "SET parallel_setup_cost = 0")
            mx.query(self.c, "SET parallel_tuple_cost = 0")
            got, reqs = self.same("SELECT b.category, count(*) FROM bj.ids i JOIN bj.big b "
                                  "ON b.document_id = i.id GROUP BY b.category")
            check_requests(reqs, ids, 3, "parallel forced")
            mx.query(self.c, "RESET %s" % guc)


class Api:
    """A collection of ids doc_00000.. whose list requests fail on demand:
    fail_id: the request whose ids include it answers fail_status the first
    fail_times times (None: always)."""

    def __init__(self):
        self.docs = {"doc_%05d" % i: i for i in range(5000)}
        self.reset()

    def reset(self):
        self.fail_id = None
        self.fail_times = None
        self.fail_status = 500
        self.failed = 0
        self.missing = False

    def __call__(self, method, path, query, headers, body):
        import json
        if self.missing:
            return 404, None, envelope(404, "Collection not found", "NotFoundError",
                                       {"resource": "collection", "id": "col_cap"})
        if method != "POST":
            return None
        ids = json.loads(body)["filters"]["AND"][0]["value"]
        if self.fail_id in ids and (self.fail_times is None or self.failed < self.fail_times):
            self.failed += 1
            return self.fail_status, {"Retry-After": "0"}, envelope(self.fail_status, "injected", "ServerError")
        found = [{"document_id": i, "collection_id": "col_cap", "n": self.docs[i]} for i in ids if i in self.docs]
        return 200, None, {"results": found, "pagination": {"next_cursor": None, "has_more": False}}


class Faults(mx.TestCase):

    @classmethod
    def setUpClass(cls):
        global su
        su = mx.fdw_superuser()
        cls.api = Api()
        cls.cap = CaptureServer(handler=cls.api).start()
        mx.query(su, "DROP SCHEMA IF EXISTS bjf CASCADE")
        mx.query(su, "DROP SERVER IF EXISTS mx_bjf CASCADE")
        mx.query(su, "CREATE SCHEMA bjf")
        mx.query(su, "CREATE SERVER mx_bjf FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url %s)",
                 (cls.cap.url,))
        mx.query(su, "CREATE USER MAPPING FOR CURRENT_USER SERVER mx_bjf OPTIONS (api_key 'sk_bjf_0000000000')")
        mx.query(su, "CREATE FOREIGN TABLE bjf.t (document_id text, n int) SERVER mx_bjf "
                     "OPTIONS (collection 'col_cap', rows '100000')")
        mx.query(su, "CREATE TABLE bjf.ids AS SELECT format('doc_%s', lpad(i::text, 5, '0')) AS id, i "
                     "FROM generate_series(0, 3499) i")
        mx.query(su, "ANALYZE bjf.ids")

    @classmethod
    def tearDownClass(cls):
        mx.query(su, "DROP SCHEMA IF EXISTS bjf CASCADE")
        mx.query(su, "DROP SERVER IF EXISTS mx_bjf CASCADE")
        cls.cap.stop()

    def setUp(self):
        super().setUp()
        self.api.reset()
        self.cap.clear()
        self.c = mx.connect()
        # three batches of 1,000 rows and one of 500, a request each
        mx.query(self.c, "SET mixpeek.max_concurrency = 1")
        mx.query(self.c, "SET mixpeek.max_retries = 2")

    def tearDown(self):
        try:
            self.c.close()
        except psycopg2.Error:
            pass
        mx.check_eq(mx.scalar(su, "SELECT 1"), 1, "the server is alive")
        super().tearDown()

    SQL = "SELECT i.i, t.n FROM bjf.ids i JOIN bjf.t t ON t.document_id = i.id"

    def test_01_retried(self):
        """a batch's request answered 500 once: retried, every row"""
        mx.check("MixpeekBatchJoin" in plan(self.c, self.SQL), "batched")
        self.api.fail_id = "doc_01500"
        self.api.fail_times = 1
        got = sorted(mx.query(self.c, self.SQL))
        mx.check_eq(got, [(i, i) for i in range(3500)], "every row")
        posts = [r for r in self.cap.requests() if r["method"] == "POST"]
        mx.check_eq(len(posts), 5, "four batches, the second sent twice")

    def test_02_persistent(self):
        """a batch's request answered 500 every time mid-join: an ERROR, no short result"""
        self.api.fail_id = "doc_02500"
        for status in (500, 503):
            with mx.case("HTTP %d" % status):
                self.api.fail_status = status
                self.cap.clear()
                cur = self.c.cursor()
                err = None
                rows = []
                try:
                    cur.execute(self.SQL)
                    rows = cur.fetchall()
                except psycopg2.Error as exc:
                    err = mx.Err(exc)
                mx.check(err is not None, "an ERROR", len(rows))
                mx.check(err is not None and str(status) in err.all_text(), "naming the status", err)
                mx.check_eq(rows, [], "no rows")
                posts = [r for r in self.cap.requests() if r["method"] == "POST"]
                mx.check_eq(len(posts), 2 + 3, "two batches, then the third tried three times")
        with mx.case("through a cursor: the rows of the first batches, then the ERROR"):
            c = mx.connect(autocommit=False)
            mx.query(c, "SET mixpeek.max_concurrency = 1")
            mx.query(c, "SET mixpeek.max_retries = 0")
            cur = c.cursor()
            cur.execute("DECLARE cur CURSOR FOR " + self.SQL)
            cur.execute("FETCH 1500 FROM cur")
            mx.check_eq(len(cur.fetchall()), 1500, "rows of the first two batches")
            try:
                cur.execute("FETCH ALL FROM cur")
                mx.check(False, "an ERROR at the third batch", len(cur.fetchall()))
            except psycopg2.Error:
                pass
            c.rollback()
            c.close()

    def test_03_missing_collection(self):
        """the collection is gone: an ERROR naming the request"""
        self.api.missing = True
        err = mx.expect_error(self.c, self.SQL, None, "42704")
        mx.check(err is not None and "POST /v1/collections/col_cap/documents/list" in err.all_text(),
                 "naming the request", err)


if __name__ == "__main__":
    mx.main("test_batch_join", tests=[BatchJoin, Faults])
