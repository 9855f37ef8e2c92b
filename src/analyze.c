/*-------------------------------------------------------------------------
 *
 * analyze.c
 *		Sizes the planner can trust: row counts of foreign tables and
 *		ANALYZE.
 *
 * As postgres_fdw does, planning makes no request unless asked to: a
 * table's size is its "rows" option, else what ANALYZE stored in
 * pg_class.reltuples, else MX_DEFAULT_ROWS.  With use_remote_estimate
 * (server or table option) it is the collection's document_count from
 * GET /v1/collections/{id}, remembered per backend for
 * mixpeek.count_cache_ms, so planning asks at most once per period.
 *
 * ANALYZE reads up to MX_ANALYZE_MAX_DOCS documents in pages of
 * MX_PAGE_SIZE_MAX and keeps a reservoir sample of them, as
 * postgres_fdw's acquire_sample_rows does; the row count it stores is the
 * collection's document_count.  The sample is the first documents in the
 * API's list order (it has no random access beyond that limit).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/sampling.h"
#include "utils/timestamp.h"

#include "analyze.h"
#include "cursor_set.h"
#include "json.h"
#include "settings.h"

/* A collection's document_count, as one role saw it through one server. */
typedef struct MxCount
{
	char	   *key;			/* server, role, base URL, namespace, collection */
	double		count;
	TimestampTz at;
} MxCount;

static List *counts = NIL;		/* in TopMemoryContext, newest last */

/* The reservoir of an ANALYZE, as postgres_fdw keeps it. */
typedef struct MxSample
{
	HeapTuple  *rows;
	int			targrows;
	int			numrows;
	double		samplerows;		/* documents seen */
	double		rowstoskip;
	ReservoirStateData rstate;
} MxSample;

const char *
mx_rows_problem(const char *value)
{
	const char *p;

	for (p = value; *p >= '0' && *p <= '9'; p++)
		;
	if (p == value || *p != '\0' || strlen(value) > 16 ||
		strtod(value, NULL) > MX_ROWS_OPTION_MAX)
		return "The row count must be an integer between 0 and 10^15, written in decimal digits.";
	return NULL;
}

/* The table's use_remote_estimate, else the server's, else off. */
static bool
use_remote_estimate(ForeignTable *table)
{
	ForeignServer *server = GetForeignServer(table->serverid);
	List	   *lists[2] = {table->options, server->options};
	int			i;
	ListCell   *lc;

	for (i = 0; i < 2; i++)
	{
		foreach(lc, lists[i])
		{
			DefElem    *def = lfirst_node(DefElem, lc);

			if (strcmp(def->defname, "use_remote_estimate") == 0)
				return defGetBoolean(def);
		}
	}
	return false;
}

/* document_count from GET /v1/collections/{id}; -1 when it does not say. */
static double
fetch_count(MxTarget *target, const char *collection)
{
	MxHttpRequest *req = mx_api_get_collection(target, collection);
	Jsonb	   *reply = mx_api_request_alone(target, req, mx_api_object_result);
	JsonbValue *v = mx_json_get(&reply->root, "document_count");
	double		count;

	if (v == NULL || v->type != jbvNumeric)
		return -1;
	count = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
											   NumericGetDatum(v->val.numeric)));
	return (count >= 0 && count <= MX_ROWS_OPTION_MAX) ? rint(count) : -1;
}

static MxCount *
find_count(const char *key)
{
	ListCell   *lc;

	foreach(lc, counts)
	{
		MxCount    *c = lfirst(lc);

		if (strcmp(c->key, key) == 0)
			return c;
	}
	return NULL;
}

static void
remember_count(const char *key, double count)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	MxCount    *c = find_count(key);

	if (c == NULL)
	{
		if (list_length(counts) >= MX_COUNT_CACHE_ENTRIES)
		{
			MxCount    *oldest = linitial(counts);

			counts = list_delete_first(counts);
			pfree(oldest->key);
			pfree(oldest);
		}
		c = palloc0(sizeof(MxCount));
		c->key = pstrdup(key);
		counts = lappend(counts, c);
	}
	c->count = count;
	c->at = GetCurrentTimestamp();
	MemoryContextSwitchTo(old);
}

