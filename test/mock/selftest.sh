#!/usr/bin/env bash
# Self-test of the mock Mixpeek server (test/mock/mixpeek-mock.js).
# Starts its own mock on a --port-file, checks the main behaviours with curl and
# python3, stops the mock, and exits non-zero if any check failed.
# usage: bash test/mock/selftest.sh [-v]
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
# The system interpreter starts in 10 ms; a pyenv shim takes >100 ms per check.
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi
VERBOSE=${1:-}
TMP=$(mktemp -d)
PID=
cleanup() {
	if [ -n "$PID" ]; then kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
	rm -rf "$TMP"
}
trap cleanup EXIT

# the lenient filter semantics first (the sections up to "contract"), then strict
node "$HERE/mixpeek-mock.js" --port-file "$TMP/port" --semantics lenient >"$TMP/stdout" 2>"$TMP/stderr" &
PID=$!
for _ in $(seq 600); do [ -s "$TMP/port" ] && break; sleep 0.05; done
if [ ! -s "$TMP/port" ]; then echo "mock did not start"; cat "$TMP/stderr"; exit 1; fi
PORT=$(cat "$TMP/port")
B=http://127.0.0.1:$PORT
AUTH='Authorization: Bearer sk_test_alpha'
grep -q "^mixpeek-mock listening on http://127.0.0.1:$PORT\$" "$TMP/stdout" || { echo "bad banner"; cat "$TMP/stdout"; exit 1; }

# The API requires X-Namespace: every request names "default" unless it
# names a namespace of its own, or -H 'X-Namespace:' (none at all).
curl() {
	local a
	for a in "$@"; do
		case $a in
			[Xx]-[Nn]amespace:*) command curl "$@"; return ;;
		esac
	done
	command curl -H 'X-Namespace: default' "$@"
}

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); [ -n "$VERBOSE" ] && echo "ok   $1"; return 0; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $1${2:+: $2}"; return 0; }

