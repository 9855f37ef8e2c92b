/*-------------------------------------------------------------------------
 *
 * search.c
 *		Retriever searches: POST /v1/retrievers/{id}/execute followed page
 *		by page along the cursor, and the SQL function mixpeek_search().
 *
 * A page is asked for only when the rows of the previous one are used up
 * and more are wanted: never a page beyond max_results, and never more
 * documents in a page than are still wanted.  Only the current page is in
 * memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "json.h"
#include "mixpeek_limits.h"
#include "search.h"
#include "settings.h"

PG_FUNCTION_INFO_V1(mixpeek_search);

/* See search.h for the exported functions of a search. */

MxSearch *
mx_search_begin(MemoryContext parent, const MxTarget *target,
				const char *retriever, const char *inputs,
				int64 max_results, int page_size, MxHttpStats *stats)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "mixpeek search",
											  ALLOCSET_SMALL_SIZES);
	MxSearch   *s = MemoryContextAllocZero(cxt, sizeof(MxSearch));

	s->cxt = cxt;
	s->target = target;
	s->retriever = MemoryContextStrdup(cxt, retriever);
	s->inputs = MemoryContextStrdup(cxt, inputs);
	s->max_results = max_results;
	s->page_size = Min(Max(page_size, 1), MX_SEARCH_PAGE_MAX);
	s->stats = stats;
	s->finished = (max_results == 0);
	s->page_cxt = AllocSetContextCreate(cxt, "mixpeek search page",
										ALLOCSET_DEFAULT_SIZES);
	return s;
}

/*
 * The batch lives in a context made after the page context that holds
 * its request: when the search's context goes, children go youngest
 * first, so the batch's clean-up still finds the request it stops.
 */
static MxBatch *
search_batch(MxSearch *s)
{
	if (s->shared != NULL)
		return s->shared;
	if (s->batch == NULL)
		s->batch = mx_api_batch_in(s->target, 1, s->stats, s->cxt,
								   &s->batch_cxt);
	return s->batch;
}

/* Ask for the page at cursor (NULL: the first), the current one dropped. */
static void
queue_page(MxSearch *s, const char *cursor)
{
	MemoryContext old;
	int			limit = s->page_size;
	char	   *sent = cursor ? MemoryContextStrdup(s->cxt, cursor) : NULL;
	MxHttpRequest *req;

	if (s->sent_cursor != NULL)
		pfree(s->sent_cursor);
	s->sent_cursor = sent;
	MemoryContextReset(s->page_cxt);
	s->req = NULL;
	s->documents = NULL;
	s->ndocuments = s->next = 0;
	s->cursor = NULL;
	if (s->max_results >= 0)
		limit = (int) Min((int64) limit, s->max_results - s->returned);
	old = MemoryContextSwitchTo(s->page_cxt);
	req = mx_api_execute_retriever(s->target, s->retriever, s->inputs,
								   limit, sent);
	req->arg = s;
	mx_batch_add(search_batch(s), req);
	MemoryContextSwitchTo(old);
	s->pending = true;
}

/*
 * The page's documents ("documents", as the API documents its reply; an
 * older "results" is read too) and where the next page is: pagination's
 * next_cursor, or its cursor while has_next/has_more says more follow.
 */
static void
read_page(MxSearch *s, MxHttpRequest *req)
{
	Jsonb	   *page = mx_api_object_result(req);
	JsonbValue *docs = mx_json_get(&page->root, "documents");
	JsonbValue *cursor;
	JsonbValue *more;

	if (docs == NULL)
		docs = mx_json_get(&page->root, "results");
	if (docs == NULL || docs->type != jbvBinary ||
		!JsonContainerIsArray(docs->val.binary.data))
		mx_api_report_unexpected(req, "The reply has no \"documents\" array.");
	s->req = req;
	s->documents = docs->val.binary.data;
	s->ndocuments = JsonContainerSize(s->documents);
	s->next = 0;
	s->pages++;

	more = mx_json_get_path(&page->root, "pagination.has_next");
	if (more == NULL)
		more = mx_json_get_path(&page->root, "pagination.has_more");
	s->more_announced = (more != NULL && more->type == jbvBool &&
						 more->val.boolean);
	cursor = mx_json_get_path(&page->root, "pagination.next_cursor");
	if (cursor == NULL || cursor->type == jbvNull)
		cursor = s->more_announced
			? mx_json_get_path(&page->root, "pagination.cursor") : NULL;
	s->cursor = cursor ? mx_json_string(cursor) : NULL;
	if (cursor != NULL && cursor->type != jbvNull && s->cursor == NULL)
		mx_api_report_unexpected(req, "The next cursor is not a string.");
	if (s->cursor != NULL)
	{
		if (s->seen_cursors == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(s->cxt);

			s->seen_cursors = mx_cursor_set_create();
			MemoryContextSwitchTo(old);
		}
		/* a cursor seen before would page forever */
		if (!mx_cursor_set_add(s->seen_cursors, s->cursor))
			mx_api_report_unexpected(req, "The next cursor was already followed in this search.");
	}
	/* new cursors with nothing on their pages would page forever */
	s->empty_pages = s->ndocuments > 0 ? 0 : s->empty_pages + 1;
	if (s->cursor != NULL && s->empty_pages >= MX_SEARCH_MAX_EMPTY_PAGES)
		mx_api_report_unexpected(req,
								 psprintf("%d pages in a row had no results but a next cursor.",
										  s->empty_pages));
}

