/*-------------------------------------------------------------------------
 *
 * budget.c
 *		The request budget of one API key, shared by every backend that
 *		uses the key.
 *
 * Three rules keep a key within its limits, so that a long scan slows
 * down instead of collecting 429s:
 *
 * - The window: X-RateLimit-Remaining and -Reset say how many requests
 *   are left until when.  Each start spends one; when none are left the
 *   key waits for the window's end.
 * - Concurrency, AIMD as TCP does: a 429 halves the requests allowed in
 *   flight (once per burst: only a request started after the last cut cuts
 *   again), each other answer adds 1/window back, up to
 *   mixpeek.max_concurrency.  Near the number in flight when the last 429
 *   came, it grows MX_BUDGET_PROBE times slower: a hard limit on requests
 *   in flight is probed now and then, not hit every few requests.
 * - Pauses and pacing: a 429 pauses the whole key for its Retry-After.
 *   When its headers name the limit that refused us (Remaining 0, with
 *   Limit and Window: a per-second limit the other answers do not show),
 *   starts are spaced Window / Limit apart until a minute passes without
 *   another 429.  A 429 that names no spent limit (Remaining above 0, or
 *   no headers) says nothing about a rate, and sets no gap.
 *
 * Keys live in a small table: in shared memory under one LWLock when the
 * library is preloaded (reserved by stats.c's hooks), else in backend
 * memory.  A slot is known by a
 * salted 64-bit hash of the key and the API's origin, never by the key
 * itself; a full table leaves further keys unbudgeted rather than failing.
 * Each backend counts the requests it holds, and gives them back when it
 * exits, so a backend that dies in a FATAL error does not shrink the
 * budget of the others.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "budget.h"
#include "mixpeek_limits.h"

#define MX_BUDGET_COLUMNS 11

typedef struct MxBudgetSlot
{
	uint64		key;			/* 0: free */
	TimestampTz last_used;
	TimestampTz last_change;	/* of inflight */
	int			inflight;
	double		cwnd;			/* requests allowed in flight */
	int64		seq;			/* requests started */
	int64		cut_seq;		/* seq at the last halving of cwnd */
	int			failed_at;		/* in flight when the last 429 came */
	TimestampTz cut_at;			/* ... and when it was */
	TimestampTz pause_until;	/* Retry-After, or the window's end */
	TimestampTz next_start;		/* pacing: not before */
	double		gap_ms;			/* pacing: between two starts */
	bool		window_known;
	int64		remaining;		/* requests left in the window */
	TimestampTz window_end;
	int64		rate_limited;
	int64		cuts;
	int64		waits;
	double		wait_ms;
} MxBudgetSlot;

typedef struct MxBudgetShared
{
	LWLock	   *lock;
	uint64		salt;
	MxBudgetSlot slots[MX_BUDGET_KEYS];
} MxBudgetShared;

static MxBudgetShared *shared = NULL;
static MxBudgetShared *local = NULL;
static int	held[MX_BUDGET_KEYS];	/* requests this backend holds */
static bool exit_registered = false;

PG_FUNCTION_INFO_V1(mixpeek_budget);
PG_FUNCTION_INFO_V1(mixpeek_budget_reset);

Size
mx_budget_shmem_size(void)
{
	return MAXALIGN(sizeof(MxBudgetShared));
}

void
mx_budget_shmem_request(void)
{
	RequestNamedLWLockTranche("mixpeek_budget", 1);
}

void
mx_budget_shmem_init(void)
{
	bool		found;

	shared = ShmemInitStruct("mixpeek_budget", sizeof(MxBudgetShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(MxBudgetShared));
		shared->lock = &(GetNamedLWLockTranche("mixpeek_budget"))->lock;
		if (!pg_strong_random(&shared->salt, sizeof(shared->salt)))
			shared->salt = (uint64) GetCurrentTimestamp();
	}
}

