"""Id lookups on the wire: document_id = ANY(...) in a foreign table and
mixpeek_documents() send the ids in list requests filtered by
"document_id in [...]", at most 1,000 ids each; a single id is one GET.

Against a capture listener that answers like the API (and misbehaves on
demand):
- 1, 2, 999, 1,000, 1,001 and 10,000 ids: 1 GET, then 1, 1, 1, 2 and 10
  list requests, every id in exactly one of them, limit 1000 in the query
  and the body, the rows exactly the documents asked for;
- duplicates, NULLs and empty strings in the array; awkward ids (slashes,
  dots, unicode, quotes, backslashes) travel in the JSON body exactly;
- a server that matches loosely (an id not asked for, an id twice, an id in
  another case) returns no such row; a next_cursor is followed for its
  request; a reply that says more match without a cursor is an ERROR;
- each request carries its scan's key and namespace (user mappings, a
  view of another role, the settings for the function);
- ROLLBACK TO SAVEPOINT under a cursor mid-lookup: exact rows, the lost
  request sent again once (with its cursor), nothing returned asked again;
- 500 and 429 are retried, a 404 of the collection is an ERROR;
- the list requests of a table ask only for the fields the query reads
  ("select"), whole documents for the document column, the whole row and
  mixpeek_documents().
"""
import base64
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402
from capture import CaptureServer, envelope  # noqa: E402

import psycopg2  # noqa: E402

AWKWARD = ["doc/with/slash", "..", ".", "ünïcødé-ид", "it's \"quoted\"", "back\\slash",
           "100%", "a b", "plus+sign"]
ROLES = ["mx_ib_alice", "mx_ib_bob"]
SERVERS = ["mx_ib"]
ALICE_KEY = "sk_ib_alice_0123456789"
BOB_KEY = "sk_ib_bob_9876543210"


def doc_id(i):
    return "doc_%05d" % i


