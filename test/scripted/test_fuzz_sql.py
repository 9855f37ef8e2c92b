"""Fuzzing through SQL: generated response bodies, served by the mock's
canned responses (POST /_mock/canned), read by the extension in a real
backend.  This covers what needs the backend and so cannot be fuzzed
in-process: jsonb parsing of bodies with its pre-checks, reading Mixpeek and
FastAPI error envelopes (and the 404 "missing document" decision), and
JSON-to-column conversion in foreign scans.

Bodies are mutations of real documents, list pages and error envelopes
(structure: types swapped, keys dropped or added, nesting around the 512-level
limit, long and odd Unicode strings, numbers at numeric's limits, raw escapes;
then bytes: flips, invalid UTF-8, NUL bytes, truncation), served with a range
of HTTP statuses.  For each one an independent oracle written here says what
the README promises, and the test checks it:
  - mixpeek_document(): the document, equal to the body (numbers compared as
    decimals), or NULL for a 404 that names the document, or the ERROR with
    the SQLSTATE of the error table, whose message names status, method and
    path and, for an error envelope, Mixpeek's type and message; for other
    bodies the detail shows the body's start, made printable;
  - mixpeek_documents() of the ids a generated list reply holds: the
    documents of those ids, each once, or the ERROR the reply calls for;
  - a foreign scan over a list page: the rows (one per result, document and
    document_id as sent), an HV00A for a page of the wrong shape, or a
    conversion error (class 22) naming the column;
  - bodies around mixpeek.max_response_bytes: accepted up to the limit,
    HV00A one byte over;
  - filter building (deparse.c): random WHERE clauses, ORDER BY and LIMIT
    over a foreign table of the mock's col_articles return exactly the rows
    they return with mixpeek.pushdown = off (at safe and at all);
  - always: the backend survives (same pid), and any failure has a documented
    SQLSTATE.
Bounded: MX_FUZZ_SQL_BODIES bodies for mixpeek_document (default 1500; 15000
with MX_LONG=1) and proportionally fewer for the other parts.  The seed is
printed; MX_FUZZ_SQL_SEED replays a run.  Each part (a case:
FuzzSql.test_02_document_bodies, ...) draws from a generator seeded with the
seed and its name, so a case run alone with MX_FUZZ_SQL_SEED generates what
it generated in the whole run.  Each generated case is one check.
"""
import base64
import decimal
import http.client
import json
import os
import random
import re
import sys
import time
import urllib.parse

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402

N = int(os.environ.get("MX_FUZZ_SQL_BODIES", "15000" if mx.LONG else "1500"))
SEED = int(os.environ.get("MX_FUZZ_SQL_SEED", str(int(time.time() * 1000) % 10**9)))
MOCK = urllib.parse.urlparse(mx.MOCK_URL)
DOCUMENTED = {"22023", "28000", "42501", "42704", "53400", "HV000", "08006",
              "57014", "HV00A", "HV00M"}
MAX_DEPTH = 512
rng = random.Random(SEED)
# psycopg2 reads jsonb results with json.loads: a generated integer of
# 131,072 digits is past Python's default limit on int() of a string
if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)
failures = []
counts = {}
log = mx.log


def seed_part(name):
    """The part's own sequence of random choices."""
    rng.seed("%d/%s" % (SEED, name))


def fail(what, case=None):
    """A failed check; the body is shown for the first 25."""
    failures.append(what)
    mx.check(False, what)
    if case is not None and len(failures) <= 25:
        log("    body (first 300 bytes): %r" % case["body"][:300])


def judge(check_case, *args):
    """One generated case, one check: it passes when check_case reported
    no failure."""
    before = len(failures)
    check_case(*args)
    if len(failures) == before:
        mx.check(True, check_case.__name__)


def count(key):
    counts[key] = counts.get(key, 0) + 1


# ---------------------------------------------------------------- the mock

_mock = None


def mock_post(path, value):
    global _mock
    data = json.dumps(value).encode()
    for attempt in range(2):
        try:
            if _mock is None:
                _mock = http.client.HTTPConnection(MOCK.hostname, MOCK.port, timeout=30)
            _mock.request("POST", path, body=data, headers={"Content-Type": "application/json"})
            resp = _mock.getresponse()
            raw = resp.read()
            if resp.status != 200:
                raise RuntimeError("mock %s: %s %s" % (path, resp.status, raw[:200]))
            return json.loads(raw)
        except (http.client.HTTPException, OSError):
            _mock = None
            if attempt:
                raise


def can(name, status, body, content_type="application/json"):
    mock_post("/_mock/canned", {"name": name, "status": status,
                                "body_base64": base64.b64encode(body).decode(),
                                "content_type": content_type})


# ---------------------------------------------------------------- the oracle

class Bad(Exception):
    pass


def depth_scan(b):
    """src/json_depth.c on bytes (fuzzed on its own in test/fuzz)."""
    depth = deepest = 0
    in_string = False
    i, n = 0, len(b)
    while i < n:
        c = b[i]
        if in_string:
            if c == 0x5C:
                i += 1
            elif c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c in (0x7B, 0x5B):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return deepest
        elif c in (0x7D, 0x5D):
            depth -= 1
        i += 1
    return deepest


def _num(text):
    # what PostgreSQL 15's numeric (and so jsonb_in) refuses: more than 16383
    # digits after the point as written, or a value of 1e131072 or more
    d = decimal.Decimal(text)
    if max(0, -d.as_tuple().exponent) > 16383 or (d != 0 and d.adjusted() >= 131072):
        raise Bad("number out of numeric's range")
    return d


def _no_const(name):
    raise Bad("not JSON: " + name)


def _check_strings(v):
    if isinstance(v, str):
        if "\x00" in v or any(0xD800 <= ord(ch) <= 0xDFFF for ch in v):
            raise Bad("string jsonb cannot hold")
    elif isinstance(v, dict):
        for k, x in v.items():
            _check_strings(k)
            _check_strings(x)
    elif isinstance(v, list):
        for x in v:
            _check_strings(x)


def parse_decimal(text):
    return json.loads(text, parse_float=_num, parse_int=_num, parse_constant=_no_const)