/* The shared table when preloaded, else this backend's own. */
static MxBudgetShared *
table(void)
{
	if (shared != NULL)
		return shared;
	if (local == NULL)
	{
		local = MemoryContextAllocZero(TopMemoryContext, sizeof(MxBudgetShared));
		if (!pg_strong_random(&local->salt, sizeof(local->salt)))
			local->salt = (uint64) GetCurrentTimestamp();
	}
	return local;
}

static void
lock(MxBudgetShared *t)
{
	if (t->lock != NULL)
		LWLockAcquire(t->lock, LW_EXCLUSIVE);
}

static void
unlock(MxBudgetShared *t)
{
	if (t->lock != NULL)
		LWLockRelease(t->lock);
}

/* before_shmem_exit: give back what this backend still holds. */
static void
budget_exit(int code, Datum arg)
{
	MxBudgetShared *t = table();
	int			i;

	lock(t);
	for (i = 0; i < MX_BUDGET_KEYS; i++)
	{
		t->slots[i].inflight -= Min(held[i], t->slots[i].inflight);
		held[i] = 0;
	}
	unlock(t);
}

uint64
mx_budget_key(const char *api_key, const char *url)
{
	const char *scheme_end = strstr(url, "://");
	const char *host = scheme_end ? scheme_end + 3 : url;
	size_t		origin_len = strcspn(host, "/?#") + (host - url);
	size_t		keylen = strlen(api_key);
	char	   *buf = palloc(keylen + 1 + origin_len);
	uint64		h;

	/* the key with the origin: another API behind the same key is metered apart */
	memcpy(buf, api_key, keylen);
	buf[keylen] = '\0';
	memcpy(buf + keylen + 1, url, origin_len);
	h = hash_bytes_extended((const unsigned char *) buf, keylen + 1 + origin_len,
							table()->salt);
	explicit_bzero(buf, keylen + 1 + origin_len);
	pfree(buf);
	return h == 0 ? 1 : h;
}

/* The slot of key (lock held); NULL when absent and add is false or no slot is free. */
static MxBudgetSlot *
find_slot(MxBudgetShared *t, uint64 key, bool add)
{
	MxBudgetSlot *victim = NULL;
	int			i;

	for (i = 0; i < MX_BUDGET_KEYS; i++)
	{
		MxBudgetSlot *s = &t->slots[i];

		if (s->key == key)
			return s;
		if (s->inflight == 0 && (victim == NULL || s->key == 0 ||
								 (victim->key != 0 && s->last_used < victim->last_used)))
			victim = s;
	}
	if (!add || victim == NULL)
		return NULL;
	memset(victim, 0, sizeof(MxBudgetSlot));
	victim->key = key;
	/* no limit learned yet: each session's max_concurrency rules */
	victim->cwnd = MX_CONCURRENCY_MAX;
	return victim;
}

/* When the budget lets the next request start; 0 when it may start now. */
static TimestampTz
not_before(MxBudgetSlot *s, TimestampTz now)
{
	TimestampTz until = Max(s->pause_until, s->next_start);

	if (s->window_known && now >= s->window_end)
		s->window_known = false;
	if (s->window_known && s->remaining <= 0)
		until = Max(until, s->window_end);
	return until > now ? until : 0;
}

/*
 * Whether the key has all the requests in flight it may.  Another
 * session's may sit unread in an idle cursor; when none has started or
 * ended for MX_BUDGET_STALL_MS, the caller starts anyway (a 429 then cuts
 * the window) rather than wait for a session that may never come back.
 */
static bool
full(MxBudgetSlot *s, int concurrency)
{
	return s->inflight >= Min((int) s->cwnd, concurrency);
}

