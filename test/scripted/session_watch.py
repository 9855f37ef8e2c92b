"""Did a backend crash while a test ran?  (test/run-tests.sh runs it around
every scripted test file.)

A backend that dies of a signal makes the postmaster end every other
session and reinitialize; its pid and pg_postmaster_start_time() stay the
same, so only a session opened before the test and still alive after it
proves that no crash happened.  This script opens that session, prints
"ready" (with its pid and the server log it watches), then waits for a line
on stdin.  On that line (or at EOF) it runs SELECT 1 in the same session and
reads what the server log gained meanwhile; it exits 0 when the session is
alive and the log has no "terminated by signal", else it prints why and
exits 1.

The server log: pg_current_logfile(), else the postmaster's stderr
(/proc/<pid>/fd/2, readable by root or the cluster's owner), else
MX_CLUSTER_LOG (test/cluster.sh); without one only the session is checked.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402

import psycopg2  # noqa: E402


def log_path(conn):
    path = mx.scalar(conn, "SELECT pg_current_logfile()")
    if path:
        if not path.startswith("/"):
            path = os.path.join(mx.scalar(conn, "SHOW data_directory"), path)
        return path if os.access(path, os.R_OK) else None
    try:
        path = os.readlink("/proc/%d/fd/2" % mx.pid(conn))
        if path.startswith("/") and os.path.isfile(path) and os.access(path, os.R_OK):
            return path
    except OSError:
        pass
    path = os.environ.get("MX_CLUSTER_LOG")
    return path if path and os.access(path, os.R_OK) else None


def main():
    conn = mx.connect(application_name="mx_session_watch")
    backend = mx.pid(conn)
    path = log_path(conn)
    start = os.path.getsize(path) if path else 0
    print("ready: session pid %d, server log %s" % (backend, path or "(not readable: session check only)"),
          flush=True)
    sys.stdin.readline()

    problems = []
    try:
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = '10s'; SELECT 1")
            if cur.fetchone() != (1,):
                problems.append("SELECT 1 in the watching session did not return 1")
    except psycopg2.Error as exc:
        problems.append("the session opened before the test (pid %d) is gone: %s -- a backend crashed "
                        "and the postmaster ended every session"
                        % (backend, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__))
    if path:
        with open(path, "rb") as f:
            f.seek(start if os.path.getsize(path) >= start else 0)
            text = f.read().decode("utf-8", "replace")
        crashes = [l.strip() for l in text.splitlines() if re.search(r"terminated by signal", l)]
        if crashes:
            problems.append("the server log says a process was terminated by a signal:")
            problems += ["    " + c for c in crashes[:5]]
    if problems:
        print("\n".join(problems), flush=True)
        sys.exit(1)
    print("ok: the session is alive%s" % (", no crash in the server log" if path else ""), flush=True)
    conn.close()


if __name__ == "__main__":
    main()