# t NAME STATUS PYEXPR CURL-ARGS...
#   runs curl, checks the HTTP status, then (if PYEXPR is not empty) evaluates PYEXPR in
#   python3 with d = parsed JSON body, raw = body bytes, h = response headers (lower-case).
t() {
	local name=$1 want=$2 expr=$3
	shift 3
	local got
	got=$(curl -s -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' "$@")
	if [ "$got" != "$want" ]; then bad "$name" "status $got, want $want: $(head -c 300 "$TMP/body")"; return; fi
	if [ -n "$expr" ]; then
		if ! $PY - "$TMP/body" "$TMP/headers" "$expr" >"$TMP/pyout" 2>&1 <<'EOF'
import sys, json
raw = open(sys.argv[1], 'rb').read()
h = {}
for line in open(sys.argv[2], 'rb').read().decode('latin-1').split('\r\n')[1:]:
    if ':' in line:
        k, v = line.split(':', 1)
        h[k.strip().lower()] = v.strip()
try:
    d = json.loads(raw)
except Exception:
    d = None
if not eval(sys.argv[3]):
    print('expression false; body:', raw[:300])
    sys.exit(1)
EOF
		then bad "$name" "$(cat "$TMP/pyout")"; return; fi
	fi
	ok "$name"
}

G() { printf '%s' "$B/v1/collections/$1/documents/$2"; }
L() { printf '%s' "$B/v1/collections/$1/documents/list?limit=${2:-1000}"; }
POST=(-X POST -H "$AUTH" -H 'Content-Type: application/json' --data-binary)
# ids of a list answer, in order
IDS='[r["document_id"] for r in d["results"]]'

# ---------------------------------------------------------------- auth
t "auth: missing key" 401 'd["error"]["type"]=="AuthenticationError" and d["error"]["message"]=="Invalid or missing API key" and d["success"] is False and d["status"]==401' "$(G col_articles doc_flat_01)"
t "auth: unknown key, not echoed" 401 'b"sk_test_secret" not in raw' "$(G col_articles doc_flat_01)" -H 'Authorization: Bearer sk_test_secret'
t "auth: not bearer" 401 '' "$(G col_articles doc_flat_01)" -H 'Authorization: Basic c2tfdGVzdF9hbHBoYTo='
t "auth: forbidden" 403 'd["error"]["type"]=="AuthorizationError" and b"sk_test" not in raw' "$(G col_articles doc_flat_01)" -H 'Authorization: Bearer sk_test_forbidden'
t "auth: beta" 200 'd["document_id"]=="doc_flat_01"' "$(G col_articles doc_flat_01)" -H 'Authorization: Bearer sk_test_beta'
t "auth: gamma" 200 '' "$(G col_articles doc_flat_01)" -H 'Authorization: Bearer sk_test_gamma'

# ---------------------------------------------------------- namespaces
curl -s -o "$TMP/default.json" -H "$AUTH" "$(G col_articles doc_nested_02)"
t "ns: production = default" 200 "raw == open('$TMP/default.json','rb').read()" "$(G col_articles doc_nested_02)" -H "$AUTH" -H 'X-Namespace: production'
t "ns: explicit default" 200 '' "$(G col_articles doc_nested_02)" -H "$AUTH" -H 'X-Namespace: default'
t "ns: empty has no collections" 404 'd["error"]["details"]=={"resource":"collection","id":"col_articles"}' "$(G col_articles doc_flat_01)" -H "$AUTH" -H 'X-Namespace: empty'
t "ns: absent is 400" 400 'd["error"]["type"]=="BadRequestError" and d["error"]["details"]=={"header":"X-Namespace"}' "$(G col_articles doc_flat_01)" -H "$AUTH" -H 'X-Namespace:'
t "ns: unknown" 404 'd["error"]["type"]=="NotFoundError" and d["error"]["details"]=={"resource":"namespace","id":"staging"}' "$(G col_articles doc_flat_01)" -H "$AUTH" -H 'X-Namespace: staging'
t "ns: collections list in empty" 200 'd["results"]==[] and d["total_count"]==0' -X POST "$B/v1/collections/list" -H "$AUTH" -H 'X-Namespace: empty'

# ------------------------------------------------------------- shapes
t "flat: lineage at the root" 200 'd["lineage_path"]=="bkt_content/col_articles" and d["root_object_id"]=="obj_article_001" and "_internal" not in d and d["internal_metadata"]["ingestion_status"]=="COMPLETED"' "$(G col_articles doc_flat_01)" -H "$AUTH"
t "nested: lineage under _internal" 200 'd["_internal"]["lineage"]["path"]=="bkt_content/col_articles" and d["_internal"]["lineage"]["root_object_id"]=="obj_article_001" and "lineage_path" not in d and d["_internal"]["metadata"]["ingestion_status"]=="COMPLETED"' "$(G col_articles doc_nested_01)" -H "$AUTH"
t "numbers keep every digit" 200 'b"\"rating\":4.123456789012345678" in raw' "$(G col_articles doc_nested_01)" -H "$AUTH"
t "by collection name" 200 'd["collection_id"]=="col_articles"' "$(G articles doc_flat_01)" -H "$AUTH"
t "unknown collection" 404 'd["error"]["details"]=={"resource":"collection","id":"col_nope"}' "$(G col_nope doc_flat_01)" -H "$AUTH"
t "unknown document" 404 'd["error"]["details"]=={"resource":"document","id":"doc_nope"} and d["error"]["type"]=="NotFoundError"' "$(G col_articles doc_nope)" -H "$AUTH"
t "no vector, no urls by default" 200 'not any(k in d for k in ("vector","presigned_url","presigned_urls")) and all("presigned_url" not in b for b in d["document_blobs"])' "$(G col_articles doc_flat_01)" -H "$AUTH"
t "return_vectors" 200 'b"\"vector\":[1.0,0.0,-1.0,0.5]" in raw and "presigned_url" not in d' "$(G col_articles doc_flat_03)?return_vectors=true" -H "$AUTH"
t "return_url (flat)" 200 'd["presigned_url"].startswith("https://") and len(d["presigned_urls"])==2 and all(b["presigned_url"].startswith("https://") for b in d["document_blobs"]) and "vector" not in d' "$(G col_articles doc_flat_01)?return_url=true" -H "$AUTH"
t "return_presigned_urls (current shape: on each blob only)" 200 'not any(k in d for k in ("presigned_url","presigned_urls","vector")) and all(b["presigned_url"].startswith("https://") for b in d["_internal"]["document_blobs"])' "$(G col_articles doc_nested_01)?return_presigned_urls=true" -H "$AUTH"
t "return_url (current shape, blobs at the root)" 200 'not any(k in d for k in ("presigned_url","presigned_urls")) and "document_blobs" not in d["_internal"] and all(b["presigned_url"].startswith("https://") for b in d["document_blobs"])' "$(G col_frames doc_frame_001)?return_url=true" -H "$AUTH"
t "return_vectors (current shape: under the feature name)" 200 'b"\"text_extractor_v1_embedding\":[1.0,0.0,-1.0,0.5]" in raw and "vector" not in d' "$(G col_articles doc_nested_03)?return_vectors=true" -H "$AUTH"
t "bad boolean flag" 422 'd["detail"][0]["loc"]==["query","return_vectors"]' "$(G col_articles doc_flat_01)?return_vectors=maybe" -H "$AUTH"
t "frames: collection lineage" 200 'd["_internal"]["lineage"]["source_type"]=="collection" and d["_internal"]["lineage"]["source_collection_id"]=="col_articles"' "$(G frames doc_frame_001)" -H "$AUTH"
t "big: generated doc" 200 'd["document_id"]=="doc_000123" and d["word_count"]==123 and d["cluster_id"]=="cl_23" and "_internal" in d and 500 < len(raw) < 1000' "$(G col_big doc_000123)" -H "$AUTH"
t "big: flat for even" 200 'd["root_object_id"]=="obj_big_000124" and d["category"]=="news"' "$(G big doc_000124)" -H "$AUTH"
t "big: out of range" 404 '' "$(G col_big doc_100000)" -H "$AUTH"

# -------------------------------------------------------- awkward ids
while IFS='|' read -r enc want; do
	t "id $enc" 200 "d['document_id']==$want" --path-as-is "$(G col_articles "$enc")" -H "$AUTH"
done <<'EOF'
doc%2Fwith%2Fslash|'doc/with/slash'
doc%3Fx%3D1%26y%3D2|'doc?x=1&y=2'
doc%23frag|'doc#frag'
100%25|'100%'
..|'..'
%2E%2E|'..'
.|'.'
%2e|'.'
%C3%BC%6E%C3%AF%63%C3%B8%64%C3%A9-%D0%B8%D0%B4|'ünïcødé-ид'
a%20b|'a b'
plus+sign|'plus+sign'
plus%2Bsign|'plus+sign'
EOF
t "id: raw slash is another route" 404 'd["error"]["details"]["resource"]=="route"' "$(G col_articles doc/with/slash)" -H "$AUTH"
t "id: bad percent-encoding" 400 'd["error"]["type"]=="BadRequestError"' "$(G col_articles 100%)" -H "$AUTH"

# ------------------------------------------------------------ filters
t "filter: eq is case-insensitive by default" 200 "sorted($IDS)==sorted(['doc_flat_01','doc_nested_01','doc_flat_02','doc_nested_02','doc_flat_03','doc_nested_03']) and d['stats']['total_documents']==6" "${POST[@]}" '{"filters":{"AND":[{"field":"category","operator":"eq","value":"news"}]}}' "$(L col_articles)"
t "filter: case_sensitive true" 200 "sorted($IDS)==['doc_flat_02','doc_nested_02']" "${POST[@]}" '{"filters":{"case_sensitive":true,"AND":[{"field":"category","operator":"eq","value":"news"}]}}' "$(L col_articles)"
t "filter: case_sensitive inherited" 200 "len($IDS)==2" "${POST[@]}" '{"filters":{"case_sensitive":true,"AND":[{"OR":[{"field":"category","operator":"eq","value":"news"}]}]}}' "$(L col_articles)"
t "filter: case_sensitive overridden" 200 "len($IDS)==6" "${POST[@]}" '{"filters":{"case_sensitive":true,"AND":[{"case_sensitive":false,"AND":[{"field":"category","operator":"eq","value":"news"}]}]}}' "$(L col_articles)"
t "filter: shorthand dotted" 200 "sorted($IDS)==['doc_flat_01','doc_nested_01']" "${POST[@]}" '{"filters":{"metadata.title":"AI IN HEALTHCARE"}}' "$(L col_articles)"
t "filter: ne keeps missing" 200 "len($IDS)==14 and 'doc_flat_04' in $IDS" "${POST[@]}" '{"filters":{"AND":[{"field":"category","operator":"ne","value":"news"}]}}' "$(L col_articles)"
t "filter: NOT exists" 200 "sorted($IDS)==['doc_flat_04','doc_nested_04']" "${POST[@]}" '{"filters":{"NOT":[{"field":"category","operator":"exists","value":true}]}}' "$(L col_articles)"
t "filter: is_null (missing or null)" 200 "sorted($IDS)==['doc_flat_04','doc_nested_04','doc_nested_06']" "${POST[@]}" '{"filters":{"AND":[{"field":"category","operator":"is_null","value":true}]}}' "$(L col_articles)"
t "filter: gt exact decimal" 200 "sorted($IDS)==['doc_flat_04','doc_nested_04']" "${POST[@]}" '{"filters":{"AND":[{"field":"rating","operator":"gt","value":99.9999999999999999}]}}' "$(L col_articles)"
t "filter: eq exact decimal" 200 "len($IDS)==0" "${POST[@]}" '{"filters":{"rating":4.1234567890123456781}}' "$(L col_articles)"
t "filter: number never equals string" 200 "len($IDS)==0" "${POST[@]}" '{"filters":{"word_count":"1200"}}' "$(L col_articles)"
t "filter: in / gte / lt" 200 "sorted($IDS)==['doc#frag','doc/with/slash','doc?x=1&y=2']" "${POST[@]}" '{"filters":{"AND":[{"field":"category","operator":"in","value":["tech","x"]},{"field":"word_count","operator":"gte","value":10},{"field":"word_count","operator":"lt","value":90}]}}' "$(L col_articles)"
t "filter: nin keeps missing" 200 "len($IDS)==16" "${POST[@]}" '{"filters":{"AND":[{"field":"category","operator":"nin","value":["tech"]}]}}' "$(L col_articles)"
t "filter: contains array element" 200 "sorted($IDS)==['doc_flat_05','doc_nested_05']" "${POST[@]}" '{"filters":{"AND":[{"field":"tags","operator":"contains","value":"Sports"}]}}' "$(L col_articles)"
t "filter: starts_with + OR" 200 "sorted($IDS)==['doc_flat_05','doc_nested_05','plus+sign']" "${POST[@]}" '{"filters":{"OR":[{"field":"metadata.title","operator":"starts_with","value":"sports"},{"field":"document_id","operator":"ends_with","value":"+SIGN"}]}}' "$(L col_articles)"
t "filter: regex" 200 "sorted($IDS)==['doc_flat_02','doc_nested_02']" "${POST[@]}" '{"filters":{"AND":[{"field":"metadata.title","operator":"regex","value":"^caf."}]}}' "$(L col_articles)"
t "filter: nested lineage path" 200 "len($IDS)==10" "${POST[@]}" '{"filters":{"AND":[{"field":"_internal.lineage.path","operator":"eq","value":"bkt_content/col_articles"}]}}' "$(L col_articles)"
t "filter: unknown operator" 400 'd["error"]["type"]=="BadRequestError"' "${POST[@]}" '{"filters":{"AND":[{"field":"category","operator":"like","value":"x"}]}}' "$(L col_articles)"
t "filter: bad regex" 400 '' "${POST[@]}" '{"filters":{"AND":[{"field":"category","operator":"regex","value":"("}]}}' "$(L col_articles)"

# --------------------------------------------------------------- sort
t "sort: asc, nulls last, ties by id" 200 "$IDS[:4]==['doc_flat_05','doc/with/slash','doc?x=1&y=2','doc#frag'] and $IDS[-2:]==['doc_nested_05','doc_nested_06']" "${POST[@]}" '{"sort":{"field":"word_count","direction":"asc"}}' "$(L col_articles)"
t "sort: desc, nulls first" 200 "$IDS[:4]==['doc_nested_05','doc_nested_06','doc_flat_04','doc_nested_04']" "${POST[@]}" '{"sort":{"field":"word_count","direction":"desc"}}' "$(L col_articles)"
t "sort: strings in byte order" 200 "[r.get('category') for r in d['results']][:5]==['NEWS','NEWS','News','News','Science']" "${POST[@]}" '{"sort":{"field":"category"},"select":["category"]}' "$(L col_articles)"
t "sort: bad direction" 422 '' "${POST[@]}" '{"sort":{"field":"category","direction":"up"}}' "$(L col_articles)"
t "sort: big desc + filter" 200 "$IDS==['doc_000998','doc_001998','doc_002998'] and d['stats']['total_documents']==25000" "${POST[@]}" '{"sort":{"field":"word_count","direction":"desc"},"filters":{"category":"TECH"}}' "$(L col_big 3)"

# ------------------------------------------------------------- select
t "select: nesting kept" 200 'd["results"][0]=={"document_id":"doc_nested_01","collection_id":"col_articles","metadata":{"title":"AI in Healthcare"},"_internal":{"lineage":{"path":"bkt_content/col_articles"}}} and d["results"][1]=={"document_id":"doc_flat_01","collection_id":"col_articles","metadata":{"title":"AI in Healthcare"}}' "${POST[@]}" '{"filters":{"metadata.title":"AI in Healthcare"},"select":["_internal.lineage.path","metadata.title"],"sort":{"field":"document_id","direction":"desc"}}' "$(L col_articles)"
t "list: return_url + return_vectors" 200 'all(("vector" in r and "presigned_urls" in r) if "_internal" not in r else ("text_extractor_v1_embedding" in r and "presigned_urls" not in r) for r in d["results"])' "${POST[@]}" '{"return_url":true,"return_vectors":true}' "$(L col_articles 5)"

# ----------------------------------------------------- list validation
t "limit 0" 422 'd["detail"][0]["loc"]==["query","limit"]' "${POST[@]}" '{}' "$(L col_articles 0)"
t "limit 1001" 422 'd["detail"][0]["loc"]==["query","limit"]' "${POST[@]}" '{}' "$(L col_articles 1001)"
t "limit abc" 422 '' "${POST[@]}" '{}' "$(L col_articles abc)"
t "limit default 10" 200 'len(d["results"])==10 and d["pagination"]["has_more"] is True' -X POST -H "$AUTH" "$B/v1/collections/col_articles/documents/list"
t "invalid JSON body" 422 'd["detail"][0]["type"]=="json_invalid"' "${POST[@]}" '{"filters":' "$(L col_articles)"
t "invalid cursor" 400 'd["error"]["type"]=="BadRequestError"' "${POST[@]}" '{"cursor":"not-a-cursor"}' "$(L col_articles)"
t "cursor style: no total unless asked" 200 'set(d["pagination"])=={"next_cursor","has_more"}' "${POST[@]}" '{}' "$(L col_articles 3)"
t "cursor style: include_total" 200 'd["pagination"]["total"]==20 and d["pagination"]["page"]==1 and d["pagination"]["page_size"]==3 and d["pagination"]["total_pages"]==7 and d["pagination"]["next_cursor"]' "${POST[@]}" '{}' "$(L col_articles 3)&include_total=true"
t "cursor style: total of a filter" 200 'd["pagination"]["total"]==25000' "${POST[@]}" '{"filters":{"category":"TECH"}}' "$(L col_big 3)&include_total=true"
t "offset style (namespace offset)" 200 'd["pagination"]=={"has_more":True,"limit":3,"offset":0,"total_count":20} and len(d["results"])==3' "${POST[@]}" '{}' -H 'X-Namespace: offset' "$(L col_articles 3)"
t "offset style: a later page" 200 'd["pagination"]=={"has_more":False,"limit":3,"offset":18,"total_count":20} and len(d["results"])==2' "${POST[@]}" '{}' -H 'X-Namespace: offset' "$(L col_articles 3)&offset=18"
t "offset style: offsets count matches" 200 '[r["document_id"] for r in d["results"]]==["doc_001009","doc_002009"] and d["pagination"]["total_count"]==100 and d["pagination"]["offset"]==1' "${POST[@]}" '{"filters":{"AND":[{"field":"word_count","operator":"eq","value":9}]}}' -H 'X-Namespace: offset' "$(L col_big 2)&offset=1"
t "offset style: a cursor is refused" 400 'd["error"]["type"]=="BadRequestError"' "${POST[@]}" '{"cursor":"x"}' -H 'X-Namespace: offset' "$(L col_articles 3)"
t "offset past 10000" 422 'd["detail"][0]["loc"]==["query","offset"]' "${POST[@]}" '{}' "$(L col_articles 3)&offset=10001"
t "offset not an integer" 422 'd["detail"][0]["loc"]==["query","offset"]' "${POST[@]}" '{}' "$(L col_articles 3)&offset=x"
t "offset in cursor style: the first position" 200 'd["results"][0]["document_id"]=="doc_000042"' "${POST[@]}" '{}' "$(L col_big 1)&offset=42"
t "collection: document_count and the required fields" 200 'd["document_count"]==4 and d["source"]=={"type":"collection","collection_id":"col_articles"} and d["feature_extractor"]["feature_extractor_id"]=="image_extractor_v1" and d["input_schema"]=={"properties":{}} and d["output_schema"]["properties"]["image_extractor_v1_embedding"]=={"type":"array"}' -H "$AUTH" "$B/v1/collections/frames"
t "collection: big" 200 'd["document_count"]==100000 and d["source"]["type"]=="bucket"' -H "$AUTH" "$B/v1/collections/col_big"
t "config: pagination per collection" 200 'd["pagination"]=={"col_frames":"offset"}' -X POST "$B/_mock/config" -d '{"pagination":{"col_frames":"offset"}}'
t "config: frames page by offset" 200 '"next_cursor" not in d["pagination"] and d["pagination"]["total_count"]==4' "${POST[@]}" '{}' "$(L col_frames 2)"
t "config: articles still by cursor" 200 '"next_cursor" in d["pagination"]' "${POST[@]}" '{}' "$(L col_articles 2)"
t "config: bad pagination" 400 '' -X POST "$B/_mock/config" -d '{"pagination":{"col_frames":"pages"}}'
t "config: reset clears pagination" 200 'd["config"]["pagination"]=={}' -X POST "$B/_mock/reset"

# ------------------------------------------------------------- paging
# pages(col, limit, body): a list query followed to its end: (pages, ids, last answer)
cat >"$TMP/pages.py" <<'EOF'
import sys, json, urllib.request
base = sys.argv[1]
def pages(col, limit, body):
    cur, n, ids = None, 0, []
    while n < 1000:
        b = dict(body)
        if cur: b['cursor'] = cur
        req = urllib.request.Request(f'{base}/v1/collections/{col}/documents/list?limit={limit}', data=json.dumps(b).encode(),
                                     headers={'Authorization': 'Bearer sk_test_alpha', 'X-Namespace': 'default', 'Content-Type': 'application/json'})
        d = json.load(urllib.request.urlopen(req))
        n += 1
        ids += [r['document_id'] for r in d['results']]
        cur = d['pagination']['next_cursor']
        assert d['pagination']['has_more'] == (cur is not None)
        if cur is None:
            break
    return n, ids, d
EOF
{ cat "$TMP/pages.py"; cat; } <<'EOF' | $PY - "$B" >"$TMP/paging" 2>&1
n, ids, _ = pages('col_big', 1000, {})
assert n == 100 and len(ids) == 100000 and ids == ['doc_%06d' % i for i in range(100000)], ('big', n, len(ids))
n, ids, _ = pages('col_articles', 3, {})
assert n == 7 and len(set(ids)) == 20, ('articles', n, len(ids))
n, ids, _ = pages('col_big', 1000, {'filters': {'cluster_id': 'cl_7'}, 'sort': {'field': 'rating', 'direction': 'desc'}})
assert n == 2 and len(set(ids)) == 2000, ('filtered', n, len(ids))
# a cursor is bound to its query
req = urllib.request.Request(f'{base}/v1/collections/col_big/documents/list?limit=5', data=b'{}', headers={'Authorization': 'Bearer sk_test_alpha', 'X-Namespace': 'default', 'Content-Type': 'application/json'})
cur = json.load(urllib.request.urlopen(req))['pagination']['next_cursor']
req = urllib.request.Request(f'{base}/v1/collections/col_big/documents/list?limit=5', data=json.dumps({'cursor': cur, 'filters': {'category': 'news'}}).encode(), headers={'Authorization': 'Bearer sk_test_alpha', 'X-Namespace': 'default', 'Content-Type': 'application/json'})
try:
    urllib.request.urlopen(req); raise AssertionError('cursor reuse accepted')
except urllib.error.HTTPError as e:
    assert e.code == 400
print('ok')
EOF
if grep -q '^ok$' "$TMP/paging"; then ok "paging (col_big limit=1000: 100 pages)"; else bad "paging" "$(cat "$TMP/paging")"; fi

# -------------------------------------------------------- collections
t "collections: page 1 of 2" 200 '[r["collection_id"] for r in d["results"]]==["col_articles","col_frames"] and d["total_count"]==4 and d["pagination"]["has_more"] and d["pagination"]["next_cursor"]' -X POST -H "$AUTH" "$B/v1/collections/list?limit=2"
CUR=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["pagination"]["next_cursor"])' "$TMP/body")
t "collections: page 2 of 2" 200 '[r["collection_name"] for r in d["results"]]==["big","Weird \"Name\"; drop"] and d["pagination"]["next_cursor"] is None' -X POST -H "$AUTH" "$B/v1/collections/list?limit=2&cursor=$CUR"
t "collections: a body cursor is ignored" 200 '[r["collection_id"] for r in d["results"]]==["col_articles","col_frames"]' -X POST -H "$AUTH" -H 'Content-Type: application/json' --data-binary "{\"cursor\":\"$CUR\"}" "$B/v1/collections/list?limit=2"
t "collections: articles schema types" 200 '{"string","text","integer","number","float","boolean","date","datetime","object","array","image","video"} <= {p["type"] for p in [r for r in d["results"] if r["collection_id"]=="col_articles"][0]["output_schema"]["properties"].values()}' -X POST -H "$AUTH" "$B/v1/collections/list"
t "collections: weird name addressable" 200 'len(d["results"])==2' "${POST[@]}" '{}' "$B/v1/collections/Weird%20%22Name%22%3B%20drop/documents/list"

