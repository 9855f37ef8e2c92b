"""mixpeek_search() and retriever foreign tables on the wire.

Each search request carries the key and namespace of its server, user
mapping and table (or of the settings for mixpeek_search()); a LATERAL or
joined search runs once per outer row with that row's inputs; max_results
and LIMIT bound the requests (counted at the mock); a 500 or 429 on a page
is retried, and a page that still fails (first or later) is an ERROR, not
a partial result; no error text holds a key.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402

ROLES = ["mx_se_alice", "mx_se_bob"]
SERVERS = ["mx_se_prod", "mx_se_default"]
RUN = "%d" % (time.time() * 1000)
KEYS = ["sk_test_alpha", "sk_test_beta", "sk_test_gamma"]


def setUpModule():
    global su
    su = mx.setup_extension()
    mx.query(su, "SET mixpeek.namespace = 'default'")
    mx.create_roles(su, ROLES, SERVERS)
    mx.query(su, """
        CREATE SERVER mx_se_prod FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (namespace 'production');
        CREATE SERVER mx_se_default FOREIGN DATA WRAPPER mixpeek_fdw;
        CREATE USER MAPPING FOR mx_se_alice SERVER mx_se_prod OPTIONS (api_key 'sk_test_beta');
        CREATE USER MAPPING FOR mx_se_bob SERVER mx_se_prod OPTIONS (api_key 'sk_test_gamma');
        CREATE USER MAPPING FOR PUBLIC SERVER mx_se_default;
        DROP SCHEMA IF EXISTS se CASCADE;
        CREATE SCHEMA se;
        GRANT USAGE ON SCHEMA se TO PUBLIC;
        CREATE FOREIGN TABLE se.prod_search (
          query text OPTIONS (input 'query'), rank int, score float8, document_id text)
          SERVER mx_se_prod OPTIONS (retriever 'ret_articles');
        CREATE FOREIGN TABLE se.default_search (
          query text OPTIONS (input 'query'), rank int, score float8, document_id text)
          SERVER mx_se_default OPTIONS (retriever 'article_search');
        CREATE FOREIGN TABLE se.table_ns_search (
          query text OPTIONS (input 'query'), rank int, document_id text)
          SERVER mx_se_prod OPTIONS (retriever 'ret_articles', namespace 'default');
        CREATE FOREIGN TABLE se.big (
          query text OPTIONS (input 'query'), rank int, document_id text)
          SERVER mx_se_default OPTIONS (retriever 'big_search', page_size '200');
        GRANT SELECT ON ALL TABLES IN SCHEMA se TO PUBLIC;
        CREATE TABLE se.wanted (q text, label text);
        INSERT INTO se.wanted VALUES ('healthcare', 'health'), ('slash id', 'slash'),
                                     ('unicode', 'unicode');
        GRANT SELECT ON se.wanted TO PUBLIC;
    """)


def tearDownModule():
    mx.query(su, "DROP SCHEMA IF EXISTS se CASCADE")
    mx.drop_roles(su, ROLES, SERVERS)


def searches(seq):
    """(path, inputs, page limit, cursor sent, identity, namespace) of the
    execute requests since seq."""
    return [(r["path"], r["body"]["inputs"], r["body"]["pagination"]["limit"],
             "cursor" in r["body"]["pagination"], r["identity"], r["namespace"])
            for r in mx.mock_requests(since=seq) if r["path"].startswith("/v1/retrievers/")]


def as_role(role):
    return mx.connect(user=role, password="pw")


class Keys(mx.TestCase):

    def test_01_function_uses_the_settings(self):
        """mixpeek_search(): the settings' key and namespace"""
        seq = mx.mock_last_seq()
        mx.query(su, "SET mixpeek.namespace = 'production'")
        try:
            rows = mx.query(su, "SELECT rank, document_id FROM mixpeek_search("
                                "'ret_articles', '{\"query\": \"healthcare\"}')")
        finally:
            mx.query(su, "SET mixpeek.namespace = 'default'")
        mx.check_eq(rows, [(1, "doc_flat_01"), (2, "doc_nested_01")], "rows")
        mx.check_eq([(s[4], s[5]) for s in searches(seq)], [("alpha", "production")],
                    "identity and namespace at the mock")

    def test_02_mappings_servers_tables(self):
        """each role's mapping key, the server's or the table's namespace, in one statement"""
        sql = ("SELECT 'p', count(*) FROM se.prod_search WHERE query = 'healthcare' "
               "UNION ALL SELECT 't', count(*) FROM se.table_ns_search WHERE query = 'healthcare'")
        for role, identity in (("mx_se_alice", "beta"), ("mx_se_bob", "gamma")):
            with self.subTest(role=role):
                conn = as_role(role)
                try:
                    mx.query(conn, "SET mixpeek.namespace = 'empty'")
                    seq = mx.mock_last_seq()
                    rows = mx.query(conn, sql)
                    # the settings' key and this session's namespace, where
                    # the mock has no retrievers
                    err = mx.run_error(conn, "SELECT * FROM se.default_search "
                                             "WHERE query = 'healthcare'")
                finally:
                    conn.close()
                mx.check_eq(rows, [("p", 2), ("t", 2)], "rows of %s" % role)
                mx.check(err is not None and err.sqlstate == "42704", "404 is 42704", err)
                got = sorted((s[0], s[4], s[5]) for s in searches(seq))
                mx.check_eq(got, sorted([
                    ("/v1/retrievers/ret_articles/execute", identity, "production"),
                    ("/v1/retrievers/article_search/execute", "alpha", "empty"),
                    ("/v1/retrievers/ret_articles/execute", identity, "default"),
                ]), "requests of %s" % role)

    def test_03_no_mapping(self):
        """a role without a mapping: the settings' key (the server has no base_url of its own)"""
        mx.query(su, "DROP ROLE IF EXISTS mx_se_carol")
        mx.query(su, "CREATE ROLE mx_se_carol LOGIN PASSWORD 'pw'")
        seq = mx.mock_last_seq()
        conn = as_role("mx_se_carol")
        try:
            rows = mx.query(conn, "SELECT document_id FROM se.prod_search "
                                  "WHERE query = 'healthcare' ORDER BY rank")
        finally:
            conn.close()
            mx.query(su, "DROP ROLE mx_se_carol")
        mx.check_eq(rows, [("doc_flat_01",), ("doc_nested_01",)], "rows")
        mx.check_eq([(s[4], s[5]) for s in searches(seq)], [("alpha", "production")],
                    "the settings' key, the server's namespace")