/*
 * The page in flight of this search.  A shared batch may hand back pages
 * of the other searches first: each is left with its own search.
 */
static MxHttpRequest *
next_arrival(MxSearch *s)
{
	MxBatch    *batch = search_batch(s);

	while (s->arrived == NULL)
	{
		MxHttpRequest *req = mx_batch_next(batch);

		if (req == NULL)
			elog(ERROR, "mixpeek: search request vanished from its batch");
		((MxSearch *) req->arg)->arrived = req;
	}
	return s->arrived;
}

/*
 * Wait for the page in flight.  A batch of its own taken apart by the
 * abort of a subtransaction that a cursor over the search outlives is
 * made again, and the lost page asked for again (a shared batch is the
 * caller's to make again: mx_search_resend).
 */
static void
receive_page(MxSearch *s)
{
	MxHttpRequest *req;
	MemoryContext old;

	if (s->shared == NULL && mx_batch_lost(s->batch))
	{
		mx_api_batch_drop(&s->batch_cxt);
		s->batch = NULL;
		queue_page(s, s->sent_cursor);
	}
	req = next_arrival(s);
	s->arrived = NULL;
	s->pending = false;
	/* the page, its cursor and its values live as long as the page */
	old = MemoryContextSwitchTo(s->page_cxt);
	read_page(s, req);
	MemoryContextSwitchTo(old);
}

/*
 * The last page: one that says more results follow but gives no cursor
 * to them would end the search short, which is an error.
 */
static void
check_complete(MxSearch *s)
{
	if (s->more_announced)
		mx_api_report_unexpected(s->req,
								 "The reply says more results follow, but has no cursor to them.");
}

static void
read_score(MxSearch *s, JsonbContainer *doc, MxSearchRow *row)
{
	JsonbValue *score = mx_json_get(doc, "score");

	row->has_score = false;
	if (score == NULL || score->type == jbvNull)
		return;
	if (score->type != jbvNumeric)
		mx_api_report_unexpected(s->req, "A document's \"score\" is not a number.");
	row->score = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
													NumericGetDatum(score->val.numeric)));
	row->has_score = true;
}

bool
mx_search_next(MxSearch *s, MxSearchRow *row)
{
	JsonbValue *v;

	for (;;)
	{
		if (s->max_results >= 0 && s->returned >= s->max_results)
			return false;
		if (s->documents != NULL && s->next < s->ndocuments)
			break;
		if (s->pending)
		{
			receive_page(s);
			continue;
		}
		if (s->finished || (s->pages > 0 && s->cursor == NULL))
		{
			if (!s->finished && s->pages > 0)
				check_complete(s);
			s->finished = true;
			return false;
		}
		queue_page(s, s->pages > 0 ? s->cursor : NULL);
	}
	v = getIthJsonbValueFromContainer(s->documents, s->next++);
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		mx_api_report_unexpected(s->req, "An element of \"documents\" is not an object.");
	row->document = *v;
	row->container = v->val.binary.data;
	row->rank = ++s->returned;
	read_score(s, row->container, row);
	return true;
}

void
mx_search_share_batch(MxSearch *s, MxBatch *batch)
{
	s->shared = batch;
}

void
mx_search_start(MxSearch *s)
{
	if (!s->pending && !s->finished && s->pages == 0)
		queue_page(s, NULL);
}

void
mx_search_resend(MxSearch *s, MxBatch *batch)
{
	s->shared = batch;
	s->arrived = NULL;
	if (s->pending)
		queue_page(s, s->sent_cursor);
}

