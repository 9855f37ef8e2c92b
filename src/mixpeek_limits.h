/*-------------------------------------------------------------------------
 *
 * mixpeek_limits.h
 *		Every named limit and default of pg_mixpeek, each with the reason
 *		for its value.
 *
 * Plain C, without PostgreSQL headers, so that the parts built also on
 * their own (percent.c, retry_after.c, float_bounds.c, json_depth.c and
 * the libFuzzer harnesses of test/fuzz/) may include it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_LIMITS_H
#define MIXPEEK_LIMITS_H

#include <limits.h>

/* ---------- settings: defaults and bounds of the mixpeek.* parameters ---------- */

/* The public API; a mock or a proxy is configured explicitly. */
#define MX_DEFAULT_BASE_URL "https://api.mixpeek.com"

/*
 * mixpeek.timeout_ms: one request, its retries and their back-off
 * included.  A list page of large documents takes seconds; half a minute
 * is generous without letting a stalled server hold a backend for long.
 */
#define MX_DEFAULT_TIMEOUT_MS 30000

/* mixpeek.connect_timeout_ms: a TCP and TLS handshake, even far away. */
#define MX_DEFAULT_CONNECT_TIMEOUT_MS 10000

/*
 * mixpeek.max_retries: two retries ride out a brief 429 or 5xx; more
 * would multiply the load on a service that is struggling already.  The
 * bound keeps a statement's worst case (each retry waits its back-off)
 * finite.
 */
#define MX_DEFAULT_MAX_RETRIES 2
#define MX_MAX_RETRIES_MAX 100

/*
 * mixpeek.max_concurrency: requests in flight at once for one key, across
 * every session that uses it when the library is preloaded (budget.c).
 * Five is what Mixpeek's Free tier allows; Pro accounts may raise it.  The
 * bound is the number of transfers one backend runs at once
 * (MX_MAX_HANDLES).
 */
#define MX_DEFAULT_CONCURRENCY 5
#define MX_CONCURRENCY_MAX 64

/*
 * mixpeek.page_size and the page_size table option: documents per list
 * request.  The API takes a limit of 1 to 1000; 100 keeps a page of
 * documents with vectors within a few megabytes.
 */
#define MX_DEFAULT_PAGE_SIZE 100
#define MX_PAGE_SIZE_MAX 1000

/*
 * Without a page_size of the table's own, mixpeek.page_size is the size of
 * a list scan's first page only: each page after it asks for this many
 * times more documents, up to MX_PAGE_SIZE_MAX.  A query that reads a few
 * rows waits for a small page; a long scan takes few round trips.
 */
#define MX_PAGE_GROWTH 2

/*
 * A top-N scan ordered by several keys reads the n-th row's tie group on
 * the first: its first page holds n + 1 rows and this many times the tie
 * group the column's statistics expect (rows / distinct values), so that
 * one request usually holds it whole.  Without statistics it asks for
 * MX_PAGE_SIZE_MAX.
 */
#define MX_TIES_MARGIN 2

/*
 * The API's own bound on one document list (its "rate limits and quotas"
 * page; the offset parameter's maximum in the OpenAPI agrees): at most
 * this many results per query.  A scan that would need more ends with an
 * ERROR (paging.c), never with part of the result.
 */
#define MX_LIST_MAX_RESULTS 10000

/*
 * mixpeek.max_response_bytes, in kB: a body larger than this (after
 * decompression) fails cleanly instead of exhausting the backend's
 * memory.  256MB holds large pages of documents with vectors.  The upper
 * bound only keeps the setting a sane int: a body cannot grow past 1GB,
 * PostgreSQL's largest allocation, whatever it says.
 */
#define MX_DEFAULT_MAX_RESPONSE_KB (256 * 1024)
#define MX_MAX_RESPONSE_KB_MAX (INT_MAX / 2)

/*
 * Lengths of an API key, in bytes.  Shorter keys are not real ones, and
 * masking them in error text would mangle unrelated words; no real key is
 * longer, and the bound keeps masking a reply's first bytes exact (api.c).
 */
#define MX_MIN_KEY_BYTES 8
#define MX_MAX_KEY_BYTES 1024

/* ---------- HTTP (http.c) ---------- */

/*
 * Longest wait between two checks for interrupts while requests run: a
 * cancel or statement_timeout stops a stalled request within this.
 */
#define MX_WAIT_SLICE_MS 25

/*
 * Exponential back-off before a retry: the first waits around
 * MX_BACKOFF_BASE_MS, each next one twice as long, never more than
 * MX_BACKOFF_CAP_MS, so that mixpeek.timeout_ms still leaves room for it.
 */
#define MX_BACKOFF_BASE_MS 200
#define MX_BACKOFF_CAP_MS 10000

