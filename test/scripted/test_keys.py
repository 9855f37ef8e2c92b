"""Key hygiene (README, "How the key is kept safe"): look for the API key everywhere a role that
is not a superuser, or a log, could see it, and find it nowhere.

Tried as non-superuser roles that log in (mx_alice, mx_bob): SHOW,
current_setting(), set_config(), pg_settings, pg_file_settings,
pg_db_role_setting after ALTER ROLE / ALTER DATABASE ... SET (refused),
CREATE FUNCTION ... SET (refused), pg_proc.proconfig, pg_user_mappings of
other roles, pg_user_mapping, pg_foreign_server options, the text of the
errors of every fault (the mock's echo-key fault sends the key back),
NOTICEs and WARNINGs, EXPLAIN (ANALYZE, VERBOSE, SETTINGS) of foreign scans,
and the server log at log_min_messages = debug5.  The GUC key is not sent
to a foreign server with its own base_url.  Finally a nested throwaway
cluster WITHOUT the library preloaded and a key in postgresql.conf: the key
is not used (28000 with a hint), ALTER SYSTEM refuses to store one, and the
WARNING at load does not show it."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402

INNER = "--no-preload-inner" in sys.argv
# What a superuser types in statements that must be refused.  PostgreSQL
# logs the text of a failing statement itself, so this value may show up in
# the server log; it is not a key of the mock.
TYPED = "sk_typed_in_sql"


def all_text_of(conn):
    return "\n".join(conn.notices)


def server_log_path(conn):
    """The file the server logs to: the collector's, or the postmaster's stderr."""
    path = mx.scalar(conn, "SELECT pg_current_logfile()")
    if path:
        if not path.startswith("/"):
            path = os.path.join(mx.scalar(conn, "SHOW data_directory"), path)
        return path
    try:
        path = os.readlink("/proc/%d/fd/2" % mx.pid(conn))
    except OSError:
        return None
    return path if path.startswith("/") and os.path.isfile(path) else None


def log_size(conn, path):
    return mx.scalar(conn, "SELECT size FROM pg_stat_file(%s)", (path,))


def call_in_a_new_session():
    """mixpeek_document() in a new session: the document_id it returned and
    the identities of the keys the mock saw."""
    c = mx.connect()
    since = mx.mock_last_seq()
    doc = mx.scalar(c, "SELECT mixpeek_document('col_articles', 'doc_flat_01')->>'document_id'")
    c.close()
    return doc, [r["identity"] for r in mx.mock_requests(since=since)]


def log_since(conn, path, offset):
    """The server log from offset on, read by the server (superuser)."""
    size = log_size(conn, path)
    return mx.scalar(conn, "SELECT pg_read_binary_file(%s, %s, %s)", (path, offset, size - offset)).tobytes() \
        .decode("utf-8", "replace")


# ===========================================================================
# Inner part: a cluster without the library preloaded, where
# Keys.test_12_nested_cluster_without_preload runs this file with
# --no-preload-inner
# ===========================================================================

class NoPreload(mx.TestCase):

    @classmethod
    def setUpClass(cls):
        global su, path, start, since
        if not INNER:
            raise mx.Skip("runs in a cluster without preloading (--no-preload-inner)")
        mx.log("inner cluster (no preload), port %s" % os.environ.get("PGPORT"))
        su = mx.connect()
        path = server_log_path(su)
        start = log_size(su, path) if path else 0
        since = mx.mock_last_seq()

    def test_01_not_preloaded(self):
        """the library is not preloaded here"""
        mx.check_eq(mx.scalar(su, "SHOW shared_preload_libraries"), "", "shared_preload_libraries")
        mx.check_eq(mx.scalar(su, "SHOW session_preload_libraries"), "", "session_preload_libraries")

    def test_02_create_extension_warns(self):
        """CREATE EXTENSION loads the library: the stored key is refused with a WARNING"""
        mx.query(su, "CREATE EXTENSION IF NOT EXISTS mixpeek")
        notices = all_text_of(su)
        mx.log("  notices: %s" % notices.strip().replace("\n", " | "))
        mx.check(re.search(r"WARNING:  mixpeek\.api_key is stored in the server configuration but the "
                           r"mixpeek library is not preloaded", notices),
                 "a WARNING at load says the stored key is not used", notices)
        mx.check_no_keys(notices, "notices at load")

    def test_03_alter_system_refused(self):
        """ALTER SYSTEM SET mixpeek.api_key is refused with the preload hint"""
        err = mx.expect_error(su, "ALTER SYSTEM SET mixpeek.api_key = '%s'" % TYPED, None, "42501",
                              r"^mixpeek\.api_key is stored in the server configuration but the mixpeek "
                              r"library is not preloaded$")
        if err:
            mx.check(re.search(r"shared_preload_libraries", err.hint), "hint names the preload", err.hint)
        auto = mx.scalar(su, "SELECT pg_read_file('postgresql.auto.conf')")
        mx.check("api_key" not in auto, "postgresql.auto.conf holds no key", auto)

    def test_04_file_key_not_used(self):
        """the key from postgresql.conf is not used"""
        err = mx.expect_error(su, "SELECT mixpeek_document('col_articles', 'doc_flat_01')", None, "28000",
                              r"^no Mixpeek API key is configured$")
        if err:
            mx.check(re.search(r"shared_preload_libraries", err.hint), "hint says how to preload", err.hint)
        # a fresh session loads the library with the first call
        c = mx.connect()
        mx.expect_error(c, "SELECT mixpeek_document('col_articles', 'doc_flat_01')", None, "28000",
                        r"^no Mixpeek API key is configured$")
        mx.check_no_keys(all_text_of(c), "notices of a fresh session")
        sent = [r for r in mx.mock_requests(since=since)]
        mx.check_eq(len(sent), 0, "requests sent with the stored key")

    def test_05_session_without_the_library(self):
        """a fresh session that has not loaded the library"""
        mx.query(su, "DROP ROLE IF EXISTS mx_carol; CREATE ROLE mx_carol LOGIN PASSWORD 'pw_carol'")
        c = mx.connect(user="mx_carol", password="pw_carol")
        err = mx.run_error(c, "ALTER SYSTEM SET mixpeek.api_key = '%s'" % TYPED)
        mx.check(err is not None, "a non-superuser cannot ALTER SYSTEM")
        # PostgreSQL shows a placeholder to anyone: the reason the key is refused
        # when not preloaded.  Reported, not printed.
        shown = mx.scalar(c, "SELECT current_setting('mixpeek.api_key', true)")
        mx.log("  placeholder visible to a non-superuser before the library is loaded: %s"
               % ("yes (PostgreSQL's behaviour; that key is refused above)" if shown else "no"))
        c.close()
        # A superuser's fresh session has not loaded the library, so no code
        # of ours can refuse there; PostgreSQL accepts ALTER SYSTEM for the
        # placeholder that postgresql.conf created.  Whatever is stored, it
        # must not be used.
        su2 = mx.connect()
        err = mx.run_error(su2, "ALTER SYSTEM SET mixpeek.api_key = '%s'" % TYPED)
        mx.log("  ALTER SYSTEM in a superuser session that has not loaded the library: %s"
               % ("refused (%s)" % err.sqlstate if err else "accepted by PostgreSQL (placeholder)"))
        if err is None:
            mx.reload_conf(su2)
            c = mx.connect()
            mx.expect_error(c, "SELECT mixpeek_document('col_articles', 'doc_flat_01')", None, "28000",
                            r"^no Mixpeek API key is configured$", "after ALTER SYSTEM in an unloaded session")
            mx.check(re.search(r"is not preloaded", all_text_of(c)), "the WARNING at load", all_text_of(c))
            mx.check_no_keys(all_text_of(c), "notices", keys=mx.KEYS + [TYPED])
            c.close()
            # (not reset: the postmaster, which has not loaded the library
            # either, would log the postgresql.conf value as it comes back)
        mx.check_eq(len(mx.mock_requests(since=since)), 0, "requests sent with any stored key")
        mx.query(su2, "DROP ROLE mx_carol")

    def test_06_inner_server_log(self):
        """the inner cluster's server log shows no key"""
        if not path:
            raise mx.Skip("cannot find the server log (no pg_current_logfile(), no readable /proc/<pid>/fd/2)")
        text = log_since(su, path, start)
        mx.check_no_keys(text, "the inner cluster's server log")
        mx.log("  inner server log: %d bytes read, no key" % len(text))