class Joins(mx.TestCase):

    def test_01_lateral_one_search_per_row(self):
        """LATERAL: one search per outer row, its inputs, LIMIT per row as the page size"""
        seq = mx.mock_last_seq()
        rows = mx.query(su, """
            SELECT w.label, s.rank, s.document_id
            FROM se.wanted w,
                 LATERAL (SELECT * FROM se.prod_search p WHERE p.query = w.q LIMIT 2) s
            ORDER BY 1, 2""")
        mx.check_eq(rows, [("health", 1, "doc_flat_01"), ("health", 2, "doc_nested_01"),
                           ("slash", 1, "doc/with/slash"), ("slash", 2, "."),
                           ("unicode", 1, "ünïcødé-ид")],
                    "rows")
        mx.check_eq(sorted((s[1]["query"], s[2], s[3]) for s in searches(seq)),
                    [("healthcare", 2, False), ("slash id", 2, False), ("unicode", 2, False)],
                    "one request per outer row")

    def test_02_join_and_cursor(self):
        """a join read through a cursor: searches happen as rows are fetched"""
        conn = mx.connect(autocommit=False)
        try:
            mx.query(conn, "SET mixpeek.namespace = 'default'")
            seq = mx.mock_last_seq()
            with conn.cursor() as cur:
                cur.execute("DECLARE c NO SCROLL CURSOR FOR "
                            "SELECT w.label, s.document_id FROM se.wanted w "
                            "JOIN se.default_search s ON s.query = w.q ORDER BY w.label")
                cur.execute("FETCH 1 FROM c")
                first = cur.fetchall()
                cur.execute("FETCH ALL FROM c")
                rest = cur.fetchall()
            conn.commit()
        finally:
            conn.close()
        mx.check_eq(first, [("health", "doc_flat_01")], "first row")
        mx.check_eq(len(rest), 1 + 9 + 1, "the other rows")
        mx.check_eq(len(searches(seq)), 3, "requests")


    def test_03_any_in_flight_together(self):
        """= ANY: one search per element, all sent before the first is answered"""
        # the mock holds each search until the four are there: a client that
        # sends them together passes however slow the machine, one that
        # sends them one by one has each wait mx.GATHER_MS alone
        alone = mx.mock_stats()["gather_timeouts"]
        mx.mock_config(gather=mx.gather_config(4))
        try:
            seq = mx.mock_last_seq()
            rows = mx.query(su, "SELECT query, rank, document_id FROM se.prod_search "
                                "WHERE query = ANY(%s) ORDER BY 1, 2",
                            (["healthcare", "unicode", "category", "slash"],))
        finally:
            mx.mock_config(gather=None)
        mx.check_eq(rows, [("category", 1, "doc_flat_04"), ("category", 2, "doc_nested_04"),
                           ("healthcare", 1, "doc_flat_01"), ("healthcare", 2, "doc_nested_01"),
                           ("slash", 1, "doc/with/slash"), ("unicode", 1, "ünïcødé-ид")],
                    "rows")
        log = [r for r in mx.mock_requests(since=seq) if r["path"].startswith("/v1/retrievers/")]
        mx.check_eq(sorted(r["body"]["inputs"]["query"] for r in log),
                    ["category", "healthcare", "slash", "unicode"], "one request per element")
        first = min(r["answered_ms"] for r in log)
        mx.check(all(r["received_ms"] < first for r in log),
                 "every search was sent before the first one was answered",
                 [r["received_ms"] - first for r in log])
        mx.check_eq(mx.mock_stats()["gather_timeouts"] - alone, 0, "no search waited alone at the mock")

    def test_04_any_long_array(self):
        """= ANY of 300 distinct values (with repeats and NULLs): 300 searches, rows of each"""
        values = ["nomatch%03d" % k for k in range(300)] + ["nomatch007", None, "healthcare"]
        seq = mx.mock_last_seq()
        rows = mx.query(su, "SELECT query, rank, document_id FROM se.prod_search "
                            "WHERE query = ANY(%s)", (values,))
        mx.check_eq(rows, [("healthcare", 1, "doc_flat_01"), ("healthcare", 2, "doc_nested_01")],
                    "rows, the last search's")
        sent = [s[1]["query"] for s in searches(seq)]
        mx.check_eq((len(sent), len(set(sent))), (301, 301), "one request per distinct value")

    def test_05_any_under_a_rolled_back_savepoint(self):
        """a cursor's searches survive a savepoint rolled back after they were sent"""
        conn = mx.connect(autocommit=False)
        try:
            mx.query(conn, "SET mixpeek.namespace = 'default'")
            with conn.cursor() as cur:
                cur.execute("DECLARE c NO SCROLL CURSOR FOR SELECT query, rank, document_id "
                            "FROM se.prod_search WHERE query = ANY(ARRAY['healthcare', "
                            "'slash id', 'unicode'])")
                cur.execute("SAVEPOINT s")
                cur.execute("FETCH 1 FROM c")
                got = cur.fetchall()
                cur.execute("ROLLBACK TO SAVEPOINT s")
                cur.execute("FETCH ALL FROM c")
                got += cur.fetchall()
            conn.commit()
        finally:
            conn.close()
        mx.check_eq([(q, r) for q, r, _ in got],
                    [("healthcare", 1), ("healthcare", 2)] +
                    [("slash id", k) for k in range(1, 10)] + [("unicode", 1)],
                    "every row once, in order")


