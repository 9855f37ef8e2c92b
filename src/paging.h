/*-------------------------------------------------------------------------
 *
 * paging.h
 *		How a list scan goes from one page of documents to the next, and
 *		how it knows that it received every document the API reported.
 *
 * The API pages in two styles: a cursor (pagination.next_cursor, with
 * pagination.total when include_total=true was asked) and an offset
 * (pagination.has_more and pagination.total_count, no cursor).  A cursor
 * is followed whenever there is one; otherwise the next page starts at the
 * offset of the documents received so far, while has_more (or the
 * reported total) says that more remain.  A scan that ends before the
 * reported total is an ERROR, never a shorter result.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_PAGING_H
#define MIXPEEK_PAGING_H

#include "cursor_set.h"
#include "http.h"
#include "json.h"
#include "utils/jsonb.h"

typedef struct MxPaging
{
	int64		total;			/* documents the API reported; -1: none */
	int64		received;		/* documents in the pages read so far */
	int64		pages;			/* pages read so far */
	bool		more;			/* another page is to be asked for */
	char	   *cursor;			/* that page's cursor, or NULL: by offset */
	MxCursorSet *seen;			/* every cursor of the scan, for cycles */
} MxPaging;

/* Start a scan's paging; the cursor set lives in CurrentMemoryContext. */
extern void mx_paging_start(MxPaging *paging);

/*
 * Take in a page that req returned, with nresults documents and its
 * "pagination" object (NULL when absent): set what comes next, or raise
 * an ERROR when the list ended before the total the API reported, or
 * when its cursor came back.  The cursor is allocated in
 * CurrentMemoryContext.
 */
extern void mx_paging_read(MxPaging *paging, MxHttpRequest *req,
						   JsonbValue *pagination, int nresults);

/*
 * The same for a page mx_api_list_result split; when it ends the list
 * wrongly, an error in any of its documents is reported first.
 */
extern void mx_paging_read_page(MxPaging *paging, MxHttpRequest *req,
								MxListPage *page);

/*
 * The limit of the page after one of limit documents: twice as many, up
 * to the API's largest page.
 */
extern int	mx_paging_next_limit(int limit);

/* The offset of the next page, when it goes by offset. */
extern int64 mx_paging_offset(const MxPaging *paging);

#endif							/* MIXPEEK_PAGING_H */
