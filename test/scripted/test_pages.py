"""List pages that grow, and pages split into their documents' text.

- page sizes on the wire: without a page_size of the table's own the first
  page asks for mixpeek.page_size documents and each next one for twice as
  many, up to 1,000; a table's page_size fixes every page; a LIMIT sent to
  the API is one page of that size; each execution of a prepared statement
  and each rescan of a nested loop starts small again; EXPLAIN ANALYZE
  counts the pages and requests;
- exact documents: bodies a real server may send (members in any order,
  whitespace, strings holding quotes, backslashes, brackets and the words
  "results" and "pagination", escapes, non-ASCII text, numbers past double
  precision) give byte for byte the documents Python's own parser reads;
- bodies of other shapes (a key spelt with escapes, "results" twice,
  members after the documents) are read as the JSON they are, and broken
  ones fail with the SQLSTATE and message of a body parsed whole: invalid
  JSON anywhere, a document that is not an object, too deep, invalid UTF-8,
  \\u0000, garbage after the object;
- one document at a time: a page whose last document is broken returns the
  rows before it, and the next page was asked for before that document was
  parsed;
- memory: a whole-document scan of 100,000 documents in pages that grow to
  1,000 keeps the backend's peak RSS growth within BOUND_KB."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402
import psycopg2  # noqa: E402
from capture import CaptureServer  # noqa: E402

BOUND_KB = 32768


def setUpModule():
    global conn, fdw_ok, fdw_why
    mx.setup_extension().close()
    fdw_ok, fdw_why = mx.fdw_usable()
    conn = mx.connect()
    mx.query(conn, "SET mixpeek.namespace = 'default'")
    if fdw_ok:
        mx.query(conn, """
            DROP SERVER IF EXISTS mx_tpages CASCADE;
            DROP SERVER IF EXISTS mx_tpages_cap CASCADE;
            CREATE SERVER mx_tpages FOREIGN DATA WRAPPER mixpeek_fdw;
            CREATE SERVER mx_tpages_cap FOREIGN DATA WRAPPER mixpeek_fdw
              OPTIONS (base_url 'http://127.0.0.1:1');
            CREATE USER MAPPING FOR CURRENT_USER SERVER mx_tpages_cap
              OPTIONS (api_key 'sk_test_alpha');
            CREATE FOREIGN TABLE tpages_grow (document_id text, document jsonb)
              SERVER mx_tpages_cap OPTIONS (collection 'col_cap');
            CREATE FOREIGN TABLE tpages_fixed (document_id text)
              SERVER mx_tpages_cap OPTIONS (collection 'col_cap', page_size '300');
            CREATE FOREIGN TABLE tpages_big (document_id text, document jsonb)
              SERVER mx_tpages OPTIONS (collection 'col_big');""")


def tearDownModule():
    if fdw_ok:
        mx.query(conn, "DROP SERVER IF EXISTS mx_tpages CASCADE; "
                       "DROP SERVER IF EXISTS mx_tpages_cap CASCADE")
    mx.mock_reset()
    conn.close()


def point_at(cap):
    mx.query(conn, "ALTER SERVER mx_tpages_cap OPTIONS (SET base_url %s)", (cap.url,))


def limits(cap):
    return [int(r["query"]["limit"]) for r in cap.requests() if "/documents/list" in r["path"]]


def explain_analyze(sql):
    rows = mx.query(conn, "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql)
    text = "\n".join(r[0] for r in rows)
    found = {k: int(v) for k, v in re.findall(r"Remote (Pages|Requests): (\d+)", text)}
    return found, text


class FdwCase(mx.TestCase):
    """A case that needs foreign scans."""

    def setUp(self):
        super().setUp()
        if not fdw_ok:
            raise mx.Skip(fdw_why)


class Growth(FdwCase):

    def test_01_sizes(self):
        """pages grow from mixpeek.page_size to 1,000; a table's page_size and a LIMIT fix them"""
        with CaptureServer(pages=1, page_size=4650) as cap:
            point_at(cap)
            mx.check_eq(mx.scalar(conn, "SELECT count(DISTINCT document_id) FROM tpages_grow"),
                        4650, "every document once")
            mx.check_eq(limits(cap), [100, 200, 400, 800, 1000, 1000, 1000, 1000],
                        "limits from the default first page")
            cursors = [(r["json"] or {}).get("cursor") for r in cap.requests()]
            mx.check(cursors[0] is None and all(cursors[1:]), "every later page follows the cursor",
                     cursors)

            cap.clear()
            mx.query(conn, "SET mixpeek.page_size = 250")
            mx.check_eq(mx.scalar(conn, "SELECT count(*) FROM tpages_grow"), 4650, "rows, first page 250")
            mx.query(conn, "RESET mixpeek.page_size")
            mx.check_eq(limits(cap), [250, 500, 1000, 1000, 1000, 1000], "limits from 250")

            cap.clear()
            mx.query(conn, "SET mixpeek.page_size = 1000")
            mx.check_eq(mx.scalar(conn, "SELECT count(*) FROM tpages_fixed"), 4650,
                        "rows, table page_size 300")
            mx.query(conn, "RESET mixpeek.page_size")
            mx.check_eq(limits(cap), [300] * 16, "a table's page_size fixes every page")

            cap.clear()
            mx.check_eq(mx.scalar(conn, "SELECT count(*) FROM (SELECT * FROM tpages_grow LIMIT 150) s"),
                        150, "rows of LIMIT 150")
            mx.check_eq(limits(cap), [150], "a LIMIT sent to the API: one page of that size")

    def test_02_restarts(self):
        """each execution and each rescan starts with a small page again"""
        with CaptureServer(pages=1, page_size=450) as cap:
            point_at(cap)
            mx.query(conn, "PREPARE tpages_all AS SELECT count(*) FROM tpages_grow")
            for i in range(2):
                cap.clear()
                mx.check_eq(mx.scalar(conn, "EXECUTE tpages_all"), 450, "execution %d: rows" % (i + 1))
                mx.check_eq(limits(cap), [100, 200, 400], "execution %d: limits" % (i + 1))
            mx.query(conn, "DEALLOCATE tpages_all")

            cap.clear()
            rows = mx.query(conn, """
                SELECT n, (SELECT count(*) FROM tpages_grow g
                           WHERE g.document_id || '' > 'doc_' || n) AS after
                FROM (VALUES ('0100'), ('0300')) v(n) ORDER BY n""")
            mx.check_eq(rows, [("0100", 349), ("0300", 149)], "a subplan run twice: rows")
            mx.check_eq(limits(cap), [100, 200, 400] * 2, "a subplan run twice: limits")

    def test_02b_savepoint(self):
        """a page lost with a rolled-back subtransaction is asked for again at its size"""
        with CaptureServer(pages=1, page_size=450) as cap:
            point_at(cap)
            mx.query(conn, "BEGIN")
            try:
                mx.query(conn, "DECLARE tpages_sp CURSOR FOR SELECT document_id FROM tpages_grow")
                mx.query(conn, "SAVEPOINT tpages_sp")
                first = mx.query(conn, "FETCH 1 FROM tpages_sp")
                # the page after the first was asked for in the subtransaction
                mx.query(conn, "ROLLBACK TO SAVEPOINT tpages_sp")
                rest = mx.query(conn, "FETCH ALL FROM tpages_sp")
            finally:
                mx.query(conn, "COMMIT")
            ids = [r[0] for r in first + rest]
            mx.check_eq((len(ids), len(set(ids))), (450, 450), "every row once")
            got = limits(cap)
            # the lost request may or may not have reached the listener
            mx.check(got in ([100, 200, 400], [100, 200, 200, 400]),
                     "the lost page asked for again with its own limit", got)

    def test_03_explain(self):
        """EXPLAIN ANALYZE counts the pages and requests of pages that grow"""
        with CaptureServer(pages=1, page_size=2400) as cap:
            point_at(cap)
            found, text = explain_analyze("SELECT document_id FROM tpages_grow")
            mx.check_eq(found, {"Requests": 5, "Pages": 5}, "pages and requests of 2,400 documents")
            mx.check("Remote Request: POST /v1/collections/col_cap/documents/list?limit=100" in text,
                     "the plan shows the first page's request", text)
            mx.check_eq(limits(cap), [100, 200, 400, 800, 1000], "limits seen")

    def test_04_mock_offset(self):
        """by offset (the mock): offsets count the documents received, pages grow"""
        mx.mock_reset()
        mx.query(conn, """
            DROP SERVER IF EXISTS mx_tpages_off CASCADE;
            CREATE SERVER mx_tpages_off FOREIGN DATA WRAPPER mixpeek_fdw
              OPTIONS (namespace 'offset');
            CREATE FOREIGN TABLE tpages_off (document_id text)
              SERVER mx_tpages_off OPTIONS (collection 'col_big');""")
        try:
            rows = mx.query(conn, """SELECT count(*), count(DISTINCT document_id) FROM
                (SELECT document_id FROM tpages_off WHERE document_id || '' <> '' LIMIT 3000) s""")
            mx.check_eq(rows, [(3000, 3000)], "3,000 distinct documents")
            reqs = [r for r in mx.mock_requests() if "/documents/list" in mx.req_path(r)]
            got = [(int(r["query"]["limit"]), int(r["query"].get("offset", 0))) for r in reqs]
            mx.check_eq(got[:6], [(100, 0), (200, 100), (400, 300), (800, 700),
                                  (1000, 1500), (1000, 2500)], "limits and offsets")
        finally:
            mx.query(conn, "DROP SERVER mx_tpages_off CASCADE")


