/*-------------------------------------------------------------------------
 *
 * http.h
 *		The HTTP core: libcurl multi interface, one per backend.
 *
 * Requests are grouped in a batch.  A batch runs up to "concurrency"
 * requests at once over the backend's shared connection cache, retries
 * failed attempts with backoff, and hands back finished requests one at a
 * time, in completion order.  Nothing here raises an ERROR from inside a
 * libcurl callback; failures are recorded in the request and reported by
 * the caller (see api.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_HTTP_H
#define MIXPEEK_HTTP_H

#include "lib/stringinfo.h"

#include "retry_after.h"
#include "stats.h"

typedef enum MxHttpOutcome
{
	MX_HTTP_PENDING = 0,		/* not finished yet */
	MX_HTTP_DONE,				/* a response arrived (any status) */
	MX_HTTP_CONNECT_FAILED,		/* refused, DNS, TLS, reset, ... */
	MX_HTTP_TIMED_OUT,			/* mixpeek.timeout_ms / connect_timeout_ms */
	MX_HTTP_TOO_LARGE			/* body over mixpeek.max_response_bytes */
} MxHttpOutcome;

typedef struct MxHttpRequest
{
	/* set by the caller before mx_batch_add() */
	const char *method;			/* "GET", "POST", "PATCH" or "DELETE" */
	char	   *url;			/* full URL, path already percent-encoded */
	const char *path;			/* path (and query) for messages; no host */
	char	   *body;			/* request body for POST, or NULL */
	MxRequestKind kind;			/* what it is for, in mixpeek_stats */
	void	   *arg;			/* caller's own pointer, untouched */

	/* results, valid once mx_batch_next() returned the request */
	MxHttpOutcome outcome;
	long		status;			/* HTTP status, 0 if none */
	StringInfoData response;	/* decompressed body, NUL-terminated */
	char		curl_error[256];	/* libcurl's message for failures */
	int			attempts;		/* 1 + retries made */
	int			retries;		/* retries made */
	bool		over_total;		/* MX_HTTP_TOO_LARGE: all bodies held at once */
	bool		out_of_time;	/* no retry: it would start after the deadline */
	long		retry_in_ms;	/* ... that retry's back-off */
	uint64		bytes;			/* body bytes received, all attempts */

	/*
	 * X-RateLimit-* values of the last attempt's answer, in the order of
	 * mx_rate_limit_headers; "" when not sent.  As received: cut to fit,
	 * any bytes.
	 */
	char		rate_limit[MX_RATE_LIMIT_NHEADERS][32];

	/* private to http.c */
	struct MxHttpPrivate *priv;
} MxHttpRequest;

/* Counters for EXPLAIN ANALYZE; a caller may pass one to a batch. */
typedef struct MxHttpStats
{
	uint64		requests;		/* attempts sent */
	uint64		retries;
	uint64		bytes;
	double		budget_wait_ms; /* held back by the key's budget */
} MxHttpStats;

typedef struct MxBatch MxBatch;

/*
 * A new request in CurrentMemoryContext; its response buffer grows in the
 * same context.  url and body must stay valid until the request is done.
 */
extern MxHttpRequest *mx_http_request_new(const char *method, char *url,
										  const char *path, char *body,
										  MxRequestKind kind);

/*
 * Credentials and headers are fixed for a batch: it holds its own reference
 * to the headers of its key and namespace until it is destroyed, whatever
 * other batches of other keys do meanwhile.  api_key is never logged.
 *
 * The batch belongs to CurrentMemoryContext: it is destroyed when that
 * context goes, and also by the abort of the (sub)transaction it was made
 * in.  Its requests must live in contexts at least as old as its own.
 * userid and serverid say whose requests they are in mixpeek_stats.
 */
extern MxBatch *mx_batch_create(const char *api_key, const char *namespace,
								Oid userid, Oid serverid,
								int concurrency, MxHttpStats *stats);
extern void mx_batch_add(MxBatch *batch, MxHttpRequest *req);

/*
 * Start whatever can be started and move transfers along without
 * blocking; lets a scan fetch the next page while rows are consumed.
 */
extern void mx_batch_poll(MxBatch *batch);

/*
 * Wait (interruptibly) until some request finishes, retries included, and
 * return it; NULL once nothing is queued or running.
 */
extern MxHttpRequest *mx_batch_next(MxBatch *batch);

/* Forget everything queued or running; safe to call more than once. */
extern void mx_batch_destroy(MxBatch *batch);

/*
 * Whether the batch was destroyed, by its owner or by a (sub)transaction
 * abort: a cursor's scan that outlives a rolled-back savepoint learns here
 * that its requests are gone and must be sent again.
 */
extern bool mx_batch_lost(MxBatch *batch);

extern int	mx_batch_pending(MxBatch *batch);

/* text with every occurrence of the request's API key masked, palloc'd */
extern char *mx_http_redact(MxHttpRequest *req, const char *text);

extern void mx_http_init(void);

#endif							/* MIXPEEK_HTTP_H */