bool
mx_budget_acquire(uint64 key, int concurrency, int64 *seq, TimestampTz *retry_at)
{
	MxBudgetShared *t = table();
	TimestampTz now = GetCurrentTimestamp();
	MxBudgetSlot *s;
	bool		ok = true;

	if (!exit_registered)
	{
		before_shmem_exit(budget_exit, (Datum) 0);
		exit_registered = true;
	}
	*retry_at = 0;
	*seq = 0;
	lock(t);
	s = find_slot(t, key, true);
	if (s != NULL)
	{
		s->last_used = now;
		*retry_at = not_before(s, now);
		if (*retry_at != 0 || (full(s, concurrency) &&
							   now - s->last_change < MX_BUDGET_STALL_MS * INT64CONST(1000)))
			ok = false;
		else
		{
			s->last_change = now;
			s->inflight++;
			held[s - t->slots]++;
			*seq = ++s->seq;
			if (s->window_known)
				s->remaining--;
			s->next_start = TimestampTzPlusMilliseconds(now, (int64) s->gap_ms);
		}
	}
	unlock(t);
	return ok;
}

void
mx_budget_release(uint64 key)
{
	MxBudgetShared *t = table();
	MxBudgetSlot *s;

	lock(t);
	s = find_slot(t, key, false);
	if (s != NULL && held[s - t->slots] > 0 && s->inflight > 0)
	{
		held[s - t->slots]--;
		s->inflight--;
		s->last_change = GetCurrentTimestamp();
	}
	unlock(t);
}

/* A header value as a number; -1 when absent or not a number. */
static double
header_number(const char *v)
{
	char	   *end;
	double		d;

	if (v == NULL || v[0] == '\0')
		return -1;
	errno = 0;
	d = strtod(v, &end);
	while (*end == ' ' || *end == '\t')
		end++;
	if (errno != 0 || *end != '\0' || !isfinite(d) || d < 0)
		return -1;
	return d;
}

/* A 429: pause the key, halve the window once per burst, pace when told how. */
static void
observe_429(MxBudgetSlot *s, int64 seq, const MxBudgetAnswer *a, TimestampTz now)
{
	double		limit = header_number(a->rate_limit[0]);
	double		remaining = header_number(a->rate_limit[1]);
	double		window = header_number(a->rate_limit[3]);
	long		pause = a->retry_after_ms >= 0 ? a->retry_after_ms : MX_BACKOFF_BASE_MS;

	s->rate_limited++;
	s->pause_until = Max(s->pause_until,
						 TimestampTzPlusMilliseconds(now, Min(pause, MX_RETRY_AFTER_CAP_MS)));
	if (seq <= s->cut_seq)
		return;
	s->cut_seq = s->seq;
	s->cut_at = now;
	s->cuts++;
	/* alone in flight, it was not the concurrency that was refused */
	s->failed_at = s->inflight > 1 ? s->inflight : 0;
	s->cwnd = Max(1.0, Min(s->cwnd, (double) a->concurrency) / 2);
	if (remaining == 0 && limit > 0 && window > 0)
		s->gap_ms = Min(window * 1000.0 * MX_BUDGET_GAP_MARGIN / limit,
						(double) MX_BUDGET_MAX_GAP_MS);
}

/*
 * X-RateLimit-Remaining and -Reset of an accepted request.  Answers come
 * back out of order: within one window the lowest count wins; a later end
 * starts a new window.  A Reset that looks like a Unix time is one.
 */
static void
observe_window(MxBudgetSlot *s, const MxBudgetAnswer *a, TimestampTz now)
{
	double		remaining = header_number(a->rate_limit[1]);
	double		reset = header_number(a->rate_limit[2]);
	TimestampTz end;

	if (remaining < 0 || reset < 0)
		return;
	if (reset > MX_BUDGET_RESET_EPOCH)
		reset = Max(0, reset - (double) time(NULL));
	end = TimestampTzPlusMilliseconds(now, (int64) (Min(reset * 1000.0,
														(double) MX_RETRY_AFTER_CAP_MS)));
	if (!s->window_known || end > TimestampTzPlusMilliseconds(s->window_end, 1000))
	{
		s->window_known = true;
		s->remaining = (int64) Min(remaining, (double) PG_INT64_MAX / 2);
		s->window_end = end;
	}
	else
		s->remaining = Min(s->remaining, (int64) Min(remaining, (double) PG_INT64_MAX / 2));
}

