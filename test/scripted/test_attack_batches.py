"""Attacks on batch, header and buffer ownership (http.c, fdw.c, functions.c).

Written as a hostile non-superuser (mx_ab_alice) with USAGE on mixpeek_fdw
who runs her own loopback listeners (capture.py) and may read a view that
mx_ab_bob owns over a server with bob's key.  Every check asserts the
correct behaviour, so a check that fails names a defect:

1. a foreign scan keeps a pointer to the mixpeek.namespace setting's own
   string and builds its headers at its first fetch: SET in between frees
   it, and a header line libcurl copies next (bob's key, or the superuser's
   mixpeek.api_key) lands there and goes out as X-Namespace to alice;
2. the same for the mixpeek.api_key setting's string (key changed or
   rotated while a cursor is open);
3. mixpeek_documents() never asks mx_batch_lost(): after ROLLBACK TO
   SAVEPOINT its cursor ends early without an error;
4. (holds) foreign-table cursors across savepoints, 429 retries beside
   another key's scan, a timeout mid-transfer, WITH HOLD, PREPARE, re-scans;
5. (holds) the backend's total of buffered bytes after every way of
   abandoning a batch;
6. the cursor set keeps every cursor whole: a long chain of long distinct
   cursors grows the backend by their sum.

Under valgrind (test/memcheck.sh with MX_MEMCHECK_TESTS pointing here and
MX_AB_VALGRIND=1) 1 and 2 are invalid reads in build_header_list /
acquire_headers of memory freed by set_config_option_ext.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402
from capture import CaptureServer  # noqa: E402

import psycopg2  # noqa: E402

ROLES = ["mx_ab_alice", "mx_ab_bob"]
SERVERS = ["mx_ab_bob", "mx_ab_settings", "mx_ab_pad"]
ALICE_KEY = "sk_cap_alice_0123456789"
# "Authorization: Bearer " + BOB_KEY is 43 bytes with its NUL: the size of
# a 42-character namespace string (same malloc bin)
BOB_KEY = "sk_cap_bob_secret_xyz"
assert len("Authorization: Bearer " + BOB_KEY) == 43


def set_up():
    """alice's own server on her listener, bob's view over his key."""
    mx.create_roles(su, ROLES, SERVERS, schemas=True)
    mx.query(su, "GRANT USAGE ON FOREIGN DATA WRAPPER mixpeek_fdw TO mx_ab_alice")
    mx.query(su, "CREATE SERVER mx_ab_bob FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url %s)",
             (cap_b.url,))
    mx.query(su, "CREATE USER MAPPING FOR mx_ab_bob SERVER mx_ab_bob OPTIONS (api_key %s)", (BOB_KEY,))
    mx.query(su, "GRANT USAGE ON FOREIGN SERVER mx_ab_bob TO mx_ab_bob")
    mx.query(su, """CREATE FOREIGN TABLE ab_bob.t (document_id text, category text)
                    SERVER mx_ab_bob OPTIONS (collection 'col_bob', namespace 'ns_bob', page_size '4')""")
    mx.query(su, "ALTER FOREIGN TABLE ab_bob.t OWNER TO mx_ab_bob")
    bob = mx.connect(user="mx_ab_bob", password="pw")
    mx.query(bob, """
        CREATE VIEW ab_bob.v AS SELECT document_id, category FROM ab_bob.t;
        GRANT USAGE ON SCHEMA ab_bob TO mx_ab_alice;
        GRANT SELECT ON ab_bob.v TO mx_ab_alice;
    """)
    bob.close()
    alice = alice_conn()
    mx.query(alice, "CREATE SERVER ab_a FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url %s)", (cap_a.url,))
    mx.query(alice, "CREATE USER MAPPING FOR CURRENT_USER SERVER ab_a OPTIONS (api_key %s)", (ALICE_KEY,))
    # no namespace option anywhere: the scan's namespace is mixpeek.namespace
    mx.query(alice, """CREATE FOREIGN TABLE ab_alice.t (document_id text, category text)
                       SERVER ab_a OPTIONS (collection 'col_alice', page_size '4')""")
    alice.close()


def alice_conn():
    c = mx.connect(user="mx_ab_alice", password="pw")
    mx.query(c, "SET mixpeek.max_retries = 0")
    return c


def close_quietly(c):
    """End c's transaction and close it; a lost connection is no error here."""
    try:
        c.rollback()
        c.close()
    except psycopg2.Error:
        pass


