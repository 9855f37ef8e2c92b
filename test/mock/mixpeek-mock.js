#!/usr/bin/env node
/*
 * mixpeek-mock.js: a mock of the Mixpeek API for pg_mixpeek's tests and benchmarks.
 *
 * Node 20 built-ins and ajv (package.json; test/deps.sh runs npm ci here).
 * Files beside it:
 *   contract.js             checks requests and answers against the OpenAPI
 *   openapi/                Mixpeek's published OpenAPI v0.81 (subset) and its source
 *   violations.py           reads and clears the recorded violations (test/run-tests.sh)
 *   data/collections.json   namespaces, collections, output schemas, indexed fields
 *   data/articles.json, data/frames.json, data/weird.json   the documents
 *   selftest.sh             starts its own mock and checks the main behaviours
 *   wrk-list.lua            wrk script for the list endpoint (POST, body {})
 *
 * USAGE
 *   node test/mock/mixpeek-mock.js [--port N] [--host 127.0.0.1] [--port-file PATH]
 *                                  [--latency-ms N] [--gzip]
 *                                  [--semantics strict|lenient] [--result-cap N|none]
 *                                  [--no-validate]
 *   --port 0 (default) picks a free port.  Once listening, the port number is
 *   written to --port-file (atomically: written to PATH.tmp, then renamed) and
 *   "mixpeek-mock listening on http://127.0.0.1:PORT" is printed to stdout.
 *   Only loopback hosts are accepted (127.x.x.x, ::1, localhost).
 *   SIGTERM / SIGINT: removes the port file and exits 0.
 *
 * CONTRACT (every /v1 request and answer; contract.js)
 *   The request is matched to an operation of openapi/openapi-v0.81-subset.json
 *   and checked: query parameters (types, ranges, unknown ones), the
 *   Authorization and X-Namespace headers, the body against its schema (read
 *   as JSON only without a Content-Type or with a JSON one, as FastAPI does).  What
 *   FastAPI would refuse is answered with its 422 (after the auth and namespace
 *   checks); what it would drop (unknown query parameters and body members) is
 *   answered normally.  Both are recorded as violations, as is a path or
 *   method of no operation.  The answer is validated against the operation's
 *   response schema for its status (an undocumented 4xx/5xx against the error
 *   envelope); faults and canned answers are exempt.  Accepted though not in
 *   the OpenAPI: ?return_url on a document GET, "limit" and
 *   "return_presigned_urls" in a list body (the client sends both names).
 *
 * FILTER SEMANTICS (--semantics, config "semantics")
 *   strict (default): the Qdrant rules the API's filters follow, the stricter
 *   reading where it is silent: is_null matches explicit nulls only; gt/gte/
 *   lt/lte take numbers or RFC 3339 datetimes (compared as instants) and are a
 *   400 for anything else; eq/ne/in/nin with a float (written with a fraction
 *   or exponent) are a 400; sort only on indexed fields (indexed_fields of
 *   the collection, plus document_id and the timestamps), else 400; a list
 *   query yields at most result_cap results over all its pages (default
 *   10,000; then next_cursor is null, stats.total_documents still counts every
 *   match).  400s name the field and operator (details {field, operator}).
 *   lenient: the rules below, no cap.
 *
 * AUTH, NAMESPACES, ERRORS (every /v1 request)
 *   Authorization: Bearer <key>.  sk_test_alpha -> identity "alpha",
 *   sk_test_beta -> "beta", sk_test_gamma -> "gamma" (same data for all);
 *   sk_test_forbidden -> 403 AuthorizationError; missing/unknown -> 401
 *   AuthenticationError "Invalid or missing API key" (+ WWW-Authenticate).
 *   X-Namespace: required, as by the real API: absent -> 400 BadRequestError
 *   "X-Namespace header is required" (details {"header":"X-Namespace"}, after
 *   the auth check); "default" and "production" hold the same
 *   collections (col_articles, col_frames, col_big, col_weird); "empty" has none;
 *   "offset" holds the same collections too, paged by offset (see paging.js);
 *   anything else (including an empty value) -> 404 NotFoundError
 *   details {"resource":"namespace","id":<value>}.
 *   Errors: {"success":false,"status":N,"error":{"message","type","details"}}
 *   types: 400 BadRequestError, 401 AuthenticationError, 403 AuthorizationError,
 *   404 NotFoundError (details {"resource":"document"|"collection"|"namespace"|
 *   "route","id":...}), 405 MethodNotAllowedError, 409 ConflictError,
 *   413 PayloadTooLargeError, 429 TooManyRequestsError, 500 InternalServerError,
 *   501 NotImplementedError, 502 BadGatewayError, 503 ServiceUnavailableError,
 *   504 GatewayTimeoutError (other 4xx ClientError, other 5xx ServerError).
 *   422 uses FastAPI's shape: {"detail":[{"type","loc","msg","input",...}]}
 *   (bad limit, bad boolean query flag, body not JSON / not an object, wrongly
 *   typed body fields, bad sort direction).  Semantic errors in filters
 *   (unknown operator, bad regex, wrong value type) and bad cursors are 400.
 *   Malformed percent-encoding in the path -> 400.  Auth is checked before the
 *   namespace, the namespace before the route.  The API key is never echoed
 *   (except by the echo-key fault, on purpose).
 *
 * DATA
 *   col_articles (name "articles"): 20 documents from data/articles.json,
 *     10 flat-shaped, 10 nested-shaped (_internal.*).  doc_flat_0N / doc_nested_0N
 *     (N = 1..4) are the same facts in both shapes.  Others: doc_flat_05,
 *     doc_nested_05 (no word_count), doc_nested_06 (every user field null),
 *     and the awkward ids  doc/with/slash  doc?x=1&y=2  doc#frag  100%  ..  .
 *     ünïcødé-ид  a b  plus+sign.  Numbers are served exactly as written in
 *     the file (e.g. rating 4.123456789012345678, vector 1.0).
 *   col_frames (name "frames"): 4 nested documents, source_type "collection",
 *     pointing at col_articles documents (one at doc/with/slash); their
 *     document_blobs are at the root (the published examples show blobs both
 *     there and under _internal).
 *   col_big (name "big"): 100,000 generated documents doc_000000..doc_099999;
 *     even index flat, odd nested; category in news/sports/tech/science (i%4),
 *     word_count i%1000, cluster_id "cl_"+(i%50), taxonomy_topics_label one of
 *     5 (i%5), rating (i*7919%500)/100, published i%3!=0, tags [one of 7],
 *     created_at 2024-01-01T00:00:00Z + 37 s * i (flat: root; nested: _internal);
 *     published_at 2022-01-01T00:00:00.000Z + 1009.007 s * i (root, both shapes),
 *     views ((i*7919%100003)-20000)*900000, huge 2^47+i, weight
 *     ((i*7919%1000)-500)/16 (missing where i%1000<10, null where i%7=3, 0
 *     where i%1000<20) (for sums);
 *     every 10th has a thumbnail in document_blobs.  About 740 bytes each.
 *   col_weird (name `Weird "Name"; drop`): 2 documents (one per shape).
 *   Collections are addressed by id or by name.  Document ids are exact
 *   strings: each raw path segment is percent-decoded on its own, "." and ".."
 *   are never normalised, "+" stays "+".
 *   Vectors (4 numbers) only with return_vectors: a nested (current, v0.81)
 *   document has its vector at the root under the collection's feature name
 *   ("vector_name" in collections.json, e.g. text_extractor_v1_embedding), a
 *   flat one as "vector".  With return_url (GET ?return_url=true or
 *   ?return_presigned_urls=true; list body "return_url": true or
 *   "return_presigned_urls": true) every document_blobs entry (at the root or
 *   under _internal) gets a "presigned_url"; a flat document also gets a root
 *   "presigned_url" (primary source blob, null when there is none) and a root
 *   "presigned_urls" array of strings, as that shape had them.  Without it
 *   none of these fields appear.  URLs are deterministic.
 *
 * ENDPOINTS
 *   GET  /v1/collections/{collection}/documents/{document_id}
 *        ?return_url= ?return_presigned_urls= ?return_vectors=   -> 200 doc | 404
 *   POST /v1/collections/{collection}/documents/list?limit=N  (1..1000, default 10)
 *        [&offset=O (0..10000)][&include_total=true]
 *        body {filters, sort, select, cursor, return_url, return_vectors}
 *        -> {"results":[...],"pagination":{"next_cursor":s|null,"has_more":b},
 *            "stats":{"total_documents":<matches of the filter>}}
 *        pagination in the collection's style (paging.js): cursor (above, plus
 *        total, page, page_size, total_pages with include_total=true) or
 *        offset ({"has_more","limit","offset","total_count"}, no cursor).
 *        cursor: opaque (base64url JSON with position, page number and a hash of
 *        collection+filters+sort); also accepted as ?cursor=.  Malformed, or used
 *        with other filters/sort -> 400.  Unfiltered unsorted scans are O(page).
 *        filters: {"AND":[..],"OR":[..],"NOT":[..],"case_sensitive":b} nested at
 *        will; items are logical objects or {"field","operator","value"}; any
 *        other key K in a logical object is shorthand for K eq value.  All keys
 *        of one object are ANDed; NOT = none of its items hold; an empty OR
 *        adds no constraint.  case_sensitive defaults to false and is inherited.
 *        Operators (default eq): eq ne gt lt gte lte in nin contains starts_with
 *        ends_with regex exists is_null text.  Missing field: ne, nin true,
 *        is_null:true true, every other test false.  exists:true is true for a
 *        present null.  Numbers compare exactly as decimals (even beyond double
 *        precision), strings by UTF-8 byte order (lower-cased first unless
 *        case_sensitive), booleans false<true; a number never equals a string;
 *        arrays/objects compare by deep equality.  contains: substring of a
 *        string or element of an array; text: substring; regex: JavaScript
 *        syntax, unanchored, flag i when case-insensitive.  Timestamps are
 *        plain strings and compare as strings.
 *        sort: {"field","direction"} (an array is the contract's 422); null/missing last for
 *        asc, first for desc; ties by document_id ascending (byte order); mixed
 *        types ordered string < number < boolean < array < object.
 *        select: dotted paths; each result keeps document_id, collection_id and
 *        the selected paths with their nesting.
 *   POST /v1/collections/list?limit=N&cursor=C  (a cursor in the body is ignored)
 *        -> {"results":[{collection_id, collection_name, description,
 *            document_count, enabled, created_at, updated_at, input_schema,
 *            output_schema:{properties}, feature_extractor, source}],
 *            "pagination":{"next_cursor","has_more"},"total_count":n}
 *   GET  /v1/collections/{collection}  -> the collection object
 *   GET  /v1/collections/{collection}/documents/{document_id}/lineage
 *        -> the document's lineage facts in its own shape: flat {document_id,
 *        collection_id, root_object_id, ..., lineage_path, lineage_chain};
 *        nested {document_id, collection_id, _internal: {lineage: {...}}};
 *        chain steps are LineageStep {collection_id, feature_extractor_id,
 *        document_id?, timestamp} | 404 document / collection
 *   GET  /v1/objects/{object_id}/documents[?collection_ids=C&collection_ids=D]
 *        -> {"object_id","results":[documents whose root_object_id or
 *        source_object_id (flat or _internal.lineage) is object_id],"total"};
 *        collections in namespace order, documents in data order (col_big by
 *        its obj_big_NNNNNN ids); collection_ids by id or name, unknown -> 404
 *        collection; no paging (the API defines none); no object -> empty.
 *   Writes (create, PATCH, DELETE, batch update and delete) on writable
 *   scratch-* and writefault-* collections, with their faults: see writes.js.
 *   POST /v1/collections/{collection}/documents/aggregate: see aggregate.js.
 *   POST /v1/retrievers/list, POST /v1/retrievers/{retriever_id}/execute: see
 *        retrievers.js (retrievers over col_articles and col_big, faults by id).
 *   Other methods on known routes -> 405; unknown /v1 paths -> 404 (resource "route").
 *
 * FAULTS (col_faults exists in every valid namespace and needs no data)
 *   GET /v1/collections/col_faults/documents/{spec}, spec one of:
 *   status-<code>           (200..599) that status with the proper body (404: resource
 *                           "document"; 422: FastAPI shape; 3xx: Location header
 *                           pointing at .../col_faults/documents/redirected;
 *                           2xx: the normal small document; 204/304: no body)
 *   status-404-collection   404 resource "collection" (id col_faults)
 *   status-404-namespace    404 resource "namespace"
 *   status-429-retry-after-<secs>   429 with Retry-After: <secs> (plain status-429 has none)
 *   flaky-<code>-<n>-<token>  the first n requests for this exact spec answer like
 *                           status-<code> (429 adds Retry-After: 0), later ones the
 *                           normal document; counters cleared by POST /_mock/reset
 *   stall-<ms>              the normal document after <ms> (any <ms> here <= 3600000)
 *   stall-body-<ms>         headers (with the full Content-Length) and half the
 *                           body now, the rest after <ms>
 *   latency-<ms>            the normal document after <ms>
 *   invalid-json            200 application/json, body is not JSON
 *   non-object              200, a JSON array
 *   html                    200 text/html page
 *   empty                   200 application/json, Content-Length: 0
 *   truncated               Content-Length larger than the bytes sent, then FIN
 *   reset                   headers and part of the body, then a TCP reset
 *   huge-<mb>               200, chunked, one valid JSON document of about <mb> MiB
 *                           (<= 16384)
 *   gzip-bomb-<mb>          Content-Encoding: gzip (whatever Accept-Encoding says),
 *                           inflates to <mb> MiB of valid JSON (~1 KiB per MiB sent;
 *                           <= 4096; the first request for a size builds it, ~2 s
 *                           per GiB, later ones are served from a cache)
 *   gzip-doc                the normal document, gzip-encoded regardless
 *   deep-<n>                a document whose objects nest <n> levels (<= 10^7)
 *   invalid-utf8            the bytes 0xC3 0x28 inside a JSON string
 *   nul-escape              a string containing the escape \u0000
 *   echo-key                400 whose error.message and error.details.authorization
 *                           contain the Authorization header value as received
 *   big-number              big_int (40 digits), huge_exp 1e400,
 *                           precise 0.1000000000000000000001
 *   redirected              the normal document (target of the 3xx Location)
 *   Unknown specs -> 400.  The normal document is
 *   {"document_id":<spec>,"collection_id":"col_faults","ok":true}.
 *   POST /v1/collections/col_faults/documents/list -> an empty page.
 *
 *   Later-page faults: POST /v1/collections/faultpage-<k>-<spec>/documents/list?limit=N
 *   serves col_articles (filters, sort, select work) except page k (1-based,
 *   counted through the cursor) which answers with <spec>: same vocabulary;
 *   document-shaped faults (huge, gzip-bomb, deep, invalid-utf8, nul-escape,
 *   big-number) come wrapped as a one-result list page with next_cursor null;
 *   stall/latency/flaky/gzip-doc/stall-body/truncated/reset use the real page.
 *   flaky counters for pages are keyed by the whole collection segment.
 *   GET .../faultpage-<k>-<spec>/documents/{id} serves col_articles plainly.
 *
 * CONTROL (no auth, not under /v1, never delayed, never recorded)
 *   GET  /_mock/requests[?since=SEQ][&path_contains=S]  recorded /v1 requests,
 *        oldest first, at most the last 10,000: {"seq","method","path" (raw),
 *        "raw_query","query" ({k: v}, repeated keys -> array), "body" (parsed or
 *        null), "namespace" (the header, or null when absent), "identity" ("alpha",
 *        "beta", "gamma", "forbidden", or null when the key is missing/unknown;
 *        never the key), "accept_encoding", "user_agent",
 *        "headers" (all but Authorization), "received_ms" (ms since start),
 *        "answered_ms" (when the last byte of the answer was handed to the
 *        socket, null until then: a client sees its answer after this, so
 *        [received_ms, answered_ms] intervals show how many were in flight),
 *        "work_ms" (a list page's or an aggregate's: the time spent computing
 *        its answer, which the mock's one thread spends on no other request;
 *        else absent),
 *        "status" (null until answered), "aborted" (client left first)}
 *   POST /_mock/reset   clears the log, flaky counters and stats; config back to
 *                       the command-line values
 *   POST /_mock/config  {"latency_ms":N,"gzip":b,"record":b} (any subset) -> config.
 *                       latency_ms delays every /v1 response (and
 *                       latency_per_doc_us each list page, per document); gzip compresses
 *                       whole-body responses (documents, pages, error envelopes,
 *                       not streamed or raw faults) for clients that accept gzip
 *                       (Accept-Encoding gzip, x-gzip or *, q>0); record
 *                       turns the request log on/off.  GET /_mock/config reads it.
 *                       Also "gather": null (the default) or {"count":N,
 *                       "max_ms":T}: each /v1 request (before its latency)
 *                       waits until N are waiting, then all go on together;
 *                       one that waited T ms goes on alone (counted in
 *                       stats' gather_timeouts): tests that need requests
 *                       to overlap get it for certain, not by timing.
 *                       Also "rate_limit_headers": "pro" (limit 600, window
 *                       60), "free" (60, 60), null (the default: none sent,
 *                       as a client paces itself by them), or
 *                       {"limit":N,"window":S[,"remaining":N,"reset":S]}: every
 *                       /v1 answer carries X-RateLimit-Limit, -Remaining (limit
 *                       minus the key's requests in the current fixed window,
 *                       unless given), -Reset (seconds to the window's end,
 *                       unless given) and -Window.  Nothing is ever refused.
 *                       Also "pagination": {"<collection id or name>":
 *                       "cursor" | "offset"}: that collection's paging style
 *                       in every namespace (paging.js); reset empties it.
 *                       "rate_limit": "free" | "pro" | {...} | null (default)
 *                       enforces tier limits per key (test/mock/ratelimit.js
 *                       says how); its headers then replace these.
 *   GET  /_mock/stats   {"requests": /v1 requests, "connections": distinct TCP
 *                       connections that carried /v1 requests (a kept-alive one
 *                       counts again once after a reset), "accepted": every TCP
 *                       connection accepted (control ones too), "open_connections":
 *                       open now, "gather_timeouts" (requests that "gather"
 *                       let go alone), "rate_limit": {"refused": 429s by limit,
 *                       "inflight": per key}} since start/reset
 *   GET  /_mock/health  {"ok":true}
 *   GET  /_mock/violations  {"count":n,"violations":[{"n","direction":"request"|
 *                       "response","operation","method","path","raw_query","seq",
 *                       "status","problems":[{"loc","msg","input",...}]}]} (at most
 *                       1,000 kept, count is all); DELETE returns the same and
 *                       clears them.  /_mock/reset leaves them alone.
 *   POST /_mock/config  also takes "semantics" ("strict"|"lenient"; alone it resets
 *                       result_cap to that mode's default), "result_cap" (null or
 *                       1..10^9), "validate" (check answers, default true) and
 *                       "corrupt_responses" (break every checked 200 answer:
 *                       "results", else "document_id", else "collection_name"),
 *                       "indexed_fields" (null, or {"<collection id>": [fields]}
 *                       replacing those collections' indexed_fields of the data).
 *   POST /_mock/canned  {"name":s,"status":N,"body_base64":s[,"content_type":s]}
 *                       stores a response, served byte for byte (any bytes,
 *                       valid or not) by GET /v1/collections/col_canned/documents/<name>
 *                       and POST /v1/collections/canned-<name>/documents/list
 *                       (after the usual auth and namespace checks); unknown
 *                       names -> 404.  At most 10,000 entries; reset clears them.
 */
