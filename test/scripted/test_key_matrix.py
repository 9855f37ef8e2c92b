"""One request, one key: statements that mix key sources and namespaces.

Every pair of key sources, in one statement, in each plan shape, run as a
role that is not a superuser (mx_km_alice).  The key sources:

  S   the mixpeek.api_key setting (sk_test_alpha): a server without
      base_url and without user mappings, namespace 'production' (the mock)
  M   alice's user mapping on a server without base_url (sk_test_beta),
      table namespace 'default' (the mock)
  P   a PUBLIC user mapping, server namespace 'ns_public' (a capture listener)
  V   bob's user mapping, reached through a view bob owns, table namespace
      'ns_bob' (a capture listener)
  D   carol's user mapping, reached through SECURITY DEFINER functions carol
      owns, server namespace 'ns_carol' (a capture listener)
  B1  alice's own server with its own base_url and her mapping, server
      namespace 'ns_alice' (a capture listener)
  B2  a second table on alice's server with table namespace 'ns_alice_2'

and mixpeek_document() / mixpeek_documents() (the setting's key, alice's
session namespace 'production', the mock).  The shapes: nested loop, hash
join, LATERAL, a scalar subquery per row, mixpeek_document() per row of a
foreign scan, mixpeek_documents() inside a scan, two cursors fetched in
turn, prepared statements executed again.  List scans read 20 pages
(page_size 1), so requests of the two sources interleave.

For every request a listener received, Authorization must be exactly the
key of the role that issued it and X-Namespace exactly that scan's
namespace: a listener and the collection in the path name one scan, hence
one expected key and namespace.  On the mock (which does not log the key)
the identity it resolved must be the expected one.  The rows must be
exactly right.

The default run covers each unordered pair once per shape (the order of
the two sources alternates between shapes); MX_LONG=1 runs every ordered
pair, a source with itself included, in every shape.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402
from capture import CaptureServer  # noqa: E402

import psycopg2  # noqa: E402


ROLES = ["mx_km_alice", "mx_km_bob", "mx_km_carol"]
SERVERS = ["mx_km_settings", "mx_km_mapped", "mx_km_public", "mx_km_bob", "mx_km_carol", "mx_km_own"]
with open(os.path.join(mx.TOP, "test", "mock", "data", "articles.json")) as f:
    ARTICLES = json.load(f)

# (listener, collection in the path) -> (Authorization, X-Namespace)
EXPECT_CAP = {
    ("P", "col_p"): ("Bearer sk_cap_public", "ns_public"),
    ("V", "col_v"): ("Bearer sk_cap_bob", "ns_bob"),
    ("D", "col_d"): ("Bearer sk_cap_carol", "ns_carol"),
    ("B", "col_b1"): ("Bearer sk_cap_alice", "ns_alice"),
    ("B", "col_b2"): ("Bearer sk_cap_alice", "ns_alice_2"),
}
# collection in the path -> (identity the mock resolved, X-Namespace) on the mock
EXPECT_MOCK = {
    "col_articles": ("alpha", "production"),   # S, mixpeek_document(s)()
    "articles": ("beta", "default"),           # M
}
LABELS = {"Bearer sk_test_alpha": "the setting's key", "Bearer sk_test_beta": "alice's mock key",
          "Bearer sk_cap_public": "the PUBLIC key", "Bearer sk_cap_bob": "bob's key",
          "Bearer sk_cap_carol": "carol's key", "Bearer sk_cap_alice": "alice's key"}

COLS = "(document_id text, category text, word_count int)"


def set_up():
    """Roles (each with a schema), servers, mappings, a view owned by bob,
    definer functions owned by carol, alice's own server."""
    mx.create_roles(su, ROLES, SERVERS, schemas=True)
    mx.query(su, """
        GRANT USAGE ON FOREIGN DATA WRAPPER mixpeek_fdw TO mx_km_alice;
        CREATE SERVER mx_km_settings FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (namespace 'production');
        CREATE FOREIGN TABLE km_s %(c)s SERVER mx_km_settings
          OPTIONS (collection 'col_articles', page_size '1');
        CREATE SERVER mx_km_mapped FOREIGN DATA WRAPPER mixpeek_fdw;
        CREATE USER MAPPING FOR mx_km_alice SERVER mx_km_mapped OPTIONS (api_key 'sk_test_beta');
        CREATE FOREIGN TABLE km_m %(c)s SERVER mx_km_mapped
          OPTIONS (collection 'articles', namespace 'default', page_size '1');
        GRANT SELECT ON km_s, km_m TO mx_km_alice;
    """ % {"c": COLS})
    mx.query(su, "CREATE SERVER mx_km_public FOREIGN DATA WRAPPER mixpeek_fdw "
                 "OPTIONS (base_url %s, namespace 'ns_public')", (caps["P"].url,))
    mx.query(su, "CREATE SERVER mx_km_bob FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url %s)",
             (caps["V"].url,))
    mx.query(su, "CREATE SERVER mx_km_carol FOREIGN DATA WRAPPER mixpeek_fdw "
                 "OPTIONS (base_url %s, namespace 'ns_carol')", (caps["D"].url,))
    mx.query(su, """
        CREATE USER MAPPING FOR PUBLIC SERVER mx_km_public OPTIONS (api_key 'sk_cap_public');
        CREATE FOREIGN TABLE km_p %(c)s SERVER mx_km_public OPTIONS (collection 'col_p', page_size '1');
        GRANT SELECT ON km_p TO mx_km_alice;
        CREATE USER MAPPING FOR mx_km_bob SERVER mx_km_bob OPTIONS (api_key 'sk_cap_bob');
        CREATE FOREIGN TABLE km_v_t %(c)s SERVER mx_km_bob
          OPTIONS (collection 'col_v', namespace 'ns_bob', page_size '1');
        GRANT SELECT ON km_v_t TO mx_km_bob;
        CREATE USER MAPPING FOR mx_km_carol SERVER mx_km_carol OPTIONS (api_key 'sk_cap_carol');
        CREATE FOREIGN TABLE km_d_t %(c)s SERVER mx_km_carol OPTIONS (collection 'col_d', page_size '1');
        GRANT SELECT ON km_d_t TO mx_km_carol;
    """ % {"c": COLS})
    bob = mx.connect(user="mx_km_bob", password="pw")
    mx.query(bob, """
        CREATE VIEW km_bob.v AS SELECT document_id, category, word_count FROM public.km_v_t;
        GRANT USAGE ON SCHEMA km_bob TO mx_km_alice;
        GRANT SELECT ON km_bob.v TO mx_km_alice;
    """)
    bob.close()
    carol = mx.connect(user="mx_km_carol", password="pw")
    mx.query(carol, """
        CREATE FUNCTION km_carol.docs() RETURNS TABLE %(c)s
          LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
          AS 'SELECT document_id, category, word_count FROM public.km_d_t';
        CREATE FUNCTION km_carol.get(id text) RETURNS TABLE %(c)s
          LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
          AS 'SELECT document_id, category, word_count FROM public.km_d_t WHERE document_id = id';
        GRANT USAGE ON SCHEMA km_carol TO mx_km_alice;
    """ % {"c": COLS})
    carol.close()
    alice = mx.connect(user="mx_km_alice", password="pw")
    # alice's own server, pointed at a listener of her own
    err = mx.run_error(alice, "CREATE SERVER mx_km_own FOREIGN DATA WRAPPER mixpeek_fdw "
                              "OPTIONS (base_url %s, namespace 'ns_alice')", (caps["B"].url,))
    if err is not None:
        mx.log("  alice may not create a server with base_url %s (%s); a superuser creates it for her"
               % (caps["B"].url, err.message))
        mx.query(su, "CREATE SERVER mx_km_own FOREIGN DATA WRAPPER mixpeek_fdw "
                     "OPTIONS (base_url %s, namespace 'ns_alice'); "
                     "ALTER SERVER mx_km_own OWNER TO mx_km_alice", (caps["B"].url,))
    mx.query(alice, """
        CREATE USER MAPPING FOR CURRENT_USER SERVER mx_km_own OPTIONS (api_key 'sk_cap_alice');
        CREATE FOREIGN TABLE km_alice.b1 %(c)s SERVER mx_km_own OPTIONS (collection 'col_b1', page_size '1');
        CREATE FOREIGN TABLE km_alice.b2 %(c)s SERVER mx_km_own
          OPTIONS (collection 'col_b2', namespace 'ns_alice_2', page_size '1');
    """ % {"c": COLS})
    alice.close()