def fetch_after_set(conn, cap, setting, declared, then, table, between, rows=3):
    """The first FETCH of rows from a cursor over table declared while
    setting was declared, after SET setting = then and the statement
    between (cap is cleared first); returns the error (None, or the
    psycopg2.Error).  conn is left in its transaction."""
    cap.clear()
    conn.autocommit = False
    cur = conn.cursor()
    cur.execute("SET %s = %%s" % setting, (declared,))
    cur.execute("DECLARE c CURSOR FOR SELECT document_id FROM %s" % table)
    cur.execute("SET %s = %%s" % setting, (then,))
    cur.execute(between)
    if cur.description is not None:
        cur.fetchall()
    try:
        cur.execute("FETCH %d FROM c" % rows)
        cur.fetchall()
    except psycopg2.Error as exc:
        return exc
    return None


def alive(what):
    """The backend survived: a crash restarts every session."""
    global su
    try:
        mx.scalar(su, "SELECT 1")
        return True
    except psycopg2.Error:
        mx.check(False, "%s: the server crashed (every session was restarted)" % what)
        su = mx.wait_for_server()
        return False


def wrong_headers(cap, key, allowed_ns, what):
    """Every request cap received carries key and one of allowed_ns."""
    reqs = cap.requests()
    bad = [(r["headers"].get("authorization"), r["headers"].get("x-namespace"))
           for r in reqs
           if r["headers"].get("authorization") != "Bearer " + key
           or r["headers"].get("x-namespace") not in allowed_ns]
    mx.check(reqs, "%s: the listener was reached" % what)
    mx.check(not bad, "%s: every request carries the scan's own key and namespace (%d of %d wrong)"
             % (what, len(bad), len(reqs)), bad[:3])
    leaked = [r for r in reqs if BOB_KEY in repr(r["headers"]) or BOB_KEY in (r["body"] or "")]
    mx.check(not leaked, "%s: bob's key never reaches alice's listener" % what,
             [r["headers"] for r in leaked[:2]])


def only_bobs_headers():
    """bob's listener saw only bob's key and namespace."""
    bad = [(r["headers"].get("authorization"), r["headers"].get("x-namespace")) for r in cap_b.requests()
           if r["headers"].get("authorization") != "Bearer " + BOB_KEY
           or r["headers"].get("x-namespace") != "ns_bob"]
    mx.check(not bad, "bob's listener sees only bob's key and namespace", bad[:3])


def doc_handler_delay(ms):
    def h(method, path, query, headers, body):
        if method == "GET":
            time.sleep(ms / 1000.0)
        return None
    return h


PAD = "p" * 20000
BIG = "b" * 200000


def padded(method, path, query, headers, body):
    if method == "GET" and path.endswith("/big_0"):
        return 200, None, {"document_id": "big_0", "pad": BIG}
    if method == "GET" and path.endswith("/fail_0"):
        return 500, None, {"detail": "boom"}
    if method == "GET" and path.endswith("/stall_0"):
        time.sleep(1.5)
    # id lookups: the list request whose ids hold fail_0 or stall_0
    if method == "POST" and '"fail_0"' in body:
        return 500, None, {"detail": "boom"}
    if method == "POST" and '"stall_0"' in body:
        time.sleep(1.5)
    return None


def probe(c, what):
    err = mx.run_error(c, "SELECT length(mixpeek_document('col_d', 'big_0')::text)")
    mx.check(err is None, "%s: afterwards one 200 kB body alone is read (nothing else is held)" % what, err)


