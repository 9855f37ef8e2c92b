"""Hardening of what reaches a request, tried as a hostile role would.

- Header injection: mixpeek.namespace (any role may SET it), the other
  settings and every FDW option that reaches a header or the URL refuse
  control characters; no request carries an injected header.
- Preloading: a key in postgresql.conf is honoured only when the library is
  loaded in every session.  A nested cluster with session_preload_libraries
  set by ALTER DATABASE ignores it with a WARNING; another one with
  session_preload_libraries in postgresql.conf uses it.
- A 404 without Mixpeek's NotFoundError about a document (FastAPI's
  {"detail": "Not Found"} for an unknown route) is an error, not "no row".
- A reply that is not a Mixpeek error is masked before it is cut, so a key
  straddling the cut does not show its start; the cut never splits a
  UTF-8 character.
- page_size: what the validator accepts, the scan reads.
- Server-side request forgery: no query, fragment or user info in a
  base_url; a role that is not a superuser may point a server only at the
  host of mixpeek.base_url or of mixpeek.allowed_hosts, checked when the
  server is created and again when it is used; replies from other hosts are
  not quoted; keys too short to be real are refused."""
import base64
import http.server
import os
import re
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402

INNER_DB = "--per-database-preload-inner" in sys.argv
INNER_FILE = "--file-session-preload-inner" in sys.argv
INNER_KEY = "sk_test_beta"      # the key the nested clusters' postgresql.conf holds
HOST_OF_MOCK = mx.MOCK_URL.split("//", 1)[1].split(":")[0]         # 127.0.0.1
OTHER_SPELLING = mx.MOCK_URL.replace(HOST_OF_MOCK, "localhost")   # same mock, another host
FASTAPI_404 = '{"detail":"Not Found"}'


def notices(conn):
    return "\n".join(conn.notices)


def canned(name, status, body, content_type="application/json"):
    """GET /v1/collections/col_canned/documents/<name> answers status, body."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    mx._mock("POST", "/canned", {"name": name, "status": status, "content_type": content_type,
                                 "body_base64": base64.b64encode(body).decode("ascii")})


def server_log(conn):
    """The postmaster's stderr (pg_virtualenv logs there), read through /proc."""
    try:
        path = os.readlink("/proc/%d/fd/2" % mx.pid(conn))
    except OSError:
        return None
    if not path.startswith("/") or not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


class FastAPI404(http.server.BaseHTTPRequestHandler):
    """FastAPI's answer to every route of a base_url with a wrong path."""

    def _answer(self):
        body = FASTAPI_404.encode()
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        try:
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass        # the client may leave once it has read the status
    do_GET = do_POST = _answer

    def log_message(self, *a):
        pass


# ===========================================================================
# Nested clusters without shared_preload_libraries (defect: key visible
# with per-database preloading), where Hardening.test_15 runs this file with
# --per-database-preload-inner
# ===========================================================================

