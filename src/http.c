/*-------------------------------------------------------------------------
 *
 * http.c
 *		The HTTP core: one libcurl multi handle per backend.
 *
 * The multi handle lives as long as the backend, so its connection cache
 * keeps connections to Mixpeek open between statements (keep-alive, or one
 * multiplexed HTTP/2 connection where the server offers it).  Easy handles
 * are pooled for the same reason.
 *
 * libcurl callbacks never raise an ERROR: a longjmp through libcurl would
 * leave it corrupt.  They record what went wrong in the request and return;
 * the request is then reported by the caller.  Waiting happens in slices
 * of at most MX_WAIT_SLICE_MS with CHECK_FOR_INTERRUPTS() between them, so
 * cancel and statement_timeout stop a stalled request promptly.  Should an
 * ERROR escape while transfers run, the batch is taken apart by a memory
 * context callback or, failing that, by the (sub)transaction abort hooks,
 * so the multi handle is sound for the next statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "access/xact.h"
#include "common/pg_prng.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "budget.h"
#include "compat.h"
#include "http.h"
#include "mixpeek_limits.h"
#include "retry_after.h"
#include "settings.h"

typedef struct MxHeaders MxHeaders;

typedef struct MxHttpPrivate
{
	MxBatch    *batch;
	MemoryContext cxt;			/* where the response buffer grows */
	size_t		limit;			/* max_response_bytes for this attempt */
	bool		too_large;
	bool		out_of_memory;
	TimestampTz not_before;		/* back-off: do not start before */
	TimestampTz deadline;		/* mixpeek.timeout_ms from the first attempt */
	TimestampTz started;		/* this attempt's start */
	char		retry_after[64];
	uint64		budget_key;		/* whose budget it draws on */
	int64		budget_seq;		/* this attempt, for the budget */
} MxHttpPrivate;

/*
 * The headers of one key and namespace.  Every batch holds a reference, and
 * so does the cache of the most recent list; the list is wiped and freed
 * only when the last holder lets go.  A batch of another key or namespace
 * in the same statement therefore never changes the headers of a transfer
 * already under way: libcurl reads the list while it sends, not only when
 * the request is set up.
 */
struct MxHeaders
{
	int			refcount;
	struct curl_slist *list;
	char	   *api_key;
	char	   *namespace;
};

/*
 * A running transfer.  The handle is kept here, not in the request, so that
 * taking a batch apart never reads requests: after an ERROR their memory
 * may already be gone.
 */
typedef struct MxSlot
{
	CURL	   *easy;
	MxHttpRequest *req;
	uint64		budget_key;		/* given back when the transfer ends */
} MxSlot;

struct MxBatch
{
	dlist_node	node;			/* in live_batches */
	MemoryContext cxt;
	MemoryContextCallback cleanup;
	SubTransactionId subxid;
	bool		destroyed;
	int			concurrency;
	MxHttpStats *stats;
	Oid			userid;			/* for mixpeek_stats */
	Oid			serverid;
	MxHeaders  *headers;		/* one reference, released on destroy */
	char	   *api_key;		/* only to mask it in messages */
	size_t		buffered;		/* response bytes held, not yet handed back */
	List	   *waiting;		/* queued or backing off, in order */
	List	   *finished;		/* done, not yet handed back */
	MxSlot		running[MX_MAX_HANDLES];
	int			nrunning;
	TimestampTz budget_blocked;	/* since when the budget holds a start back */
};

static CURLM *multi = NULL;
static CURL *idle_handles[MX_MAX_HANDLES];
static int	nidle = 0;
static dlist_head live_batches = DLIST_STATIC_INIT(live_batches);

/* The most recent headers, kept for the next batch of the same key. */
static MxHeaders *cached_headers = NULL;

/*
 * Response bytes held by every batch of the backend, not yet handed back.
 * Bounded by mixpeek.max_response_bytes in total, not per body, so that
 * many large bodies at once cannot exhaust the server's memory.
 */
