"""List scans in both of the API's paging styles, never silently partial.

A capture listener plays a document list whose pages say what a scenario
wants: the cursor style (pagination.next_cursor, with pagination.total when
include_total=true is asked) or the offset style (has_more, total_count, no
cursor), a list that ends before the total it reported, the API's cap of
10,000 results per query, an empty page that says more follow, counts that
are not counts.  Each scan must return every document exactly once, or
fail with SQLSTATE HV00M (the reported total and what came) before any
partial result is complete: a materialized view keeps its old rows.  What
reached the wire is checked request by request: include_total=true on the
first page of each scan only, the cursor or offset of each later page.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402
import capture  # noqa: E402

PAGE = 10


class Scenario:
    """A list of n documents served in pages.

    style: "cursor" or "offset".  total: what the first page reports
    (None: nothing; any other value is sent as is).  stop: the list ends
    after this many documents (the API's view: no cursor, has_more false).
    has_more: False to leave it out of the pages.  empty_after: pages
    after this many documents come back empty while saying more follow.
    """

    def __init__(self, n, style="cursor", total="n", stop=None, has_more=True,
                 empty_after=None):
        self.n = n
        self.style = style
        self.total = n if total == "n" else total
        self.stop = n if stop is None else stop
        self.has_more = has_more
        self.empty_after = empty_after

    def page(self, query, body):
        limit = int(query.get("limit", PAGE))
        cursor = (json.loads(body or "{}") or {}).get("cursor")
        pos = int(cursor[1:]) if cursor else int(query.get("offset", 0))
        end = min(pos + limit, self.stop)
        docs = [{"document_id": "doc_%05d" % i, "collection_id": "c", "n": i}
                for i in range(pos, end)]
        if self.empty_after is not None and pos >= self.empty_after:
            docs, end = [], pos
        more = end < self.stop or (self.empty_after is not None and pos >= self.empty_after)
        first = query.get("include_total") == "true"
        if self.style == "cursor":
            pg = {"next_cursor": "p%d" % end if more else None}
            if self.has_more:
                pg["has_more"] = more
            if first and self.total is not None:
                pg["total"] = self.total
        else:
            pg = {"limit": limit, "offset": pos}
            if self.has_more:
                pg["has_more"] = more
            if self.total is not None:
                pg["total_count"] = self.total
        return {"results": docs, "pagination": pg}


class Shape(mx.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.su = mx.setup_extension()
        cls.scenario = Scenario(0)

        def handler(method, path, query, headers, body):
            if not path.endswith("/documents/list"):
                return None
            return 200, {}, cls.scenario.page(query, body)

        cls.cap = capture.CaptureServer(handler=handler)
        cls.cap.start()
        su = cls.su
        mx.query(su, "DROP SERVER IF EXISTS mx_shape CASCADE")
        mx.query(su, "CREATE SERVER mx_shape FOREIGN DATA WRAPPER mixpeek_fdw "
                     "OPTIONS (base_url %s, namespace 'default')", (cls.cap.url,))
        mx.query(su, "CREATE USER MAPPING FOR CURRENT_USER SERVER mx_shape "
                     "OPTIONS (api_key 'sk_test_alpha')")
        mx.query(su, "CREATE FOREIGN TABLE mx_shape_t (document_id text, n int) "
                     "SERVER mx_shape OPTIONS (collection 'c', page_size '%d')" % PAGE)
        mx.query(su, "CREATE FOREIGN TABLE mx_shape_big (document_id text) "
                     "SERVER mx_shape OPTIONS (collection 'c', page_size '1000')")

    @classmethod
    def tearDownClass(cls):
        mx.query(cls.su, "DROP SERVER IF EXISTS mx_shape CASCADE")
        cls.cap.stop()
        cls.su.close()

    def play(self, scenario):
        type(self).scenario = scenario
        self.cap.clear()

    def pages(self):
        """(include_total, offset, cursor) of each list request."""
        return [(r["query"].get("include_total"), r["query"].get("offset"),
                 (r["json"] or {}).get("cursor")) for r in self.cap.requests()]

    def complete(self, scenario, table="mx_shape_t", what=""):
        self.play(scenario)
        rows = mx.query(self.su, "SELECT count(*), count(DISTINCT document_id), "
                                 "coalesce(sum(n), 0) FROM %s" % table)
        n = scenario.n
        mx.check_eq(rows[0], (n, n, n * (n - 1) // 2), what + ": every document once")

    def incomplete(self, scenario, message, detail, table="mx_shape_t", what=""):
        self.play(scenario)
        err = mx.expect_error(self.su, "SELECT count(*) FROM %s" % table, None, "HV00M",
                              None, what)
        if err is not None:
            mx.check_eq(err.message, message, what + ": message")
            mx.check_eq(err.detail, detail, what + ": detail")
            mx.check(err.hint.startswith("Mixpeek lists at most 10000 documents per query"),
                     what + ": hint", err.hint)
            mx.check(err.context.startswith("Mixpeek request POST /v1/collections/c/documents/list"),
                     what + ": context names the request", err.context)
        return err

    def test_01_cursor_style(self):
        """by cursor: the total asked on the first page only, every page followed"""
        self.complete(Scenario(35), what="cursor, 35 documents")
        mx.check_eq(self.pages(), [("true", None, None), (None, None, "p10"),
                                   (None, None, "p20"), (None, None, "p30")],
                    "requests: include_total first, then the cursors")
        self.complete(Scenario(0), what="cursor, empty")
        self.complete(Scenario(20), what="cursor, pages exactly full")

    def test_02_offset_style(self):
        """by offset: has_more and total_count, the next offset of each page"""
        self.complete(Scenario(35, style="offset"), what="offset, 35 documents")
        mx.check_eq(self.pages(), [("true", None, None), (None, "10", None),
                                   (None, "20", None), (None, "30", None)],
                    "requests: include_total first, then offsets 10, 20, 30")
        # without has_more, the total says whether more follow
        self.complete(Scenario(25, style="offset", has_more=False),
                      what="offset, total_count only")
        mx.check_eq(len(self.pages()), 3, "three pages for 25 documents")

    def test_03_ended_short(self):
        """a list that ends before its reported total is HV00M, in both styles"""
        self.incomplete(Scenario(50, stop=30),
                        "Mixpeek list ended after 30 of 50 documents",
                        "The first page reported 50 documents for this query; "
                        "a page said that no more follow (has_more false).",
                        what="cursor, ends at 30 of 50")
        self.incomplete(Scenario(50, style="offset", stop=30),
                        "Mixpeek list ended after 30 of 50 documents",
                        "The first page reported 50 documents for this query; "
                        "a page said that no more follow (has_more false).",
                        what="offset, has_more false at 30 of 50")
        mx.check_eq(len(self.pages()), 3, "offset: three pages, then the error")
        # no cursor and no has_more: the total says more remain, so the next
        # page is asked for by offset, and it is empty
        self.incomplete(Scenario(12, total=13, has_more=False),
                        "Mixpeek list ended after 12 of 13 documents",
                        "The first page reported 13 documents for this query; a page "
                        "without documents and without a next cursor said that more follow.",
                        what="one document short")
        mx.check_eq(self.pages(), [("true", None, None), (None, None, "p10"), (None, "12", None)],
                    "one short: the cursor, then offset 12")

    def test_04_result_cap(self):
        """the API's cap of 10,000 results: an error, never the first 10,000"""
        self.incomplete(Scenario(25000, stop=10000),
                        "Mixpeek list ended after 10000 of 25000 documents",
                        "The first page reported 25000 documents for this query; "
                        "a page said that no more follow (has_more false).",
                        table="mx_shape_big", what="cursor, capped at 10,000")
        mx.check_eq(len(self.pages()), 10, "ten pages of 1,000")
        self.incomplete(Scenario(25000, style="offset"),
                        "Mixpeek list ended after 10000 of 25000 documents",
                        "The first page reported 25000 documents for this query; "
                        "the next page would start at offset 10000, where the API's "
                        "limit of 10000 results per query ends.",
                        table="mx_shape_big", what="offset, at the cap")
        mx.check_eq(self.pages()[-1], (None, "9000", None),
                    "offset: no page past 10,000 is asked for")
        # without any total, has_more alone tells that more remained
        self.incomplete(Scenario(25000, style="offset", total=None),
                        "Mixpeek list ended after 10000 documents, with more to come",
                        "The API reported more documents for this query; the next page "
                        "would start at offset 10000, where the API's limit of 10000 "
                        "results per query ends.",
                        table="mx_shape_big", what="offset, at the cap, no total")
        # exactly 10,000 documents are complete
        self.play(Scenario(10000, style="offset"))
        mx.check_eq(mx.scalar(self.su, "SELECT count(DISTINCT document_id) FROM mx_shape_big"),
                    10000, "offset: exactly 10,000 documents")

    def test_05_empty_page_says_more(self):
        """an empty page without a cursor that says more follow is HV00M"""
        self.incomplete(Scenario(40, style="offset", empty_after=20),
                        "Mixpeek list ended after 20 of 40 documents",
                        "The first page reported 40 documents for this query; a page "
                        "without documents and without a next cursor said that more follow.",
                        what="offset, empty third page")
        self.incomplete(Scenario(40, style="offset", total=None, empty_after=20),
                        "Mixpeek list ended after 20 documents, with more to come",
                        "The API reported more documents for this query; a page "
                        "without documents and without a next cursor said that more follow.",
                        what="offset, empty third page, no total")

    def test_06_no_total(self):
        """without any total or has_more, what the pages give is the result"""
        self.complete(Scenario(35, total=None), what="cursor, no total")
        sc = Scenario(7, style="offset", total=None, has_more=False)
        self.complete(sc, what="offset style, nothing about more")
        mx.check_eq(len(self.pages()), 1, "one page: nothing said more follow")

    def test_07_not_counts(self):
        """a total or has_more of the wrong type is an invalid reply (HV00A)"""
        for total, what in (("many", "a string"), (-1, "negative"), (1.5, "a fraction"),
                            ({"n": 3}, "an object")):
            self.play(Scenario(5, total=total))
            err = mx.expect_error(self.su, "SELECT count(*) FROM mx_shape_t", None, "HV00A",
                                  r"^unexpected response from Mixpeek$", "total " + what)
            if err is not None:
                mx.check_eq(err.detail, "\"pagination.total\" is not a count of documents.",
                            "total %s: detail" % what)
        # an integer written with a fraction of zeros is a count
        self.complete(Scenario(5, total=5.0), what="total 5.0")
        self.incomplete(Scenario(5, total=6.0),
                        "Mixpeek list ended after 5 of 6 documents",
                        "The first page reported 6 documents for this query; "
                        "a page said that no more follow (has_more false).", what="total 6.0")
        sc = Scenario(5, style="offset")
        orig = sc.page

        def bad_has_more(query, body):
            p = orig(query, body)
            p["pagination"]["has_more"] = "yes"
            return p
        sc.page = bad_has_more
        self.play(sc)
        err = mx.expect_error(self.su, "SELECT count(*) FROM mx_shape_t", None, "HV00A",
                              None, "has_more a string")
        if err is not None:
            mx.check_eq(err.detail, "\"pagination.has_more\" is not a boolean.", "has_more: detail")

    def test_08_materialized_view(self):
        """REFRESH MATERIALIZED VIEW fails on a partial list and keeps the old rows"""
        su = self.su
        mx.query(su, "DROP MATERIALIZED VIEW IF EXISTS mx_shape_mv")
        self.play(Scenario(30))
        mx.query(su, "CREATE MATERIALIZED VIEW mx_shape_mv AS SELECT document_id, n FROM mx_shape_t")
        mx.query(su, "CREATE UNIQUE INDEX ON mx_shape_mv (document_id)")
        mx.check_eq(mx.scalar(su, "SELECT count(*) FROM mx_shape_mv"), 30, "view: 30 rows")
        for how in ("", "CONCURRENTLY "):
            for style in ("cursor", "offset"):
                self.play(Scenario(45, style=style, stop=25))
                mx.expect_error(su, "REFRESH MATERIALIZED VIEW %smx_shape_mv" % how, None,
                                "HV00M", r"^Mixpeek list ended after 25 of 45 documents$",
                                "refresh %sby %s" % (how, style))
                mx.check_eq(mx.scalar(su, "SELECT count(*) FROM mx_shape_mv"), 30,
                            "refresh %sby %s: the old rows stay" % (how, style))
        self.play(Scenario(45, style="offset"))
        mx.query(su, "REFRESH MATERIALIZED VIEW CONCURRENTLY mx_shape_mv")
        mx.check_eq(mx.scalar(su, "SELECT count(*) FROM mx_shape_mv"), 45, "a complete refresh: 45 rows")
        mx.query(su, "DROP MATERIALIZED VIEW mx_shape_mv")

    def test_09_stopped_early_is_not_partial(self):
        """a scan that stops early by itself (LIMIT, a cursor closed) is no error"""
        su = self.su
        self.play(Scenario(50, stop=30))
        # LIMIT sent to the API: one page, the list never ends short of its total
        rows = mx.query(su, "SELECT document_id FROM mx_shape_t LIMIT 5")
        mx.check_eq(len(rows), 5, "LIMIT 5: five rows")
        mx.check_eq(len(self.pages()), 1, "LIMIT 5: one request")
        c = mx.connect(autocommit=False)
        with c.cursor() as cur:
            cur.execute("DECLARE k CURSOR FOR SELECT document_id FROM mx_shape_t")
            cur.execute("FETCH 12 FROM k")
            mx.check_eq(len(cur.fetchall()), 12, "a cursor fetches 12 rows")
            cur.execute("CLOSE k")
        c.commit()
        # ... and fetching on to the end finds the list short
        with c.cursor() as cur:
            cur.execute("DECLARE k CURSOR FOR SELECT document_id FROM mx_shape_t")
            cur.execute("FETCH 12 FROM k")
        err = mx.run_error(c, "FETCH ALL FROM k")
        mx.check(err is not None and err.sqlstate == "HV00M", "fetching to the end: HV00M", err)
        c.close()

    def test_10_rescans_and_prepared(self):
        """each scan of a rescanned or prepared plan asks for and checks its own total"""
        su = self.su
        self.play(Scenario(25))
        rows = mx.query(su, "SELECT v, (SELECT count(*) FROM mx_shape_t t WHERE t.n >= v) "
                            "FROM (VALUES (0), (1), (2)) s(v) ORDER BY v")
        mx.check_eq(rows, [(0, 25), (1, 24), (2, 23)], "a correlated subquery: each scan complete")
        mx.check_eq([p[0] for p in self.pages()], ["true", None, None] * 3,
                    "include_total on the first page of each of the three scans")
        mx.query(su, "PREPARE mx_shape_p AS SELECT count(*) FROM mx_shape_t")
        for style in ("cursor", "offset", "cursor"):
            self.play(Scenario(25, style=style))
            mx.check_eq(mx.scalar(su, "EXECUTE mx_shape_p"), 25, "prepared, by " + style)
        self.play(Scenario(25, style="offset", stop=15))
        mx.expect_error(su, "EXECUTE mx_shape_p", None, "HV00M", None, "prepared, short")
        mx.query(su, "DEALLOCATE mx_shape_p")
        # a LATERAL join over both styles at once
        mx.query(su, "DROP SERVER IF EXISTS mx_shape_m CASCADE")
        mx.query(su, "CREATE SERVER mx_shape_m FOREIGN DATA WRAPPER mixpeek_fdw "
                     "OPTIONS (base_url %s, namespace 'offset')", (mx.MOCK_URL,))
        mx.query(su, "CREATE USER MAPPING FOR CURRENT_USER SERVER mx_shape_m "
                     "OPTIONS (api_key 'sk_test_alpha')")
        mx.query(su, "CREATE FOREIGN TABLE mx_shape_off (document_id text, category text) "
                     "SERVER mx_shape_m OPTIONS (collection 'col_articles', page_size '2')")
        mx.query(su, "CREATE FOREIGN TABLE mx_shape_cur (document_id text, category text) "
                     "SERVER mx_shape_m OPTIONS (collection 'col_articles', page_size '3', "
                     "namespace 'default')")
        rows = mx.query(su, "SELECT c.category, x.k FROM (SELECT DISTINCT category FROM mx_shape_cur "
                            "WHERE category IS NOT NULL) c, LATERAL (SELECT count(*) AS k "
                            "FROM mx_shape_off o WHERE o.category = c.category) x ORDER BY 1")
        want = mx.query(su, "SELECT category, count(*) FROM mx_shape_cur "
                            "WHERE category IS NOT NULL GROUP BY 1 ORDER BY 1")
        mx.check_eq(rows, want, "LATERAL: offset-style counts per cursor-style category")
        mx.check(len(rows) >= 5, "LATERAL: several categories", rows)
        mx.query(su, "DROP SERVER mx_shape_m CASCADE")


if __name__ == "__main__":
    mx.main("test_shape")
