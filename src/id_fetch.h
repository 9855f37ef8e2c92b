/*-------------------------------------------------------------------------
 *
 * id_fetch.h
 *		Documents by id: the one place that turns a list of document ids
 *		into requests, for mixpeek_documents() and the foreign tables'
 *		document_id lookups.
 *
 * One id is one GET (a 404 for the document is no row).  More ids go in
 * list requests filtered by "document_id in [...]", up to
 * MX_IDS_PER_REQUEST ids each, several in flight at once.  Only documents
 * whose id is one of the ids their request asked for, byte for byte, come
 * back, each once; ids that match nothing are simply no rows.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_ID_FETCH_H
#define MIXPEEK_ID_FETCH_H

#include "api.h"

typedef struct MxIdFetch MxIdFetch;

/*
 * Start fetching the documents of ids (sorted and distinct, as
 * mx_api_distinct_ids leaves them; an empty id is an ERROR).  target,
 * collection and ids must outlive the fetch.  select, when not NULL, is
 * the JSON array of the fields the list requests ask for (it names
 * document_id); NULL asks for whole documents.  filters, when not NULL,
 * are conditions the documents must match too (comma-separated filter
 * conditions), sent ANDed with the ids
 * (the caller checks it again); a request refused for it (400, 422) is
 * sent again without it, and so are the rest.  stats (may be NULL) counts
 * the requests, *pages (may be NULL) the list replies read.  Nothing is
 * sent before the first mx_id_fetch_next().  The fetch belongs to
 * CurrentMemoryContext, and goes with it if not ended before.
 */
extern MxIdFetch *mx_id_fetch_begin(const MxTarget *target,
									const char *collection,
									char **ids, int nids,
									bool return_url, bool return_vectors,
									const char *select, const char *filters,
									MxHttpStats *stats, uint64 *pages);

/*
 * The next document, or NULL when every id is answered; *id is the
 * requested id it holds.  Both stay valid until the next call.  Requests
 * lost with a rolled-back savepoint are sent again first.
 */
extern JsonbValue *mx_id_fetch_next(MxIdFetch *fetch, const char **id);

/*
 * Were the filters given to mx_id_fetch_begin refused, and left out since?
 * A scan that looks ids up again need not send them.
 */
extern bool mx_id_fetch_dropped_filters(MxIdFetch *fetch);

/* Stop the requests still running and free everything. */
extern void mx_id_fetch_end(MxIdFetch *fetch);

/* The requests a lookup of nids distinct ids takes, for the planner. */
extern double mx_id_fetch_requests(double nids);

/*
 * The filters of a list request for ids, as sent, with the conditions of
 * also (comma-separated, or NULL) ANDed; ids NULL: the ids shown as "...",
 * for EXPLAIN when they are known only at run time.
 */
extern char *mx_id_fetch_filters(char **ids, int nids, const char *also);

#endif							/* MIXPEEK_ID_FETCH_H */