class PerDatabasePreload(mx.TestCase):

    @classmethod
    def setUpClass(cls):
        global su, since
        if not INNER_DB:
            raise mx.Skip("runs in a nested cluster (--per-database-preload-inner)")
        mx.log("nested cluster: session_preload_libraries by ALTER DATABASE, key in postgresql.conf")
        su = mx.connect()
        mx.query(su, "DROP DATABASE IF EXISTS app")
        mx.query(su, "CREATE DATABASE app")
        mx.query(su, "ALTER DATABASE app SET session_preload_libraries = 'mixpeek'")
        mx.query(su, "DROP ROLE IF EXISTS mx_h_carol; CREATE ROLE mx_h_carol LOGIN PASSWORD 'pw_carol'")
        since = mx.mock_last_seq()

    @classmethod
    def tearDownClass(cls):
        mx.query(su, "DROP DATABASE app")
        mx.query(su, "DROP OWNED BY mx_h_carol; DROP ROLE mx_h_carol")

    def test_01_not_preloaded_in_the_cluster(self):
        """shared_preload_libraries is empty"""
        mx.check_eq(mx.scalar(su, "SHOW shared_preload_libraries"), "", "shared_preload_libraries")

    def test_02_app_ignores_the_key(self):
        """in app (library preloaded by ALTER DATABASE) the key is ignored with a WARNING"""
        global app      # test_03's too: each session in app warns once more
        app = mx.connect(dbname="app")
        mx.check_eq(mx.scalar(app, "SELECT current_setting('session_preload_libraries')"), "mixpeek",
                    "session_preload_libraries in app")
        mx.check_eq(mx.scalar(app, "SHOW mixpeek.api_key"), "", "the key in effect in app (superuser)")
        text = notices(app) + "\n" + (server_log(app) or "")
        mx.check(re.search(r"WARNING:  mixpeek\.api_key is stored in the server configuration but the mixpeek "
                           r"library is not preloaded", text), "a WARNING says the key is not used", text[-2000:])
        mx.check(re.search(r"only through ALTER DATABASE, ALTER ROLE", text), "the WARNING says why", text[-2000:])
        mx.check_no_keys(text, "notices and server log", keys=[INNER_KEY])
        mx.query(app, "CREATE EXTENSION mixpeek")
        mx.query(app, "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO mx_h_carol")
        err = mx.expect_error(app, "SELECT mixpeek_document('col_articles', 'doc_flat_01')", None, "28000",
                              r"^no Mixpeek API key is configured$")
        carol_app = mx.connect(dbname="app", user="mx_h_carol", password="pw_carol")
        mx.expect_error(carol_app, "SHOW mixpeek.api_key", None, "42501", r"must be superuser|permission denied to examine")
        mx.expect_error(carol_app, "SELECT mixpeek_document('col_articles', 'doc_flat_01')", None, "28000",
                        r"^no Mixpeek API key is configured$", "a plain role in app")
        mx.check_eq([r for r in mx.mock_requests(since=since) if r["identity"] == "beta"], [],
                    "requests sent with the configuration-file key")
        carol_app.close()

    def test_03_app_refuses_alter_system(self):
        """in app, ALTER SYSTEM SET mixpeek.api_key is refused"""
        mx.expect_error(app, "ALTER SYSTEM SET mixpeek.api_key = 'sk_test_gamma'", None, "42501",
                        r"^mixpeek\.api_key is stored in the server configuration but the mixpeek library "
                        r"is not preloaded$")
        auto = mx.scalar(su, "SELECT pg_read_file('postgresql.auto.conf')")
        mx.check("api_key" not in auto, "postgresql.auto.conf holds no key", auto)
        app.close()

    def test_04_another_database(self):
        """in another database, a plain role"""
        carol = mx.connect(user="mx_h_carol", password="pw_carol")
        # Before anything loads the library here, PostgreSQL itself shows
        # the placeholder that postgresql.conf created: no code of the
        # extension runs in this session.  What the extension does about it
        # is refusing the key above, so that the administrator is told.
        shown = mx.scalar(carol, "SELECT current_setting('mixpeek.api_key', true)")
        mx.log("  placeholder shown before the library is loaded here: %s"
               % ("yes (PostgreSQL's behaviour: the key must leave postgresql.conf)" if shown else "no"))
        mx.query(su, "CREATE EXTENSION IF NOT EXISTS mixpeek")
        mx.expect_error(carol, "SELECT mixpeek_document('col_articles', 'doc_flat_01')", None, "28000",
                        r"^no Mixpeek API key is configured$")
        mx.expect_error(carol, "SHOW mixpeek.api_key", None, "42501", r"must be superuser|permission denied to examine",
                        "SHOW once the library is loaded")
        mx.check_eq([r for r in mx.mock_requests(since=since) if r["identity"] == "beta"], [],
                    "requests sent with the configuration-file key")
        carol.close()

    def test_05_alter_role_preload(self):
        """session_preload_libraries by ALTER ROLE: ignored too"""
        mx.query(su, "ALTER ROLE mx_h_carol SET session_preload_libraries = 'mixpeek'")
        carol = mx.connect(user="mx_h_carol", password="pw_carol")
        mx.expect_error(carol, "SELECT mixpeek_document('col_articles', 'doc_flat_01')", None, "28000",
                        r"^no Mixpeek API key is configured$")
        carol.close()
        mx.query(su, "ALTER ROLE mx_h_carol RESET session_preload_libraries")


# The nested cluster of Hardening.test_16 (--file-session-preload-inner)

class FilePreload(mx.TestCase):

    @classmethod
    def setUpClass(cls):
        global su
        if not INNER_FILE:
            raise mx.Skip("runs in a nested cluster (--file-session-preload-inner)")
        mx.log("nested cluster: session_preload_libraries in postgresql.conf, key in postgresql.conf")
        su = mx.connect()

    def test_01_file_key_used(self):
        """the key is used: every session preloads the library"""
        mx.check_eq(mx.scalar(su, "SHOW session_preload_libraries"), "mixpeek", "session_preload_libraries")
        mx.check_eq(mx.scalar(su, "SHOW mixpeek.api_key"), INNER_KEY, "the key in effect")
        mx.check("not preloaded" not in notices(su), "no WARNING", notices(su))
        mx.query(su, "CREATE EXTENSION IF NOT EXISTS mixpeek")
        mx.check(mx.scalar(su, "SELECT mixpeek_document('col_articles', 'doc_flat_01') IS NOT NULL"),
                 "mixpeek_document() with the file key")


# ===========================================================================
# The preloaded cluster of the test run
# ===========================================================================

