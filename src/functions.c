/*-------------------------------------------------------------------------
 *
 * functions.c
 *		The SQL functions mixpeek_document() and mixpeek_documents().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "api.h"
#include "settings.h"

PG_FUNCTION_INFO_V1(mixpeek_document);
PG_FUNCTION_INFO_V1(mixpeek_documents);

Datum
mixpeek_document(PG_FUNCTION_ARGS)
{
	char	   *collection = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *document_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool		return_url = PG_GETARG_BOOL(2);
	bool		return_vectors = PG_GETARG_BOOL(3);
	MxTarget   *target = mx_settings_target();
	MxBatch    *batch = mx_api_batch(target, 1, NULL);
	MxHttpRequest *req;
	Jsonb	   *doc;

	req = mx_api_get_document(target, collection, document_id,
							  return_url, return_vectors);
	mx_batch_add(batch, req);
	req = mx_batch_next(batch);
	doc = mx_api_document_result(req);
	mx_batch_destroy(batch);
	if (doc == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(doc);
}

/* State of one mixpeek_documents() call, in the multi-call context. */
typedef struct DocumentsState
{
	MxTarget   *target;
	MxBatch    *batch;
	MemoryContext cxt;			/* the multi-call context: state, batch */
	MemoryContext requests_cxt; /* a child per request queued */
	char	   *collection;
	char	  **ids;			/* sorted, without duplicates */
	bool	   *answered;		/* ids whose document (or 404) was read */
	int			nids;
	int			next;			/* first id not yet queued */
	bool		return_url;
	bool		return_vectors;
} DocumentsState;

/* What a queued request is for, in the request's own context. */
typedef struct DocumentRequest
{
	MemoryContext cxt;
	int			index;			/* into ids */
} DocumentRequest;

/* Array elements as C strings, NULLs dropped, duplicates removed. */
static char **
distinct_ids(ArrayType *array, int *nids)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	int			kept = 0;
	char	  **ids;

	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	ids = palloc(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
		if (!nulls[i])
			ids[kept++] = TextDatumGetCString(elems[i]);
	*nids = mx_api_distinct_ids(ids, kept);
	return ids;
}

/*
 * Queue ids while fewer than twice the concurrency are pending: enough to
 * keep every slot busy, while memory stays bounded by the concurrency and
 * not by the number of ids.  Each request lives in a context of its own,
 * deleted once its document is read.
 */
static void
feed(DocumentsState *state)
{
	for (;;)
	{
		MemoryContext cxt;
		MemoryContext old;
		DocumentRequest *dr;
		MxHttpRequest *req;

		while (state->next < state->nids && state->answered[state->next])
			state->next++;
		if (state->next >= state->nids ||
			mx_batch_pending(state->batch) >= 2 * mx_max_concurrency)
			break;
		cxt = AllocSetContextCreate(state->requests_cxt,
									"mixpeek_documents request",
									ALLOCSET_SMALL_SIZES);
		old = MemoryContextSwitchTo(cxt);
		dr = palloc(sizeof(DocumentRequest));
		dr->cxt = cxt;
		dr->index = state->next++;
		req = mx_api_get_document(state->target, state->collection,
								  state->ids[dr->index],
								  state->return_url, state->return_vectors);
		req->arg = dr;
		mx_batch_add(state->batch, req);
		MemoryContextSwitchTo(old);
	}
}

static void
open_batch(DocumentsState *state)
{
	MemoryContext old = MemoryContextSwitchTo(state->cxt);

	state->batch = mx_api_batch(state->target, mx_max_concurrency, NULL);
	MemoryContextSwitchTo(old);
}

/*
 * A cursor over the function outlives a savepoint rolled back after its
 * batch was made there: the batch is gone with its requests.  Send again
 * what was not answered; the requests' memory is no longer read by anyone.
 */
static void
reopen_lost_batch(DocumentsState *state)
{
	if (!mx_batch_lost(state->batch))
		return;
	MemoryContextReset(state->requests_cxt);
	state->next = 0;
	open_batch(state);
}

static DocumentsState *
documents_state(FunctionCallInfo fcinfo, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	DocumentsState *state = palloc0(sizeof(DocumentsState));

	state->cxt = cxt;
	state->target = mx_settings_target();
	state->collection = text_to_cstring(PG_GETARG_TEXT_PP(0));
	state->ids = distinct_ids(PG_GETARG_ARRAYTYPE_P(1), &state->nids);
	state->answered = palloc0(sizeof(bool) * Max(state->nids, 1));
	state->return_url = PG_GETARG_BOOL(2);
	state->return_vectors = PG_GETARG_BOOL(3);
	state->requests_cxt = AllocSetContextCreate(cxt, "mixpeek_documents requests",
												ALLOCSET_SMALL_SIZES);
	MemoryContextSwitchTo(old);
	open_batch(state);
	return state;
}

Datum
mixpeek_documents(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	DocumentsState *state;
	MxHttpRequest *req;

	if (SRF_IS_FIRSTCALL())
	{
		funcctx = SRF_FIRSTCALL_INIT();
		funcctx->user_fctx = documents_state(fcinfo,
											 funcctx->multi_call_memory_ctx);
	}
	funcctx = SRF_PERCALL_SETUP();
	state = funcctx->user_fctx;
	reopen_lost_batch(state);

	for (;;)
	{
		DocumentRequest *dr;
		Jsonb	   *doc;

		feed(state);
		req = mx_batch_next(state->batch);
		if (req == NULL)
			break;
		dr = req->arg;
		doc = mx_api_document_result(req);
		state->answered[dr->index] = true;
		MemoryContextDelete(dr->cxt);
		if (doc != NULL)
			SRF_RETURN_NEXT(funcctx, JsonbPGetDatum(doc));
	}
	mx_batch_destroy(state->batch);
	SRF_RETURN_DONE(funcctx);
}
