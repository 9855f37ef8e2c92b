"""A loopback HTTP listener that records every request and answers like the
Mixpeek API (Python standard library only).

Point a foreign server at it (base_url = cap.url) to see exactly what the
extension sends: every request's method, path, query, headers and body are
kept, in the order they arrived.

    from capture import CaptureServer

    with CaptureServer(pages=25, page_size=4) as cap:
        ...CREATE SERVER s FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url %s)... (cap.url,)
        ...run statements...
        for r in cap.requests():
            r["method"], r["path"], r["query"], r["headers"]["authorization"], r["json"]
        cap.clear()

What it serves by default (any collection name, any key, any namespace;
nothing is checked, so a wrong header shows up in the record, not as an
error):

  POST /v1/collections/{c}/documents/list?limit=N
      body {"cursor": ..., "sort": ...}; the cursor may also come as ?cursor=.
      -> {"results": [...], "pagination": {"next_cursor": s|null,
          "has_more": b}, "stats": {"total_documents": n}}
      `limit` (default page_size) documents per page, so the whole
      collection is pages * page_size documents at limit = page_size.
      sort ({"field", "direction"} or a list of them, dotted field paths,
      nulls last ascending, ties by document_id) is applied; "select" is
      ignored (whole documents are sent).  Of filters, only an id lookup's
      {"AND": [{"field": "document_id", "operator": "in", "value": [...]}],
      "case_sensitive": true} is evaluated (exact ids); any other "filters"
      is answered 400.
  GET  /v1/collections/{c}/documents/{id}     (percent-decoded id)
      -> the document, or 404 with the API's error envelope
         {"success": false, "status": 404, "error": {"message":
          "Document not found", "type": "NotFoundError", "details":
          {"resource": "document", "id": id}}}
  anything else -> 404 envelope (resource "route").

Documents: `documents` (a list of dicts, each with a document_id), or
pages * page_size generated ones: doc_0000, doc_0001, ... with
collection_id (the collection asked for), category (news, sports, tech,
science in turn), word_count (10 * index) and metadata.title.

`handler(method, path, query, headers, body)` is consulted first for every
request: path is the raw path (no query), query a dict of the last value of
each parameter, headers lower-cased, body the request text.  It returns
None to let the default answer, or (status, headers, body) with body bytes,
str, or any other value (sent as JSON).  `delay_ms` delays every answer.
`host` is the loopback address listened on (default 127.0.0.1; 127.0.0.2
is another host, outside the allow-list).

Each record (a dict) has: seq, method, path (raw), raw_query, query,
headers (lower-cased names), body (text), json (the parsed body or None),
collection and document_id (decoded, None when the path has none), t
(time.monotonic() at arrival).
"""
import base64
import http.server
import json
import threading
import time
import urllib.parse

__all__ = ["CaptureServer", "envelope", "generated_documents"]

CATEGORIES = ["news", "sports", "tech", "science"]


def envelope(status, message, type_, details=None):
    """The API's error body: {"success": false, "status", "error": {...}}."""
    return {"success": False, "status": status,
            "error": {"message": message, "type": type_, "details": details}}


def generated_documents(n, collection="col_capture"):
    return [{"document_id": "doc_%04d" % i, "collection_id": collection,
             "category": CATEGORIES[i % 4], "word_count": 10 * i,
             "metadata": {"title": "Document %d" % i}} for i in range(n)]


def _field(doc, path):
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def _sorted(docs, sort):
    keys = sort if isinstance(sort, list) else [sort]
    out = sorted(docs, key=lambda d: str(d.get("document_id")).encode())
    for k in reversed(keys):
        field, desc = k["field"], str(k.get("direction", "asc")).lower() == "desc"
        present = [d for d in out if _field(d, field) is not None]
        missing = [d for d in out if _field(d, field) is None]
        present.sort(key=lambda d: (str(type(_field(d, field))), _field(d, field)), reverse=desc)
        out = missing + present if desc else present + missing
    return out