'use strict';

const http = require('http');
const zlib = require('zlib');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
let contract;
try {
  contract = require('./contract');
} catch (e) {
  if (e.code !== 'MODULE_NOT_FOUND') throw e;
  process.stderr.write('mixpeek-mock: ' + e.message.split('\n')[0] + '\n'
    + 'mixpeek-mock: the contract validator needs ajv: run test/deps.sh (npm ci in test/mock)\n');
  process.exit(2);
}

const paging = require('./paging');
const ratelimit = require('./ratelimit');

const DATA_DIR = path.join(__dirname, 'data');
const SEMANTICS = ['strict', 'lenient'];
/* "Document List: max 10,000 results per query" (Mixpeek's published limits) */
const STRICT_RESULT_CAP = 10000;
const defaultResultCap = (semantics) => (semantics === 'strict' ? STRICT_RESULT_CAP : null);
const MAX_BODY = 16 * 1024 * 1024;
const LOG_MAX = 10000;
const START = process.hrtime.bigint();

/* ------------------------------------------------------------------ args */

function usage(out) {
  out.write('usage: node mixpeek-mock.js [--port N] [--host 127.0.0.1] [--port-file PATH] [--latency-ms N] [--gzip]\n'
    + '                         [--semantics strict|lenient] [--result-cap N|none] [--no-validate]\n');
}

function die(msg) {
  process.stderr.write('mixpeek-mock: ' + msg + '\n');
  usage(process.stderr);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { port: 0, host: '127.0.0.1', portFile: null, latencyMs: 0, gzip: false,
    semantics: 'strict', resultCap: undefined, validate: true };
  for (let i = 0; i < argv.length; i++) {
    let name = argv[i];
    let val;
    const eq = name.indexOf('=');
    if (name.startsWith('--') && eq > 0) {
      val = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const need = () => {
      if (val !== undefined) return val;
      if (i + 1 >= argv.length) die(name + ' needs a value');
      return argv[++i];
    };
    const int = (s, lo, hi) => {
      if (!/^\d+$/.test(s) || +s < lo || +s > hi) die(`${name}: expected an integer in ${lo}..${hi}`);
      return +s;
    };
    switch (name) {
      case '--port': o.port = int(need(), 0, 65535); break;
      case '--host': o.host = need(); break;
      case '--port-file': o.portFile = need(); break;
      case '--latency-ms': o.latencyMs = int(need(), 0, 3600000); break;
      case '--gzip': o.gzip = true; break;
      case '--semantics':
        o.semantics = need();
        if (!SEMANTICS.includes(o.semantics)) die('--semantics: strict or lenient');
        break;
      case '--result-cap': { const v = need(); o.resultCap = v === 'none' ? null : int(v, 1, 1e9); break; }
      case '--no-validate': o.validate = false; break;
      case '-h': case '--help': usage(process.stdout); process.exit(0); break;
      default: die('unknown argument ' + name);
    }
  }
  // The mock has no real security; it must never be reachable from outside.
  if (o.host === 'localhost') o.host = '127.0.0.1';
  if (!(o.host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(o.host)))
    die('refusing to bind to non-loopback host ' + o.host);
  return o;
}

/* ------------------------------------------------- JSON with exact numbers */

/*
 * JSON.parse would round 4.123456789012345678 to a double, and the client's
 * job is precisely to keep every digit, so numbers whose text does not survive
 * a round trip through a double are kept as RawNumber and written back verbatim.
 */
class RawNumber {
  constructor(text) { this.text = text; this.value = Number(text); }
  toJSON() { return '\u0000rawnum:' + this.text + '\u0000'; }
}
const RAW_RE = /"\\u0000rawnum:([-+.0-9eE]+)\\u0000"/g;

function stringify(v) {
  const s = JSON.stringify(v);
  return s.indexOf('\\u0000rawnum:') >= 0 ? s.replace(RAW_RE, '$1') : s;
}

const NUM_RE = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const MAX_DEPTH = 2000;

function parseJSON(text) {
  let i = 0;
  const n = text.length;
  const fail = (msg) => {
    const e = new SyntaxError(`${msg} at position ${i}`);
    e.position = i;
    throw e;
  };
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++; else break;
    }
  };
  const str = () => {
    i++;
    let out = '';
    let start = i;
    for (;;) {
      if (i >= n) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 34) { out += text.slice(start, i); i++; return out; }
      if (c < 32) fail('control character in string');
      if (c !== 92) { i++; continue; }
      out += text.slice(start, i);
      const e = text[i + 1];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const h = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('bad \\u escape');
          out += String.fromCharCode(parseInt(h, 16));
          i += 4;
          break;
        }
        default: fail('bad escape');
      }
      i += 2;
      start = i;
    }
  };
  const value = (depth) => {
    if (depth > MAX_DEPTH) fail('nesting too deep');
    ws();
    if (i >= n) fail('unexpected end of input');
    const c = text[i];
    if (c === '{') {
      i++;
      const o = {};
      ws();
      if (text[i] === '}') { i++; return o; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a string key');
        const k = str();
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        const v = value(depth + 1);
        // A "__proto__" key must stay data, as with JSON.parse.
        if (k === '__proto__') Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
        else o[k] = v;
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return o; }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const a = [];
      ws();
      if (text[i] === ']') { i++; return a; }
      for (;;) {
        a.push(value(depth + 1));
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return a; }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    if (c === 't' && text.startsWith('true', i)) { i += 4; return true; }
    if (c === 'f' && text.startsWith('false', i)) { i += 5; return false; }
    if (c === 'n' && text.startsWith('null', i)) { i += 4; return null; }
    NUM_RE.lastIndex = i;
    const m = NUM_RE.exec(text);
    if (!m) fail('unexpected character');
    i += m[0].length;
    const num = Number(m[0]);
    return String(num) === m[0] ? num : new RawNumber(m[0]);
  };
  const v = value(0);
  ws();
  if (i < n) fail('unexpected data after the JSON value');
  return v;
}

/* ------------------------------------------------------------ comparison */

const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
const isNum = (v) => typeof v === 'number' || v instanceof RawNumber;
const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof RawNumber);

