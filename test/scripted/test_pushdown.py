"""Pushdown levels and filters the API refuses.

A capture listener plays an API with strict rules: it answers 400 or 422
to the filters or sorts a rule names, and otherwise sends every document
(a superset: the FDW checks every condition locally).  Checked:

- what each level sends: safe leaves out what strict rules refuse or
  narrow (string ranges, starts_with, is_null true, float matches, sorts on
  fields without the "indexed" option), all sends it;
- a refusal of the first page is retried once without the part it names
  (400 envelope with error.details.field/operator, 422 FastAPI detail[]
  naming the field), or, when it names none, without every condition above
  safe and the sort; a NOTICE names what was left out, the rows equal those
  with pushdown off, EXPLAIN ANALYZE shows the retry, and EXPLAIN VERBOSE
  what was planned;
- a sort left out is done locally: the rows keep the ORDER BY;
- never a second retry, never a retry once a page was returned: the
  refusal is then the ERROR (22023), with the API's details in DETAIL;
- a key echoed by the API in a refusal is masked in the NOTICE; the
  refusal of a host outside the allow-list is not quoted at all (and so
  names nothing);
- inside a hash join, a rescanned nested loop and LATERAL: one retry per
  scan, exact rows.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402
import capture  # noqa: E402

KEY = "sk_test_alpha"
DOCS = capture.generated_documents(20, "col_capture")
for _i, _d in enumerate(DOCS):
    if _i % 5 == 0:
        _d["category"] = None          # an explicit null
    elif _i % 7 == 0:
        del _d["category"]             # a missing field
    _d["score"] = _i / 4.0


def leaves(f):
    """(field, operator) of every comparison in a filters object."""
    if isinstance(f, dict):
        if "field" in f:
            yield f["field"], f.get("operator", "eq")
        for k in ("AND", "OR", "NOT"):
            for x in f.get(k) or []:
                yield from leaves(x)


class StrictApi:
    """A handler: rules(body) -> None or (status, reply); otherwise every
    document, sorted when asked, paged by the listener."""

    def __init__(self, rules=None, later_page=None):
        self.rules = rules or (lambda b, headers: None)
        self.later_page = later_page
        self.cap = None

    def __call__(self, method, path, query, headers, body):
        if method != "POST" or not path.endswith("/documents/list"):
            return None
        b = json.loads(body or "{}")
        if self.later_page and (b.get("cursor") or query.get("cursor")):
            return self.later_page
        answer = self.rules(b, headers)
        if answer is not None:
            return answer[0], None, answer[1]
        b.pop("filters", None)
        return self.cap._list("col_capture", query, b)


def rejecting(field, operator, status=400):
    """A rule refusing a comparison on field with operator."""
    def rule(b, headers):
        if (field, operator) in set(leaves(b.get("filters"))):
            return status, capture.envelope(status, "Operator %s is not supported on this field" % operator,
                                            "BadRequestError", {"field": field, "operator": operator})
        return None
    return rule


def setUpModule():
    global su
    su = mx.fdw_superuser()


class Pushdown(mx.TestCase):

    def listener(self, api, indexed_title=False, host="127.0.0.1"):
        cap = capture.CaptureServer(documents=DOCS, handler=api, page_size=4, host=host).start()
        api.cap = cap
        self.addCleanup(cap.stop)
        mx.query(su, "DROP SERVER IF EXISTS mx_pd CASCADE")
        mx.query(su, "CREATE SERVER mx_pd FOREIGN DATA WRAPPER mixpeek_fdw "
                     "OPTIONS (base_url %s, namespace 'default')", (cap.url,))
        mx.query(su, "CREATE USER MAPPING FOR CURRENT_USER SERVER mx_pd OPTIONS (api_key %s)", (KEY,))
        mx.query(su, "CREATE FOREIGN TABLE mx_pd_t (document_id text OPTIONS (indexed 'true') COLLATE \"C\", "
                     "category text COLLATE \"C\", word_count int, score double precision, "
                     "title text OPTIONS (field 'metadata.title'%s) COLLATE \"C\") "
                     "SERVER mx_pd OPTIONS (collection 'col_capture', page_size '4')"
                     % (", indexed 'true'" if indexed_title else ""))
        self.addCleanup(lambda: mx.query(su, "DROP SERVER IF EXISTS mx_pd CASCADE"))
        c = mx.connect()
        self.addCleanup(c.close)
        mx.query(c, "SET statement_timeout = '30s'")
        return cap, c

    def rows(self, c, sql, level):
        mx.query(c, "SET mixpeek.pushdown = %s", (level,))
        del c.notices[:]
        return mx.query(c, sql)

    def differential(self, c, sql, level):
        got = self.rows(c, sql, level)
        notices = list(c.notices)
        want = self.rows(c, sql, "off")
        mx.check_eq(got, want, "%s at %s: the rows of pushdown off" % (sql, level))
        return notices

    def lists(self, cap):
        return [r["json"] or {} for r in cap.requests() if r["path"].endswith("/documents/list")]

    def refused(self, c, cap, level, sql, regex, nrequests, what):
        """sql at level ends in the API's 22023 after nrequests list requests."""
        mx.query(c, "SET mixpeek.pushdown = %s", (level,))
        cap.clear()
        err = mx.expect_error(c, sql, None, "22023", regex)
        mx.check_eq(len(self.lists(cap)), nrequests, what)
        return err

    def test_01_levels_on_the_wire(self):
        """safe sends only what strict rules keep exact; all sends more"""
        cap, c = self.listener(StrictApi())
        cases = [
            # clause, leaves sent at safe, leaves sent at all
            ("category = 'news'", [("category", "eq")], [("category", "eq")]),
            ("category <> 'news'", [("category", "ne")], [("category", "ne")]),
            ("category IN ('news', 'tech')", [("category", "in")], [("category", "in")]),
            ("category IS NOT NULL", [("category", "is_null")], [("category", "is_null")]),
            ("category IS NULL", [], [("category", "is_null")]),
            ("category > 'p'", [], [("category", "gt")]),
            ("title LIKE 'Document 1%'", [], [("metadata.title", "starts_with")]),
            ("word_count >= 50", [("word_count", "gte")], [("word_count", "gte")]),
            ("word_count <> 50", [("word_count", "ne")], [("word_count", "ne")]),
            ("score = 1.25", [("score", "gt"), ("score", "lt")], [("score", "gt"), ("score", "lt")]),
            ("score <> 1.25", [], [("score", "ne")]),
            ("category = 'news' OR title LIKE 'D%'", [], [("category", "eq"), ("metadata.title", "starts_with")]),
            ("category = 'news' AND category > 'a'", [("category", "eq")], [("category", "eq"), ("category", "gt")]),
        ]
        for clause, at_safe, at_all in cases:
            for level, want in (("safe", at_safe), ("all", at_all)):
                cap.clear()
                self.differential(c, "SELECT document_id FROM mx_pd_t WHERE %s ORDER BY 1" % clause, level)
                sent = self.lists(cap)
                mx.check_eq(sorted(leaves(sent[0].get("filters"))) if sent else None, sorted(want),
                            "%s at %s: comparisons sent" % (clause, level))
        # the sort: document_id is indexed, title not
        for level, want in (("safe", None), ("all", {"field": "metadata.title", "direction": "asc"})):
            cap.clear()
            self.differential(c, "SELECT title FROM mx_pd_t ORDER BY title LIMIT 3", level)
            mx.check_eq(self.lists(cap)[0].get("sort"), want, "ORDER BY title at %s: sort sent" % level)
        cap.clear()
        self.differential(c, "SELECT document_id FROM mx_pd_t ORDER BY document_id DESC LIMIT 3", "safe")
        mx.check_eq(self.lists(cap)[0].get("sort"), {"field": "document_id", "direction": "desc"},
                    "ORDER BY an indexed column at safe: sort sent")

    def test_02_refused_filter_named(self):
        """a 400 naming the field and operator: retried once without that condition"""
        cap, c = self.listener(StrictApi(rejecting("metadata.title", "starts_with")))
        sql = ("SELECT document_id, title FROM mx_pd_t "
               "WHERE title LIKE 'Document 1%' AND word_count >= 20 ORDER BY 1")
        cap.clear()
        notices = self.differential(c, sql, "all")
        sent = self.lists(cap)[:2]
        mx.check_eq([sorted(leaves(b.get("filters"))) for b in sent],
                     [[("metadata.title", "starts_with"), ("word_count", "gte")], [("word_count", "gte")]],
                     "the refused request, then the same without the LIKE")
        text = "".join(notices)
        mx.check('NOTICE:  Mixpeek refused the request with HTTP 400, retrying without "title" starts_with'
                 in text, "NOTICE names the column and operator", notices)
        mx.check("DETAIL:  Mixpeek's message: \"Operator starts_with is not supported on this field\". "
                 "Mixpeek's details: field: metadata.title; operator: starts_with." in text, "NOTICE's detail: the API's words",
                 notices)
        mx.check('HINT:  Set mixpeek.pushdown to "safe"' in text, "hint: the safe level", notices)
        # EXPLAIN: VERBOSE shows the plan, ANALYZE the retry
        mx.query(c, "SET mixpeek.pushdown = 'all'")
        plan = "\n".join(r[0] for r in mx.query(c, "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF) " + sql))
        mx.check('"operator":"starts_with"' in plan, "EXPLAIN VERBOSE: the planned filter", plan)
        mx.check('Remote Retried Without: "title" starts_with' in plan, "EXPLAIN ANALYZE: the retry", plan)
        # a prepared statement retries on each execution, and stays exact
        mx.query(c, "PREPARE pd_like(text) AS SELECT count(*) FROM mx_pd_t WHERE title LIKE $1")
        for _ in range(6):
            mx.check_eq(mx.scalar(c, "EXECUTE pd_like('Document 1%')"), 11, "prepared LIKE: rows")
        mx.query(c, "DEALLOCATE pd_like")

    def test_03_refused_422_fastapi(self):
        """a 422 FastAPI detail[] whose message names the field"""
        def rule(b, headers):
            if ("category", "gt") in set(leaves(b.get("filters"))):
                return 422, {"detail": [{"type": "value_error", "loc": ["body", "filters", "AND", 0],
                                         "msg": "range on keyword field category.", "input": None}]}
            return None
        cap, c = self.listener(StrictApi(rule))
        notices = self.differential(c, "SELECT document_id FROM mx_pd_t WHERE category > 'p' "
                                       "AND word_count < 150 ORDER BY 1", "all")
        text = "".join(notices)
        mx.check('retrying without "category" gt' in text, "NOTICE names the condition", notices)
        mx.check("body.filters.AND.0: range on keyword field category." in text,
                 "NOTICE's detail: the 422 entry's location and message", notices)
        mx.check_eq([sorted(leaves(b.get("filters"))) for b in self.lists(cap)[1:2]],
                    [[("word_count", "lt")]], "the retry keeps the other condition")

    def test_04_refusal_naming_nothing(self):
        """a refusal that names nothing: every condition above safe and the sort left out"""
        def rule(b, headers):
            if any(op in ("gt", "starts_with") for _, op in leaves(b.get("filters"))) or b.get("sort"):
                return 400, capture.envelope(400, "Invalid request", "BadRequestError")
            return None
        cap, c = self.listener(StrictApi(rule))
        sql = ("SELECT document_id, title FROM mx_pd_t WHERE category = 'news' AND title > 'Document 1' "
               "ORDER BY title DESC LIMIT 3")
        cap.clear()
        notices = self.differential(c, sql, "all")
        sent = self.lists(cap)[:2]
        mx.check_eq([(sorted(leaves(b.get("filters"))), b.get("sort")) for b in sent],
                    [([("category", "eq"), ("metadata.title", "gt")], {"field": "metadata.title", "direction": "desc"}),
                     ([("category", "eq")], None)],
                    "the refused request, then only the safe condition, no sort")
        mx.check_eq([r["query"].get("limit") for r in cap.requests()][:2], ["3", "4"],
                    "the retry asks for whole pages")
        mx.check('retrying without "title" gt, the sort on "title"' in "".join(notices),
                 "NOTICE names the condition and the sort", notices)
        # sorted here: the whole result in order, through a cursor too
        mx.query(c, "SET mixpeek.pushdown = 'all'")
        got = mx.query(c, "SELECT title FROM mx_pd_t ORDER BY title")
        want = sorted(((d["metadata"]["title"],) for d in DOCS), key=lambda r: r[0].encode())
        mx.check_eq(got, want, "ORDER BY title: every row, in order, after the sort was refused")
        c2 = mx.connect(autocommit=False)
        mx.query(c2, "SET mixpeek.pushdown = 'all'")
        with c2.cursor("pd_cur") as cur:
            cur.execute("SELECT title FROM mx_pd_t WHERE word_count >= 10 ORDER BY title DESC")
            first = cur.fetchmany(5)
            rest = cur.fetchall()
        c2.rollback()
        c2.close()
        mx.check_eq(first + rest, [r for r in reversed(want) if r != ("Document 0",)],
                    "a cursor over a scan sorted here")

    def test_05_no_second_retry(self):
        """the retry refused too: the ERROR, with the API's details"""
        def rule(b, headers):
            if b.get("filters"):
                return 400, capture.envelope(400, "Filters are disabled", "BadRequestError",
                                             {"validation_errors": [{"loc": ["body", "filters"],
                                                                     "msg": "not allowed"}]})
            return None
        cap, c = self.listener(StrictApi(rule))
        err = self.refused(c, cap, "all", "SELECT count(*) FROM mx_pd_t WHERE category = 'news' AND category > 'a'",
                           r"^Mixpeek returned HTTP 400 \(BadRequestError: Filters are disabled\)$",
                           2, "two requests: the first and one retry")
        if err is not None:
            mx.check_eq(err.detail, "Mixpeek's details: body.filters: not allowed.", "DETAIL: the details")
        # at safe, nothing above safe to leave out: the ERROR at once
        self.refused(c, cap, "safe", "SELECT count(*) FROM mx_pd_t WHERE category = 'news'",
                     r"^Mixpeek returned HTTP 400", 1, "no retry without anything to leave out")

    def test_06_no_retry_after_rows(self):
        """a refusal of a later page is the ERROR: rows were returned"""
        api = StrictApi(later_page=(400, None, capture.envelope(400, "Invalid filter", "BadRequestError",
                                                                {"field": "category", "operator": "gt"})))
        cap, c = self.listener(api)
        self.refused(c, cap, "all", "SELECT count(*) FROM mx_pd_t WHERE category > 'a'",
                     r"^Mixpeek returned HTTP 400 \(BadRequestError: Invalid filter\)$",
                     2, "the first page and the refused second: no retry")

    def test_07_key_echoed_in_refusal(self):
        """the key echoed in a refusal is masked in the NOTICE"""
        def rule(b, headers):
            if ("category", "gt") in set(leaves(b.get("filters"))):
                return 400, capture.envelope(400, "bad filter from " + headers.get("authorization", ""),
                                             "BadRequestError",
                                             {"field": "category", "operator": "gt",
                                              "echo": headers.get("authorization", "")})
            return None
        cap, c = self.listener(StrictApi(rule))
        notices = self.differential(c, "SELECT document_id FROM mx_pd_t WHERE category > 'p' ORDER BY 1", "all")
        mx.check(any("retrying without" in n for n in notices), "the retry's NOTICE", notices)
        mx.check_no_keys("".join(notices), "NOTICE", [KEY])
        mx.check("[redacted]" in "".join(notices), "the key shows as [redacted]", notices)

    def test_08_retry_in_joins(self):
        """a refused scan inside joins and a rescanned nested loop: one retry, exact rows"""
        cap, c = self.listener(StrictApi(rejecting("metadata.title", "starts_with")))
        mx.query(c, "CREATE TEMP TABLE pd_local (k int)")
        mx.query(c, "INSERT INTO pd_local VALUES (10), (100), (150), (190)")
        for plan in ("", "SET enable_hashjoin = off; SET enable_mergejoin = off; "
                         "SET enable_material = off; "):
            mx.query(c, "RESET ALL; SET statement_timeout = '30s'; " + plan)
            sql = ("SELECT l.k, t.document_id FROM pd_local l JOIN mx_pd_t t ON t.word_count >= l.k "
                   "WHERE t.title LIKE 'Document 1%' ORDER BY 1, 2")
            cap.clear()
            notices = self.differential(c, sql, "all")
            retries = [n for n in notices if "retrying without" in n]
            mx.check_eq(len(retries), 1, "%s: one retry for the scan, however often rescanned"
                        % (plan or "default plan"))
            lateral = ("SELECT l.k, x.n FROM pd_local l, LATERAL (SELECT count(*) AS n FROM mx_pd_t t "
                       "WHERE t.title LIKE 'Document 1%' AND t.word_count >= l.k) x ORDER BY 1")
            self.differential(c, lateral, "all")

    def test_09_refusal_from_another_host(self):
        """a host outside the allow-list: its refusal is not quoted, and names nothing"""
        def rule(b, headers):
            if any(op == "gt" for _, op in leaves(b.get("filters"))):
                return 400, capture.envelope(400, "internal secret s3cr3t-token", "BadRequestError",
                                             {"field": "category", "operator": "gt", "hint": "s3cr3t-token"})
            return None
        cap, c = self.listener(StrictApi(rule), host="127.0.0.2")
        sql = ("SELECT document_id FROM mx_pd_t WHERE category > 'p' AND word_count >= 20 "
               "AND title LIKE 'Document%' ORDER BY 1")
        cap.clear()
        notices = self.differential(c, sql, "all")
        text = "".join(notices)
        mx.check("retrying without" in text and "DETAIL" not in text and "s3cr3t" not in text,
                 "the NOTICE quotes nothing of the reply", notices)
        sent = self.lists(cap)[:2]
        mx.check_eq([sorted(leaves(b.get("filters"))) for b in sent],
                    [[("category", "gt"), ("metadata.title", "starts_with"), ("word_count", "gte")],
                     [("word_count", "gte")]],
                    "a reply that may not be read names nothing: every condition above safe left out")


if __name__ == "__main__":
    mx.main('test_pushdown')
