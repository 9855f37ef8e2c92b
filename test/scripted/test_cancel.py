"""Cancel and time-outs: a request stops at once, not after what it waits for.

pg_cancel_backend() from a second connection, statement_timeout and
mixpeek.timeout_ms, each during (a) a stalled response, (b) the back-off
before a retry (429 with Retry-After: 30, many retries allowed) and (c) the
middle of a mixpeek_documents() lookup of 42,000 ids whose list requests
stall.  Measured: the time
from the cancel call, or from the deadline, to the error reaching the
client (a few ms; asserted below mx.PROMPT_MS, a tenth of the 30 s waited
for, so that a starved machine's scheduling delays do not fail it).  The
cancel is sent once the mock has seen what it interrupts.  Then the same
backend serves a normal query again."""
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402

BOUND_MS = mx.PROMPT_MS
WAIT_S = 1.0          # how long the request runs before the cancel / deadline
# mixpeek.timeout_ms during the back-off fails at the 429, whose retry (30 s
# away) would come after the deadline: a deadline this far keeps a 429 that
# a slow machine delays from turning the case into a plain time-out
BACKOFF_DEADLINE_S = 10.0
REPEAT = 10 if mx.LONG else 3

STALL_MS = 30000
SITUATIONS = {
    "stall": ("SELECT mixpeek_document('col_faults', 'stall-%d')" % STALL_MS, []),
    "back-off": ("SELECT mixpeek_document('col_faults', 'status-429-retry-after-30')",
                 ["SET mixpeek.max_retries = 20", "SET mixpeek.timeout_ms = 120000"]),
    # 42 list requests of 1,000 ids, each stalled (page 1 of every list of
    # that collection is): eight in flight at once, the rest not sent yet
    "mid-batch": ("SELECT count(*) FROM mixpeek_documents('faultpage-1-stall-%d', "
                  "ARRAY(SELECT 'doc_' || lpad(i::text, 6, '0') FROM generate_series(0, 41999) i))"
                  % STALL_MS,
                  ["SET mixpeek.max_concurrency = 8"]),
}
MECHANISMS = {
    "pg_cancel_backend": ("57014", r"canceling statement due to user request", None),
    "statement_timeout": ("57014", r"canceling statement due to statement timeout", None),
    "mixpeek.timeout_ms": ("08006", r"^Mixpeek request timed out$",
                           r"(?m)^Mixpeek request (GET /v1/collections/col_faults/documents/\S+|"
                           r"POST /v1/collections/faultpage-1-stall-\d+/documents/list\?limit=1000&include_total=true)$"),
}
# mixpeek.timeout_ms limits the whole request, retries included.  A retry that
# could only start after the deadline is not waited for: the statement fails
# at once, before the deadline (a negative latency below), with the cause the
# server gave (429 -> 53400) and a detail saying why no retry was made.
BACKOFF_TIMEOUT = ("53400",
                   r"^Mixpeek returned HTTP 429 \(TooManyRequestsError: .+\)$",
                   r"(?m)^Mixpeek request GET /v1/collections/col_faults/documents/status-429-retry-after-30$",
                   r"^No retry: the next one, due in 30000 ms, would come after mixpeek\.timeout_ms runs out\.$")


def healthy(c, what):
    mx.run_error(c, "RESET ALL")
    try:
        doc = mx.scalar(c, "SELECT mixpeek_document('col_articles', 'doc_flat_01')")
        n = mx.scalar(c, "SELECT count(*) FROM mixpeek_documents('col_articles', "
                         "ARRAY['doc_flat_01', 'doc_flat_02', 'doc_nested_01', 'missing'])")
    except Exception as exc:
        mx.check(False, "%s: the backend no longer serves normal queries: %s" % (what, exc))
        return
    mx.check(doc is not None and doc.get("document_id") == "doc_flat_01" and doc == REFERENCE,
             "%s: then mixpeek_document returns doc_flat_01 unchanged" % what, doc)
    mx.check_eq(n, 3, "%s: then mixpeek_documents returns the 3 existing documents" % what)