def body_json(b):
    """What json.c makes of a body: the value, or Bad."""
    if len(b) == 0:
        raise Bad("empty")
    try:
        text = b.decode("utf-8")
    except UnicodeDecodeError:
        raise Bad("not UTF-8")
    if "\x00" in text:
        raise Bad("NUL byte")
    if depth_scan(b) > MAX_DEPTH:
        raise Bad("too deep")
    try:
        v = parse_decimal(text)
    except (ValueError, decimal.InvalidOperation, RecursionError) as e:
        raise Bad("invalid JSON: %s" % e)
    _check_strings(v)
    return v


def json_or_none(b):
    try:
        return body_json(b)
    except Bad:
        return None


def _int64(text):
    if not -2 ** 63 <= int(text) < 2 ** 63:
        raise Bad("integer jansson cannot hold")
    return int(text)


def _finite(text):
    if float(text) in (float("inf"), float("-inf")):
        raise Bad("real jansson cannot hold")
    return float(text)


def jansson_json(b):
    """What control.c makes of an error body with jansson: the value, or
    None.  Not jsonb's rules: integers beyond 64 bits and reals beyond a
    double's range are refused, any other number is taken."""
    if len(b) == 0 or depth_scan(b) > MAX_DEPTH:
        return None
    try:
        v = json.loads(b.decode("utf-8"), parse_int=_int64, parse_float=_finite,
                       parse_constant=_no_const)
        _check_strings(v)
    except (ValueError, Bad, RecursionError):
        return None
    return v


def read_error_body(b):
    """api.c's read_error_body: (is_envelope, type, message, resource)."""
    v = jansson_json(b)
    if not isinstance(v, dict):
        return False, None, None, None
    s = lambda x: x if isinstance(x, str) else None
    if "error" in v and isinstance(v["error"], (dict, list)):
        e = v["error"]
        if isinstance(e, dict):
            details = e.get("details")
            res = s(details.get("resource")) if isinstance(details, dict) else None
            return True, s(e.get("type")), s(e.get("message")), res
        return True, None, None, None
    if "detail" in v:
        d = v["detail"]
        if isinstance(d, str):
            return True, None, d, None
        if isinstance(d, list) and d and isinstance(d[0], (dict, list)):
            first = d[0]
            if isinstance(first, dict):
                msg = s(first.get("msg"))
                if msg is not None and isinstance(first.get("loc"), (dict, list)):
                    msg = msg + " (at "   # the loc's text is PostgreSQL's, not checked
                return True, s(first.get("type")), msg, None
            return True, None, None, None
    return False, None, None, None


def sqlstate_for(status):
    return {400: "22023", 422: "22023", 401: "28000", 403: "42501", 404: "42704",
            429: "53400"}.get(status, "HV000")


def expect_document(status, b):
    """('doc', value) | ('null',) | ('error', sqlstate, info)."""
    if 200 <= status <= 299:
        try:
            v = body_json(b)
        except Bad as e:
            return ("error", "HV00A", ("invalid", str(e)))
        if not isinstance(v, dict):
            return ("error", "HV00A", ("invalid", "not an object"))
        return ("doc", v)
    env = read_error_body(b)
    if status == 404 and missing_document(b):
        return ("null",)
    return ("error", sqlstate_for(status), ("status", env))


def missing_document(b):
    """api.c's is_missing_document: Mixpeek's NotFoundError about a document."""
    v = jansson_json(b)
    e = v.get("error") if isinstance(v, dict) else None
    if not isinstance(e, dict) or not isinstance(e.get("type"), str) or \
            e["type"].encode().lower() != b"notfounderror":
        return False
    details = e.get("details") if isinstance(e.get("details"), dict) else {}
    if isinstance(details.get("resource"), str):
        return details["resource"].encode().lower() == b"document"
    if details.get("document_id") is not None:
        return True
    low = e["message"].encode().lower() if isinstance(e.get("message"), str) else b""
    return b"document" in low and b"collection" not in low and b"namespace" not in low


def invisible(cp):
    """api.c's is_invisible"""
    return (0x80 <= cp <= 0x9f or 0x200b <= cp <= 0x200f or 0x2028 <= cp <= 0x202e or
            0x2060 <= cp <= 0x206f or cp == 0xfeff or 0xfdd0 <= cp <= 0xfdef or (cp & 0xfffe) == 0xfffe)


def snippet(b):
    """api.c's body_snippet: controls as spaces, then at most 200 bytes of
    whole printable UTF-8 characters, any other byte as "?"."""
    s = bytes(0x20 if (c < 0x20 or c == 0x7F) else c for c in b[:65536])
    out, size, i = [], 0, 0
    while i < len(s):
        c = s[i]
        n = 1 if c < 0x80 else (2 if c & 0xE0 == 0xC0 else 3 if c & 0xF0 == 0xE0 else 4 if c & 0xF8 == 0xF0 else 1)
        try:
            ch = s[i:i + n].decode("utf-8") if c >= 0x80 else chr(c)
            if len(ch) != 1 or (c >= 0x80 and invisible(ord(ch))):
                raise ValueError
        except ValueError:
            ch, n = "?", 1
        if size + len(ch.encode("utf-8")) > 200:
            break
        out.append(ch)
        size += len(ch.encode("utf-8"))
        i += n
    return "".join(out)


# ---------------------------------------------------------------- generators

def load_bases():
    docs, pages, envelopes = [], [], []
    for f in ("articles.json", "frames.json", "weird.json"):
        with open(os.path.join(mx.TOP, "test/mock/data", f)) as fh:
            docs.extend(parse_decimal(fh.read()))
    for k in range(0, len(docs), 3):
        pages.append({"results": docs[k:k + 3],
                      "pagination": {"next_cursor": None, "has_more": False},
                      "stats": {"total_documents": 3}})
    for status, typ, msg, det in [
            (404, "NotFoundError", "Document doc_x not found", {"resource": "document", "id": "doc_x"}),
            (404, "NotFoundError", "Collection not found", {"resource": "collection", "id": "c"}),
            (404, "NotFoundError", "Namespace not found", {"resource": "namespace", "id": "n"}),
            (404, "NotFoundError", "Document not found", None),
            (400, "BadRequestError", "Invalid filter", {"field": "x"}),
            (401, "AuthenticationError", "Invalid or missing API key", None),
            (403, "AuthorizationError", "Not allowed", None),
            (429, "TooManyRequestsError", "Rate limit exceeded", None),
            (500, "InternalServerError", "Internal server error", None),
            (503, "ServiceUnavailableError", "Service temporarily unavailable", None)]:
        envelopes.append((status, {"success": False, "status": status,
                                   "error": {"message": msg, "type": typ, "details": det}}))
    envelopes.append((422, {"detail": [{"type": "value_error", "loc": ["body", "limit"],
                                        "msg": "Input should be less than or equal to 1000",
                                        "input": 5000}]}))
    envelopes.append((422, {"detail": "Not Found"}))
    return docs, pages, envelopes


