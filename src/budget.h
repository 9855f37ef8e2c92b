/*-------------------------------------------------------------------------
 *
 * budget.h
 *		The request budget of one API key: pacing, AIMD concurrency, and
 *		pauses the API asks for, shared by every backend using the key.
 *
 * Mixpeek meters each key: requests per second and per minute, and
 * requests in flight.  http.c asks for the budget before it starts an
 * attempt (mx_budget_acquire), tells what the answer said
 * (mx_budget_observe) and gives the budget back when the transfer ends
 * (mx_budget_release).  With the library in shared_preload_libraries the
 * state lives in shared memory, so all sessions of one key draw on one
 * budget; otherwise each backend keeps its own.  A key is known only by a
 * salted hash of the key and the API's origin, never by its text.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_BUDGET_H
#define MIXPEEK_BUDGET_H

#include "datatype/timestamp.h"

#include "retry_after.h"

/* What an answer says, for mx_budget_observe(). */
typedef struct MxBudgetAnswer
{
	long		status;			/* HTTP status; 0 when no answer came */
	const char (*rate_limit)[32];	/* X-RateLimit-* values (http.h order) */
	long		retry_after_ms; /* -1 when not sent or unreadable */
	int			concurrency;	/* the caller's mixpeek.max_concurrency */
} MxBudgetAnswer;

/*
 * Shared memory, reserved and set up by stats.c's hooks when the library
 * is preloaded: the size, the lock to request, and the set-up (called
 * with AddinShmemInitLock held).
 */
extern Size mx_budget_shmem_size(void);
extern void mx_budget_shmem_request(void);
extern void mx_budget_shmem_init(void);

/* The budget a request to url with api_key draws on. */
extern uint64 mx_budget_key(const char *api_key, const char *url);

/*
 * Take one request of the budget of key, allowing at most concurrency in
 * flight.  True: the caller starts the request now and later calls
 * mx_budget_release(); *seq identifies it for mx_budget_observe().  False:
 * *retry_at is when pacing allows the next start, or 0 when a request in
 * flight must end first.
 */
extern bool mx_budget_acquire(uint64 key, int concurrency, int64 *seq,
							  TimestampTz *retry_at);
extern void mx_budget_observe(uint64 key, int64 seq, const MxBudgetAnswer *answer);
extern void mx_budget_release(uint64 key);

/* Time a batch spent waiting for the budget of key, for mixpeek_budget. */
extern void mx_budget_waited(uint64 key, double ms);

#endif							/* MIXPEEK_BUDGET_H */