class Limits(mx.TestCase):

    def test_01_max_results(self):
        """max_results 450 of a retriever with 100,000 results: one page of 450"""
        seq = mx.mock_last_seq()
        mx.check_eq(mx.query(su, "SELECT count(*), max(rank) FROM mixpeek_search("
                                 "'big_search', '{\"query\": \"q\"}', 450)"),
                    [(450, 450)], "rows")
        mx.check_eq([(s[2], s[3]) for s in searches(seq)], [(450, False)], "requests")

    def test_02_function_in_select_list(self):
        """in the select list mixpeek_search() is read lazily: a LIMIT stops paging"""
        seq = mx.mock_last_seq()
        mx.check_eq(mx.query(su, "SELECT count(*) FROM (SELECT mixpeek_search("
                                 "'big_search', '{\"query\": \"q\"}', 5000) LIMIT 10) s"),
                    [(10,)], "rows")
        mx.check_eq([(s[2], s[3]) for s in searches(seq)], [(500, False)], "one page")

    def test_03_table_limit(self):
        """LIMIT 450 on a table of page_size 200: pages of 200, 200, 50"""
        seq = mx.mock_last_seq()
        mx.check_eq(mx.query(su, "SELECT count(*), max(rank) FROM "
                                 "(SELECT * FROM se.big WHERE query = 'q' LIMIT 450) b"),
                    [(450, 450)], "rows")
        mx.check_eq([(s[2], s[3]) for s in searches(seq)],
                    [(200, False), (200, True), (50, True)], "requests")


