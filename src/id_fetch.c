/*-------------------------------------------------------------------------
 *
 * id_fetch.c
 *		Documents by id, in as few requests as the API allows.
 *
 * The ids (sorted, distinct) are cut into chunks of at most
 * MX_IDS_PER_REQUEST, each asked for by one list request filtered by
 * "document_id in [...]"; a single id is one GET, the one case where that
 * is no more requests.  Up to mixpeek.max_concurrency requests are in
 * flight; no more are queued, so memory holds that many replies and the
 * one whose documents are being returned, however many ids there are.
 *
 * The API's filters may match more loosely than SQL's equality (case,
 * normalization), so a document counts only when its id is, byte for
 * byte, one its request asked for, and only the first time it comes.  A
 * chunk pages as a list scan does (paging.c): along the cursor or by
 * offset, and a chunk whose pages end short of the total its first page
 * reported is an ERROR, never a silently short result.
 *
 * A reply's documents are found in its text and parsed one at a time as
 * they are returned (json.c), each in a context emptied for the next: a
 * page of 1,000 is not built into one jsonb first.
 *
 * Memory: everything lives under the fetch's context.  The batch has a
 * context of its own, always younger than the one holding the requests:
 * when an error deletes the fetch's memory, children go youngest first,
 * so the batch is taken apart while its requests still exist.  The abort
 * of a subtransaction may destroy the batch under a cursor that lives on
 * (mx_batch_lost): then the requests that were in flight, each for the
 * page it asked for, are sent again on a new batch, and nothing already
 * returned is asked for again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "columns.h"
#include "id_fetch.h"
#include "json.h"
#include "mixpeek_fdw.h"
#include "mixpeek_limits.h"
#include "paging.h"
#include "settings.h"

/* The ids of one request, and where its pages have got to. */
typedef struct IdChunk
{
	int			first;			/* into ids */
	int			count;
	MemoryContext cxt;			/* its request in flight, or NULL */
	bool		started;		/* paging set up (on the first send) */
	bool		with_filters;	/* its pages carry the fetch's filters: set
								 * on its first, so that a cursor or offset
								 * goes with the query it belongs to */
	MxPaging	paging;			/* the page that request asks for */
} IdChunk;

struct MxIdFetch
{
	const MxTarget *target;
	const char *collection;
	char	  **ids;			/* sorted, distinct, none empty */
	int			nids;
	bool	   *returned;		/* per id: its document came */
	bool		return_url;
	bool		return_vectors;
	const char *select;			/* JSON array, or NULL: whole documents */
	const char *filters;		/* sent with the ids, or NULL */
	bool		dropped;		/* filters refused: chunks start without */
	int			concurrency;
	MxHttpStats *stats;
	uint64	   *pages;

	MemoryContext cxt;			/* everything below */
	MemoryContext requests_cxt; /* a child per request in flight */
	MemoryContext batch_cxt;	/* the batch: younger than requests_cxt */
	MxBatch    *batch;

	IdChunk    *chunks;
	int			nchunks;
	int			next_chunk;		/* first one not sent yet */
	int			in_flight;		/* requests in the batch */

	/* the reply whose documents are being returned */
	MemoryContext reply_cxt;
	MxHttpRequest *reply;
	IdChunk    *reply_chunk;
	MxListPage *page;			/* a list reply's, or NULL */
	MemoryContext doc_cxt;		/* the document last parsed from it */
	Jsonb	   *single;			/* a GET's document, or NULL */
	int			nresults;
	int			next;
	JsonbValue	document;
};

/*
 * mx_id_fetch_begin
 *		Cut the ids into chunks and make the fetch's contexts; nothing is
 *		sent yet.
 */