def one(mech, situation, rep):
    sql, settings = SITUATIONS[situation]
    want_state, want_rx, want_ctx = MECHANISMS[mech]
    want_detail = None
    wait_s = WAIT_S
    if mech == "mixpeek.timeout_ms" and situation == "back-off":
        want_state, want_rx, want_ctx, want_detail = BACKOFF_TIMEOUT
        wait_s = BACKOFF_DEADLINE_S
    what = "%s during %s (#%d)" % (mech, situation, rep + 1)
    # the last case's 429 (Retry-After: 30) would pause the key for this one
    mx.query(control, "SELECT mixpeek_budget_reset()")
    c = mx.connect()
    for s in settings:
        mx.query(c, s)
    if mech == "statement_timeout":
        mx.query(c, "SET statement_timeout = %d" % (wait_s * 1000))
    elif mech == "mixpeek.timeout_ms":
        mx.query(c, "SET mixpeek.timeout_ms = %d" % (wait_s * 1000))
    since = mx.mock_last_seq()
    err, latency_ms = mx.run_interrupted(c, sql, mech, wait_s, control, what, join_s=120,
                                         ready=lambda: reached(situation, since))
    if latency_ms is None:
        return None
    if mx.check(err is not None, "%s: expected ERROR %s" % (what, want_state)):
        mx.check_eq(err.sqlstate, want_state, "%s: SQLSTATE (%s)" % (what, err.message))
        mx.check(re.search(want_rx, err.message), "%s: message /%s/" % (what, want_rx), err.message)
        if want_ctx:
            mx.check(re.search(want_ctx, err.context), "%s: context /%s/" % (what, want_ctx), err.context)
        mx.check_no_keys(err.all_text(), what + ": error text")
        if want_detail:
            mx.check(re.search(want_detail, err.detail), "%s: detail /%s/" % (what, want_detail), err.detail)
    log = mx.mock_requests(since=since)
    # a cancel waits until the mock has seen the whole situation; a deadline
    # may come before a starved machine got that far, never after more
    if situation == "back-off":
        # the 429 came at once; the retry was 30 s away when the statement ended
        if mech == "statement_timeout":
            mx.check(len(log) <= 1, "%s: at most one request, no retry" % what, len(log))
        else:
            mx.check_eq(len(log), 1, "%s: one request, no retry yet" % what)
    elif situation == "mid-batch":
        stalled = [r for r in log if "/faultpage-1-stall-" in r["path"]]
        if mech == "pg_cancel_backend":
            mx.check_eq(len(stalled), 8, "%s: eight stalled requests in flight (max_concurrency)" % what)
        else:
            mx.check(len(stalled) <= 8, "%s: at most eight stalled requests in flight "
                     "(max_concurrency)" % what, len(stalled))
    mx.check(latency_ms < BOUND_MS, "%s: stopped %.1f ms after the %s, bound %d ms"
             % (what, latency_ms, "cancel" if mech == "pg_cancel_backend" else "deadline", BOUND_MS),
             latency_ms)
    # the 429's Retry-After (30 s) paused the key: the normal query would
    # wait that long for it
    mx.query(control, "SELECT mixpeek_budget_reset()")
    healthy(c, what)
    c.close()
    return latency_ms


def reached(situation, since):
    """Whether the mock has seen what the situation interrupts: the stalled
    request, the 429 answered, or max_concurrency (8) stalled list requests."""
    log = mx.mock_requests(since=since)
    if situation == "stall":
        return len(log) >= 1
    if situation == "back-off":
        return any(r["status"] == 429 and r["answered_ms"] is not None for r in log)
    return len([r for r in log if "/faultpage-1-stall-" in r["path"]]) >= 8


table = {}


def setUpModule():
    global REFERENCE, control
    setup = mx.setup_extension()
    setup.close()
    control = mx.connect()
    mx.mock_reset()
    REFERENCE = mx.scalar(control, "SELECT mixpeek_document('col_articles', 'doc_flat_01')")


def tearDownModule():
    mx.log("")
    mx.log("cancel latency, ms from the cancel call / the deadline to the error at the client "
           "(%d runs each; negative: stopped before the deadline)" % REPEAT)
    mx.log("  %-20s %-10s %8s %8s %8s" % ("mechanism", "during", "min", "median", "max"))
    for (mech, situation), v in table.items():
        mx.log("  %-20s %-10s %8.1f %8.1f %8.1f" % (mech, situation, min(v), statistics.median(v), max(v)))
    mx.mock_reset()


class Cancel(mx.TestCase):

    def situation(self, situation):
        for mech in MECHANISMS:
            for rep in range(REPEAT):
                with mx.case("%s during %s (#%d)" % (mech, situation, rep + 1)):
                    ms = one(mech, situation, rep)
                    if ms is not None:
                        table.setdefault((mech, situation), []).append(ms)
                        mx.log("  %.1f ms" % ms)

    def test_01_stall(self):
        """each mechanism during a stalled response"""
        self.situation("stall")

    def test_02_back_off(self):
        """each mechanism during the back-off before a retry"""
        self.situation("back-off")

    def test_03_mid_batch(self):
        """each mechanism in the middle of a batch"""
        self.situation("mid-batch")


if __name__ == "__main__":
    mx.main('test_cancel')