function decParse(t) {
  const m = /^([-+]?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/.exec(t);
  if (!m) return { sign: 0, digits: '', point: 0 };
  let digits = m[2] + (m[3] || '');
  let point = m[2].length + (m[4] ? Number(m[4]) : 0);
  let k = 0;
  while (k < digits.length && digits[k] === '0') k++;
  digits = digits.slice(k);
  point -= k;
  digits = digits.replace(/0+$/, '');
  if (digits === '') return { sign: 0, digits: '', point: 0 };
  return { sign: m[1] === '-' ? -1 : 1, digits, point };
}

/* Exact decimal comparison, so that filters agree with PostgreSQL's numeric. */
function numCmp(a, b) {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  const x = decParse(typeof a === 'number' ? String(a) : a.text);
  const y = decParse(typeof b === 'number' ? String(b) : b.text);
  if (x.sign !== y.sign) return x.sign < y.sign ? -1 : 1;
  if (x.sign === 0) return 0;
  let c;
  if (x.point !== y.point) c = x.point < y.point ? -1 : 1;
  else c = x.digits < y.digits ? -1 : x.digits > y.digits ? 1 : 0;
  return x.sign * c;
}

/*
 * UTF-16 code-unit order differs from UTF-8 byte order (= code point order,
 * PostgreSQL's "C" collation) only between surrogates and U+E000..U+FFFF;
 * remapping those two ranges gives the same result as Buffer.compare on the
 * UTF-8 encodings without allocating.
 */
function utf8Cmp(a, b) {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let k = 0; k < n; k++) {
    let x = a.charCodeAt(k);
    let y = b.charCodeAt(k);
    if (x === y) continue;
    if (x >= 0xD800) x = x < 0xE000 ? x + 0x2000 : x - 0x800;
    if (y >= 0xD800) y = y < 0xE000 ? y + 0x2000 : y - 0x800;
    return x - y;
  }
  return a.length - b.length;
}

const fold = (s) => s.toLowerCase();

function eqVal(a, b, ci) {
  if (isNum(a)) return isNum(b) && numCmp(a, b) === 0;
  if (typeof a === 'string') return typeof b === 'string' && (ci ? fold(a) === fold(b) : a === b);
  if (a === null || typeof a === 'boolean') return a === b;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let k = 0; k < a.length; k++) if (!eqVal(a[k], b[k], ci)) return false;
    return true;
  }
  if (!isPlainObject(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!hasOwn(b, k) || !eqVal(a[k], b[k], ci)) return false;
  return true;
}

/* NaN when the two values cannot be ordered, so every range test is false. */
function ordCmp(a, b, ci) {
  if (isNum(a) && isNum(b)) return numCmp(a, b);
  if (typeof a === 'string' && typeof b === 'string') return ci ? utf8Cmp(fold(a), fold(b)) : utf8Cmp(a, b);
  if (typeof a === 'boolean' && typeof b === 'boolean') return (a ? 1 : 0) - (b ? 1 : 0);
  return NaN;
}

const MISSING = Symbol('missing');

function splitPath(p) { return p.split('.'); }

function getPath(doc, parts) {
  let v = doc;
  for (let k = 0; k < parts.length; k++) {
    const p = parts[k];
    if (v === null || typeof v !== 'object' || v instanceof RawNumber) return MISSING;
    if (Array.isArray(v)) {
      if (!/^\d+$/.test(p) || +p >= v.length) return MISSING;
      v = v[+p];
    } else {
      if (!hasOwn(v, p)) return MISSING;
      v = v[p];
    }
  }
  return v;
}

/* ---------------------------------------------------------------- errors */

const ERROR_TYPES = {
  400: 'BadRequestError', 401: 'AuthenticationError', 403: 'AuthorizationError',
  404: 'NotFoundError', 405: 'MethodNotAllowedError', 409: 'ConflictError',
  413: 'PayloadTooLargeError', 429: 'TooManyRequestsError', 500: 'InternalServerError',
  501: 'NotImplementedError', 502: 'BadGatewayError', 503: 'ServiceUnavailableError',
  504: 'GatewayTimeoutError',
};
const ERROR_MESSAGES = {
  400: 'Bad request', 401: 'Invalid or missing API key', 403: 'API key is not allowed to access this resource',
  404: 'Not found', 405: 'Method not allowed', 409: 'Conflict', 413: 'Payload too large',
  429: 'Rate limit exceeded, please retry later', 500: 'Internal server error', 501: 'Not implemented',
  502: 'Bad gateway', 503: 'Service temporarily unavailable', 504: 'Gateway timeout',
};

class HttpError extends Error {
  constructor(status, bodyText, headers) {
    super('HTTP ' + status);
    this.status = status;
    this.bodyText = bodyText;
    this.headers = headers || {};
  }
}

function envelope(status, message, details) {
  const type = ERROR_TYPES[status] || (status >= 500 ? 'ServerError' : status >= 400 ? 'ClientError' : 'HTTPStatus');
  return stringify({
    success: false, status,
    error: { message: message || ERROR_MESSAGES[status] || `HTTP ${status}`, type, details: details === undefined ? null : details },
  });
}

const apiError = (status, message, details, headers) => new HttpError(status, envelope(status, message, details), headers);
const badRequest = (message, details) => apiError(400, message, details);
const notFound = (resource, id) =>
  apiError(404, `${resource[0].toUpperCase()}${resource.slice(1)} not found`, { resource, id });

function validation(items) {
  return new HttpError(422, stringify({ detail: items }));
}
const vErr = (loc, type, msg, input, ctx) => {
  const e = { type, loc, msg, input: input === undefined ? null : input };
  if (ctx) e.ctx = ctx;
  return e;
};

/* ------------------------------------------------------------ documents */

const URL_BASE = 'https://storage.mock.mixpeek.invalid/';

function presign(docId, url) {
  const sig = crypto.createHash('sha256').update(docId + '\n' + url).digest('hex').slice(0, 32);
  const key = url.replace(/^[a-z0-9]+:\/\//i, '');
  return `${URL_BASE}${key}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&X-Amz-Signature=${sig}`;
}

/*
 * The real API adds these only on request, so they are derived, not stored.
 * A document of the current shape (with _internal) gets its vector under
 * the collection's feature name and a presigned_url on each of its
 * document_blobs (at the root or under _internal); one of the older flat
 * shape gets them as that shape had them: a root vector, presigned_url and
 * presigned_urls.
 */
function withExtras(doc, vector, urls, vectors, vectorName) {
  const d = Object.assign({}, doc);
  const current = isPlainObject(d._internal);
  if (vectors && vector !== undefined) d[current ? vectorName || 'embedding' : 'vector'] = vector;
  if (!urls) return d;
  const all = [];
  const signBlobs = (blobs) => (!Array.isArray(blobs) ? blobs : blobs.map((b) => {
    if (!isPlainObject(b) || typeof b.url !== 'string') return b;
    const u = presign(doc.document_id, b.url);
    all.push(u);
    return Object.assign({}, b, { presigned_url: u });
  }));
  if (current) {
    d._internal = Object.assign({}, d._internal);
    if (d.document_blobs !== undefined) d.document_blobs = signBlobs(d.document_blobs);
    if (d._internal.document_blobs !== undefined) d._internal.document_blobs = signBlobs(d._internal.document_blobs);
    return d;
  }
  let primary = null;
  const src = Array.isArray(d.source_blobs) ? d.source_blobs : [];
  if (src.length && d.root_object_id) {
    primary = presign(doc.document_id, `s3://mixpeek-mock/objects/${d.root_object_id}/${src[0].blob_id}`);
    all.push(primary);
  }
  d.document_blobs = signBlobs(d.document_blobs);
  if (d.document_blobs === undefined) delete d.document_blobs;
  d.presigned_url = primary;
  d.presigned_urls = all;
  return d;
}

function setPath(out, parts, v) {
  let o = out;
  for (let k = 0; k < parts.length - 1; k++) {
    if (!isPlainObject(o[parts[k]])) o[parts[k]] = {};
    o = o[parts[k]];
  }
  o[parts[parts.length - 1]] = v;
}

/* selects: array of parts arrays, shortest first, so a whole object wins over its members. */
function project(doc, selects) {
  const out = { document_id: doc.document_id, collection_id: doc.collection_id };
  const taken = new Set();
  for (const parts of selects) {
    let covered = false;
    for (let k = 1; k < parts.length && !covered; k++) covered = taken.has(parts.slice(0, k).join('.'));
    if (covered) continue;
    const v = getPath(doc, parts);
    if (v === MISSING) continue;
    taken.add(parts.join('.'));
    setPath(out, parts, v);
  }
  return out;
}

class StaticCollection {
  constructor(meta, docs) {
    this.meta = meta;
    this.id = meta.collection_id;
    this.name = meta.collection_name;
    this.docs = [];
    this.vectors = [];
    this.texts = [];
    this.index = new Map();
    for (const full of docs) {
      const doc = {};
      for (const k of Object.keys(full)) if (k !== 'vector') doc[k] = full[k];
      this.index.set(doc.document_id, this.docs.length);
      this.docs.push(doc);
      this.vectors.push(full.vector);
      this.texts.push(Buffer.from(stringify(doc)));
    }
    this.size = this.docs.length;
  }
  idAt(i) { return this.docs[i].document_id; }
  docAt(i) { return this.docs[i]; }
  textAt(i) { return this.texts[i]; }
  vectorAt(i) { return this.vectors[i]; }
  indexOf(id) { const i = this.index.get(id); return i === undefined ? -1 : i; }
}

const BIG_N = 100000;
const BIG_BASE = Date.UTC(2024, 0, 1);
const BIG_PUBLISHED = Date.UTC(2022, 0, 1);
const BIG_CATS = ['news', 'sports', 'tech', 'science'];
const BIG_TOPICS = ['Technology', 'Culture', 'Science', 'Sports', 'Politics'];
const BIG_TAGS = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta'];
const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');

/*
 * Fields for sums and date groups: published_at (at the root in both shapes,
 * 2022-01-01 + 1009.007 s * i), views (integers of either sign up to 7.2e10:
 * every sum of them stays within 2^53), huge (2^47 + i: a hundred of them
 * add up past 2^53).
 */
function bigSums(i) {
  const d = {
    published_at: new Date(BIG_PUBLISHED + i * 1009007).toISOString(),
    views: ((i * 7919) % 100003 - 20000) * 900000,
    huge: 2 ** 47 + i,
  };
  // missing where word_count < 10, null in every 7th, 0 where word_count < 20
  if (i % 1000 >= 10) d.weight = i % 7 === 3 ? null : i % 1000 < 20 ? 0 : ((i * 7919) % 1000 - 500) / 16;
  return d;
}

/* Everything follows from the index, so any run (and any test) sees the same data. */
function bigDoc(i) {
  const pad = String(i).padStart(6, '0');
  const id = 'doc_' + pad;
  const obj = 'obj_big_' + pad;
  const created = iso(BIG_BASE + i * 37000);
  const chain = [{ collection_id: 'col_big', feature_extractor_id: 'text_extractor_v1' }];
  const sourceBlobs = [{ blob_id: 'blob_big_' + pad, blob_property: 'content', blob_type: 'text' }];
  const docBlobs = i % 10 === 0
    ? [{ field: 'thumbnail', role: 'thumbnail', type: 'image', url: `s3://mixpeek-mock/big/${id}.jpg` }] : [];
  const meta = { ingestion_status: 'COMPLETED' };
  const d = { document_id: id, collection_id: 'col_big' };
  if (i % 2 === 0) {
    Object.assign(d, {
      root_object_id: obj, root_bucket_id: 'bkt_big', source_type: 'bucket', source_object_id: obj,
      lineage_path: 'bkt_big/col_big', lineage_chain: chain, source_blobs: sourceBlobs,
      document_blobs: docBlobs, internal_metadata: meta, created_at: created,
    });
  } else {
    d._internal = {
      lineage: { root_object_id: obj, root_bucket_id: 'bkt_big', source_type: 'bucket', source_object_id: obj,
        path: 'bkt_big/col_big', chain },
      source_blobs: sourceBlobs, document_blobs: docBlobs, metadata: meta, created_at: created,
    };
  }
  Object.assign(d, {
    metadata: { title: `Document ${i}`, author: `A${i % 97}` },
    category: BIG_CATS[i % 4],
    word_count: i % 1000,
    rating: (i * 7919 % 500) / 100,
    published: i % 3 !== 0,
    tags: [BIG_TAGS[i % 7]],
    taxonomy_topics_label: BIG_TOPICS[i % 5],
    taxonomy_topics_score: (i * 31 % 100) / 100,
    cluster_id: 'cl_' + (i % 50),
    cluster_distance: (i * 17 % 1000) / 1000,
  });
  Object.assign(d, bigSums(i));
  return d;
}

class BigCollection {
  constructor(meta, n) {
    this.meta = meta;
    this.id = meta.collection_id;
    this.name = meta.collection_name;
    this.size = n;
    this.docs = new Array(n);
    this.texts = new Array(n);
  }
  idAt(i) { return 'doc_' + String(i).padStart(6, '0'); }
  docAt(i) { return this.docs[i] || (this.docs[i] = bigDoc(i)); }
  textAt(i) { return this.texts[i] || (this.texts[i] = Buffer.from(stringify(this.docAt(i)))); }
  vectorAt(i) { return [(i * 13 % 100) / 100, (i * 29 % 100) / 100, (i * 47 % 100) / 100, (i * 71 % 100) / 100]; }
  indexOf(id) {
    if (!/^doc_\d{6}$/.test(id)) return -1;
    const i = +id.slice(4);
    return i < this.size ? i : -1;
  }
}

function loadData() {
  const spec = parseJSON(fs.readFileSync(path.join(DATA_DIR, 'collections.json'), 'utf8'));
  const byId = new Map();
  for (const meta of spec.collections) {
    const col = meta.generated
      ? new BigCollection(meta, meta.generated)
      : new StaticCollection(meta, parseJSON(fs.readFileSync(path.join(DATA_DIR, meta.data), 'utf8')));
    byId.set(col.id, col);
  }
  const namespaces = new Map();
  for (const [ns, ids] of Object.entries(spec.namespaces)) namespaces.set(ns, ids.map((id) => byId.get(id)));
  return { byId, namespaces, namespacePagination: spec.namespace_pagination || {} };
}

/* --------------------------------------------------------------- filters */

const OPERATORS = new Set(['eq', 'ne', 'gt', 'lt', 'gte', 'lte', 'in', 'nin', 'contains',
  'starts_with', 'ends_with', 'regex', 'exists', 'is_null', 'text']);
const TRUE = () => true;

function isCondition(node) {
  return typeof node.field === 'string' && (hasOwn(node, 'operator') || hasOwn(node, 'value'))
    && !hasOwn(node, 'AND') && !hasOwn(node, 'OR') && !hasOwn(node, 'NOT');
}

/*
 * Strict semantics: the rules of the Qdrant filters the API documents its
 * list filters as ("native Qdrant format"), taking the stricter reading
 * wherever the API does not say which it keeps.
 */
const RANGE_OPS = new Set(['gt', 'gte', 'lt', 'lte']);
const EQUALITY_OPS = new Set(['eq', 'ne', 'in', 'nin']);
const RFC3339 = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:?\d{2})?)?$/;
const isDatetime = (v) => typeof v === 'string' && RFC3339.test(v) && !Number.isNaN(Date.parse(v));
/* Written with a fraction or an exponent: a float to Python's json, so no exact match in Qdrant. */
const isFloat = (v) => (typeof v === 'number' && !Number.isInteger(v)) || (v instanceof RawNumber && /[.eE]/.test(v.text));