MxIdFetch *
mx_id_fetch_begin(const MxTarget *target, const char *collection,
				  char **ids, int nids, bool return_url, bool return_vectors,
				  const char *select, const char *filters,
				  MxHttpStats *stats, uint64 *pages)
{
	MemoryContext cxt;
	MxIdFetch  *f;
	int			i;

	/* as for a GET, before any request (an empty id sorts first) */
	if (nids > 0 && ids[0][0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("Mixpeek document id must not be empty")));
	cxt = AllocSetContextCreate(CurrentMemoryContext, "mixpeek id lookup",
								ALLOCSET_SMALL_SIZES);
	f = MemoryContextAllocZero(cxt, sizeof(MxIdFetch));
	f->cxt = cxt;
	f->target = target;
	f->collection = collection;
	f->return_url = return_url;
	f->return_vectors = return_vectors;
	f->select = select;
	f->filters = filters;
	f->concurrency = Max(1, mx_max_concurrency);
	f->stats = stats;
	f->pages = pages;
	f->ids = ids;
	f->nids = nids;
	f->returned = MemoryContextAllocZero(cxt, sizeof(bool) * Max(f->nids, 1));

	/* chunks of nearly equal size, none over MX_IDS_PER_REQUEST */
	f->nchunks = (f->nids + MX_IDS_PER_REQUEST - 1) / MX_IDS_PER_REQUEST;
	f->chunks = MemoryContextAllocZero(cxt, sizeof(IdChunk) * Max(f->nchunks, 1));
	for (i = 0; i < f->nchunks; i++)
	{
		f->chunks[i].first = (int) ((int64) f->nids * i / f->nchunks);
		f->chunks[i].count = (int) ((int64) f->nids * (i + 1) / f->nchunks) -
			f->chunks[i].first;
	}

	/* made before any batch context: see the header comment */
	f->requests_cxt = AllocSetContextCreate(cxt, "mixpeek id requests",
											ALLOCSET_SMALL_SIZES);
	f->doc_cxt = AllocSetContextCreate(cxt, "mixpeek id document",
									   ALLOCSET_DEFAULT_SIZES);
	return f;
}

/*
 * mx_id_fetch_end
 *		Free the fetch; deleting its context ends its batch first.
 */
void
mx_id_fetch_end(MxIdFetch *fetch)
{
	if (fetch != NULL)
		MemoryContextDelete(fetch->cxt);	/* the batch's callback ends it */
}

/*
 * mx_id_fetch_requests
 *		One GET for a single id, else a list request per MX_IDS_PER_REQUEST.
 */
double
mx_id_fetch_requests(double nids)
{
	if (nids <= 1)
		return 1;
	return ceil(nids / MX_IDS_PER_REQUEST);
}

/* ---------- requests ---------- */

/*
 * mx_id_fetch_filters
 *		The "document_id in [...]" filter, case-sensitive: equality in SQL
 *		is byte for byte.
 */
char *
mx_id_fetch_filters(char **ids, int nids, const char *also)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"AND\":[{\"field\":");
	escape_json(&buf, MX_DOCUMENT_ID_FIELD);
	appendStringInfoString(&buf, ",\"operator\":\"in\",\"value\":[");
	if (ids == NULL)
		appendStringInfoString(&buf, "...");
	for (i = 0; ids != NULL && i < nids; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		/* the body is UTF-8, whatever the server's encoding */
		escape_json(&buf, pg_server_to_any(ids[i], strlen(ids[i]), PG_UTF8));
	}
	appendStringInfoString(&buf, "]}");
	if (also != NULL)
		appendStringInfo(&buf, ",%s", also);
	appendStringInfoString(&buf, "],\"case_sensitive\":true}");
	return buf.data;
}

/*
 * The body of a chunk's list request (mx_api_list_page puts the limit in
 * it too), the URL flags as return_url and return_presigned_urls together
 * (README, "Requests").
 */
static char *
chunk_body(MxIdFetch *f, IdChunk *c)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"filters\":%s",
					 mx_id_fetch_filters(f->ids + c->first, c->count,
										 c->with_filters ? f->filters : NULL));
	if (f->return_url)
		appendStringInfoString(&buf, ",\"return_url\":true,\"return_presigned_urls\":true");
	if (f->return_vectors)
		appendStringInfoString(&buf, ",\"return_vectors\":true");
	if (f->select != NULL)
		appendStringInfo(&buf, ",\"select\":%s", f->select);
	appendStringInfoChar(&buf, '}');
	if (c->paging.cursor == NULL)
		return buf.data;
	return mx_body_with_cursor(buf.data, c->paging.cursor);
}

/*
 * The batch, made on first use in a context younger than requests_cxt (a
 * lost batch's context is deleted before a new one is made).
 */
