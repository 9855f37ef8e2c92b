"""Path encoding, argument checks, keep-alive, duplicates and concurrency.

- ids with / ? # % .. . unicode spaces + reach exactly that document: the
  returned document_id and the raw path the mock received (each path
  segment percent-encoded; "." and ".." as %2E so that nothing normalises
  them); ids that look like other endpoints or queries reach nothing else;
- an empty id or collection -> 22023;
- keep-alive: 50 sequential calls in a session open at most 2 connections;
- mixpeek_documents() with duplicates, missing ids and NULLs returns exactly
  the distinct existing documents, asking for each distinct id once;
- concurrency: with 100 ms injected latency, 32 list requests of ids at
  max_concurrency 8 are in flight 8 at a time at the mock, never more (from
  when each arrived and was answered, not from gaps between arrivals; the
  mock holds each request until 8 are there, so the overlap does not depend
  on how fast the machine is)."""
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402
PREFIX = "/v1/collections/col_articles/documents/"


def encoded(segment):
    if segment.strip(".") == "":
        return "%2E" * len(segment)
    return urllib.parse.quote(segment, safe="")


def id_list(r):
    """The ids of an id lookup's list request (its "document_id in" filter)."""
    (test,) = r["body"]["filters"]["AND"]
    assert test["field"] == "document_id" and test["operator"] == "in"
    return test["value"]


def batch_with_latency(concurrency, n):
    """n list requests of 1,000 ids each."""
    ids = ["doc_%06d" % i for i in range(n * 1000)]
    mx.query(conn, "SET mixpeek.max_concurrency = %d" % concurrency)
    since = mx.mock_last_seq()
    with mx.Timer() as t:
        got = mx.scalar(conn, "SELECT count(*) FROM mixpeek_documents('col_big', %s)", (ids,))
    mx.query(conn, "RESET mixpeek.max_concurrency")
    mx.check_eq(got, n * 1000, "%d documents at max_concurrency %d" % (n * 1000, concurrency))
    log = mx.mock_requests(since=since)
    most = mx.max_in_flight(log)
    mx.log("  %d list requests, max_concurrency %d: %.0f ms, at most %d at once at the mock"
           % (len(log), concurrency, t.elapsed * 1000, most))
    return len(log), most


def setUpModule():
    global AWKWARD, conn
    conn = mx.setup_extension()
    mx.mock_reset()
    AWKWARD = {
        "doc/with/slash": "doc%2Fwith%2Fslash",
        "doc?x=1&y=2": "doc%3Fx%3D1%26y%3D2",
        "doc#frag": "doc%23frag",
        "100%": "100%25",
        "..": "%2E%2E",
        ".": "%2E",
        "ünïcødé-ид": encoded("ünïcødé-ид"),
        "a b": "a%20b",
        "plus+sign": "plus%2Bsign",
    }


def tearDownModule():
    mx.mock_reset()