class IdApi:
    """The API's answers to id lookups: documents/list with the filter
    {"AND":[{"field":"document_id","operator":"in","value":[...]}],
    "case_sensitive":true}, and GET of one document.  Settings:
      page       documents per page of one request's matches (cursor paging)
      loose      add an unrequested id, a repeated id and an id in another case
      more       has_more: true without a next_cursor ("has_more"), or a
                 pagination.total above the documents sent ("total")
      fail       {status: times}: the first attempts of every request fail
      missing    the collection does not exist (404 NotFoundError collection)
      conditions None: only the id filter is taken; a set: conditions on n
                 besides it too, refused (400) for requests whose first id
                 is in the set; True: refused always
    A cursor belongs to the filters of the request it came with.
    """

    def __init__(self):
        self.docs = {doc_id(i): i for i in range(12000)}
        for j, a in enumerate(AWKWARD):
            self.docs[a] = 100000 + j
        self.reset()

    def reset(self):
        self.page = None
        self.loose = False
        self.more = None
        self.fail = {}
        self.missing = False
        self.attempts = {}
        self.bad_filters = []
        self.conditions = None

    def doc(self, i, collection):
        return {"document_id": i, "collection_id": collection, "n": self.docs[i]}

    def __call__(self, method, path, query, headers, body):
        segs = path.split("/")
        if len(segs) != 6 or segs[1:3] != ["v1", "collections"] or segs[4] != "documents":
            return None
        collection = urllib.parse.unquote(segs[3])
        if self.missing:
            return 404, None, envelope(404, "Collection not found", "NotFoundError",
                                       {"resource": "collection", "id": collection})
        key = (method, path, body)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        for status, times in self.fail.items():
            if self.attempts[key] <= times:
                return status, {"Retry-After": "0"}, envelope(status, "injected", "ServerError")
        if method == "GET":
            i = urllib.parse.unquote(segs[5])
            if i in self.docs:
                return 200, None, self.doc(i, collection)
            return 404, None, envelope(404, "Document not found", "NotFoundError",
                                       {"resource": "document", "id": i})
        return self.list(collection, query, json.loads(body))

    def list(self, collection, query, body):
        f = body.get("filters")
        try:
            test, *also = f["AND"]
            assert f["case_sensitive"] is True and len(f) == 2
            assert test["field"] == "document_id" and test["operator"] == "in" and len(test) == 3
            ids = test["value"]
            assert not also or self.conditions is not None
            assert all(c["field"] == "n" and c["operator"] in CONDITIONS for c in also)
        except (TypeError, KeyError, ValueError, AssertionError):
            self.bad_filters.append(f)
            return 400, None, envelope(400, "unexpected filters", "BadRequestError")
        if also and (self.conditions is True or ids[0] in self.conditions):
            return 400, None, envelope(400, "conditions refused", "BadRequestError")
        found = [self.doc(i, collection) for i in ids if i in self.docs and
                 all(CONDITIONS[c["operator"]](self.docs[i], c["value"]) for c in also)]
        if self.loose and found:
            first = found[0]
            found += [dict(first, n=-1),
                      dict(first, document_id=first["document_id"].upper(), n=-2),
                      {"document_id": "not_asked_for", "collection_id": collection, "n": -3},
                      {"document_id": doc_id(0), "collection_id": collection, "n": -4},
                      {"collection_id": collection, "n": -5},
                      {"document_id": 7, "collection_id": collection, "n": -6}]
        pos = 0
        query_of = json.dumps(f, sort_keys=True)
        if body.get("cursor"):
            cursor = json.loads(base64.b64decode(body["cursor"]))
            if cursor.get("q", query_of) != query_of:
                self.bad_filters.append(f)
                return 400, None, envelope(400, "cursor does not belong to this query", "BadRequestError")
            pos = cursor["p"]
        size = self.page or len(found) or 1
        results = found[pos:pos + size]
        nxt = None
        if pos + size < len(found):
            nxt = base64.b64encode(json.dumps({"p": pos + size, "r": len(ids),
                                               "q": query_of}).encode()).decode()
        pagination = {"next_cursor": nxt, "has_more": nxt is not None}
        if self.more == "has_more":
            pagination["has_more"] = True
        elif self.more == "total":
            pagination["total"] = len(found) + 1
        return 200, None, {"results": results, "pagination": pagination}


CONDITIONS = {"eq": lambda n, v: n == v, "gte": lambda n, v: n >= v}
api = IdApi()
cap = None
su = None


def of_ids(ids):
    """The requests the listener received for exactly these ids: a list
    request of them, or the GET of the one.  A request an earlier case's
    error abandoned may reach the listener's thread late, after a clear()."""
    out = []
    for r in cap.requests():
        if r["method"] == "POST":
            if r["json"]["filters"]["AND"][0]["value"] == ids:
                out.append(r)
        elif [r["document_id"]] == ids:
            out.append(r)
    return out


def lists(reqs=None):
    """The list requests received: (ids, cursor, query limit, body limit)."""
    out = []
    for r in reqs if reqs is not None else cap.requests():
        if r["method"] == "POST":
            j = r["json"]
            out.append((j["filters"]["AND"][0]["value"], j.get("cursor"),
                        r["query"].get("limit"), j.get("limit")))
    return out


def gets(reqs=None):
    return [r["document_id"] for r in (reqs if reqs is not None else cap.requests())
            if r["method"] == "GET"]


def fdw_ids(conn, ids):
    return sorted(r[0] for r in mx.query(conn, "SELECT document_id FROM ib.t WHERE document_id = ANY(%s)",
                                         (ids,)))


def fn_ids(conn, ids):
    return sorted(r[0] for r in mx.query(conn, "SELECT d->>'document_id' FROM mixpeek_documents('col_ids', %s) d",
                                         (ids,)))


LOOKUPS = (("FDW", fdw_ids), ("mixpeek_documents", fn_ids))