def _id_filter(filters):
    """The ids (a set) of an id lookup's filters, or None for other filters."""
    try:
        (test,) = filters["AND"]
        if (filters.get("case_sensitive") is True and len(filters) == 2
                and test["field"] == "document_id" and test["operator"] == "in"
                and all(isinstance(i, str) for i in test["value"])):
            return set(test["value"])
    except (TypeError, KeyError, ValueError):
        pass
    return None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive, as the API
    disable_nagle_algorithm = True    # headers and body are two writes

    def log_message(self, *args):
        pass

    def _serve(self):
        cap = self.server.capture
        raw_path, _, raw_query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(raw_query, keep_blank_values=True).items()}
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        segs = raw_path.split("/")
        collection = document_id = None
        if len(segs) >= 4 and segs[1:3] == ["v1", "collections"]:
            collection = urllib.parse.unquote(segs[3])
        if len(segs) == 6 and segs[4] == "documents" and self.command == "GET":
            document_id = urllib.parse.unquote(segs[5])
        rec = cap._record(dict(method=self.command, path=raw_path, raw_query=raw_query, query=query,
                               headers=headers, body=body, json=parsed, collection=collection,
                               document_id=document_id, t=time.monotonic()))
        answer = None
        if cap.handler is not None:
            answer = cap.handler(self.command, raw_path, query, headers, body)
        if answer is None:
            answer = cap._default(self.command, segs, query, parsed, collection, document_id)
        status, out_headers, out = answer
        if not isinstance(out, (bytes, str)):
            out = json.dumps(out)
        if isinstance(out, str):
            out = out.encode()
        if cap.delay_ms:
            time.sleep(cap.delay_ms / 1000.0)
        rec["status"] = status
        self.send_response(status)
        out_headers = dict(out_headers or {})
        out_headers.setdefault("Content-Type", "application/json")
        for k, v in out_headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass                                # a client that went away


class CaptureServer:
    """See the module's docstring.  Start with `with` (or start()/stop())."""

    def __init__(self, pages=25, page_size=4, documents=None, handler=None, delay_ms=0,
                 host="127.0.0.1"):
        self.host = host                    # another loopback address: another host
        self.page_size = page_size
        self.documents = list(documents) if documents is not None else None
        self._generated = pages * page_size
        self.handler = handler
        self.delay_ms = delay_ms
        self._lock = threading.Lock()
        self._log = []
        self._seq = 0
        self._srv = None
        self.url = None

    # ---- life cycle

    def start(self):
        self._srv = _Server((self.host, 0), _Handler)
        self._srv.capture = self
        self.url = "http://%s:%d" % (self.host, self._srv.server_address[1])
        threading.Thread(target=self._srv.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._srv is not None:
            self._srv.shutdown()
            self._srv.server_close()
            self._srv = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # ---- the record

    def _record(self, rec):
        with self._lock:
            self._seq += 1
            rec["seq"] = self._seq
            rec["status"] = None
            self._log.append(rec)
        return rec

    def requests(self):
        """Every request received since the start or the last clear(), oldest first."""
        with self._lock:
            return list(self._log)

    def clear(self):
        with self._lock:
            self._log = []

    # ---- the default API

    def docs(self, collection):
        if self.documents is not None:
            return self.documents
        return generated_documents(self._generated, collection)

    def _default(self, method, segs, query, body, collection, document_id):
        if len(segs) == 6 and segs[1:3] == ["v1", "collections"] and segs[4] == "documents":
            if segs[5] == "list" and method == "POST":
                return self._list(collection, query, body if isinstance(body, dict) else {})
            if method == "GET":
                for d in self.docs(collection):
                    if d.get("document_id") == document_id:
                        return 200, None, d
                return 404, None, envelope(404, "Document not found", "NotFoundError",
                                           {"resource": "document", "id": document_id})
        return 404, None, envelope(404, "Route not found", "NotFoundError",
                                   {"resource": "route", "id": "/".join(segs)})

    def _list(self, collection, query, body):
        wanted = None
        if body.get("filters"):
            wanted = _id_filter(body["filters"])
            if wanted is None:
                return 400, None, envelope(400, "filters are not evaluated by the capture listener",
                                           "BadRequestError")
        try:
            limit = int(query.get("limit", self.page_size))
        except ValueError:
            return 400, None, envelope(400, "Invalid limit", "BadRequestError")
        docs = self.docs(collection)
        if wanted is not None:
            docs = [d for d in docs if d.get("document_id") in wanted]
        if body.get("sort"):
            docs = _sorted(docs, body["sort"])
        cursor = body.get("cursor") or query.get("cursor")
        pos = 0
        if cursor:
            try:
                c = json.loads(base64.urlsafe_b64decode(cursor.encode()))
                if c["c"] != collection:
                    raise ValueError
                pos = int(c["p"])
            except (ValueError, KeyError, TypeError):
                return 400, None, envelope(400, "Invalid cursor", "BadRequestError")
        page = docs[pos:pos + limit]
        nxt = pos + len(page)
        next_cursor = None
        if nxt < len(docs):
            next_cursor = base64.urlsafe_b64encode(json.dumps({"c": collection, "p": nxt}).encode()).decode()
        return 200, None, {"results": page,
                           "pagination": {"next_cursor": next_cursor, "has_more": next_cursor is not None},
                           "stats": {"total_documents": len(docs)}}
