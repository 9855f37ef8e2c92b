"""IMPORT FOREIGN SCHEMA against collection lists a server crafts, served by
a loopback listener of this test:

- a cursor cycle A -> B -> A is an ERROR (HV00A) after three requests, in
  well under a second and without the backend growing;
- the cursor goes back as the query parameter `cursor`, percent-encoded,
  and the body stays {} (the API ignores a cursor in the body);
- a list that hands out new cursors forever stops at 1000 pages (HV000),
  and its pages together may not pass mixpeek.max_response_bytes (HV00A);
- a collection or field that PostgreSQL cannot take (system column names,
  names equal once cut to 63 bytes, 2000 fields, control characters, an
  empty or missing id, a standard column's name, a repeated key, a table
  name taken by another collection) is skipped or renamed with one NOTICE
  that names the collection, the field and why; the rest is imported with
  exactly the expected columns;
- arrays nested in "results" or in a field's schema do not shift which
  fields go to which collection.
"""
import json
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402
from capture import CaptureServer  # noqa: E402

STANDARD = [
    ("document_id", "text"), ("collection_id", "text"), ("root_object_id", "text"),
    ("root_bucket_id", "text"), ("source_type", "text"), ("source_collection_id", "text"),
    ("source_document_id", "text"), ("source_object_id", "text"), ("lineage_path", "text"),
    ("lineage_chain", "jsonb"), ("source_blobs", "jsonb"), ("document_blobs", "jsonb"),
    ("internal_metadata", "jsonb"), ("created_at", "timestamp with time zone"),
    ("updated_at", "timestamp with time zone"), ("modality", "text"), ("mime_type", "text"),
    ("vector", "real[]"), ("presigned_url", "text"), ("presigned_urls", "jsonb"),
    ("document", "jsonb"),
]
TYPES = {"string": "text", "integer": "bigint", "number": "double precision",
         "boolean": "boolean", "datetime": "timestamp with time zone", "object": "jsonb",
         "array": "jsonb"}


class Listener:
    """Answers POST /v1/collections/list with serve(cursor) as JSON (a dict,
    or a str sent as is); `requests` are (raw query, query dict, body text)
    of each such request since the last reset.  The cursor is read from the
    query, and from the body too when body_cursor is set, so that a cycle is
    a cycle however it is sent.  A documents/list of collection c gets one
    page of documents[c].  Built on the capture listener (capture.py)."""

    def __init__(self):
        self.serve = None
        self.body_cursor = False
        self.documents = {}
        self.cap = CaptureServer(handler=self._answer).start()
        self.url = self.cap.url

    def _answer(self, method, path, query, headers, body):
        segs = [urllib.parse.unquote(s) for s in path.split("/")]
        if segs[-2:] == ["documents", "list"]:
            return 200, {}, page(self.documents.get(segs[3], []))
        cursor = query.get("cursor")
        if cursor is None and self.body_cursor:
            try:
                cursor = json.loads(body).get("cursor")
            except ValueError:
                pass
        return 200, {}, self.serve(cursor)

    @property
    def requests(self):
        return [(r["raw_query"], r["query"], r["body"]) for r in self.cap.requests()
                if r["path"] == "/v1/collections/list"]

    def stop(self):
        self.cap.stop()

    def reset(self, serve, body_cursor=False):
        self.serve = serve
        self.body_cursor = body_cursor
        self.cap.clear()


def collection(cid, name, fields):
    """A collection of the list; fields: (name, type) in order."""
    return {"collection_id": cid, "collection_name": name,
            "output_schema": {"properties": {f: {"type": t} for f, t in fields}}}


def page(results, next_cursor=None):
    return {"results": results, "pagination": {"next_cursor": next_cursor,
                                               "has_more": next_cursor is not None}}


