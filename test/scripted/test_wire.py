"""What reaches the wire and what a backend holds: proxies, the total of
response bytes held at once, and cursor cycles of any length.

- Proxy: a nested cluster whose postmaster has http_proxy set to a capture
  listener and no_proxy naming the API's host.  The administrator's
  exemption must hold (the request goes straight to the API, with its key,
  and the proxy sees nothing); a host not exempted goes through the proxy,
  as curl does with the same environment.
- Memory: many large bodies at once (the list requests of one id lookup)
  are bounded by mixpeek.max_response_bytes in total, not per body: 54000
  with a hint, while the same requests one at a time (max_concurrency = 1)
  are read.
- Cursor cycles: a list whose cursors go A -> B -> A ends with an ERROR
  after three pages instead of paging forever.
- Wait events: pg_stat_activity shows a backend waiting on a stalled
  request as waiting on the extension, not as running.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402
import capture  # noqa: E402


class HostCapture(capture.CaptureServer):
    """A capture listener on another loopback address (127.0.0.2, ...)."""

    def __init__(self, host, **kw):
        super().__init__(**kw)
        self.host = host

    def start(self):
        self._srv = capture._Server((self.host, 0), capture._Handler)
        self._srv.capture = self
        self.url = "http://%s:%d" % (self.host, self._srv.server_address[1])
        capture.threading.Thread(target=self._srv.serve_forever, daemon=True).start()
        return self


def as_postgres(cmd, **kw):
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


def nested_cluster(env_extra, conf_lines):
    """initdb + start a cluster whose postmaster has env_extra in its
    environment; returns (connect kwargs, stop function)."""
    bindir = subprocess.check_output(["pg_config", "--bindir"]).decode().strip()
    top = tempfile.mkdtemp(prefix="mx_wire_")
    os.chmod(top, 0o777)
    data, sock = os.path.join(top, "data"), os.path.join(top, "sock")
    os.mkdir(sock)
    if os.getuid() == 0:
        shutil.chown(sock, "postgres")
    p = as_postgres([bindir + "/initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"])
    if p.returncode != 0:
        raise RuntimeError("initdb failed: " + p.stdout.decode())
    with open(os.path.join(data, "postgresql.conf"), "a") as f:
        f.write("listen_addresses = ''\nunix_socket_directories = '%s'\nport = 5432\n" % sock)
        f.write("shared_preload_libraries = 'mixpeek'\nfsync = off\n")
        for line in conf_lines:
            f.write(line + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and "proxy" not in k.lower()}
    env.update(env_extra)
    cmd = [bindir + "/pg_ctl", "-D", data, "-l", os.path.join(top, "log"), "-w", "start"]
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("pg_ctl start failed: " + p.stdout.decode() + open(os.path.join(top, "log")).read())

    def stop():
        as_postgres([bindir + "/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], timeout=120)
        shutil.rmtree(top, ignore_errors=True)
    return dict(host=sock, port=5432, user="postgres", dbname="postgres"), stop


# ---------------------------------------------------------------------------
# Proxy

def proxy_checks():
    """The environment's proxy rules hold for what the extension sends."""
    with capture.CaptureServer() as proxy, HostCapture("127.0.0.2") as api, \
            HostCapture("127.0.0.3") as other:
        kw, stop = nested_cluster(
            {"http_proxy": proxy.url, "no_proxy": "127.0.0.2"},
            ["mixpeek.base_url = '%s'" % api.url, "mixpeek.api_key = 'sk_test_alpha'",
             "mixpeek.namespace = 'default'"])
        try:
            conn = mx.connect(**kw)
            mx.query(conn, "CREATE EXTENSION mixpeek")
            mx.query(conn, "SET mixpeek.namespace = 'default'")
            with mx.case("a host in no_proxy is reached directly, never through the proxy"):
                doc = mx.scalar(conn, "SELECT mixpeek_document('col_capture', 'doc_0001') ->> 'document_id'")
                mx.check_eq(doc, "doc_0001", "document")
                mx.check_eq(len(api.requests()), 1, "requests at the API")
                mx.check_eq(proxy.requests(), [], "requests at the proxy")
                got = [r["headers"].get("authorization") for r in api.requests()]
                mx.check_eq(got, ["Bearer sk_test_alpha"], "Authorization at the API")
            with mx.case("a host not in no_proxy goes through http_proxy, as curl does"):
                mx.query(conn, "CREATE SERVER other FOREIGN DATA WRAPPER mixpeek_fdw "
                               "OPTIONS (base_url %s, namespace 'default')", (other.url,))
                mx.query(conn, "CREATE USER MAPPING FOR CURRENT_USER SERVER other "
                               "OPTIONS (api_key 'sk_test_gamma')")
                mx.query(conn, "CREATE FOREIGN TABLE o (document_id text) SERVER other "
                               "OPTIONS (collection 'col_capture')")
                mx.run_error(conn, "SELECT * FROM o WHERE document_id = 'doc_0001'")
                mx.check_eq(other.requests(), [], "requests straight to the host")
                lines = [r["path"] for r in proxy.requests()]
                mx.check(len(lines) == 1 and lines[0].startswith(other.url + "/v1/"),
                         "one absolute-form request at the proxy", lines)
            conn.close()
        finally:
            stop()