function strictError(where, field, op, why) {
  return badRequest(`Unsupported filter at ${where}: ${why} (field "${field}", operator "${op}")`,
    { field, operator: op, reason: why });
}

/* The strict refusals of one condition: 400 before anything is matched. */
function strictCheck(where, field, op, v) {
  if (RANGE_OPS.has(op) && !isNum(v) && !isDatetime(v))
    throw strictError(where, field, op, 'range operators apply only to numbers and datetimes, not to strings, keywords or other values');
  if (EQUALITY_OPS.has(op) && (isFloat(v) || (Array.isArray(v) && v.some(isFloat))))
    throw strictError(where, field, op, 'exact match needs a keyword, an integer or a boolean; floating-point values cannot be matched exactly');
}

/* Range tests of strict mode: numbers with numbers, datetimes with datetimes, nothing else matches. */
function strictRange(get, v, test) {
  if (isNum(v)) return (d) => { const f = get(d); return isNum(f) && test(numCmp(f, v)); };
  const t = Date.parse(v);
  return (d) => { const f = get(d); return isDatetime(f) && test(Math.sign(Date.parse(f) - t)); };
}

function compileCondition(node, ci, where) {
  const field = node.field;
  if (typeof field !== 'string' || field === '') throw badRequest(`${where}: "field" must be a non-empty string`);
  const op = node.operator === undefined || node.operator === null ? 'eq' : node.operator;
  if (typeof op !== 'string' || !OPERATORS.has(op))
    throw badRequest(`${where}: unknown filter operator ${JSON.stringify(op)}`, { operator: op, allowed: [...OPERATORS] });
  if (!hasOwn(node, 'value')) throw badRequest(`${where}: "value" is required`);
  const v = node.value;
  const parts = splitPath(field);
  const get = (d) => getPath(d, parts);
  const strict = config.semantics === 'strict';
  if (strict) {
    strictCheck(where, field, op, v);
    if (RANGE_OPS.has(op)) {
      const tests = { gt: (c) => c > 0, gte: (c) => c >= 0, lt: (c) => c < 0, lte: (c) => c <= 0 };
      return strictRange(get, v, tests[op]);
    }
    // is_null matches an explicit null only; a missing field is what is_empty would match
    if (op === 'is_null') {
      if (typeof v !== 'boolean') throw badRequest(`${where}: operator ${op} needs a boolean value`);
      return (d) => (get(d) === null) === v;
    }
  }
  const needStr = () => { if (typeof v !== 'string') throw badRequest(`${where}: operator ${op} needs a string value`); };
  const needBool = () => { if (typeof v !== 'boolean') throw badRequest(`${where}: operator ${op} needs a boolean value`); };
  const needArr = () => { if (!Array.isArray(v)) throw badRequest(`${where}: operator ${op} needs an array value`); };
  const cmp = (test) => (d) => { const f = get(d); return f !== MISSING && test(ordCmp(f, v, ci)); };
  switch (op) {
    case 'eq': return (d) => { const f = get(d); return f !== MISSING && eqVal(f, v, ci); };
    case 'ne': return (d) => { const f = get(d); return f === MISSING || !eqVal(f, v, ci); };
    case 'gt': return cmp((c) => c > 0);
    case 'gte': return cmp((c) => c >= 0);
    case 'lt': return cmp((c) => c < 0);
    case 'lte': return cmp((c) => c <= 0);
    case 'in': {
      needArr();
      // strings through a set: an id lookup sends up to 1,000 of them
      const strs = new Set(v.filter((x) => typeof x === 'string').map((x) => (ci ? fold(x) : x)));
      return (d) => {
        const f = get(d);
        if (f === MISSING) return false;
        if (typeof f === 'string') return strs.has(ci ? fold(f) : f);
        return v.some((x) => eqVal(f, x, ci));
      };
    }
    case 'nin': needArr(); return (d) => { const f = get(d); return f === MISSING || !v.some((x) => eqVal(f, x, ci)); };
    case 'contains': {
      const sv = typeof v === 'string' && ci ? fold(v) : v;
      return (d) => {
        const f = get(d);
        if (typeof f === 'string') return typeof v === 'string' && (ci ? fold(f) : f).includes(sv);
        if (Array.isArray(f)) return f.some((x) => eqVal(x, v, ci));
        return false;
      };
    }
    case 'text': {
      needStr();
      const sv = ci ? fold(v) : v;
      return (d) => { const f = get(d); return typeof f === 'string' && (ci ? fold(f) : f).includes(sv); };
    }
    case 'starts_with': case 'ends_with': {
      needStr();
      const sv = ci ? fold(v) : v;
      const m = op === 'starts_with' ? 'startsWith' : 'endsWith';
      return (d) => { const f = get(d); return typeof f === 'string' && (ci ? fold(f) : f)[m](sv); };
    }
    case 'regex': {
      needStr();
      let re;
      try { re = new RegExp(v, ci ? 'i' : ''); } catch (e) { throw badRequest(`${where}: invalid regex: ${e.message}`); }
      return (d) => { const f = get(d); return typeof f === 'string' && re.test(f); };
    }
    case 'exists': needBool(); return (d) => (get(d) !== MISSING) === v;
    case 'is_null': needBool(); return (d) => { const f = get(d); return (f === MISSING || f === null) === v; };
  }
  throw badRequest(`${where}: unknown filter operator`);
}

function compileFilter(node, ci, where) {
  if (node === null || node === undefined) return TRUE;
  if (!isPlainObject(node)) throw badRequest(`${where}: a filter must be an object`);
  if (isCondition(node)) return compileCondition(node, ci, where);
  if (hasOwn(node, 'case_sensitive') && node.case_sensitive !== null) {
    if (typeof node.case_sensitive !== 'boolean') throw badRequest(`${where}.case_sensitive must be a boolean`);
    ci = !node.case_sensitive;
  }
  const preds = [];
  for (const k of Object.keys(node)) {
    const v = node[k];
    if (k === 'case_sensitive') continue;
    if (k === 'AND' || k === 'OR' || k === 'NOT') {
      if (v === null) continue;
      if (!Array.isArray(v)) throw badRequest(`${where}.${k} must be an array`);
      const subs = v.map((it, idx) => compileFilter(it, ci, `${where}.${k}[${idx}]`));
      if (k === 'AND') preds.push((d) => subs.every((p) => p(d)));
      else if (k === 'OR') { if (subs.length) preds.push((d) => subs.some((p) => p(d))); }
      else preds.push((d) => !subs.some((p) => p(d)));
    } else {
      preds.push(compileCondition({ field: k, operator: 'eq', value: v }, ci, `${where}.${k}`));
    }
  }
  if (preds.length === 0) return TRUE;
  if (preds.length === 1) return preds[0];
  return (d) => preds.every((p) => p(d));
}

/* ------------------------------------------------------------------ sort */

function parseSort(sort) {
  if (sort === null || sort === undefined) return [];
  const items = Array.isArray(sort) ? sort : [sort];
  return items.map((s, k) => {
    const loc = Array.isArray(sort) ? ['body', 'sort', k] : ['body', 'sort'];
    if (!isPlainObject(s)) throw validation([vErr(loc, 'model_attributes_type', 'Input should be a valid dictionary or object', s)]);
    if (typeof s.field !== 'string' || s.field === '')
      throw validation([vErr(loc.concat('field'), 'missing', 'Field required', s)]);
    const dir = s.direction === undefined || s.direction === null ? 'asc' : s.direction;
    if (dir !== 'asc' && dir !== 'desc')
      throw validation([vErr(loc.concat('direction'), 'enum', "Input should be 'asc' or 'desc'", dir, { expected: "'asc' or 'desc'" })]);
    return { field: s.field, parts: splitPath(s.field), desc: dir === 'desc' };
  });
}

/* Always indexed by the API: the id and the timestamps (in both document shapes). */
const ALWAYS_INDEXED = ['document_id', 'created_at', 'updated_at', '_internal.created_at', '_internal.updated_at'];

/* The collection's indexed fields: config.indexed_fields[id] when set, else its data's. */
function indexedFields(col) {
  const own = config.indexed_fields && hasOwn(config.indexed_fields, col.id)
    ? config.indexed_fields[col.id] : col.meta.indexed_fields || [];
  return ALWAYS_INDEXED.concat(own.filter((f) => !ALWAYS_INDEXED.includes(f)));
}

/* Strict: ordering needs a payload index on the field, as in Qdrant. */
function checkSortIndexed(col, keys) {
  const indexed = indexedFields(col);
  for (const k of keys) {
    if (!indexed.includes(k.field)) {
      throw badRequest(`Cannot sort by "${k.field}": the field has no payload index in collection ${col.id}`
        + ` (operator "sort"; indexed: ${indexed.join(', ')})`, { field: k.field, operator: 'sort', indexed_fields: indexed });
    }
  }
}

function rank(v) {
  if (typeof v === 'string') return 0;
  if (isNum(v)) return 1;
  if (typeof v === 'boolean') return 2;
  if (Array.isArray(v)) return 3;
  return 4;
}

function sortValCmp(a, b) {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 0: return utf8Cmp(a, b);
    case 1: return numCmp(a, b);
    case 2: return (a ? 1 : 0) - (b ? 1 : 0);
    default: return utf8Cmp(stringify(a), stringify(b));
  }
}

const orderCache = new Map();
const ORDER_CACHE_MAX = 32;

/* A permutation of the collection per sort spec, so deep pages cost O(page), not a re-sort. */
function sortedOrder(col, keys) {
  const cacheKey = col.id + '\n' + keys.map((k) => k.field + (k.desc ? ' desc' : ' asc')).join('\n');
  let order = orderCache.get(cacheKey);
  if (order) return order;
  const items = new Array(col.size);
  for (let i = 0; i < col.size; i++) {
    const d = col.docAt(i);
    items[i] = { i, id: col.idAt(i), k: keys.map((s) => getPath(d, s.parts)) };
  }
  items.sort((x, y) => {
    for (let j = 0; j < keys.length; j++) {
      const a = x.k[j];
      const b = y.k[j];
      const an = a === MISSING || a === null;
      const bn = b === MISSING || b === null;
      if (an || bn) {
        if (an && bn) continue;
        const c = an ? 1 : -1;
        return keys[j].desc ? -c : c;
      }
      const c = sortValCmp(a, b);
      if (c !== 0) return keys[j].desc ? -c : c;
    }
    return utf8Cmp(x.id, y.id);
  });
  order = Int32Array.from(items, (x) => x.i);
  if (orderCache.size >= ORDER_CACHE_MAX) orderCache.delete(orderCache.keys().next().value);
  orderCache.set(cacheKey, order);
  return order;
}

const countCache = new Map();

/*
 * How many results a page may hold when `served` were on the earlier pages
 * of the same query: the API ends a list query at result_cap results in all,
 * whatever is left (its total still counts every match).
 */
function pageRoom(limit, served) {
  if (config.result_cap === null) return limit;
  return Math.max(0, Math.min(limit, config.result_cap - served));
}

/* ---------------------------------------------------------------- cursors */

const b64 = (s) => Buffer.from(s).toString('base64url');

function encodeCursor(o) { return b64(JSON.stringify(o)); }