def import_into(schema, sql_tail=""):
    """Run the import into a fresh schema in a new session; (Err or None,
    notices, seconds, backend peak growth in kB or None)."""
    mx.query(setup, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s" % (schema, schema))
    c = mx.connect()
    c.notices = []
    mx.query(c, "SET statement_timeout = '20s'" + sql_tail)
    backend = mx.pid(c)
    before = mx.peak_rss_kb(backend)
    t0 = time.monotonic()
    err = mx.run_error(c, "IMPORT FOREIGN SCHEMA x FROM SERVER mx_timp INTO %s" % schema)
    elapsed = time.monotonic() - t0
    after = mx.peak_rss_kb(backend)
    growth = after - before if before is not None and after is not None else None
    notices = list(c.notices)
    c.close()
    return err, notices, elapsed, growth


def tables(schema):
    return [r[0] for r in mx.query(setup, """
        SELECT c.relname FROM pg_class c
        WHERE c.relnamespace = %s::regnamespace ORDER BY c.relname COLLATE "C" """, (schema,))]


def columns(schema, table):
    """(name, type, fdw options or None) of every column, in order."""
    return [(n, t, o) for n, t, o in mx.query(setup, """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attfdwoptions
        FROM pg_attribute a
        WHERE a.attrelid = to_regclass(format('%%I.%%I', %s::text, %s::text))
          AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum""", (schema, table))]


def expect_columns(schema, table, fields):
    """fields: (column, type) or (column, type, field option) after the standard ones."""
    want = [(n, t, None) for n, t in STANDARD]
    for f in fields:
        want.append((f[0], f[1], ["field=" + f[2]] if len(f) > 2 else None))
    got = columns(schema, table)
    if not mx.check_eq(len(got), len(want), "%s.%s: number of columns" % (schema, table)):
        return
    for g, w in zip(got, want):
        if not mx.check_eq(g, w, "%s.%s: column" % (schema, table)):
            return


def expect_notices(notices, patterns):
    """Each pattern matches exactly one NOTICE, and every NOTICE one pattern."""
    for p in patterns:
        hits = [n for n in notices if re.search(p, n, re.S)]
        mx.check_eq(len(hits), 1, "one NOTICE matching /%s/" % p)
    for n in notices:
        mx.check(any(re.search(p, n, re.S) for p in patterns), "an expected NOTICE", n)

A63 = "a" * 63
LONG_DOTTED = "x." + "y" * 70
WIDE = [("f%04d" % i, "string") for i in range(2000)]


def setUpModule():
    global listener, setup
    mx.setup_extension().close()
    fdw_ok, fdw_why = mx.fdw_usable()
    if not fdw_ok:
        raise mx.Skip("the FDW is not usable (%s)" % fdw_why)
    listener = Listener()
    setup = mx.connect()
    mx.query(setup, "DROP SERVER IF EXISTS mx_timp CASCADE")
    mx.query(setup, "CREATE SERVER mx_timp FOREIGN DATA WRAPPER mixpeek_fdw "
                    "OPTIONS (base_url %s, namespace 'ns_import')", (listener.url,))
    # the settings key is not sent to a server with its own base_url
    mx.query(setup, "CREATE USER MAPPING FOR CURRENT_USER SERVER mx_timp "
                    "OPTIONS (api_key 'sk_test_alpha')")


def tearDownModule():
    mx.query(setup, "DROP SCHEMA IF EXISTS timp_cycle, timp_query, timp_endless, timp_bytes, "
                    "timp_odd, timp_nested CASCADE")
    mx.query(setup, "DROP SERVER mx_timp CASCADE")
    setup.close()
    listener.stop()


class Import(mx.TestCase):

    def test_01_a_cursor_cycle_a_b_a_is_an_error_after(self):
        """a cursor cycle A -> B -> A is an error after three pages"""
        nexts = {None: "A", "A": "B", "B": "A"}
        listener.reset(lambda cur: page([collection("col_" + (cur or "0"), "t_" + (cur or "0"),
                                                    [("f", "string")])], nexts[cur]),
                       body_cursor=True)
        err, notices, elapsed, growth = import_into("timp_cycle")
        if mx.check(err is not None, "the import fails"):
            mx.check_eq(err.sqlstate, "HV00A", "SQLSTATE (%s)" % err.message)
            mx.check_eq(err.message, "unexpected response from Mixpeek", "message")
            mx.check(err.context.startswith("Mixpeek request POST /v1/collections/list"),
                     "context names the request", err.context)
            mx.check_eq(err.detail, "The next cursor was already followed in this import.", "detail")
        mx.check_eq(len(listener.requests), 3, "requests: the first page, A, B")
        # three pages and no wait take milliseconds; the bound only tells an
        # import that ends from one the statement_timeout (20 s) ends, with
        # room for a starved machine
        mx.check(elapsed < 10, "ends at once (%.2f s)" % elapsed, elapsed)
        mx.log("  %.3f s, backend peak grew %s kB" % (elapsed, growth))
        if growth is not None:
            mx.check(growth < 32 * 1024, "the backend grows by less than 32 MB", growth)
        mx.check_eq(tables("timp_cycle"), [], "no table is created")

    def test_02_the_cursor_is_a_query_parameter_percent(self):
        """the cursor is a query parameter, percent-encoded; the body stays {}"""
        odd = "c/1+2=3&limit=7 %é?#"
        listener.reset(lambda cur: page([collection("col_p1", "p1", [("f", "string")])], odd)
                       if cur is None else
                       page([collection("col_p2", "p2", [("g", "integer")])]) if cur == odd else
                       page([], "unexpected"))
        err, notices, elapsed, growth = import_into("timp_query")
        mx.check(err is None, "the import succeeds", err)
        reqs = listener.requests
        mx.check_eq(len(reqs), 2, "two requests")
        if len(reqs) == 2:
            mx.check_eq(reqs[0][1], {"limit": "100"}, "first page: query")
            mx.check_eq(reqs[1][1], {"limit": "100", "cursor": odd}, "second page: query, decoded")
            mx.check_eq(reqs[1][0], "limit=100&cursor=" + urllib.parse.quote(odd, safe=""),
                        "second page: raw query")
            mx.check_eq([json.loads(r[2]) for r in reqs], [{}, {}], "bodies")
        mx.check_eq(tables("timp_query"), ["p1", "p2"], "both pages imported")
        expect_columns("timp_query", "p2", [("g", "bigint")])

    def test_03_new_cursors_forever_stop_at_1000_pages(self):
        """new cursors forever stop at 1000 pages"""
        listener.reset(lambda cur: page([], "n%d" % (int((cur or "n0")[1:]) + 1)), body_cursor=True)
        err, notices, elapsed, growth = import_into("timp_endless")
        if mx.check(err is not None, "the import fails"):
            mx.check_eq(err.sqlstate, "HV000", "SQLSTATE (%s)" % err.message)
            mx.check_eq(err.message, "Mixpeek's collection list has more than 1000 pages", "message")
        mx.check_eq(len(listener.requests), 1000, "requests")
        mx.log("  %.2f s for 1000 pages" % elapsed)

    def test_04_the_pages_together_count_against_mixpeek(self):
        """the pages together count against mixpeek.max_response_bytes"""
        filler = "x" * (300 * 1024)

        def big_pages(cur):
            n = int(cur or "0")
            coll = collection("col_big_%d" % n, "big_%d" % n, [("f", "string")])
            coll["description"] = filler
            return page([coll], str(n + 1) if n < 9 else None)

        listener.reset(big_pages, body_cursor=True)
        err, notices, elapsed, growth = import_into("timp_bytes", "; SET mixpeek.max_response_bytes = '1MB'")
        if mx.check(err is not None, "the import fails"):
            mx.check_eq(err.sqlstate, "HV00A", "SQLSTATE (%s)" % err.message)
            mx.check_eq(err.message, "Mixpeek's collection list is larger than mixpeek.max_response_bytes",
                        "message")
        mx.check_eq(len(listener.requests), 4, "requests: the fourth page passes 1 MB")

    def test_05_odd_collections(self):
        """odd collections: each skipped or renamed with its NOTICE"""
        PLAIN = collection("col_plain", "plain", [("title", "string"), ("n", "integer")])
        # Each odd item alone aborted the whole import, or went wrong without a
        # word: (what, collections, {table: columns after the standard ones},
        # NOTICE patterns, (scan, rows) or None).  The plain collection next to it
        # must come through untouched.
        ODD = [
            ("system column names, and a field named like a renamed one",
             [collection("col_sys", "sys", [("ctid", "string"), ("xmin", "number"),
                                            ("tableoid", "integer"), ("ctid_1", "string"),
                                            ("ok", "boolean")])],
             {"sys": [("ctid_1", "text", "ctid"), ("xmin_1", "double precision", "xmin"),
                      ("tableoid_1", "bigint", "tableoid"), ("ctid_1_1", "text", "ctid_1"),
                      ("ok", "boolean")]},
             [r'field "ctid" of collection "sys" is imported as column "ctid_1"\n.*'
              r'DETAIL:  "ctid" is the name of a system column\.',
              r'field "xmin" of collection "sys" is imported as column "xmin_1"\n.*DETAIL:  "xmin" is',
              r'field "tableoid" of collection "sys" is imported as column "tableoid_1"',
              r'field "ctid_1" of collection "sys" is imported as column "ctid_1_1"\n.*'
              r'DETAIL:  Another field is imported as column "ctid_1"\.'],
             ("SELECT ctid_1, xmin_1, tableoid_1, ctid_1_1, ok FROM timp_odd.sys",
              {"col_sys": [{"document_id": "d1", "ctid": "c", "xmin": 1.5, "tableoid": 7,
                            "ctid_1": "c1", "ok": True}]},
              [("c", 1.5, 7, "c1", True)])),
            ("names equal once cut to 63 bytes; a long name with a dot",
             [collection("col_long", "long", [(A63 + "_one", "string"), (A63 + "_two", "integer"),
                                              (LONG_DOTTED, "string"), ("a.b", "string")])],
             {"long": [(A63, "text", A63 + "_one"), ("a" * 61 + "_1", "bigint", A63 + "_two"),
                       ("a.b", "text")]},
             [r'field "%s_one" of collection "long" is imported as column "%s"\n.*'
              r'DETAIL:  A column name has at most 63 bytes\.' % (A63, A63),
              r'field "%s_two" of collection "long" is imported as column "%s_1"\n.*'
              r'DETAIL:  Another field is imported as column "%s"\.' % (A63, "a" * 61, A63),
              r'skipping field "%s" of collection "long"\n.*DETAIL:  A column name has at most 63 '
              r'bytes\. Its name contains "\."' % re.escape(LONG_DOTTED)],
             ('SELECT %s, %s, "a.b" FROM timp_odd.long' % (A63, "a" * 61 + "_1"),
              {"col_long": [{"document_id": "d2", A63 + "_one": "one", A63 + "_two": 2, "a.b": "ab"}]},
              [("one", 2, "ab")])),
            ("2000 fields",
             [collection("col_wide", "wide", WIDE)],
             {"wide": [(f, "text") for f, _ in WIDE[:1600 - len(STANDARD)]]},
             [r'skipping 421 fields of collection "wide"\n.*DETAIL:  A table has at most 1600 columns; '
              r'the first field left out is "f1579"\.'],
             None),
            ("control characters in an id, a name, a field",
             [collection("col\nnewline", "newline_id", [("f", "string")]),
              collection("col_tab_name", "tab\tname", [("f", "string")]),
              collection("col_fields", "fields", [("bad\nfield", "string"), ("good", "string")])],
             {"fields": [("good", "text")]},
             [r'skipping collection "newline_id"\n.*DETAIL:  Its collection_id "col\\nnewline" '
              r'contains control characters\.',
              r'skipping collection "tab\\tname"\n.*DETAIL:  Its name contains control characters\.',
              r'skipping field "bad\\nfield" of collection "fields"\n.*DETAIL:  Its name contains control'],
             None),
            ("an empty field name, standard column names",
             [collection("col_std", "std", [("", "string"), ("document_id", "string"),
                                            ("document", "object"), ("good", "string")])],
             {"std": [("good", "text")]},
             [r'skipping field "" of collection "std"\n.*DETAIL:  Its name is empty\.',
              r'skipping field "document_id" of collection "std"\n.*DETAIL:  The standard column '
              r'"document_id" reads it\.',
              r'skipping field "document" of collection "std"\n.*DETAIL:  The column "document" holds'],
             None),
            ("two collections of one name, a long name, no id",
             [collection("col_plain_again", "plain", [("other", "string")]),
              collection("col_long_name", "L" * 70, [("z", "string")]),
              collection("", "no_id", [("z", "string")])],
             {"L" * 63: [("z", "text")]},
             [r'skipping collection "plain"\n.*DETAIL:  Another collection is imported as table "plain"\.',
              r'collection "L{70}" is imported as table "L{63}"\n.*DETAIL:  A table name has at most 63',
              r'skipping collection "no_id"\n.*DETAIL:  It has no collection_id\.'],
             None),
            ("a key the body repeats (jsonb keeps the last value, the order the first)",
             [collection("col_dupe", "dupe", [("DUPE_PLACEHOLDER", "string")])],
             {"dupe": [("dupe", "bigint"), ("other", "bigint")]},
             [],
             None),
        ]
        for what, colls, want, patterns, scan in ODD:
            with mx.case("odd collections: " + what):
                text = json.dumps(page([PLAIN] + colls)).replace(
                    '{"DUPE_PLACEHOLDER": {"type": "string"}}',
                    '{"dupe": {"type": "string"}, "other": {"type": "integer"}, '
                    '"dupe": {"type": "integer"}}')
                listener.reset(lambda cur, text=text: text)
                err, notices, elapsed, growth = import_into("timp_odd")
                mx.check(err is None, "the import succeeds", err)
                mx.check_eq(tables("timp_odd"), sorted(["plain"] + list(want)), "tables")
                expect_columns("timp_odd", "plain", [("title", "text"), ("n", "bigint")])
                for table, fields in want.items():
                    expect_columns("timp_odd", table, fields)
                expect_notices(notices, patterns)
                if scan is not None and err is None:
                    sql, listener.documents, rows = scan
                    mx.check_eq(mx.query(setup, sql), rows, "the columns read their fields")

    def test_06_arrays_nested_in_results_or_in_a_fields(self):
        """arrays nested in results or in a field's schema shift no field list"""
        spans = {"type": "array",
                 "items": [{"type": "object", "properties": {"start": {"type": "number"}}}],
                 "examples": [[{"start": 1}], []]}
        first = collection("col_first", "first", [("a_first", "string")])
        first["output_schema"]["properties"]["spans"] = spans
        first["output_schema"]["properties"]["after_spans"] = {"type": "datetime"}
        first["tags"] = [{"output_schema": {"properties": {"decoy": {}}}}]
        junk = ["junk", ["deeper", ["deepest"]],
                {"output_schema": {"properties": {"ghost": {"type": "string"}}}}]
        second = collection("col_second", "second", [("b1", "string"), ("b2", "integer"),
                                                     ("b3", "boolean")])
        listener.reset(lambda cur: page([first, junk, second]))
        err, notices, elapsed, growth = import_into("timp_nested")
        mx.check(err is None, "the import succeeds", err)
        mx.check_eq(tables("timp_nested"), ["first", "second"], "tables")
        expect_columns("timp_nested", "first", [("a_first", "text"), ("spans", "jsonb"),
                                                ("after_spans", "timestamp with time zone")])
        expect_columns("timp_nested", "second", [("b1", "text"), ("b2", "bigint"), ("b3", "boolean")])
        expect_notices(notices, [r'skipping collection 2 of the list\n.*DETAIL:  It is not a JSON object\.'])


if __name__ == "__main__":
    mx.main('test_import')