# documents whose text tests the split: quotes, backslashes, brackets, the
# member names in strings and as keys, escapes, non-ASCII, long numbers
TRICKY = [
    '{"document_id": "t0", "s": "a \\"quoted\\" ]} word", "n": 12345678901234567890.123456789012345678901}',
    '{"document_id":"t1","s":"ends with a backslash \\\\","results":[1,2,{"pagination":{"next_cursor":"no"}}]}',
    '{ "document_id" : "t2" , "s" : "\\\\\\"" , "deep" : [[[{"a":[{"b":"]}]}"}]}]]] }',
    '{"document_id": "t3", "s": "caf\u00e9 \\u00e9 \\ud83d\\ude00 \U0001F600", "e": 1e400, "z": -0.0}',
    '{"document_id": "t4", "pagination": "not the page\'s", "s": "\\"pagination\\": {\\"next_cursor\\": \\"x\\"}"}',
    '{"document_id": "t5", "empty": {}, "list": [], "t": true, "f": false, "null": null}',
]


def raw_pages(bodies):
    """A handler answering a list request with bodies[0] (raw text), or
    with bodies[k] for the cursor "ck"."""
    def handler(method, path, query, headers, body):
        if "/documents/list" not in path:
            return None
        cursor = (json.loads(body or "{}") or {}).get("cursor")
        return 200, None, bodies[int(cursor[1:]) if cursor else 0]
    return handler