class Source:
    def __init__(self, name, rel, get=None):
        self.name = name
        self.rel = rel                 # a FROM item: every document
        self._get = get                # a FROM item: the document of one id, or None

    def get(self, idexpr):
        if self._get:
            return self._get % idexpr
        return "(SELECT * FROM %s g WHERE g.document_id = %s)" % (self.rel, idexpr)


SOURCES = [
    Source("S", "public.km_s"),
    Source("M", "public.km_m"),
    Source("P", "public.km_p"),
    Source("V", "km_bob.v"),
    Source("D", "km_carol.docs()", "km_carol.get(%s)"),
    Source("B1", "km_alice.b1"),
    Source("B2", "km_alice.b2"),
]


def bearer_label(v):
    if v is None:
        return "no Authorization"
    return LABELS.get(v, repr(v[:40]))



class Conn:
    """alice's session; opened again after a backend crash."""
    def __init__(self):
        self.c = None
        self.crashes = 0

    def get(self):
        if self.c is None or self.c.closed:
            # after a backend crash the server restarts: wait for it
            self.c = mx.wait_for_server(user="mx_km_alice", password="pw")
            mx.query(self.c, "SET mixpeek.namespace = 'production'")
        return self.c


alice = Conn()
totals = {"statements": 0, "requests": 0, "wrong": 0, "errors": 0, "seconds": 0.0}