# ---------------------------------------------------------------------------
# Errors of every fault, as a non-superuser, through the functions (GUC key)
# and the FDW (mapping key); then the same faults with the log at debug5.

FAULT_SPECS = ["echo-key", "status-400", "status-401", "status-403", "status-404-collection",
               "status-404-namespace", "status-422", "status-429", "status-500", "status-502", "status-503",
               "status-504", "status-302", "reset", "truncated", "invalid-json", "non-object", "html", "empty",
               "stall-2000", "stall-body-2000", "huge-2", "gzip-bomb-16", "deep-100000", "invalid-utf8",
               "nul-escape", "big-number", "gzip-doc"]
SESSION = ["SET mixpeek.max_retries = 1"]
# only the stalls get a short mixpeek.timeout_ms: every other fault answers
# at once, but a loaded machine may take longer than that to read it, and
# the checks below need the error it causes, not a time-out
STALL_TIMEOUT_MS = 300


def run_faults(conn, who, superuser=False):
    """Every fault through every route; returns the number of errors seen."""
    errors = 0
    for s in SESSION:
        mx.query(conn, s)
    if superuser:
        mx.query(conn, "SET mixpeek.max_response_bytes = '1MB'")
    statements = []
    for spec in FAULT_SPECS:
        statements.append("SELECT mixpeek_document('col_faults', '%s')" % spec)
        statements.append("SELECT count(*) FROM mixpeek_documents('col_faults', ARRAY['redirected', '%s'])" % spec)
        if fdw_ok:
            statements.append("SELECT * FROM mx_keys_faults WHERE document_id = '%s'" % spec)
            statements.append("SELECT count(*) FROM mx_keys_page_%s" % re.sub(r"\W", "_", spec))
    for sql in statements:
        stall = "stall" in sql
        if stall:
            mx.query(conn, "SET mixpeek.timeout_ms = %d" % STALL_TIMEOUT_MS)
        err = mx.run_error(conn, sql)
        if stall:
            mx.query(conn, "RESET mixpeek.timeout_ms")
        if err is not None:
            errors += 1
            mx.check_no_keys(err.all_text(), "%s: %s" % (who, sql))
            if "echo-key" in sql:
                mx.check("[redacted]" in err.message, "%s: echo-key message shows [redacted]" % who, err.message)
    mx.check_no_keys(all_text_of(conn), "%s: notices" % who)
    for s in ("RESET ALL",):
        mx.query(conn, s)
    return errors



