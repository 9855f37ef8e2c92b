/*-------------------------------------------------------------------------
 *
 * functions.c
 *		The SQL functions mixpeek_document(), mixpeek_documents(),
 *		mixpeek_lineage() and mixpeek_object_documents().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "api.h"
#include "id_fetch.h"
#include "json.h"
#include "settings.h"

PG_FUNCTION_INFO_V1(mixpeek_document);
PG_FUNCTION_INFO_V1(mixpeek_documents);
PG_FUNCTION_INFO_V1(mixpeek_lineage);
PG_FUNCTION_INFO_V1(mixpeek_object_documents);

Datum
mixpeek_document(PG_FUNCTION_ARGS)
{
	char	   *collection = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *document_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool		return_url = PG_GETARG_BOOL(2);
	bool		return_vectors = PG_GETARG_BOOL(3);
	MxTarget   *target = mx_settings_target();
	Jsonb	   *doc;

	doc = mx_api_request_alone(target,
						mx_api_get_document(target, collection, document_id,
											return_url, return_vectors),
						mx_api_document_result);
	if (doc == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(doc);
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
	*nids = mx_api_distinct_ids(ids, kept);
	return ids;
}

/*
 * The lookup of one mixpeek_documents() call, in the multi-call context,
 * so that a cursor over the function keeps it from row to row.  id_fetch.c
 * owns the requests, and sends again what a rolled-back savepoint lost.
 */
static MxIdFetch *
documents_lookup(FunctionCallInfo fcinfo, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MxTarget   *target = mx_settings_target();
	char	   *collection = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int			nids;
	char	  **ids = distinct_ids(PG_GETARG_ARRAYTYPE_P(1), &nids);
	MxIdFetch  *fetch;

	fetch = mx_id_fetch_begin(target, collection, ids, nids,
							  PG_GETARG_BOOL(2), PG_GETARG_BOOL(3),
							  NULL, NULL, NULL, NULL);
	MemoryContextSwitchTo(old);
	return fetch;
}

/*
 * mixpeek_documents(collection, ids[], return_url, return_vectors): one row
 * per document of the distinct non-NULL ids, in the order the replies
 * arrive; ids that match nothing are no rows.
 */
Datum
mixpeek_documents(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	MxIdFetch  *fetch;
	JsonbValue *doc;
	const char *id;

	if (SRF_IS_FIRSTCALL())
	{
		funcctx = SRF_FIRSTCALL_INIT();
		funcctx->user_fctx = documents_lookup(fcinfo,
											  funcctx->multi_call_memory_ctx);
	}
	funcctx = SRF_PERCALL_SETUP();
	fetch = funcctx->user_fctx;
	doc = mx_id_fetch_next(fetch, &id);
	if (doc != NULL)
		SRF_RETURN_NEXT(funcctx, JsonbPGetDatum(JsonbValueToJsonb(doc)));
	mx_id_fetch_end(fetch);
	SRF_RETURN_DONE(funcctx);
}

/* ---------- mixpeek_lineage() ---------- */

#define LINEAGE_COLUMNS 6

/* The steps of one lineage reply, read and checked on the first call. */
typedef struct LineageState
{
	int			nsteps;
	int			next;
	char	  **collection_id;
	char	  **document_id;
	char	  **feature_extractor;
	TimestampTz *created_at;
	bool	   *has_created_at;
	Jsonb	  **detail;
} LineageState;

/* Which step of which request an error while reading it is about. */
typedef struct StepContext
{
	MxHttpRequest *req;
	int			position;
} StepContext;

static void
step_context(void *arg)
{
	StepContext *sc = arg;

	errcontext("lineage step %d of Mixpeek request %s %s",
			   sc->position, sc->req->method, sc->req->path);
}

/*
 * Where the steps are.  The reply's schema is an open object; Mixpeek puts
 * a document's lineage facts where that document's shape has them: the
 * flat "lineage_chain", or the nested "_internal.lineage.chain".  A bare
 * "chain" or "lineage.chain" is read too.
 */