static MxBatch *
fetch_batch(MxIdFetch *f)
{
	if (f->batch == NULL)
		f->batch = mx_api_batch_in(f->target, f->concurrency, f->stats,
								   f->cxt, &f->batch_cxt);
	return f->batch;
}

/*
 * Send a chunk's request for the page its paging is at (the first asks for
 * the total, a later one carries the cursor or the offset), in a context of
 * its own that replaces the chunk's previous one.  The cursor lives in
 * that previous context: it is copied first.
 */
static void
send_chunk(MxIdFetch *f, IdChunk *c)
{
	MemoryContext cxt = AllocSetContextCreate(f->requests_cxt,
											  "mixpeek id request",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	MxHttpRequest *req;

	if (!c->started)
	{
		/* the cursor set outlives each reply: it lives with the fetch */
		old = MemoryContextSwitchTo(f->cxt);
		mx_paging_start(&c->paging);
		c->started = true;
		c->with_filters = (f->filters != NULL && !f->dropped && f->nids > 1);
		MemoryContextSwitchTo(old);
	}
	old = MemoryContextSwitchTo(cxt);
	if (c->paging.cursor != NULL)
		c->paging.cursor = pstrdup(c->paging.cursor);
	if (c->cxt != NULL)
		MemoryContextDelete(c->cxt);
	c->cxt = cxt;
	if (f->nids == 1)
		req = mx_api_get_document(f->target, f->collection, f->ids[0],
								  f->return_url, f->return_vectors);
	else
		req = mx_api_list_page(f->target, f->collection,
							   MX_IDS_PER_REQUEST, chunk_body(f, c),
							   c->paging.pages == 0,
							   c->paging.cursor ? 0 : mx_paging_offset(&c->paging));
	req->arg = c;
	mx_batch_add(fetch_batch(f), req);
	f->in_flight++;
	MemoryContextSwitchTo(old);
}

/* Send chunks while fewer than the concurrency are in flight. */
static void
send_more(MxIdFetch *f)
{
	while (f->next_chunk < f->nchunks && f->in_flight < f->concurrency)
		send_chunk(f, &f->chunks[f->next_chunk++]);
	if (f->batch != NULL)
		mx_batch_poll(f->batch);
}

/*
 * The batch went with a rolled-back savepoint: send again, on a new batch,
 * exactly the requests it held, each with its own cursor.  The reply being
 * returned is not among them: its memory is the fetch's, and it goes on.
 */
static void
resend_lost(MxIdFetch *f)
{
	int			i;

	mx_api_batch_drop(&f->batch_cxt);
	f->batch = NULL;
	f->in_flight = 0;
	for (i = 0; i < f->next_chunk; i++)
	{
		if (f->chunks[i].cxt != NULL)
			send_chunk(f, &f->chunks[i]);
	}
}

/* ---------- replies ---------- */

/*
 * Read a list reply into the fetch; when more pages follow, the chunk's
 * next one is sent at once, so that it comes while this one's documents
 * are returned.
 */
static void
read_list_reply(MxIdFetch *f, IdChunk *c, MxHttpRequest *req)
{
	f->page = mx_api_list_result(req);
	f->nresults = f->page->nresults;
	if (f->pages)
		(*f->pages)++;
	/* more, by cursor or offset; short of the reported total: an ERROR */
	mx_paging_read_page(&c->paging, req, f->page);
	if (c->paging.more)
		send_chunk(f, c);
}

/*
 * Make a finished request the reply being returned: it takes over the
 * request's context, and the previous reply's goes.
 */
static void
take_reply(MxIdFetch *f, MxHttpRequest *req)
{
	IdChunk    *c = req->arg;
	MemoryContext old;

	if (f->reply_cxt != NULL)
		MemoryContextDelete(f->reply_cxt);
	f->reply_cxt = c->cxt;
	c->cxt = NULL;
	f->in_flight--;
	f->reply = req;
	f->reply_chunk = c;
	f->page = NULL;
	f->single = NULL;
	f->nresults = 0;
	f->next = 0;

	old = MemoryContextSwitchTo(f->reply_cxt);
	if (f->nids == 1)
	{
		f->single = mx_api_document_result(req);
		f->nresults = (f->single != NULL);
	}
	else
		read_list_reply(f, c, req);
	MemoryContextSwitchTo(old);
}

/*
 * A list request refused (400, 422) while it carried filters besides the
 * ids: the API may not take a condition the scan sent, which the scan
 * checks itself anyway.  The filters go, as a list scan drops what a
 * refusal names: this chunk is asked for again from its first page (what
 * of it came before is not returned twice: see claim), and chunks that
 * start later go without; one already paging with them goes on with them,
 * its cursor or offset being their query's.
 */
static bool
refused_filters(MxIdFetch *f, MxHttpRequest *req)
{
	IdChunk    *c = req->arg;
	MxRejection *rej;

	if (!c->with_filters || (rej = mx_api_rejection(req)) == NULL)
		return false;
	if (!f->dropped)
		ereport(NOTICE,
				(errmsg("Mixpeek refused the request with HTTP %ld, retrying without the conditions sent with the ids",
						rej->status),
				 rej->words ? errdetail_internal("%s", rej->words) : 0));
	f->dropped = true;
	f->in_flight--;
	c->started = false;
	send_chunk(f, c);
	return true;
}

bool
mx_id_fetch_dropped_filters(MxIdFetch *fetch)
{
	return fetch != NULL && fetch->dropped;
}

/* Byte order on (text, length), as strcmp sorts the ids. */
static int
compare_id(const char *a, int alen, const char *b)
{
	int			blen = strlen(b);
	int			r = memcmp(a, b, Min(alen, blen));

	if (r != 0)
		return r;
	return (alen > blen) - (alen < blen);
}

/*
 * The index of the document's id among its chunk's ids, if it is one of
 * them and came for the first time; else -1.
 */
static int
claim(MxIdFetch *f, JsonbContainer *doc)
{
	IdChunk    *c = f->reply_chunk;
	JsonbValue *v = mx_json_get(doc, MX_DOCUMENT_ID_FIELD);
	int			lo = c->first;
	int			hi = c->first + c->count - 1;

	if (v == NULL || v->type != jbvString)
		return -1;
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			r = compare_id(v->val.string.val, v->val.string.len,
								   f->ids[mid]);

		if (r == 0)
		{
			if (f->returned[mid])
				return -1;
			f->returned[mid] = true;
			return mid;
		}
		if (r < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return -1;
}

/* The next document of the current reply that counts, or NULL. */
static JsonbValue *
next_in_reply(MxIdFetch *f, const char **id)
{
	while (f->next < f->nresults)
	{
		JsonbValue *v;
		int			i;

		if (f->single != NULL)
		{
			f->next++;
			f->document.type = jbvBinary;
			f->document.val.binary.data = &f->single->root;
			f->document.val.binary.len = VARSIZE(f->single) - VARHDRSZ;
			v = &f->document;
		}
		else
		{
			MemoryContext old;

			MemoryContextReset(f->doc_cxt);
			old = MemoryContextSwitchTo(f->doc_cxt);
			v = mx_api_list_document(f->reply, f->page, f->next++);
			MemoryContextSwitchTo(old);
		}
		if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			mx_api_report_unexpected(f->reply,
									 "An element of \"results\" is not an object.");
		i = claim(f, v->val.binary.data);
		if (i >= 0)
		{
			*id = f->ids[i];
			return v;
		}
	}
	return NULL;
}

/*
 * mx_id_fetch_next
 *		The next document that counts: from the reply being returned, else
 *		from the next reply to arrive, sending more requests as replies
 *		come back.
 */
JsonbValue *
mx_id_fetch_next(MxIdFetch *fetch, const char **id)
{
	if (fetch->batch != NULL && mx_batch_lost(fetch->batch))
		resend_lost(fetch);
	for (;;)
	{
		JsonbValue *doc = next_in_reply(fetch, id);
		MxHttpRequest *req;

		if (doc != NULL)
		{
			send_more(fetch);
			return doc;
		}
		send_more(fetch);
		if (fetch->in_flight == 0)
			return NULL;
		req = mx_batch_next(fetch->batch);
		if (req == NULL)
			elog(ERROR, "mixpeek: id lookup requests vanished from their batch");
		if (refused_filters(fetch, req))
			continue;
		take_reply(fetch, req);
	}
}
