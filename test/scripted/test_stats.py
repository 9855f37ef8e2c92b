"""mixpeek_stats: what the counters say against what the mock received.

A known workload per role and server (documents found and missing, a
transient 429, a persistent 500, paged list scans through a user mapping),
then every counter of the view is compared with the mock's own request log
and with the retries the faults imply.  Access: pg_read_all_stats may read
it, a plain role may not, only a superuser resets it, and no column shows a
key.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402


def stats(conn, where="TRUE"):
    return mx.query(conn, "SELECT coalesce(rolname, '-'), coalesce(servername, '-'), kind, requests, "
                          "retries, errors_4xx, errors_5xx, errors_network, rate_limited "
                          "FROM mixpeek_stats WHERE datname = current_database() AND " + where +
                          " ORDER BY 1, 2, 3")


def setUpModule():
    global RUN, su
    su = mx.setup_extension()
    RUN = str(os.getpid())
    with mx.case("setup: roles, a server with a user mapping, a paged table"):
        mx.query(su, "DROP SERVER IF EXISTS mx_stats CASCADE")
        mx.query(su, "DROP ROLE IF EXISTS mx_stats_alice; DROP ROLE IF EXISTS mx_stats_reader")
        mx.query(su, "CREATE ROLE mx_stats_alice LOGIN PASSWORD 'pw'; CREATE ROLE mx_stats_reader LOGIN PASSWORD 'pw' IN ROLE pg_read_all_stats")
        mx.query(su, "CREATE SERVER mx_stats FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (namespace 'default')")
        mx.query(su, "CREATE USER MAPPING FOR mx_stats_alice SERVER mx_stats OPTIONS (api_key 'sk_test_beta')")
        mx.query(su, "CREATE FOREIGN TABLE mx_stats_t (document_id text, category text) SERVER mx_stats "
                     "OPTIONS (collection 'col_articles', page_size '3')")
        mx.query(su, "GRANT SELECT ON mx_stats_t TO mx_stats_alice")
        mx.query(su, "GRANT EXECUTE ON FUNCTION mixpeek_document(text, text, boolean, boolean) TO mx_stats_alice")


def tearDownModule():
    with mx.case("clean up"):
        mx.query(su, "DROP SERVER mx_stats CASCADE")
        mx.query(su, "REVOKE EXECUTE ON FUNCTION mixpeek_document(text, text, boolean, boolean) FROM mx_stats_alice")
        mx.query(su, "DROP ROLE mx_stats_alice; DROP ROLE mx_stats_reader")


class Stats(mx.TestCase):

    def test_01_counters_equal_what_the_mock_received(self):
        """counters equal what the mock received"""
        mx.query(su, "SELECT mixpeek_stats_reset()")
        mx.check_eq(stats(su), [], "nothing after a reset")
        seq = mx.mock_last_seq()
        mx.query(su, "SET mixpeek.namespace = 'default'; SET mixpeek.max_retries = 2")
        mx.check_eq(mx.scalar(su, "SELECT count(mixpeek_document('col_articles', id)) FROM "
                                  "unnest(ARRAY['doc_flat_01', 'doc_nested_01', 'no_such_doc']) id"),
                    2, "two found, one missing")
        mx.check_eq(mx.scalar(su, "SELECT mixpeek_document('col_faults', %s) ->> 'ok'",
                              ("flaky-429-1-s%s" % RUN,)), "true", "a 429, then the document")
        mx.expect_error(su, "SELECT mixpeek_document('col_faults', 'status-500')", None, "HV000")
        alice = mx.connect(user="mx_stats_alice", password="pw")
        mx.check_eq(mx.scalar(alice, "SELECT count(*) FROM mx_stats_t"), 20, "alice's paged scan")
        alice.close()
        log = [r for r in mx.mock_requests(since=seq) if r["path"].startswith("/v1/")]
        gets = [r for r in log if r["method"] == "GET"]
        lists = [r for r in log if r["method"] == "POST"]
        mx.check_eq((len(gets), len(lists)), (3 + 2 + 3, 7), "the mock's log: 8 GETs, 7 list pages")
        got = stats(su)
        mx.check_eq(got, [
            ("mx_stats_alice", "mx_stats", "list_documents", 7, 0, 0, 0, 0, 0),
            ("postgres", "-", "get_document", 8, 3, 1, 3, 0, 1),
        ], "rows: (role, server, kind, requests, retries, 4xx, 5xx, network, 429)")
        nbytes = mx.scalar(su, "SELECT sum(bytes) FROM mixpeek_stats WHERE datname = current_database()")
        mx.check(nbytes is not None and nbytes > 1000, "bytes received are counted", nbytes)
        t = mx.query(su, "SELECT time_ms > 0, wait_ms > 0 FROM mixpeek_stats WHERE kind = 'get_document' "
                         "AND datname = current_database()")
        mx.check_eq(t, [(True, True)], "time spent and back-off waited")

    def test_02_who_may_read_and_reset_it(self):
        """who may read and reset it"""
        alice = mx.connect(user="mx_stats_alice", password="pw")
        # rows of two roles, also when this case runs alone
        mx.query(su, "SET mixpeek.namespace = 'default'")
        mx.query(su, "SELECT mixpeek_document('col_articles', 'doc_flat_01')")
        mx.query(alice, "SELECT count(*) FROM mx_stats_t")
        mx.expect_error(alice, "SELECT * FROM mixpeek_stats", None, "42501")
        mx.expect_error(alice, "SELECT * FROM mixpeek_stats()", None, "42501")
        mx.expect_error(alice, "SELECT mixpeek_stats_reset()", None, "42501")
        alice.close()
        reader = mx.connect(user="mx_stats_reader", password="pw")
        rows = mx.query(reader, "SELECT * FROM mixpeek_stats")
        mx.check(len(rows) >= 2, "pg_read_all_stats reads every row", len(rows))
        mx.check_no_keys(repr(rows), "the view's rows")
        mx.expect_error(reader, "SELECT mixpeek_stats_reset()", None, "42501")
        reader.close()


if __name__ == "__main__":
    mx.main('test_stats')