static size_t buffered_bytes = 0;

static void batch_cleanup_callback(void *arg);

/* ---------- libcurl callbacks: record, never raise ---------- */

static size_t
write_callback(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	MxHttpRequest *req = userdata;
	MxHttpPrivate *priv = req->priv;
	StringInfo	buf = &req->response;
	size_t		n = size * nmemb;
	size_t		needed = (size_t) buf->len + n + 1;

	if ((size_t) buf->len + n > priv->limit)
	{
		priv->too_large = true;
		return 0;
	}
	if (buffered_bytes + n > priv->limit)
	{
		priv->too_large = true;
		req->over_total = true;
		return 0;
	}
	if (needed > (size_t) buf->maxlen)
	{
		size_t		newlen = pg_nextpower2_size_t(needed);
		char	   *data;

		data = MemoryContextAllocExtended(priv->cxt, newlen,
										  MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
		if (data == NULL)
		{
			priv->out_of_memory = true;
			return 0;
		}
		memcpy(data, buf->data, buf->len);
		pfree(buf->data);
		buf->data = data;
		buf->maxlen = newlen;
	}
	memcpy(buf->data + buf->len, ptr, n);
	buf->len += n;
	buf->data[buf->len] = '\0';
	req->bytes += n;
	priv->batch->buffered += n;
	buffered_bytes += n;
	return n;
}

static size_t
header_callback(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	MxHttpRequest *req = userdata;
	size_t		n = size * nmemb;

	int			i;

	if (mx_retry_after_header(ptr, n, req->priv->retry_after,
							  sizeof(req->priv->retry_after)))
		return n;
	for (i = 0; i < MX_RATE_LIMIT_NHEADERS; i++)
	{
		if (mx_header_value(ptr, n, mx_rate_limit_headers[i],
							req->rate_limit[i], sizeof(req->rate_limit[i])))
			break;
	}
	return n;
}

/* ---------- handles and headers ---------- */

static void
ensure_multi(void)
{
	if (multi != NULL)
		return;
	multi = curl_multi_init();
	if (multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not initialize libcurl")));
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) MX_MAX_HANDLES);
	curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);
}

static CURL *
new_easy_handle(void)
{
	CURL	   *easy = curl_easy_init();

	if (easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));

	/* libcurl must not use SIGALRM: the backend owns it for its timeouts */
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	/* ids such as ".." must reach the server as they are */
	curl_easy_setopt(easy, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "pg_mixpeek/" MIXPEEK_VERSION);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_callback);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_callback);
	return easy;
}

static CURL *
take_handle(void)
{
	if (nidle > 0)
		return idle_handles[--nidle];
	return new_easy_handle();
}

/*
 * An idle handle keeps no pointer into a request or a batch: their memory
 * goes away with the statement, and the headers with the last batch.
 */
static void
return_handle(CURL *easy)
{
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, NULL);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, NULL);
	if (nidle < MX_MAX_HANDLES)
		idle_handles[nidle++] = easy;
	else
		curl_easy_cleanup(easy);
}

/*
 * Header values come from settings and options that have their own checks;
 * this is the last line before the wire.  A CR or LF would end the header
 * and start another (or a second request on a kept-alive connection).
 */
static void
check_header_value(const char *name, const char *value)
{
	const unsigned char *p;

	for (p = (const unsigned char *) value; *p != '\0'; p++)
	{
		if (*p < 0x20 || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for the %s header of a Mixpeek request", name),
					 errdetail("The value contains control characters.")));
	}
}