function decodeCursor(s, kind) {
  let o;
  try {
    if (typeof s !== 'string' || !/^[A-Za-z0-9_-]+$/.test(s)) throw new Error();
    o = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch (e) {
    throw badRequest('Invalid cursor', { cursor: typeof s === 'string' ? s.slice(0, 200) : s });
  }
  if (!isPlainObject(o) || o.v !== 1 || o.k !== kind || !Number.isInteger(o.p) || o.p < 0)
    throw badRequest('Invalid cursor', { cursor: s.slice(0, 200) });
  return o;
}

const queryHash = (parts) => crypto.createHash('sha1').update(stringify(parts)).digest('base64url').slice(0, 12);

/* ----------------------------------------------------------------- state */

const opts = parseArgs(process.argv.slice(2));
const DATA = loadData();
const ARTICLES = DATA.byId.get('col_articles');
const KEYS = new Map([['sk_test_alpha', 'alpha'], ['sk_test_beta', 'beta'], ['sk_test_gamma', 'gamma']]);
const FORBIDDEN_KEY = 'sk_test_forbidden';

const initialConfig = () => ({
  latency_ms: opts.latencyMs, latency_per_doc_us: 0, gzip: opts.gzip, record: true, rate_limit_headers: null, rate_limit: null, pagination: {},
  semantics: opts.semantics,
  result_cap: opts.resultCap !== undefined ? opts.resultCap : defaultResultCap(opts.semantics),
  validate: opts.validate, corrupt_responses: false, indexed_fields: null, gather: null,
});
const limiter = ratelimit.create();
let config = initialConfig();
const RATE_TIERS = { free: { limit: 60, window: 60 }, pro: { limit: 600, window: 60 } };
let rateWindows = new Map();	/* identity -> {start (ms), count} */

/* The X-RateLimit-* headers of config.rate_limit_headers, counting this request. */
function setRateLimitHeaders(ctx, identity) {
  const c = config.rate_limit_headers;
  if (c === null) return;
  const t = typeof c === 'string' ? RATE_TIERS[c] : c;
  const now = Date.now();
  const winMs = t.window * 1000;
  const start = Math.floor(now / winMs) * winMs;
  let w = rateWindows.get(identity);
  if (!w || w.start !== start) { w = { start, count: 0 }; rateWindows.set(identity, w); }
  w.count++;
  ctx.res.setHeader('X-RateLimit-Limit', String(t.limit));
  ctx.res.setHeader('X-RateLimit-Remaining', String(t.remaining !== undefined ? t.remaining : Math.max(0, t.limit - w.count)));
  ctx.res.setHeader('X-RateLimit-Reset', String(t.reset !== undefined ? t.reset : Math.ceil((start + winMs - now) / 1000)));
  ctx.res.setHeader('X-RateLimit-Window', String(t.window));
}

function validRateLimit(v) {
  if (v === null || (typeof v === 'string' && RATE_TIERS[v])) return true;
  const int = (x, min) => Number.isInteger(x) && x >= min && x <= 1e9;
  return isPlainObject(v) && int(v.limit, 0) && int(v.window, 1) &&
    (v.remaining === undefined || int(v.remaining, 0)) && (v.reset === undefined || int(v.reset, 0)) &&
    Object.keys(v).every((k) => ['limit', 'window', 'remaining', 'reset'].includes(k));
}
let requestLog = [];
let seq = 0;
const VIOLATIONS_MAX = 1000;
let violations = [];		/* contract violations, kept until DELETE /_mock/violations */
let violationCount = 0;
let flaky = new Map();
let canned = new Map();		/* name -> {status, body (Buffer), contentType} */
let stats = { requests: 0, connections: 0, accepted: 0, gather_timeouts: 0 };
let epoch = 0;
let openConnections = 0;
const gzipCache = new Map();
const GZIP_CACHE_MAX = 200000;

/* Write endpoints and writable collections: see writes.js. */
const writes = require('./writes').install({
  apiError, notFound, validation, vErr, badRequest, stringify, isPlainObject, send, parseBodyObject, sleep,
  orderCache, countCache, gzipCache,
});

/* --------------------------------------------------------------- helpers */

function parseQuery(raw) {
  const q = Object.create(null);
  if (!raw) return q;
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = decodeURIComponent((eq < 0 ? part : part.slice(0, eq)).replace(/\+/g, ' '));
    const v = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1).replace(/\+/g, ' '));
    if (k in q) q[k] = [].concat(q[k], v); else q[k] = v;
  }
  return q;
}

const lastOf = (v) => (Array.isArray(v) ? v[v.length - 1] : v);

function queryBool(q, name) {
  let v = lastOf(q[name]);
  if (v === undefined) return false;
  v = v.toLowerCase();
  if (['true', '1', 'yes', 'on', 't', 'y'].includes(v)) return true;
  if (['false', '0', 'no', 'off', 'f', 'n'].includes(v)) return false;
  throw validation([vErr(['query', name], 'bool_parsing', 'Input should be a valid boolean, unable to interpret input', lastOf(q[name]))]);
}

function queryLimit(q) {
  const raw = lastOf(q.limit);
  if (raw === undefined) return 10;
  if (!/^\s*[-+]?\d+\s*$/.test(raw))
    throw validation([vErr(['query', 'limit'], 'int_parsing', 'Input should be a valid integer, unable to parse string as an integer', raw)]);
  const n = Number(raw);
  if (n < 1) throw validation([vErr(['query', 'limit'], 'greater_than_equal', 'Input should be greater than or equal to 1', raw, { ge: 1 })]);
  if (n > 1000) throw validation([vErr(['query', 'limit'], 'less_than_equal', 'Input should be less than or equal to 1000', raw, { le: 1000 })]);
  return n;
}

function parseBodyObject(ctx) {
  const text = ctx.bodyText;
  if (text === null || /^\s*$/.test(text)) return {};
  let v;
  try {
    v = parseJSON(text);
  } catch (e) {
    throw validation([vErr(['body', e.position || 0], 'json_invalid', 'JSON decode error', {}, { error: e.message })]);
  }
  if (v === null) return {};
  if (!isPlainObject(v)) throw validation([vErr(['body'], 'model_attributes_type', 'Input should be a valid dictionary or object to extract fields from', v)]);
  return v;
}

/* A body flag as pydantic reads it (the contract check has refused what it cannot read). */
function bodyBool(body, name) {
  const v = body[name];
  if (v === undefined || v === null) return false;
  if (typeof v === 'string') return ['1', 'on', 't', 'true', 'y', 'yes'].includes(v.toLowerCase());
  if (typeof v === 'number') return v === 1;
  if (typeof v !== 'boolean') throw validation([vErr(['body', name], 'bool_type', 'Input should be a valid boolean', v)]);
  return v;
}

function acceptsGzip(header) {
  if (!header) return false;
  for (const part of header.split(',')) {
    const [name, ...params] = part.trim().split(';');
    const n = name.trim().toLowerCase();
    if (n !== 'gzip' && n !== '*' && n !== 'x-gzip') continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (q && Number(q.slice(2)) === 0) continue;
    return true;
  }
  return false;
}

function sleep(ctx, ms) {
  return new Promise((resolve) => {
    if (ms <= 0 || ctx.closed) return resolve();
    const t = setTimeout(resolve, ms);
    ctx.onClose.push(() => { clearTimeout(t); resolve(); });
  });
}

/*
 * config.gather {"count": N, "max_ms": T}: each /v1 request is held until N
 * requests are held together, then all of them go on at once; one held T ms
 * without its group filling goes on alone (stats.gather_timeouts counts it).
 * A client that sends N requests at once so has N in flight at the mock
 * however slow the machine, and one that sends them one by one waits T each.
 */
let gathering = [];
function gather(ctx, g) {
  return new Promise((resolve) => {
    if (ctx.closed) return resolve();
    const w = { timer: null };
    const go = () => { clearTimeout(w.timer); gathering = gathering.filter((x) => x !== w); resolve(); };
    w.go = go;
    w.timer = setTimeout(() => { stats.gather_timeouts++; go(); }, g.max_ms);
    ctx.onClose.push(go);
    gathering.push(w);
    if (gathering.length >= g.count) for (const x of gathering.slice()) x.go();
  });
}

function finishLog(ctx, status) {
  ctx.status = status;
  if (ctx.entry) ctx.entry.status = status;
}

/* A value short enough for a log line: long ones become a cut JSON text. */
function clip(v) {
  const t = v === undefined ? 'null' : stringify(v);
  return t.length <= 500 ? v : t.slice(0, 500) + '...';
}

/* Kept for GET /_mock/violations and logged; a reset does not clear them. */
function recordViolation(ctx, direction, problems, status) {
  violationCount++;
  const v = {
    n: violationCount, direction, operation: ctx.contract && ctx.contract.op, method: ctx.req.method,
    path: ctx.rawPath, raw_query: ctx.rawQuery, seq: ctx.entry ? ctx.entry.seq : null, status: status === undefined ? null : status,
    problems: problems.map((p) => Object.assign({}, p, { input: clip(p.input) })),
  };
  if (violations.length < VIOLATIONS_MAX) violations.push(v);
  process.stderr.write('mixpeek-mock: contract violation: ' + stringify(v) + '\n');
}

/* Mismatches of the request with the operation it names: all recorded, the 422 ones answered. */
function checkRequestContract(ctx) {
  ctx.contract = contract.checkRequest({
    method: ctx.req.method, rawPath: ctx.rawPath, query: ctx.query, headers: ctx.req.headers, bodyText: ctx.bodyText,
  });
  const c = ctx.contract;
  if (c.unprocessable.length || c.notes.length) recordViolation(ctx, 'request', c.unprocessable.concat(c.notes));
}

/*
 * A body the mock is about to send for an operation of the API: broken on
 * purpose when corrupt_responses is set (to prove that the check bites),
 * then validated against the operation's response schema for the status.
 * Faults and canned answers are wrong on purpose and are not checked.
 */
function checkAnswer(ctx, status, contentType, body) {
  if (!ctx.contract || !ctx.contract.op || ctx.fault) return body;
  if (config.corrupt_responses && status === 200) {
    let v = null;
    try { v = JSON.parse(body); } catch (e) { /* not JSON: the validation below says so */ }
    if (isPlainObject(v)) {
      if (hasOwn(v, 'results')) v.results = 'corrupted';
      else if (hasOwn(v, 'document_id')) v.document_id = 0;
      else if (hasOwn(v, 'collection_name')) v.collection_name = null;
      body = JSON.stringify(v);
    }
  }
  if (config.validate) {
    const problems = contract.checkResponse(ctx.contract.op, status, contentType, body);
    if (problems.length) recordViolation(ctx, 'response', problems, status);
  }
  return body;
}

/*
 * Every normal answer goes through here; gzip (when configured and accepted)
 * runs on the thread pool so a busy benchmark does not stall the event loop.
 */
function send(ctx, status, body, headers, options) {
  if (ctx.closed) return;
  headers = headers || {};
  if (!headers['Content-Type']) headers['Content-Type'] = 'application/json';
  body = checkAnswer(ctx, status, headers['Content-Type'], body);
  finishLog(ctx, status);
  const noBody = status === 204 || status === 304;
  if (!noBody && config.gzip && ctx.isApi && ctx.gzipOk && !(options && options.noGzip)) {
    const cacheKey = options && options.cacheKey;
    const done = (buf) => {
      if (ctx.closed) return;
      headers['Content-Encoding'] = 'gzip';
      headers.Vary = 'Accept-Encoding';
      headers['Content-Length'] = buf.length;
      ctx.res.writeHead(status, headers);
      ctx.res.end(buf);
    };
    const cached = cacheKey && gzipCache.get(cacheKey);
    if (cached) return done(cached);
    zlib.gzip(typeof body === 'string' ? Buffer.from(body) : body, (err, buf) => {
      if (err) { headers['Content-Length'] = Buffer.byteLength(body); ctx.res.writeHead(status, headers); ctx.res.end(body); return; }
      if (cacheKey && gzipCache.size < GZIP_CACHE_MAX) gzipCache.set(cacheKey, buf);
      done(buf);
    });
    return;
  }
  if (noBody) { ctx.res.writeHead(status, headers); ctx.res.end(); return; }
  headers['Content-Length'] = Buffer.byteLength(body);
  ctx.res.writeHead(status, headers);
  ctx.res.end(body);
}

function sendError(ctx, err) {
  send(ctx, err.status, err.bodyText, Object.assign({}, err.headers));
}

/* ---------------------------------------------------------------- faults */

const FAULT_COLLECTION = 'col_faults';
const LIST_OPEN = Buffer.from('{"results":[');
const COMMA = Buffer.from(',');
const LIST_END = '],"pagination":{"next_cursor":null,"has_more":false},"stats":{"total_documents":1}}';

/*
 * A fault renders either as a document (GET) or as a one-result list page,
 * so a client's size or depth limits are what fail, not the page's shape.
 */
function wrapper(mode) {
  return mode === 'list' ? { pre: '{"results":[', post: LIST_END } : { pre: '', post: '' };
}

