"""Shared helpers of the scripted tests (Python 3 + psycopg2).

The tests run inside the throwaway cluster of test/run-tests.sh: PGHOST,
PGPORT, PGUSER and PGPASSWORD point at it, MIXPEEK_MOCK_URL at the mock
Mixpeek API and MIXPEEK_MOCK_CONTROL at its control endpoints.  Each test
reports what it checked and measured, keeps going after a failed check, and
exits non-zero at the end when any check failed.

Each file is a unittest module: its cases are methods of a mx.TestCase
class, numbered to keep their order (test_01_..., test_02_...), shared set-up
in setUpModule/setUpClass.  A case fails when any mx.check in it failed (all
are reported, not only the first).  Run a file, or some of its cases:

    python3 test_wire.py                          # every case, then the count of checks
    python3 test_wire.py Wire.test_03_cursor_cycle
    python3 test_wire.py Wire.test_cursor_cycle   # the number may be left out
    python3 -m unittest test_wire.Wire.test_03_cursor_cycle
"""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import traceback
import unittest
import urllib.parse
import urllib.request

import psycopg2
import psycopg2.extensions

MOCK_URL = os.environ.get("MIXPEEK_MOCK_URL", "").rstrip("/")
MOCK_CONTROL = os.environ.get("MIXPEEK_MOCK_CONTROL", MOCK_URL + "/_mock").rstrip("/")
LONG = os.environ.get("MX_LONG", "0") == "1"
TOP = os.environ.get("MX_TOP", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

# Keys the mock knows; none may ever show up in output a test can see.
KEYS = ["sk_test_alpha", "sk_test_beta", "sk_test_gamma", "sk_test_forbidden",
        "sk_wrong"]

_failures = []
_checks = 0


# ---------- reporting ----------

def log(*args):
    print(*args, flush=True)


def check(cond, what, got=None):
    """Record one assertion; print it when it fails."""
    global _checks
    _checks += 1
    if not cond:
        msg = what if got is None else "%s (got: %r)" % (what, got)
        _failures.append(msg)
        log("  FAIL:", msg)
    return bool(cond)


def check_eq(got, want, what):
    return check(got == want, "%s: expected %r" % (what, want), got)


def case(name):
    """Decorator-free way to run one named case, catching surprises."""
    class _Case:
        def __enter__(self):
            log("-", name)
            return self

        def __exit__(self, typ, val, tb):
            if typ is None:
                return False
            if typ is Skip:
                log("  SKIP:", val)
                return True
            _failures.append("%s: unexpected %s: %s" % (name, typ.__name__, val))
            log("  FAIL: unexpected exception")
            traceback.print_exception(typ, val, tb)
            return True
    return _Case()


class Skip(unittest.SkipTest):
    pass


class TestCase(unittest.TestCase):
    """A case of a scripted test: logs its name (the docstring's first line)
    and fails at its end when any mx.check failed in it."""

    def setUp(self):
        log("-", self.shortDescription() or self._testMethodName)
        self._mx_failures = len(_failures)

    def tearDown(self):
        failed = _failures[self._mx_failures:]
        if failed:
            self.fail("%d check(s) failed:\n  %s" % (len(failed), "\n  ".join(failed)))


class _Result(unittest.TextTestResult):
    """Reports skips and unexpected exceptions where they happen, as the
    case logs do, and counts the exceptions with the failed checks."""

    def addError(self, test, err):
        super().addError(test, err)
        typ, val, tb = err
        name = getattr(test, "shortDescription", lambda: None)() or str(test)
        _failures.append("%s: unexpected %s: %s" % (name, typ.__name__, val))
        log("  FAIL: unexpected exception")
        traceback.print_exception(typ, val, tb)
        sys.stdout.flush()

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        log("  SKIP:", reason)


def _resolve(module, name):
    """A case's unittest name from what was asked for: Class.test_name
    for Class.test_NN_name (the number left out), also the start of a name
    when one case starts so; without the class, when one class of the
    module has the case."""
    classes = {k: v for k, v in vars(module).items()
               if isinstance(v, type) and issubclass(v, unittest.TestCase)}
    parts = name.split(".")
    if parts[0] in classes:
        if len(parts) != 2 or hasattr(classes[parts[0]], parts[1]):
            return name
        where, meth = [parts[0]], parts[1]
    elif len(parts) == 1:
        where, meth = list(classes), parts[0]
    else:
        return name
    bare = re.sub(r"^test_(\d+_)?", "", meth)
    for pattern in (r"test_(\d+_)?%s", r"test_(\d+_)?%s.*"):   # whole, or the start
        hits = ["%s.%s" % (c, attr) for c in where for attr in dir(classes[c])
                if re.fullmatch(pattern % re.escape(bare), attr)]
        if hits:
            return hits[0] if len(hits) == 1 else name
    return name


def main(name, tests=None, flags=()):
    """Run the cases of the calling module (or the TestCase classes in
    tests) as unittest does, with the names given on the command line (the
    flags are left out of them), then print the count of checks as finish()
    does and exit non-zero when any check or case failed."""
    module = sys.modules["__main__"]
    args = [a for a in sys.argv[1:] if a not in flags]
    names = [_resolve(module, a) for a in args if not a.startswith("-")]
    opts = [a for a in args if a.startswith("-")]
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=0, resultclass=_Result)
    if tests is not None and not names:
        loader = unittest.defaultTestLoader
        suite = unittest.TestSuite(loader.loadTestsFromTestCase(t) for t in tests)
        result = runner.run(suite)
    else:
        prog = unittest.main(module=module, argv=[sys.argv[0]] + opts + names,
                             testRunner=runner, exit=False)
        result = prog.result
    if not result.testsRun and not result.skipped:
        log("%s: no case was run" % name)
        sys.exit(1)
    if not result.wasSuccessful() and not _failures:
        _failures.append("%d case(s) failed" % (len(result.failures) + len(result.errors)))
    finish(name)