# ------------------------------------------------------------- faults
F() { G col_faults "$1"; }
t "fault: status-503" 503 'd["error"]["type"]=="ServiceUnavailableError"' "$(F status-503)" -H "$AUTH"
t "fault: status-429 has no Retry-After" 429 '"retry-after" not in h' "$(F status-429)" -H "$AUTH"
t "fault: status-429-retry-after-7" 429 'h["retry-after"]=="7" and d["error"]["type"]=="TooManyRequestsError"' "$(F status-429-retry-after-7)" -H "$AUTH"
t "fault: status-404" 404 'd["error"]["details"]["resource"]=="document"' "$(F status-404)" -H "$AUTH"
t "fault: status-404-collection" 404 'd["error"]["details"]["resource"]=="collection"' "$(F status-404-collection)" -H "$AUTH"
t "fault: status-404-namespace" 404 'd["error"]["details"]["resource"]=="namespace"' "$(F status-404-namespace)" -H "$AUTH"
t "fault: status-422" 422 'isinstance(d["detail"], list)' "$(F status-422)" -H "$AUTH"
TOK=$$-$RANDOM
t "fault: flaky 1st" 503 '' "$(F flaky-503-2-$TOK)" -H "$AUTH"
t "fault: flaky 2nd" 503 '' "$(F flaky-503-2-$TOK)" -H "$AUTH"
t "fault: flaky 3rd" 200 'd["ok"] is True' "$(F flaky-503-2-$TOK)" -H "$AUTH"
t "fault: flaky 429 Retry-After 0" 429 'h["retry-after"]=="0"' "$(F flaky-429-1-$TOK)" -H "$AUTH"
s=$(curl -s -o /dev/null -w '%{time_total}' -H "$AUTH" "$(F stall-300)")
$PY -c "import sys; sys.exit(0 if float('$s') >= 0.3 else 1)" && ok "fault: stall-300" || bad "fault: stall-300" "$s s"
t "fault: invalid-json" 200 'd is None and raw' "$(F invalid-json)" -H "$AUTH"
t "fault: non-object" 200 'isinstance(d, list)' "$(F non-object)" -H "$AUTH"
t "fault: html" 200 'h["content-type"].startswith("text/html")' "$(F html)" -H "$AUTH"
t "fault: empty" 200 'raw==b""' "$(F empty)" -H "$AUTH"
t "fault: gzip-doc" 200 'h.get("content-encoding")=="gzip" and raw[:2]==b"\x1f\x8b"' "$(F gzip-doc)" -H "$AUTH"
t "fault: gzip-bomb-2" 200 'h.get("content-encoding")=="gzip" and len(raw) < 100000' "$(F gzip-bomb-2)" -H "$AUTH"
t "fault: huge-2" 200 'len(raw) > 2000000 and d["document_id"]=="huge-2"' "$(F huge-2)" -H "$AUTH"
t "fault: deep-50" 200 'raw.count(b"{")==50' "$(F deep-50)" -H "$AUTH"
t "fault: invalid-utf8" 200 'b"\xc3\x28" in raw' "$(F invalid-utf8)" -H "$AUTH"
t "fault: nul-escape" 200 'b"\\u0000" in raw' "$(F nul-escape)" -H "$AUTH"
t "fault: big-number" 200 'b"1234567890123456789012345678901234567890" in raw and b"1e400" in raw and b"0.1000000000000000000001" in raw' "$(F big-number)" -H "$AUTH"
t "fault: echo-key" 400 'b"sk_test_alpha" in raw' "$(F echo-key)" -H "$AUTH"
t "fault: unknown spec" 400 '' "$(F no-such-fault)" -H "$AUTH"
t "fault: needs auth" 401 '' "$(F status-200)"
curl -s -o /dev/null --max-time 5 -H "$AUTH" "$(F truncated)"; rc=$?
[ "$rc" = 18 ] && ok "fault: truncated (curl 18)" || bad "fault: truncated" "curl exit $rc"
curl -s -o /dev/null --max-time 5 -H "$AUTH" "$(F reset)"; rc=$?
[ "$rc" = 56 ] && ok "fault: reset (curl 56)" || bad "fault: reset" "curl exit $rc"
s=$(curl -s -o /dev/null -w '%{time_total}' -H "$AUTH" "$(F stall-body-400)")
$PY -c "import sys; sys.exit(0 if float('$s') >= 0.4 else 1)" && ok "fault: stall-body-400" || bad "fault: stall-body-400" "$s s"
t "faultpage: page 1 fine" 200 'len(d["results"])==5' "${POST[@]}" '{}' "$(L faultpage-2-status-500 5)"
CUR=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["pagination"]["next_cursor"])' "$TMP/body")
t "faultpage: page 2 fails" 500 'd["error"]["type"]=="InternalServerError"' "${POST[@]}" "{\"cursor\":\"$CUR\"}" "$(L faultpage-2-status-500 5)"