static char *
count_key(MxRelation *rel, Oid userid, MxTarget *target)
{
	return psprintf("%u %u %s %s %s", rel->serverid, userid, target->base_url,
					target->namespace ? target->namespace : "", rel->collection);
}

/* The cached count when fresh enough, else a new one. */
static double
document_count(MxRelation *rel, Oid userid)
{
	MxTarget   *target = mx_fdw_target(rel->serverid, userid, rel->namespace);
	char	   *key = count_key(rel, userid, target);
	MxCount    *c = find_count(key);
	double		count;

	if (c != NULL && mx_count_cache_ms > 0 &&
		!TimestampDifferenceExceeds(c->at, GetCurrentTimestamp(), mx_count_cache_ms))
		return c->count;
	count = fetch_count(target, rel->collection);
	remember_count(key, count);
	return count;
}

/* Whose key planning would use: the view owner's, else the current role's. */
static Oid
plan_user(PlannerInfo *root, RelOptInfo *baserel)
{
#if PG_VERSION_NUM >= 160000
	return OidIsValid(baserel->userid) ? baserel->userid : GetUserId();
#else
	RangeTblEntry *rte = planner_rt_fetch(baserel->relid, root);

	return OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
#endif
}

double
mx_estimate_tuples(PlannerInfo *root, RelOptInfo *baserel, MxRelation *rel)
{
	ForeignTable *table = GetForeignTable(rel->relid);
	char	   *rows = mx_fdw_option(table->options, "rows");

	if (rows != NULL && mx_rows_problem(rows) == NULL)
		return strtod(rows, NULL);
	if (use_remote_estimate(table))
	{
		double		count = document_count(rel, plan_user(root, baserel));

		if (count >= 0)
			return count;
	}
	/* reltuples: -1 until the first ANALYZE */
	if (baserel->tuples >= 0)
		return baserel->tuples;
	return MX_DEFAULT_ROWS;
}

/* ---------- ANALYZE ---------- */

static void
sample_row(MxSample *s, HeapTuple tuple)
{
	s->samplerows += 1;
	if (s->numrows < s->targrows)
	{
		s->rows[s->numrows++] = tuple;
		return;
	}
	/* Vitter's algorithm, as postgres_fdw and analyze.c use it */
	if (s->rowstoskip < 0)
		s->rowstoskip = reservoir_get_next_S(&s->rstate, s->samplerows, s->targrows);
	if (s->rowstoskip <= 0)
	{
		int			k = (int) (s->targrows * sampler_random_fract(&s->rstate.randstate));

		Assert(k >= 0 && k < s->targrows);
		heap_freetuple(s->rows[k]);
		s->rows[k] = tuple;
	}
	else
		heap_freetuple(tuple);
	s->rowstoskip -= 1;
}

/*
 * Sample the documents of one page; return its next cursor (in
 * row_cxt) or NULL.  Rows are made in row_cxt, the page lives in
 * CurrentMemoryContext.
 */