class Faults(mx.TestCase):

    def test_01_retried(self):
        """500 and 429 on a page are retried; the rows are complete"""
        for code in (500, 429):
            with self.subTest(code=code):
                spec = "faultpage-2-flaky-%d-1-t%s" % (code, RUN)
                seq = mx.mock_last_seq()
                mx.check_eq(mx.query(su, "SELECT count(*), count(DISTINCT document_id) FROM "
                                         "mixpeek_search(%s, '{\"query\": \"q\"}', 1000)", (spec,)),
                            [(1000, 1000)], "rows")
                mx.check_eq([(s[2], s[3]) for s in searches(seq)],
                            [(500, False), (500, True), (500, True)], "pages, page 2 twice")

    def test_02_page_two_fails(self):
        """a page 2 that keeps failing is an ERROR, for the function and the table"""
        mx.query(su, "SET mixpeek.max_retries = 1")
        try:
            err = mx.run_error(su, "SELECT count(*) FROM mixpeek_search("
                                   "'faultpage-2-status-500', '{\"query\": \"q\"}', 1000)")
            mx.check(err is not None and err.sqlstate == "HV000", "HV000 (5xx)", err)
            mx.check("HTTP 500" in err.message, "names the status", err)
            mx.query(su, "CREATE FOREIGN TABLE se.fault (query text OPTIONS (input 'query'), "
                         "rank int) SERVER mx_se_default OPTIONS "
                         "(retriever 'faultpage-3-status-503', page_size '100')")
            conn = mx.connect(autocommit=False)
            try:
                mx.query(conn, "SET mixpeek.namespace = 'default'")
                mx.query(conn, "SET mixpeek.max_retries = 0")
                with conn.cursor() as cur:
                    cur.execute("DECLARE f NO SCROLL CURSOR FOR SELECT rank FROM se.fault "
                                "WHERE query = 'q'")
                    cur.execute("FETCH 200 FROM f")
                    got = len(cur.fetchall())
                    err2 = None
                    try:
                        cur.execute("FETCH 1 FROM f")
                        cur.fetchall()
                    except Exception as exc:  # noqa: BLE001
                        err2 = mx.Err(exc)
                conn.rollback()
            finally:
                conn.close()
            mx.check_eq(got, 200, "rows of pages 1 and 2")
            mx.check(err2 is not None and err2.sqlstate == "HV000" and
                     "HTTP 503" in err2.message, "page 3 is an ERROR", err2)
            for e in (err, err2):
                mx.check_no_keys(e.all_text(), "error text")
        finally:
            mx.query(su, "RESET mixpeek.max_retries")
            mx.query(su, "DROP FOREIGN TABLE IF EXISTS se.fault")

    def test_03_timeout_on_a_stalled_page(self):
        """statement_timeout while page 2 stalls: 57014, and the session goes on"""
        conn = mx.connect()
        try:
            mx.query(conn, "SET mixpeek.namespace = 'default'")
            mx.query(conn, "SET statement_timeout = '500ms'")
            err = mx.run_error(conn, "SELECT count(*) FROM mixpeek_search("
                                     "'faultpage-2-stall-60000', '{\"query\": \"q\"}', 1000)")
            mx.check(err is not None and err.sqlstate == "57014", "57014", err)
            mx.query(conn, "RESET statement_timeout")
            mx.check_eq(mx.query(conn, "SELECT count(*) FROM mixpeek_search("
                                       "'ret_articles', '{\"query\": \"healthcare\"}')"),
                        [(2,)], "the next search on the same session")
        finally:
            conn.close()

    def test_04_first_page_fails(self):
        """an unknown retriever is 42704; no rows"""
        err = mx.run_error(su, "SELECT * FROM se.default_search s "
                               "JOIN mixpeek_search('nope', '{\"query\": \"q\"}') f ON true "
                               "WHERE s.query = 'healthcare'")
        mx.check(err is not None and err.sqlstate == "42704", "42704", err)