void
mx_budget_observe(uint64 key, int64 seq, const MxBudgetAnswer *a)
{
	MxBudgetShared *t = table();
	TimestampTz now = GetCurrentTimestamp();
	MxBudgetSlot *s;

	lock(t);
	s = find_slot(t, key, false);
	if (s != NULL && a->status == 429)
		observe_429(s, seq, a, now);
	else if (s != NULL && a->status != 0)
	{
		bool		near = s->failed_at > 0 && s->cwnd + 1 >= s->failed_at;

		if (s->cwnd < a->concurrency)
			s->cwnd = Min(s->cwnd + 1.0 / (s->cwnd * (near ? MX_BUDGET_PROBE : 1)),
						  (double) a->concurrency);
		/* what a 429 taught is trusted for a while, then tried again */
		if (now - s->cut_at > MX_BUDGET_FORGET_MS * INT64CONST(1000))
		{
			s->gap_ms = 0;
			s->failed_at = 0;
			s->cwnd = MX_CONCURRENCY_MAX;
		}
		observe_window(s, a, now);
	}
	unlock(t);
}

void
mx_budget_waited(uint64 key, double ms)
{
	MxBudgetShared *t = table();
	MxBudgetSlot *s;

	lock(t);
	s = find_slot(t, key, false);
	if (s != NULL)
	{
		s->waits++;
		s->wait_ms += ms;
	}
	unlock(t);
}

static void
slot_values(MxBudgetSlot *s, TimestampTz now, Datum *values, bool *nulls)
{
	int			i = 0;

	memset(nulls, 0, sizeof(bool) * MX_BUDGET_COLUMNS);
	values[i++] = CStringGetTextDatum(psprintf("%016llx", (unsigned long long) s->key));
	values[i++] = Int32GetDatum(s->inflight);
	/* the bound: no 429 has set a window yet */
	values[i] = Float8GetDatum(s->cwnd);
	nulls[i++] = s->cwnd >= MX_CONCURRENCY_MAX;
	values[i++] = Float8GetDatum(s->gap_ms);
	values[i] = Int64GetDatum(s->remaining);
	nulls[i++] = !s->window_known || now >= s->window_end;
	values[i++] = Float8GetDatum(Max(0, (double) (s->pause_until - now) / 1000.0));
	values[i++] = Int64GetDatum(s->seq);
	values[i++] = Int64GetDatum(s->rate_limited);
	values[i++] = Int64GetDatum(s->cuts);
	values[i++] = Int64GetDatum(s->waits);
	values[i++] = Float8GetDatum(s->wait_ms);
}

/*
 * mixpeek_budget(): one row per key in the table, shared or this
 * backend's.  The key shows as its salted hash only.
 */
Datum
mixpeek_budget(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MxBudgetShared *t = table();
	MxBudgetSlot copy[MX_BUDGET_KEYS];
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	/* copy first: no palloc under the lock */
	lock(t);
	memcpy(copy, t->slots, sizeof(copy));
	unlock(t);
	for (i = 0; i < MX_BUDGET_KEYS; i++)
	{
		Datum		values[MX_BUDGET_COLUMNS];
		bool		nulls[MX_BUDGET_COLUMNS];

		if (copy[i].key == 0)
			continue;
		slot_values(&copy[i], now, values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * mixpeek_budget_reset(): forget what was learned about every key (after a
 * change of plan, say).  Requests in flight stay counted, so that their
 * end gives back what they hold.
 */
Datum
mixpeek_budget_reset(PG_FUNCTION_ARGS)
{
	MxBudgetShared *t = table();
	int			i;

	lock(t);
	for (i = 0; i < MX_BUDGET_KEYS; i++)
	{
		MxBudgetSlot *s = &t->slots[i];
		uint64		key = s->key;
		int			inflight = s->inflight;

		memset(s, 0, sizeof(MxBudgetSlot));
		s->key = inflight > 0 ? key : 0;
		s->inflight = inflight;
		s->cwnd = MX_CONCURRENCY_MAX;
	}
	unlock(t);
	PG_RETURN_VOID();
}