/*
 * A server's Retry-After is honoured up to a minute: a longer (or hostile)
 * value must not park a backend for hours.
 */
#define MX_RETRY_AFTER_CAP_MS 60000

/*
 * Transfers running at once in one backend, and easy handles (with their
 * connections) kept for reuse: one per request a batch may run at once.
 */
#define MX_MAX_HANDLES MX_CONCURRENCY_MAX

/* ---------- the budget of a key (budget.c) ---------- */

/*
 * Keys whose budget is tracked at once (in shared memory when preloaded):
 * far more than one cluster's servers and user mappings use at a time.
 * The least recently used idle key gives way to a new one.
 */
#define MX_BUDGET_KEYS 64

/*
 * How long the gap a 429's headers named (Window / Limit) holds without
 * another 429: a minute, the longest window Mixpeek has.
 */
#define MX_BUDGET_FORGET_MS 60000

/*
 * Pacing after a 429 that named its limit stays a quarter below it: starts
 * spaced exactly Window / Limit apart still reach the server unevenly.
 */
#define MX_BUDGET_GAP_MARGIN 1.25

/*
 * Near the concurrency at which the last 429 came, the AIMD window grows
 * this many times slower.
 */
#define MX_BUDGET_PROBE 16

/*
 * Longest gap between two starts a 429's headers may ask for: one request
 * a second is slower than any tier allows, and a hostile Window / Limit
 * must not park every session of a key.
 */
#define MX_BUDGET_MAX_GAP_MS 1000

/*
 * A key whose requests in flight neither started nor ended for this long
 * is taken not to be busy but held by idle sessions (an open cursor's next
 * page stays "in flight" until it fetches again): a new request then
 * starts beyond the cap rather than wait for them.
 */
#define MX_BUDGET_STALL_MS 2000

/* An X-RateLimit-Reset above this is a Unix time, not seconds to wait. */
#define MX_BUDGET_RESET_EPOCH 1000000000.0

/* ---------- the API's replies (api.c, json.c) ---------- */

/* Bytes of a reply that is not a Mixpeek error shown in a message. */
#define MX_SNIPPET_BYTES 200

/*
 * Bytes of such a reply masked before the snippet is cut from it.  Each
 * "[redacted]" (10 bytes) stands for at most MX_MAX_KEY_BYTES, so a key
 * that the window's end cuts starts past 10 * 63 bytes of masked text,
 * out of the snippet, whatever the window holds (checked in api.c).
 */
#define MX_SNIPPET_WINDOW (64 * 1024)

/*
 * Entries of an error reply's details (FastAPI's detail[], Mixpeek's
 * error.details) shown in an ERROR's DETAIL, and bytes of each: enough to
 * say what was wrong, while a reply listing every element of a long IN
 * list cannot flood the log.
 */
#define MX_ERROR_DETAILS_MAX 5
#define MX_ERROR_DETAIL_BYTES 160

/*
 * Deepest nesting of arrays and objects accepted in a body.  jsonb_in
 * recurses once per level; far below the stack depth limit, far above any
 * real document.
 */
#define MX_JSON_MAX_DEPTH 512

/*
 * Longest number an aggregate answer's fast read takes as it is, and the
 * most digits of its exponent (a double's are at most 3: 1e-05, 1.2e+20);
 * within both numeric_in cannot fail.  Others send the answer to the
 * whole parse, whose errors name what is out of range.
 */
#define MX_JSON_FAST_NUMBER_LEN 40
#define MX_JSON_FAST_EXPONENT_DIGITS 3

/* ---------- foreign tables (fdw.c, convert.c, import.c) ---------- */

/*
 * Costs, in the planner's units (a sequential page read is 1.0).  One HTTP
 * round trip to the API is worth about a hundred page reads; converting a
 * document into a row about as much as evaluating a few operators.
 */
#define MX_COST_REQUEST 100.0
#define MX_COST_ROW 0.01

/*
 * An aggregate request (upper.c): one round trip whose answer holds groups,
 * not documents.  Below MX_COST_REQUEST by more than the planner's 1% fuzz,
 * so that it wins over a scan of even one page followed by a local
 * aggregate, which moves every document it counts.
 */
#define MX_COST_AGGREGATE_REQUEST 90.0

/*
 * Each further aggregate request of a grouping split between a column's
 * locations: sent alongside the first, its round trip overlaps the
 * first's.  The sum stays below MX_COST_REQUEST by more than the fuzz.
 */
#define MX_COST_AGGREGATE_SPLIT 3.0

/* The largest LIMIT on groups sent as an aggregate request's "limit". */
#define MX_AGGREGATE_LIMIT_MAX PG_INT32_MAX