static struct curl_slist *
append_header(struct curl_slist *list, const char *name, const char *value)
{
	char	   *line;
	struct curl_slist *result;

	check_header_value(name, value);
	line = psprintf("%s: %s", name, value);
	result = curl_slist_append(list, line);
	explicit_bzero(line, strlen(line));
	pfree(line);
	if (result == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	return result;
}

/* Wipe the key from memory we are about to give back. */
static void
free_header_list(struct curl_slist *list)
{
	struct curl_slist *h;

	for (h = list; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(list);
}

static struct curl_slist *
build_header_list(const char *api_key, const char *ns)
{
	struct curl_slist *volatile list = NULL;
	char	   *bearer = psprintf("Bearer %s", api_key);

	PG_TRY();
	{
		list = append_header(list, "Authorization", bearer);
		if (ns[0] != '\0')
			list = append_header(list, "X-Namespace", ns);
		list = append_header(list, "Accept", "application/json");
		list = append_header(list, "Content-Type", "application/json");
		/* a POST body is small; waiting for 100-continue adds a round trip */
		list = append_header(list, "Expect", "");
	}
	PG_CATCH();
	{
		free_header_list(list);
		explicit_bzero(bearer, strlen(bearer));
		PG_RE_THROW();
	}
	PG_END_TRY();
	explicit_bzero(bearer, strlen(bearer));
	pfree(bearer);
	return list;
}

static void
release_headers(MxHeaders *h)
{
	if (h == NULL || --h->refcount > 0)
		return;
	free_header_list(h->list);
	explicit_bzero(h->api_key, strlen(h->api_key));
	pfree(h->api_key);
	pfree(h->namespace);
	pfree(h);
}

/*
 * A reference to the headers of this key and namespace: the cached ones
 * when they match, else new ones, which become the cache.
 */
static MxHeaders *
acquire_headers(const char *api_key, const char *namespace)
{
	const char *ns = namespace ? namespace : "";
	struct curl_slist *list;
	MxHeaders  *h;

	if (cached_headers != NULL && strcmp(cached_headers->api_key, api_key) == 0 &&
		strcmp(cached_headers->namespace, ns) == 0)
	{
		cached_headers->refcount++;
		return cached_headers;
	}
	list = build_header_list(api_key, ns);
	h = MemoryContextAllocZero(TopMemoryContext, sizeof(MxHeaders));
	h->list = list;
	h->api_key = MemoryContextStrdup(TopMemoryContext, api_key);
	h->namespace = MemoryContextStrdup(TopMemoryContext, ns);
	h->refcount = 2;			/* the cache's and the caller's */
	release_headers(cached_headers);
	cached_headers = h;
	return h;
}

/* ---------- batches ---------- */

MxHttpRequest *
mx_http_request_new(const char *method, char *url, const char *path, char *body,
					MxRequestKind kind)
{
	MxHttpRequest *req = palloc0(sizeof(MxHttpRequest));

	req->method = method;
	req->url = url;
	req->path = path;
	req->body = body;
	req->kind = kind;
	initStringInfo(&req->response);
	req->priv = palloc0(sizeof(MxHttpPrivate));
	req->priv->cxt = CurrentMemoryContext;
	return req;
}

MxBatch *
mx_batch_create(const char *api_key, const char *namespace,
				Oid userid, Oid serverid, int concurrency, MxHttpStats *stats)
{
	MxBatch    *batch;

	ensure_multi();
	batch = palloc0(sizeof(MxBatch));
	batch->cxt = CurrentMemoryContext;
	batch->concurrency = Max(1, Min(concurrency, MX_MAX_HANDLES));
	batch->stats = stats;
	batch->userid = userid;
	batch->serverid = serverid;
	batch->api_key = pstrdup(api_key);
	batch->headers = acquire_headers(api_key, namespace);
	batch->subxid = GetCurrentSubTransactionId();
	batch->cleanup.func = batch_cleanup_callback;
	batch->cleanup.arg = batch;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &batch->cleanup);
	dlist_push_tail(&live_batches, &batch->node);
	return batch;
}

void
mx_batch_add(MxBatch *batch, MxHttpRequest *req)
{
	MemoryContext old = MemoryContextSwitchTo(batch->cxt);

	Assert(!batch->destroyed);
	req->priv->batch = batch;
	req->priv->budget_key = mx_budget_key(batch->api_key, req->url);
	req->outcome = MX_HTTP_PENDING;
	batch->waiting = lappend(batch->waiting, req);
	MemoryContextSwitchTo(old);
}

int
mx_batch_pending(MxBatch *batch)
{
	return list_length(batch->waiting) + batch->nrunning +
		list_length(batch->finished);
}

static void
detach(MxBatch *batch, int i)
{
	CURL	   *easy = batch->running[i].easy;

	curl_multi_remove_handle(multi, easy);
	return_handle(easy);
	mx_budget_release(batch->running[i].budget_key);
	batch->running[i] = batch->running[--batch->nrunning];
}

void
mx_batch_destroy(MxBatch *batch)
{
	if (batch == NULL || batch->destroyed)
		return;
	batch->destroyed = true;
	while (batch->nrunning > 0)
		detach(batch, batch->nrunning - 1);
	/* transfers are off the multi handle: nothing reads the headers now */
	release_headers(batch->headers);
	batch->headers = NULL;
	buffered_bytes -= batch->buffered;
	batch->buffered = 0;
	dlist_delete(&batch->node);
}

bool
mx_batch_lost(MxBatch *batch)
{
	return batch->destroyed;
}

static void
batch_cleanup_callback(void *arg)
{
	mx_batch_destroy((MxBatch *) arg);
}

/* The request's body no longer counts as held by the batch. */
static void
unbuffer(MxBatch *batch, MxHttpRequest *req)
{
	size_t		n = Min((size_t) req->response.len, batch->buffered);

	batch->buffered -= n;
	buffered_bytes -= n;
}

/* PATCH and DELETE need libcurl's custom verb; GET and POST are its own. */
static const char *
custom_method(MxHttpRequest *req)
{
	if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "POST") == 0)
		return NULL;
	return req->method;
}