# ----------------------------------------------------- control endpoints
curl -s -X POST "$B/_mock/reset" >/dev/null
# one curl, three URLs: keep-alive must reuse one connection
curl -s -o /dev/null -o /dev/null -o /dev/null -H "$AUTH" -H 'X-Namespace: production' -H 'User-Agent: selftest/1' \
	"$(G col_articles doc%2Fwith%2Fslash)?return_url=true" "$(G col_big doc_000001)" "$(G col_big doc_000002)"
curl -s -o /dev/null -X POST -H 'Authorization: Bearer sk_test_beta' --data-binary '{"filters":{"rating":4.123456789012345678}}' "$(L col_articles 2)"
curl -s -o /dev/null "$(G col_articles doc_flat_01)"
t "stats: keep-alive reuse" 200 'd["requests"]==5 and d["connections"]==3' "$B/_mock/stats"
t "requests: log" 200 'len(d)==5 and d[0]["path"]=="/v1/collections/col_articles/documents/doc%2Fwith%2Fslash" and d[0]["query"]=={"return_url":"true"} and d[0]["namespace"]=="production" and d[0]["identity"]=="alpha" and d[0]["user_agent"]=="selftest/1" and d[0]["status"]==200 and d[3]["identity"]=="beta" and d[3]["method"]=="POST" and d[3]["query"]=={"limit":"2"} and d[4]["identity"] is None and d[4]["status"]==401 and d[1]["namespace"]=="production"' "$B/_mock/requests"
t "requests: body kept exactly" 200 'b"\"rating\":4.123456789012345678" in raw' "$B/_mock/requests"
t "requests: never the key" 200 'b"sk_test" not in raw' "$B/_mock/requests"
t "requests: since" 200 '[e["seq"] for e in d]==[4,5]' "$B/_mock/requests?since=3"
t "config: gzip + latency" 200 '{k: d[k] for k in ("latency_ms","gzip","record")}=={"latency_ms":150,"gzip":True,"record":False}' -X POST --data-binary '{"latency_ms":150,"gzip":true,"record":false}' "$B/_mock/config"
t "config: gzip applied" 200 'h.get("content-encoding")=="gzip"' -H "$AUTH" -H 'Accept-Encoding: gzip' "$(G col_big doc_000005)"
t "config: no gzip unless accepted" 200 '"content-encoding" not in h and d["document_id"]=="doc_000005"' -H "$AUTH" "$(G col_big doc_000005)"
s=$(curl -s -o /dev/null -w '%{time_total}' -H "$AUTH" "$(G col_big doc_000005)")
$PY -c "import sys; sys.exit(0 if float('$s') >= 0.15 else 1)" && ok "config: latency applied" || bad "config: latency" "$s s"
t "config: record off" 200 'len(d)==5' "$B/_mock/requests"
t "config: bad setting" 400 '' -X POST --data-binary '{"nope":1}' "$B/_mock/config"
t "reset" 200 '{k: d["config"][k] for k in ("latency_ms","gzip","record")}=={"latency_ms":0,"gzip":False,"record":True}' -X POST "$B/_mock/reset"
t "reset: log empty" 200 'd==[]' "$B/_mock/requests"
TOK2=$$-$RANDOM
curl -s -o /dev/null -H "$AUTH" "$(F flaky-500-1-$TOK2)"
curl -s -X POST "$B/_mock/reset" >/dev/null
t "reset: flaky counters cleared" 500 '' "$(F flaky-500-1-$TOK2)" -H "$AUTH"
# gather: two requests held until both are there (a broken gather keeps the
# first for its max_ms), then one alone that goes on after max_ms
t "config: gather" 200 'd["gather"]=={"count":2,"max_ms":60000}' -X POST --data-binary '{"gather":{"count":2,"max_ms":60000}}' "$B/_mock/config"
curl -s -o "$TMP/gather1" -H "$AUTH" "$(G col_big doc_000001)" &
gather_pid=$!
t "gather: the second request releases both" 200 'd["document_id"]=="doc_000002"' -H "$AUTH" "$(G col_big doc_000002)"
wait "$gather_pid"
$PY -c "import json,sys; sys.exit(json.load(open('$TMP/gather1'))['document_id'] != 'doc_000001')" && ok "gather: the first answered" || bad "gather: the first" "$(head -c 200 "$TMP/gather1")"
t "gather: none let go alone" 200 'd["gather_timeouts"]==0' "$B/_mock/stats"
curl -s -o /dev/null -X POST --data-binary '{"gather":{"count":2,"max_ms":50}}' "$B/_mock/config"
t "gather: alone after max_ms" 200 'd["document_id"]=="doc_000003"' -H "$AUTH" "$(G col_big doc_000003)"
t "gather: counted" 200 'd["gather_timeouts"]==1' "$B/_mock/stats"
t "config: bad gather" 400 '' -X POST --data-binary '{"gather":{"count":0,"max_ms":50}}' "$B/_mock/config"
t "reset: no gather" 200 'd["config"]["gather"] is None' -X POST "$B/_mock/reset"