class Paths(mx.TestCase):

    def test_01_awkward_ids_reach_exactly_their_document(self):
        """awkward ids reach exactly their document"""
        for ident, raw in AWKWARD.items():
            since = mx.mock_last_seq()
            got = mx.scalar(conn, "SELECT mixpeek_document('col_articles', %s)->>'document_id'", (ident,))
            mx.check_eq(got, ident, "document_id returned for %r" % ident)
            log = mx.mock_requests(since=since)
            mx.check_eq([(r["method"], r["path"], r["raw_query"]) for r in log],
                        [("GET", PREFIX + raw, "")], "raw request for %r" % ident)
            mx.log("  %-16r -> %s" % (ident, log[-1]["path"] if log else None))

    def test_02_the_same_ids_through_mixpeek_documents(self):
        """the same ids through mixpeek_documents()"""
        since = mx.mock_last_seq()
        rows = mx.query(conn, "SELECT d->>'document_id' FROM mixpeek_documents('col_articles', %s) d",
                        (list(AWKWARD),))
        mx.check_eq(sorted(r[0] for r in rows), sorted(AWKWARD), "documents returned")
        log = mx.mock_requests(since=since)
        mx.check_eq([r["path"] for r in log], [PREFIX + "list"], "one list request")
        mx.check_eq(id_list(log[0]), sorted(AWKWARD), "the ids in its body, as they are")

    def test_03_ids_shaped_like_other_endpoints_or(self):
        """ids shaped like other endpoints or queries reach nothing else"""
        tricks = ["../../collections/list", "../col_frames", "doc_flat_01/../doc_flat_02",
                  "doc_flat_01?return_vectors=true", "doc_flat_01#x", "./doc_flat_01",
                  "doc_flat_01%2F..", "%2E%2E", "doc_flat_01\\..", "doc_flat_01 ", "DOC_FLAT_01"]
        for ident in tricks:
            since = mx.mock_last_seq()
            got = mx.query(conn, "SELECT mixpeek_document('col_articles', %s)", (ident,))
            mx.check_eq(got, [(None,)], "%r is a missing document" % ident)
            log = mx.mock_requests(since=since)
            want = PREFIX + encoded(ident)
            mx.check_eq([(r["path"], r["raw_query"], r["status"]) for r in log], [(want, "", 404)],
                        "raw request for %r" % ident)
        # a collection that tries to climb out of its segment
        err = mx.expect_error(conn, "SELECT mixpeek_document('col_articles/documents/doc_flat_01/..', 'x')", None,
                              "42704", r"^Mixpeek returned HTTP 404 \(NotFoundError: .*\)$")
        if err is not None:
            mx.check_eq(err.context, "Mixpeek request GET "
                        "/v1/collections/col_articles%2Fdocuments%2Fdoc_flat_01%2F../documents/x",
                        "context: the request, its collection one segment")
        # collections by name, with quotes and a semicolon
        got = mx.scalar(conn, """SELECT mixpeek_document('Weird "Name"; drop', 'doc_weird_1')->>'title'""")
        mx.check_eq(got, "Robert'); DROP TABLE students;--", "collection by an awkward name")

    def test_04_empty_ids_and_collections_are_refused(self):
        """empty ids and collections are refused before any request"""
        since = mx.mock_last_seq()
        mx.expect_error(conn, "SELECT mixpeek_document('col_articles', '')", None, "22023",
                        r"^Mixpeek document id must not be empty$")
        mx.expect_error(conn, "SELECT mixpeek_document('', 'doc_flat_01')", None, "22023",
                        r"^Mixpeek collection must not be empty$")
        mx.expect_error(conn, "SELECT * FROM mixpeek_documents('', ARRAY['doc_flat_01'])", None, "22023",
                        r"^Mixpeek collection must not be empty$")
        mx.expect_error(conn, "SELECT * FROM mixpeek_documents('col_articles', ARRAY['doc_flat_01', ''])",
                        None, "22023", r"^Mixpeek document id must not be empty$")
        mx.check_eq(len(mx.mock_requests(since=since)), 0, "requests made for empty arguments")
        mx.check_eq(mx.query(conn, "SELECT mixpeek_document(NULL, 'x'), mixpeek_document('col_articles', NULL)"),
                    [(None, None)], "NULL arguments (STRICT)")

    def test_05_keep_alive_50_sequential_calls_in_one(self):
        """keep-alive: 50 sequential calls in one session"""
        c = mx.connect()
        before = mx.mock_stats()["connections"]
        for i in range(50):
            ident = "doc_flat_%02d" % (i % 5 + 1)
            got = mx.scalar(c, "SELECT mixpeek_document('col_articles', %s)->>'document_id'", (ident,))
            if got != ident:
                mx.check_eq(got, ident, "call %d" % i)
        opened = mx.mock_stats()["connections"] - before
        mx.log("  50 sequential calls (50 statements) opened %d TCP connection(s)" % opened)
        mx.check(1 <= opened <= 2, "50 sequential calls open 1-2 connections", opened)
        before = mx.mock_stats()["connections"]
        n = mx.scalar(c, "SELECT count(*) FROM generate_series(1, 50) i, "
                         "LATERAL (SELECT mixpeek_document('col_articles', 'doc_nested_0' || (i % 4 + 1))) d")
        mx.check_eq(n, 50, "50 calls in one statement")
        opened = mx.mock_stats()["connections"] - before
        mx.log("  50 calls in one statement opened %d more" % opened)
        mx.check(opened <= 1, "calls in one statement reuse the session's connection", opened)
        c.close()

    def test_06_mixpeek_documents_duplicates_missing_ids(self):
        """mixpeek_documents(): duplicates, missing ids and NULLs"""
        ids = ["doc_flat_01", None, "doc_flat_01", "missing_1", "doc_nested_02", "doc_flat_01", None,
               "missing_2", "doc_nested_02", "a b"]
        since = mx.mock_last_seq()
        rows = mx.query(conn, "SELECT d->>'document_id' FROM mixpeek_documents('col_articles', %s::text[]) d",
                        (ids,))
        mx.check_eq(sorted(r[0] for r in rows), ["a b", "doc_flat_01", "doc_nested_02"],
                    "exactly the distinct existing documents")
        asked = [id_list(r) for r in mx.mock_requests(since=since)]
        mx.check_eq(asked, [sorted(i for i in set(ids) if i is not None)], "each distinct id asked once")
        since = mx.mock_last_seq()
        mx.check_eq(mx.query(conn, "SELECT * FROM mixpeek_documents('col_articles', ARRAY[NULL, NULL]::text[])"),
                    [], "only NULLs: no rows")
        mx.check_eq(mx.query(conn, "SELECT * FROM mixpeek_documents('col_articles', '{}'::text[])"),
                    [], "empty array: no rows")
        mx.check_eq(len(mx.mock_requests(since=since)), 0, "no requests for no ids")
        rows = mx.query(conn, "SELECT d->>'document_id' FROM mixpeek_documents('col_articles', "
                              "ARRAY[['doc_flat_01', 'doc_flat_02'], ['doc_flat_03', 'doc_flat_02']]) d")
        mx.check_eq(sorted(r[0] for r in rows), ["doc_flat_01", "doc_flat_02", "doc_flat_03"],
                    "a two-dimensional array is read element by element")
        # the documents themselves are the same as one by one
        same = mx.scalar(conn, """SELECT bool_and(d = mixpeek_document('col_articles', d->>'document_id'))
                                  FROM mixpeek_documents('col_articles', ARRAY['doc_flat_01','doc_nested_01',
                                                         'doc_nested_06', '..', 'doc/with/slash']) d""")
        mx.check(same is True, "mixpeek_documents() rows equal mixpeek_document() of each id", same)

    def test_07_concurrency_32_ids_100_ms_latency_max(self):
        """concurrency: 32 list requests of ids, 100 ms latency, max_concurrency 8"""
        mx.mock_config(latency_ms=100, gather=mx.gather_config(8))
        try:
            alone = mx.mock_stats()["gather_timeouts"]
            n, most = batch_with_latency(8, 32)
            mx.check_eq(n, 32, "requests made")
            mx.check(most <= 8, "never more than 8 requests in flight", most)
            mx.check_eq(mx.mock_stats()["gather_timeouts"] - alone, 0,
                        "requests sent 8 at a time (none waited for others at the mock)")
            mx.check_eq(most, 8, "8 requests in flight at once")
            mx.mock_config(gather=None)
            n, most = batch_with_latency(1, 6)
            mx.check_eq(n, 6, "requests made at max_concurrency 1")
            mx.check_eq(most, 1, "max_concurrency 1: one request at a time")
        finally:
            mx.mock_config(latency_ms=0, gather=None)
        mx.check_eq(mx.mock_config()["latency_ms"], 0, "mock latency reset")


if __name__ == "__main__":
    mx.main('test_paths')