class AttackBatches(mx.TestCase):
    """Set up once for the file (roles, servers, listeners); each case runs
    alone."""

    @classmethod
    def setUpClass(cls):
        global su, cap_a, cap_b, cap_c, cap_d
        su = mx.fdw_superuser()
        cap_a = CaptureServer(pages=25, page_size=4).start()     # alice's listener
        cap_b = CaptureServer(pages=25, page_size=4).start()     # bob's server
        cap_c = CaptureServer(pages=10, page_size=4).start()     # the settings' base_url
        cap_d = CaptureServer(documents=[{"document_id": "doc_%04d" % i, "pad": PAD} for i in range(40)],
                              page_size=4, handler=padded).start()
        with mx.case("set up: alice's own server on her listener, bob's view over his key"):
            set_up()

    @classmethod
    def tearDownClass(cls):
        with mx.case("clean up"):
            mx.drop_roles(su, ROLES, SERVERS)
            cap_d.stop()
            cap_a.stop()
            cap_b.stop()
            cap_c.stop()

    def test_01_namespace_after_set_bobs_key(self):
        """a cursor's namespace after SET: freed setting string (bob's key in X-Namespace)

        1. The scan keeps a pointer to the mixpeek.namespace setting's string
        (mx_fdw_target: target->namespace = mx_namespace) and builds its headers
        only when the batch is made, at the first fetch.  A SET in between
        frees that string; malloc hands the chunk to libcurl's copy of the
        next header line it builds: another role's "Authorization: Bearer ...".
        """
        NS_A = "ns_" + "a" * 39
        NS_B = "ns_" + "b" * 20
        assert len(NS_A) == 42
        alice = alice_conn()
        # warm up libcurl and the header cache in this backend
        mx.query(alice, "SELECT count(*) FROM ab_bob.v")
        mx.query(alice, "SELECT count(*) FROM ab_alice.t")
        err = fetch_after_set(alice, cap_a, "mixpeek.namespace", NS_A, NS_B, "ab_alice.t",
                              "SELECT count(*) FROM ab_bob.v")      # bob's headers are built now
        mx.log("  FETCH: %s" % ("ERROR " + str(err).strip() if err else "ok"))
        wrong_headers(cap_a, ALICE_KEY, (NS_A, NS_B), "cursor fetched after SET mixpeek.namespace")
        close_quietly(alice)
        alive("cursor after SET")

    def test_02_namespace_after_set_superusers_key(self):
        """a cursor's namespace after SET: the superuser's key in X-Namespace

        The same with no other role at all: mixpeek_document() builds the header
        line of the superuser's mixpeek.api_key ("Authorization: Bearer
        sk_test_alpha", 36 bytes with its NUL) into the freed namespace string of
        a 35-character namespace.
        """
        NS_C = "ns_" + "c" * 32
        assert len(NS_C) + 1 == len("Authorization: Bearer sk_test_alpha") + 1
        alice = alice_conn()
        mx.query(alice, "SELECT count(*) FROM ab_alice.t")
        mx.query(alice, "SELECT mixpeek_document('col_articles', 'doc_flat_01')")
        err = fetch_after_set(alice, cap_a, "mixpeek.namespace", NS_C, "production", "ab_alice.t",
                              "SELECT mixpeek_document('col_articles', 'doc_flat_01') IS NOT NULL")
        if err is not None:
            mx.log("  FETCH: ERROR %s" % str(err).strip())
        wrong_headers(cap_a, ALICE_KEY, (NS_C, "production"), "cursor fetched after mixpeek_document()")
        got = [r["headers"] for r in cap_a.requests() if "sk_test_alpha" in repr(r["headers"])]
        mx.check(not got, "the superuser's mixpeek.api_key never reaches alice's listener",
                 [h.get("x-namespace") for h in got[:2]])
        close_quietly(alice)
        alive("cursor after mixpeek_document()")

    def test_03_settings_key_changes_under_a_cursor(self):
        """a cursor over the settings' key after the key changes: freed setting string

        2. The same pointer for the mixpeek.api_key setting (mx_settings_api_key()
        returns the setting's own string): a key changed (SET by a superuser,
        or a rotation by ALTER SYSTEM + reload) while a cursor is open frees
        the string that the cursor's first fetch then sends as its key.
        """
        KEY_ONE = "sk_rot_one_0123456789"
        KEY_TWO = "sk_rot_two_0123456789xx"
        mx.query(su, """CREATE SERVER mx_ab_settings FOREIGN DATA WRAPPER mixpeek_fdw;
                        CREATE FOREIGN TABLE ab_settings_t (document_id text)
                          SERVER mx_ab_settings OPTIONS (collection 'col_set', page_size '4')""")
        c = mx.connect()
        mx.query(c, "SET mixpeek.base_url = %s", (cap_c.url,))
        mx.query(c, "SELECT count(*) FROM ab_settings_t")         # warm up
        err = fetch_after_set(c, cap_c, "mixpeek.api_key", KEY_ONE, KEY_TWO, "ab_settings_t",
                              "SET mixpeek.namespace = 'x'", rows=6)
        mx.check(err is None, "FETCH after the key changed succeeds", str(err).strip() if err else None)
        auths = sorted({r["headers"].get("authorization") for r in cap_c.requests()})
        mx.check(auths and set(auths) <= {"Bearer " + KEY_ONE, "Bearer " + KEY_TWO},
                 "the cursor sends the key it was declared with (or the new one), not freed memory", auths)
        close_quietly(c)
        alive("settings key changed under a cursor")

    def test_04_documents_across_rollback_to_savepoint(self):
        """mixpeek_documents() in a cursor across ROLLBACK TO SAVEPOINT returns every row

        3. mixpeek_documents() in a cursor whose first rows are fetched in a
        savepoint that is rolled back: http.c destroys the batch (made in the
        subtransaction), but the function's state lives on in the cursor and
        never asks mx_batch_lost(): the next FETCH queues more ids on the dead
        batch, mx_batch_next() returns NULL, and the set ends early, silently.
        """
        IDS = ["doc_%04d" % i for i in range(40)]
        cap_c.handler = doc_handler_delay(30)
        c = mx.connect()
        mx.query(c, "SET mixpeek.base_url = %s", (cap_c.url,))
        mx.query(c, "SET mixpeek.max_concurrency = 4")
        c.autocommit = False
        cur = c.cursor()
        cur.execute("DECLARE d CURSOR FOR SELECT mixpeek_documents('col_c', %s)->>'document_id'", (IDS,))
        cur.execute("SAVEPOINT s")
        cur.execute("FETCH 1 FROM d")
        first = cur.fetchall()
        cur.execute("ROLLBACK TO SAVEPOINT s")
        err = None
        rest = []
        try:
            cur.execute("FETCH ALL FROM d")
            rest = cur.fetchall()
        except psycopg2.Error as exc:
            err = exc
        got = len(first) + len(rest)
        mx.log("  rows: %d before the rollback, %d after (%s)" % (len(first), len(rest),
                                                                 "ERROR " + str(err).strip() if err else "no error"))
        mx.check(err is not None or got == len(IDS),
                 "after the rollback the cursor returns the remaining documents, or fails: not a silently short set",
                 got)
        close_quietly(c)
        cap_c.handler = None
        alive("mixpeek_documents across a savepoint")

    def test_05_cursors_across_rollback_to_savepoint(self):
        """foreign-table cursors across ROLLBACK TO SAVEPOINT

        4. Foreign-table cursors across ROLLBACK TO SAVEPOINT (list and GET scans),
        with bob's view run inside the savepoint: every row comes, once, and
        every request carries its own scan's key and namespace.
        """
        cap_a.clear()
        cap_b.clear()
        cap_a.handler = None
        alice = alice_conn()
        mx.query(alice, "SET mixpeek.namespace = 'ns_alice'")
        ids = ["doc_%04d" % i for i in range(0, 100, 3)]
        for sql, want in (("SELECT document_id FROM ab_alice.t", 100),
                          ("SELECT document_id FROM ab_alice.t WHERE document_id = ANY(%s)", len(ids))):
            alice.autocommit = False
            cur = alice.cursor()
            cur.execute("DECLARE c CURSOR FOR " + sql, (ids,) if "%s" in sql else None)
            cur.execute("SAVEPOINT s")
            cur.execute("FETCH 5 FROM c")
            rows = cur.fetchall()
            cur.execute("SELECT count(*) FROM ab_bob.v")
            mx.check_eq(cur.fetchone()[0], 100, "bob's view inside the savepoint")
            cur.execute("ROLLBACK TO SAVEPOINT s")
            cur.execute("SAVEPOINT s2")
            cur.execute("FETCH 7 FROM c")
            rows += cur.fetchall()
            cur.execute("SELECT 1/0 FROM ab_bob.v LIMIT 1") if False else None
            try:
                cur.execute("SELECT mixpeek_document('col_x', 'nope') FROM ab_bob.v WHERE 1/0 = 1")
            except psycopg2.Error:
                pass
            cur.execute("ROLLBACK TO SAVEPOINT s2")
            cur.execute("FETCH ALL FROM c")
            rows += cur.fetchall()
            mx.check_eq(len(rows), want, "%s: rows through the cursor" % sql.split(" WHERE")[0][:40])
            mx.check_eq(len(set(rows)), want, "distinct rows")
            alice.rollback()
            alice.autocommit = True
        wrong_headers(cap_a, ALICE_KEY, ("ns_alice",), "alice's cursors across savepoints")
        only_bobs_headers()
        alice.close()
        alive("cursors across savepoints")

    def test_06_429_retries_beside_another_key(self):
        """429 retries on one listener interleaved with another key's scan

        5. Retries (429 with Retry-After) on alice's listener while bob's scan runs
        in the same statement (and, in the next case, a statement_timeout in the
        middle of a transfer): the headers stay each scan's own.
        """
        cap_a.clear()
        cap_b.clear()
        n429 = {"n": 0}

        def h429(method, path, query, headers, body):
            if "list" in path:
                n429["n"] += 1
                if n429["n"] % 3 == 0:
                    return 429, {"Retry-After": "0"}, {"detail": "slow down"}
            return None
        cap_a.handler = h429
        alice = alice_conn()
        mx.query(alice, "SET mixpeek.max_retries = 3")
        mx.query(alice, "SET mixpeek.namespace = 'ns_alice'")
        for sql in ("SELECT count(*) FROM ab_alice.t a JOIN ab_bob.v b USING (document_id)",
                    "SELECT count(*) FROM ab_alice.t a WHERE EXISTS "
                    "(SELECT 1 FROM ab_bob.v b WHERE b.document_id = a.document_id)",
                    "SELECT count((SELECT category FROM ab_bob.v v WHERE v.document_id = a.document_id)) "
                    "FROM ab_alice.t a WHERE a.document_id < 'doc_0012'"):
            mx.query(alice, "SET enable_hashjoin = off") if "JOIN" in sql else None
            n = mx.scalar(alice, sql)
            mx.check(n in (100, 12), "%s: rows" % sql[:60], n)
        wrong_headers(cap_a, ALICE_KEY, ("ns_alice",), "alice's listener under 429 retries")
        only_bobs_headers()
        cap_a.handler = None
        alice.close()

    def test_07_statement_timeout_mid_transfer(self):
        """statement_timeout in the middle of a transfer, then other keys"""
        cap_a.clear()
        cap_b.clear()

        def stall(method, path, query, headers, body):
            if "list" in path and "cursor" in body and '"p": 16' in __import__("base64").urlsafe_b64decode(
                    __import__("json").loads(body)["cursor"]).decode():
                time.sleep(2)
            return None
        cap_a.handler = stall
        alice = alice_conn()
        mx.query(alice, "SET mixpeek.namespace = 'ns_alice'")
        mx.query(alice, "SET statement_timeout = 400")
        err = mx.run_error(alice, "SELECT count(*) FROM ab_alice.t a, LATERAL "
                                  "(SELECT count(*) FROM ab_bob.v v WHERE v.document_id = a.document_id) x")
        mx.check(err is not None and err.sqlstate == "57014", "the statement timed out", err)
        mx.query(alice, "RESET statement_timeout")
        cap_a.handler = None
        mx.check_eq(mx.scalar(alice, "SELECT count(*) FROM ab_bob.v"), 100, "bob's view right after")
        mx.check_eq(mx.scalar(alice, "SELECT count(*) FROM ab_alice.t"), 100, "alice's table right after")
        wrong_headers(cap_a, ALICE_KEY, ("ns_alice",), "alice's listener around a timeout")
        only_bobs_headers()
        alice.close()
        alive("timeout mid-transfer")

    def test_08_with_hold_prepare_rescans(self):
        """WITH HOLD cursors, prepared statements and re-scans mixing alice's and bob's keys"""
        cap_a.clear()
        cap_b.clear()
        alice = alice_conn()
        mx.query(alice, "SET mixpeek.namespace = 'ns_alice'")
        alice.autocommit = False
        cur = alice.cursor()
        cur.execute("DECLARE h CURSOR WITH HOLD FOR SELECT a.document_id, "
                    "(SELECT category FROM ab_bob.v v WHERE v.document_id = a.document_id) "
                    "FROM ab_alice.t a WHERE a.document_id < 'doc_0010'")
        cur.execute("FETCH 2 FROM h")
        rows = cur.fetchall()
        alice.commit()
        cur.execute("FETCH ALL FROM h")
        rows += cur.fetchall()
        cur.execute("CLOSE h")
        alice.commit()
        mx.check_eq(len(rows), 10, "rows of the WITH HOLD cursor")
        mx.check(all(r[1] is not None for r in rows), "bob's column for each row", rows[:3])
        alice.autocommit = True
        mx.query(alice, "PREPARE q(text) AS SELECT count(*) FROM ab_alice.t a JOIN ab_bob.v b "
                        "USING (document_id) WHERE a.document_id < $1")
        for i in range(7):
            mx.check_eq(mx.scalar(alice, "EXECUTE q('doc_0020')"), 20, "EXECUTE q #%d" % i)
        mx.check_eq(mx.scalar(alice, "SELECT sum(x.n) FROM generate_series(1, 6) g, LATERAL "
                                     "(SELECT count(*) AS n FROM (SELECT * FROM ab_alice.t LIMIT g) s) x"), 21,
                    "a LATERAL re-scan with pages still in flight")
        wrong_headers(cap_a, ALICE_KEY, ("ns_alice",), "alice's listener: WITH HOLD, PREPARE, re-scans")
        only_bobs_headers()
        alice.close()
        alive("WITH HOLD, PREPARE, re-scans")

    def test_09_buffered_bytes_after_abandoned_batches(self):
        """the total of buffered bytes after abandoned batches

        6. The total of buffered response bytes (http.c buffered_bytes) after
        batches are abandoned every way we know: LIMIT 1 over
        mixpeek_documents(), a cursor closed mid-scan, a savepoint rolled back
        under a running batch, an error mid-batch, a timeout mid-transfer.  A
        leak (or a wrap below zero) shows as a later single body refused with
        54000 although nothing else is held.
        """
        c = mx.connect()
        mx.query(c, "SET mixpeek.base_url = %s", (cap_d.url,))
        mx.query(c, "SET mixpeek.max_response_bytes = '256kB'")
        mx.query(c, "SET mixpeek.max_concurrency = 2")
        mx.query(c, "SET mixpeek.max_retries = 0")
        mx.query(c, """CREATE SERVER mx_ab_pad FOREIGN DATA WRAPPER mixpeek_fdw;
                       CREATE FOREIGN TABLE ab_pad (document_id text, pad text)
                         SERVER mx_ab_pad OPTIONS (collection 'col_d', page_size '2')""")
        # two list requests of ids (the second matches nothing), so that one
        # is in flight when the first one's rows are abandoned
        ids = ["doc_%04d" % i for i in range(5)] + ["none_%04d" % i for i in range(1500)]
        probe(c, "at the start")
        for i in range(5):
            mx.query(c, "SELECT mixpeek_documents('col_d', %s) LIMIT 1", (ids,))
        probe(c, "LIMIT 1 over mixpeek_documents()")
        for i in range(5):
            mx.query(c, "SELECT document_id FROM ab_pad LIMIT 3")
        probe(c, "LIMIT 3 over a list scan")
        c.autocommit = False
        for i in range(3):
            cur = c.cursor()
            cur.execute("DECLARE k CURSOR FOR SELECT document_id FROM ab_pad")
            cur.execute("SAVEPOINT s")
            cur.execute("FETCH 3 FROM k")
            cur.execute("DECLARE k2 CURSOR FOR SELECT mixpeek_documents('col_d', %s)", (ids,))
            cur.execute("FETCH 2 FROM k2")
            cur.execute("ROLLBACK TO SAVEPOINT s")
            cur.execute("FETCH 3 FROM k")
            cur.execute("CLOSE k")
            c.commit()
        c.autocommit = True
        probe(c, "cursors closed mid-scan and savepoints rolled back")
        for i in range(3):
            mx.run_error(c, "SELECT count(*) FROM mixpeek_documents('col_d', %s)", (ids + ["fail_0"],))
            mx.run_error(c, "SELECT count(*) FROM ab_pad WHERE document_id = ANY(%s)", (ids + ["fail_0"],))
        probe(c, "errors mid-batch")
        mx.query(c, "SET statement_timeout = 300")
        for i in range(3):
            mx.run_error(c, "SELECT count(*) FROM mixpeek_documents('col_d', %s)", (ids + ["stall_0"],))
        mx.query(c, "RESET statement_timeout")
        probe(c, "timeouts mid-transfer")
        c.close()
        alive("buffered bytes")

    def test_10_never_ending_cursor_chain(self):
        """a long chain of long distinct cursors: memory stays bounded per page

        7. The cursor set keeps every cursor a scan followed, whole: a listener
        that hands out long, distinct cursors page after page (64 of 1 MB
        here) makes a backend grow by the sum of their lengths (one page's
        memory before e52f54d).
        """
        if os.environ.get("MX_AB_VALGRIND") == "1":
            raise mx.Skip("resident memory cannot be judged under valgrind")
        counter = {"n": 0}
        CUR_LEN = 1 << 20
        # a chain of a fixed length, not as many pages as fit in a time: a
        # starved machine serves fewer, and the bound below needs them all
        PAGES = 64

        def longcursors(method, path, query, headers, body):
            if "list" in path:
                counter["n"] += 1
                if counter["n"] >= PAGES:
                    return 200, None, {"results": [], "pagination": {"next_cursor": None, "has_more": False}}
                cursor = ("%08d" % counter["n"]) * (CUR_LEN // 8)
                return 200, None, {"results": [], "pagination": {"next_cursor": cursor, "has_more": True}}
            return None
        cap_a.handler = longcursors
        alice = alice_conn()
        bpid = mx.pid(alice)

        def hwm_kb():
            return mx.peak_rss_kb(bpid) or 0
        mx.query(alice, "SELECT count(*) FROM ab_alice.t WHERE false")
        before = hwm_kb()
        mx.query(alice, "SET statement_timeout = '60s'")
        with mx.Timer() as t:
            err = mx.run_error(alice, "SELECT count(*) FROM ab_alice.t")
        mx.query(alice, "RESET statement_timeout")
        grown_mb = (hwm_kb() - before) / 1024.0
        mx.log("  %d pages of 1 MB cursors in %.1f s; peak memory grew by %.0f MB (%s)"
               % (counter["n"], t.elapsed, grown_mb, err.sqlstate if err else "no error"))
        mx.check(err is None, "the chain's end ends the scan", err)
        mx.check_eq(counter["n"], PAGES, "the listener served the whole chain")
        mx.check(grown_mb < 48, "peak memory stays within a few pages' worth (not one cursor per page kept)",
                 "%.0f MB for %d pages" % (grown_mb, counter["n"]))
        cap_a.handler = None
        alice.close()



if __name__ == "__main__":
    mx.main("test_attack_batches")