function statusResponse(ctx, code, opts2) {
  const headers = {};
  if (code === 429 && opts2.retryAfter !== undefined) headers['Retry-After'] = String(opts2.retryAfter);
  if (code === 422) {
    return send(ctx, 422, stringify({ detail: [vErr(['path', 'document_id'], 'value_error', 'Value error, injected validation failure', opts2.id)] }), headers);
  }
  if (code === 404) {
    const res = opts2.resource || 'document';
    const id = res === 'namespace' ? ctx.namespace : res === 'collection' ? opts2.collection : opts2.id;
    return send(ctx, 404, envelope(404, `${res[0].toUpperCase()}${res.slice(1)} not found`, { resource: res, id }), headers);
  }
  if (code >= 200 && code < 300) return send(ctx, code, opts2.normal, headers);
  if (code >= 300 && code < 400) {
    headers.Location = `/v1/collections/${FAULT_COLLECTION}/documents/redirected`;
    return send(ctx, code, envelope(code, `Redirect (${code})`, { location: headers.Location }), headers);
  }
  if (code === 401) headers['WWW-Authenticate'] = 'Bearer';
  return send(ctx, code, envelope(code, undefined, null), headers);
}

function rawHead(status, reason, headers) {
  let s = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (const [k, v] of Object.entries(headers)) s += `${k}: ${v}\r\n`;
  return s + '\r\n';
}

async function streamHuge(ctx, mb, mode, spec) {
  const w = wrapper(mode);
  const res = ctx.res;
  finishLog(ctx, 200);
  res.writeHead(200, { 'Content-Type': 'application/json' });
  const total = mb * 1048576;
  const head = `${w.pre}{"document_id":${JSON.stringify(spec)},"collection_id":"${FAULT_COLLECTION}","ok":true,"padding":[`;
  const elem = '"' + 'x'.repeat(1020) + '"';
  const block = Buffer.from((elem + ',').repeat(64));
  let sent = 0;
  res.write(head);
  sent += head.length;
  while (sent + block.length < total) {
    if (ctx.closed) return;
    if (!res.write(block)) await new Promise((r) => { res.once('drain', r); ctx.onClose.push(r); });
    sent += block.length;
  }
  if (!ctx.closed) res.end(elem + ']}' + w.post);
}

const bombCache = new Map();

/* Built once per size on zlib's thread pool; a 1 GiB bomb is about 1 MiB on the wire. */
function gzipBomb(mb, mode, spec) {
  const key = mode + ':' + mb + ':' + spec;
  let p = bombCache.get(key);
  if (p) return p;
  p = new Promise((resolve, reject) => {
    const w = wrapper(mode);
    const gz = zlib.createGzip({ level: 9 });
    const out = [];
    gz.on('data', (c) => out.push(c));
    gz.on('end', () => resolve(Buffer.concat(out)));
    gz.on('error', reject);
    const head = `${w.pre}{"document_id":${JSON.stringify(spec)},"collection_id":"${FAULT_COLLECTION}","padding":"`;
    const tail = '"}' + w.post;
    let left = Math.max(0, mb * 1048576 - Buffer.byteLength(head) - Buffer.byteLength(tail));
    const chunk = Buffer.alloc(1048576, 'a');
    gz.write(head);
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!gz.write(n === chunk.length ? chunk : chunk.subarray(0, n))) { gz.once('drain', pump); return; }
      }
      gz.end(tail);
    };
    pump();
  });
  if (bombCache.size >= 4) bombCache.delete(bombCache.keys().next().value);
  bombCache.set(key, p);
  return p;
}

/*
 * mode: 'get' or 'list'; normal: the body of the successful answer (the small
 * fault document, or the real list page); flakyKey: what flaky counts on.
 */
async function serveFault(ctx, spec, mode, normal, flakyKey, collectionSeg) {
  ctx.fault = true;
  const w = wrapper(mode);
  const wrapDoc = (docText) => w.pre + docText + w.post;
  const common = { id: spec, collection: collectionSeg, normal };
  let m;
  if ((m = /^status-(\d{3})$/.exec(spec))) {
    const code = +m[1];
    if (code < 200 || code > 599) throw badRequest(`fault status out of range: ${code}`);
    return statusResponse(ctx, code, common);
  }
  if ((m = /^status-404-(collection|namespace|document)$/.exec(spec)))
    return statusResponse(ctx, 404, Object.assign({}, common, { resource: m[1] }));
  if ((m = /^status-429-retry-after-(\d+)$/.exec(spec)))
    return statusResponse(ctx, 429, Object.assign({}, common, { retryAfter: +m[1] }));
  if ((m = /^flaky-(\d{3})-(\d+)-(.+)$/.exec(spec))) {
    const code = +m[1];
    if (code < 200 || code > 599) throw badRequest(`fault status out of range: ${code}`);
    const count = (flaky.get(flakyKey) || 0) + 1;
    flaky.set(flakyKey, count);
    if (count <= +m[2]) return statusResponse(ctx, code, Object.assign({}, common, code === 429 ? { retryAfter: 0 } : {}));
    return send(ctx, 200, normal);
  }
  if ((m = /^(stall|latency)-(\d+)$/.exec(spec))) {
    await sleep(ctx, Math.min(+m[2], 3600000));
    return send(ctx, 200, normal);
  }
  if ((m = /^stall-body-(\d+)$/.exec(spec))) {
    const buf = Buffer.from(normal);
    const half = buf.length >> 1;
    finishLog(ctx, 200);
    ctx.res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': buf.length });
    ctx.res.write(buf.subarray(0, half));
    await sleep(ctx, Math.min(+m[1], 3600000));
    if (!ctx.closed) ctx.res.end(buf.subarray(half));
    return;
  }
  if ((m = /^huge-(\d+)$/.exec(spec))) {
    if (+m[1] > 16384) throw badRequest('huge: at most 16384 MiB');
    return streamHuge(ctx, +m[1], mode, spec);
  }
  if ((m = /^gzip-bomb-(\d+)$/.exec(spec))) {
    if (+m[1] > 4096) throw badRequest('gzip-bomb: at most 4096 MiB');
    const buf = await gzipBomb(+m[1], mode, spec);
    return send(ctx, 200, buf, { 'Content-Encoding': 'gzip' }, { noGzip: true });
  }
  if ((m = /^deep-(\d+)$/.exec(spec))) {
    const n = +m[1];
    if (n > 10000000) throw badRequest('deep: at most 10000000 levels');
    const inner = n > 1 ? ',"nested":' + '{"n":'.repeat(n - 2) + '{}' + '}'.repeat(n - 2) : '';
    return send(ctx, 200, wrapDoc(`{"document_id":${JSON.stringify(spec)},"collection_id":"${FAULT_COLLECTION}"${inner}}`));
  }
  switch (spec) {
    case 'redirected':
      return send(ctx, 200, normal);
    case 'invalid-json':
      return send(ctx, 200, `{"document_id": "invalid-json", "collection_id": "${FAULT_COLLECTION}", "ok": tru, }`);
    case 'non-object':
      return send(ctx, 200, `[{"document_id":"non-object","collection_id":"${FAULT_COLLECTION}"}]`);
    case 'html':
      return send(ctx, 200, '<!DOCTYPE html>\n<html><head><title>Welcome</title></head><body><h1>It works!</h1>'
        + '<p>This is not the JSON you are looking for.</p></body></html>\n', { 'Content-Type': 'text/html; charset=utf-8' });
    case 'empty':
      return send(ctx, 200, '', {}, { noGzip: true });
    case 'gzip-doc': {
      const buf = zlib.gzipSync(Buffer.from(normal));
      return send(ctx, 200, buf, { 'Content-Encoding': 'gzip' }, { noGzip: true });
    }
    case 'invalid-utf8':
      return send(ctx, 200, Buffer.concat([
        Buffer.from(wrapper(mode).pre + `{"document_id":"invalid-utf8","collection_id":"${FAULT_COLLECTION}","text":"bad `),
        Buffer.from([0xC3, 0x28]),
        Buffer.from(' here"}' + wrapper(mode).post)]), {}, { noGzip: true });
    case 'nul-escape':
      return send(ctx, 200, wrapDoc(`{"document_id":"nul-escape","collection_id":"${FAULT_COLLECTION}","text":"before\\u0000after"}`));
    case 'big-number':
      return send(ctx, 200, wrapDoc(`{"document_id":"big-number","collection_id":"${FAULT_COLLECTION}",`
        + '"big_int":1234567890123456789012345678901234567890,"huge_exp":1e400,"precise":0.1000000000000000000001}'));
    case 'echo-key': {
      const auth = ctx.req.headers.authorization || '';
      return send(ctx, 400, envelope(400, `Malformed request from client with header Authorization: ${auth}`, { authorization: auth }));
    }
    case 'truncated':
    case 'reset': {
      const buf = Buffer.from(normal);
      const part = buf.subarray(0, Math.max(1, buf.length >> 1));
      const sock = ctx.req.socket;
      finishLog(ctx, 200);
      ctx.raw = true;
      const headers = { 'Content-Type': 'application/json', 'Content-Length': spec === 'truncated' ? buf.length + 100 : buf.length };
      sock.write(rawHead(200, 'OK', headers));
      sock.write(part);
      if (spec === 'truncated') { sock.end(); return; }
      // A short pause lets the partial body reach the client before the RST discards it.
      setTimeout(() => { if (sock.resetAndDestroy) sock.resetAndDestroy(); else sock.destroy(); }, 50);
      return;
    }
  }
  throw badRequest(`Unknown fault spec ${JSON.stringify(spec)}`, { resource: 'fault', id: spec });
}

/* ------------------------------------------------------------ API routes */

function resolveCollection(ctx, seg) {
  if (seg === FAULT_COLLECTION) return { kind: 'faults' };
  const m = /^faultpage-(\d+)-(.+)$/.exec(seg);
  if (m) return { kind: 'faultpage', k: +m[1], spec: m[2], col: ARTICLES, seg };
  for (const col of ctx.collections) if (col.id === seg || col.name === seg) return { kind: 'data', col };
  const scratch = writes.resolve(seg);
  if (scratch) return { kind: 'data', col: scratch };
  throw notFound('collection', seg);
}

/* Pre-encoded Buffers: a page is then one Buffer.concat, with no UTF-8 encoding per request. */
function renderDoc(col, i, urls, vectors, selects) {
  if (!urls && !vectors && !selects) return col.textAt(i);
  let d = col.docAt(i);
  if (urls || vectors) d = withExtras(d, col.vectorAt(i), urls, vectors, col.meta.vector_name);
  if (selects) d = project(d, selects);
  return Buffer.from(stringify(d));
}

async function getDocument(ctx, seg, docId) {
  const target = resolveCollection(ctx, seg);
  const q = ctx.query;
  const urlFlag = queryBool(q, 'return_url');
  const presignedFlag = queryBool(q, 'return_presigned_urls');
  const urls = urlFlag || presignedFlag;
  const vectors = queryBool(q, 'return_vectors');
  if (target.kind === 'faults') {
    const normal = stringify({ document_id: docId, collection_id: FAULT_COLLECTION, ok: true });
    return serveFault(ctx, docId, 'get', normal, 'get:' + docId, seg);
  }
  const col = target.col;
  const i = col.indexOf(docId);
  if (i < 0) throw notFound('document', docId);
  const plain = !urls && !vectors;
  return send(ctx, 200, renderDoc(col, i, urls, vectors, null), {}, plain ? { cacheKey: col.id + '\n' + i } : undefined);
}

/*
 * The positions, in collection order, of the documents an id list names,
 * when the filter is one (an "in" on document_id, compared with case, alone
 * or as a member of the top AND): the API finds documents by id through its
 * index (document_id is always indexed), so such a lookup costs the server
 * what it serves, not a read of the collection.  null otherwise.  The whole
 * filter is still applied to these documents.
 */
function idCandidates(col, filters) {
  if (!isPlainObject(filters) || filters.case_sensitive !== true) return null;
  const members = Array.isArray(filters.AND) ? filters.AND : [];
  const cond = members.find((m) => isPlainObject(m) && isCondition(m) && m.field === 'document_id'
    && m.operator === 'in' && Array.isArray(m.value));
  if (!cond) return null;
  if (!col.idIndex) {
    col.idIndex = new Map();
    for (let k = 0; k < col.size; k++) {
      const id = col.docAt(k).document_id;
      if (typeof id === 'string' && !col.idIndex.has(id)) col.idIndex.set(id, k);
    }
  }
  const found = new Set();
  for (const id of cond.value) if (typeof id === 'string' && col.idIndex.has(id)) found.add(col.idIndex.get(id));
  return [...found].sort((a, b) => a - b);
}

/* The positions a list query reads from pos on: all, or an id list's. */
function* positionsFrom(cand, pos, N) {
  if (cand === null) {
    for (let k = pos; k < N; k++) yield k;
    return;
  }
  for (const k of cand) if (k >= pos) yield k;
}