# writes (writes.js): scratch collections, limits, 422s, faults, reads see writes
W=$B/v1/collections/scratch-selftest/documents
JSON=(-H "$AUTH" -H 'Content-Type: application/json' --data-binary)
t "writes: create" 200 'd["document_id"]=="doc_w000001" and d["title"]=="a" and d["_internal"]["lineage"]["root_object_id"]=="o"' -X POST "${JSON[@]}" '{"collection_id":"scratch-selftest","title":"a","root_object_id":"o"}' "$W"
t "writes: create without collection_id 422" 422 'd["detail"][0]["loc"]==["body","collection_id"]' -X POST "${JSON[@]}" '{"title":"a"}' "$W"
t "writes: create body not an object 422" 422 '' -X POST "${JSON[@]}" '[1]' "$W"
t "writes: create in a read-only collection 403" 403 '' -X POST "${JSON[@]}" '{"collection_id":"col_articles"}' "$B/v1/collections/col_articles/documents"
t "writes: create in an unknown collection 404" 404 'd["error"]["details"]["resource"]=="collection"' -X POST "${JSON[@]}" '{"collection_id":"x"}' "$B/v1/collections/nope/documents"
t "writes: patch" 200 'd["title"]=="b"' -X PATCH "${JSON[@]}" '{"title":"b"}' "$W/doc_w000001"
t "writes: patch a managed field 400" 400 '' -X PATCH "${JSON[@]}" '{"_internal":{}}' "$W/doc_w000001"
t "writes: patch a missing document 404" 404 'd["error"]["details"]=={"resource":"document","id":"nope"}' -X PATCH "${JSON[@]}" '{"title":"b"}' "$W/nope"
t "writes: reads see writes" 200 'd["title"]=="b"' -H "$AUTH" "$W/doc_w000001"
t "writes: batch update, one missing" 200 'd["updated_count"]==1 and d["failed_count"]==1 and d["results"][1]=={"document_id":"nope","success":False,"error":"Document not found"}' -X POST "${JSON[@]}" '{"updates":[{"document_id":"doc_w000001","update_data":{"n":1}},{"document_id":"nope","update_data":{}}]}' "$W/batch"
t "writes: batch update of 1001 is 422" 422 'd["detail"][0]["type"]=="too_long"' -X POST "${JSON[@]}" "$($PY -c 'import json; print(json.dumps({"updates":[{"document_id":"d%d"%i,"update_data":{}} for i in range(1001)]}))')" "$W/batch"
t "writes: batch update without update_data 422" 422 '' -X POST "${JSON[@]}" '{"updates":[{"document_id":"doc_w000001"}]}' "$W/batch"
t "writes: batch delete of 0 is 422" 422 'd["detail"][0]["type"]=="too_short"' -X DELETE "${JSON[@]}" '{"document_ids":[]}' "$W/batch"
t "writes: batch delete" 200 'd["deleted_count"]==1 and d["failed_count"]==1' -X DELETE "${JSON[@]}" '{"document_ids":["doc_w000001","nope"]}' "$W/batch"
t "writes: deleted" 404 '' -H "$AUTH" "$W/doc_w000001"
WF=$B/v1/collections/writefault-2-1-status-429-selftest/documents
t "writes: fault, first write normal" 200 '' -X POST "${JSON[@]}" '{"collection_id":"writefault-2-1-status-429-selftest"}' "$WF"
t "writes: fault, second write 429" 429 'h.get("retry-after")=="0"' -X POST "${JSON[@]}" '{"collection_id":"writefault-2-1-status-429-selftest"}' "$WF"
t "writes: fault, third write normal" 200 'd["document_id"]=="doc_w000002"' -X POST "${JSON[@]}" '{"collection_id":"writefault-2-1-status-429-selftest"}' "$WF"
t "writes: reset empties scratch collections" 200 '' -X POST "$B/_mock/reset"
t "writes: after reset" 200 'd["results"]==[]' -X POST "${JSON[@]}" '{}' "$B/v1/collections/scratch-selftest/documents/list?limit=10"