class IdBatches(mx.TestCase):

    @classmethod
    def setUpClass(cls):
        global cap, su
        su = mx.fdw_superuser()
        cap = CaptureServer(handler=api).start()
        mx.create_roles(su, ROLES, SERVERS)
        mx.query(su, "DROP SCHEMA IF EXISTS ib CASCADE")
        mx.query(su, "CREATE SCHEMA ib")
        mx.query(su, "CREATE SERVER mx_ib FOREIGN DATA WRAPPER mixpeek_fdw "
                     "OPTIONS (base_url %s, namespace 'ns_server')", (cap.url,))
        mx.query(su, "CREATE USER MAPPING FOR CURRENT_USER SERVER mx_ib OPTIONS (api_key 'sk_ib_super_0000')")
        mx.query(su, "CREATE USER MAPPING FOR mx_ib_alice SERVER mx_ib OPTIONS (api_key %s)", (ALICE_KEY,))
        mx.query(su, "CREATE USER MAPPING FOR mx_ib_bob SERVER mx_ib OPTIONS (api_key %s)", (BOB_KEY,))
        mx.query(su, "CREATE FOREIGN TABLE ib.t (document_id text, n int) SERVER mx_ib "
                     "OPTIONS (collection 'col_ids')")
        mx.query(su, "CREATE FOREIGN TABLE ib.bob_t (document_id text, n int) SERVER mx_ib "
                     "OPTIONS (collection 'col_bob', namespace 'ns_bob')")
        mx.query(su, "ALTER FOREIGN TABLE ib.bob_t OWNER TO mx_ib_bob")
        mx.query(su, "CREATE VIEW ib.bob_v AS SELECT document_id, n FROM ib.bob_t "
                     "WHERE document_id = ANY (ARRAY['doc_00010', 'doc_00011', 'doc_00012'])")
        mx.query(su, "ALTER VIEW ib.bob_v OWNER TO mx_ib_bob")
        mx.query(su, "GRANT USAGE ON SCHEMA ib TO mx_ib_alice, mx_ib_bob")
        mx.query(su, "GRANT SELECT ON ib.t, ib.bob_v TO mx_ib_alice")

    @classmethod
    def tearDownClass(cls):
        mx.query(su, "DROP SCHEMA IF EXISTS ib CASCADE")
        mx.drop_roles(su, ROLES, SERVERS)
        cap.stop()

    def setUp(self):
        super().setUp()
        api.reset()
        cap.clear()
        self.c = mx.connect()
        mx.query(self.c, "SET mixpeek.base_url = %s", (cap.url,))
        mx.query(self.c, "SET mixpeek.namespace = 'ns_settings'")
        mx.query(self.c, "SET mixpeek.max_retries = 0")

    def tearDown(self):
        try:
            self.c.rollback()
            self.c.close()
        except psycopg2.Error:
            pass
        mx.check_eq(api.bad_filters, [], "every list request had the id filter")
        mx.check_eq(mx.scalar(su, "SELECT 1"), 1, "the server is alive")
        super().tearDown()

    def test_01_request_counts(self):
        """1, 2, 999, 1,000, 1,001, 10,000 ids: 1 GET, 1, 1, 1, 2, 10 list requests"""
        for n, want_lists in ((1, 0), (2, 1), (999, 1), (1000, 1), (1001, 2), (10000, 10)):
            ids = [doc_id(i) for i in range(n)]
            for name, lookup in LOOKUPS:
                with mx.case("%s, %d ids" % (name, n)):
                    cap.clear()
                    mx.check_eq(lookup(self.c, ids), ids, "rows: the documents asked for")
                    reqs = cap.requests()
                    ls = lists(reqs)
                    mx.check_eq(len(ls), want_lists, "list requests")
                    mx.check_eq(gets(reqs), ids if n == 1 else [], "GETs")
                    sent = [i for l in ls for i in l[0]]
                    if n > 1:
                        mx.check_eq(sorted(sent), ids, "every id once over all requests")
                    mx.check(all(len(l[0]) <= 1000 for l in ls), "at most 1,000 ids a request",
                             [len(l[0]) for l in ls])
                    mx.check(all(l[2] == "1000" and l[3] == 1000 and l[1] is None for l in ls),
                             "limit 1000 in the query and the body, no cursor", ls[:1] and ls[0][1:])

    def test_02_duplicates_nulls_empty(self):
        """duplicates, NULLs and empty strings: each id asked once, the others never"""
        with mx.case("an empty id: no row in a foreign table, an ERROR of mixpeek_documents()"):
            cap.clear()
            got = fdw_ids(self.c, ["doc_00002", None, "", "doc_00001", "doc_00002", "nope", ""])
            mx.check_eq(got, ["doc_00001", "doc_00002"], "rows")
            mx.check_eq([l[0] for l in lists()], [["doc_00001", "doc_00002", "nope"]], "ids sent")
            cap.clear()
            mx.check_eq(fdw_ids(self.c, [None, "", ""]), [], "rows of nothing to ask")
            mx.expect_error(self.c, "SELECT count(*) FROM mixpeek_documents('col_ids', %s)",
                            (["doc_00001", "doc_00002", ""],), "22023",
                            r"^Mixpeek document id must not be empty$")
            mx.check_eq(cap.requests(), [], "no request")
        for name, lookup in LOOKUPS:
            with mx.case(name):
                cap.clear()
                got = lookup(self.c, ["doc_00002", None, "doc_00001", "doc_00002", "nope", None])
                mx.check_eq(got, ["doc_00001", "doc_00002"], "rows")
                mx.check_eq([l[0] for l in lists()], [["doc_00001", "doc_00002", "nope"]], "ids sent")
                cap.clear()
                mx.check_eq(lookup(self.c, [None, None]), [], "rows of nothing to ask")
                mx.check_eq(lookup(self.c, []), [], "rows of an empty array")
                mx.check_eq(cap.requests(), [], "no request")
                mx.check_eq(lookup(self.c, ["doc_00003", None, "doc_00003"]), ["doc_00003"], "one id")
                mx.check_eq((gets(), lists()), (["doc_00003"], []), "one GET")
                cap.clear()
                mx.check_eq(lookup(self.c, ["nope", "nope"]), [], "a missing single id: no row")
                mx.check_eq(gets(), ["nope"], "its GET")

    def test_03_awkward_ids(self):
        """awkward ids travel in the JSON body exactly, and come back as rows"""
        ids = AWKWARD + ["doc_00001"]
        for name, lookup in LOOKUPS:
            with mx.case(name):
                cap.clear()
                mx.check_eq(lookup(self.c, ids), sorted(ids), "rows")
                (req,) = [r for r in cap.requests() if r["method"] == "POST"]
                sent = req["json"]["filters"]["AND"][0]["value"]
                mx.check_eq(sorted(sent), sorted(ids), "ids in the body, byte for byte")
                mx.check("ünïcødé-ид".encode() in req["body"].encode()
                         or "\\u00fc" in req["body"], "unicode as UTF-8 or escaped", req["body"][:200])
                mx.check(req["path"].endswith("/v1/collections/col_ids/documents/list"), "the list path",
                         req["path"])

    def test_04_loose_server(self):
        """unrequested ids, repeated ids, ids in another case: no such rows"""
        api.loose = True
        for n in (2, 1500):
            ids = [doc_id(i) for i in range(n)]
            for name, lookup in LOOKUPS:
                with mx.case("%s, %d ids" % (name, n)):
                    cap.clear()
                    mx.check_eq(lookup(self.c, ids), ids, "rows: each requested id once")
        with mx.case("the row of a repeated document is the first one sent"):
            rows = mx.query(self.c, "SELECT document_id, n FROM ib.t WHERE document_id IN ('doc_00005', 'doc_00007') "
                                    "ORDER BY 1")
            mx.check_eq(rows, [("doc_00005", 5), ("doc_00007", 7)], "rows")
            rows = mx.query(self.c, "SELECT document_id, n FROM ib.t WHERE document_id IN ('DOC_00005', 'doc_00005', 'x') "
                                    "ORDER BY n")
            mx.check_eq(rows, [("DOC_00005", -2), ("doc_00005", 5)],
                        "an id asked in two cases is two ids, each its own document once")

    def test_05_cursor_followed(self):
        """a reply with a next_cursor is followed for its request"""
        api.page = 150
        ids = [doc_id(i) for i in range(1001)]
        for name, lookup in LOOKUPS:
            with mx.case(name):
                cap.clear()
                mx.check_eq(lookup(self.c, ids), ids, "rows")
                ls = lists()
                firsts = [l for l in ls if l[1] is None]
                mx.check_eq(len(firsts), 2, "two requests")
                mx.check_eq(len(ls), 8, "each followed along its cursors (4 pages of 501 and of 500)")
                for ids_sent, cursor, _, _ in ls:
                    if cursor is not None:
                        r = json.loads(base64.b64decode(cursor))["r"]
                        mx.check_eq(len(ids_sent), r, "a cursor goes with its own request's ids")

    def test_06_more_without_cursor(self):
        """a reply that says more match without a cursor is followed by offset;
        pages that end short of what the API reported are an ERROR, not a
        short result"""
        for more in ("has_more", "total"):
            api.more = more
            for name, lookup in LOOKUPS:
                with mx.case("%s, %s" % (name, more)):
                    err = mx.run_error(self.c, "SELECT count(*) FROM ib.t WHERE document_id = ANY(%s)"
                                       if name == "FDW" else
                                       "SELECT count(*) FROM mixpeek_documents('col_ids', %s)",
                                       ([doc_id(i) for i in range(20)],))
                    mx.check(err is not None and err.sqlstate == "HV00M"
                             and "Mixpeek list ended after" in err.all_text(), "HV00M, the list ended short", err)

    def test_07_keys_and_namespaces(self):
        """each request carries its scan's key and namespace"""
        mx.query(self.c, "SET ROLE mx_ib_alice")
        rows = mx.query(self.c, """
            SELECT 'a', document_id FROM ib.t WHERE document_id = ANY ('{doc_00001,doc_00002,doc_00003}')
            UNION ALL SELECT 'b', document_id FROM ib.bob_v
            UNION ALL SELECT 'f', d->>'document_id' FROM mixpeek_documents('col_ids', '{doc_00004,doc_00005}') d
            ORDER BY 1, 2""")
        mx.check_eq(rows, [("a", "doc_00001"), ("a", "doc_00002"), ("a", "doc_00003"),
                           ("b", "doc_00010"), ("b", "doc_00011"), ("b", "doc_00012"),
                           ("f", "doc_00004"), ("f", "doc_00005")], "rows")
        seen = sorted((r["json"]["filters"]["AND"][0]["value"][0],
                       r["headers"].get("authorization"), r["headers"].get("x-namespace"),
                       r["path"].split("/")[3]) for r in cap.requests())
        mx.check_eq(seen, [("doc_00001", "Bearer " + ALICE_KEY, "ns_server", "col_ids"),
                           ("doc_00004", "Bearer sk_test_alpha", "ns_settings", "col_ids"),
                           ("doc_00010", "Bearer " + BOB_KEY, "ns_bob", "col_bob")],
                   "key, namespace and collection of each request")

    def rollback_mid_lookup(self, sql, params, want, sent, concurrency=1):
        """Rows of a cursor over sql, with its first FETCH in a savepoint
        rolled back; the list requests sent, once the listener has taken in
        sent of them.  The one the rollback abandoned may reach the
        listener's thread after every other (the connection it came on is
        gone): read too soon, it would be missing here and show up in the
        next case."""
        cap.clear()
        mx.query(self.c, "SET mixpeek.max_concurrency = %d" % concurrency)
        self.c.autocommit = False
        cur = self.c.cursor()
        cur.execute("DECLARE c CURSOR FOR " + sql, params)
        cur.execute("SAVEPOINT s")
        cur.execute("FETCH 5 FROM c")
        rows = cur.fetchall()
        cur.execute("ROLLBACK TO SAVEPOINT s")
        cur.execute("FETCH ALL FROM c")
        rows += cur.fetchall()
        self.c.rollback()
        self.c.autocommit = True
        mx.check_eq(sorted(r[0] for r in rows), want, "rows: every document once")
        mx.wait_until(lambda: len(lists()) >= sent, 30)
        return lists()

    def test_08_rollback_to_savepoint(self):
        """ROLLBACK TO SAVEPOINT under a cursor mid-lookup: exact rows, the lost request resent once"""
        ids = [doc_id(i) for i in range(3000)]
        fdw = ("SELECT document_id FROM ib.t WHERE document_id = ANY(%s)", (ids,))
        # in the select list: rows stream out (in FROM, the first FETCH reads them all)
        fn = ("SELECT mixpeek_documents('col_ids', %s)->>'document_id'", (ids,))
        for name, (sql, params) in (("FDW", fdw), ("mixpeek_documents", fn)):
            with mx.case("%s, three requests, one at a time" % name):
                ls = self.rollback_mid_lookup(sql, params, ids, 4)
                chunks = [tuple(l[0]) for l in ls]
                order = []
                for ch in chunks:
                    if ch not in order:
                        order.append(ch)
                mx.check_eq(len(order), 3, "three id sets")
                mx.check_eq([chunks.count(ch) for ch in order], [1, 2, 1],
                            "the request in flight at the rollback sent again, once; the others once")
            with mx.case("%s, pages of one request along its cursor" % name):
                api.page = 400
                some = ids[:1000]
                ls = self.rollback_mid_lookup(sql, (some,), some, 4)
                cursors = [l[1] and json.loads(base64.b64decode(l[1]))["p"] for l in ls]
                mx.check_eq(cursors, [None, 400, 400, 800],
                            "the page in flight asked again with its own cursor, none before it")
                api.page = None

    def test_09_faults(self):
        """500 and 429 are retried; a 404 of the collection is an ERROR"""
        mx.query(self.c, "SET mixpeek.max_retries = 2")
        ids = [doc_id(i) for i in range(1200)]
        for status in (500, 429):
            api.reset()
            api.fail = {status: 1}
            for name, lookup in LOOKUPS:
                with mx.case("%s, %d once per request" % (name, status)):
                    cap.clear()
                    api.attempts = {}
                    mx.check_eq(lookup(self.c, ids), ids, "rows")
                    mx.check_eq(len(lists()), 4, "two requests, each sent twice")
        api.reset()
        api.missing = True
        for name, lookup in LOOKUPS:
            for some in (ids[:1], ids):
                with mx.case("%s, %d ids, no collection" % (name, len(some))):
                    try:
                        lookup(self.c, some)
                        err = None
                    except psycopg2.Error as exc:
                        err = mx.Err(exc)
                    want = "GET /v1/collections/col_ids/documents/doc_00000" if len(some) == 1 \
                        else "POST /v1/collections/col_ids/documents/list?limit=1000"
                    mx.check(err is not None and err.sqlstate == "42704" and want in err.all_text(),
                             "42704 naming the request", err)

    def test_10_url_and_vector_flags(self):
        """URL and vector flags: in the body of list requests, in the query of a GET"""
        mx.query(su, "CREATE FOREIGN TABLE IF NOT EXISTS ib.flags (document_id text, vector real[], "
                     "presigned_url text) SERVER mx_ib OPTIONS (collection 'col_ids')")
        two = ["doc_00001", "doc_00002"]
        for what, sql, want in (
                ("mixpeek_documents(), both", "SELECT count(*) FROM mixpeek_documents('col_ids', %s, "
                 "return_url => true, return_vectors => true)", (True, True, True)),
                ("mixpeek_documents(), none", "SELECT count(*) FROM mixpeek_documents('col_ids', %s)",
                 (None, None, None)),
                ("FDW, a vector column", "SELECT count(vector) FROM ib.flags WHERE document_id = ANY(%s)",
                 (None, None, True)),
                ("FDW, a URL column", "SELECT count(presigned_url) FROM ib.flags WHERE document_id = ANY(%s)",
                 (True, True, None))):
            with mx.case(what):
                cap.clear()
                mx.query(self.c, sql, (two,))
                (r,) = of_ids(two)
                got = tuple(r["json"].get(k) for k in ("return_url", "return_presigned_urls", "return_vectors"))
                mx.check_eq(got, want, "return_url, return_presigned_urls, return_vectors in the body")
                mx.check_eq(r["query"], {"limit": "1000", "include_total": "true"},
                            "the limit and include_total in the query")
        with mx.case("a single id: the GET's query"):
            cap.clear()
            mx.query(self.c, "SELECT count(*) FROM mixpeek_documents('col_ids', %s, true, true)", (two[:1],))
            (r,) = of_ids(two[:1])
            mx.check_eq(r["raw_query"], "return_url=true&return_presigned_urls=true&return_vectors=true", "query")
        mx.query(su, "DROP FOREIGN TABLE ib.flags")

    def test_11_fields_asked_for(self):
        """id lists ask only for the fields the query reads; whole documents where it needs them"""
        mx.query(su, "CREATE FOREIGN TABLE IF NOT EXISTS ib.whole (document_id text, n int, document jsonb) "
                     "SERVER mx_ib OPTIONS (collection 'col_ids')")
        two = ["doc_00001", "doc_00002"]
        for what, sql, want, rows in (
                ("a column", "SELECT document_id, n FROM ib.t WHERE document_id = ANY(%s) ORDER BY 1",
                 ["document_id", "n"], [("doc_00001", 1), ("doc_00002", 2)]),
                ("count(*)", "SELECT count(*) FROM ib.t WHERE document_id = ANY(%s)", ["document_id"], [(2,)]),
                ("a condition checked locally", "SELECT document_id FROM ib.t WHERE document_id = ANY(%s) "
                 "AND n + 0 = 2", ["document_id", "n"], [("doc_00002",)]),
                ("the document column", "SELECT document->>'n' FROM ib.whole WHERE document_id = ANY(%s) "
                 "ORDER BY 1", None, [("1",), ("2",)]),
                ("the whole row", "SELECT w.* IS NOT NULL FROM ib.whole w WHERE document_id = ANY(%s)",
                 None, [(True,), (True,)]),
                ("mixpeek_documents()", "SELECT d->>'n' FROM mixpeek_documents('col_ids', %s) d ORDER BY 1",
                 None, [("1",), ("2",)])):
            with mx.case(what):
                cap.clear()
                mx.check_eq(mx.query(self.c, sql, (two,)), rows, "rows")
                (r,) = cap.requests()
                mx.check_eq(r["json"].get("select"), want, "select in the body")
        mx.query(su, "DROP FOREIGN TABLE ib.whole")

    def test_12_conditions_with_the_ids(self):
        """the table's other conditions go with the ids; refused (400): sent again without them, exact rows"""
        api.conditions = True
        ids = [doc_id(i) for i in range(2000)]
        sql = "SELECT document_id, n FROM ib.t WHERE document_id = ANY(%s) AND n = 1234"
        notices_before = len(self.c.notices)
        mx.check_eq(mx.query(self.c, sql, (ids,)), [("doc_01234", 1234)], "rows")
        sent = [r["json"]["filters"] for r in cap.requests() if r["method"] == "POST"]
        with_n = {"AND": [{"field": "document_id", "operator": "in", "value": ids[:1000]},
                          {"field": "n", "operator": "eq", "value": 1234}], "case_sensitive": True}
        mx.check_eq(len(sent), 4, "two requests refused, two sent again")
        mx.check(with_n in sent, "the condition went with the ids", sent[:1])
        mx.check_eq(sorted(len(f["AND"]) for f in sent), [1, 1, 2, 2],
                    "the requests sent again carry the ids alone")
        notices = [n for n in self.c.notices[notices_before:] if "retrying without" in n]
        mx.check(len(notices) == 1, "one NOTICE", notices)
        mx.check(notices and "HTTP 400, retrying without the conditions sent with the ids" in notices[0],
                 "the NOTICE says what was dropped", notices)
        api.bad_filters = []
        cap.clear()
        mx.check_eq(mx.query(self.c, "SELECT count(*) FROM ib.t WHERE document_id = ANY(%s) AND n = NULL",
                             (ids,)), [(0,)], "a condition never true: no rows")
        mx.check_eq(cap.requests(), [], "and no request")

    def test_13_conditions_refused_for_one_request(self):
        """one request refused for its conditions while another pages with them: each pages with its own query"""
        api.conditions = {doc_id(1000)}
        api.page = 100
        ids = [doc_id(i) for i in range(2000)]
        mx.query(self.c, "SET mixpeek.max_concurrency = 2")
        got = mx.query(self.c, "SELECT count(*), count(DISTINCT document_id), min(n), max(n) FROM ib.t "
                               "WHERE document_id = ANY(%s) AND n >= 500", (ids,))
        mx.check_eq(got, [(1500, 1500, 500, 1999)], "every row, once")
        first, second = [], []
        for r in cap.requests():
            if r["method"] == "POST":
                f = r["json"]["filters"]["AND"]
                (first if f[0]["value"][0] == doc_id(0) else second).append((len(f), r["json"].get("cursor")))
        mx.check(all(n == 2 for n, _ in first), "the first request's pages all carry the condition", first)
        mx.check_eq(len(first), 5, "the first request: 500 documents in pages of 100")
        mx.check_eq(second[0], (2, None), "the second request, refused with the condition")
        mx.check(all(n == 1 for n, _ in second[1:]), "then without it, from its first page", second)
        mx.check_eq(len(second), 11, "the second request again: 1,000 documents in pages of 100")

    def test_14_refused_once_for_the_rescans(self):
        """conditions refused once are not sent again when the scan runs again (a correlated subquery)"""
        api.conditions = True
        notices_before = len(self.c.notices)
        rows = mx.query(self.c, "SELECT k, (SELECT count(*) FROM ib.t t WHERE t.document_id = ANY(a.ids) "
                                "AND t.n >= 2) FROM (VALUES (1, ARRAY['doc_00001', 'doc_00002', 'doc_00003']), "
                                "(2, ARRAY['doc_00002', 'doc_00004']), (3, ARRAY['doc_00005', 'doc_00000'])) "
                                "a(k, ids) ORDER BY k")
        mx.check_eq(rows, [(1, 2), (2, 2), (3, 1)], "rows")
        sent = [len(r["json"]["filters"]["AND"]) for r in cap.requests() if r["method"] == "POST"]
        mx.check_eq(sent, [2, 1, 1, 1], "refused once, then the ids alone, for every outer row")
        notices = [n for n in self.c.notices[notices_before:] if "retrying without" in n]
        mx.check(len(notices) == 1, "one NOTICE", notices)
        plan = "\n".join(r[0] for r in mx.query(
            self.c, "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
                    "SELECT count(*) FROM ib.t WHERE document_id = ANY(ARRAY['doc_00001', 'doc_00002']) "
                    "AND n >= 2"))
        mx.check("Remote Retried Without: the conditions sent with the ids" in plan,
                 "EXPLAIN ANALYZE says what was left out", plan)
        mx.query(self.c, "SET plan_cache_mode = force_generic_plan")
        mx.query(self.c, "PREPARE never_true(int) AS SELECT count(*) FROM ib.t "
                         "WHERE document_id = ANY(ARRAY['doc_00001', 'doc_00002']) AND n = $1")
        plan = "\n".join(r[0] for r in mx.query(
            self.c, "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE never_true(NULL)"))
        mx.check("Remote Request: none (the conditions can never be true)" in plan and
                 "Remote Requests: 0" in plan, "EXPLAIN of conditions never true: no request", plan)
        api.bad_filters = []


if __name__ == "__main__":
    mx.main("test_id_batches")
