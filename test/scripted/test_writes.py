"""INSERT, UPDATE and DELETE through mixpeek_fdw, as the mock sees them.

- Batches: 2,500 rows inserted (one POST each, with exactly its user
  fields), updated (three POST .../documents/batch of 1,000, 1,000 and 500
  updates with the changed field only) and deleted (three DELETE
  .../documents/batch); reads see every step.
- Keys: each request carries the key of the user mapping of the role that
  writes, and the namespace of the table (or server).
- Faults in the middle: a batch answered 500 until the retries run out
  fails the statement with the documents written before it in the context
  and the ones not sent counted; a batch whose documents are partly gone
  answers per document, and the ERROR's DETAIL names what was and was not
  written.
- Retries only where a repeat is harmless: a 429 on a batch update, or a
  500 after the batch was applied, is retried and the documents hold the
  values once; a 429 on a create is not retried (the statement fails, the
  other rows stay created, none twice), nor a 500 after the create was
  applied (the document exists once).
- Transactions: a ROLLBACK, or a ROLLBACK TO SAVEPOINT, after remote
  writes warns that they stay written.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402

N = 2500
ROLES = ["mx_wr_alice", "mx_wr_bob"]


def setUpModule():
    global su
    su = mx.fdw_superuser()
    mx.mock_reset()
    mx.create_roles(su, ROLES, servers=["mx_wr"])
    mx.query(su, """
        CREATE SERVER mx_wr FOREIGN DATA WRAPPER mixpeek_fdw
          OPTIONS (namespace 'default', updatable 'true');
        CREATE USER MAPPING FOR mx_wr_alice SERVER mx_wr OPTIONS (api_key 'sk_test_alpha');
        CREATE USER MAPPING FOR mx_wr_bob SERVER mx_wr OPTIONS (api_key 'sk_test_beta');
        CREATE USER MAPPING FOR CURRENT_USER SERVER mx_wr OPTIONS (api_key 'sk_test_gamma');
        GRANT USAGE ON FOREIGN SERVER mx_wr TO mx_wr_alice, mx_wr_bob;
    """)


def tearDownModule():
    mx.drop_roles(su, ROLES, servers=["mx_wr"])


def table(name, collection, extra=""):
    """A foreign table on the test server: document_id, title, n."""
    mx.query(su, "DROP FOREIGN TABLE IF EXISTS %s" % name)
    mx.query(su, "CREATE FOREIGN TABLE %s (document_id text, title text, n int) "
                 "SERVER mx_wr OPTIONS (collection '%s'%s)" % (name, collection, extra))
    mx.query(su, "GRANT ALL ON %s TO PUBLIC" % name)


def fault_table(name, collection, n, extra=""):
    """A table on a writefault- collection with n rows; the mock's request
    number before the statement under test."""
    table(name, collection, extra)
    if n:
        fill(name, n, collection)
    return mx.mock_last_seq()


def writes(since, path_contains=None):
    """The write requests the mock received after seq since."""
    return [r for r in mx.mock_requests(since=since, path_contains=path_contains)
            if r["method"] != "GET" and not r["path"].endswith("/list")]


def fill(name, n, collection, in_order=False):
    """n rows (title ti, n i); in_order: one at a time (RETURNING), so that
    doc_w00000i holds n = i, where concurrent POSTs get ids as they arrive."""
    mx.query(su, "INSERT INTO %s (title, n) SELECT 't' || i, i FROM generate_series(1, %d) i%s"
             % (name, n, " RETURNING document_id" if in_order else ""))
    ids = ["doc_w%06d" % i for i in range(1, n + 1)]
    mx.check_eq(mx.scalar(su, "SELECT count(*) FROM %s" % name), n,
                "%s: the %d rows are there" % (collection, n))
    return ids


class Batches(mx.TestCase):

    def test_01_insert_update_delete_2500(self):
        """2,500 rows: one POST each, then batches of 1,000 to update and delete"""
        table("wr_many", "scratch-wr-many")
        seq = mx.mock_last_seq()
        ids = fill("wr_many", N, "scratch-wr-many")
        posts = writes(seq)
        mx.check_eq(len(posts), N, "one request per inserted row")
        mx.check_eq({(r["method"], r["path"]) for r in posts},
                    {("POST", "/v1/collections/scratch-wr-many/documents")},
                    "every insert is a POST to the collection's documents")
        mx.check_eq(sorted((r["body"]["n"], r["body"]["title"], sorted(r["body"])) for r in posts),
                    [(i, "t%d" % i, ["collection_id", "n", "title"]) for i in range(1, N + 1)],
                    "each body holds exactly the row's user fields and collection_id")
        mx.check(all(r["body"]["collection_id"] == "scratch-wr-many" for r in posts),
                 "collection_id is the table's collection")

        seq = mx.mock_last_seq()
        mx.check_eq(mx.query(su, "UPDATE wr_many SET n = n * 10") and None, None, "UPDATE runs")
        batches = writes(seq)
        mx.check_eq([(r["method"], r["path"], len(r["body"]["updates"])) for r in batches],
                    [("POST", "/v1/collections/scratch-wr-many/documents/batch", 1000),
                     ("POST", "/v1/collections/scratch-wr-many/documents/batch", 1000),
                     ("POST", "/v1/collections/scratch-wr-many/documents/batch", 500)],
                    "three batch updates: 1,000, 1,000 and 500 documents")
        sent = {u["document_id"]: u["update_data"] for r in batches for u in r["body"]["updates"]}
        mx.check_eq(sorted(sent), ids, "every document updated once")
        # the mock numbers documents in the order the POSTs arrived
        created_n = {"doc_w%06d" % (k + 1): r["body"]["n"] for k, r in enumerate(posts)}
        mx.check_eq(sent, {i: {"n": 10 * created_n[i]} for i in ids},
                    "update_data holds the changed field only, with its new value")
        mx.check_eq(mx.scalar(su, "SELECT sum(n) FROM wr_many"), 10 * N * (N + 1) // 2,
                    "reads see the updated values")

        seq = mx.mock_last_seq()
        mx.query(su, "DELETE FROM wr_many")
        batches = writes(seq)
        mx.check_eq([(r["method"], r["path"], len(r["body"]["document_ids"])) for r in batches],
                    [("DELETE", "/v1/collections/scratch-wr-many/documents/batch", 1000),
                     ("DELETE", "/v1/collections/scratch-wr-many/documents/batch", 1000),
                     ("DELETE", "/v1/collections/scratch-wr-many/documents/batch", 500)],
                    "three batch deletes")
        mx.check_eq(sorted(i for r in batches for i in r["body"]["document_ids"]), ids,
                    "every document deleted once")
        mx.check_eq(mx.scalar(su, "SELECT count(*) FROM wr_many"), 0, "nothing left")


    def test_02_prepared_and_explain_analyze(self):
        """a prepared UPDATE runs with its generic plan; EXPLAIN ANALYZE counts what was sent"""
        table("wr_prep", "scratch-wr-prep")
        ids = fill("wr_prep", 30, "scratch-wr-prep", in_order=True)
        mx.query(su, "PREPARE wr_up(int, int) AS UPDATE wr_prep SET title = 'p' || $2 "
                     "WHERE n <= $1")
        seq = mx.mock_last_seq()
        for k in range(1, 8):
            mx.query(su, "EXECUTE wr_up(%d, %d)" % (k, k))
        mx.query(su, "DEALLOCATE wr_up")
        got = [(r["method"], r["path"].rsplit("/", 1)[1]) for r in writes(seq)]
        mx.check_eq(got, [("PATCH", ids[0])] + [("POST", "batch")] * 6,
                    "one PATCH, then a batch each time, custom and generic plans alike")
        mx.check_eq(mx.query(su, "SELECT title FROM wr_prep WHERE n <= 7 ORDER BY n"),
                    [("p7",)] * 7, "the last execution's values")

        mx.query(su, "ALTER FOREIGN TABLE wr_prep OPTIONS (ADD batch_size '10')")
        seq = mx.mock_last_seq()
        plan = "\n".join(r[0] for r in mx.query(
            su, "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
                "DELETE FROM wr_prep WHERE n > 5"))
        mx.check("Remote Requests: 3" in plan and "Remote Retries: 0" in plan,
                 "EXPLAIN ANALYZE shows the three batch requests of 25 documents", plan)
        mx.check_eq([len(r["body"]["document_ids"]) for r in writes(seq)], [10, 10, 5],
                    "sent as shown")
        mx.check_eq(mx.scalar(su, "SELECT count(*) FROM wr_prep"), 5, "five left")


    def test_03_insert_select_same_collection(self):
        """INSERT ... SELECT from the same collection ends: the creates wait for the scan"""
        table("wr_self", "scratch-wr-self", ", page_size '10', batch_size '5'")
        fill("wr_self", 25, "scratch-wr-self")
        seq = mx.mock_last_seq()
        mx.query(su, "INSERT INTO wr_self (title, n) SELECT title, n + 100 FROM wr_self")
        log = mx.mock_requests(since=seq)
        lists = [r["seq"] for r in log if r["path"].endswith("/list")]
        posts = [r["seq"] for r in log if r["method"] == "POST" and r["path"].endswith("/documents")]
        mx.check_eq((len(lists), len(posts)), (3, 25), "three pages read, 25 documents created")
        mx.check(max(lists) < min(posts), "every create after the last page of the scan",
                 (lists, posts[:3]))
        mx.check_eq(mx.query(su, "SELECT count(*), count(*) FILTER (WHERE n > 100) FROM wr_self"),
                    [(50, 25)], "each row inserted once")
        seq = mx.mock_last_seq()
        mx.expect_error(su, "INSERT INTO wr_self (title) SELECT title FROM wr_self RETURNING 1",
                        None, "0A000", r"cannot read the collection it writes$")
        mx.check_eq(writes(seq), [], "refused before any write")


class Keys(mx.TestCase):

    def test_01_key_of_each_role(self):
        """each role writes with its own user mapping's key and the table's namespace"""
        table("wr_keys", "scratch-wr-keys")
        table("wr_keys_prod", "scratch-wr-keys", ", namespace 'production'")
        seq = mx.mock_last_seq()
        for role in ROLES:
            c = mx.connect()
            mx.query(c, "SET ROLE %s" % role)
            mx.query(c, "INSERT INTO wr_keys (title) VALUES (%s)", (role,))
            mx.query(c, "UPDATE wr_keys SET n = 1 WHERE title = %s", (role,))
            mx.query(c, "UPDATE wr_keys_prod SET n = 2 WHERE title = %s", (role,))
            mx.query(c, "DELETE FROM wr_keys WHERE title = %s", (role,))
            c.close()
        got = [(r["method"], r["identity"], r["namespace"]) for r in writes(seq)]
        mx.check_eq(got, [
            ("POST", "alpha", "default"), ("PATCH", "alpha", "default"),
            ("PATCH", "alpha", "production"), ("DELETE", "alpha", "default"),
            ("POST", "beta", "default"), ("PATCH", "beta", "default"),
            ("PATCH", "beta", "production"), ("DELETE", "beta", "default"),
        ], "(method, key's identity, namespace) of each write")

    def test_02_view_owner_key(self):
        """through another role's view, writes carry the view owner's key, as scans do"""
        table("wr_keys", "scratch-wr-keys")
        mx.query(su, "INSERT INTO wr_keys (title) VALUES ('via view')")
        mx.query(su, "CREATE VIEW wr_alice_view AS SELECT document_id, title, n FROM wr_keys; "
                     "ALTER VIEW wr_alice_view OWNER TO mx_wr_alice; "
                     "GRANT ALL ON wr_alice_view TO mx_wr_bob")
        seq = mx.mock_last_seq()
        c = mx.connect()
        mx.query(c, "SET ROLE mx_wr_bob")
        mx.query(c, "UPDATE wr_alice_view SET n = 5 WHERE title = 'via view'")
        mx.query(c, "DELETE FROM wr_alice_view WHERE title = 'via view'")
        c.close()
        mx.query(su, "DROP VIEW wr_alice_view")
        mx.check_eq([(r["method"], r["identity"]) for r in mx.mock_requests(since=seq)],
                    [("POST", "alpha"), ("PATCH", "alpha"), ("POST", "alpha"), ("DELETE", "alpha")],
                    "scans and writes through the view: alice's key")

    def test_03_no_mapping(self):
        """a role without a key for the server writes nothing"""
        table("wr_keys", "scratch-wr-keys")
        mx.query(su, "DROP ROLE IF EXISTS mx_wr_carol; CREATE ROLE mx_wr_carol")
        mx.query(su, "GRANT USAGE ON FOREIGN SERVER mx_wr TO mx_wr_carol")
        seq = mx.mock_last_seq()
        c = mx.connect()
        mx.query(c, "SET mixpeek.api_key = ''; SET ROLE mx_wr_carol")
        mx.expect_error(c, "INSERT INTO wr_keys (title) VALUES ('x')", None, "28000",
                        r"^no Mixpeek API key for foreign server")
        c.close()
        mx.query(su, "DROP OWNED BY mx_wr_carol; DROP ROLE mx_wr_carol")
        mx.check_eq(writes(seq), [], "no request")


class Faults(mx.TestCase):

    def test_01_batch_fails_after_retries(self):
        """a batch answered 500 every time: ERROR, what was written named, the rest counted"""
        # requests 1..2500 are the inserts, 2501 the first batch, 2502.. fail
        col = "writefault-2502-100-status-500-mid"
        table("wr_mid", col)
        ids = fill("wr_mid", N, col)
        seq = mx.mock_last_seq()
        err = mx.expect_error(su, "UPDATE wr_mid SET n = -n", None, "HV000",
                              r"^Mixpeek returned HTTP 500")
        sent = writes(seq)
        mx.check_eq([len(r["body"]["updates"]) for r in sent], [1000, 1000, 1000, 1000],
                    "the first batch, then the second one three times (two retries); "
                    "the third is never sent")
        mx.check_eq(sent[1]["body"], sent[3]["body"], "a retry sends the same body")
        if err is not None:
            mx.check(re.search(r"Documents updated by this statement before the failure: "
                               r"1000 \(%s, .*, and 990 more\)\. In the failed request, not known "
                               r"to be updated: 1000 \(%s, .*, and 990 more\)\. Not sent: 500\."
                               % (re.escape(ids[0]), re.escape(ids[1000])), err.context) is not None,
                     "the context counts and names what was written, and what was not sent",
                     err.context)
        mx.check_eq(mx.scalar(su, "SELECT count(*) FROM wr_mid WHERE n < 0"), 1000,
                    "exactly the first batch is written")

    def test_02_partial_batch(self):
        """a batch whose documents are partly gone: DETAIL names what was and was not written"""
        table("wr_part", "scratch-wr-part")
        ids = fill("wr_part", 20, "scratch-wr-part", in_order=True)
        # the CTE's UPDATE is sent after the main DELETE has removed n <= 12
        err = mx.expect_error(
            su, "WITH u AS (UPDATE wr_part SET title = 'u') DELETE FROM wr_part WHERE n <= 12",
            None, "40001", r"^Mixpeek did not update 12 of 20 documents of foreign table "
                           r"\"wr_part\": Document not found$")
        if err is not None:
            mx.check_eq(err.detail,
                        "Documents not updated: 12 (%s, and 2 more). Documents updated by this "
                        "statement before the failure: 8 (%s)."
                        % (", ".join(ids[:10]), ", ".join(ids[12:])),
                        "DETAIL names the ids not written (bounded) and the ones written")
        mx.check_eq(mx.query(su, "SELECT count(*), min(title), max(title) FROM wr_part"),
                    [(8, "u", "u")], "the other 8 are updated")

    def test_03_retry_only_idempotent(self):
        """429 in a batch update is retried; 429 on a create is not"""
        # the 6th write: after 5 inserts, the batch update
        seq = fault_table("wr_429", "writefault-6-1-status-429-upd", 5)
        mx.query(su, "UPDATE wr_429 SET n = 7")
        sent = writes(seq)
        mx.check_eq([(r["method"], r["status"]) for r in sent], [("POST", 429), ("POST", 200)],
                    "the batch update is sent again after the 429")
        mx.check_eq(mx.query(su, "SELECT count(*), sum(n) FROM wr_429"), [(5, 35)],
                    "every document holds the new value")

        # the 3rd create of 5 answered 429, with rows one at a time
        seq = fault_table("wr_429i", "writefault-3-1-status-429-ins", 0, ", batch_size '1'")
        err = mx.expect_error(su, "INSERT INTO wr_429i (title, n) SELECT 't' || i, i "
                                  "FROM generate_series(1, 5) i", None, "53400",
                              r"^Mixpeek returned HTTP 429")
        sent = writes(seq)
        mx.check_eq([r["status"] for r in sent], [200, 200, 429],
                    "no POST after the 429: not retried, and the statement stops")
        if err is not None:
            mx.check("Documents created by this statement before the failure: 2 "
                     "(doc_w000001, doc_w000002)." in err.context,
                     "the context names what was created", err.context)
        mx.check_eq(mx.scalar(su, "SELECT count(*) FROM wr_429i"), 2,
                    "two documents, none twice")

    def test_04_lost_reply(self):
        """a reply lost after applying: PATCH and DELETE retried harmlessly, POST not retried"""
        seq = fault_table("wr_lost", "writefault-2-1-applied-500-patch", 1)
        mx.query(su, "UPDATE wr_lost SET n = 42")
        mx.check_eq([(r["method"], r["status"], r["body"]) for r in writes(seq)],
                    [("PATCH", 500, {"n": 42}), ("PATCH", 200, {"n": 42})],
                    "the PATCH is sent again: absolute values, applied twice to the same effect")
        mx.check_eq(mx.query(su, "SELECT n FROM wr_lost"), [(42,)], "the value, once")

        for name, n, kinds in (("del1", 1, ["DELETE"]), ("del2", 2, ["batch"])):
            seq = fault_table("wr_lost" + name, "writefault-%d-1-applied-500-%s" % (n + 1, name), n)
            mx.query(su, "DELETE FROM wr_lost%s" % name)
            mx.check_eq([(r["method"], r["status"]) for r in writes(seq)],
                        [("DELETE", 500), ("DELETE", 404 if n == 1 else 200)],
                        "%s: the DELETE is sent again, and finds the document(s) gone" % name)
            mx.check_eq(mx.scalar(su, "SELECT count(*) FROM wr_lost%s" % name), 0,
                        "%s: deleted, and the statement succeeded" % name)

        seq = fault_table("wr_lostc", "writefault-2-1-applied-500-post", 0)
        err = mx.expect_error(su, "INSERT INTO wr_lostc (title) VALUES ('a'), ('b'), ('c')",
                              None, "HV000", r"^Mixpeek returned HTTP 500")
        mx.check_eq(len(writes(seq)), 3, "three POSTs, the failed one not sent again")
        if err is not None:
            mx.check("1 of the 3 rows sent together failed (a create that may have reached "
                     "Mixpeek is not sent again). Documents created by this statement before "
                     "the failure: 2 (doc_w000001, doc_w000003)." in err.context,
                     "the context says a create may have been made", err.context)
        mx.check_eq(mx.scalar(su, "SELECT count(*) FROM wr_lostc"), 3,
                    "the applied create exists once: three documents, no fourth")


    def test_05_cancel_mid_batch(self):
        """statement_timeout during a stalled batch: 57014, nothing counted as written, the session goes on"""
        # the 4th write: after three creates, the batch delete stalls for a minute
        seq = fault_table("wr_stall", "writefault-4-1-stall-60000-del", 3)
        c = mx.connect()
        # the DELETE must have sent its batch before the deadline (the checks
        # below are of that request): seconds for a loaded machine, still far
        # from the stall's minute
        mx.query(c, "SET statement_timeout = '3s'")
        err = mx.expect_error(c, "DELETE FROM wr_stall", None, "57014")
        mx.check(any("stay written" in n for n in c.notices) is False,
                 "no WARNING: nothing was known to be written", c.notices)
        mx.query(c, "RESET statement_timeout")
        mx.check_eq(mx.scalar(c, "SELECT count(*) FROM wr_stall"), 3,
                    "the client left before the batch was applied; the session reads on")
        c.close()
        mx.check_eq([r["aborted"] for r in writes(seq)], [True], "the stalled request was abandoned")
        if err is not None:
            mx.check_eq(err.context, "Documents deleted by this statement before the failure: 0. "
                        "In the failed request, not known to be deleted: 3 (doc_w000001, "
                        "doc_w000002, doc_w000003).", "the context names the documents in flight")


class Transactions(mx.TestCase):

    def test_01_rollback_warns(self):
        """ROLLBACK and ROLLBACK TO SAVEPOINT warn that remote writes stay"""
        table("wr_tx", "scratch-wr-tx")
        c = mx.connect(autocommit=False)
        mx.query(c, "INSERT INTO wr_tx (title) VALUES ('a'), ('b')")
        c.rollback()
        mx.check(any("2 Mixpeek documents written by this transaction stay written" in n
                     for n in c.notices), "ROLLBACK warns", c.notices)
        del c.notices[:]
        mx.query(c, "SAVEPOINT s")
        mx.query(c, "UPDATE wr_tx SET n = 1")
        mx.query(c, "ROLLBACK TO SAVEPOINT s")
        mx.check(any("2 Mixpeek documents written by this subtransaction stay written" in n
                     for n in c.notices), "ROLLBACK TO SAVEPOINT warns", c.notices)
        del c.notices[:]
        c.commit()
        mx.check_eq([n for n in c.notices if "stay" in n], [], "COMMIT does not warn")
        mx.check_eq(mx.query(su, "SELECT title, n FROM wr_tx ORDER BY title"),
                    [("a", 1), ("b", 1)], "the writes stayed")
        c.close()


if __name__ == "__main__":
    mx.main('test_writes')