def finish(name):
    if _failures:
        log("%s: %d of %d checks failed" % (name, len(_failures), _checks))
        for f in _failures:
            log("   ", f)
        sys.exit(1)
    log("%s: all %d checks passed" % (name, _checks))
    sys.exit(0)


# ---------- PostgreSQL ----------

def connect(user=None, password=None, autocommit=True, **kw):
    args = dict(dbname=os.environ.get("MX_DB", "postgres"))
    if user is not None:
        args["user"] = user
    if password is not None:
        args["password"] = password
    args.update(kw)
    conn = psycopg2.connect(**args)
    conn.autocommit = autocommit
    return conn


def setup_extension():
    conn = connect()
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS mixpeek")
        # a 429 paces every later request of its key: start each module afresh
        cur.execute("SELECT mixpeek_budget_reset() FROM pg_proc WHERE proname = 'mixpeek_budget_reset'")
    return conn


def reload_conf(conn, seconds=60):
    """pg_reload_conf() from conn, then wait until the server has applied
    the configuration files: in conn's own session and in a new one (the
    postmaster reads them first), each with a later pg_conf_load_time().
    A fixed sleep is not enough on a starved machine."""
    before = scalar(conn, "SELECT pg_conf_load_time()")
    query(conn, "SELECT pg_reload_conf()")

    def applied():
        fresh = connect()
        try:
            return scalar(fresh, "SELECT pg_conf_load_time()") > before
        finally:
            fresh.close()
    check(wait_until(applied, seconds, 0.05), "a new session has the reloaded configuration")
    check(wait_until(lambda: scalar(conn, "SELECT pg_conf_load_time()") > before, seconds, 0.05),
          "the session that reloaded has applied the configuration")