static JsonbValue *
lineage_chain(Jsonb *reply)
{
	static const char *const paths[] = {
		"lineage_chain", "_internal.lineage.chain", "lineage.chain", "chain"
	};
	int			i;

	for (i = 0; i < lengthof(paths); i++)
	{
		JsonbValue *v = mx_json_get_path(&reply->root, paths[i]);

		if (v != NULL && v->type != jbvNull)
			return v;
	}
	return NULL;
}

/* A string member of a step, NULL when absent or null. */
static char *
step_string(MxHttpRequest *req, JsonbContainer *step, const char *key,
			int position)
{
	JsonbValue *v = mx_json_get(step, key);

	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (v->type != jbvString)
		mx_api_report_unexpected(req,
								 psprintf("\"%s\" of lineage step %d is not a string.",
										  key, position));
	return mx_json_string(v);
}

static LineageState *
read_lineage(MxHttpRequest *req, Jsonb *reply)
{
	LineageState *state = palloc0(sizeof(LineageState));
	JsonbValue *chain;
	JsonbContainer *steps;
	int			n;
	int			i;

	chain = reply ? lineage_chain(reply) : NULL;
	/* a missing document, or one with no recorded steps */
	if (chain == NULL)
		return state;
	if (chain->type != jbvBinary || !JsonContainerIsArray(chain->val.binary.data))
		mx_api_report_unexpected(req, "The lineage chain is not an array.");
	steps = chain->val.binary.data;
	n = JsonContainerSize(steps);
	state->nsteps = n;
	state->collection_id = palloc0(sizeof(char *) * Max(n, 1));
	state->document_id = palloc0(sizeof(char *) * Max(n, 1));
	state->feature_extractor = palloc0(sizeof(char *) * Max(n, 1));
	state->created_at = palloc0(sizeof(TimestampTz) * Max(n, 1));
	state->has_created_at = palloc0(sizeof(bool) * Max(n, 1));
	state->detail = palloc0(sizeof(Jsonb *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(steps, i);
		JsonbContainer *step;
		char	   *timestamp;

		if (v == NULL || v->type != jbvBinary ||
			!JsonContainerIsObject(v->val.binary.data))
			mx_api_report_unexpected(req,
									 psprintf("Lineage step %d is not an object.", i + 1));
		step = v->val.binary.data;
		state->collection_id[i] = step_string(req, step, "collection_id", i + 1);
		state->document_id[i] = step_string(req, step, "document_id", i + 1);
		state->feature_extractor[i] = step_string(req, step,
												  "feature_extractor_id", i + 1);
		timestamp = step_string(req, step, "timestamp", i + 1);
		if (timestamp != NULL)
		{
			ErrorContextCallback errcb;
			StepContext sc = {req, i + 1};

			/* a bad timestamp raises the input function's own error */
			errcb.callback = step_context;
			errcb.arg = &sc;
			errcb.previous = error_context_stack;
			error_context_stack = &errcb;
			state->created_at[i] =
				DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
														CStringGetDatum(timestamp),
														ObjectIdGetDatum(InvalidOid),
														Int32GetDatum(-1)));
			error_context_stack = errcb.previous;
			state->has_created_at[i] = true;
		}
		state->detail[i] = JsonbValueToJsonb(v);
	}
	return state;
}

Datum
mixpeek_lineage(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	LineageState *state;
	Datum		values[LINEAGE_COLUMNS];
	bool		nulls[LINEAGE_COLUMNS] = {0};
	HeapTuple	tuple;
	int			i;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;
		TupleDesc	tupdesc;
		MxTarget   *target;
		MxHttpRequest *req;

		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		funcctx->tuple_desc = BlessTupleDesc(tupdesc);
		target = mx_settings_target();
		req = mx_api_get_lineage(target,
								 text_to_cstring(PG_GETARG_TEXT_PP(0)),
								 text_to_cstring(PG_GETARG_TEXT_PP(1)));
		/* one reply holds every step: read it whole, then hand out rows */
		funcctx->user_fctx =
			read_lineage(req, mx_api_request_alone(target, req, mx_api_document_result));
		MemoryContextSwitchTo(old);
	}
	funcctx = SRF_PERCALL_SETUP();
	state = funcctx->user_fctx;
	if (state->next >= state->nsteps)
		SRF_RETURN_DONE(funcctx);
	i = state->next++;
	values[0] = Int32GetDatum(i + 1);
	nulls[1] = state->collection_id[i] == NULL;
	if (!nulls[1])
		values[1] = CStringGetTextDatum(state->collection_id[i]);
	nulls[2] = state->document_id[i] == NULL;
	if (!nulls[2])
		values[2] = CStringGetTextDatum(state->document_id[i]);
	nulls[3] = state->feature_extractor[i] == NULL;
	if (!nulls[3])
		values[3] = CStringGetTextDatum(state->feature_extractor[i]);
	nulls[4] = !state->has_created_at[i];
	values[4] = TimestampTzGetDatum(state->created_at[i]);
	values[5] = JsonbPGetDatum(state->detail[i]);
	tuple = heap_form_tuple(funcctx->tuple_desc, values, nulls);
	SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(tuple));
}