def check_requests(what, since, want_sources):
    """Every request since the mock's seq `since` and since the listeners'
    last clear() carried the key and namespace of the scan that issued it."""
    wrong = []
    n = 0
    seen = set()
    for lname, cap in caps.items():
        for r in cap.requests():
            n += 1
            exp = EXPECT_CAP.get((lname, r["collection"]))
            if exp is None:
                wrong.append("%s %s: a request nobody should send" % (lname, r["path"]))
                continue
            seen.add(lname + ":" + r["collection"])
            auth, ns = r["headers"].get("authorization"), r["headers"].get("x-namespace")
            if (auth, ns) != exp:
                wrong.append("listener %s, %s %s: sent %s with X-Namespace %r; expected %s with %r"
                             % (lname, r["method"], r["path"][:60], bearer_label(auth), ns,
                                bearer_label(exp[0]), exp[1]))
        cap.clear()
    for r in mx.mock_requests(since=since):
        n += 1
        col = r["path"].split("/")[3] if r["path"].count("/") >= 3 else None
        exp = EXPECT_MOCK.get(col)
        if exp is None:
            wrong.append("mock %s: a request nobody should send" % r["path"])
            continue
        seen.add("mock:" + col)
        ns = r["headers"].get("x-namespace")
        if (r["identity"], ns) != exp:
            wrong.append("mock, %s %s: key of identity %r with X-Namespace %r; expected %r with %r"
                         % (r["method"], r["path"][:60], r["identity"], ns, exp[0], exp[1]))
    totals["requests"] += n
    totals["wrong"] += len(wrong)
    mx.check(not wrong, "%s: %d of %d requests with a wrong key or namespace" % (what, len(wrong), n),
             wrong[:2])
    for s in want_sources:
        mx.check(s in seen, "%s: requests for %s were seen" % (what, s), sorted(seen))
    return n


def server_of(src):
    return {"S": "mock:col_articles", "M": "mock:articles", "P": "P:col_p", "V": "V:col_v",
            "D": "D:col_d", "B1": "B:col_b1", "B2": "B:col_b2"}[src.name]


def lost(conn, exc):
    """The error is the loss of the connection (a crashed backend), not an ERROR."""
    return exc.pgcode is None and conn.closed


def died(what, exc):
    alice.crashes += 1
    totals["errors"] += 1
    mx.check(False, "%s: the backend died (%s)" % (what, str(exc).strip().splitlines()[0]))
    alice.c = None