void
mx_search_end(MxSearch *s)
{
	if (s != NULL)
		MemoryContextDelete(s->cxt);
}

/* ---------- mixpeek_search() ---------- */

#define SEARCH_COLUMNS 4

mx_noreturn static void
null_argument(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("argument \"%s\" of mixpeek_search() must not be null", name)));
}

static bool
is_object(Jsonb *jb)
{
	return !JB_ROOT_IS_SCALAR(jb) && JB_ROOT_IS_OBJECT(jb);
}

/*
 * The inputs as sent.  ExecuteRetrieverRequest has no "filters" member
 * (the API would drop one silently): retrievers take filters as an input,
 * which their stages read as {{INPUT.filters}}, so filters go there.
 */
static char *
search_inputs(FunctionCallInfo fcinfo)
{
	Jsonb	   *inputs;
	Jsonb	   *filters;
	JsonbValue *given;
	StringInfoData buf;
	char	   *text;

	if (PG_ARGISNULL(1))
		null_argument("inputs");
	inputs = PG_GETARG_JSONB_P(1);
	if (!is_object(inputs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("inputs of mixpeek_search() must be a JSON object"),
				 errhint("Name the retriever's inputs, as in '{\"query\": \"red running shoes\"}'.")));
	text = JsonbToCString(NULL, &inputs->root, VARSIZE(inputs));

	if (PG_NARGS() < 4 || PG_ARGISNULL(3))
		return text;

	filters = PG_GETARG_JSONB_P(3);
	if (!is_object(filters))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("filters of mixpeek_search() must be a JSON object")));
	given = mx_json_get(&inputs->root, "filters");
	if (given != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mixpeek_search() got filters twice"),
				 errdetail("The inputs have a \"filters\" member, and the filters argument is not null."),
				 errhint("Pass the filters in one place.")));
	initStringInfo(&buf);
	/* the inputs object's text ends with '}', and is not empty after '{' */
	appendBinaryStringInfo(&buf, text, strlen(text) - 1);
	appendStringInfoString(&buf, JsonContainerSize(&inputs->root) > 0
						   ? ", \"filters\": " : "\"filters\": ");
	appendStringInfoString(&buf, JsonbToCString(NULL, &filters->root,
												VARSIZE(filters)));
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

static MxSearch *
search_state(FunctionCallInfo fcinfo, MemoryContext cxt)
{
	char	   *retriever;
	int32		max_results;

	if (PG_ARGISNULL(0))
		null_argument("retriever");
	retriever = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (retriever[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retriever of mixpeek_search() must not be empty")));
	if (PG_ARGISNULL(2))
		null_argument("max_results");
	max_results = PG_GETARG_INT32(2);
	if (max_results < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_results of mixpeek_search() must not be negative: %d",
						max_results)));
	return mx_search_begin(cxt, mx_settings_target(), retriever,
						   search_inputs(fcinfo), max_results,
						   MX_SEARCH_PAGE_MAX, NULL);
}

/*
 * mixpeek_search(retriever, inputs, max_results, filters)
 *		The retriever's results as rows, in its order: rank, document_id,
 *		score and the whole document.
 */
Datum
mixpeek_search(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	MxSearch   *search;
	MxSearchRow row;
	Datum		values[SEARCH_COLUMNS];
	bool		nulls[SEARCH_COLUMNS] = {0};
	JsonbValue *id;
	char	   *id_text;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;
		TupleDesc	tupdesc;

		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		funcctx->tuple_desc = BlessTupleDesc(tupdesc);
		funcctx->user_fctx = search_state(fcinfo,
										  funcctx->multi_call_memory_ctx);
		MemoryContextSwitchTo(old);
	}
	funcctx = SRF_PERCALL_SETUP();
	search = funcctx->user_fctx;
	if (!mx_search_next(search, &row))
	{
		mx_search_end(search);
		SRF_RETURN_DONE(funcctx);
	}
	values[0] = Int32GetDatum((int32) row.rank);
	id = mx_json_get(row.container, "document_id");
	id_text = id ? mx_json_string(id) : NULL;
	nulls[1] = (id_text == NULL);
	if (id_text != NULL)
		values[1] = CStringGetTextDatum(id_text);
	nulls[2] = !row.has_score;
	values[2] = Float8GetDatum(row.score);
	values[3] = JsonbPGetDatum(JsonbValueToJsonb(&row.document));
	SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(heap_form_tuple(funcctx->tuple_desc,
															   values, nulls)));
}