def setUpModule():
    global su
    # ---------------------------------------------------------------------------

    su = mx.setup_extension()
    mx.query(su, "SET mixpeek.namespace = 'default'")


class Wire(mx.TestCase):

    def test_01_proxy_rules(self):
        """proxy rules of the postmaster's environment"""
        proxy_checks()

    def test_02_response_bytes_bounded_in_total(self):
        """response bytes held at once are bounded in total, not per body"""
        # an id lookup of six list requests, each answered with a page of one
        # 5 MiB document (page 1 of every request is the fault), 30 MiB in all
        ids = ["doc_%05d" % i for i in range(5999)] + ["huge-5"]
        sql = "SELECT count(*) FROM mixpeek_documents('faultpage-1-huge-5', %s)"
        c = mx.connect()
        mx.query(c, "SET mixpeek.namespace = 'default'; SET mixpeek.max_response_bytes = '12MB'; "
                    "SET mixpeek.max_concurrency = 6")
        err = mx.expect_error(c, sql, (ids,),
                              "54000", r"^Mixpeek responses held at once exceed mixpeek\.max_response_bytes$")
        if err is not None:
            mx.check(err.hint.startswith("Lower mixpeek.max_concurrency"), "hint", err.hint)
        mx.query(c, "SET mixpeek.max_concurrency = 1")
        mx.check_eq(mx.scalar(c, sql, (ids,)), 1,
                    "one at a time, each under the limit: the document, once, for the request of its id")
        mx.expect_error(c, "SELECT mixpeek_document('col_faults', 'huge-13')", None, "HV00A",
                              r"^Mixpeek response is larger than mixpeek\.max_response_bytes$")
        c.close()

    def test_03_cursor_cycle(self):
        """a cursor cycle A -> B -> A ends the scan with an error"""
        def cycle(method, path, query, headers, body):
            if not path.endswith("/documents/list"):
                return None
            cursor = (json.loads(body or "{}") or {}).get("cursor") or query.get("cursor")
            nxt = {None: "A", "A": "B", "B": "A"}[cursor]
            return 200, {}, {"results": [{"document_id": "d" + (cursor or "0"), "collection_id": "c"}],
                             "pagination": {"next_cursor": nxt, "has_more": True}}

        with capture.CaptureServer(handler=cycle) as cap:
            mx.query(su, "DROP SERVER IF EXISTS mx_wire CASCADE")
            mx.query(su, "CREATE SERVER mx_wire FOREIGN DATA WRAPPER mixpeek_fdw "
                         "OPTIONS (base_url %s, namespace 'default')", (cap.url,))
            mx.query(su, "CREATE USER MAPPING FOR CURRENT_USER SERVER mx_wire OPTIONS (api_key 'sk_test_alpha')")
            mx.query(su, "CREATE FOREIGN TABLE mx_wire_t (document_id text) SERVER mx_wire "
                         "OPTIONS (collection 'c')")
            c = mx.connect()
            mx.query(c, "SET statement_timeout = '20s'")
            err = mx.expect_error(c, "SELECT count(*) FROM mx_wire_t", None, "HV00A",
                                  r"^unexpected response from Mixpeek$")
            if err is not None:
                mx.check_eq(err.detail, "The next cursor was already followed in this scan.", "detail")
                mx.check(err.context.startswith("Mixpeek request POST /v1/collections/c/documents/list"),
                         "context: the request", err.context)
            cursors = [(r["json"] or {}).get("cursor") for r in cap.requests()]
            mx.check_eq((len(cursors), cursors[:6]), (3, [None, "A", "B"]),
                        "cursors sent: none, A, B, then the error")
            c.close()
            mx.query(su, "DROP SERVER mx_wire CASCADE")

    def test_04_wait_event(self):
        """a backend waiting on Mixpeek shows a wait event in pg_stat_activity"""
        c = mx.connect()
        mx.query(c, "SET mixpeek.namespace = 'default'")
        busy = mx.pid(c)
        done = []
        t = mx.threading.Thread(target=lambda: done.append(
            mx.scalar(c, "SELECT mixpeek_document('col_faults', 'stall-1500') ->> 'ok'")))
        t.start()
        samples = []
        # for as long as the statement runs (the stall is 1.5 s), not for a
        # fixed time that a slow start could leave without a sample
        deadline = time.monotonic() + 60
        while t.is_alive() and time.monotonic() < deadline:
            samples += mx.query(su, "SELECT wait_event_type, wait_event FROM pg_stat_activity "
                                    "WHERE pid = %s AND state = 'active'", (busy,))
            time.sleep(0.05)
        t.join(10)
        mx.check_eq(done, ["true"], "the stalled request's document")
        want = ("Extension", "MixpeekRequest" if int(mx.scalar(su, "SHOW server_version_num")) >= 170000
                else "Extension")
        # between two waits of 25 ms the backend runs for a moment: (None, None)
        waiting = sum(1 for x in samples if x == want)
        mx.check(set(samples) <= {want, (None, None)} and waiting >= 0.8 * len(samples) > 0,
                 "samples of the waiting backend: %r in at least 80%%" % (want,), samples)
        c.close()


if __name__ == "__main__":
    mx.main('test_wire')