def failed(what, conn, exc):
    totals["errors"] += 1
    mx.check(False, "%s: ERROR %s %s" % (what, exc.pgcode, str(exc).strip().splitlines()[0]))
    if conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
        mx.query(conn, "ROLLBACK")


def run(what, statements, want, want_sources, settings=()):
    """Run statements in alice's session with settings (name, value) in
    effect, compare the rows of the last one with want (sorted), then check
    every request.  False when the backend died."""
    since = mx.mock_last_seq()
    for cap in caps.values():
        cap.clear()
    totals["statements"] += 1
    conn = alice.get()
    got = None
    try:
        for name, value in settings:
            mx.query(conn, "SET %s = %s" % (name, value))
        for s in statements:
            got = mx.query(conn, s)
        for name, value in settings:
            mx.query(conn, "RESET %s" % name)
    except psycopg2.Error as exc:
        if lost(conn, exc):
            died(what, exc)
            check_requests(what, since, [])
            return False
        failed(what, conn, exc)
        for name, value in settings:
            mx.query(conn, "RESET %s" % name)
        check_requests(what, since, [])
        return True
    if want is not None:
        mx.check_eq(sorted(got, key=repr), sorted(want, key=repr), "%s: rows" % what)
    check_requests(what, since, want_sources)
    return True


def join_rows():
    return [(i, c, w) for i, (c, w) in ROWS.items()]


JOIN = "SELECT x.document_id, y.category, y.word_count FROM %s x JOIN %s y ON y.document_id = x.document_id"


def shape_nestloop(x, y):
    return (JOIN % (x.rel, y.rel), join_rows(),
            (("enable_hashjoin", "off"), ("enable_mergejoin", "off"), ("mixpeek.batch_join", "off")))


def shape_hashjoin(x, y):
    return (JOIN % (x.rel, y.rel), join_rows(),
            (("enable_nestloop", "off"), ("enable_mergejoin", "off"), ("mixpeek.batch_join", "off")))


def shape_batched(x, y):
    """The join as planned by default: a batched join where y is a
    collection table."""
    return (JOIN % (x.rel, y.rel), join_rows(), ())


def shape_lateral(x, y):
    return ("SELECT x.document_id, y.category, y.word_count FROM %s x LEFT JOIN LATERAL %s y ON true"
            % (x.rel, y.get("x.document_id")), join_rows(), ())


def shape_scalar(x, y):
    return ("SELECT x.document_id, x.word_count, (SELECT y.category FROM %s y) FROM %s x"
            % (y.get("x.document_id"), x.rel), [(i, w, c) for i, (c, w) in ROWS.items()], ())


def shape_document(x, y):
    return ("SELECT x.document_id, mixpeek_document('col_articles', x.document_id) ->> 'document_id', "
            "(SELECT y.word_count FROM %s y) FROM %s x" % (y.get("x.document_id"), x.rel),
            [(i, i, w) for i, (c, w) in ROWS.items()], ())


def shape_documents(x, y):
    return ("SELECT x.document_id, (SELECT count(*) FROM mixpeek_documents('col_articles', "
            "ARRAY[x.document_id, 'doc_km_missing'])), (SELECT y.category FROM %s y) FROM %s x"
            % (y.get("x.document_id"), x.rel), [(i, N_DOCS, c) for i, (c, w) in ROWS.items()], ())


SHAPES = [("nested loop", shape_nestloop), ("hash join", shape_hashjoin), ("LATERAL", shape_lateral),
          ("scalar subquery per row", shape_scalar), ("mixpeek_document() per row", shape_document),
          ("mixpeek_documents() per row", shape_documents)]


def run_shape(name, fn, x, y):
    sql, want, settings = fn(x, y)
    want_sources = [server_of(x), server_of(y)]
    if fn in (shape_document, shape_documents):
        want_sources.append("mock:col_articles")
    run("%s, %s then %s" % (name, x.name, y.name), [sql], want, want_sources, settings)