static void
start_request(MxBatch *batch, MxHttpRequest *req)
{
	MxHttpPrivate *priv = req->priv;
	CURL	   *easy = take_handle();
	CURLMcode	rc;
	long		timeout_ms;

	/*
	 * mixpeek.timeout_ms limits the whole request, retries and back-off
	 * included, so a retry only gets the time that is left.
	 */
	if (req->attempts == 0)
		priv->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													 mx_timeout_ms);
	priv->started = GetCurrentTimestamp();
	timeout_ms = (long) ((priv->deadline - priv->started) / 1000);
	timeout_ms = Max(timeout_ms, 1);
	priv->limit = (size_t) mx_max_response_kb * 1024;
	priv->too_large = false;
	priv->retry_after[0] = '\0';
	memset(req->rate_limit, 0, sizeof(req->rate_limit));
	unbuffer(batch, req);
	req->response.len = 0;
	req->response.data[0] = '\0';

	curl_easy_setopt(easy, CURLOPT_URL, req->url);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, batch->headers->list);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long) mx_connect_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) priv->limit);
	if (req->body != NULL)
	{
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long) strlen(req->body));
	}
	else
		curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
	/* handles are reused: set the verb every time, NULL for GET and POST */
	curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, custom_method(req));

	rc = curl_multi_add_handle(multi, easy);
	if (rc != CURLM_OK)
	{
		return_handle(easy);
		mx_budget_release(priv->budget_key);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not start a Mixpeek request: %s",
						curl_multi_strerror(rc))));
	}
	batch->running[batch->nrunning].easy = easy;
	batch->running[batch->nrunning].req = req;
	batch->running[batch->nrunning].budget_key = priv->budget_key;
	batch->nrunning++;
	req->attempts++;
	if (batch->stats)
		batch->stats->requests++;
}

/*
 * Whether the key's budget lets req start now (see budget.c).  The time a
 * batch is held back counts from the first refusal to the next start, in
 * EXPLAIN ANALYZE and mixpeek_budget.
 */
