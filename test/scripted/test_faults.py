"""The fault matrix (README, "Errors"): every fault the mock can inject, through
mixpeek_document(), mixpeek_documents() and, when the FDW is usable, foreign
scans (GET by document_id; list scans with the fault on the first page and on
a later page).  For each: the SQLSTATE, a message naming the status, a
context naming method and path, the retries seen by the mock, and that the same backend then serves a
normal query correctly."""
import itertools
import json
import os
import re
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402
token = itertools.count(1)
RUN = "%d" % (time.time() * 1000 % 10**9)


def raw_get(path, key="sk_test_alpha", method="GET"):
    """The body exactly as the mock serves it, fetched without the extension."""
    req = urllib.request.Request(mx.MOCK_URL + path, method=method,
                                 data=b"{}" if method == "POST" else None,
                                 headers={"Authorization": "Bearer " + key,
                                          "X-Namespace": "default",
                                          "Content-Type": "application/json",
                                          "Accept-Encoding": "identity"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read().decode()


def healthy(c, what):
    """The same backend serves the normal document, exactly."""
    mx.run_error(c, "RESET ALL")
    try:
        same = mx.scalar(c, "SELECT mixpeek_document('col_articles', 'doc_flat_01') = %s::jsonb",
                         (REFERENCE,))
        rating = mx.scalar(c, "SELECT mixpeek_document('col_articles', 'doc_flat_01')->>'rating'")
    except Exception as exc:  # psycopg2.Error or a dropped connection
        mx.check(False, "%s: backend no longer serves a normal query: %s" % (what, exc))
        return
    mx.check(same is True, "%s: then mixpeek_document('col_articles','doc_flat_01') equals the mock's body" % what, same)
    mx.check_eq(rating, "4.123456789012345678", "%s: then rating keeps every digit" % what)


def doc_path(spec, coll="col_faults"):
    return "/v1/collections/%s/documents/%s" % (coll, spec)


def count_requests(since, spec):
    return len([r for r in mx.mock_requests(since=since) if r["path"].endswith("/" + spec)
                or ("/" + spec + "/") in r["path"]])


# ---------------------------------------------------------------------------
# The matrix.  Each fault: spec (or a function of a fresh token), SQLSTATE,
# regex for the message (the CONTEXT line must name the method and path),
# optional detail regex, settings to apply first, expected attempts per call.
# state None = no error and no row (a missing document).

def http(code, typ):
    return r"^Mixpeek returned HTTP %d \(%s: .+\)$" % (code, typ)


REACH = r"^could not reach Mixpeek: .+"
TIMEOUT = r"^Mixpeek request timed out$"
LARGE = r"^Mixpeek response is larger than mixpeek\.max_response_bytes$"
INVALID = r"^Mixpeek sent an invalid response$"
SMALL_LIMIT = ["SET mixpeek.max_response_bytes = '1MB'"]

REFUSED_URL = "http://127.0.0.1:%d" % mx.closed_port()
results = []     # (fault, route, outcome) for the summary


def prepare(c, settings, spec):
    mx.run_error(c, "RESET ALL")
    for s in settings:
        e = mx.run_error(c, s)
        mx.check(e is None, "setting %s" % s, e)
    if spec == "REFUSED":
        mx.run_error(c, "SET mixpeek.base_url = %s", (REFUSED_URL,))


def check_outcome(name, route, err, state, msg_rx, detail_rx, method_path):
    """method_path: "METHOD /path", or a list of them when any may fail first."""
    what = "%s via %s" % (name, route)
    if state in (None, "OK"):
        mx.check(err is None, "%s: expected no error" % what, err)
        results.append((name, route, "ok" if err is None else err.sqlstate))
        return
    if not mx.check(err is not None, "%s: expected ERROR %s" % (what, state)):
        results.append((name, route, "no error"))
        return
    results.append((name, route, err.sqlstate))
    mx.check_eq(err.sqlstate, state, "%s: SQLSTATE (%s)" % (what, err.message))
    paths = method_path if isinstance(method_path, list) else [method_path]
    mx.check(re.search(msg_rx, err.message), "%s: message should match /%s/" % (what, msg_rx), err.message)
    rx = r"(?m)^Mixpeek request (?:%s)$" % "|".join(re.escape(p) for p in paths)
    mx.check(re.search(rx, err.context), "%s: context should match /%s/" % (what, rx), err.context)
    if detail_rx:
        mx.check(re.search(detail_rx, err.detail or ""), "%s: detail should match /%s/" % (what, detail_rx),
                 err.detail)
    mx.check_no_keys(err.all_text(), what + ": error text")


def check_attempts(what, since, spec, want):
    if want is None:
        return
    got = count_requests(since, spec)
    mx.check_eq(got, want, "%s: requests the mock received" % what)


def setUpModule():
    global FAULTS, REFERENCE, conn, fdw_ok, fdw_why
    mx.setup_extension().close()
    fdw_ok, fdw_why = mx.fdw_usable()     # first: an unfinished FDW may crash its backend
    conn = mx.connect()
    mx.mock_reset()
    REFERENCE = raw_get("/v1/collections/col_articles/documents/doc_flat_01")
    FAULTS = [
        # name, spec, sqlstate, message, detail, settings, attempts, list-capable
        ("400", "status-400", "22023", http(400, "BadRequestError"), None, [], 1, True),
        ("401 (fault)", "status-401", "28000", http(401, "AuthenticationError"), None, [], 1, True),
        ("401 (wrong key)", "NORMAL", "28000", http(401, "AuthenticationError"), None,
         ["SET mixpeek.api_key = 'sk_wrong'"], 1, True),
        ("403 (fault)", "status-403", "42501", http(403, "AuthorizationError"), None, [], 1, True),
        ("403 (forbidden key)", "NORMAL", "42501", http(403, "AuthorizationError"), None,
         ["SET mixpeek.api_key = 'sk_test_forbidden'"], 1, True),
        ("404 document", "status-404", None, None, None, [], 1, False),
        ("404 collection", "status-404-collection", "42704", http(404, "NotFoundError"), None, [], 1, True),
        ("404 namespace", "status-404-namespace", "42704", http(404, "NotFoundError"), None, [], 1, True),
        ("404 namespace (real)", "NORMAL", "42704", r"^Mixpeek returned HTTP 404 \(NotFoundError: Namespace not found\)$",
         None, ["SET mixpeek.namespace = 'no_such_namespace'"], 1, True),
        ("422", "status-422", "22023", r"^Mixpeek returned HTTP 422 \(.+\)$", None, [], 1, True),
        ("429 persistent", "status-429", "53400", http(429, "TooManyRequestsError"), r"Gave up after 2 retries",
         ["SET mixpeek.max_retries = 2"], 3, True),
        ("429 Retry-After persistent", "status-429-retry-after-1", "53400", http(429, "TooManyRequestsError"),
         r"Gave up after 1 retry\.", ["SET mixpeek.max_retries = 1"], 2, True),
        # the 429 must come before the deadline (4 s: room for a loaded
        # machine), its retry (5 s away) could only start after it
        ("429 retry past timeout_ms", "status-429-retry-after-5", "53400", http(429, "TooManyRequestsError"),
         r"^No retry: the next one, due in 5000 ms, would come after mixpeek\.timeout_ms runs out\.$",
         ["SET mixpeek.max_retries = 5", "SET mixpeek.timeout_ms = 4000"], 1, True),
        ("429 transient", lambda: "flaky-429-2-t%s-%d" % (RUN, next(token)), "OK", None, None,
         ["SET mixpeek.max_retries = 2"], 3, True),
        ("503 transient", lambda: "flaky-503-1-t%s-%d" % (RUN, next(token)), "OK", None, None,
         ["SET mixpeek.max_retries = 2"], 2, True),
        ("502 transient", lambda: "flaky-502-2-t%s-%d" % (RUN, next(token)), "OK", None, None,
         ["SET mixpeek.max_retries = 2"], 3, True),
        ("504 transient beyond max_retries", lambda: "flaky-504-3-t%s-%d" % (RUN, next(token)), "HV000",
         http(504, "GatewayTimeoutError"), r"Gave up after 2 retries", ["SET mixpeek.max_retries = 2"], 3, True),
        ("500", "status-500", "HV000", http(500, "InternalServerError"), r"Gave up after 2 retries", [], 3, True),
        ("500 transient", lambda: "flaky-500-1-t%s-%d" % (RUN, next(token)), "OK", None, None,
         ["SET mixpeek.max_retries = 2"], 2, True),
        ("502", "status-502", "HV000", http(502, "BadGatewayError"), r"Gave up after 2 retries", [], 3, True),
        ("503", "status-503", "HV000", http(503, "ServiceUnavailableError"), r"Gave up after 2 retries", [], 3, True),
        ("504", "status-504", "HV000", http(504, "GatewayTimeoutError"), r"Gave up after 2 retries", [], 3, True),
        ("redirect not followed", "status-302", "HV000", r"^Mixpeek returned HTTP 302\b", None, [], 1, False),
        ("connection refused", "REFUSED", "08006", REACH, r"Gave up after 2 retries", [], None, True),
        ("reset mid-body", "reset", "08006", REACH, None, [], None, True),
        ("truncated body", "truncated", "08006", REACH, None, [], None, True),
        ("invalid JSON", "invalid-json", "HV00A", INVALID, r"invalid input syntax for type json", [], 1, True),
        ("JSON not an object", "non-object", "HV00A", INVALID, r"not an object", [], 1, True),
        ("HTML", "html", "HV00A", INVALID, r".", [], 1, True),
        ("empty body", "empty", "HV00A", INVALID, r"empty", [], 1, True),
        ("stall > timeout_ms", "stall-3000", "08006", TIMEOUT, None, ["SET mixpeek.timeout_ms = 300"], 1, True),
        ("stall mid-body > timeout_ms", "stall-body-3000", "08006", TIMEOUT, None,
         ["SET mixpeek.timeout_ms = 300"], 1, True),
        ("body over max_response_bytes", "huge-3", "HV00A", LARGE, None, SMALL_LIMIT, 1, True),
        ("gzip bomb", "gzip-bomb-64", "HV00A", LARGE, None, SMALL_LIMIT, 1, True),
        ("deeply nested JSON", "deep-100000", "HV00A", INVALID, r"more than \d+ levels", [], 1, True),
        ("invalid UTF-8", "invalid-utf8", "HV00A", INVALID, r"UTF-8", [], 1, True),
        ("\\u0000 in a string", "nul-escape", "HV00A", INVALID, r"\\u0000|Unicode", [], 1, True),
        ("key echoed in an error", "echo-key", "22023",
         r"^Mixpeek returned HTTP 400 \(BadRequestError: .*\[redacted\].*\)$", None, [], 1, True),
    ]


def tearDownModule():
    mx.log("")
    mx.log("fault matrix: %d faults, %d (fault, route) cases" % (len(FAULTS), len(results)))
    width = max([len(r[0]) for r in results] + [1])
    by_fault = {}
    for name, route, outcome in results:
        by_fault.setdefault(name, []).append("%s=%s" % (route.replace("mixpeek_", ""), outcome))
    for name, _, *_ in FAULTS:
        mx.log("  %-*s  %s" % (width, name, "  ".join(by_fault.get(name, []))))
    mx.mock_reset()


class Faults(mx.TestCase):

    def test_01_functions(self):
        """each fault through mixpeek_document() and mixpeek_documents()"""
        # ---------------------------------------------------------------------------
        # Through mixpeek_document() and mixpeek_documents()

        for name, spec, state, msg_rx, detail_rx, settings, attempts, listable in FAULTS:
            # mixpeek_documents() sends its ids in a list request: the fault is
            # page 1 of every list of the collection faultpage-1-<spec>, which
            # otherwise serves col_articles
            for route in ("mixpeek_document", "mixpeek_documents") if listable else ("mixpeek_document",):
                s = spec() if callable(spec) else spec
                coll, ident = ("col_faults", s)
                if s in ("NORMAL", "REFUSED"):
                    coll, ident = "col_articles", "doc_flat_01"
                elif route == "mixpeek_documents":
                    coll = "faultpage-1-" + s
                with mx.case("%s via %s (%s)" % (name, route, ident)):
                    prepare(conn, settings, s)
                    since = mx.mock_last_seq()
                    if route == "mixpeek_document":
                        try:
                            rows = mx.query(conn, "SELECT mixpeek_document(%s, %s)", (coll, ident))
                            err = None
                        except Exception as exc:
                            err = mx.Err(exc)
                            rows = None
                    else:
                        others = ["doc_flat_02", "doc_nested_01"]
                        if coll == "col_articles":
                            others = others + [ident]
                        try:
                            rows = mx.query(conn, "SELECT d->>'document_id' FROM mixpeek_documents(%s, %s) d ORDER BY 1",
                                            (coll, others + others[:1]))
                            err = None
                        except Exception as exc:
                            err = mx.Err(exc)
                            rows = None
                    if route == "mixpeek_document":
                        paths = "GET " + doc_path(ident, coll)
                    else:
                        paths = "POST /v1/collections/%s/documents/list?limit=1000&include_total=true" % coll
                    check_outcome(name, route, err, state, msg_rx, detail_rx, paths)
                    if err is None and state is None:
                        want = [(None,)] if route == "mixpeek_document" else sorted((o,) for o in others)
                        mx.check_eq(rows, want, "%s via %s: a missing document is no row / NULL" % (name, route))
                    elif err is None and state == "OK":
                        if route == "mixpeek_document":
                            doc = rows[0][0]
                            mx.check(doc == {"document_id": ident, "collection_id": "col_faults", "ok": True},
                                     "%s: the document after the retries" % name, doc)
                        else:
                            mx.check_eq(rows, sorted((o,) for o in others),
                                        "%s via %s: every document, once" % (name, route))
                    if s != "REFUSED":
                        check_attempts("%s via %s" % (name, route), since,
                                       ident if route == "mixpeek_document" else coll, attempts)
                    healthy(conn, "%s via %s" % (name, route))

    # Retry-After is honoured: the retry comes no sooner than the server asked.
    def test_02_retry_after_1_delays_the_retry_by_at(self):
        """Retry-After: 1 delays the retry by at least 1 s"""
        mx.run_error(conn, "SET mixpeek.max_retries = 1")
        since = mx.mock_last_seq()
        mx.run_error(conn, "SELECT mixpeek_document('col_faults', 'status-429-retry-after-1')")
        log = [r for r in mx.mock_requests(since=since) if r["path"].endswith("status-429-retry-after-1")]
        if mx.check_eq(len(log), 2, "Retry-After: attempts"):
            gap = log[1]["received_ms"] - log[0]["received_ms"]
            mx.log("  retry came %.0f ms after the 429 with Retry-After: 1" % gap)
            mx.check(gap >= 950, "the retry must wait for Retry-After (>= 1 s)", gap)
        healthy(conn, "Retry-After")

    # ---------------------------------------------------------------------------
    # Faults that are not errors
    def test_03_big_numbers_keep_every_digit(self):
        """big numbers keep every digit"""
        raw = raw_get(doc_path("big-number"))
        same = mx.scalar(conn, "SELECT mixpeek_document('col_faults', 'big-number') = %s::jsonb", (raw,))
        mx.check(same is True, "big-number: the jsonb equals the body parsed by jsonb_in", same)
        got = mx.query(conn, """SELECT d->>'big_int', d->>'precise', length(d->>'huge_exp')
                                FROM mixpeek_document('col_faults', 'big-number') d""")[0]
        want_big = re.search(r'"big_int"\s*:\s*(-?\d+)', raw).group(1)
        mx.check_eq(got[0], want_big, "big_int digits")
        mx.check_eq(got[1], "0.1000000000000000000001", "precise digits")
        mx.check_eq(got[2], 401, "1e400 as numeric has 401 digits")
        mx.log("  big_int %s, precise %s" % (got[0], got[1]))

    def test_04_gzip_encoded_document_moderately_nested(self):
        """gzip-encoded document, moderately nested document, a large body under the limit"""
        doc = mx.scalar(conn, "SELECT mixpeek_document('col_faults', 'gzip-doc')")
        mx.check_eq(doc, {"document_id": "gzip-doc", "collection_id": "col_faults", "ok": True}, "gzip-doc")
        depth = mx.scalar(conn, """WITH RECURSIVE t(v, n) AS (
                                     SELECT mixpeek_document('col_faults', 'deep-200'), 0
                                     UNION ALL
                                     SELECT e.value, n + 1 FROM t, jsonb_each(t.v) e
                                     WHERE jsonb_typeof(e.value) = 'object')
                                   SELECT max(n) FROM t""")
        mx.check(depth is not None and depth >= 190, "deep-200 parses (nesting seen %r)" % depth)
        n = mx.scalar(conn, "SELECT octet_length(mixpeek_document('col_faults', 'huge-3')::text)")
        mx.check(n is not None and n > 3 * 1000 * 1000, "huge-3 under the default limit arrives whole", n)
        n = mx.scalar(conn, "SELECT octet_length(mixpeek_document('col_faults', 'gzip-bomb-8')::text)")
        mx.check(n is not None and n > 8 * 1000 * 1000, "gzip-bomb-8 under the default limit inflates whole", n)
        healthy(conn, "non-error bodies")

    def test_05_a_fault_inside_a_savepoint_leaves_the(self):
        """a fault inside a savepoint leaves the session usable in the same transaction"""
        conn.autocommit = False
        cur = conn.cursor()
        cur.execute("SAVEPOINT a")
        try:
            cur.execute("SELECT * FROM mixpeek_documents('faultpage-1-status-503', "
                        "ARRAY['doc_flat_01', 'doc_flat_02', 'doc_nested_01'])")
            cur.fetchall()
            mx.check(False, "expected the 503 to fail the statement")
        except Exception as exc:
            mx.check_eq(exc.pgcode, "HV000", "503 in a savepoint")
        cur.execute("ROLLBACK TO SAVEPOINT a")
        cur.execute("SELECT count(*) FROM mixpeek_documents('col_articles', ARRAY['doc_flat_01','doc_flat_02','doc_nested_01'])")
        mx.check_eq(cur.fetchone()[0], 3, "documents after ROLLBACK TO SAVEPOINT")
        conn.commit()
        conn.autocommit = True
        healthy(conn, "savepoint")

    def test_06_foreign_scans(self):
        """each fault through foreign scans"""
        # ---------------------------------------------------------------------------
        # Through foreign scans

        if not fdw_ok:
            mx.log("SKIP: FDW cases: the FDW is not usable yet (%s)" % fdw_why)
        else:
            mx.run_error(conn, "DROP SERVER IF EXISTS mx_faults CASCADE")
            e = mx.run_error(conn, """
                CREATE SERVER mx_faults FOREIGN DATA WRAPPER mixpeek_fdw;
                CREATE FOREIGN TABLE ft_faults (document_id text, collection_id text, document jsonb)
                  SERVER mx_faults OPTIONS (collection 'col_faults');
                CREATE FOREIGN TABLE ft_articles (document_id text, document jsonb)
                  SERVER mx_faults OPTIONS (collection 'col_articles');""")
            mx.check(e is None, "creating the fault server and tables", e)
            PAGE = 5   # col_articles has 20 documents: pages 1..4
            ALL_ARTICLES = sorted((r["document_id"],) for r in json.loads(raw_get(
                "/v1/collections/col_articles/documents/list?limit=1000", method="POST"))["results"])

            def fdw_healthy(what):
                healthy(conn, what)
                try:
                    rows = mx.query(conn, "SELECT document = %s::jsonb FROM ft_articles WHERE document_id = 'doc_flat_01'",
                                    (REFERENCE,))
                    mx.check_eq(rows, [(True,)], "%s: then a foreign GET scan returns the document" % what)
                    n = mx.scalar(conn, "SELECT count(*) FROM ft_articles")
                    mx.check_eq(n, 20, "%s: then a foreign list scan returns every row" % what)
                except Exception as exc:
                    mx.check(False, "%s: foreign scans after the fault: %s" % (what, exc))

            for name, spec, state, msg_rx, detail_rx, settings, attempts, listable in FAULTS:
                routes = ["fdw GET"] + (["fdw list page 1", "fdw list page 3"] if listable else [])
                for route in routes:
                    s = spec() if callable(spec) else spec
                    with mx.case("%s via %s (%s)" % (name, route, s)):
                        prepare(conn, settings, s)
                        since = mx.mock_last_seq()
                        if route == "fdw GET":
                            table, ident = "ft_faults", s
                            if s in ("NORMAL", "REFUSED"):
                                table, ident = "ft_articles", "doc_flat_01"
                            sql, params = "SELECT document_id FROM %s WHERE document_id = %%s" % table, (ident,)
                            method_path = "GET " + doc_path(ident, "col_faults" if table == "ft_faults" else "col_articles")
                            seg = ident
                        else:
                            k = 1 if route.endswith("1") else 3
                            coll = "col_articles" if s in ("NORMAL", "REFUSED") else "faultpage-%d-%s" % (k, s)
                            mx.run_error(conn, "DROP FOREIGN TABLE IF EXISTS ft_page")
                            e = mx.run_error(conn, """CREATE FOREIGN TABLE ft_page (document_id text, document jsonb)
                                                      SERVER mx_faults OPTIONS (collection %s, page_size %s)""",
                                             (coll, str(PAGE)))
                            mx.check(e is None, "creating ft_page", e)
                            sql, params = 'SELECT document_id FROM ft_page ORDER BY document_id COLLATE "C"', None
                            method_path = "POST /v1/collections/%s/documents/list?limit=%d" % (coll, PAGE)
                            # the first page of a scan asks for the total
                            method_path = [method_path + "&include_total=true", method_path]
                            seg = coll
                        rows = None
                        try:
                            rows = mx.query(conn, sql, params)
                            err = None
                        except Exception as exc:
                            err = mx.Err(exc)
                        if err is None and state is None:
                            mx.check_eq(rows, [], "%s via %s: no row" % (name, route))
                        elif err is None and state == "OK":
                            if route == "fdw GET":
                                mx.check_eq(rows, [(ident,)], "%s via %s: the row" % (name, route))
                            else:
                                mx.check_eq(rows, ALL_ARTICLES, "%s via %s: every row of every page" % (name, route))
                        check_outcome(name, route, err, state, msg_rx, detail_rx, method_path)
                        if s != "REFUSED" and attempts is not None:
                            if route == "fdw GET":
                                check_attempts("%s via %s" % (name, route), since, seg, attempts)
                            else:
                                page_reqs = [r for r in mx.mock_requests(since=since) if r["path"].startswith(
                                    "/v1/collections/%s/" % seg)]
                                # pages before k once each, page k 'attempts' times (transient: then on)
                                mx.log("  list requests made: %d" % len(page_reqs))
                                if state not in (None, "OK"):
                                    first_bad = 1 if coll == "col_articles" else k
                                    want_n = (first_bad - 1) + attempts
                                    mx.check_eq(len(page_reqs), want_n, "%s via %s: list requests" % (name, route))
                        fdw_healthy("%s via %s" % (name, route))
            mx.run_error(conn, "DROP SERVER IF EXISTS mx_faults CASCADE")


if __name__ == "__main__":
    mx.main('test_faults')