class Stats(mx.TestCase):

    def test_01_stats_count_the_new_kinds(self):
        """mixpeek_stats counts execute_retriever (by server) and list_retrievers"""
        mx.query(su, "SELECT mixpeek_stats_reset()")
        mx.query(su, "SELECT count(*) FROM mixpeek_search('big_search', '{\"query\": \"q\"}', 600)")
        mx.query(su, "SELECT count(*) FROM se.default_search WHERE query = 'healthcare'")
        mx.run_error(su, "SELECT count(*) FROM mixpeek_search('nope', '{\"query\": \"q\"}')")
        mx.query(su, "DROP SCHEMA IF EXISTS se_stats CASCADE")
        mx.query(su, "CREATE SCHEMA se_stats")
        mx.query(su, "IMPORT FOREIGN SCHEMA retrievers LIMIT TO (big_search) "
                     "FROM SERVER mx_se_default INTO se_stats")
        mx.query(su, "DROP SCHEMA se_stats CASCADE")
        mx.check_eq(mx.query(su, "SELECT kind, servername, requests, errors_4xx FROM mixpeek_stats "
                                 "WHERE datname = current_database() ORDER BY kind, servername"),
                    [("execute_retriever", "mx_se_default", 1, 0),
                     ("execute_retriever", None, 3, 1),
                     ("list_retrievers", "mx_se_default", 1, 0)],
                    "(kind, server, requests, 4xx)")


class Functions(mx.TestCase):

    def test_01_lateral_function(self):
        """mixpeek_search() per row of a LATERAL join, inputs built from the row"""
        seq = mx.mock_last_seq()
        rows = mx.query(su, "SELECT w.label, s.rank, s.document_id FROM se.wanted w, "
                            "LATERAL mixpeek_search('ret_articles', "
                            "jsonb_build_object('query', w.q), 1) s ORDER BY 1")
        mx.check_eq(rows, [("health", 1, "doc_flat_01"), ("slash", 1, "doc/with/slash"),
                           ("unicode", 1, "ünïcødé-ид")], "rows")
        mx.check_eq(sorted((s[1]["query"], s[2]) for s in searches(seq)),
                    [("healthcare", 1), ("slash id", 1), ("unicode", 1)], "requests")


class Import(mx.TestCase):

    def test_01_notices_and_columns(self):
        """IMPORT FOREIGN SCHEMA retrievers: skipped and renamed with NOTICEs, columns exact"""
        mx.query(su, "DROP SCHEMA IF EXISTS se_import CASCADE")
        mx.query(su, "CREATE SCHEMA se_import")
        del su.notices[:]
        seq = mx.mock_last_seq()
        mx.query(su, "SET client_min_messages = notice")
        try:
            mx.query(su, "IMPORT FOREIGN SCHEMA retrievers FROM SERVER mx_se_default INTO se_import")
        finally:
            mx.query(su, "RESET client_min_messages")
        notices = " ".join(su.notices)
        mx.check('skipping retriever "clash_search"' in notices, "clash_search skipped", notices)
        mx.check('Its input "document_id" cannot be a column of its own.' in notices,
                 "why", notices)
        mx.check('retriever "%s" is imported as table "%s"' % ("x" * 70, "x" * 63) in notices,
                 "a long name cut", notices)
        tables = mx.query(su, "SELECT c.relname, ft.ftoptions FROM pg_foreign_table ft "
                              "JOIN pg_class c ON c.oid = ft.ftrelid "
                              "WHERE c.relnamespace = 'se_import'::regnamespace ORDER BY 1")
        mx.check_eq(tables, [('Weird "Retriever"; drop', ["retriever=ret_weird"]),
                             ("article_search", ["retriever=ret_articles"]),
                             ("big_search", ["retriever=ret_big"]),
                             ("x" * 63, ["retriever=ret_noname"])], "tables")
        cols = mx.query(su, "SELECT attname, format_type(atttypid, atttypmod), attfdwoptions "
                            "FROM pg_attribute WHERE attrelid = 'se_import.big_search'::regclass "
                            "AND attnum > 0 ORDER BY attnum LIMIT 4")
        mx.check_eq(cols, [("query", "text", ["input=query"]), ("rank", "integer", None),
                           ("score", "double precision", None), ("document_id", "text", None)],
                    "columns of big_search")
        log = [mx.req_path(r) for r in mx.mock_requests(since=seq)]
        mx.check_eq(log, ["/v1/retrievers/list?limit=100&offset=0"], "one list request")
        mx.query(su, "DROP SCHEMA se_import CASCADE")


if __name__ == "__main__":
    mx.main('test_search')
