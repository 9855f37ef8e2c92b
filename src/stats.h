/*-------------------------------------------------------------------------
 *
 * stats.h
 *		Request statistics in shared memory: the mixpeek_stats view.
 *
 * Counted per database, role, foreign server and kind of request, in the
 * manner of pg_stat_statements, when the library is in
 * shared_preload_libraries; otherwise nothing is counted and the view
 * says why.  http.c, which sends every request, is the only caller of
 * mx_stats_record().
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_STATS_H
#define MIXPEEK_STATS_H

/* What a request is for; the view shows the names of stats.c. */
typedef enum MxRequestKind
{
	MX_REQ_GET_DOCUMENT = 0,
	MX_REQ_LIST_DOCUMENTS,
	MX_REQ_LIST_COLLECTIONS,
	MX_REQ_GET_LINEAGE,
	MX_REQ_OBJECT_DOCUMENTS,
	MX_REQ_CREATE_DOCUMENT,		/* POST .../documents: not idempotent */
	MX_REQ_UPDATE_DOCUMENT,
	MX_REQ_DELETE_DOCUMENT,
	MX_REQ_BATCH_UPDATE,
	MX_REQ_BATCH_DELETE,
	MX_REQ_EXECUTE_RETRIEVER,
	MX_REQ_LIST_RETRIEVERS,
	MX_REQ_GET_COLLECTION,
	MX_REQ_AGGREGATE_DOCUMENTS,
	MX_REQ_OVERFLOW,			/* any request once the table is full */
	MX_REQ_NKINDS
} MxRequestKind;

/* One attempt's contribution (or a retry's); zeroes are fine. */
typedef struct MxStatsCounters
{
	int64		requests;		/* attempts sent */
	int64		retries;
	int64		errors_4xx;
	int64		errors_5xx;
	int64		errors_network; /* refused, reset, timed out, too large */
	int64		rate_limited;	/* 429s */
	int64		bytes;			/* response bytes received */
	double		time_ms;		/* from sending to the end of the answer */
	double		wait_ms;		/* back-off before retries */
} MxStatsCounters;

/*
 * Called from _PG_init: reserves shared memory when preloaded, its own
 * and budget.c's.
 */
extern void mx_stats_init(void);

/* Add to the entry of (this database, userid, serverid, kind). */
extern void mx_stats_record(Oid userid, Oid serverid, MxRequestKind kind,
							const MxStatsCounters *delta);

#endif							/* MIXPEEK_STATS_H */