static bool
budget_allows(MxBatch *batch, MxHttpRequest *req, TimestampTz now,
			  TimestampTz *retry_at)
{
	MxHttpPrivate *priv = req->priv;
	double		waited;

	/* the key's cap is the setting; the batch's own is checked by the caller */
	if (!mx_budget_acquire(priv->budget_key, mx_max_concurrency,
						   &priv->budget_seq, retry_at))
	{
		if (batch->budget_blocked == 0)
			batch->budget_blocked = now;
		return false;
	}
	if (batch->budget_blocked == 0)
		return true;
	waited = (double) (now - batch->budget_blocked) / 1000.0;
	batch->budget_blocked = 0;
	mx_budget_waited(priv->budget_key, waited);
	if (batch->stats)
		batch->stats->budget_wait_ms += waited;
	return true;
}

/*
 * Start what the concurrency limit, back-off and the key's budget allow;
 * return the soonest time one of them lets a request start (0: none known).
 */
static TimestampTz
start_ready(MxBatch *batch)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = 0;
	ListCell   *lc;

	foreach(lc, batch->waiting)
	{
		MxHttpRequest *req = lfirst(lc);
		TimestampTz budget_at;

		if (batch->nrunning >= batch->concurrency)
			break;
		if (req->priv->not_before > now)
		{
			if (next == 0 || req->priv->not_before < next)
				next = req->priv->not_before;
			continue;
		}
		/* first come, first served: no later request overtakes this one */
		if (!budget_allows(batch, req, now, &budget_at))
		{
			if (budget_at != 0 && (next == 0 || budget_at < next))
				next = budget_at;
			break;
		}
		start_request(batch, req);
		batch->waiting = foreach_delete_current(batch->waiting, lc);
	}
	return next;
}

/*
 * Whether sending the request twice has the effect of sending it once.
 * Reads are; so are PATCH with absolute values and DELETE (a repeated
 * DELETE of a gone document answers 404, which the caller reads as such).
 * Creating a document is not: the API chooses its id, so a second POST
 * would make a second document.
 */
static bool
idempotent(MxHttpRequest *req)
{
	return req->kind != MX_REQ_CREATE_DOCUMENT;
}

static bool
retryable(MxHttpRequest *req, CURLcode code)
{
	if (req->retries >= mx_max_retries)
		return false;

	/*
	 * A request that may not be repeated is tried again only when it never
	 * left: the connection could not be made.  Any answer, a 429 included,
	 * or a connection lost after sending, leaves it to the caller.
	 */
	if (!idempotent(req))
		return req->outcome == MX_HTTP_CONNECT_FAILED &&
			code == CURLE_COULDNT_CONNECT;
	if (req->outcome == MX_HTTP_CONNECT_FAILED)
		return code != CURLE_COULDNT_RESOLVE_HOST && code != CURLE_SSL_CONNECT_ERROR &&
			code != CURLE_PEER_FAILED_VERIFICATION &&
			code != CURLE_UNSUPPORTED_PROTOCOL && code != CURLE_URL_MALFORMAT;
	/* every call made is a read or idempotent, so a 500 may be tried again */
	return req->outcome == MX_HTTP_DONE &&
		(req->status == 429 || req->status == 500 || req->status == 502 ||
		 req->status == 503 || req->status == 504);
}

/*
 * Back-off before a retry: Retry-After when the server sent one that reads,
 * else exponential with jitter (half fixed, half random) so that many
 * sessions hitting the same limit do not come back in step.
 */
static long
backoff_ms(MxHttpRequest *req)
{
	long		ms = mx_retry_after_ms(req->priv->retry_after, time(NULL),
									   MX_RETRY_AFTER_CAP_MS);

	if (ms < 0)
	{
		long		cap = Min((long) MX_BACKOFF_CAP_MS,
							  (long) MX_BACKOFF_BASE_MS << Min(req->retries, 10));

		ms = cap / 2 + (long) (pg_prng_double(&pg_global_prng_state) * (cap / 2));
	}
	return ms;
}

