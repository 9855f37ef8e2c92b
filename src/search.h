/*-------------------------------------------------------------------------
 *
 * search.h
 *		One retriever search, followed page by page along its cursor:
 *		shared by mixpeek_search() (search.c) and retriever foreign tables
 *		(retriever.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_SEARCH_H
#define MIXPEEK_SEARCH_H

#include "api.h"
#include "cursor_set.h"

typedef struct MxSearch
{
	const MxTarget *target;
	const char *retriever;
	const char *inputs;			/* the inputs object, JSON text */
	int64		max_results;	/* rows wanted at most; -1: all */
	int			page_size;		/* documents asked for per page */
	int64		returned;		/* rows handed out */

	MemoryContext cxt;			/* the search's own; deleting it ends it */
	MemoryContext page_cxt;		/* the current page and its request */
	MemoryContext batch_cxt;	/* the batch, made after page_cxt */
	MxBatch    *batch;
	MxHttpStats *stats;			/* the caller's counters, or NULL */
	MxBatch    *shared;			/* the caller's batch, or NULL: own batch */
	MxHttpRequest *arrived;		/* with shared: our page, returned by the
								 * batch while another search waited */

	bool		pending;		/* a page request is in flight */
	bool		finished;		/* no page follows */
	char	   *sent_cursor;	/* cursor of the page in flight */
	MxHttpRequest *req;			/* the current page's */
	JsonbContainer *documents;
	int			ndocuments;
	int			next;
	char	   *cursor;			/* next page's, or NULL */
	bool		more_announced; /* the page says more follow */
	int			empty_pages;	/* pages in a row without results */
	MxCursorSet *seen_cursors;
	uint64		pages;
} MxSearch;

/* A row of a search: the document as sent, its rank (1, 2, ...) and score. */
typedef struct MxSearchRow
{
	JsonbValue	document;
	JsonbContainer *container;
	int64		rank;
	bool		has_score;
	double		score;
} MxSearchRow;

/*
 * A search in a new child context of parent; nothing is sent before the
 * first mx_search_next().  inputs is copied; max_results 0 sends nothing.
 */
extern MxSearch *mx_search_begin(MemoryContext parent, const MxTarget *target,
								 const char *retriever, const char *inputs,
								 int64 max_results, int page_size,
								 MxHttpStats *stats);

/*
 * Send the requests of several searches on one batch of the caller's, so
 * that their pages are in flight at once.  The batch must be made after
 * the searches (see mx_api_batch_in).  mx_search_start() sends the first
 * page now rather than on the first mx_search_next().
 */
extern void mx_search_share_batch(MxSearch *search, MxBatch *batch);
extern void mx_search_start(MxSearch *search);

/*
 * The shared batch was lost (a subtransaction's abort): send the page in
 * flight again on the new one.
 */
extern void mx_search_resend(MxSearch *search, MxBatch *batch);

/* The next row, or false at the end; raises the errors of api.c. */
extern bool mx_search_next(MxSearch *search, MxSearchRow *row);

/* Stop the search: requests in flight are dropped, its memory freed. */
extern void mx_search_end(MxSearch *search);

#endif							/* MIXPEEK_SEARCH_H */