/* ---------- mixpeek_object_documents() ---------- */

/* The documents of one reply, checked on the first call. */
typedef struct ObjectDocumentsState
{
	JsonbContainer *documents;	/* an array of objects */
	int			ndocuments;
	int			next;
} ObjectDocumentsState;

/*
 * The documents of the reply, under "results" as in the list replies (or
 * "documents").  The endpoint takes no cursor, so a reply that says more
 * follow cannot be paged: an ERROR then, never a silently partial set.
 */
static ObjectDocumentsState *
read_object_documents(MxHttpRequest *req, Jsonb *reply)
{
	ObjectDocumentsState *state = palloc0(sizeof(ObjectDocumentsState));
	JsonbValue *v;
	int			i;

	v = mx_json_get_path(&reply->root, "pagination.next_cursor");
	if (v != NULL && v->type != jbvNull)
		mx_api_report_unexpected(req,
								 "The reply says more documents follow, but the endpoint takes no cursor.");
	v = mx_json_get(&reply->root, "results");
	if (v == NULL)
		v = mx_json_get(&reply->root, "documents");
	if (v == NULL || v->type != jbvBinary ||
		!JsonContainerIsArray(v->val.binary.data))
		mx_api_report_unexpected(req,
								 "The reply has no \"results\" array of documents.");
	state->documents = v->val.binary.data;
	state->ndocuments = JsonContainerSize(state->documents);
	for (i = 0; i < state->ndocuments; i++)
	{
		JsonbValue *doc = getIthJsonbValueFromContainer(state->documents, i);

		if (doc == NULL || doc->type != jbvBinary ||
			!JsonContainerIsObject(doc->val.binary.data))
			mx_api_report_unexpected(req,
									 psprintf("Result %d is not a document object.", i + 1));
	}
	return state;
}

Datum
mixpeek_object_documents(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	ObjectDocumentsState *state;
	JsonbValue *doc;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;
		char	  **collections = NULL;
		int			ncollections = 0;

		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		funcctx->user_fctx = palloc0(sizeof(ObjectDocumentsState));
		if (!PG_ARGISNULL(1))
			collections = distinct_ids(PG_GETARG_ARRAYTYPE_P(1), &ncollections);

		/*
		 * No object, or a filter that keeps no collection: no rows, and no
		 * request, since one without collection_ids would return them all.
		 */
		if (!PG_ARGISNULL(0) && (collections == NULL || ncollections > 0))
		{
			MxTarget   *target = mx_settings_target();
			MxHttpRequest *req;

			req = mx_api_object_documents(target,
										  text_to_cstring(PG_GETARG_TEXT_PP(0)),
										  collections, ncollections);
			funcctx->user_fctx =
				read_object_documents(req,
									  mx_api_request_alone(target, req,
													mx_api_object_result));
		}
		MemoryContextSwitchTo(old);
	}
	funcctx = SRF_PERCALL_SETUP();
	state = funcctx->user_fctx;
	if (state->next >= state->ndocuments)
		SRF_RETURN_DONE(funcctx);
	doc = getIthJsonbValueFromContainer(state->documents, state->next++);
	SRF_RETURN_NEXT(funcctx, JsonbPGetDatum(JsonbValueToJsonb(doc)));
}