/*
 * The largest count * max(|min|, |max|) of a group whose integer sum, as
 * the API may add it in doubles, is taken as exact: below 2^53 every
 * partial sum of integers is a double, whatever the order of addition.
 */
#define MX_AGGREGATE_EXACT_SUM ((int64) 1 << 53)

/*
 * An avg of doubles with nulls counts its values as rint(sum / avg) of the
 * API's sum and avg: the avg may be off sum / N by this many units in the
 * last place (an ERROR beyond), and N, at most the group's documents, is
 * trusted below MX_AGGREGATE_AVG_VALUES_MAX, where N * ulps * 2^-52 stays
 * far below the 0.5 that rint rounds off.
 */
#define MX_AGGREGATE_AVG_ULPS 4
#define MX_AGGREGATE_AVG_VALUES_MAX ((int64) 1 << 40)

/*
 * Document ids per list request of an id lookup ("document_id in [...]"):
 * the API's largest page, so that each request's matches fit in one page.
 */
#define MX_IDS_PER_REQUEST 1000

/*
 * Outer rows a batched join (batch_join.c) reads per batch, for each
 * request it may have in flight (mixpeek.max_concurrency): a batch's
 * distinct ids fill at most that many id lookups, sent at once.
 */
#define MX_BATCH_JOIN_ROWS_PER_REQUEST MX_IDS_PER_REQUEST

/*
 * Rows assumed for a collection; the API does not tell us its size cheaply
 * and there is no table option for it.
 */
#define MX_DEFAULT_ROWS 1000.0

/*
 * mixpeek.count_cache_ms: a collection's document_count is reused for a
 * minute, so planning a query costs at most one request a minute per
 * collection and role, while the count follows a growing collection.
 */
#define MX_DEFAULT_COUNT_CACHE_MS 60000

/* Collections whose count one backend remembers; the oldest gives way. */
#define MX_COUNT_CACHE_ENTRIES 256

/*
 * The "rows" option: a count, in decimal digits, up to 10^15 (more
 * documents than any collection holds, and exact in a double).
 */
#define MX_ROWS_OPTION_MAX 1000000000000000.0

/*
 * ANALYZE reads at most this many documents, in pages of
 * MX_PAGE_SIZE_MAX: the API lists at most 10,000 results per query.
 */
#define MX_ANALYZE_MAX_DOCS 10000

/*
 * Characters of a value shown in a conversion error: enough to recognize
 * it, while a whole document in a message would drown the rest.
 */
#define MX_SHOWN_VALUE_LEN 80

/*
 * Collections per page of the collection list IMPORT FOREIGN SCHEMA reads,
 * and the pages it follows: 100,000 collections, far more than a namespace
 * holds, while a server that keeps handing out new cursors cannot keep an
 * import paging forever.
 */
#define MX_IMPORT_PAGE_SIZE 100
#define MX_IMPORT_MAX_PAGES 1000

/*
 * Retriever searches (search.c, retriever.c): the API's largest cursor
 * page, and the results a retriever foreign table asks for when no LIMIT
 * says fewer (mixpeek_search() has its own default, max_results 100, in
 * its SQL signature).
 */
#define MX_SEARCH_PAGE_MAX 500
#define MX_SEARCH_DEFAULT_ROWS 100.0

/*
 * Pages in a row without results but with a next cursor that a search
 * follows: a pipeline's filters may empty a page, while a server handing
 * out new cursors to empty pages must not keep a search paging forever.
 */
#define MX_SEARCH_MAX_EMPTY_PAGES 20

/* ---------- mixpeek_stats (stats.c) ---------- */

/*
 * Entries (database, role, server, request kind) in shared memory; more
 * are counted together in one overflow entry.  A thousand cover every
 * real combination at a few hundred kilobytes.
 */
#define MX_STATS_MAX_ENTRIES 1000

/* ---------- writes (modify.c) ---------- */

/*
 * Documents per batch request (POST and DELETE .../documents/batch): the
 * API's maxItems.  It is also the default batch_size, so that a large
 * UPDATE or DELETE makes a thousandth of the requests.
 */
#define MX_WRITE_BATCH_MAX 1000
#define MX_WRITE_BATCH_DEFAULT MX_WRITE_BATCH_MAX

/*
 * Longest document id (bytes, with the terminator) that a statement tracks
 * to skip a document it already wrote; a longer one is written again,
 * which is harmless for the idempotent PATCH and DELETE.
 */
#define MX_MAX_DOCUMENT_ID_KEY 512

/* Document ids listed in the DETAIL of a failed write, of each kind. */
#define MX_WRITE_SHOWN_IDS 10

#endif							/* MIXPEEK_LIMITS_H */