class Hardening(mx.TestCase):

    @classmethod
    def setUpClass(cls):
        global su, fdw_ok, fdw_why, alice
        su = mx.setup_extension()
        mx.mock_reset()
        fdw_ok, fdw_why = mx.fdw_usable()
        if not fdw_ok:
            mx.log("SKIP: FDW cases, the FDW is not usable (%s)" % fdw_why)
        if mx.scalar(su, "SELECT count(*) FROM pg_roles WHERE rolname IN ('mx_h_alice', 'mx_h_bob')"):
            for r in ("mx_h_alice", "mx_h_bob"):
                if mx.scalar(su, "SELECT count(*) FROM pg_roles WHERE rolname = %s", (r,)):
                    mx.query(su, "DROP OWNED BY %s CASCADE; DROP ROLE %s" % (r, r))
        mx.query(su, """
            DROP SERVER IF EXISTS mx_h_srv CASCADE;
            DROP SERVER IF EXISTS mx_h_far CASCADE;
            CREATE ROLE mx_h_alice LOGIN PASSWORD 'pw_alice';
            CREATE ROLE mx_h_bob LOGIN PASSWORD 'pw_bob';
            GRANT USAGE ON FOREIGN DATA WRAPPER mixpeek_fdw TO mx_h_alice;
            GRANT CREATE ON SCHEMA public TO mx_h_alice;
        """)
        if fdw_ok:
            mx.query(su, """
                CREATE SERVER mx_h_srv FOREIGN DATA WRAPPER mixpeek_fdw;
                CREATE USER MAPPING FOR PUBLIC SERVER mx_h_srv OPTIONS (api_key 'sk_test_gamma');
                GRANT USAGE ON FOREIGN SERVER mx_h_srv TO mx_h_alice, mx_h_bob;
                CREATE FOREIGN TABLE mx_h_canned (document_id text, document jsonb)
                  SERVER mx_h_srv OPTIONS (collection 'col_canned');
                CREATE FOREIGN TABLE mx_h_articles (document_id text)
                  SERVER mx_h_srv OPTIONS (collection 'col_articles');
                GRANT SELECT ON mx_h_canned, mx_h_articles TO mx_h_alice, mx_h_bob;
            """)
        alice = mx.connect(user="mx_h_alice", password="pw_alice")

    @classmethod
    def tearDownClass(cls):
        with mx.case("clean up"):
            alice.close()
            mx.query(su, "DROP SERVER IF EXISTS mx_h_srv CASCADE; DROP SERVER IF EXISTS mx_h_far CASCADE")
            for r in ("mx_h_alice", "mx_h_bob"):
                mx.query(su, "DROP OWNED BY %s CASCADE; DROP ROLE %s" % (r, r))
        mx.mock_reset()

    # Header injection

    def test_01_namespace_refuses_crlf(self):
        """CRLF in mixpeek.namespace is refused (22023), for any role"""
        since = mx.mock_last_seq()
        for value in ["default\r\nX-Evil: 1", "default\nX-Evil: 1", "default\r", "a\tb", "\x7f", " default",
                      "default "]:
            mx.expect_error(alice, "SET mixpeek.namespace = %s", (value,), "22023",
                            r'^invalid value for parameter "mixpeek\.namespace"', "SET mixpeek.namespace = %r" % value)
            mx.expect_error(alice, "SELECT set_config('mixpeek.namespace', %s, false)", (value,), "22023", None,
                            "set_config(namespace, %r)" % value)
        mx.expect_error(alice, "ALTER ROLE mx_h_alice SET mixpeek.namespace = %s", ("x\r\nX-Evil: 1",), "22023", None,
                        "ALTER ROLE ... SET mixpeek.namespace")
        # a function's SET clause
        mx.expect_error(alice, "CREATE FUNCTION mx_h_evil() RETURNS jsonb LANGUAGE sql "
                               "SET mixpeek.namespace = E'default\\r\\nX-Evil: 1' "
                               "AS $$SELECT mixpeek_document('col_articles', 'doc_flat_01')$$", None, "22023", None,
                        "CREATE FUNCTION ... SET mixpeek.namespace")
        mx.query(alice, "SET mixpeek.namespace = 'production'")
        mx.check(mx.scalar(alice, "SELECT mixpeek_document('col_articles', 'doc_flat_01') IS NOT NULL"),
                 "a plain namespace still works")
        sent = mx.mock_requests(since=since)
        mx.check(len(sent) >= 1, "the request was sent", len(sent))
        for r in sent:
            names = {k.lower() for k in r.get("headers", {})}
            mx.check("x-evil" not in names, "no injected header reached the API", r.get("headers"))
            mx.check_eq(r["namespace"], "production", "X-Namespace of %s" % r["path"])
        mx.query(alice, "RESET mixpeek.namespace")

    def test_02_superuser_settings(self):
        """the superuser settings that reach a request are checked too"""
        for name, value in [("mixpeek.base_url", mx.MOCK_URL + "\r\nX-Evil: 1"),
                            ("mixpeek.base_url", mx.MOCK_URL + "/ x"),
                            ("mixpeek.api_key", "sk_test_alpha\r\nX-Evil: 1"),
                            ("mixpeek.api_key", "sk test alpha"),
                            ("mixpeek.api_key", "sk_test_\u00e4lpha"),
                            ("mixpeek.allowed_hosts", "example.com\r\nX-Evil: 1")]:
            mx.expect_error(su, "SELECT set_config(%s, %s, false)", (name, value), "22023",
                            r'^invalid value for parameter "%s"' % re.escape(name), "%s = %r" % (name, value))
        mx.check_eq(mx.scalar(su, "SHOW mixpeek.api_key"), "sk_test_alpha", "the key is unchanged")

    def test_03_fdw_options(self):
        """FDW options that reach a header or the URL refuse control characters"""
        if not fdw_ok:
            raise mx.Skip("the FDW is not usable (%s)" % fdw_why)
        for ddl in ["CREATE SERVER mx_h_bad FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (namespace E'p\\r\\nX-Evil: 1')",
                    "CREATE SERVER mx_h_bad FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url E'%s\\r\\nX: 1')"
                    % mx.MOCK_URL,
                    "CREATE FOREIGN TABLE mx_h_bad (document_id text) SERVER mx_h_srv "
                    "OPTIONS (collection E'col_articles\\r\\n')",
                    "CREATE FOREIGN TABLE mx_h_bad (document_id text) SERVER mx_h_srv "
                    "OPTIONS (collection 'col_articles', namespace E'p\\nX-Evil: 1')",
                    "CREATE USER MAPPING FOR mx_h_alice SERVER mx_h_srv OPTIONS (api_key E'sk_test_beta\\r\\nX: 1')",
                    "CREATE USER MAPPING FOR mx_h_alice SERVER mx_h_srv OPTIONS (api_key 'sk test beta')"]:
            err = mx.expect_error(su, ddl, None, "HV024", r'^invalid value for option "', ddl[:60])

    # Generic 404

    def test_04_fastapi_404(self):
        """FastAPI's 404 for an unknown route is an error, not a missing document"""
        canned("fastapi404", 404, FASTAPI_404)
        canned("route404", 404, '{"success":false,"status":404,"error":{"message":"Route not found",'
                                '"type":"NotFoundError","details":null}}')
        canned("html404", 404, "<html><body>404 Not Found</body></html>", "text/html")
        canned("doc404", 404, '{"success":false,"status":404,"error":{"message":"Document not found",'
                              '"type":"NotFoundError","details":null}}')
        canned("docid404", 404, '{"success":false,"status":404,"error":{"message":"Not found",'
                                '"type":"NotFoundError","details":{"document_id":"docid404"}}}')
        for name in ("fastapi404", "route404", "html404"):
            err = mx.expect_error(alice, "SELECT mixpeek_document('col_canned', %s)", (name,), "42704",
                                  r"^Mixpeek returned HTTP 404", "mixpeek_document(): %s" % name)
            if err:
                mx.check(re.search(r"URL is probably wrong", err.hint), "%s: the hint says the URL is probably wrong"
                         % name, err.hint)
            mx.expect_error(alice, "SELECT count(*) FROM mixpeek_documents('col_canned', ARRAY['doc404', %s])",
                            (name,), "42704", r"^Mixpeek returned HTTP 404", "mixpeek_documents(): %s" % name)
            if fdw_ok:
                mx.expect_error(alice, "SELECT * FROM mx_h_canned WHERE document_id = %s", (name,), "42704",
                                r"^Mixpeek returned HTTP 404", "FDW id lookup: %s" % name)
                mx.expect_error(alice, "SELECT * FROM mx_h_canned WHERE document_id IN ('doc404', %s)", (name,),
                                "42704", r"^Mixpeek returned HTTP 404", "FDW id list: %s" % name)
        for name in ("doc404", "docid404"):
            mx.check_eq(mx.scalar(alice, "SELECT mixpeek_document('col_canned', %s)", (name,)), None,
                        "Mixpeek's NotFoundError about a document (%s) is no row" % name)
        mx.check_eq(mx.scalar(alice, "SELECT mixpeek_document('col_articles', 'no_such_document')"), None,
                    "the mock's missing document is no row")
        if fdw_ok:
            mx.check_eq(mx.query(alice, "SELECT document_id FROM mx_h_articles WHERE document_id = 'no_such_document'"),
                        [], "FDW: a missing document is no row")

    def test_05_base_url_with_a_wrong_path(self):
        """a base_url with a wrong path (FastAPI answers 404 to every route) is an error"""
        if not fdw_ok:
            raise mx.Skip("the FDW is not usable (%s)" % fdw_why)
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FastAPI404)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            mx.query(su, "CREATE SERVER mx_h_wrong FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url %s)",
                     ("http://127.0.0.1:%d/api" % srv.server_address[1],))
            mx.query(su, """
                CREATE USER MAPPING FOR PUBLIC SERVER mx_h_wrong OPTIONS (api_key 'sk_test_gamma');
                CREATE FOREIGN TABLE mx_h_wrong_t (document_id text) SERVER mx_h_wrong
                  OPTIONS (collection 'col_articles');
            """)
            err = mx.expect_error(su, "SELECT * FROM mx_h_wrong_t WHERE document_id = 'doc_flat_01'", None, "42704",
                                  r"^Mixpeek returned HTTP 404")
            mx.expect_error(su, "SELECT * FROM mx_h_wrong_t WHERE document_id IN ('doc_flat_01', 'doc_flat_02')",
                            None, "42704", r"^Mixpeek returned HTTP 404")
        finally:
            srv.shutdown()
            mx.query(su, "DROP SERVER mx_h_wrong CASCADE")

    # Masking before cutting

    def test_06_key_straddling_the_cut(self):
        """a key straddling the 200-byte cut of a non-JSON error body does not show its start"""
        for offset in (190, 195, 199, 200, 201):
            body = "x" * offset + "sk_test_alpha" + "y" * 100
            canned("straddle%d" % offset, 400, body, "text/plain")
            err = mx.expect_error(alice, "SELECT mixpeek_document('col_canned', %s)", ("straddle%d" % offset,), "22023",
                                  r"^Mixpeek returned HTTP 400$")
            if err:
                mx.check("sk_te" not in err.detail, "offset %d: no start of the key in the detail" % offset,
                         err.detail[-40:])
                mx.check(re.search(r'The response is not a Mixpeek error: "x+', err.detail),
                         "offset %d: the snippet is shown" % offset, err.detail[:80])
        # a key of a user mapping, through the FDW
        if fdw_ok:
            canned("straddle_fdw", 400, "x" * 195 + "sk_test_gamma" + "y" * 100, "text/plain")
            err = mx.expect_error(alice, "SELECT * FROM mx_h_canned WHERE document_id = 'straddle_fdw'", None, "22023")
            if err:
                mx.check("sk_te" not in err.detail, "FDW: no start of the mapping's key", err.detail[-40:])

    def test_07_cut_keeps_utf8_whole(self):
        """the cut never splits a UTF-8 character"""
        for lead in range(0, 4):
            name = "utf8cut%d" % lead
            canned(name, 400, "a" * lead + "\u00e9\u4e2d\U0001f600" * 40, "text/plain")
            err = mx.expect_error(alice, "SELECT mixpeek_document('col_canned', %s)", (name,), "22023")
            if err:
                m = re.search(r'The response is not a Mixpeek error: "(.*)"\.', err.detail)
                snippet = m.group(1) if m else ""
                mx.check(m is not None, "%s: a snippet" % name, err.detail[:80])
                mx.check("\ufffd" not in snippet and "?" not in snippet, "%s: whole characters only" % name, snippet[-8:])
                mx.check(0 < len(snippet.encode("utf-8")) <= 200, "%s: at most 200 bytes" % name,
                         len(snippet.encode("utf-8")))
                mx.check("\u00e9\u4e2d" in snippet, "%s: the characters are kept" % name, snippet[:20])

    def test_08_page_size(self):
        """page_size: the validator reads it as the scan does"""
        if not fdw_ok:
            raise mx.Skip("the FDW is not usable (%s)" % fdw_why)
        for value in ("0x10", "1e2", "010.0", " 10", "+10", "10 ", "", "1001", "0", "-1", "99999999999"):
            mx.expect_error(alice, "CREATE FOREIGN TABLE mx_h_ps (document_id text) SERVER mx_h_srv "
                                   "OPTIONS (collection 'col_articles', page_size %s)", (value,), "HV024",
                            r'^invalid value for option "page_size"', "page_size %r" % value)
        mx.query(alice, "CREATE FOREIGN TABLE mx_h_ps (document_id text) SERVER mx_h_srv "
                        "OPTIONS (collection 'col_articles', page_size '007')")
        since = mx.mock_last_seq()
        mx.check_eq(mx.scalar(alice, "SELECT count(*) FROM mx_h_ps"), 20, "a scan with page_size '007'")
        limits = {r["query"].get("limit") for r in mx.mock_requests(since=since) if r["path"].endswith("/list")}
        mx.check_eq(limits, {"7"}, "the limit sent")
        # a value stored before the validator was strict: a clear error, not 22P02
        mx.query(su, "UPDATE pg_foreign_table SET ftoptions = array['collection=col_articles', 'page_size=0x10'] "
                     "WHERE ftrelid = 'mx_h_ps'::regclass")
        mx.expect_error(alice, "SELECT count(*) FROM mx_h_ps", None, "HV024",
                        r'^invalid value for option "page_size" of foreign table "mx_h_ps": "0x10"$')
        mx.query(alice, "DROP FOREIGN TABLE mx_h_ps")

    # Server-side request forgery

    def test_09_base_url_without_query(self):
        """no query, fragment or user info in any base_url"""
        bad = ["http://10.0.0.1/latest/meta-data/iam/security-credentials/role?x=",
               mx.MOCK_URL + "/?", mx.MOCK_URL + "#", mx.MOCK_URL + "/v1#x",
               mx.MOCK_URL.replace("//", "//user:pass@"), mx.MOCK_URL.replace("//", "//user@"),
               "http://[::1", "http://host:0", "http://host:x"]
        for url in bad:
            mx.expect_error(su, "SELECT set_config('mixpeek.base_url', %s, false)", (url,), "22023",
                            r'^invalid value for parameter "mixpeek\.base_url"', "mixpeek.base_url = %r" % url)
            if fdw_ok:
                mx.expect_error(su, "CREATE SERVER mx_h_bad FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url %s)",
                                (url,), "HV024", r'^invalid value for option "base_url"', "server base_url %r" % url)

    def test_10_allowed_hosts_for_superusers(self):
        """mixpeek.allowed_hosts is for superusers"""
        mx.expect_error(alice, "SET mixpeek.allowed_hosts = '10.0.0.1'", None, "42501",
                        r'permission denied to set parameter "mixpeek\.allowed_hosts"')
        mx.expect_error(alice, "ALTER ROLE mx_h_alice SET mixpeek.allowed_hosts = '10.0.0.1'", None, "42501", None)
        mx.check_eq(mx.scalar(alice, "SHOW mixpeek.allowed_hosts"), "", "the default")

    def test_11_servers_at_allowed_hosts_only(self):
        """a role that is not a superuser points a server only at an allowed host"""
        if not fdw_ok:
            raise mx.Skip("the FDW is not usable (%s)" % fdw_why)
        for url in ["http://10.0.0.1", "http://169.254.169.254", OTHER_SPELLING, "http://%s.nip.io" % HOST_OF_MOCK]:
            err = mx.expect_error(alice, "CREATE SERVER mx_h_evil FOREIGN DATA WRAPPER mixpeek_fdw "
                                         "OPTIONS (base_url %s)", (url,), "42501",
                                  r"^permission denied to point a foreign server at ", "alice: base_url %s" % url)
            if err:
                mx.check(re.search(r"mixpeek\.allowed_hosts", err.hint), "the hint names the setting", err.hint)
        # the host of mixpeek.base_url, on any port
        mx.query(alice, "CREATE SERVER mx_h_own FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url %s)",
                 (mx.MOCK_URL,))
        mx.query(alice, "CREATE SERVER mx_h_own2 FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url %s)",
                 ("http://%s:%d" % (HOST_OF_MOCK, mx.closed_port()),))
        mx.expect_error(alice, "ALTER SERVER mx_h_own OPTIONS (SET base_url 'http://10.0.0.1')", None, "42501",
                        r"^permission denied to point a foreign server at ")
        # a superuser may
        mx.query(su, "CREATE SERVER mx_h_far FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url %s)",
                 (OTHER_SPELLING,))

    def test_12_allowed_hosts_checked_at_use(self):
        """mixpeek.allowed_hosts lets a role use another host; the server is checked again when used"""
        if not fdw_ok:
            raise mx.Skip("the FDW is not usable (%s)" % fdw_why)
        mx.query(su, "ALTER ROLE mx_h_alice SET mixpeek.allowed_hosts = %s", ("localhost, 10.0.0.7:8443",))
        a2 = mx.connect(user="mx_h_alice", password="pw_alice")
        mx.query(a2, "CREATE SERVER mx_h_evil FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url %s)",
                 (OTHER_SPELLING,))
        mx.query(a2, "CREATE SERVER mx_h_evil2 FOREIGN DATA WRAPPER mixpeek_fdw "
                     "OPTIONS (base_url 'https://10.0.0.7:8443/mixpeek')")
        mx.expect_error(a2, "CREATE SERVER mx_h_evil3 FOREIGN DATA WRAPPER mixpeek_fdw "
                            "OPTIONS (base_url 'https://10.0.0.7')", None, "42501", None, "another port of 10.0.0.7")
        mx.query(a2, """
            CREATE USER MAPPING FOR mx_h_alice SERVER mx_h_evil OPTIONS (api_key 'sk_test_beta');
            CREATE FOREIGN TABLE mx_h_evil_t (document_id text) SERVER mx_h_evil OPTIONS (collection 'col_articles');
        """)
        mx.check_eq(mx.query(a2, "SELECT document_id FROM mx_h_evil_t WHERE document_id = 'doc_flat_01'"),
                    [("doc_flat_01",)], "a scan while the host is allowed")
        a2.close()
        mx.query(su, "ALTER ROLE mx_h_alice RESET mixpeek.allowed_hosts")
        a3 = mx.connect(user="mx_h_alice", password="pw_alice")
        since = mx.mock_last_seq()
        err = mx.expect_error(a3, "SELECT document_id FROM mx_h_evil_t WHERE document_id = 'doc_flat_01'", None,
                              "42501", r'^foreign server "mx_h_evil" points at a host that is not allowed$',
                              "the same scan once the host is no longer allowed")
        mx.expect_error(a3, "SELECT count(*) FROM mx_h_evil_t", None, "42501", None, "a list scan too")
        mx.expect_error(a3, "IMPORT FOREIGN SCHEMA x FROM SERVER mx_h_evil INTO public", None, "42501", None,
                        "IMPORT FOREIGN SCHEMA too")
        mx.check_eq(len(mx.mock_requests(since=since)), 0, "requests sent to the host no longer allowed")
        # a superuser querying the role's server is refused too: the owner decides
        mx.expect_error(su, "SELECT document_id FROM mx_h_evil_t WHERE document_id = 'doc_flat_01'", None,
                        "42501", None, "as a superuser, on a server the role owns")
        a3.close()

    def test_13_other_hosts_never_quoted(self):
        """a superuser's server at another host works, but its replies are never quoted"""
        if not fdw_ok:
            raise mx.Skip("the FDW is not usable (%s)" % fdw_why)
        # made by test_11 (a superuser may), or here when this case runs alone
        mx.query(su, "CREATE SERVER IF NOT EXISTS mx_h_far FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url %s)",
                 (OTHER_SPELLING,))
        mx.query(su, """
            CREATE USER MAPPING FOR PUBLIC SERVER mx_h_far OPTIONS (api_key 'sk_test_gamma');
            GRANT USAGE ON FOREIGN SERVER mx_h_far TO mx_h_alice;
            CREATE FOREIGN TABLE mx_h_far_t (document_id text) SERVER mx_h_far OPTIONS (collection 'col_canned');
            CREATE FOREIGN TABLE mx_h_far_a (document_id text) SERVER mx_h_far OPTIONS (collection 'col_articles');
            GRANT SELECT ON mx_h_far_t, mx_h_far_a TO mx_h_alice;
        """)
        mx.check_eq(mx.query(alice, "SELECT document_id FROM mx_h_far_a WHERE document_id = 'doc_flat_01'"),
                    [("doc_flat_01",)], "a scan of a superuser's server outside the allow-list")
        secret = "INTERNALSERVICESECRETAKIA0123456789"
        canned("ssrf_text", 403, "role credentials: " + secret, "text/plain")
        canned("ssrf_json", 400, '{"success":false,"status":400,"error":{"message":"%s","type":"%s",'
                                 '"details":null}}' % (secret, secret))
        canned("ssrf_bad200", 200, secret + " is not JSON", "application/json")
        for name in ("ssrf_text", "ssrf_json", "ssrf_bad200"):
            err = mx.run_error(alice, "SELECT * FROM mx_h_far_t WHERE document_id = %s", (name,))
            if mx.check(err is not None, "%s: an error" % name):
                mx.check(secret not in err.all_text(), "%s: the reply is not quoted" % name, err.all_text())
                mx.check(re.search(r"reply is not shown", err.detail), "%s: the detail says so" % name, err.detail)
            # the same replies from the allowed host are quoted
            err = mx.run_error(alice, "SELECT * FROM mx_h_canned WHERE document_id = %s", (name,))
            if mx.check(err is not None, "%s via an allowed host: an error" % name):
                mx.check(secret in err.all_text(), "%s via an allowed host: quoted" % name, err.all_text())

    def test_14_short_keys(self):
        """keys too short to be real are refused"""
        for key in ("k", "sk_1234"):
            mx.expect_error(su, "SELECT set_config('mixpeek.api_key', %s, false)", (key,), "22023",
                            r'^invalid value for parameter "mixpeek\.api_key"', "mixpeek.api_key of %d bytes" % len(key))
            if fdw_ok:
                err = mx.expect_error(su, "CREATE USER MAPPING FOR mx_h_bob SERVER mx_h_srv OPTIONS (api_key %s)",
                                      (key,), "HV024", r'^invalid value for option "api_key"$',
                                      "user mapping key of %d bytes" % len(key))
                if err:
                    mx.check(re.search(r"at least 8 characters", err.detail), "the detail gives the minimum", err.detail)
        mx.check_eq(mx.scalar(su, "SELECT set_config('mixpeek.api_key', 'sk_wrong', false)"), "sk_wrong",
                    "8 characters are enough")
        mx.query(su, "RESET mixpeek.api_key")
        if fdw_ok:
            # a short key stored before the rule: refused when used, never masked into other words
            mx.query(su, "CREATE USER MAPPING FOR mx_h_bob SERVER mx_h_srv OPTIONS (api_key 'sk_test_gamma')")
            mx.query(su, "UPDATE pg_user_mapping SET umoptions = '{api_key=o}' "
                         "WHERE umuser = 'mx_h_bob'::regrole AND umserver = (SELECT oid FROM pg_foreign_server "
                         "WHERE srvname = 'mx_h_srv')")
            bob = mx.connect(user="mx_h_bob", password="pw_bob")
            since = mx.mock_last_seq()
            err = mx.expect_error(bob, "SELECT * FROM mx_h_articles WHERE document_id = 'doc_flat_01'", None, "HV024",
                                  r'^invalid value for option "api_key" in a request to foreign server "mx_h_srv"$')
            if err:
                mx.check("[redacted]" not in err.all_text(), "no word was masked", err.all_text())
            mx.check_eq(len(mx.mock_requests(since=since)), 0, "requests sent with the short key")
            bob.close()

    # Nested clusters for the preload rule

    def test_15_nested_per_database_preload(self):
        """nested cluster: session_preload_libraries by ALTER DATABASE, key in postgresql.conf"""
        nested("--per-database-preload-inner")

    def test_16_nested_file_preload(self):
        """nested cluster: session_preload_libraries in postgresql.conf, key in postgresql.conf"""
        nested("--file-session-preload-inner", "session_preload_libraries=mixpeek")

    # The namespace the API requires

    def test_17_no_namespace_no_request(self):
        """no namespace: every entry point raises 22023 with a hint, and nothing reaches the mock"""
        for c in (alice, su):
            mx.query(c, "SET mixpeek.namespace = ''")
        calls = [
            ("mixpeek_document", "SELECT mixpeek_document('col_articles', 'doc_flat_01')", None),
            ("mixpeek_documents", "SELECT count(*) FROM mixpeek_documents('col_articles', '{}')", None),
            ("mixpeek_lineage", "SELECT count(*) FROM mixpeek_lineage('col_articles', 'doc_flat_01')", None),
            ("mixpeek_object_documents", "SELECT count(*) FROM mixpeek_object_documents('obj_01')", None),
        ]
        if fdw_ok:
            calls += [
                ("a foreign scan", "SELECT count(*) FROM mx_h_articles", "mx_h_srv"),
                ("IMPORT FOREIGN SCHEMA (superuser)",
                 "IMPORT FOREIGN SCHEMA x FROM SERVER mx_h_srv INTO mx_h_nons", "mx_h_srv"),
            ]
            mx.query(su, "DROP SCHEMA IF EXISTS mx_h_nons CASCADE; CREATE SCHEMA mx_h_nons")
        since = mx.mock_last_seq()
        for what, sql, server in calls:
            with mx.case("no namespace: " + what):
                conn = su if "superuser" in what else alice
                err = mx.expect_error(conn, sql, None, "22023", r"^no Mixpeek namespace is set", what)
                if err is None:
                    continue
                if server:
                    mx.check_eq(err.message, 'no Mixpeek namespace is set for foreign server "%s"' % server,
                                what + ": message")
                    mx.check("namespace option" in err.hint and "ALTER SERVER %s" % server in err.hint
                             and "mixpeek.namespace" in err.hint, what + ": hint", err.hint)
                else:
                    mx.check("mixpeek.namespace" in err.hint, what + ": hint", err.hint)
        with mx.case("no namespace: the mock received no request"):
            mx.check_eq(mx.mock_requests(since=since), [], "requests")
        if fdw_ok:
            with mx.case("no namespace: mixpeek_check reports it as rows, sends nothing"):
                rows = dict((r[0], (r[1], r[2])) for r in mx.query(
                    alice, "SELECT \"check\", status, detail FROM mixpeek_check('mx_h_srv')"))
                mx.check_eq(rows["namespace"][0], "warning", "namespace row")
                mx.check_eq(rows["authentication"][0], "warning", "authentication row")
                mx.check_eq(mx.mock_requests(since=since), [], "requests")
            mx.query(su, "DROP SCHEMA mx_h_nons CASCADE")
        with mx.case("a namespace of the foreign table's own is enough"):
            if fdw_ok:
                mx.query(su, "ALTER FOREIGN TABLE mx_h_articles OPTIONS (ADD namespace 'production')")
                try:
                    mx.check_eq(mx.scalar(alice, "SELECT count(*) FROM mx_h_articles WHERE document_id = 'doc_flat_01'"),
                                1, "row")
                finally:
                    mx.query(su, "ALTER FOREIGN TABLE mx_h_articles OPTIONS (DROP namespace)")
                got = [r["namespace"] for r in mx.mock_requests(since=since)]
                mx.check(got and all(n == "production" for n in got), "X-Namespace sent", got)
        for c in (alice, su):
            mx.query(c, "RESET mixpeek.namespace")


def nested(flag, *options):
    mx.run_nested(__file__, flag, ["mixpeek.api_key=%s" % INNER_KEY, "mixpeek.base_url=%s" % mx.MOCK_URL,
                                       "mixpeek.namespace=default"]
                  + list(options), "the checks in the nested cluster")


if __name__ == "__main__":
    if INNER_DB:
        mx.main("test_hardening (per-database preload)", tests=[PerDatabasePreload],
                flags=["--per-database-preload-inner"])
    elif INNER_FILE:
        mx.main("test_hardening (session preload from the file)", tests=[FilePreload],
                flags=["--file-session-preload-inner"])
    else:
        mx.main("test_hardening", tests=[Hardening])