# ------------------------------------------------------------ contract
V="$B/_mock/violations"
curl -s -o /dev/null -X DELETE "$V"
t "contract: body cursor answered" 200 'len(d["results"])==1' "${POST[@]}" '{"cursor":"abc"}' "$B/v1/collections/list?limit=1"
t "contract: body cursor recorded" 200 'd["count"]==1 and d["violations"][0]["direction"]=="request" and d["violations"][0]["problems"][0]["loc"]==["body","cursor"] and d["violations"][0]["operation"]=="POST /v1/collections/list"' "$V"
t "contract: DELETE reads and clears" 200 'd["count"]==1' -X DELETE "$V"
t "contract: cleared" 200 'd=={"count":0,"violations":[]}' "$V"
t "contract: offset over 10000" 422 'd=={"detail":[{"type":"less_than_equal","loc":["query","offset"],"msg":"Input should be less than or equal to 10000","input":"10001","ctx":{"le":10000}}]}' "${POST[@]}" '{}' "$(L col_articles 10)&offset=10001"
t "contract: sort is one object" 422 'd["detail"][0]["type"]=="model_attributes_type" and d["detail"][0]["loc"]==["body","sort"]' "${POST[@]}" '{"sort":[{"field":"word_count"}]}' "$(L col_articles)"
t "contract: unknown query parameter answered" 200 '' -H "$AUTH" "$(G col_articles doc_flat_01)?verbose=1"
t "contract: unknown path" 404 '' -H "$AUTH" "$B/v1/collections/col_articles/documents"
t "contract: four recorded" 200 '[p["loc"] for v in d["violations"] for p in v["problems"]]==[["query","offset"],["body","sort"],["query","verbose"],["path"]]' -X DELETE "$V"
t "contract: compatibility extras accepted" 200 '' "${POST[@]}" '{"limit":2,"return_url":true,"return_presigned_urls":true}' "$(L col_articles 2)"
t "contract: answers fit" 200 'd["count"]==0' "$V"
t "contract: corrupt_responses on" 200 'd["corrupt_responses"] is True' -X POST --data-binary '{"corrupt_responses":true}' "$B/_mock/config"
t "contract: corrupt document sent" 200 'd["document_id"]==0' -H "$AUTH" "$(G col_articles doc_flat_01)"
t "contract: corrupt answer recorded" 200 'd["count"]==1 and d["violations"][0]["direction"]=="response" and d["violations"][0]["status"]==200 and d["violations"][0]["problems"][0]["loc"]==["response","document_id"]' -X DELETE "$V"
curl -s -o /dev/null -X POST --data-binary '{"corrupt_responses":false}' "$B/_mock/config"
curl -s -o /dev/null -H "$AUTH" "$(F invalid-json)"
t "contract: faults are wrong on purpose, not checked" 200 'd["count"]==0' "$V"

