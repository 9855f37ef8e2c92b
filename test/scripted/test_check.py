"""mixpeek_check(): one row per check, each failure a row, never the key.

The settings' target and foreign servers in every state a first setup can be
in: a good key, a wrong one (401), a forbidden one (403), no namespace, an
unknown namespace, a server of its own base_url without a key, the mock's
rate-limit headers as configured (a tier, fixed values, none sent).  The
test cluster's mixpeek.base_url is the mock's http:// address, so the
base_url check is a warning throughout.  Only bad arguments raise an ERROR.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402

ROLES = ["mx_chk_alice", "mx_chk_bob"]
SERVERS = ["mx_chk_good", "mx_chk_wrong", "mx_chk_forbidden", "mx_chk_nons",
           "mx_chk_badns", "mx_chk_own_url", "mx_chk_settings", "mx_chk_public"]
NAMES = ["preload", "api_key", "base_url", "host", "authentication", "namespace", "rate_limit"]


def check_rows(conn, server=None):
    """{check: (status, detail, hint)} of mixpeek_check(server), after
    checking the row names, their order, the statuses and that no key shows."""
    if server is None:
        rows = mx.query(conn, 'SELECT "check", status, detail, hint FROM mixpeek_check()')
    else:
        rows = mx.query(conn, 'SELECT "check", status, detail, hint FROM mixpeek_check(%s)', (server,))
    mx.check_eq([r[0] for r in rows], NAMES, "%s: the checks, in order" % (server or "settings"))
    mx.check(all(r[1] in ("ok", "warning", "error") for r in rows),
             "%s: every status is ok, warning or error" % (server or "settings"), rows)
    mx.check_no_keys(repr(rows), "%s: the rows" % (server or "settings"))
    return {r[0]: r[1:] for r in rows}


def statuses(got):
    return {k: v[0] for k, v in got.items()}


def setUpModule():
    global su
    su = mx.setup_extension()
    mx.mock_config(rate_limit_headers="pro")
    with mx.case("setup: roles and servers in every state"):
        mx.create_roles(su, ROLES, SERVERS)
        url = mx.MOCK_URL
        q = mx.query
        q(su, "CREATE SERVER mx_chk_good FOREIGN DATA WRAPPER mixpeek_fdw "
              "OPTIONS (base_url %s, namespace 'production')", (url,))
        q(su, "CREATE USER MAPPING FOR mx_chk_alice SERVER mx_chk_good OPTIONS (api_key 'sk_test_beta')")
        q(su, "CREATE SERVER mx_chk_wrong FOREIGN DATA WRAPPER mixpeek_fdw "
              "OPTIONS (base_url %s, namespace 'default')", (url,))
        q(su, "CREATE USER MAPPING FOR PUBLIC SERVER mx_chk_wrong OPTIONS (api_key 'sk_wrong')")
        q(su, "CREATE SERVER mx_chk_forbidden FOREIGN DATA WRAPPER mixpeek_fdw "
              "OPTIONS (base_url %s, namespace 'default')", (url,))
        q(su, "CREATE USER MAPPING FOR PUBLIC SERVER mx_chk_forbidden OPTIONS (api_key 'sk_test_forbidden')")
        q(su, "CREATE SERVER mx_chk_nons FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url %s)", (url,))
        q(su, "CREATE USER MAPPING FOR PUBLIC SERVER mx_chk_nons OPTIONS (api_key 'sk_test_gamma')")
        q(su, "CREATE SERVER mx_chk_badns FOREIGN DATA WRAPPER mixpeek_fdw "
              "OPTIONS (base_url %s, namespace 'ns_nope')", (url,))
        q(su, "CREATE USER MAPPING FOR PUBLIC SERVER mx_chk_badns OPTIONS (api_key 'sk_test_gamma')")
        q(su, "CREATE SERVER mx_chk_own_url FOREIGN DATA WRAPPER mixpeek_fdw "
              "OPTIONS (base_url %s, namespace 'default')", (url,))
        q(su, "CREATE SERVER mx_chk_settings FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (namespace 'default')")
        q(su, "CREATE SERVER mx_chk_public FOREIGN DATA WRAPPER mixpeek_fdw "
              "OPTIONS (base_url %s, namespace 'default')", (url,))
        q(su, "CREATE USER MAPPING FOR PUBLIC SERVER mx_chk_public OPTIONS (api_key 'sk_test_gamma')")
        q(su, "DROP FOREIGN DATA WRAPPER IF EXISTS mx_chk_other CASCADE")
        q(su, "CREATE FOREIGN DATA WRAPPER mx_chk_other")
        q(su, "CREATE SERVER mx_chk_other_srv FOREIGN DATA WRAPPER mx_chk_other")


def tearDownModule():
    with mx.case("clean up"):
        mx.mock_config(rate_limit_headers="pro")
        mx.query(su, "DROP FOREIGN DATA WRAPPER mx_chk_other CASCADE")
        mx.drop_roles(su, ROLES, SERVERS)


class Check(mx.TestCase):

    def test_01_good_setup(self):
        """the settings' target and a server with a role's mapping: all ok but plain HTTP"""
        mx.query(su, "SET mixpeek.namespace = 'default'")
        got = check_rows(su)
        mx.check_eq(statuses(got), {"preload": "ok", "api_key": "ok", "base_url": "warning", "host": "ok",
                                    "authentication": "ok", "namespace": "ok", "rate_limit": "ok"},
                    "settings: statuses")
        mx.check_eq(got["api_key"][1], "The key comes from the mixpeek.api_key setting.", "settings: key source")
        mx.check(got["authentication"][1].startswith(
            "The key was accepted: POST /v1/collections/list?limit=1 answered HTTP 200 in "),
            "settings: the call", got["authentication"])
        mx.check_eq(got["namespace"][1], '"default" (mixpeek.namespace).', "settings: namespace")
        mx.query(su, "RESET mixpeek.namespace")

        alice = mx.connect(user="mx_chk_alice", password="pw")
        seq = mx.mock_last_seq()
        got = check_rows(alice, "mx_chk_good")
        alice.close()
        mx.check_eq(statuses(got), {"preload": "ok", "api_key": "ok", "base_url": "warning", "host": "ok",
                                    "authentication": "ok", "namespace": "ok", "rate_limit": "ok"},
                    "alice's server: statuses")
        mx.check_eq(got["api_key"][1],
                    "The key comes from the user mapping for role mx_chk_alice of server mx_chk_good.",
                    "alice's server: key source")
        mx.check_eq(got["namespace"][1], '"production" (the namespace option of server mx_chk_good).',
                    "alice's server: namespace")
        log = [r for r in mx.mock_requests(since=seq) if r["path"].startswith("/v1/")]
        mx.check_eq([(r["method"], mx.req_path(r), r["identity"], r["namespace"]) for r in log],
                    [("POST", "/v1/collections/list?limit=1", "beta", "production")],
                    "one cheap call with alice's key and the server's namespace")

    def test_02_http_base_url_is_a_warning(self):
        """an http:// base_url is a warning with a hint"""
        got = check_rows(su, "mx_chk_public")
        mx.check_eq(got["base_url"][0], "warning", "status")
        mx.check_eq(got["base_url"][1],
                    "%s (the base_url option of server mx_chk_public) is plain HTTP: the key travels in clear text."
                    % mx.MOCK_URL, "detail")
        mx.check_eq(got["base_url"][2], "Use an https:// URL.", "hint")
        mx.check_eq(got["api_key"][1], "The key comes from the user mapping for PUBLIC of server mx_chk_public.",
                    "a PUBLIC mapping named as such")

    def test_03_wrong_key(self):
        """a wrong key: authentication is an error (28000's message and hint), not an ERROR"""
        got = check_rows(su, "mx_chk_wrong")
        mx.check_eq(got["authentication"][0], "error", "status")
        mx.check("HTTP 401" in got["authentication"][1] and "AuthenticationError" in got["authentication"][1],
                 "detail names the 401", got["authentication"][1])
        mx.check_eq(got["authentication"][2], "Check the API key in mixpeek.api_key or in the user mapping.", "hint")
        mx.check_eq(got["api_key"][0], "ok", "the key is there, just wrong")

    def test_04_forbidden_key(self):
        """a forbidden key (403): an error with the 403 hint"""
        got = check_rows(su, "mx_chk_forbidden")
        mx.check_eq(got["authentication"][0], "error", "status")
        mx.check("HTTP 403" in got["authentication"][1], "detail names the 403", got["authentication"][1])
        mx.check_eq(got["authentication"][2],
                    "The API key is valid but may not access this namespace or collection.", "hint")

    def test_05_no_namespace(self):
        """no namespace: warnings with a hint naming the server, and no request"""
        mx.query(su, "SET mixpeek.namespace = ''")
        since = mx.mock_last_seq()
        got = check_rows(su, "mx_chk_nons")
        mx.check_eq(got["authentication"], ("warning",
                                            "No request was made: no namespace is set, and the Mixpeek API "
                                            "requires one (see the namespace check).", None),
                    "authentication row: no call without a namespace")
        mx.check_eq(got["namespace"], ("warning",
                                       "No namespace is set; the Mixpeek API requires one, so every call "
                                       "raises an ERROR before any request.",
                                       "ALTER SERVER mx_chk_nons OPTIONS (ADD namespace '...'), "
                                       "or SET mixpeek.namespace = '...'."), "namespace row")
        got = check_rows(su)
        mx.check_eq(got["namespace"][0], "warning", "the settings' target without mixpeek.namespace")
        mx.check_eq(got["authentication"][0], "warning", "the settings' target: no call")
        mx.check_eq(mx.mock_requests(since=since), [], "no request reached the mock")
        mx.query(su, "RESET mixpeek.namespace")

    def test_06_unknown_namespace(self):
        """an unknown namespace (404 naming the namespace): the namespace is the error, the key is fine"""
        got = check_rows(su, "mx_chk_badns")
        mx.check_eq(got["authentication"][0], "ok", "the key was accepted")
        mx.check_eq(got["namespace"][0], "error", "namespace status")
        mx.check(got["namespace"][1].startswith('Mixpeek has no namespace "ns_nope" (the namespace option of '
                                                'server mx_chk_badns) for this key: Mixpeek returned HTTP 404'),
                 "namespace detail", got["namespace"][1])
        mx.query(su, "SET mixpeek.namespace = 'nope'")
        got = check_rows(su)
        mx.query(su, "RESET mixpeek.namespace")
        mx.check_eq((got["authentication"][0], got["namespace"][0]), ("ok", "error"), "the settings' target too")

    def test_07_server_without_mapping(self):
        """a server of its own base_url without a mapping: the key is the error; without base_url the setting's key"""
        seq = mx.mock_last_seq()
        got = check_rows(su, "mx_chk_own_url")
        mx.check_eq(got["api_key"][0], "error", "api_key status")
        mx.check_eq(got["api_key"][1], 'no Mixpeek API key for foreign server "mx_chk_own_url". '
                    "The server sets its own base_url, so the mixpeek.api_key setting is not sent to it.",
                    "api_key detail")
        mx.check((got["api_key"][2] or "").startswith("Create a user mapping with the key"), "api_key hint",
                 got["api_key"][2])
        mx.check_eq(got["authentication"][0], "error", "no call without a key")
        mx.check_eq(got["rate_limit"], ("warning", "Not known: no answer came to read them from.", None),
                    "no rate limits without a call")
        mx.check_eq(len([r for r in mx.mock_requests(since=seq) if r["path"].startswith("/v1/")]), 0,
                    "no request was sent")
        bob = mx.connect(user="mx_chk_bob", password="pw")
        got = check_rows(bob, "mx_chk_settings")
        mx.check_eq(got["api_key"], ("ok", "The key comes from the mixpeek.api_key setting.", None),
                    "a server without base_url and mapping takes the setting's key")
        mx.check_eq(got["authentication"][0], "ok", "and it works")
        got = check_rows(bob, "mx_chk_good")
        mx.check_eq(got["api_key"][0], "error", "alice's mapping is not bob's")
        bob.close()

    def test_08_rate_limit_headers(self):
        """the X-RateLimit-* headers as the mock sends them: the Pro and Free tiers, fixed values, none"""
        mx.mock_config(rate_limit_headers="pro")
        got = check_rows(su, "mx_chk_public")
        d = got["rate_limit"][1]
        mx.check(d.startswith("X-RateLimit-Limit: 600, X-RateLimit-Remaining: ") and
                 d.endswith(", X-RateLimit-Window: 60"), "Pro: 600 per 60 s", d)
        mx.mock_config(rate_limit_headers="free")
        d = check_rows(su, "mx_chk_public")["rate_limit"][1]
        mx.check(d.startswith("X-RateLimit-Limit: 60, ") and d.endswith(", X-RateLimit-Window: 60"),
                 "Free: 60 per 60 s", d)
        mx.mock_config(rate_limit_headers={"limit": 100, "remaining": 42, "reset": 7, "window": 1})
        mx.check_eq(check_rows(su, "mx_chk_public")["rate_limit"],
                    ("ok", "X-RateLimit-Limit: 100, X-RateLimit-Remaining: 42, X-RateLimit-Reset: 7, "
                           "X-RateLimit-Window: 1", None), "fixed values, exactly")
        mx.mock_config(rate_limit_headers={"limit": 100, "remaining": 0, "reset": 7, "window": 1})
        got = check_rows(su, "mx_chk_public")["rate_limit"]
        mx.check(got[0] == "ok" and got[2] is not None and "No requests are left" in got[2],
                 "none left: a hint", got)
        mx.mock_config(rate_limit_headers=None)
        mx.check_eq(check_rows(su, "mx_chk_public")["rate_limit"], ("ok", "not sent", None), "none sent")
        got = check_rows(su, "mx_chk_wrong")["rate_limit"]
        mx.check_eq(got, ("ok", "not sent", None), "none sent, on a 401 too")
        mx.mock_config(rate_limit_headers="pro")
        got = check_rows(su, "mx_chk_wrong")["rate_limit"]
        mx.check(got[1].startswith("X-RateLimit-Limit: 600"), "sent on a 401 answer", got)

    def test_09_bad_arguments(self):
        """an unknown server is 42704, another wrapper's server 42809; NULL is the settings' target"""
        mx.expect_error(su, "SELECT * FROM mixpeek_check('mx_chk_no_such')", None, "42704",
                        r'server "mx_chk_no_such" does not exist')
        mx.expect_error(su, "SELECT * FROM mixpeek_check('mx_chk_other_srv')", None, "42809",
                        r'foreign server "mx_chk_other_srv" is not a server of mixpeek_fdw')
        mx.check_eq(mx.scalar(su, "SELECT count(*) FROM mixpeek_check(NULL)"), 7, "NULL: seven rows")

    def test_10_no_key_anywhere(self):
        """no key in any row, for every server, as each role"""
        conns = [su, mx.connect(user="mx_chk_alice", password="pw"), mx.connect(user="mx_chk_bob", password="pw")]
        for c in conns:
            for s in [None] + SERVERS:
                if s is None:
                    rows = mx.query(c, "SELECT * FROM mixpeek_check()")
                else:
                    rows = mx.query(c, "SELECT * FROM mixpeek_check(%s)", (s,))
                mx.check_no_keys(repr(rows), "rows of %s" % (s or "settings"))
        for c in conns[1:]:
            c.close()
        mx.check_eq(mx.scalar(su, "SELECT 1"), 1, "the backend is alive after all the checks")

    def test_11_unreachable(self):
        """nothing listening: authentication is an error (08006's message), the rest still answers"""
        mx.query(su, "DROP SERVER IF EXISTS mx_chk_closed CASCADE")
        mx.query(su, "CREATE SERVER mx_chk_closed FOREIGN DATA WRAPPER mixpeek_fdw "
                     "OPTIONS (base_url 'http://127.0.0.1:%d', namespace 'default')" % mx.closed_port())
        mx.query(su, "CREATE USER MAPPING FOR PUBLIC SERVER mx_chk_closed OPTIONS (api_key 'sk_test_gamma')")
        mx.query(su, "SET mixpeek.max_retries = 0")
        got = check_rows(su, "mx_chk_closed")
        mx.query(su, "RESET mixpeek.max_retries; DROP SERVER mx_chk_closed CASCADE")
        mx.check_eq(statuses(got), {"preload": "ok", "api_key": "ok", "base_url": "warning", "host": "ok",
                                    "authentication": "error", "namespace": "ok", "rate_limit": "warning"},
                    "statuses")
        mx.check("could not reach Mixpeek" in got["authentication"][1], "detail", got["authentication"])


if __name__ == "__main__":
    mx.main('test_check')