UNICODE = ["é", "ß", "文档", "🙂", "\u200b", "\u202e", "\ufeff", "\uffff", "Ω\u0301",
           "\U0010fffd", "ид", "\t", "\\", "\"", "</script>", "%00", "\u2028"]
RAW_ESCAPES = ["\\u0000", "\\ud800", "\\udfff", "\\ud83d\\ude00", "\\u00e9", "\\/",
               "\\b\\f\\n\\r\\t", "\\uDBFF\\uDFFF", "\\u001f"]
NUMBERS = ["0", "-0", "1e400", "-1e-400", "1e1000", "1e1001", "1e-1001", "1E+2",
           "1e131071", "1e131072", "1e-16383", "1e-16384", "0.001e131074", "1000e131069",
           "123456789012345678901234567890123456789", "0.1000000000000000000001",
           "4.123456789012345678", "-12.5e-3", "9007199254740993", "1.7976931348623157e308"]


def rand_string():
    k = rng.random()
    if k < 0.5:
        return "".join(rng.choice(UNICODE + ["a", "b", " ", "x"]) for _ in range(rng.randint(0, 12)))
    if k < 0.7:
        return "@@RAW:" + "".join(rng.choice(RAW_ESCAPES + ["a"]) for _ in range(rng.randint(1, 4))) + "@@"
    if k < 0.9:
        return rng.choice(UNICODE) * rng.choice([1, 100, 5000])
    return "x" * rng.choice([1000, 100000, 400000])


def rand_scalar():
    return rng.choice([None, True, False, 0, -1, 2**63, 1.5, "@@NUM:%s@@" % rng.choice(NUMBERS),
                       rand_string(), [], {}])


def nest(v, levels):
    for _ in range(levels):
        v = rng.choice([[v], {"n": v}])
    return v


def nodes(v, path=()):
    yield path, v
    if isinstance(v, dict):
        for k, x in v.items():
            yield from nodes(x, path + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from nodes(x, path + (i,))


def replace_at(v, path, new):
    if not path:
        return new
    parent = v
    for p in path[:-1]:
        parent = parent[p]
    parent[path[-1]] = new
    return v


def mutate_value(v):
    v = _copy(v)
    for _ in range(rng.randint(1, 3)):
        all_nodes = list(nodes(v))
        path, node = rng.choice(all_nodes)
        op = rng.random()
        if op < 0.3:
            v = replace_at(v, path, rand_scalar())
        elif op < 0.45 and isinstance(node, dict) and node:
            del node[rng.choice(list(node))]
        elif op < 0.6 and isinstance(node, dict):
            node[rng.choice(["", "document_id", "_internal", "error", "detail", "results",
                             "pagination", "next_cursor", "type", "message", "details", "resource",
                             rand_string()[:50]])] = rand_scalar()
        elif op < 0.7:
            # nesting around the limit: the body's depth lands near 512
            target = rng.choice([MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 2, 600, 50])
            here = len(path) + 1
            v = replace_at(v, path, nest(rand_scalar(), max(1, target - here)))
        elif op < 0.8:
            v = replace_at(v, path, rng.choice([[node], {"x": node}, str(node)[:100], None]))
        elif op < 0.9 and "document_id" in (v if isinstance(v, dict) else {}):
            v["document_id"] = rand_scalar()
        else:
            v = replace_at(v, path, rand_string())
    return v


def _copy(v):
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v


class _Enc(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, decimal.Decimal):
            return "@@NUM:%s@@" % o
        return super().default(o)


def serialize(v):
    text = json.dumps(v, cls=_Enc, ensure_ascii=rng.random() < 0.3,
                      indent=rng.choice([None, None, 1, "\t"]))
    text = re.sub(r'"@@NUM:([^@"]*)@@"', r"\1", text)
    text = re.sub(r'@@RAW:((?:[^@"]|\\\\)*)@@', lambda m: m.group(1).replace("\\\\", "\\"), text)
    return text.encode("utf-8", "surrogatepass")


BAD_BYTES = [b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xff", b"\x00", b"\xc0\xaf",
             b"\xef\xbb\xbf", b"\x80", b"\xf4\x90\x80\x80", b"\r\n", b"\"", b"\\", b"[", b"}"]


def mutate_bytes(b):
    b = bytearray(b)
    for _ in range(rng.randint(1, 3)):
        if not b:
            break
        op = rng.random()
        i = rng.randrange(len(b))
        if op < 0.3:
            b[i] = rng.randrange(256)
        elif op < 0.55:
            b[i:i] = rng.choice(BAD_BYTES)
        elif op < 0.7:
            del b[i:]
        elif op < 0.85:
            j = min(len(b), i + rng.randint(1, 64))
            b[i:i] = b[i:j]
        else:
            del b[i]
    return bytes(b)


def gen_body(base):
    v = mutate_value(base) if rng.random() < 0.85 else _copy(base)
    b = serialize(v)
    if rng.random() < 0.3:
        b = mutate_bytes(b)
    return b


def gen_document_case(docs, envelopes):
    k = rng.random()
    if k < 0.55:
        status = rng.choice([200] * 8 + [201, 203, 299])
        body = gen_body(rng.choice(docs))
    elif k < 0.9:
        status, env = rng.choice(envelopes)
        if rng.random() < 0.2:
            status = rng.choice([400, 401, 403, 404, 404, 409, 418, 422, 429, 451, 500, 502,
                                 503, 504, 301, 200])
        body = gen_body(env)
    else:
        status = rng.choice([200, 404, 500, 422])
        body = rng.choice([b"", b"<html><body>Bad gateway</body></html>", b"null", b"[]",
                           b"\"x\"", b"{", b"{}", b" ", b"\xef\xbb\xbf{}", b"{\"a\":1}\x00",
                           bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))])
    ctype = rng.choice(["application/json"] * 6 + ["text/html", "text/plain; charset=latin1"])
    return {"status": status, "body": body, "ctype": ctype}