static void
classify(MxHttpRequest *req, CURL *easy, CURLcode code)
{
	MxHttpPrivate *priv = req->priv;

	req->status = 0;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &req->status);
	req->curl_error[0] = '\0';
	if (code == CURLE_OK)
		req->outcome = MX_HTTP_DONE;
	else if (priv->too_large || code == CURLE_FILESIZE_EXCEEDED)
		req->outcome = MX_HTTP_TOO_LARGE;
	else if (code == CURLE_OPERATION_TIMEDOUT)
		req->outcome = MX_HTTP_TIMED_OUT;
	else
		req->outcome = MX_HTTP_CONNECT_FAILED;
	if (code != CURLE_OK)
		strlcpy(req->curl_error, curl_easy_strerror(code), sizeof(req->curl_error));
}

/*
 * One attempt in mixpeek_stats.  A 429 counts as rate_limited, not among
 * the 4xx errors; a 404 for a missing document is a 4xx like any other.
 */
static void
count_attempt(MxBatch *batch, MxHttpRequest *req)
{
	MxStatsCounters delta = {0};

	delta.requests = 1;
	delta.bytes = req->response.len;
	delta.time_ms = (double) (GetCurrentTimestamp() - req->priv->started) / 1000.0;
	if (req->outcome != MX_HTTP_DONE)
		delta.errors_network = 1;
	else if (req->status == 429)
		delta.rate_limited = 1;
	else if (req->status >= 500)
		delta.errors_5xx = 1;
	else if (req->status >= 400)
		delta.errors_4xx = 1;
	mx_stats_record(batch->userid, batch->serverid, req->kind, &delta);
}

static void
count_retry(MxBatch *batch, MxHttpRequest *req, long wait_ms)
{
	MxStatsCounters delta = {0};

	delta.retries = 1;
	delta.wait_ms = (double) wait_ms;
	mx_stats_record(batch->userid, batch->serverid, req->kind, &delta);
}

/* A transfer ended (classified already, handle detached): retry or hand back. */
static void
finish(MxBatch *batch, MxHttpRequest *req, CURLcode code)
{
	List	  **target = &batch->finished;
	MemoryContext old;

	if (req->priv->out_of_memory)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed while receiving the response to %s %s.",
						   req->method, req->path)));
	if (retryable(req, code))
	{
		long		wait_ms = backoff_ms(req);
		TimestampTz not_before =
			TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_ms);

		if (not_before >= req->priv->deadline)
		{
			/*
			 * The retry could not start before mixpeek.timeout_ms runs out:
			 * waiting for it would only delay the failure, so report this
			 * one now, with its own cause (429, 503, refused, ...).
			 */
			req->out_of_time = true;
			req->retry_in_ms = wait_ms;
			if (batch->stats)
				batch->stats->bytes += req->bytes;
		}
		else
		{
			req->retries++;
			count_retry(batch, req, wait_ms);
			if (batch->stats)
				batch->stats->retries++;
			req->priv->not_before = not_before;
			target = &batch->waiting;
		}
	}
	else if (batch->stats)
		batch->stats->bytes += req->bytes;
	old = MemoryContextSwitchTo(batch->cxt);
	*target = lappend(*target, req);
	MemoryContextSwitchTo(old);
}

/* Tell the key's budget what the answer said (before detach gives it back). */
static void
observe_budget(MxHttpRequest *req)
{
	MxBudgetAnswer answer;

	answer.status = req->outcome == MX_HTTP_DONE ? req->status : 0;
	answer.rate_limit = (const char (*)[32]) req->rate_limit;
	answer.retry_after_ms = mx_retry_after_ms(req->priv->retry_after, time(NULL),
											  MX_RETRY_AFTER_CAP_MS);
	answer.concurrency = mx_max_concurrency;
	mx_budget_observe(req->priv->budget_key, req->priv->budget_seq, &answer);
}