def run_cursors(x, y):
    """Two cursors in one transaction, one row from each in turn."""
    what = "two cursors in turn, %s and %s" % (x.name, y.name)
    since = mx.mock_last_seq()
    for cap in caps.values():
        cap.clear()
    totals["statements"] += 1
    conn = alice.get()
    got = {1: [], 2: []}
    try:
        mx.query(conn, "BEGIN")
        mx.query(conn, "DECLARE c1 NO SCROLL CURSOR FOR SELECT document_id, category, word_count FROM %s" % x.rel)
        mx.query(conn, "DECLARE c2 NO SCROLL CURSOR FOR SELECT document_id, category, word_count FROM %s" % y.rel)
        done = {1: False, 2: False}
        while not (done[1] and done[2]):
            for k in (1, 2):
                if not done[k]:
                    rows = mx.query(conn, "FETCH 1 FROM c%d" % k)
                    got[k] += rows
                    done[k] = not rows
        mx.query(conn, "COMMIT")
    except psycopg2.Error as exc:
        if lost(conn, exc):
            died(what, exc)
            check_requests(what, since, [])
            return
        failed(what, conn, exc)
        check_requests(what, since, [])
        return
    want = sorted(join_rows())
    mx.check_eq(sorted(got[1]), want, "%s: rows of the first" % what)
    mx.check_eq(sorted(got[2]), want, "%s: rows of the second" % what)
    check_requests(what, since, [server_of(x), server_of(y)])


def run_prepared(x, y):
    """Two prepared statements mixing the sources, executed in turn three
    times each: custom plans, generic plans, the default."""
    what = "prepared statements, %s and %s" % (x.name, y.name)
    conn = alice.get()
    mx.query(conn, "DEALLOCATE ALL")
    mx.query(conn, "PREPARE km_p1(int) AS " + JOIN % (x.rel, y.rel) + " LIMIT $1")
    mx.query(conn, "PREPARE km_p2(int) AS SELECT x.document_id, y.category, y.word_count FROM %s x "
                   "LEFT JOIN LATERAL %s y ON true LIMIT $1" % (y.rel, x.get("x.document_id")))
    for i, mode in enumerate(("force_custom_plan", "force_generic_plan", "auto")):
        for p in ("km_p1", "km_p2"):
            if not run("%s, %s (%s, execution %d)" % (what, p, mode, i + 1), ["EXECUTE %s(100)" % p],
                       join_rows(), [server_of(x), server_of(y)], (("plan_cache_mode", mode),)):
                return              # the prepared statements died with the session
    mx.query(alice.get(), "DEALLOCATE ALL")


ALL_SHAPES = [n for n, _ in SHAPES] + ["two cursors", "prepared statements"]


def run_pair(shape_index, x, y):
    if shape_index < len(SHAPES):
        name, fn = SHAPES[shape_index]
        run_shape(name, fn, x, y)
    elif shape_index == len(SHAPES):
        run_cursors(x, y)
    else:
        run_prepared(x, y)


def pairs(shape_index):
    """The pairs of sources a shape runs: each unordered pair once, the
    order alternating (MX_LONG=1: every ordered pair, a source with itself
    included)."""
    if mx.LONG:
        return [(x, y) for x in SOURCES for y in SOURCES]
    out = []
    k = 0
    for a in range(len(SOURCES)):
        for b in range(a + 1, len(SOURCES)):
            x, y = SOURCES[a], SOURCES[b]
            if (shape_index + k) % 2:
                x, y = y, x
            out.append((x, y))
            k += 1
    return out