# ---------------------------------------------------------------- running

def connect():
    conn = psycopg2.connect(dbname=os.environ.get("MX_DB", "postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS mixpeek")
        cur.execute("SET mixpeek.max_retries = 0")
        cur.execute("SET statement_timeout = '30s'")
    return conn


def run(sql, params=None):
    """('ok', rows) or ('error', sqlstate, message, detail); reconnects after a crash."""
    global conn
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return ("ok", cur.fetchall() if cur.description else None)
    except psycopg2.Error as e:
        if e.pgcode is None:
            fail("the connection broke (backend crash?): %s" % str(e).strip())
            time.sleep(1)
            conn = connect()
            return ("crash",)
        return ("error", e.pgcode, e.diag.message_primary or "", e.diag.message_detail or "",
                e.diag.context or "")


def check_alive(where):
    got = run("SELECT pg_backend_pid()")
    if got[0] != "ok" or got[1][0][0] != PID0:
        fail("%s: the backend changed (was %s, now %r)" % (where, PID0, got))
    else:
        mx.check(True, where)


def same_json(got_text, want):
    try:
        return parse_decimal(got_text) == want
    except Exception:
        return False


def check_document_case(i, case):
    name = "doc"
    can(name, case["status"], case["body"], case["ctype"])
    want = expect_document(case["status"], case["body"])
    got = run("SELECT mixpeek_document('col_canned', %s)::text", (name,))
    path = "GET /v1/collections/col_canned/documents/doc"
    tag = "document case %d (status %d)" % (i, case["status"])
    if got[0] == "crash":
        return
    if got[0] == "error" and got[1] not in DOCUMENTED:
        fail("%s: undocumented SQLSTATE %s: %s" % (tag, got[1], got[2]), case)
        return
    if want[0] == "doc":
        count("document: returned")
        if got[0] != "ok" or not same_json(got[1][0][0], want[1]):
            fail("%s: expected the document, got %r" % (tag, got[:3] if got[0] != "ok" else got[1][0][0][:200]), case)
        return
    if want[0] == "null":
        count("document: NULL (404 for the document)")
        if got != ("ok", [(None,)]):
            fail("%s: expected NULL, got %r" % (tag, got[:3]), case)
        return
    state, info = want[1], want[2]
    count("document: ERROR %s" % state)
    if got[0] != "error" or got[1] != state:
        fail("%s: expected ERROR %s (%s), got %r" % (tag, state, info[1] if info[0] == "invalid" else "status",
                                                      got[:3]), case)
        return
    msg, detail, context = got[2], got[3], got[4]
    if context.split("\n")[0] != "Mixpeek request " + path:
        fail("%s: context %r" % (tag, context), case)
    if info[0] == "invalid":
        if msg != "Mixpeek sent an invalid response":
            fail("%s: message %r" % (tag, msg), case)
        return
    env = info[1]
    prefix = "Mixpeek returned HTTP %d" % case["status"]
    if not msg.startswith(prefix):
        fail("%s: message %r" % (tag, msg), case)
    if env[0]:
        typ = env[1] if env[1] is not None else "unknown error type"
        text = env[2] if env[2] is not None else "no message"
        if not msg.startswith("%s (%s: %s" % (prefix, typ, text)):
            fail("%s: message %r lacks type and message %r: %r" % (tag, msg, typ, text), case)
    else:
        if msg != prefix:
            fail("%s: message %r" % (tag, msg), case)
        want_detail = ('The response is not a Mixpeek error: "%s".' % snippet(case["body"])
                       if case["body"] else "")
        if detail != want_detail:
            fail("%s: detail %r, expected %r" % (tag, detail, want_detail), case)


def expect_id_batch(status, b, ids):
    """What mixpeek_documents() of ids (two or more: one list request) makes
    of a list reply: it pages as a list scan does (expect_page: a cursor
    that repeats is HV00A, a list that ends short of its total HV00M), and
    returns the documents holding one of the ids, each once, in order."""
    want = expect_page(status, b)
    if want[0] == "loop":
        return ("error", "HV00A")
    if want[0] != "rows":
        return want[:2]
    rows, seen = [], set()
    for d in want[1]:
        i = d.get("document_id")
        if isinstance(i, str) and i in ids and i not in seen:
            seen.add(i)
            rows.append(d)
    return ("rows", rows)


def sendable_id(i):
    """An id a text[] can carry and compare byte for byte."""
    if not isinstance(i, str) or i == "" or "\x00" in i:
        return False
    try:
        i.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_batch_case(i, status, body):
    """A generated list reply to mixpeek_documents() of the ids its results
    hold (and two that match nothing)."""
    can("batch", status, body)
    try:
        v = body_json(body)
        results = v.get("results") if isinstance(v, dict) else None
    except Bad:
        results = None
    ids = {"batch_missing_1", "batch_missing_2"}
    for d in results if isinstance(results, list) else []:
        if isinstance(d, dict) and sendable_id(d.get("document_id")):
            ids.add(d["document_id"])
    want = expect_id_batch(status, body, ids)
    got = run("SELECT x::text FROM mixpeek_documents('canned-batch', %s) x", (sorted(ids),))
    tag = "batch case %d (status %d)" % (i, status)
    case = {"body": body}
    if got[0] == "crash":
        return
    if want[0] == "error":
        count("batch: ERROR")
        if got[0] != "error" or got[1] != want[1]:
            fail("%s: expected ERROR %s, got %r" % (tag, want[1], got[:3]), case)
        return
    count("batch: rows")
    if got[0] != "ok":
        fail("%s: expected %d rows, got %r" % (tag, len(want[1]), got[:3]), case)
        return
    if len(got[1]) != len(want[1]) or \
            not all(same_json(text, d) for (text,), d in zip(got[1], want[1])):
        fail("%s: rows differ from the documents of the ids asked for" % tag, case)


FDW_COLUMNS = ["document_id", "created_at", "word_count", "rating", "published", "tags",
               "vector", "metadata", "title", "document"]


def setup_fdw():
    got = run("""
        DROP SERVER IF EXISTS mx_fuzz CASCADE;
        CREATE SERVER mx_fuzz FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url %s);
        CREATE USER MAPPING FOR CURRENT_USER SERVER mx_fuzz OPTIONS (api_key 'sk_test_alpha');
        CREATE FOREIGN TABLE mx_fuzz_page (
          document_id text, created_at timestamptz, word_count bigint,
          rating double precision, published boolean, tags text[], vector real[],
          metadata jsonb, title text OPTIONS (field 'metadata.title'), document jsonb
        ) SERVER mx_fuzz OPTIONS (collection 'canned-page')""",
              (os.environ["MIXPEEK_MOCK_URL"],))
    return got[0] == "ok", got


def _skip_string(b, i):
    """The end of the string at b[i] (json.c's skip_string), or None."""
    j = i + 1
    while True:
        j = b.find(b'"', j)
        if j < 0:
            return None
        k = j
        while b[k - 1] == 0x5c:
            k -= 1
        j += 1
        if (j - 1 - k) % 2 == 0:
            return j


def _skip_value(b, i):
    """(end, nesting) of the value at b[i], found as json.c's skip_value
    finds it (brackets and strings, nothing checked), or None."""
    if i < len(b) and b[i] == 0x22:
        end = _skip_string(b, i)
        return None if end is None else (end, 0)
    if i >= len(b) or b[i] not in b"{[":
        while i < len(b) and b[i] not in b" \t\r\n,]}\x00":
            i += 1
        return i, 0
    depth = deepest = 0
    while i < len(b):
        c = b[i]
        if c == 0x22:
            i = _skip_string(b, i)
            if i is None:
                return None
            continue
        if c in b"{[":
            depth += 1
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                return None
        elif c in b"}]":
            depth -= 1
            if depth == 0:
                return i + 1, deepest
        i += 1
    return None


def _ws(b, i):
    while i < len(b) and b[i] in b" \t\r\n":
        i += 1
    return i


def _split_results(b, i):
    """(end, element texts, nesting) of the "results" array at b[i], or None."""
    texts, deepest = [], 0
    i = _ws(b, i + 1)
    if i < len(b) and b[i] == 0x5d:
        return i + 1, texts, 0
    while True:
        r = _skip_value(b, i)
        if r is None or r[0] == i:
            return None
        texts.append(b[i:r[0]])
        deepest = max(deepest, r[1])
        i = _ws(b, r[0])
        if i < len(b) and b[i] == 0x5d:
            return i + 1, texts, deepest
        if i >= len(b) or b[i] != 0x2c:
            return None
        i = _ws(b, i + 1)


def _split_member(b, i, seen):
    """(end, element texts or None, nesting) of the member at b[i] as
    json.c's split_member reads it, or None when the body is parsed whole."""
    end = _skip_string(b, i) if i < len(b) and b[i] == 0x22 else None
    if end is None:
        return None
    key = b[i + 1:end - 1]
    if b"\\" in key or any(c < 0x20 for c in key):
        return None
    i = _ws(b, end)
    if i >= len(b) or b[i] != 0x3a:
        return None
    i = _ws(b, i + 1)
    if key in (b"results", b"pagination"):
        if key in seen:
            return None
        seen.add(key)
    if key == b"results" and b[i:i + 1] == b"[":
        r = _split_results(b, i)
        return None if r is None else (r[0], r[1], r[2] + 1)
    if key == b"results" and b[i:i + 4] != b"null":
        return None
    r = _skip_value(b, i)
    if r is None or r[0] == i or json_or_none(b[i:r[0]]) is None:
        return None
    return r[0], None, r[1]


def split_page(b):
    """The element texts of "results" as json.c's mx_json_split_list_page
    finds them, or None when it leaves the body to be parsed whole."""
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not b or b"\x00" in b:
        return None
    i = _ws(b, 0)
    if b[i:i + 1] != b"{":
        return None
    i = _ws(b, i + 1)
    texts, deepest, seen = [], 0, set()
    if b[i:i + 1] == b"}":
        i += 1
    else:
        while True:
            r = _split_member(b, i, seen)
            if r is None:
                return None
            i, deepest = _ws(b, r[0]), max(deepest, r[2])
            texts = r[1] if r[1] is not None else texts
            if b[i:i + 1] == b"}":
                i += 1
                break
            if b[i:i + 1] != b",":
                return None
            i = _ws(b, i + 1)
    if _ws(b, i) != len(b) or deepest + 1 > MAX_DEPTH:
        return None
    return texts


def broken_page(b):
    """What a scan makes of an invalid body: ("error", "HV00A"), or, when
    json.c splits it and a document is what is wrong, ("error", "HV00A",
    the documents before it), which are read (and converted) first."""
    docs = []
    for text in split_page(b) or []:
        d = json_or_none(text)
        if not isinstance(d, dict):
            return ("error", "HV00A", docs)
        docs.append(d)
    return ("error", "HV00A")


def expect_page(status, b):
    """('rows', [documents]) | ('error', sqlstate) | ('loop',) for a cursor that
    comes back unchanged (the canned page answers every request alike)."""
    if not 200 <= status <= 299:
        return ("error", sqlstate_for(status))
    try:
        v = body_json(b)
    except Bad:
        return broken_page(b)
    if not isinstance(v, dict):
        return ("error", "HV00A")
    results = v.get("results")
    if results is None:
        results = []
    if not isinstance(results, list):
        return ("error", "HV00A")
    docs = []
    for r in results:
        if not isinstance(r, dict):
            return ("error", "HV00A", docs)
        docs.append(r)
    pag = v.get("pagination")
    if not isinstance(pag, dict):
        return ("rows", docs)
    # paging.c: has_more and the first page's total are read before the cursor
    has_more = pag.get("has_more")
    if has_more is not None and not isinstance(has_more, bool):
        return ("error", "HV00A")
    total = None
    for key in ("total", "total_count"):
        t = pag.get(key)
        if t is None:
            continue
        if not is_count(t):
            return ("error", "HV00A")
        total = int(t)
        break
    if isinstance(pag.get("next_cursor"), str):
        return ("loop", docs)
    remaining = total is not None and len(docs) < total
    # gen_page() leaves no page that asks for another by offset
    if remaining or has_more is True:
        return ("error", "HV00M")
    return ("rows", docs)


def is_count(v):
    """A total the scan takes: a non-negative integer below 10^18 (5.0 too)."""
    if isinstance(v, bool) or not isinstance(v, (int, decimal.Decimal)):
        return False
    d = decimal.Decimal(v)
    return d.is_finite() and d >= 0 and d == d.to_integral_value() and d < 10 ** 18


def check_page_case(i, status, body):
    can("page", status, body)
    want = expect_page(status, body)
    # every column, so that every conversion runs
    got = run("SELECT document_id, document::text, created_at, word_count, rating, published,"
              " tags, vector, metadata, title FROM mx_fuzz_page")
    tag = "page case %d (status %d)" % (i, status)
    case = {"body": body}
    if got[0] == "crash":
        return
    if got[0] == "error":
        conv = got[1].startswith("22") and got[2].startswith("cannot convert value") and \
            any(got[4].startswith('column "%s"' % c) for c in FDW_COLUMNS)
        if conv:
            count("page: conversion ERROR %s" % got[1])
            if want[0] == "error" and len(want) == 2:
                fail("%s: conversion error, but the page itself is invalid (%s)" % (tag, want[1]), case)
            return
        if got[1] not in DOCUMENTED:
            fail("%s: undocumented SQLSTATE %s: %s" % (tag, got[1], got[2]), case)
            return
        if want[0] == "loop" and got[1] == "HV00A":
            count("page: repeating cursor refused")
            return
        if want[0] != "error" or got[1] != want[1]:
            fail("%s: got ERROR %s %s, expected %r" % (tag, got[1], got[2], want[0:2]), case)
            return
        count("page: ERROR %s" % got[1])
        return
    if want[0] != "rows":
        fail("%s: succeeded with %d rows, expected %r" % (tag, len(got[1]), want[0:2]), case)
        return
    count("page: rows")
    docs = want[1]
    if len(got[1]) != len(docs):
        fail("%s: %d rows for %d results" % (tag, len(got[1]), len(docs)), case)
        return
    for (doc_id, doc_text, *_), d in zip(got[1], docs):
        if not same_json(doc_text, d):
            fail("%s: document column differs from the result" % tag, case)
            return
        want_id = d.get("document_id")
        if isinstance(want_id, str) and doc_id != want_id:
            fail("%s: document_id %r, expected %r" % (tag, doc_id, want_id), case)
            return


TYPED_FIELDS = ["created_at", "word_count", "rating", "published", "tags", "vector", "metadata"]
ODD_VALUES = ["2024-02-30T00:00:00Z", "2024-03-01T10:00:00Z", "2024-03-01", "infinity", "yesterday",
              "@@NUM:9223372036854775808@@", "@@NUM:-9223372036854775808@@", "@@NUM:1e400@@",
              "@@NUM:3.5@@", "@@NUM:1e-400@@", "NaN", "-Infinity", "t", "yes", "maybe", "12",
              [], [None], [1, "a"], [[1, 2], [3, 4]], [[1], [2, 3]], ["{", "}"], [1e38, 3.4e39],
              {"title": 5}, {"title": None}, {"title": ["a"]}, True, None, "", "é́"]


def gen_page(pages, docs):
    base = _copy(rng.choice(pages))
    if rng.random() < 0.5:
        base["results"] = [_copy(rng.choice(docs)) for _ in range(rng.randint(0, 5))]
    if rng.random() < 0.5 and isinstance(base.get("results"), list) and base["results"]:
        # values the typed columns must convert, or refuse with the column's name
        for _ in range(rng.randint(1, 3)):
            d = rng.choice(base["results"])
            d[rng.choice(TYPED_FIELDS)] = _copy(rng.choice(ODD_VALUES + [rand_scalar()]))
        b = serialize(base)
        return 200, b
    b = gen_body(base)
    v = json_or_none(b)
    # a string next_cursor makes the scan ask for the same canned page forever
    if isinstance(v, dict) and isinstance(v.get("pagination"), dict) and \
            isinstance(v["pagination"].get("next_cursor"), str):
        v["pagination"]["next_cursor"] = None
        b = serialize(v)
    # ... and so would has_more true (or a total past the results, without
    # has_more): the next page by offset is this one again
    if isinstance(v, dict) and isinstance(v.get("pagination"), dict) and \
            v["pagination"].get("has_more") is True or \
            (isinstance(v, dict) and isinstance(v.get("pagination"), dict) and
             v["pagination"].get("has_more") is None and
             any(v["pagination"].get(k) is not None for k in ("total", "total_count"))):
        v["pagination"]["has_more"] = False
        b = serialize(v)
    return rng.choice([200] * 9 + [500, 404, 422]), b


SIZE_LIMIT = 64 * 1024        # mixpeek.max_response_bytes = '64kB' while the sizes are tried


def check_size_case(size, status):
    """A body of size bytes with status, under SIZE_LIMIT."""
    limit = SIZE_LIMIT
    doc = {"document_id": "big", "collection_id": "col_canned", "pad": ""}
    doc["pad"] = "y" * (size - len(json.dumps(doc).encode()))
    body = json.dumps(doc).encode()
    assert len(body) == size
    can("doc", status, body)
    got = run("SELECT mixpeek_document('col_canned', 'doc')->>'document_id'")
    if size <= limit:
        want = ("ok", [("big",)]) if status == 200 else "HV000"
    else:
        want = "HV00A"
    ok = got == want if isinstance(want, tuple) else (got[0] == "error" and got[1] == want)
    count("size limit: %s bytes, status %d" % ("over" if size > limit else "within", status))
    if not ok:
        fail("body of %d bytes (limit %d), status %d: got %r, expected %r"
             % (size, limit, status, got[:3], want))
    elif size > limit and "larger than mixpeek.max_response_bytes" not in got[2]:
        fail("body over the limit: message %r" % got[2])



# ---------------------------------------------------------------- pushdown

PUSH_COLUMNS = {
    # name: (type, field option or None, constants)
    "document_id": ("text", None, ["doc_flat_01", "doc_nested_03", "doc/with/slash", "..", "a b",
                                  "100%", "doc_", "DOC_FLAT_01", "", "ünïcødé-ид", "z"]),
    "category": ("text", None, ["News", "news", "NEWS", "tech", "Tech", "sports", "", "Ne", "new",
                               "n\u00e9ws", "tech%", "_ech", "a'b"]),
    "title": ("text", "metadata.title", ["AI in Healthcare", "A", "Z", "", "ai in healthcare"]),
    "author": ("text", "metadata.author", ["Dr. Smith", "M", "dr", ""]),
    "lineage_path": ("text", None, ["bkt_content/col_articles", "bkt_content", "bkt_content/col_articles/x"]),
    "root_object_id": ("text", None, ["obj_article_001", "obj_article_01", "obj"]),
    "cluster_id": ("text", None, ["cl_1", "cl_10", "cl_", "CL_1"]),
    "word_count": ("bigint", None, ["0", "1200", "1199", "1201", "-1", "9223372036854775807",
                                   "-9223372036854775808", "500"]),
    "rating": ("double precision", None, ["4.123456789012345", "4.1234567890123451",
                                         "4.123456789012346", "3.5", "100", "100.00000000000001", "0",
                                         "-0", "-1.5", "5", "1.7976931348623157e308",
                                         "-1.7976931348623157e308", "4.9e-324", "'NaN'", "'Infinity'",
                                         "'-Infinity'", "2.718281828459045"]),
    "rating_n": ("numeric", "rating", ["4.123456789012345", "4.123456789012345678", "3.5", "100.0",
                                      "0", "5", "1e400", "-1.5", "'NaN'"]),
    "published": ("boolean", None, ["true", "false"]),
    "published_at": ("timestamptz", None, ["'2024-03-01T12:00:00Z'", "'2024-01-01'", "'infinity'"]),
    "issue_date": ("date", None, ["'2024-03-01'", "'2024-01-01'", "'-infinity'"]),
    "taxonomy_topics_score": ("real", None, ["0.9", "0.5", "1", "0"]),
    "tags": ("text[]", None, []),
}
TEXT_OPS = ["=", "<>", "<", "<=", ">", ">="]


def sql_text(v):
    return "'" + v.replace("'", "''") + "'"


def gen_predicate():
    col = rng.choice(list(PUSH_COLUMNS))
    typ, _, consts = PUSH_COLUMNS[col]
    k = rng.random()
    if col == "tags":
        return rng.choice(["tags IS NULL", "tags IS NOT NULL", "'ai' = ANY (tags)",
                           "tags = ARRAY['ai','health']"])
    if k < 0.12:
        return "%s IS %sNULL" % (col, rng.choice(["", "NOT "]))
    if typ == "boolean":
        return rng.choice([col, "NOT " + col, "%s = %s" % (col, rng.choice(consts)),
                           "%s IS TRUE" % col, "%s IS NOT FALSE" % col])
    quote = sql_text if typ == "text" else (lambda v: v)
    coll = ' COLLATE "C"' if typ == "text" and rng.random() < 0.4 else ""
    if k < 0.3:
        vals = [quote(rng.choice(consts)) for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.2:
            vals.append("NULL")
        return "%s%s %sIN (%s)" % (col, coll, rng.choice(["", "NOT "]), ", ".join(vals))
    if typ == "text" and k < 0.45:
        prefix = rng.choice(consts)[:rng.randint(0, 6)]
        tail = rng.choice(["%", "%", "_%", "", "\\%", "%x"])
        return "%s%s %sLIKE %s" % (col, coll, rng.choice(["", "", "NOT "]), sql_text(prefix + tail))
    return "%s%s %s %s" % (col, coll, rng.choice(TEXT_OPS), quote(rng.choice(consts)))


def gen_where():
    parts = [gen_predicate() for _ in range(rng.randint(1, 3))]
    text = parts[0]
    for p in parts[1:]:
        text = "(%s) %s (%s)" % (text, rng.choice(["AND", "AND", "OR"]), p)
    if rng.random() < 0.1:
        text = "NOT (%s)" % text
    return text


def gen_order():
    if rng.random() < 0.5:
        return ""
    col = rng.choice([c for c in PUSH_COLUMNS if c != "tags"])
    coll = ' COLLATE "C"' if PUSH_COLUMNS[col][0] == "text" and rng.random() < 0.6 else ""
    return " ORDER BY %s%s %s%s, document_id COLLATE \"C\" LIMIT %d" % (
        col, coll, rng.choice(["", "DESC "]), rng.choice(["", "NULLS FIRST", "NULLS LAST"]),
        rng.randint(1, 8))


def setup_pushdown():
    cols = []
    for name, (typ, field, _) in PUSH_COLUMNS.items():
        # sorts on these are sent at safe too: the mock's col_articles has
        # payload indexes on them (a false "indexed" is a 400 at safe)
        opts = ["field '%s'" % field] if field else []
        if name in ("document_id", "word_count", "category"):
            opts.append("indexed 'true'")
        cols.append("%s %s%s" % (name, typ, " OPTIONS (%s)" % ", ".join(opts) if opts else ""))
    got = run("""
        DROP SERVER IF EXISTS mx_fuzz_push CASCADE;
        CREATE SERVER mx_fuzz_push FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url %%s);
        CREATE USER MAPPING FOR CURRENT_USER SERVER mx_fuzz_push OPTIONS (api_key 'sk_test_alpha');
        CREATE FOREIGN TABLE mx_fuzz_articles (%s)
          SERVER mx_fuzz_push OPTIONS (collection 'col_articles', page_size '7')""" % ", ".join(cols),
              (os.environ["MIXPEEK_MOCK_URL"],))
    return got[0] == "ok", got


SEMANTICS = os.environ.get("MX_MOCK_SEMANTICS", "strict")


def check_pushdown_case(i):
    """The rows at each level (safe, then all) equal those with pushdown off."""
    where, order = gen_where(), gen_order()
    sql = "SELECT document_id FROM mx_fuzz_articles WHERE %s%s" % (where, order)
    run("SET mixpeek.pushdown = off")
    off = run(sql)
    # safe must be exact under both rules; all is exact under lenient
    # rules only ("check on your account first")
    for level, semantics in (("safe", "strict"), ("safe", "lenient"), ("all", "lenient")):
        run("SET mixpeek.pushdown = '%s'" % level)
        mx.mock_config(semantics=semantics)
        del conn.notices[:]
        on = run(sql)
        mx.mock_config(semantics=SEMANTICS)
        if "crash" in (on[0], off[0]):
            break
        check_pushdown_level(i, sql, level, on, off, order)
        # safe sends nothing that strict rules refuse: never a retry
        retried = [n for n in conn.notices if "retrying without" in n]
        if level == "safe" and retried:
            fail("pushdown case %d (safe): %s: the API refused what safe sent: %s"
                 % (i, sql, retried[0].strip()))
    run("RESET mixpeek.pushdown")


def check_pushdown_level(i, sql, level, on, off, order):
    tag = "pushdown case %d (%s): %s" % (i, level, sql)
    if on[0] == "error" or off[0] == "error":
        count("pushdown: ERROR (both)")
        if on[:2] != off[:2]:
            fail("%s: pushdown %s %r, off %r" % (tag, level, on[:3], off[:3]))
        elif on[1] not in DOCUMENTED and not on[1].startswith("22"):
            fail("%s: SQLSTATE %s: %s" % (tag, on[1], on[2]))
        return
    a, b = [r[0] for r in on[1]], [r[0] for r in off[1]]
    if not order:
        a, b = sorted(a), sorted(b)
    count("pushdown %s: same rows" % level if a == b else "pushdown %s: DIFFERENT rows" % level)
    if a != b:
        fail("%s: pushdown %s returned %r, off %r" % (tag, level, a, b))


def check_repeating_cursor():
    """A server that hands back the same cursor forever."""
    page = {"results": [], "pagination": {"next_cursor": "same", "has_more": True}}
    can("page", 200, json.dumps(page).encode())
    # the second page ends it; the time-out only stops an endless scan, with
    # room for a starved machine to make the two requests
    run("SET statement_timeout = '10s'")
    got = run("SELECT count(*) FROM mx_fuzz_page")
    run("SET statement_timeout = '30s'")
    log("  a page whose next_cursor never changes: %r" % (got[:3],))
    if got[:2] != ("error", "HV00A"):
        fail("repeating cursor: expected HV00A, got %r" % (got[:3],))


# ---------------------------------------------------------------- the cases

ran = {}        # part: (generated cases, seconds)


class FuzzSql(mx.TestCase):

    @classmethod
    def setUpClass(cls):
        global conn, PID0, docs, pages, envelopes, fdw_ok, fdw_why, push_ok, push_why
        log("fuzz through SQL: seed %d (MX_FUZZ_SQL_SEED), %d document bodies" % (SEED, N))
        docs, pages, envelopes = load_bases()
        mock_post("/_mock/config", {"record": False})
        conn = connect()
        PID0 = run("SELECT pg_backend_pid()")[1][0][0]
        fdw_ok, fdw_why = setup_fdw()
        push_ok, push_why = setup_pushdown()

    @classmethod
    def tearDownClass(cls):
        run("DROP SERVER IF EXISTS mx_fuzz CASCADE")
        run("DROP SERVER IF EXISTS mx_fuzz_push CASCADE")
        mock_post("/_mock/reset", {})
        log("outcomes:")
        for k in sorted(counts):
            log("  %6d  %s" % (counts[k], k))
        n = [ran.get(part, (0, 0.0)) for part in ("document bodies", "batches", "list pages", "pushdown queries")]
        log("bodies: %d documents in %.1f s, %d batches in %.1f s, %d list pages in %.1f s; "
            "%d pushdown queries in %.1f s; backend pid %d throughout" % (sum(n, ()) + (PID0,)))

    def part(self, name, cases, check_case, generate, alive_every=None):
        """A part of cases generated cases, each checked by check_case(i,
        *generate()); with alive_every, the backend is checked that often."""
        seed_part(name)
        t0 = time.monotonic()
        for i in range(cases):
            judge(check_case, i, *generate())
            if alive_every and i % alive_every == alive_every - 1:
                check_alive("after %d %s" % (i + 1, name))
        ran[name] = (cases, time.monotonic() - t0)

    def test_01_size_limit(self):
        """bodies of the limit - 1, + 0 and + 1 bytes, and larger"""
        run("SET mixpeek.max_response_bytes = '64kB'")
        for size in (SIZE_LIMIT - 1, SIZE_LIMIT, SIZE_LIMIT + 1, 3 * SIZE_LIMIT):
            for status in (200, 500):
                judge(check_size_case, size, status)
        run("RESET mixpeek.max_response_bytes")

    def test_02_document_bodies(self):
        """generated bodies through mixpeek_document()"""
        self.part("document bodies", N, check_document_case, lambda: (gen_document_case(docs, envelopes),), 200)

    def test_03_batches(self):
        """generated list replies through mixpeek_documents() of the ids they hold"""
        self.part("batches", max(10, N // 10), check_batch_case, lambda: gen_page(pages, docs))
        check_alive("after the batches")

    def test_04_list_pages(self):
        """generated list pages through a foreign scan"""
        if not fdw_ok:
            raise mx.Skip("foreign scans: %r" % (fdw_why,))
        self.part("list pages", max(10, N // 3), check_page_case, lambda: gen_page(pages, docs), 200)

    def test_05_repeating_cursor(self):
        """a page whose next_cursor never changes"""
        if not fdw_ok:
            raise mx.Skip("foreign scans: %r" % (fdw_why,))
        judge(check_repeating_cursor)

    def test_06_pushdown(self):
        """random WHERE, ORDER BY and LIMIT with pushdown safe, all and off"""
        if not push_ok:
            raise mx.Skip("pushdown differential: %r" % (push_why,))
        self.part("pushdown queries", max(10, N // 3), check_pushdown_case, lambda: ())

    def test_07_backend_alive(self):
        """the backend is the one of the start"""
        check_alive("at the end")


if __name__ == "__main__":
    mx.main("test_fuzz_sql (seed %d)" % SEED)