def page(docs, cursor=None, before="", after="", pagination_first=False):
    pag = '"pagination": {"next_cursor": %s, "has_more": %s}' % (
        json.dumps(cursor), "true" if cursor else "false")
    res = '"results": [\n  ' + ",\n  ".join(docs) + "\n]"
    parts = [pag, res] if pagination_first else [res, pag]
    return "{" + before + ", ".join(parts) + after + "}"


class Split(FdwCase):

    def read_all(self, bodies, what, sql="SELECT document_id, document::text FROM tpages_grow"):
        """(rows or the ERROR, requests) of one run of sql over bodies."""
        with CaptureServer(handler=raw_pages(bodies)) as cap:
            point_at(cap)
            try:
                return mx.query(conn, sql), cap.requests()
            except psycopg2.Error as exc:
                return mx.Err(exc), cap.requests()

    def same_documents(self, rows, docs, what):
        if not mx.check(isinstance(rows, list), "%s: rows" % what, rows):
            return
        mx.check_eq([r[0] for r in rows], [json.loads(d)["document_id"] for d in docs],
                    "%s: document ids in order" % what)
        for (doc_id, got), want in zip(rows, docs):
            # jsonb's own reading of the document's text, every digit kept
            same = mx.scalar(conn, "SELECT %s::jsonb = %s::jsonb", (got, want))
            mx.check(same, "%s: %s exactly as sent" % (what, doc_id), got)

    def test_01_exact(self):
        """documents with tricky text come out exactly, in both member orders"""
        bodies = [page(TRICKY[:3], cursor="c1", before=' "stats" : {"x": [1, {"y": "]"}]}, '),
                  page(TRICKY[3:], pagination_first=True,
                       after=', "took_ms": 3.25, "notes": ["results", {"results": []}]')]
        rows, reqs = self.read_all(bodies, "tricky")
        self.same_documents(rows, TRICKY, "tricky")
        mx.check_eq([(r["json"] or {}).get("cursor") for r in reqs], [None, "c1"],
                    "the cursor found after the documents is followed")
        rows, _ = self.read_all(bodies, "digits", "SELECT document->>'n', document->>'e' FROM tpages_grow "
                                "WHERE document_id || '' = 't0' OR document_id || '' = 't3'")
        mx.check_eq(rows, [("12345678901234567890.123456789012345678901", None), (None, "1" + "0" * 400)],
                    "every digit of a number")

    def test_02_other_shapes(self):
        """a key with escapes, "results" twice, a page without pagination"""
        docs = ['{"document_id": "a"}', '{"document_id": "b"}']
        rows, _ = self.read_all(['{"r\\u0065sults": [%s], "pagination": {"next_cursor": null}}'
                                 % ", ".join(docs)], "escaped key")
        self.same_documents(rows, docs, "a key spelt with an escape")
        rows, _ = self.read_all(['{"results": [{"document_id": "old"}], "results": [%s]}'
                                 % ", ".join(docs)], "twice")
        self.same_documents(rows, docs, "\"results\" twice: the last one counts")
        rows, _ = self.read_all(['{"results": [{"document_id": "old"}], "results": null}'], "then null")
        mx.check_eq(rows, [], "\"results\" twice, the last one null: no document")
        rows, _ = self.read_all(['{"results": null}'], "null")
        mx.check_eq(rows, [], "\"results\": null is no document")
        rows, _ = self.read_all(['  {"results": []}\n'], "empty")
        mx.check_eq(rows, [], "an empty page")

    def test_03_broken(self):
        """a broken body fails with the error of a body parsed whole"""
        INVALID = r"^Mixpeek sent an invalid response$"
        UNEXPECTED = r"^unexpected response from Mixpeek$"
        ok = '{"document_id": "ok"}'
        cases = [
            ("garbage after the object", page([ok]) + " x", "HV00A", INVALID, r"invalid input syntax"),
            ("an array, not an object", "[" + page([ok]) + "]", "HV00A", INVALID, r"not an object"),
            ("a broken document", page([ok, '{"document_id": "b", "n": 1x}']), "HV00A", INVALID,
             r"invalid input syntax"),
            ("an unterminated document", '{"results": [{"document_id": "b"', "HV00A", INVALID,
             r"invalid input syntax"),
            ("a document with \\u0000", page([ok, '{"document_id": "n", "s": "a\\u0000b"}']), "HV00A",
             INVALID, r"\\u0000|Unicode"),
            ("a control character in a string", page([ok, '{"document_id": "c", "s": "a\tb"}']),
             "HV00A", INVALID, r"invalid input syntax"),
            ("a document nested too deep", page([ok, '{"document_id": "d", "x": ' + "[" * 5000 + "]" * 5000 + "}"]),
             "HV00A", INVALID, r"more than \d+ levels"),
            ("invalid UTF-8 in a document", page([ok, '{"document_id": "u", "s": "\xff"}']).encode("latin-1"),
             "HV00A", INVALID, r"UTF-8"),
            ("broken pagination", '{"results": [%s], "pagination": {"next_cursor": nul}}' % ok, "HV00A",
             INVALID, r"invalid input syntax"),
            ("a document that is not an object", page([ok, "1"]), "HV00A", UNEXPECTED,
             r"not an object"),
            ("\"results\" not an array", '{"results": {"document_id": "x"}}', "HV00A", UNEXPECTED,
             r"\"results\" is not an array"),
        ]
        for what, body, state, msg_rx, detail_rx in cases:
            err, _ = self.read_all([body], what)
            if not mx.check(isinstance(err, mx.Err), "%s: an ERROR" % what, err):
                continue
            mx.check_eq(err.sqlstate, state, "%s: SQLSTATE (%s)" % (what, err.message))
            mx.check(re.search(msg_rx, err.message), "%s: message /%s/" % (what, msg_rx), err.message)
            mx.check(re.search(detail_rx, err.detail), "%s: detail /%s/" % (what, detail_rx), err.detail)
            mx.check("Mixpeek request POST /v1/collections/col_cap/documents/list" in err.context,
                     "%s: the context names the request" % what, err.context)

    def test_04_one_document_at_a_time(self):
        """rows before a broken document are returned; the next page was asked for first"""
        docs = ['{"document_id": "d%02d"}' % i for i in range(49)] + ['{"document_id": "bad", "n": 1x}']
        bodies = [page(docs, cursor="c1"), page(['{"document_id": "p2"}'])]
        with CaptureServer(handler=raw_pages(bodies)) as cap:
            point_at(cap)
            mx.query(conn, "BEGIN")
            try:
                mx.query(conn, "DECLARE tpages_c CURSOR FOR SELECT document_id FROM tpages_grow")
                rows = mx.query(conn, "FETCH 49 FROM tpages_c")
                mx.check_eq([r[0] for r in rows], ["d%02d" % i for i in range(49)],
                            "the 49 rows before the broken document")
                err = mx.run_error(conn, "FETCH 1 FROM tpages_c")
                mx.check(err is not None and err.sqlstate == "HV00A",
                         "the broken document is the ERROR when it is read", err)
            finally:
                mx.query(conn, "ROLLBACK")
            # sent while the rows were read; the listener may still be taking it in
            mx.wait_until(lambda: len(cap.requests()) >= 2, 30)
            mx.check_eq([(r["json"] or {}).get("cursor") for r in cap.requests()], [None, "c1"],
                        "page 2 was asked for before page 1's documents were parsed")


class Memory(FdwCase):

    def test_01_whole_documents(self):
        """100,000 whole documents in pages that grow: bounded peak RSS"""
        mx.mock_reset()
        mx.mock_config(result_cap=None)
        c = mx.connect()
        try:
            mx.query(c, "SET mixpeek.namespace = 'default'")
            mx.query(c, "SELECT count(*) FROM (SELECT * FROM tpages_big LIMIT 1) s")
            before = mx.peak_rss_kb(mx.pid(c))
            rows = mx.query(c, "SELECT count(*), sum(length(document::text)) > 0 FROM tpages_big")
            after = mx.peak_rss_kb(mx.pid(c))
            mx.check_eq(rows, [(100000, True)], "every document")
            if before is not None and after is not None:
                mx.log("  peak RSS growth: %d kB" % (after - before))
                mx.check(after - before <= BOUND_KB, "peak RSS growth within %d kB" % BOUND_KB,
                         after - before)
            reqs = [r for r in mx.mock_requests() if "/documents/list" in mx.req_path(r)]
            mx.check_eq(len(reqs), 1 + 103, "requests: one for LIMIT 1, then 103 pages that grow")
        finally:
            c.close()
            mx.mock_reset()


if __name__ == "__main__":
    mx.main("test_pages")