# ------------------------------------------------------ strict semantics
t "strict: config" 200 'd["semantics"]=="strict" and d["result_cap"]==10000' -X POST --data-binary '{"semantics":"strict"}' "$B/_mock/config"
t "strict: is_null explicit null only" 200 "sorted($IDS)==['doc_nested_06']" "${POST[@]}" '{"filters":{"AND":[{"field":"category","operator":"is_null","value":true}]}}' "$(L col_articles)"
t "strict: is_null false keeps missing" 200 "'doc_flat_04' in $IDS and 'doc_nested_06' not in $IDS" "${POST[@]}" '{"filters":{"AND":[{"field":"category","operator":"is_null","value":false}]}}' "$(L col_articles)"
t "strict: range on a string" 400 'd["error"]["type"]=="BadRequestError" and d["error"]["details"]["field"]=="category" and d["error"]["details"]["operator"]=="gte" and "\"category\"" in d["error"]["message"]' "${POST[@]}" '{"filters":{"AND":[{"field":"category","operator":"gte","value":"n"}]}}' "$(L col_articles)"
t "strict: range on a datetime" 200 "sorted($IDS)==['doc_flat_02','doc_nested_02','doc_nested_05']" "${POST[@]}" '{"filters":{"AND":[{"field":"published_at","operator":"gte","value":"2024-04-15T06:30:00Z"},{"field":"published_at","operator":"lt","value":"2024-07-01T00:00:00Z"}]}}' "$(L col_articles)"
t "strict: eq on a float" 400 'd["error"]["details"]["operator"]=="eq" and d["error"]["details"]["field"]=="rating"' "${POST[@]}" '{"filters":{"rating":4.1234567890123456781}}' "$(L col_articles)"
t "strict: nin with a float" 400 'd["error"]["details"]["operator"]=="nin"' "${POST[@]}" '{"filters":{"AND":[{"field":"word_count","operator":"nin","value":[1,2.5]}]}}' "$(L col_articles)"
t "strict: eq on an integer" 200 "sorted($IDS)==['doc_flat_01','doc_nested_01']" "${POST[@]}" '{"filters":{"word_count":1200}}' "$(L col_articles)"
t "strict: sort unindexed" 400 'd["error"]["details"]=={"field":"rating","operator":"sort","indexed_fields":["document_id","created_at","updated_at","_internal.created_at","_internal.updated_at","category","word_count","published_at"]}' "${POST[@]}" '{"sort":{"field":"rating"}}' "$(L col_articles)"
t "strict: sort indexed" 200 "$IDS[0]=='doc_nested_05'" "${POST[@]}" '{"sort":{"field":"word_count","direction":"desc"}}' "$(L col_articles)"
t "strict: indexed_fields set" 200 'd["indexed_fields"]=={"col_articles":["rating"]}' -X POST --data-binary '{"indexed_fields":{"col_articles":["rating"]}}' "$B/_mock/config"
t "strict: sort on a field indexed by config" 200 "$IDS[0]=='doc_nested_06'" "${POST[@]}" '{"sort":{"field":"rating","direction":"desc"}}' "$(L col_articles)"
t "strict: indexed_fields back" 200 'd["indexed_fields"] is None' -X POST --data-binary '{"indexed_fields":null}' "$B/_mock/config"
t "strict: indexes listed" 200 '{"field_name":"word_count","type":"integer"} in d["payload_indexes"]' -H "$AUTH" "$B/v1/collections/col_articles"
{ cat "$TMP/pages.py"; cat; } <<'EOF' | $PY - "$B" >"$TMP/cap" 2>&1
n, ids, d = pages('col_big', 1000, {})
assert (n, len(ids), d['stats']['total_documents']) == (10, 10000, 100000), (n, len(ids))
print('ok')
EOF
if grep -q '^ok$' "$TMP/cap"; then ok "strict: a query ends at 10,000 results"; else bad "strict: result cap" "$(cat "$TMP/cap")"; fi
t "strict: no cap" 200 'd["result_cap"] is None' -X POST --data-binary '{"result_cap":null}' "$B/_mock/config"
t "strict: uncapped past 10,000" 200 'len(d["results"])==1000 and d["pagination"]["next_cursor"]' "${POST[@]}" '{"sort":{"field":"document_id","direction":"desc"}}' "$(L col_big 1000)"
t "strict: bad semantics" 400 '' -X POST --data-binary '{"semantics":"loose"}' "$B/_mock/config"
t "strict: nothing recorded" 200 'd["count"]==0' "$V"
t "reset: back to the command line" 200 'd["config"]["semantics"]=="lenient" and d["config"]["result_cap"] is None' -X POST "$B/_mock/reset"

