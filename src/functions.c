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
	char	   *collection;
	char	  **ids;			/* sorted, without duplicates */
	int			nids;
	int			next;			/* first id not yet queued */
	bool		return_url;
	bool		return_vectors;
} DocumentsState;

static int
compare_ids(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

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
	qsort(ids, kept, sizeof(char *), compare_ids);
	n = kept;
	kept = 0;
	for (i = 0; i < n; i++)
		if (kept == 0 || strcmp(ids[kept - 1], ids[i]) != 0)
			ids[kept++] = ids[i];
	*nids = kept;
	return ids;
}

/*
 * Queue ids while fewer than twice the concurrency are pending: enough to
 * keep every slot busy, while memory stays bounded by the concurrency and
 * not by the number of ids.  Each request lives in a context of its own,
 * made before the batch's is gone (the batch is in the parent), and
 * deleted once its document is read.
 */
static void
feed(DocumentsState *state, MemoryContext cxt)
{
	while (state->next < state->nids &&
		   mx_batch_pending(state->batch) < 2 * mx_max_concurrency)
	{
		MemoryContext req_cxt = AllocSetContextCreate(cxt,
													  "mixpeek_documents request",
													  ALLOCSET_SMALL_SIZES);
		MemoryContext old = MemoryContextSwitchTo(req_cxt);
		MxHttpRequest *req = mx_api_get_document(state->target,
												 state->collection,
												 state->ids[state->next++],
												 state->return_url,
												 state->return_vectors);

		req->arg = req_cxt;
		mx_batch_add(state->batch, req);
		MemoryContextSwitchTo(old);
	}
}

Datum
mixpeek_documents(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	DocumentsState *state;
	MxHttpRequest *req;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;

		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		state = palloc0(sizeof(DocumentsState));
		state->target = mx_settings_target();
		state->collection = text_to_cstring(PG_GETARG_TEXT_PP(0));
		state->ids = distinct_ids(PG_GETARG_ARRAYTYPE_P(1), &state->nids);
		state->return_url = PG_GETARG_BOOL(2);
		state->return_vectors = PG_GETARG_BOOL(3);
		state->batch = mx_api_batch(state->target, mx_max_concurrency, NULL);
		funcctx->user_fctx = state;
		MemoryContextSwitchTo(old);
	}
	funcctx = SRF_PERCALL_SETUP();
	state = funcctx->user_fctx;

	for (;;)
	{
		Jsonb	   *doc;

		feed(state, funcctx->multi_call_memory_ctx);
		req = mx_batch_next(state->batch);
		if (req == NULL)
			break;
		doc = mx_api_document_result(req);
		MemoryContextDelete((MemoryContext) req->arg);
		if (doc != NULL)
			SRF_RETURN_NEXT(funcctx, JsonbPGetDatum(doc));
	}
	mx_batch_destroy(state->batch);
	SRF_RETURN_DONE(funcctx);
}