async function listDocuments(ctx, seg) {
  const started = process.hrtime.bigint();
  const target = resolveCollection(ctx, seg);
  const limit = queryLimit(ctx.query);
  const body = parseBodyObject(ctx);
  if (body.filters !== undefined && body.filters !== null && !isPlainObject(body.filters))
    throw validation([vErr(['body', 'filters'], 'model_attributes_type', 'Input should be a valid dictionary or object to extract fields from', body.filters)]);
  let selects = null;
  if (body.select !== undefined && body.select !== null) {
    if (!Array.isArray(body.select) || body.select.some((s) => typeof s !== 'string'))
      throw validation([vErr(['body', 'select'], 'list_type', 'Input should be a valid list of strings', body.select)]);
    selects = body.select.map(splitPath).sort((a, b) => a.length - b.length);
  }
  const cursorIn = body.cursor !== undefined && body.cursor !== null ? body.cursor : lastOf(ctx.query.cursor);
  if (cursorIn !== undefined && typeof cursorIn !== 'string')
    throw validation([vErr(['body', 'cursor'], 'string_type', 'Input should be a valid string', cursorIn)]);
  const urls = bodyBool(body, 'return_url') || bodyBool(body, 'return_presigned_urls');
  const vectors = bodyBool(body, 'return_vectors');
  const pred = compileFilter(body.filters, true, 'filters');
  const keys = parseSort(body.sort);

  const offsetIn = paging.queryOffset(lastOf(ctx.query.offset), validation, vErr);
  const includeTotal = queryBool(ctx.query, 'include_total');

  if (target.kind === 'faults') {
    return send(ctx, 200, '{"results":[],"pagination":{"next_cursor":null,"has_more":false},"stats":{"total_documents":0}}');
  }
  const col = target.col;
  const style = paging.styleOf(config, DATA.namespacePagination, ctx.namespace, col);
  if (config.semantics === 'strict') checkSortIndexed(col, keys);
  const hash = queryHash([col.id, body.filters === undefined ? null : body.filters, keys.map((k) => [k.field, k.desc])]);
  let pos = 0;
  let page = 1;
  let served = 0;		/* results of the earlier pages of this query */
  if (cursorIn !== undefined && style === 'offset')
    throw badRequest('This collection pages by offset: it hands out no cursor');
  if (cursorIn !== undefined) {
    const c = decodeCursor(cursorIn, 'd');
    if (c.h !== hash) throw badRequest('Cursor does not belong to this query (collection, filters and sort must not change between pages)');
    if (!Number.isInteger(c.n) || c.n < 2 || c.p > col.size) throw badRequest('Invalid cursor');
    pos = c.p;
    page = c.n;
    served = Number.isInteger(c.r) ? c.r : 0;
  }
  const order = keys.length ? sortedOrder(col, keys) : null;
  const cand = order ? null : idCandidates(col, body.filters);
  const N = col.size;
  const results = [];
  if (cursorIn === undefined && offsetIn > 0) {
    // an offset counts matches, so a filtered offset page walks the order
    pos = N;
    let seen = 0;
    for (const k of positionsFrom(cand, 0, N)) {
      if (pred === TRUE || pred(col.docAt(order ? order[k] : k))) {
        if (seen++ === offsetIn) { pos = k; break; }
      }
    }
    page = Math.floor(offsetIn / limit) + 1;
    served = offsetIn;		/* the cap counts the pages before it too */
  }
  const room = pageRoom(limit, served);
  let next = -1;
  const capped = () => config.result_cap !== null && served + results.length >= config.result_cap;
  for (const k of positionsFrom(cand, pos, N)) {
    const idx = order ? order[k] : k;
    if (pred !== TRUE && !pred(col.docAt(idx))) continue;
    if (results.length < room && !capped()) results.push(idx);
    else { next = capped() ? -1 : k; break; }	/* the cap ends the query */
  }
  let total;
  if (pred === TRUE) total = N;
  else {
    const ck = col.id + '\n' + config.semantics + '\n' + hash;	/* the rules decide what matches */
    total = countCache.get(ck);
    if (total === undefined) {
      total = 0;
      for (const k of positionsFrom(cand, 0, N)) if (pred(col.docAt(k))) total++;
      if (countCache.size > 256) countCache.clear();
      countCache.set(ck, total);
    }
  }
  const cursor = next >= 0 ? encodeCursor({ v: 1, k: 'd', p: next, n: page + 1, h: hash, r: served + results.length }) : null;
  const parts = [LIST_OPEN];
  for (let k = 0; k < results.length; k++) {
    if (k) parts.push(COMMA);
    parts.push(renderDoc(col, results[k], urls, vectors, selects));
  }
  const pageInfo = paging.pagination({
    style, cursor, hasMore: next >= 0, limit, page, total, includeTotal,
    offset: cursorIn === undefined ? offsetIn : (page - 1) * limit,
  });
  parts.push(Buffer.from(`],"pagination":${stringify(pageInfo)},"stats":{"total_documents":${total}}}`));
  const out = Buffer.concat(parts);
  if (target.kind === 'faultpage' && page === target.k)
    return serveFault(ctx, target.spec, 'list', out, 'list:' + target.seg, target.seg);
  noteWork(ctx, started);
  await serverCost(ctx, results.length);
  return send(ctx, 200, out);
}

/* The time since started, which the mock's one thread spent on this
 * request's answer alone, as its log's work_ms. */
function noteWork(ctx, started) {
  if (ctx.entry) ctx.entry.work_ms = Number(process.hrtime.bigint() - started) / 1e6;
}

/* The real service's time grows with the documents it serves: the
 * latency_per_doc_us setting adds that much per document of a reply. */
async function serverCost(ctx, docs) {
  if (config.latency_per_doc_us > 0 && docs > 0)
    await sleep(ctx, config.latency_per_doc_us * docs / 1000);
}

/* What the API's payload index type is for an output_schema type. */
const INDEX_TYPES = { string: 'keyword', text: 'text', integer: 'integer', number: 'float', float: 'float',
  boolean: 'bool', date: 'datetime', datetime: 'datetime' };

/*
 * A CollectionResponse with the fields its schema requires: the extractor
 * is the one that names the collection's vectors (text_extractor_v1_embedding
 * -> text_extractor, v1), the source a bucket, or the collection its
 * documents' lineage names; payload_indexes lists the fields a strict
 * backend sorts by.
 */
function collectionObject(col) {
  const m = col.meta;
  const props = (m.output_schema && m.output_schema.properties) || {};
  const fx = /^(.+)_(v\d+)_embedding$/.exec(m.vector_name || '') || [null, 'text_extractor', 'v1'];
  return {
    collection_id: col.id, collection_name: col.name, description: m.description || null,
    document_count: col.size, enabled: true, created_at: m.created_at || null, updated_at: m.created_at || null,
    input_schema: m.input_schema || { properties: {} },
    output_schema: m.output_schema || { properties: {} },
    feature_extractor: m.feature_extractor
      || { feature_extractor_name: fx[1], version: fx[2], feature_extractor_id: `${fx[1]}_${fx[2]}` },
    source: m.source || (m.source_collection ? { type: 'collection', collection_id: m.source_collection }
      : { type: 'bucket', bucket_ids: [m.source_bucket || 'bkt_content'] }),
    payload_indexes: indexedFields(col).map((f) => ({
      field_name: f, type: ALWAYS_INDEXED.includes(f) ? (f === 'document_id' ? 'keyword' : 'datetime')
        : INDEX_TYPES[props[f] && props[f].type] || 'keyword',
    })),
  };
}

function listCollections(ctx) {
  const limit = queryLimit(ctx.query);
  parseBodyObject(ctx);
  // The cursor is a query parameter only: the body has no such field, so a
  // body cursor is ignored, as pydantic ignores unknown fields.
  const cursorIn = lastOf(ctx.query.cursor);
  const all = ctx.collections;
  let pos = 0;
  if (cursorIn !== undefined) {
    const c = decodeCursor(cursorIn, 'c');
    if (c.ns !== ctx.namespace || c.p > all.length) throw badRequest('Invalid cursor');
    pos = c.p;
  }
  const slice = all.slice(pos, pos + limit);
  const next = pos + slice.length < all.length ? encodeCursor({ v: 1, k: 'c', p: pos + slice.length, ns: ctx.namespace }) : null;
  return send(ctx, 200, stringify({
    results: slice.map(collectionObject),
    pagination: { next_cursor: next, has_more: next !== null },
    total_count: all.length,
  }));
}

function getCollection(ctx, seg) {
  const t = resolveCollection(ctx, seg);
  if (t.kind !== 'data') throw notFound('collection', seg);
  return send(ctx, 200, stringify(collectionObject(t.col)));
}

/* The lineage endpoint's reply: what the document itself says, in its shape. */
const FLAT_LINEAGE = ['root_object_id', 'root_bucket_id', 'source_type', 'source_collection_id',
  'source_document_id', 'source_object_id', 'lineage_path', 'lineage_chain'];

function getLineage(ctx, seg, docId) {
  const t = resolveCollection(ctx, seg);
  if (t.kind !== 'data') throw notFound('collection', seg);
  const i = t.col.indexOf(docId);
  if (i < 0) throw notFound('document', docId);
  const d = t.col.docAt(i);
  const out = { document_id: d.document_id, collection_id: d.collection_id };
  if (isPlainObject(d._internal)) out._internal = { lineage: d._internal.lineage || null };
  else for (const k of FLAT_LINEAGE) if (d[k] !== undefined) out[k] = d[k];
  return send(ctx, 200, stringify(out));
}

function derivedFrom(d, objectId) {
  const l = isPlainObject(d._internal) ? d._internal.lineage || {} : d;
  return l.root_object_id === objectId || l.source_object_id === objectId;
}

function objectDocuments(ctx, objectId) {
  const q = ctx.query.collection_ids;
  let cols = ctx.collections;
  if (q !== undefined) {
    const wanted = new Set((Array.isArray(q) ? q : [q]).map((seg) => {
      const t = resolveCollection(ctx, seg);
      if (t.kind !== 'data') throw notFound('collection', seg);
      return t.col;
    }));
    cols = cols.filter((c) => wanted.has(c));
  }
  const parts = [];
  for (const col of cols) {
    if (col instanceof BigCollection) {
      // generated documents name their object after their index: no scan of 100,000
      const m = /^obj_big_(\d{6})$/.exec(objectId);
      if (m && +m[1] < col.size) parts.push(col.textAt(+m[1]));
      continue;
    }
    for (let i = 0; i < col.size; i++) if (derivedFrom(col.docAt(i), objectId)) parts.push(col.textAt(i));
  }
  const head = Buffer.from(`{"object_id":${stringify(objectId)},"results":[`);
  const list = [];
  parts.forEach((b, k) => { if (k) list.push(COMMA); list.push(b); });
  return send(ctx, 200, Buffer.concat([head, ...list, Buffer.from(`],"total":${parts.length}}`)]));
}

function methodNotAllowed(allow) {
  return apiError(405, 'Method not allowed', { allow }, { Allow: allow });
}

/* POST /v1/retrievers/list and /v1/retrievers/{id}/execute: see retrievers.js */
const retrieverRoutes = require('./retrievers')({
  send, stringify, badRequest, notFound, validation, vErr, isPlainObject, hasOwn, eqVal,
  parseBodyObject, queryLimit, lastOf, encodeCursor, decodeCursor, queryHash, serveFault,
});

/* POST /v1/collections/{c}/documents/aggregate: see aggregate.js */
const aggregateRoute = require('./aggregate')({
  MISSING, getPath, splitPath, compileFilter, isNum, numCmp, utf8Cmp, stringify, badRequest, send,
  methodNotAllowed, parseBodyObject, serveFault, noteWork,
}).route;