# ------------------------------------------------------------- aggregate
A() { printf '%s' "$B/v1/collections/$1/documents/aggregate"; }
t "aggregate: count by category" 200 'd["total_groups"]==4 and sorted((r["group"]["c"], r["metrics"]["n"]) for r in d["results"])==[("news",25000),("science",25000),("sports",25000),("tech",25000)]' "${POST[@]}" '{"group_by":[{"field":"category","alias":"c"}],"aggregations":[{"function":"count","alias":"n"}]}' "$(A col_big)"
t "aggregate: filters, min/max, count_distinct, having, sort, limit" 200 '[(r["group"]["c"], r["metrics"]) for r in d["results"]]==[("tech",{"n":1000,"lo":2,"hi":902,"k":10})]' "${POST[@]}" '{"group_by":[{"field":"category","alias":"c"}],"aggregations":[{"function":"count","alias":"n"},{"function":"min","field":"word_count","alias":"lo"},{"function":"max","field":"word_count","alias":"hi"},{"function":"count_distinct","distinct_field":"word_count","alias":"k"}],"filters":{"field":"cluster_id","operator":"in","value":["cl_2","cl_3"]},"having":[{"field":"n","operator":"gte","value":10}],"sort_by":"c","sort_direction":"desc","limit":1}' "$(A col_big)"
t "aggregate: a missing group field forms no group" 200 'None not in [r["group"]["c"] for r in d["results"]] and sum(r["metrics"]["n"] for r in d["results"])==17' "${POST[@]}" '{"group_by":[{"field":"category","alias":"c"}],"aggregations":[{"function":"count","alias":"n"}]}' "$(A col_articles)"
t "aggregate: null and missing are one more distinct value" 200 'd["results"][0]["metrics"]["k"]==12' "${POST[@]}" '{"group_by":[{"field":"collection_id"}],"aggregations":[{"function":"count_distinct","distinct_field":"category","alias":"k"}]}' "$(A col_articles)"
t "aggregate: date_trunc day" 200 'd["results"][0]["group"]["d"]=="2024-01-01T00:00:00Z" and d["results"][0]["metrics"]["n"]==1168' "${POST[@]}" '{"group_by":[{"field":"_internal.created_at","alias":"d","date_trunc":"day"}],"aggregations":[{"function":"count","alias":"n"}]}' "$(A col_big)"
t "aggregate: count_distinct without distinct_field" 400 '' "${POST[@]}" '{"group_by":[{"field":"category"}],"aggregations":[{"function":"count_distinct","alias":"k"}]}' "$(A col_big)"
t "aggregate: having on an unknown alias" 400 '' "${POST[@]}" '{"group_by":[{"field":"category"}],"aggregations":[{"function":"count","alias":"n"}],"having":[{"field":"x","operator":"gt","value":1}]}' "$(A col_big)"
t "aggregate: no group_by is the contract's 422" 422 '' "${POST[@]}" '{"aggregations":[{"function":"count","alias":"n"}]}' "$(A col_big)"
t "aggregate: faults through faultpage" 500 '' "${POST[@]}" '{"group_by":[{"field":"category"}],"aggregations":[{"function":"count","alias":"n"}]}' "$(A faultpage-1-status-500)"
t "aggregate: GET is 405" 405 '' -H "$AUTH" "$(A col_big)"

# SIGTERM: clean exit, port file removed
kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
[ "$rc" = 0 ] && [ ! -e "$TMP/port" ] && ok "SIGTERM: clean exit" || bad "SIGTERM" "exit $rc"

echo "selftest: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