# ===========================================================================
# Outer part: the preloaded cluster of the test run
# ===========================================================================

class Keys(mx.TestCase):

    @classmethod
    def setUpClass(cls):
        global su, fdw_ok, fdw_why, alice, bob
        su = mx.setup_extension()
        mx.mock_reset()

        fdw_ok, fdw_why = mx.fdw_usable()
        if mx.scalar(su, "SELECT count(*) FROM pg_roles WHERE rolname = 'mx_alice'"):
            mx.query(su, """
                DROP SERVER IF EXISTS mx_keys CASCADE;
                DROP SERVER IF EXISTS mx_keys_elsewhere CASCADE;
                DROP OWNED BY mx_alice;  -- no-op on a clean run
            """)
        mx.query(su, "DROP ROLE IF EXISTS mx_alice; DROP ROLE IF EXISTS mx_bob")
        mx.query(su, """
            CREATE ROLE mx_alice LOGIN PASSWORD 'pw_alice';
            CREATE ROLE mx_bob LOGIN PASSWORD 'pw_bob';
        """)
        if fdw_ok:
            mx.query(su, """
                CREATE SERVER mx_keys FOREIGN DATA WRAPPER mixpeek_fdw;
                CREATE USER MAPPING FOR mx_alice SERVER mx_keys OPTIONS (api_key 'sk_test_beta');
                CREATE USER MAPPING FOR mx_bob SERVER mx_keys OPTIONS (api_key 'sk_test_gamma');
                GRANT USAGE ON FOREIGN SERVER mx_keys TO mx_alice, mx_bob;
                CREATE FOREIGN TABLE mx_keys_articles (document_id text, category text, word_count int, document jsonb)
                  SERVER mx_keys OPTIONS (collection 'col_articles', page_size '7');
                CREATE FOREIGN TABLE mx_keys_faults (document_id text, ok boolean)
                  SERVER mx_keys OPTIONS (collection 'col_faults');
                GRANT SELECT ON mx_keys_articles, mx_keys_faults TO mx_alice, mx_bob;
            """)
            # its own base_url (the same mock, spelled differently) and no mapping for mx_alice
            mx.query(su, "CREATE SERVER mx_keys_elsewhere FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url %s)",
                     (mx.MOCK_URL.replace("127.0.0.1", "localhost"),))
            mx.query(su, """
                GRANT USAGE ON FOREIGN SERVER mx_keys_elsewhere TO mx_alice;
                CREATE FOREIGN TABLE mx_keys_elsewhere_t (document_id text) SERVER mx_keys_elsewhere
                  OPTIONS (collection 'col_articles');
                GRANT SELECT ON mx_keys_elsewhere_t TO mx_alice;
            """)
            for spec in FAULT_SPECS:
                mx.query(su, """CREATE FOREIGN TABLE IF NOT EXISTS mx_keys_page_%s (document_id text)
                                SERVER mx_keys OPTIONS (collection %%s, page_size '5')""" % re.sub(r"\W", "_", spec),
                         ("faultpage-2-" + spec,))
                mx.query(su, "GRANT SELECT ON mx_keys_page_%s TO mx_alice, mx_bob" % re.sub(r"\W", "_", spec))

        alice = mx.connect(user="mx_alice", password="pw_alice")
        bob = mx.connect(user="mx_bob", password="pw_bob")

    @classmethod
    def tearDownClass(cls):
        with mx.case("clean up"):
            alice.close()
            bob.close()
            mx.query(su, "DROP SERVER IF EXISTS mx_keys CASCADE; DROP SERVER IF EXISTS mx_keys_elsewhere CASCADE")
            mx.query(su, "DROP ROLE mx_alice; DROP ROLE mx_bob")
        mx.mock_reset()

    def test_01_preload_hides_the_setting(self):
        """preload is on, so the setting exists and is hidden from the first statement"""
        mx.check_eq(mx.scalar(su, "SHOW shared_preload_libraries"), "mixpeek", "shared_preload_libraries")
        mx.check_eq(mx.scalar(su, "SHOW mixpeek.api_key"), "sk_test_alpha", "a superuser sees the key")
        # bob's very first statement in his session (PostgreSQL 16 reworded it)
        mx.expect_error(bob, "SHOW mixpeek.api_key", None, "42501",
                        r'^(must be superuser or have privileges of pg_read_all_settings|permission denied) to examine "mixpeek\.api_key"$',
                        "SHOW as the first statement of a session")

    def test_02_settings_views(self):
        """SHOW, current_setting(), set_config(), pg_settings, pg_file_settings"""
        mx.expect_error(alice, "SHOW mixpeek.api_key", None, "42501", r"must be superuser|permission denied to examine")
        mx.expect_error(alice, "SELECT current_setting('mixpeek.api_key')", None, "42501", r"must be superuser|permission denied to examine")
        err = mx.run_error(alice, "SELECT current_setting('mixpeek.api_key', true)")
        if err is None:
            got = mx.scalar(alice, "SELECT current_setting('mixpeek.api_key', true)")
            mx.check(got is None or got == "", "current_setting(..., missing_ok) returns no key", got)
        else:
            mx.check_eq(err.sqlstate, "42501", "current_setting(..., true)")
            mx.check_no_keys(err.all_text(), "current_setting(..., true)")
        mx.expect_error(alice, "SELECT set_config('mixpeek.api_key', 'sk_mine', false)", None, "42501",
                        r'permission denied to set parameter "mixpeek\.api_key"')
        mx.expect_error(alice, "SET mixpeek.api_key = 'sk_mine'", None, "42501",
                        r'permission denied to set parameter "mixpeek\.api_key"')
        mx.check_eq(mx.query(alice, "SELECT name FROM pg_settings WHERE name = 'mixpeek.api_key'"), [],
                    "pg_settings hides the row")
        mx.check_no_keys(mx.scalar(alice, "SELECT string_agg(s::text, E'\\n') FROM pg_settings s"), "pg_settings")
        mx.check_no_keys(mx.scalar(alice, "SELECT string_agg(s::text, E'\\n') FROM pg_show_all_settings() s"),
                         "pg_show_all_settings()")
        names = [r[0] for r in mx.query(alice, "SELECT name FROM pg_settings WHERE name LIKE 'mixpeek.%' ORDER BY 1")]
        mx.log("  mixpeek settings visible to mx_alice: %s" % ", ".join(names))
        mx.expect_error(alice, "SELECT * FROM pg_file_settings", None, "42501", r"permission denied")
        mx.expect_error(alice, "SELECT * FROM pg_show_all_file_settings()", None, "42501", r"permission denied")
        mx.expect_error(alice, "SELECT pg_read_file('postgresql.auto.conf')", None, "42501", r"permission denied")

    def test_03_stored_settings_refused(self):
        """ALTER ROLE / ALTER DATABASE ... SET and CREATE FUNCTION ... SET are refused"""
        refused = r"^mixpeek\.api_key cannot be stored in a role, database or function setting$"
        for sql in ["ALTER ROLE mx_alice SET mixpeek.api_key = '%s'" % TYPED,
                    "ALTER ROLE ALL SET mixpeek.api_key = '%s'" % TYPED,
                    "ALTER ROLE mx_alice IN DATABASE postgres SET mixpeek.api_key = '%s'" % TYPED,
                    "ALTER DATABASE postgres SET mixpeek.api_key = '%s'" % TYPED,
                    "CREATE FUNCTION mx_keyed() RETURNS int LANGUAGE sql SET mixpeek.api_key = '%s' AS 'SELECT 1'" % TYPED,
                    "CREATE PROCEDURE mx_keyed_p() LANGUAGE sql SET mixpeek.api_key = '%s' AS 'SELECT 1'" % TYPED]:
            err = mx.expect_error(su, sql, None, "42501", refused, "superuser: " + sql.split(" SET ")[0])
            if err:
                mx.check(re.search(r"readable by every role", err.detail), "detail says why", err.detail)
        mx.query(su, "CREATE FUNCTION mx_unkeyed() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        mx.expect_error(su, "ALTER FUNCTION mx_unkeyed() SET mixpeek.api_key = '%s'" % TYPED, None, "42501",
                        refused, "ALTER FUNCTION ... SET")
        mx.query(su, "DROP FUNCTION mx_unkeyed()")
        # and by the role itself
        mx.expect_error(alice, "ALTER ROLE mx_alice SET mixpeek.api_key = '%s'" % TYPED, None, "42501", None)
        mx.expect_error(alice, "CREATE FUNCTION mx_keyed() RETURNS int LANGUAGE sql SET mixpeek.api_key = "
                               "'%s' AS 'SELECT 1'" % TYPED, None, "42501", None)
        stored = mx.scalar(alice, "SELECT string_agg(array_to_string(setconfig, ','), ';') FROM pg_db_role_setting")
        mx.check_no_keys(stored or "", "pg_db_role_setting", keys=mx.KEYS + [TYPED])
        mx.check("api_key" not in (stored or ""), "pg_db_role_setting holds no api_key", stored)
        procs = mx.scalar(alice, "SELECT string_agg(array_to_string(proconfig, ','), ';') FROM pg_proc")
        mx.check_no_keys(procs or "", "pg_proc.proconfig", keys=mx.KEYS + [TYPED])

    def test_04_user_mappings(self):
        """user mappings: each role sees only its own key"""
        if not fdw_ok:
            raise mx.Skip("the FDW is not usable (%s)" % fdw_why)
        rows = dict(mx.query(alice, "SELECT usename, umoptions::text FROM pg_user_mappings WHERE srvname = 'mx_keys'"))
        mx.log("  mx_alice sees: %r" % {k: ("<own options>" if v else v) for k, v in rows.items()})
        mx.check_eq(rows.get("mx_alice"), "{api_key=sk_test_beta}", "mx_alice sees her own mapping's options")
        mx.check_eq(rows.get("mx_bob", "absent"), None, "mx_alice sees no options of mx_bob's mapping")
        rows = dict(mx.query(bob, "SELECT usename, umoptions::text FROM pg_user_mappings WHERE srvname = 'mx_keys'"))
        mx.check_eq(rows.get("mx_alice", "absent"), None, "mx_bob sees no options of mx_alice's mapping")
        mx.check_eq(rows.get("mx_bob"), "{api_key=sk_test_gamma}", "mx_bob sees his own")
        everything = mx.scalar(alice, "SELECT string_agg(m::text, E'\\n') FROM pg_user_mappings m")
        mx.check("sk_test_gamma" not in everything, "no trace of mx_bob's key for mx_alice", everything)
        mx.expect_error(alice, "SELECT * FROM pg_user_mapping", None, "42501", r"permission denied")
        servers = mx.scalar(alice, "SELECT string_agg(s::text, E'\\n') FROM pg_foreign_server s")
        mx.check_no_keys(servers, "pg_foreign_server")
        tables = mx.scalar(alice, "SELECT string_agg(t::text, E'\\n') FROM pg_foreign_table t")
        mx.check_no_keys(tables, "pg_foreign_table")
        for ddl, what in [("CREATE SERVER mx_k2 FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (api_key '%s')" % TYPED,
                           "api_key on a server"),
                          ("CREATE FOREIGN TABLE mx_k2t (document_id text) SERVER mx_keys "
                           "OPTIONS (collection 'col_articles', api_key '%s')" % TYPED, "api_key on a table")]:
            err = mx.run_error(su, ddl)
            mx.check(err is not None, "%s is refused" % what)
            if err:
                mx.log("  %s: %s %s" % (what, err.sqlstate, err.message))
                mx.check_no_keys(err.all_text(), what)

    def test_05_each_role_its_own_key(self):
        """each role's scans use its own key (identity seen by the mock)"""
        if not fdw_ok:
            raise mx.Skip("the FDW is not usable (%s)" % fdw_why)
        for conn, ident in ((alice, "beta"), (bob, "gamma")):
            since = mx.mock_last_seq()
            n = mx.scalar(conn, "SELECT count(*) FROM mx_keys_articles WHERE document_id IN ('doc_flat_01', 'doc_flat_02')")
            mx.check_eq(n, 2, "rows")
            ids = {r["identity"] for r in mx.mock_requests(since=since)}
            mx.check_eq(ids, {ident}, "identities the mock saw for this role")

    def test_06_guc_key_not_sent_elsewhere(self):
        """the GUC key is not sent to a server with its own base_url"""
        if not fdw_ok:
            raise mx.Skip("the FDW is not usable (%s)" % fdw_why)
        since = mx.mock_last_seq()
        err = mx.expect_error(alice, "SELECT * FROM mx_keys_elsewhere_t WHERE document_id = 'doc_flat_01'", None,
                              "28000", r'^no Mixpeek API key for foreign server "mx_keys_elsewhere"$')
        mx.check_eq(len(mx.mock_requests(since=since)), 0, "requests sent to that base_url")
        err = mx.expect_error(su, "SELECT * FROM mx_keys_elsewhere_t WHERE document_id = 'doc_flat_01'", None,
                              "28000", r'^no Mixpeek API key for foreign server "mx_keys_elsewhere"$',
                              "as the superuser who has mixpeek.api_key")
        mx.check_eq(len(mx.mock_requests(since=since)), 0, "requests sent to that base_url")

    def test_07_explain(self):
        """EXPLAIN (ANALYZE, VERBOSE, SETTINGS) of foreign scans"""
        if not fdw_ok:
            raise mx.Skip("the FDW is not usable (%s)" % fdw_why)
        queries = ["SELECT * FROM mx_keys_articles WHERE document_id = 'doc_flat_01'",
                   "SELECT * FROM mx_keys_articles WHERE document_id IN ('doc_flat_01', 'nope', 'doc/with/slash')",
                   "SELECT document_id FROM mx_keys_articles WHERE category = 'News' ORDER BY word_count LIMIT 3",
                   "SELECT count(*) FROM mx_keys_articles",
                   "SELECT a.document_id FROM mx_keys_articles a JOIN (VALUES ('doc_flat_02')) v(id) "
                   "ON a.document_id = v.id"]
        for conn, who in ((alice, "mx_alice"), (bob, "mx_bob"), (su, "superuser")):
            for q in queries:
                for opts in ("VERBOSE", "ANALYZE, VERBOSE", "ANALYZE, VERBOSE, SETTINGS, FORMAT JSON"):
                    try:
                        out = "\n".join(str(r[0]) for r in mx.query(conn, "EXPLAIN (%s) %s" % (opts, q)))
                    except Exception as exc:
                        mx.check(False, "EXPLAIN (%s) %s as %s: %s" % (opts, q, who, exc))
                        continue
                    mx.check_no_keys(out, "EXPLAIN (%s) as %s" % (opts, who))
        out = "\n".join(r[0] for r in mx.query(alice, "EXPLAIN (ANALYZE, VERBOSE) " + queries[2]))
        mx.log("  " + out.replace("\n", "\n  "))
        mx.query(su, "SET mixpeek.api_key = 'sk_test_gamma'")
        out = "\n".join(r[0] for r in mx.query(su, "EXPLAIN (VERBOSE, SETTINGS) SELECT mixpeek_document('col_articles', 'x')"))
        mx.check_no_keys(out, "EXPLAIN (SETTINGS) with the key set in the session")
        mx.query(su, "RESET mixpeek.api_key")

    def test_08_fault_errors(self):
        """error text of every fault, as mx_alice"""
        n = run_faults(alice, "mx_alice")
        mx.log("  %d errors examined" % n)
        mx.check(n >= 20, "the faults did fail", n)

    def test_09_wrong_forbidden_missing_keys(self):
        """wrong, forbidden and missing keys"""
        for key, state in (("sk_wrong", "28000"), ("sk_test_forbidden", "42501")):
            mx.query(su, "SET mixpeek.api_key = %s", (key,))
            mx.expect_error(su, "SELECT mixpeek_document('col_articles', 'doc_flat_01')", None, state, None,
                            "GUC key %s" % key)
            mx.expect_error(su, "SELECT * FROM mixpeek_documents('col_faults', ARRAY['echo-key', 'x'])", None,
                            "28000" if key == "sk_wrong" else "42501", None, "echo-key with %s" % key)
        mx.query(su, "SET mixpeek.api_key = ''")
        err = mx.expect_error(su, "SELECT mixpeek_document('col_articles', 'doc_flat_01')", None, "28000",
                              r"^no Mixpeek API key is configured$")
        mx.query(su, "RESET mixpeek.api_key")
        if fdw_ok:
            mx.query(su, "ALTER USER MAPPING FOR mx_alice SERVER mx_keys OPTIONS (SET api_key 'sk_wrong')")
            mx.expect_error(alice, "SELECT * FROM mx_keys_faults WHERE document_id = 'echo-key'", None, "28000",
                            None, "a user mapping with a wrong key")
            mx.query(su, "ALTER USER MAPPING FOR mx_alice SERVER mx_keys OPTIONS (SET api_key 'sk_test_beta')")

    # Key rotation: PostgreSQL logs 'parameter "mixpeek.api_key" changed to ...'
    # at a reload; with the library preloaded the key must be masked there.

    def test_10_key_rotation(self):
        """key rotation with ALTER SYSTEM and a reload"""
        path = server_log_path(su)
        if path is None:
            raise mx.Skip("cannot find the server log (no pg_current_logfile(), no readable /proc/<pid>/fd/2)")
        start = log_size(su, path)
        try:
            mx.query(su, "ALTER SYSTEM SET mixpeek.api_key = 'sk_test_gamma'")
            mx.reload_conf(su)
            doc, identities = call_in_a_new_session()
            mx.check_eq(doc, "doc_flat_01", "a call with the rotated key")
            mx.check_eq(identities, ["gamma"], "the key sent")
        finally:
            mx.query(su, "ALTER SYSTEM RESET mixpeek.api_key")
            mx.reload_conf(su)
        doc, identities = call_in_a_new_session()
        mx.check_eq(identities, ["alpha"], "the key sent after RESET")
        text = log_since(su, path, start)
        changed = [l for l in text.splitlines() if 'parameter "mixpeek.api_key" changed to' in l]
        mx.log("  " + "\n  ".join(changed))
        mx.check(len(changed) >= 2, "PostgreSQL logged both changes", changed)
        mx.check(all(l.endswith('changed to "[redacted]"') for l in changed), "the logged values are masked", changed)
        mx.check_no_keys(text, "the server log of the rotation")

    def test_11_server_log_at_debug5(self):
        """the server log at log_min_messages = debug5 shows no key"""
        path = server_log_path(su)
        if path is None:
            raise mx.Skip("cannot find the server log (no pg_current_logfile(), no readable /proc/<pid>/fd/2)")
        mx.log("  server log: %s" % path)
        start = log_size(su, path)
        mx.query(su, "ALTER SYSTEM SET log_min_messages = debug5")
        mx.query(su, "ALTER SYSTEM SET log_error_verbosity = verbose")
        mx.query(su, "ALTER SYSTEM SET log_min_error_statement = debug5")
        try:
            mx.reload_conf(su)
            a2 = mx.connect(user="mx_alice", password="pw_alice")
            level = mx.scalar(su, "SHOW log_min_messages")
            mx.check_eq(level, "debug5", "log_min_messages in effect")
            mx.scalar(a2, "SELECT mixpeek_document('col_articles', 'doc_flat_01') IS NOT NULL")
            mx.scalar(su, "SELECT count(*) FROM mixpeek_documents('col_articles', ARRAY['doc_flat_01', 'a b', 'nope'])")
            n = run_faults(a2, "mx_alice at debug5") + run_faults(su, "superuser at debug5", superuser=True)
            if fdw_ok:
                mx.query(a2, "EXPLAIN (ANALYZE, VERBOSE) SELECT * FROM mx_keys_articles WHERE category = 'News'")
            # the statement text must not hold the key: PostgreSQL logs statements itself
            mx.query(su, "SELECT set_config('mixpeek.api_key', 'sk_' || 'wrong', false)")
            mx.run_error(su, "SELECT mixpeek_document('col_faults', 'echo-key')")
            mx.run_error(su, "SELECT mixpeek_document('col_articles', 'doc_flat_01')")
            mx.query(su, "RESET mixpeek.api_key")
            a2.close()
        finally:
            mx.query(su, "ALTER SYSTEM RESET log_min_messages")
            mx.query(su, "ALTER SYSTEM RESET log_error_verbosity")
            mx.query(su, "ALTER SYSTEM RESET log_min_error_statement")
            mx.reload_conf(su)
        text = log_since(su, path, start)
        lines = text.count("\n")
        mx.log("  %d faults raised while logging at debug5; %d log lines (%d bytes) read" % (n, lines, len(text)))
        mx.check(lines > 100, "the log did grow at debug5", lines)
        mx.check(re.search(r"Mixpeek returned HTTP 400 \(BadRequestError: .*\[redacted\]", text) is not None,
                 "the echo-key error is in the log, redacted")
        for k in mx.KEYS:
            for line in text.splitlines():
                if k in line:
                    mx.check(False, "log line shows the key %s: %s" % (k, line[:300]))
                    break

    def test_12_nested_cluster_without_preload(self):
        """a nested cluster without the library preloaded, key in postgresql.conf"""
        out = mx.run_nested(__file__, "--no-preload-inner",
                            ["mixpeek.api_key=sk_test_beta", "mixpeek.base_url=%s" % mx.MOCK_URL,
                             "mixpeek.namespace=default"],
                            "the checks in the cluster without preload")
        mx.check_no_keys(out, "output of the cluster without preload")


if __name__ == "__main__":
    if INNER:
        mx.main("test_keys (no preload)", tests=[NoPreload], flags=["--no-preload-inner"])
    else:
        mx.main("test_keys", tests=[Keys])