def query(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        if cur.description is None:
            return None
        return cur.fetchall()


def scalar(conn, sql, params=None):
    rows = query(conn, sql, params)
    return rows[0][0] if rows else None


class Err:
    """What an ERROR looked like: SQLSTATE, message, detail, hint, all text."""
    def __init__(self, exc):
        d = exc.diag
        self.sqlstate = exc.pgcode
        self.message = d.message_primary or ""
        self.detail = d.message_detail or ""
        self.hint = d.message_hint or ""
        self.context = d.context or ""
        self.text = str(exc)

    def all_text(self):
        return "\n".join([self.message, self.detail, self.hint, self.context, self.text])

    def __repr__(self):
        return "ERROR %s: %s | detail: %s | hint: %s" % (
            self.sqlstate, self.message, self.detail, self.hint)


def run_error(conn, sql, params=None):
    """Run sql, return Err if it failed, None if it succeeded."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            if cur.description is not None:
                cur.fetchall()
    except psycopg2.Error as exc:
        if exc.pgcode is None:
            raise
        if not conn.autocommit:
            conn.rollback()
        return Err(exc)
    return None



# The most a cancel, statement_timeout or mixpeek.timeout_ms may take to stop
# a statement that waits (measured: a few ms).  The waits the tests cancel
# (a stalled answer, a retry's back-off, a spent budget window) last 30 s or
# more: a backend that sits them out fails, and a starved machine's
# scheduling delays, however long, stay far below.
PROMPT_MS = 3000


def wait_until(pred, seconds=60, step=0.02):
    """Poll pred() until it is true or seconds have passed; its last value.
    Waiting for what a test needs to have happened, not for a fixed time,
    keeps a slow machine from failing it."""
    deadline = time.monotonic() + seconds
    while True:
        got = pred()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(step)


def run_interrupted(conn, sql, mech, wait_s, control, what, join_s=60, ready=None):
    """Run sql on conn until it is stopped by mech: "pg_cancel_backend"
    (sent from control after wait_s, and once ready() is true when given),
    or a statement_timeout or mixpeek.timeout_ms of wait_s that the caller
    has set.  Returns (Err or None, ms from the cancel call or the deadline
    to the error reaching the client), or (None, None) when the statement
    did not end (the backend is then terminated)."""
    backend = pid(conn)
    out = {}

    def worker():
        out["t_send"] = time.monotonic()
        out["err"] = run_error(conn, sql)
        out["t_end"] = time.monotonic()

    th = threading.Thread(target=worker)
    th.start()
    t_ref = None
    if mech == "pg_cancel_backend":
        time.sleep(wait_s)
        if ready is not None:
            check(wait_until(ready), "%s: the statement got to where it is cancelled" % what)
        t_ref = time.monotonic()
        query(control, "SELECT pg_cancel_backend(%s)", (backend,))
    th.join(join_s)
    if not check(not th.is_alive(), "%s: the statement ended" % what):
        query(control, "SELECT pg_terminate_backend(%s)", (backend,))
        th.join(10)
        return None, None
    if t_ref is None:
        t_ref = out["t_send"] + wait_s      # the deadline, as the client sees it
    return out["err"], (out["t_end"] - t_ref) * 1000

def expect_error(conn, sql, params, sqlstate, regex=None, what=None):
    """Run sql and check it fails with sqlstate and a message matching regex."""
    what = what or sql
    err = run_error(conn, sql, params)
    if not check(err is not None, "%s: expected ERROR %s, it succeeded" % (what, sqlstate)):
        return None
    check_eq(err.sqlstate, sqlstate, "%s: SQLSTATE (%s)" % (what, err.message))
    if regex is not None:
        check(re.search(regex, err.message) is not None,
              "%s: message should match /%s/" % (what, regex), err.message)
    check_no_keys(err.all_text(), what + ": error text")
    return err


def check_no_keys(text, what, keys=None):
    """No key string in text; on a hit, show the line around it, not all of text."""
    text = text or ""
    for k in (keys or KEYS):
        at = text.find(k)
        if at < 0:
            check(True, what)
            continue
        start = text.rfind("\n", 0, at) + 1
        end = text.find("\n", at)
        line = text[start:end if end >= 0 else len(text)]
        check(False, "%s must not contain the key %s" % (what, k), line[:400])


def pid(conn):
    return scalar(conn, "SELECT pg_backend_pid()")


def peak_rss_kb(backend):
    """A process's peak resident memory (VmHWM, kB), or None when /proc
    does not show it."""
    try:
        with open("/proc/%d/status" % backend) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# ---------- the mock ----------

def _mock(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(MOCK_CONTROL + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def mock_requests(since=None, path_contains=None):
    """The mock's request log, oldest first: dicts with seq, method, path
    (raw, as received), raw_query, identity, received_ms, answered_ms, status,
    aborted."""
    q = []
    if since is not None:
        q.append("since=%d" % since)
    if path_contains is not None:
        q.append("path_contains=" + urllib.parse.quote(path_contains, safe=""))
    return _mock("GET", "/requests" + ("?" + "&".join(q) if q else ""))


def max_in_flight(log):
    """The most requests of log the mock held at once, from their
    [received_ms, answered_ms] intervals.  A client's next request can only
    arrive after it read an answer, which the mock finished sending before, so
    this never exceeds the client's concurrency, however slow the machine."""
    events = []
    for r in log:
        assert r["answered_ms"] is not None, "request %d not answered" % r["seq"]
        events += [(r["received_ms"], 1), (r["answered_ms"], -1)]
    most = held = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        held += step
        most = max(most, held)
    return most


# How long the mock's "gather" holds a request whose group does not fill: a
# client that sends its requests together never waits this long, however
# starved the machine; one that sends them one by one waits it for each.
GATHER_MS = 10000


def gather_config(count):
    """The mock's "gather" setting: each request is held until count of them
    are held together (at most GATHER_MS), so that a client that sends count
    requests at once has them in flight together for certain."""
    return {"count": count, "max_ms": GATHER_MS}


def mock_last_seq():
    log_ = mock_requests()
    return log_[-1]["seq"] if log_ else 0


def mock_reset():
    _mock("POST", "/reset", {})


def mock_config(**kw):
    return _mock("POST", "/config", kw)


def mock_stats():
    return _mock("GET", "/stats")


def req_path(r):
    """The raw request path (with query) of a logged request."""
    q = r.get("raw_query")
    return r["path"] + ("?" + q if q else "")


def closed_port():
    """A loopback port nobody listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------- the FDW ----------

def wait_for_server(seconds=60, user=None, password=None):
    """Connect again (as user, default the superuser) after a backend
    crash made the postmaster reinitialize."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            c = connect(user=user, password=password)
            scalar(c, "SELECT 1")
            return c
        except psycopg2.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


_fdw_state = None


def fdw_usable():
    """(True, "") when a foreign server, table and scans work, else (False, why).

    Probed once, in a connection of its own: an unfinished handler can
    crash the backend (the postmaster then restarts every session), which
    must not take the caller's connection with it.  Call it before opening
    other connections."""
    global _fdw_state
    if _fdw_state is not None:
        return _fdw_state
    conn = connect()
    err = run_error(conn, """
        DROP SERVER IF EXISTS mx_probe CASCADE;
        CREATE SERVER mx_probe FOREIGN DATA WRAPPER mixpeek_fdw;
        CREATE FOREIGN TABLE mx_probe_t (document_id text, document jsonb)
          SERVER mx_probe OPTIONS (collection 'col_articles');
    """)
    if err is not None:
        run_error(conn, "DROP SERVER IF EXISTS mx_probe CASCADE")
        _fdw_state = (False, "creating a foreign server and table failed: %r" % err)
        return _fdw_state
    why = ""
    try:
        rows = query(conn, "SELECT document_id FROM mx_probe_t WHERE document_id = 'doc_flat_01'")
        if rows != [("doc_flat_01",)]:
            why = "GET scan returned %r" % (rows,)
        else:
            n = scalar(conn, "SELECT count(*) FROM mx_probe_t")
            if n != 20:
                why = "list scan returned %r rows, not 20" % (n,)
    except psycopg2.OperationalError as exc:
        why = "the probe scan ended the backend (%s)" % str(exc).strip().splitlines()[0]
        conn = wait_for_server()
    except psycopg2.Error as exc:
        why = "foreign scan failed: %s %s" % (exc.pgcode, str(exc).strip())
    run_error(conn, "DROP SERVER IF EXISTS mx_probe CASCADE")
    conn.close()
    _fdw_state = ((why == ""), why)
    return _fdw_state


def fdw_superuser():
    """A superuser's connection, after the extension is created and the FDW
    probed (before it: the probe may crash its backend); Skip when the FDW
    is not usable."""
    setup_extension().close()
    ok, why = fdw_usable()
    if not ok:
        raise Skip("the FDW is not usable (%s)" % why)
    return connect()


# ---------- roles of a test's own ----------

def drop_roles(su, roles, servers=()):
    """Drop what the roles own, the servers (CASCADE), then the roles;
    none of them need exist."""
    for r in roles:
        if scalar(su, "SELECT count(*) FROM pg_roles WHERE rolname = %s", (r,)):
            query(su, "DROP OWNED BY %s CASCADE" % r)
    for s in servers:
        query(su, "DROP SERVER IF EXISTS %s CASCADE" % s)
    for r in roles:
        query(su, "DROP ROLE IF EXISTS %s" % r)


def create_roles(su, roles, servers=(), schemas=False):
    """Login roles with the password 'pw', after drop_roles() of what an
    earlier run left; with schemas, each owns a schema named as the role
    without its "mx_" (km_alice for mx_km_alice)."""
    drop_roles(su, roles, servers)
    for r in roles:
        query(su, "CREATE ROLE %s LOGIN PASSWORD 'pw'" % r)
        if schemas:
            query(su, "CREATE SCHEMA %s AUTHORIZATION %s" % (r[len("mx_"):], r))


class Timer:
    def __enter__(self):
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *a):
        self.elapsed = time.monotonic() - self.t0
        return False


# ---------- nested clusters ----------

def run_nested(script, flag, options, what):
    """Run script with flag in a throwaway cluster of its own
    (test/virtualenv.sh) that has only the settings options ("name=value")
    and none of this cluster's PG* variables; log its output, check (what)
    that it passed, and return the output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    cmd = [os.path.join(TOP, "test/virtualenv.sh")]
    for o in options:
        cmd += ["-o", o]
    cmd += ["/usr/bin/python3", os.path.abspath(script), flag]
    with Timer() as t:
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    out = p.stdout.decode("utf-8", "replace")
    log("  " + "\n  ".join(out.strip().splitlines()))
    log("  (nested cluster: %.1f s)" % t.elapsed)
    check_eq(p.returncode, 0, what)
    return out