static char *
sample_page(MxSample *s, MxHttpRequest *req, Jsonb *page, MxConverter *conv,
			TupleDesc tupdesc, Bitmapset *attrs, MemoryContext row_cxt)
{
	JsonbValue *results = mx_json_get(&page->root, "results");
	JsonbValue *pagination = mx_json_get(&page->root, "pagination");
	JsonbValue *cursor = NULL;
	Datum	   *values = palloc(sizeof(Datum) * Max(tupdesc->natts, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(tupdesc->natts, 1));
	int			n = 0;
	int			i;

	if (results != NULL && results->type != jbvNull &&
		(results->type != jbvBinary || !JsonContainerIsArray(results->val.binary.data)))
		mx_api_report_unexpected(req, "\"results\" is not an array.");
	if (results != NULL && results->type == jbvBinary)
		n = JsonContainerSize(results->val.binary.data);
	for (i = 0; i < n; i++)
	{
		JsonbValue *doc = getIthJsonbValueFromContainer(results->val.binary.data, i);
		MemoryContext old;

		if (doc->type != jbvBinary || !JsonContainerIsObject(doc->val.binary.data))
			mx_api_report_unexpected(req, "An element of \"results\" is not an object.");
		mx_convert_document(conv, doc, attrs, values, nulls);
		old = MemoryContextSwitchTo(row_cxt);
		sample_row(s, heap_form_tuple(tupdesc, values, nulls));
		MemoryContextSwitchTo(old);
	}
	if (pagination != NULL && pagination->type == jbvBinary &&
		JsonContainerIsObject(pagination->val.binary.data))
		cursor = mx_json_get(pagination->val.binary.data, "next_cursor");
	if (cursor == NULL || cursor->type != jbvString || n == 0)
		return NULL;
	return MemoryContextStrdup(row_cxt, mx_json_string(cursor));
}

/*
 * The AcquireSampleRowsFunc: page through the collection (as the table's
 * owner, whom ANALYZE runs as), keep a sample of targrows rows, and report
 * document_count as the table's size.
 */
static int
acquire_sample_rows(Relation relation, int elevel, HeapTuple *rows,
					int targrows, double *totalrows, double *totaldeadrows)
{
	TupleDesc	tupdesc = RelationGetDescr(relation);
	MxRelation *rel = mx_fdw_relation(RelationGetRelid(relation), tupdesc);
	MxTarget   *target = mx_fdw_target(rel->serverid, GetUserId(), rel->namespace);
	MxConverter *conv = mx_converter_create(rel);
	MemoryContext row_cxt = CurrentMemoryContext;
	MemoryContext page_cxt = AllocSetContextCreate(row_cxt, "mixpeek_fdw analyze page",
												   ALLOCSET_DEFAULT_SIZES);
	MxCursorSet *seen = mx_cursor_set_create();
	Bitmapset  *attrs = NULL;
	char	   *cursor = NULL;
	double		count;
	MxSample	s = {rows, targrows, 0, 0, -1};
	int			i;

	for (i = 0; i < rel->natts; i++)
		if (rel->columns[i].name != NULL)
			attrs = bms_add_member(attrs, rel->columns[i].attnum -
								   FirstLowInvalidHeapAttributeNumber);
	reservoir_init_selection_state(&s.rstate, targrows);
	count = fetch_count(target, rel->collection);
	remember_count(count_key(rel, GetUserId(), target), count);
	do
	{
		MemoryContext old = MemoryContextSwitchTo(page_cxt);
		int			limit = Min(MX_PAGE_SIZE_MAX, MX_ANALYZE_MAX_DOCS - (int) s.samplerows);
		char	   *body = cursor ? mx_body_with_cursor("{}", cursor) : "{}";
		MxHttpRequest *req = mx_api_list_page(target, rel->collection, limit,
											  body, false, 0);
		Jsonb	   *page = mx_api_request_alone(target, req, mx_api_object_result);

		cursor = sample_page(&s, req, page, conv, tupdesc, attrs, row_cxt);
		/* a cursor seen before would page forever */
		if (cursor != NULL && !mx_cursor_set_add(seen, cursor))
			mx_api_report_unexpected(req, "The next cursor was already followed in this scan.");
		MemoryContextSwitchTo(old);
		MemoryContextReset(page_cxt);
	} while (cursor != NULL && s.samplerows < MX_ANALYZE_MAX_DOCS);

	*totalrows = Max(count, s.samplerows);
	*totaldeadrows = 0;
	ereport(elevel,
			(errmsg("\"%s\": collection \"%s\" holds %.0f documents, %.0f read, %d rows in sample",
					RelationGetRelationName(relation), rel->collection,
					*totalrows, s.samplerows, s.numrows)));
	return s.numrows;
}

/*
 * AnalyzeForeignTable: every mixpeek_fdw table can be analyzed.  The page
 * count is only shown; the row count is what acquire_sample_rows reports.
 */
bool
mx_analyze_foreign_table(Relation relation, AcquireSampleRowsFunc *func,
						 BlockNumber *totalpages)
{
	*func = acquire_sample_rows;
	*totalpages = 1;
	return true;
}
