"""The mock as the contract: Mixpeek's published OpenAPI (v0.81) and the
stricter filter semantics of the real backend.

- a request that breaks the OpenAPI is answered as FastAPI would (422,
  {"detail": [...]}) and recorded at /_mock/violations; what the API would
  silently drop (a body cursor on collections/list, an unknown query
  parameter) is recorded without a 422; so are a missing X-Namespace and
  a path no operation has;
- an answer of the mock that breaks the response schema is recorded (made
  wrong on purpose with the corrupt_responses setting), also when it reaches
  the extension;
- a violation left behind fails test/run-tests.sh's check after the file;
- what the extension sends (documents, lists with every body member,
  IMPORT FOREIGN SCHEMA's paging, lineage, object documents) breaks nothing;
- strict semantics: is_null matches explicit nulls only, range operators on
  strings and exact matches on floats are 400s in the API's envelope naming
  field and operator, sorting needs an indexed field, a list query ends at
  result_cap results; lenient keeps the old rules.

Each case reads and clears the violations it provokes, so the runner's
check after the file sees none.
"""
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402

HEADERS = {"Authorization": "Bearer sk_test_alpha", "X-Namespace": "default",
           "Content-Type": "application/json"}
LIST = "/v1/collections/col_articles/documents/list"


def api(method, path, body=None, headers=None):
    """(status, parsed body) of a request straight to the mock's API."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(mx.MOCK_URL + path, data=data, method=method,
                                 headers=HEADERS if headers is None else headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def take_violations():
    """The violations recorded since the last call, cleared."""
    return mx._mock("DELETE", "/violations")["violations"]


def problems(violations):
    return [(v["direction"], p["loc"]) for v in violations for p in v["problems"]]


def strict(**kw):
    mx.mock_config(semantics="strict", **kw)


def setUpModule():
    global su
    take_violations()
    su = mx.fdw_superuser()
    mx.query(su, "SET mixpeek.namespace = 'default'")


def tearDownModule():
    mx.mock_reset()
    take_violations()


class Requests(mx.TestCase):
    """What the OpenAPI says of requests, checked and recorded."""

    def setUp(self):
        super().setUp()
        take_violations()

    def test_01_body_cursor_on_collections_list(self):
        status, body = api("POST", "/v1/collections/list?limit=1", {"cursor": "abc"})
        mx.check_eq(status, 200, "a body cursor is dropped, not refused (pydantic ignores it)")
        mx.check_eq(len(body["results"]), 1, "the first page all the same")
        v = take_violations()
        mx.check_eq(problems(v), [("request", ["body", "cursor"])], "the unknown body member is recorded")
        mx.check_eq(v[0]["operation"], "POST /v1/collections/list", "the operation is named")

    def test_02_limit_out_of_range_is_fastapi_422(self):
        status, body = api("POST", LIST + "?limit=0", {})
        mx.check_eq(status, 422, "limit 0")
        mx.check_eq(body, {"detail": [{"type": "greater_than_equal", "loc": ["query", "limit"],
                                       "msg": "Input should be greater than or equal to 1",
                                       "input": "0", "ctx": {"ge": 1}}]}, "FastAPI's body")
        status, body = api("POST", LIST + "?limit=ten", {})
        mx.check_eq((status, body["detail"][0]["type"]), (422, "int_parsing"), "limit not a number")
        mx.check_eq(problems(take_violations()), [("request", ["query", "limit"])] * 2, "both recorded")

    def test_03_offset_over_10000(self):
        status, body = api("POST", LIST + "?limit=10&offset=10001", {})
        mx.check_eq(status, 422, "offset 10001")
        mx.check_eq(body["detail"], [{"type": "less_than_equal", "loc": ["query", "offset"],
                                      "msg": "Input should be less than or equal to 10000",
                                      "input": "10001", "ctx": {"le": 10000}}], "the detail")
        mx.check_eq(problems(take_violations()), [("request", ["query", "offset"])], "recorded")

    def test_04_body_schema(self):
        status, body = api("POST", LIST + "?limit=1", {"sort": [{"field": "word_count"}], "select": "title"})
        mx.check_eq(status, 422, "sort as a list, select as a string")
        mx.check_eq(sorted((d["type"], tuple(d["loc"])) for d in body["detail"]),
                    [("list_type", ("body", "select")), ("model_attributes_type", ("body", "sort"))],
                    "one item per bad member")
        status, body = api("POST", LIST + "?limit=1", {"sort": {"field": "word_count", "direction": "up"}})
        mx.check_eq(body["detail"], [{"type": "enum", "loc": ["body", "sort", "direction"],
                                      "msg": "Input should be 'asc' or 'desc'", "input": "up",
                                      "ctx": {"expected": "'asc' or 'desc'"}}], "a bad direction")
        status, body = api("POST", LIST + "?limit=1", b"{not json")
        mx.check_eq((status, body["detail"][0]["type"], body["detail"][0]["loc"]),
                    (422, "json_invalid", ["body", 1]), "a body that is not JSON")
        h = dict(HEADERS, **{"Content-Type": "text/plain"})
        status, body = api("POST", LIST + "?limit=1", {}, headers=h)
        mx.check_eq((status, body["detail"][0]["type"], body["detail"][0]["loc"]),
                    (422, "model_attributes_type", ["body"]), "a JSON body sent as text/plain is not read as JSON")
        status, body = api("POST", LIST + "?limit=1", {"return_url": "maybe"})
        mx.check_eq((status, body["detail"]), (422, [{
            "type": "bool_parsing", "loc": ["body", "return_url"],
            "msg": "Input should be a valid boolean, unable to interpret input", "input": "maybe"}]),
            "a flag pydantic cannot read")
        mx.check_eq(len(take_violations()), 5, "all five recorded")
        status, _ = api("POST", LIST + "?limit=1", {"return_vectors": "yes"})
        mx.check_eq((status, take_violations()), (200, []), "what pydantic's lax mode reads is no violation")

    def test_05_unknown_query_parameter_and_body_member(self):
        status, _ = api("POST", LIST + "?limit=1&page_token=x", {"limt": 5})
        mx.check_eq(status, 200, "answered: the API ignores both")
        mx.check_eq(sorted(problems(take_violations())),
                    [("request", ["body", "limt"]), ("request", ["query", "page_token"])], "both recorded")

    def test_06_headers_and_paths(self):
        h = dict(HEADERS)
        del h["X-Namespace"]
        status, body = api("GET", "/v1/collections/col_articles/documents/doc_flat_01", headers=h)
        mx.check_eq((status, body["error"]["type"]), (400, "BadRequestError"), "no namespace")
        mx.check_eq(problems(take_violations()), [("request", ["header", "X-Namespace"])], "recorded")
        status, _ = api("GET", "/v1/collections/col_articles/documents")
        mx.check_eq(status, 404, "a path of no operation")
        status, _ = api("PUT", "/v1/collections/list")
        v = take_violations()
        mx.check_eq(problems(v), [("request", ["path"])] * 2, "both recorded")
        mx.check("PUT is not an operation" in v[1]["problems"][0]["msg"], "the method is named", v)

    def test_07_compat_extras_are_not_violations(self):
        status, _ = api("GET", "/v1/collections/col_articles/documents/doc_flat_01"
                        "?return_url=true&return_presigned_urls=true")
        mx.check_eq(status, 200, "GET with both URL flags")
        status, _ = api("POST", LIST + "?limit=2", {"limit": 2, "return_url": True, "return_presigned_urls": True})
        mx.check_eq(status, 200, "list with the limit in the body and both URL flags")
        mx.check_eq(take_violations(), [], "the documented compatibility members are accepted")


class RunnerCheck(mx.TestCase):
    """test/run-tests.sh's check after each file: it fails on a violation
    left behind, prints it, and clears it."""

    def test_01_violation_left_fails_the_check(self):
        take_violations()
        script = os.path.join(mx.TOP, "test", "mock", "violations.py")
        api("POST", "/v1/collections/list?limit=1", {"cursor": "left-behind"})
        r = subprocess.run([sys.executable, script, "some_file.py"], capture_output=True, text=True, timeout=60)
        mx.check_eq(r.returncode, 1, "a violation fails the check")
        mx.check("FAILED: some_file.py: 1 contract violation" in r.stdout and '"cursor"' in r.stdout,
                 "it names the file and prints the violation", r.stdout)
        r = subprocess.run([sys.executable, script, "next_file.py"], capture_output=True, text=True, timeout=60)
        mx.check_eq((r.returncode, r.stdout), (0, ""), "cleared: the next file starts clean")


class Responses(mx.TestCase):
    """What the OpenAPI says of answers: a wrong one is caught."""

    def setUp(self):
        super().setUp()
        take_violations()

    def tearDown(self):
        mx.mock_config(corrupt_responses=False)
        take_violations()
        super().tearDown()

    def test_01_right_answers_pass(self):
        for method, path, body in [
                ("GET", "/v1/collections/col_articles/documents/doc_nested_01?return_presigned_urls=true&return_vectors=true", None),
                ("POST", LIST + "?limit=5", {"select": ["metadata.title"]}),
                ("POST", "/v1/collections/list?limit=2", {}),
                ("GET", "/v1/collections/col_big", None),
                ("GET", "/v1/collections/col_frames/documents/doc_frame_001/lineage", None),
                ("GET", "/v1/collections/col_articles/documents/no_such_doc", None)]:
            api(method, path, body)
        mx.check_eq(take_violations(), [], "documents, pages, collections, lineage and a 404 fit the schema")

    def test_02_corrupt_answer_seen_by_the_extension(self):
        mx.mock_config(corrupt_responses=True)
        doc = mx.scalar(su, "SELECT mixpeek_document('col_articles', 'doc_flat_01')")
        mx.check_eq(doc["document_id"], 0, "the extension got the broken document")
        v = take_violations()
        mx.check_eq(problems(v), [("response", ["response", "document_id"])], "the answer is caught")
        mx.check_eq((v[0]["status"], v[0]["operation"]),
                    (200, "GET /v1/collections/{collection_identifier}/documents/{document_id}"), "status and operation")
        status, _ = api("POST", LIST + "?limit=1", {})
        mx.check_eq(problems(take_violations()), [("response", ["response", "results"])], "a broken page too")


class ExtensionRequests(mx.TestCase):
    """The extension's own requests break nothing (the runner checks every
    file; this one says which requests were looked at)."""

    def test_01_every_kind_of_request(self):
        take_violations()
        mx.query(su, """
            DROP SERVER IF EXISTS mx_contract CASCADE;
            CREATE SERVER mx_contract FOREIGN DATA WRAPPER mixpeek_fdw;
            CREATE FOREIGN TABLE mx_contract_t (
                document_id text, word_count int, category text, presigned_url text,
                vector real[], title text OPTIONS (field 'metadata.title'), document jsonb)
              SERVER mx_contract OPTIONS (collection 'col_articles', page_size '3');
            CREATE SCHEMA IF NOT EXISTS mx_contract_import;
        """)
        seq = mx.mock_last_seq()
        mx.query(su, "SELECT mixpeek_document('col_articles', 'doc_flat_01', true, true)")
        mx.query(su, "SELECT * FROM mixpeek_documents('col_articles', ARRAY['doc_flat_01', 'doc_nested_02'])")
        rows = mx.query(su, "SELECT document_id, presigned_url, vector FROM mx_contract_t"
                            " WHERE category = 'tech' ORDER BY word_count DESC")
        mx.check(len(rows) > 0, "a filtered, sorted list scan returned rows", rows)
        mx.query(su, "SELECT count(*) FROM mx_contract_t")
        mx.query(su, "IMPORT FOREIGN SCHEMA mixpeek FROM SERVER mx_contract INTO mx_contract_import")
        mx.query(su, "SELECT * FROM mixpeek_lineage('col_frames', 'doc_frame_001')")
        kinds = {(r["method"], r["path"].split("/")[-1]) for r in mx.mock_requests(since=seq)}
        mx.check({("GET", "doc_flat_01"), ("POST", "list"), ("GET", "lineage")} <= kinds,
                 "documents, lists and lineage were requested", kinds)
        mx.check_eq(take_violations(), [], "none of them breaks the OpenAPI")
        mx.query(su, "DROP SCHEMA mx_contract_import CASCADE; DROP SERVER mx_contract CASCADE")


class StrictSemantics(mx.TestCase):
    """The filter rules of the real backend, on the mock's own API."""

    def setUp(self):
        super().setUp()
        take_violations()

    def tearDown(self):
        mx.mock_reset()
        mx.check_eq(take_violations(), [], "no violation in the semantics cases")
        super().tearDown()

    def ids(self, body, limit=100):
        status, page = api("POST", LIST + "?limit=%d" % limit, body)
        return status, sorted(d["document_id"] for d in page["results"]) if status == 200 else page

    def refused(self, body, field, operator, what):
        status, page = api("POST", LIST + "?limit=10", body)
        mx.check_eq(status, 400, what)
        if status == 400:
            err = page["error"]
            mx.check_eq((page["success"], page["status"], err["type"]), (False, 400, "BadRequestError"),
                        what + ": the API's envelope")
            mx.check_eq((err["details"]["field"], err["details"]["operator"]), (field, operator),
                        what + ": field and operator in the details")
            mx.check('"%s"' % field in err["message"] and '"%s"' % operator in err["message"],
                     what + ": field and operator in the message", err["message"])

    def test_01_is_null_matches_explicit_nulls_only(self):
        strict()
        cond = {"filters": {"AND": [{"field": "word_count", "operator": "is_null", "value": True}]}}
        mx.check_eq(self.ids(cond), (200, ["doc_nested_06"]), "strict: only the document with word_count null")
        not_null = {"filters": {"AND": [{"field": "word_count", "operator": "is_null", "value": False}]}}
        status, docs = self.ids(not_null)
        mx.check("doc_nested_05" in docs and "doc_nested_06" not in docs,
                 "is_null false: the missing field counts as not null", docs)
        mx.mock_config(semantics="lenient")
        status, docs = self.ids(cond)
        mx.check_eq(docs, ["doc_nested_05", "doc_nested_06"], "lenient: the missing field matches too")

    def test_02_range_needs_numbers_or_datetimes(self):
        strict()
        self.refused({"filters": {"AND": [{"field": "category", "operator": "gt", "value": "m"}]}},
                     "category", "gt", "a range on a string")
        self.refused({"filters": {"AND": [{"field": "published", "operator": "lte", "value": True}]}},
                     "published", "lte", "a range on a boolean")
        status, docs = self.ids({"filters": {"AND": [{"field": "word_count", "operator": "gte", "value": 900}]}})
        mx.check_eq(status, 200, "a range on a number")
        status, docs = self.ids({"filters": {"AND": [
            {"field": "published_at", "operator": "gte", "value": "2024-03-01T00:00:00+00:00"}]}})
        mx.check_eq(status, 200, "a range on a datetime, compared as instants")
        mx.mock_config(semantics="lenient")
        status, _ = self.ids({"filters": {"AND": [{"field": "category", "operator": "gt", "value": "m"}]}})
        mx.check_eq(status, 200, "lenient: strings compare")

    def test_03_no_exact_match_on_floats(self):
        strict()
        self.refused({"filters": {"AND": [{"field": "rating", "operator": "eq", "value": 4.5}]}},
                     "rating", "eq", "eq 4.5")
        self.refused({"filters": {"AND": [{"field": "rating", "operator": "in", "value": [1, 2.5]}]}},
                     "rating", "in", "in with a float")
        self.refused({"filters": {"rating": 4.5}}, "rating", "eq", "the shorthand form")
        status, _ = self.ids({"filters": {"AND": [{"field": "word_count", "operator": "nin", "value": [1, 2]}]}})
        mx.check_eq(status, 200, "integers match")

    def test_04_sort_needs_an_index(self):
        strict()
        status, page = api("POST", LIST + "?limit=3", {"sort": {"field": "rating", "direction": "asc"}})
        mx.check_eq(status, 400, "sort on a field without an index")
        if status == 400:
            mx.check_eq((page["error"]["details"]["field"], page["error"]["details"]["operator"]),
                        ("rating", "sort"), "named in the details")
        for field in ("word_count", "document_id", "created_at", "_internal.created_at"):
            status, _ = api("POST", LIST + "?limit=3", {"sort": {"field": field, "direction": "desc"}})
            mx.check_eq(status, 200, "sort on indexed " + field)
        status, col = api("GET", "/v1/collections/col_articles")
        mx.check({"field_name": "word_count", "type": "integer"} in col["payload_indexes"],
                 "the collection lists its payload indexes", col.get("payload_indexes"))

    def test_05_result_cap(self):
        strict(result_cap=25)
        got, pages, cursor = 0, 0, None
        while True:
            body = {"filters": {"AND": [{"field": "category", "operator": "eq", "value": "news"}]}}
            if cursor:
                body["cursor"] = cursor
            status, page = api("POST", "/v1/collections/col_big/documents/list?limit=10", body)
            mx.check_eq(status, 200, "page %d" % (pages + 1))
            got += len(page["results"])
            pages += 1
            cursor = page["pagination"]["next_cursor"]
            if not cursor or pages > 10:
                break
        mx.check_eq((got, pages), (25, 3), "the query ends at the cap: 10 + 10 + 5")
        mx.check_eq(page["stats"]["total_documents"], 25000, "the total still counts every match")
        mx.check_eq(mx.mock_config()["result_cap"], 25, "config shows the cap")
        mx.check_eq(mx.mock_config(semantics="strict")["result_cap"], 10000, "strict's default cap")
        mx.check_eq(mx.mock_config(semantics="lenient")["result_cap"], None, "lenient has none")


if __name__ == "__main__":
    mx.main('test_contract')