async function handleApi(ctx) {
  stats.requests++;
  const req = ctx.req;
  // Counted per reset epoch, so a connection kept alive across a reset still shows up once.
  if (req.socket.mockEpoch !== epoch) { req.socket.mockEpoch = epoch; stats.connections++; }
  const hdr = req.headers;
  ctx.isApi = true;
  ctx.gzipOk = acceptsGzip(hdr['accept-encoding']);
  ctx.namespace = hdr['x-namespace'] === undefined ? null : hdr['x-namespace'];

  let query = null;
  let queryErr = null;
  try { query = parseQuery(ctx.rawQuery); } catch (e) { queryErr = e; }
  ctx.query = query || Object.create(null);

  const auth = hdr.authorization;
  const m = typeof auth === 'string' ? /^\s*Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  const key = m ? m[1] : null;
  const identity = key === FORBIDDEN_KEY ? 'forbidden' : (key && KEYS.get(key)) || null;
  const refusal = limiter.admit(ctx, identity, config.rate_limit);
  if (config.rate_limit === null) setRateLimitHeaders(ctx, identity);

  if (config.record) {
    const headers = {};
    for (const [k, v] of Object.entries(hdr)) if (k !== 'authorization') headers[k] = v;
    let body = null;
    if (ctx.bodyText) { try { body = parseJSON(ctx.bodyText); } catch (e) { body = null; } }
    ctx.entry = {
      seq: ++seq, method: req.method, path: ctx.rawPath, raw_query: ctx.rawQuery,
      query: query ? Object.assign({}, query) : null, body, namespace: ctx.namespace, identity,
      accept_encoding: hdr['accept-encoding'] || null, user_agent: hdr['user-agent'] || null,
      headers, received_ms: Number(process.hrtime.bigint() - START) / 1e6, answered_ms: null, status: null, aborted: false,
    };
    const entry = ctx.entry;
    ctx.res.on('finish', () => { entry.answered_ms = Number(process.hrtime.bigint() - START) / 1e6; });
    requestLog.push(ctx.entry);
    if (requestLog.length > LOG_MAX + 1000) requestLog = requestLog.slice(-LOG_MAX);
  }
  checkRequestContract(ctx);

  if (refusal) throw apiError(429, 'Rate limit exceeded, please retry later', { limit: refusal.limit }, refusal.headers);
  if (config.gather !== null) await gather(ctx, config.gather);
  if (config.latency_ms > 0) await sleep(ctx, config.latency_ms);
  if (ctx.closed) return;

  if (!key || (identity === null))
    throw apiError(401, 'Invalid or missing API key', null, { 'WWW-Authenticate': 'Bearer' });
  if (identity === 'forbidden')
    throw apiError(403, 'This API key is not allowed to access this resource', null);
  if (ctx.namespace === null)
    throw apiError(400, 'X-Namespace header is required', { header: 'X-Namespace' });
  const cols = DATA.namespaces.get(ctx.namespace);
  if (!cols) throw apiError(404, 'Namespace not found', { resource: 'namespace', id: ctx.namespace });
  ctx.collections = cols;
  if (queryErr) throw badRequest('Malformed percent-encoding in the query string');
  if (ctx.contract.unprocessable.length) throw validation(ctx.contract.unprocessable);

  const raw = ctx.rawPath.split('/');
  let segs;
  try { segs = raw.map((s) => decodeURIComponent(s)); } catch (e) {
    throw badRequest('Malformed percent-encoding in the path');
  }
  const method = req.method;
  const cannedName = segs.length === 6 && segs[1] === 'v1' && segs[2] === 'collections' && segs[4] === 'documents'
    ? (segs[3] === 'col_canned' && method === 'GET' ? segs[5]
      : segs[3].startsWith('canned-') && segs[5] === 'list' && method === 'POST' ? segs[3].slice(7) : null)
    : null;
  if (cannedName !== null) {
    const c = canned.get(cannedName);
    if (!c) throw notFound('document', cannedName);
    ctx.fault = true;
    return send(ctx, c.status, c.body, { 'Content-Type': c.contentType }, { noGzip: true });
  }
  const written = writes.route(ctx, segs, method, resolveCollection);
  const aggregated = aggregateRoute(ctx, segs, method, resolveCollection);
  if (aggregated !== undefined) return await aggregated;
  if (written !== undefined) return written;
  if (segs.length >= 3 && segs[1] === 'v1' && segs[2] === 'collections') {
    if (segs.length === 4 && segs[3] === 'list' && method === 'POST') return listCollections(ctx);
    if (segs.length === 4) {
      if (method === 'GET') return getCollection(ctx, segs[3]);
      throw methodNotAllowed('GET');
    }
    if (segs.length === 7 && segs[4] === 'documents' && segs[6] === 'lineage') {
      if (method === 'GET') return getLineage(ctx, segs[3], segs[5]);
      throw methodNotAllowed('GET');
    }
    if (segs.length === 6 && segs[4] === 'documents') {
      if (segs[5] === 'list' && method === 'POST') return listDocuments(ctx, segs[3]);
      if (method === 'GET') return getDocument(ctx, segs[3], segs[5]);
      throw methodNotAllowed(segs[5] === 'list' ? 'GET, POST' : 'GET');
    }
  }
  if (segs.length >= 4 && segs[1] === 'v1' && segs[2] === 'retrievers') {
    const answer = retrieverRoutes(ctx, segs, method, methodNotAllowed);
    if (answer !== null) return await answer;
  }
  if (segs.length === 5 && segs[1] === 'v1' && segs[2] === 'objects' && segs[4] === 'documents') {
    if (method === 'GET') return objectDocuments(ctx, segs[3]);
    throw methodNotAllowed('GET');
  }
  throw apiError(404, 'Route not found', { resource: 'route', id: ctx.rawPath });
}

/* --------------------------------------------------------------- control */

function controlJSON(ctx, status, value) {
  const body = stringify(value);
  ctx.res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  ctx.res.end(body);
}

function handleControl(ctx) {
  const p = ctx.rawPath;
  const method = ctx.req.method;
  if (p === '/_mock/requests' && method === 'GET') {
    let q;
    try { q = parseQuery(ctx.rawQuery); } catch (e) { return controlJSON(ctx, 400, { error: 'malformed query' }); }
    let list = requestLog.length > LOG_MAX ? requestLog.slice(-LOG_MAX) : requestLog;
    if (q.since !== undefined) { const s = Number(lastOf(q.since)); list = list.filter((e) => e.seq > s); }
    if (q.path_contains !== undefined) { const s = lastOf(q.path_contains); list = list.filter((e) => e.path.includes(s)); }
    return controlJSON(ctx, 200, list);
  }
  if (p === '/_mock/reset' && method === 'POST') {
    requestLog = [];
    seq = 0;
    flaky = new Map();
    canned = new Map();
    stats = { requests: 0, connections: 0, accepted: 0, gather_timeouts: 0 };
    for (const w of gathering.slice()) w.go();
    epoch++;
    rateWindows = new Map();
    writes.reset();
    limiter.reset();
    config = initialConfig();
    return controlJSON(ctx, 200, { ok: true, config });
  }
  if (p === '/_mock/violations' && (method === 'GET' || method === 'DELETE')) {
    const out = { count: violationCount, violations };
    if (method === 'DELETE') { violations = []; violationCount = 0; }
    return controlJSON(ctx, 200, out);
  }
  if (p === '/_mock/config' && method === 'GET') return controlJSON(ctx, 200, config);
  if (p === '/_mock/config' && method === 'POST') {
    let v;
    try { v = parseJSON(ctx.bodyText || '{}'); } catch (e) { return controlJSON(ctx, 400, { error: 'invalid JSON: ' + e.message }); }
    if (!isPlainObject(v)) return controlJSON(ctx, 400, { error: 'expected a JSON object' });
    const next = Object.assign({}, config);
    for (const [k, val] of Object.entries(v)) {
      if (k === 'latency_ms') {
        if (!Number.isInteger(val) || val < 0 || val > 3600000) return controlJSON(ctx, 400, { error: 'latency_ms: integer 0..3600000' });
        next.latency_ms = val;
      } else if (k === 'latency_per_doc_us') {
        if (!Number.isInteger(val) || val < 0 || val > 1000000) return controlJSON(ctx, 400, { error: 'latency_per_doc_us: integer 0..1000000' });
        next.latency_per_doc_us = val;
      } else if (k === 'semantics') {
        if (!SEMANTICS.includes(val)) return controlJSON(ctx, 400, { error: 'semantics: "strict" or "lenient"' });
        next.semantics = val;
        if (!hasOwn(v, 'result_cap')) next.result_cap = defaultResultCap(val);
      } else if (k === 'result_cap') {
        if (val !== null && !(Number.isInteger(val) && val >= 1 && val <= 1e9)) return controlJSON(ctx, 400, { error: 'result_cap: null or integer 1..1000000000' });
        next.result_cap = val;
      } else if (k === 'indexed_fields') {
        const ok = val === null || (isPlainObject(val) && Object.values(val).every(
          (l) => Array.isArray(l) && l.every((f) => typeof f === 'string' && f !== '')));
        if (!ok) return controlJSON(ctx, 400, { error: 'indexed_fields: null or {"<collection id>": ["field", ...]}' });
        next.indexed_fields = val;
      } else if (k === 'gzip' || k === 'record' || k === 'validate' || k === 'corrupt_responses') {
        if (typeof val !== 'boolean') return controlJSON(ctx, 400, { error: `${k}: boolean` });
        next[k] = val;
      } else if (k === 'rate_limit_headers') {
        if (!validRateLimit(val)) return controlJSON(ctx, 400, { error: 'rate_limit_headers: "free", "pro", null or {"limit","window"[,"remaining","reset"]}' });
        next[k] = val;
      } else if (k === 'rate_limit') {
        if (!ratelimit.valid(val)) return controlJSON(ctx, 400, { error: 'rate_limit: "free", "pro", null or {"per_second","per_minute","concurrent","time_scale"}' });
        next[k] = val;
      } else if (k === 'gather') {
        const ok = val === null || (isPlainObject(val) && Object.keys(val).every((x) => x === 'count' || x === 'max_ms') &&
          Number.isInteger(val.count) && val.count >= 1 && val.count <= 1000 &&
          Number.isInteger(val.max_ms) && val.max_ms >= 1 && val.max_ms <= 3600000);
        if (!ok) return controlJSON(ctx, 400, { error: 'gather: null or {"count": 1..1000, "max_ms": 1..3600000}' });
        next.gather = val;
      } else if (k === 'pagination') {
        if (!paging.validPagination(val)) return controlJSON(ctx, 400, { error: 'pagination: {"<collection id or name>": "cursor" | "offset", ...}' });
        next[k] = val;
      } else return controlJSON(ctx, 400, { error: `unknown setting ${k}; known: latency_ms, latency_per_doc_us, gather, gzip, record, rate_limit_headers, rate_limit, pagination, semantics, result_cap, validate, corrupt_responses, indexed_fields` });
    }
    config = next;
    return controlJSON(ctx, 200, config);
  }
  if (p === '/_mock/stats' && method === 'GET')
    return controlJSON(ctx, 200, { requests: stats.requests, connections: stats.connections, accepted: stats.accepted, open_connections: openConnections, gather_timeouts: stats.gather_timeouts, rate_limit: limiter.snapshot() });
  if (p === '/_mock/health' && method === 'GET') return controlJSON(ctx, 200, { ok: true });
  if (p === '/_mock/canned' && method === 'POST') {
    let v;
    try { v = parseJSON(ctx.bodyText || '{}'); } catch (e) { return controlJSON(ctx, 400, { error: 'invalid JSON: ' + e.message }); }
    if (!isPlainObject(v) || typeof v.name !== 'string' || v.name === '' || typeof v.body_base64 !== 'string' ||
        !Number.isInteger(v.status) || v.status < 200 || v.status > 599 ||
        (v.content_type !== undefined && typeof v.content_type !== 'string'))
      return controlJSON(ctx, 400, { error: 'expected {"name": non-empty string, "status": 200..599, "body_base64": string, "content_type"?: string}' });
    if (canned.size >= 10000 && !canned.has(v.name)) return controlJSON(ctx, 400, { error: 'too many canned responses; POST /_mock/reset' });
    canned.set(v.name, { status: v.status, body: Buffer.from(v.body_base64, 'base64'), contentType: v.content_type || 'application/json' });
    return controlJSON(ctx, 200, { ok: true, bytes: canned.get(v.name).body.length });
  }
  return controlJSON(ctx, 404, { error: `unknown control endpoint ${method} ${p}` });
}

/* ---------------------------------------------------------------- server */

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) { reject(apiError(413, 'Request body too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function onRequest(req, res) {
  const ctx = { req, res, closed: false, onClose: [], entry: null, status: null, isApi: false, raw: false };
  res.on('close', () => {
    ctx.closed = true;
    if (ctx.entry && !res.writableFinished && !ctx.raw) ctx.entry.aborted = true;
    for (const f of ctx.onClose) f();
  });
  const url = req.url;
  const qi = url.indexOf('?');
  ctx.rawPath = qi < 0 ? url : url.slice(0, qi);
  ctx.rawQuery = qi < 0 ? '' : url.slice(qi + 1);
  try {
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    ctx.bodyText = hasBody ? await readBody(req) : null;
    if (ctx.rawPath.startsWith('/_mock/')) return handleControl(ctx);
    if (ctx.rawPath === '/v1' || ctx.rawPath.startsWith('/v1/')) return await handleApi(ctx);
    throw apiError(404, 'Route not found', { resource: 'route', id: ctx.rawPath });
  } catch (e) {
    if (e instanceof HttpError) return sendError(ctx, e);
    process.stderr.write('mixpeek-mock: internal error: ' + (e && e.stack || e) + '\n');
    if (!res.headersSent && !ctx.raw) sendError(ctx, apiError(500, 'Internal error in the mock'));
  }
}

const server = http.createServer({ noDelay: true }, (req, res) => { onRequest(req, res); });
// Clients keep connections for minutes between benchmark phases.
server.keepAliveTimeout = 120000;
server.headersTimeout = 121000;
server.requestTimeout = 0;
server.timeout = 0;
server.on('connection', (sock) => {
  stats.accepted++;
  openConnections++;
  sock.on('close', () => { openConnections--; });
});

function shutdown() {
  if (opts.portFile) { try { fs.unlinkSync(opts.portFile); } catch (e) { /* already gone */ } }
  server.close();
  if (server.closeAllConnections) server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

server.on('error', (e) => {
  process.stderr.write('mixpeek-mock: ' + e.message + '\n');
  process.exit(1);
});

server.listen(opts.port, opts.host, () => {
  const port = server.address().port;
  if (opts.portFile) {
    const tmp = opts.portFile + '.tmp.' + process.pid;
    fs.writeFileSync(tmp, String(port) + '\n');
    fs.renameSync(tmp, opts.portFile);
  }
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  process.stdout.write(`mixpeek-mock listening on http://${host}:${port}\n`);
});