/* Hand a finished transfer to the batch running it. */
static void
dispatch(CURL *easy, CURLcode code)
{
	dlist_iter	iter;

	dlist_foreach(iter, &live_batches)
	{
		MxBatch    *owner = dlist_container(MxBatch, node, iter.cur);
		int			i;

		for (i = 0; i < owner->nrunning; i++)
		{
			MxHttpRequest *req = owner->running[i].req;

			if (owner->running[i].easy != easy)
				continue;
			classify(req, easy, code);
			observe_budget(req);
			detach(owner, i);
			count_attempt(owner, req);
			finish(owner, req, code);
			return;
		}
	}
}

/*
 * Collect finished transfers, of every batch: several may be live at once
 * (a scan's next page in flight while a function in the same query runs its
 * own request), and a message read here is gone from libcurl's queue.  What
 * is needed of a message is taken before its handle is detached: it does
 * not survive curl_multi_remove_handle().
 */
static void
drain(void)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL)
	{
		if (msg->msg == CURLMSG_DONE)
			dispatch(msg->easy_handle, msg->data.result);
	}
}

void
mx_batch_poll(MxBatch *batch)
{
	int			still;

	if (batch->destroyed)
		return;
	start_ready(batch);
	if (batch->nrunning > 0)
	{
		curl_multi_perform(multi, &still);
		drain();
	}
}

/*
 * What pg_stat_activity shows while a backend waits on Mixpeek: the
 * custom event "MixpeekRequest" from PostgreSQL 17, "Extension" before.
 */
static uint32
wait_event(void)
{
#ifdef MX_CUSTOM_WAIT_EVENTS
	static uint32 event = 0;

	if (event == 0)
		event = WaitEventExtensionNew("MixpeekRequest");
	return event;
#else
	return PG_WAIT_EXTENSION;
#endif
}

/*
 * Transfers running in the backend, of every batch.  A batch that waits
 * for the key's budget must move the others along: the budget they hold
 * comes back only when their transfers end.
 */
static int
running_anywhere(void)
{
	dlist_iter	iter;
	int			n = 0;

	dlist_foreach(iter, &live_batches)
		n += dlist_container(MxBatch, node, iter.cur)->nrunning;
	return n;
}

MxHttpRequest *
mx_batch_next(MxBatch *batch)
{
	for (;;)
	{
		TimestampTz next_start;
		long		wait_ms = MX_WAIT_SLICE_MS;
		int			still;

		if (batch->destroyed)
			return NULL;
		if (batch->finished != NIL)
		{
			MxHttpRequest *req = linitial(batch->finished);

			batch->finished = list_delete_first(batch->finished);
			unbuffer(batch, req);
			return req;
		}
		if (batch->waiting == NIL && batch->nrunning == 0)
			return NULL;

		next_start = start_ready(batch);
		if (running_anywhere() > 0)
		{
			curl_multi_perform(multi, &still);
			drain();
			if (batch->finished != NIL)
				continue;
		}
		if (next_start != 0)
		{
			long		until = (long) ((next_start - GetCurrentTimestamp()) / 1000);

			wait_ms = Max(0, Min(wait_ms, until));
		}
		if (running_anywhere() > 0)
		{
			pgstat_report_wait_start(wait_event());
			curl_multi_poll(multi, NULL, 0, (int) wait_ms, NULL);
			pgstat_report_wait_end();
		}
		else if (wait_ms > 0)
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 wait_ms, wait_event());
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

char *
mx_http_redact(MxHttpRequest *req, const char *text)
{
	const char *key = req->priv->batch ? req->priv->batch->api_key : NULL;

	return mx_mask_key(pstrdup(text), key);
}

/* ---------- clean-up after errors ---------- */

static void
destroy_batches(SubTransactionId subxid)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &live_batches)
	{
		MxBatch    *batch = dlist_container(MxBatch, node, iter.cur);

		if (subxid == InvalidSubTransactionId || batch->subxid >= subxid)
			mx_batch_destroy(batch);
	}
}

static void
xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		destroy_batches(InvalidSubTransactionId);
}

static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		destroy_batches(mySubid);
}

void
mx_http_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialize libcurl")));
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
}