class KeyMatrix(mx.TestCase):
    """Set up once for the file (roles, servers, listeners, the reference
    rows); each case runs alone."""

    @classmethod
    def setUpClass(cls):
        global su, caps, ROWS, N_DOCS
        su = mx.fdw_superuser()
        # Every capture listener serves col_articles' 20 documents, one per page at
        # page_size 1, so joins across listeners and the mock match every row.
        caps = {name: CaptureServer(documents=ARTICLES, page_size=1).start() for name in ("P", "V", "D", "B")}
        mx.mock_reset()
        with mx.case("set up: roles, servers, mappings, a view owned by bob, definer functions owned by carol"):
            set_up()
        base = mx.query(su, "SELECT document_id, category, word_count FROM km_s")
        ROWS = {r[0]: (r[1], r[2]) for r in base}
        with mx.case("the reference rows: one scan of col_articles alone"):
            mx.check_eq(len(base), 20, "documents in col_articles")
            mx.check_eq(len(ROWS), 20, "distinct ids")
        N_DOCS = mx.scalar(su, "SELECT count(*) FROM mixpeek_documents('col_articles', "
                               "ARRAY['doc_flat_01', 'doc_km_missing'])")

    @classmethod
    def tearDownClass(cls):
        global su
        if totals["statements"]:
            mx.log("  %d statements, %d requests checked, %d with a wrong key or namespace, %d errors, "
                   "%d backend crashes, in %.1f s" % (totals["statements"], totals["requests"], totals["wrong"],
                                                      totals["errors"], alice.crashes, totals["seconds"]))
        with mx.case("clean up"):
            if alice.c is not None and not alice.c.closed:
                alice.c.close()
            su = mx.wait_for_server()
            mx.drop_roles(su, ROLES, SERVERS)
            for cap in caps.values():
                cap.stop()
        mx.mock_reset()

    def test_01_each_source_alone(self):
        """each source alone, as alice"""
        for s in SOURCES:
            run("%s alone" % s.name, ["SELECT document_id, category, word_count FROM %s" % s.rel],
                join_rows(), [server_of(s)])

    def test_02_explain(self):
        """EXPLAIN: the shapes are the plans they are named after"""
        x, y = SOURCES[5], SOURCES[2]
        conn = alice.get()
        for name, fn, node in (("nested loop", shape_nestloop, "Nested Loop"),
                               ("hash join", shape_hashjoin, "Hash Join"),
                               ("batched join", shape_batched, "MixpeekBatchJoin")):
            sql, _, settings = fn(x, y)
            for k, v in settings:
                mx.query(conn, "SET %s = %s" % (k, v))
            plan = "\n".join(r[0] for r in mx.query(conn, "EXPLAIN " + sql))
            mx.query(conn, "RESET ALL; SET mixpeek.namespace = 'production'")
            mx.check(node in plan, "%s: the plan has a %s" % (name, node), plan)

    def every_pair(self, shape_index):
        """Every pair of key sources in one statement of the shape."""
        name = ALL_SHAPES[shape_index]
        if mx.LONG:
            mx.log("  (both orders, and each source with itself)")
        with mx.Timer() as t:
            for x, y in pairs(shape_index):
                try:
                    run_pair(shape_index, x, y)
                except psycopg2.Error as exc:
                    # a crash between the statements of a shape (SET, PREPARE, ...)
                    mx.check(False, "%s, %s and %s: %s" % (name, x.name, y.name, str(exc).strip().splitlines()[0]))
                    alice.c = None
        totals["seconds"] += t.elapsed

    def test_03_nested_loop(self):
        """nested loop: every pair of key sources in one statement"""
        self.every_pair(0)

    def test_04_hash_join(self):
        """hash join: every pair of key sources in one statement"""
        self.every_pair(1)

    def test_05_lateral(self):
        """LATERAL: every pair of key sources in one statement"""
        self.every_pair(2)

    def test_06_scalar_subquery(self):
        """scalar subquery per row: every pair of key sources in one statement"""
        self.every_pair(3)

    def test_07_document_per_row(self):
        """mixpeek_document() per row: every pair of key sources in one statement"""
        self.every_pair(4)

    def test_08_documents_per_row(self):
        """mixpeek_documents() per row: every pair of key sources in one statement"""
        self.every_pair(5)

    def test_09_two_cursors(self):
        """two cursors: every pair of key sources in one statement"""
        self.every_pair(6)

    def test_10_prepared_statements(self):
        """prepared statements: every pair of key sources in one statement"""
        self.every_pair(7)

    def test_11_batched_join(self):
        """batched join: every pair of key sources in one statement"""
        for x, y in pairs(0):
            run_shape("batched join", shape_batched, x, y)


if __name__ == "__main__":
    mx.main("test_key_matrix")
