/*-------------------------------------------------------------------------
 *
 * fdw.c
 *		mixpeek_fdw handler and planner/executor callbacks.
 *
 * A scan is one of three kinds (deparse.c decides): a GET for
 * "document_id = v" (also once per outer row of a nested loop), concurrent
 * GETs for "document_id = ANY(...)", or a list request followed page by
 * page along the cursor.  List pages are pipelined: once a page is parsed
 * the next one is requested, and mx_batch_poll() moves it along while the
 * rows of the current page are returned.  Only the current page and the
 * one in flight are in memory: they alternate between two contexts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/table.h"
#include "commands/explain.h"
#if PG_VERSION_NUM >= 180000
/* PostgreSQL 18 split these out of commands/explain.h */
#include "commands/explain_format.h"
#include "commands/explain_state.h"
#endif
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

#include "analyze.h"
#include "compat.h"
#include "cursor_set.h"
#include "json.h"
#include "mixpeek_fdw.h"
#include "settings.h"

/* What the planner keeps in baserel->fdw_private. */
typedef struct MxPlanInfo
{
	MxRelation *rel;
	List	   *remote_conds;	/* RestrictInfos sent as filters */
	List	   *local_conds;	/* RestrictInfos that cannot be */
	MxIdLookup	id;				/* document_id lookup, if any */
	Bitmapset  *attrs_used;
	double		fetched;		/* documents the API sends back */
} MxPlanInfo;

/* fdw_private of a ForeignScan plan */
enum MxPrivateIndex
{
	MX_PRIVATE_SPEC,
	MX_PRIVATE_ATTRS
};

typedef struct MxScanState
{
	MxRelation *rel;
	MxScanSpec *spec;
	MxConverter *conv;
	Bitmapset  *attrs_used;
	MxTarget   *target;			/* NULL for EXPLAIN without ANALYZE */
	int			request_limit;	/* limit of list requests */

	/* fdw_exprs, evaluated at the start of each scan */
	List	   *expr_states;
	int			nexprs;
	Datum	   *values;
	bool	   *isnull;
	Oid		   *types;

	MemoryContext scan_cxt;		/* the query's: state */
	MemoryContext request_cxt;	/* this scan's values, body and ids */
	MemoryContext gets_cxt;		/* GET requests (one child each) */
	MemoryContext page_cxt[2];	/* list pages, alternating */
	int			cur;			/* page_cxt of the current page */
	MemoryContext tuple_cxt;	/* converted values of the current row */
	MemoryContext batch_cxt;	/* the batch, while there is one */

	MxBatch    *batch;
	MxHttpStats stats;
	uint64		pages;

	bool		evaluated;		/* values of this scan computed */
	bool		started;		/* first request queued */
	bool		empty;			/* filters never true: no rows */
	char	   *body;			/* list request body, without cursor */

	/* list scans */
	bool		page_pending;
	MxHttpRequest *page_req;	/* the request of the current page */
	JsonbContainer *results;
	int			nresults;
	JsonbValue	document;		/* the current row's */
	int			next;
	char	   *cursor;			/* next_cursor of the current page */
	char	   *sent_cursor;	/* cursor of the request in flight */
	MxCursorSet *seen_cursors;	/* every next_cursor of this scan */

	/* GET scans */
	char	  **ids;
	bool	   *answered;		/* ids whose request came back */
	int			nids;
	int			next_id;
	int			in_flight;
	MemoryContext row_cxt;		/* the request of the current row */
	const char *row_id;			/* the id it asked for */
} MxScanState;

/* ---------- planning ---------- */

static int
page_size_of(MxRelation *rel)
{
	return rel->page_size > 0 ? rel->page_size : mx_page_size;
}

static double
array_length_estimate(Expr *expr)
{
	if (IsA(expr, Const) && !((Const *) expr)->constisnull)
		return ArrayGetNItems(ARR_NDIM(DatumGetArrayTypeP(((Const *) expr)->constvalue)),
							  ARR_DIMS(DatumGetArrayTypeP(((Const *) expr)->constvalue)));
	if (IsA(expr, ArrayExpr))
		return list_length(((ArrayExpr *) expr)->elements);
	return 10;
}

static void
collect_attrs(Index relid, List *exprs, Bitmapset **attrs)
{
	ListCell   *lc;

	foreach(lc, exprs)
	{
		Node	   *node = lfirst(lc);

		if (IsA(node, RestrictInfo))
			node = (Node *) ((RestrictInfo *) node)->clause;
		pull_varattnos(node, relid, attrs);
	}
}

/*
 * mixpeekGetForeignRelSize
 *		Estimate the rows a scan of the foreign table returns.
 *
 * Reads the table's options once for the whole planning (kept in
 * fdw_private) and sorts the conditions into those sent to Mixpeek and
 * those checked locally.  A collection holds mx_estimate_tuples()
 * documents (analyze.c), narrowed by the conditions' selectivity; an id
 * lookup returns one row per id.
 */
static void
mixpeekGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
						 Oid foreigntableid)
{
	MxPlanInfo *info = palloc0(sizeof(MxPlanInfo));
	Relation	relation = table_open(foreigntableid, NoLock);
	Selectivity remote_sel;

	info->rel = mx_fdw_relation(foreigntableid, RelationGetDescr(relation));
	table_close(relation, NoLock);
	baserel->fdw_private = info;

	mx_classify_conditions(root, baserel, info->rel, baserel->baserestrictinfo,
						   &info->id, &info->remote_conds, &info->local_conds);
	collect_attrs(baserel->relid, baserel->reltarget->exprs, &info->attrs_used);
	collect_attrs(baserel->relid, baserel->baserestrictinfo, &info->attrs_used);

	baserel->tuples = mx_estimate_tuples(root, baserel, info->rel);
	if (info->id.value != NULL)
	{
		/* document ids are unique */
		info->fetched = info->id.many
			? array_length_estimate(info->id.value) : 1;
		baserel->rows = clamp_row_est(info->fetched);
		return;
	}
	remote_sel = clauselist_selectivity(root, info->remote_conds,
										baserel->relid, JOIN_INNER, NULL);
	info->fetched = clamp_row_est(baserel->tuples * remote_sel);
	baserel->rows = clamp_row_est(baserel->tuples *
								  clauselist_selectivity(root,
														 baserel->baserestrictinfo,
														 baserel->relid,
														 JOIN_INNER, NULL));
}

/*
 * A request costs MX_COST_REQUEST; concurrent GETs overlap, list pages do
 * not (each needs the previous page's cursor).  Every row is converted and
 * every clause is checked locally.
 */
static void
estimate_costs(PlannerInfo *root, RelOptInfo *baserel, MxPlanInfo *info,
			   double fetched, double requests, List *clauses,
			   Cost *startup, Cost *total)
{
	QualCost	qual;

	cost_qual_eval(&qual, clauses, root);
	*startup = MX_COST_REQUEST + qual.startup;
	*total = *startup + MX_COST_REQUEST * (Max(requests, 1) - 1) +
		fetched * (cpu_tuple_cost + MX_COST_ROW + qual.per_tuple) +
		baserel->reltarget->cost.per_tuple * baserel->rows;
}

static double
requests_of(MxPlanInfo *info)
{
	if (info->id.value == NULL)
		return ceil(info->fetched / page_size_of(info->rel));
	if (info->id.many)
		return ceil(info->fetched / mx_max_concurrency);
	return 1;
}

/* Does some pathkey-sorted list path make sense, and on which column? */
static bool
sortable_query_pathkey(PlannerInfo *root, RelOptInfo *baserel,
					   MxPlanInfo *info, AttrNumber *attnum, bool *desc)
{
	PathKey    *pk;
	ListCell   *lc;

	if (!mx_pushdown || info->id.value != NULL || info->local_conds != NIL ||
		list_length(root->query_pathkeys) != 1)
		return false;
	pk = linitial_node(PathKey, root->query_pathkeys);
	if (!mx_pathkey_is_asc(pk) && !mx_pathkey_is_desc(pk))
		return false;
	*desc = mx_pathkey_is_desc(pk);
	foreach(lc, pk->pk_eclass->ec_members)
	{
		EquivalenceMember *em = lfirst(lc);

		if (bms_equal(em->em_relids, baserel->relids) &&
			mx_sort_pushable(info->rel, baserel->relid, em->em_expr,
							 pk->pk_opfamily, pk->pk_eclass->ec_collation,
							 pk->pk_nulls_first, *desc,
							 attnum))
			return true;
	}
	return false;
}

static bool
id_member_matches(PlannerInfo *root, RelOptInfo *rel, EquivalenceClass *ec,
				  EquivalenceMember *em, void *arg)
{
	MxPlanInfo *info = arg;

	return mx_is_id_expr(info->rel, rel->relid, em->em_expr);
}

/*
 * "document_id = outer.x": one GET per outer row in a nested loop.  The
 * clause comes from an equivalence class (inner joins) or from joininfo
 * (outer joins).
 */
static void
add_parameterized_paths(PlannerInfo *root, RelOptInfo *baserel,
						MxPlanInfo *info)
{
	List	   *clauses;
	List	   *done = NIL;
	ListCell   *lc;

	clauses = generate_implied_equalities_for_column(root, baserel,
													 id_member_matches, info,
													 baserel->lateral_referencers);
	foreach(lc, baserel->joininfo)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);

		if (join_clause_is_movable_to(ri, baserel))
			clauses = lappend(clauses, ri);
	}

	foreach(lc, clauses)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		Relids		required_outer;
		ParamPathInfo *param_info;
		MxIdLookup	id;
		Cost		startup,
					total;

		if (!mx_is_id_condition(info->rel, baserel->relid, ri->clause, &id) ||
			id.many)
			continue;
		required_outer = bms_union(ri->clause_relids, baserel->lateral_relids);
		required_outer = bms_del_member(required_outer, baserel->relid);
		if (bms_is_empty(required_outer) || list_member(done, required_outer))
			continue;
		done = lappend(done, required_outer);

		param_info = get_baserel_parampathinfo(root, baserel, required_outer);
		estimate_costs(root, baserel, info, 1, 1,
					   list_concat_copy(param_info->ppi_clauses,
										baserel->baserestrictinfo),
					   &startup, &total);
		add_path(baserel, (Path *)
				 mx_create_foreignscan_path(root, baserel, NULL, 1,
											startup, total, NIL,
											required_outer, NULL, NIL));
	}
}

/*
 * mixpeekGetForeignPaths
 *		Create the possible scan paths for the foreign table.
 *
 * The plain path; a path sorted by the API when the query's ORDER BY is
 * one column it can sort on (so the sort costs nothing locally); and, with
 * pushdown on, a parameterized path per join clause on the document id, for
 * a nested loop that GETs one document per outer row.
 */
static void
mixpeekGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
					   Oid foreigntableid)
{
	MxPlanInfo *info = baserel->fdw_private;
	Cost		startup,
				total;
	AttrNumber	sort_attnum;
	bool		sort_desc;

	estimate_costs(root, baserel, info, info->fetched, requests_of(info),
				   baserel->baserestrictinfo, &startup, &total);
	add_path(baserel, (Path *)
			 mx_create_foreignscan_path(root, baserel, NULL, baserel->rows,
										startup, total, NIL, NULL, NULL, NIL));

	if (sortable_query_pathkey(root, baserel, info, &sort_attnum, &sort_desc))
		add_path(baserel, (Path *)
				 mx_create_foreignscan_path(root, baserel, NULL, baserel->rows,
											startup, total + 1.0,
											root->query_pathkeys, NULL, NULL,
											list_make2_int(sort_attnum, sort_desc)));

	if (mx_pushdown)
		add_parameterized_paths(root, baserel, info);
}

/*
 * Ask the API for no more than LIMIT rows per page when nothing else
 * stands between this scan and the query's LIMIT: no other relation, no
 * condition left to check locally, and either no ORDER BY or the API's
 * sort.  Later pages are only requested if rows are still wanted.
 */
static int
pushed_limit(PlannerInfo *root, RelOptInfo *baserel, ForeignPath *path,
			 List *local_conds)
{
	if (!mx_pushdown || root->limit_tuples <= 0 || local_conds != NIL ||
		path->path.param_info != NULL ||
		bms_membership(root->all_baserels) != BMS_SINGLETON)
		return 0;
	if (root->query_pathkeys != NIL &&
		!pathkeys_contained_in(root->query_pathkeys, path->path.pathkeys))
		return 0;
	return (int) Min(ceil(root->limit_tuples), (double) MX_PAGE_SIZE_MAX);
}

static List *
attrs_to_list(Bitmapset *attrs)
{
	List	   *list = NIL;
	int			x = -1;

	while ((x = bms_next_member(attrs, x)) >= 0)
		list = lappend_int(list, x);
	return list;
}

/*
 * mixpeekGetForeignPlan
 *		Create a ForeignScan plan node for the chosen path.
 *
 * The conditions are classified again, since scan_clauses of a
 * parameterized path include the join clause.  What the scan sends travels
 * in fdw_private as a List (copyObject must work on plans); the values it
 * depends on are fdw_exprs, evaluated at execution.  Every list filter is
 * also checked locally, so the scan's result never depends on how Mixpeek
 * compares.
 */
static ForeignScan *
mixpeekGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
					  Oid foreigntableid, ForeignPath *best_path,
					  List *tlist, List *scan_clauses, Plan *outer_plan)
{
	MxPlanInfo *info = baserel->fdw_private;
	List	   *remote;
	List	   *local;
	MxIdLookup	id;
	Bitmapset  *attrs = bms_copy(info->attrs_used);
	List	   *fdw_exprs = NIL;
	MxScanSpec *spec;
	List	   *checked = scan_clauses;

	/* with a parameterized path, scan_clauses include the join clause */
	mx_classify_conditions(root, baserel, info->rel, scan_clauses,
						   &id, &remote, &local);
	collect_attrs(baserel->relid, scan_clauses, &attrs);

	spec = mx_build_scan_spec(root, baserel, info->rel, remote,
							  &id, attrs, &fdw_exprs);
	if (id.value != NULL)
	{
		/* the scan checks the lookup itself: see is_requested_document */
		checked = list_delete_ptr(list_copy(scan_clauses), id.clause);
		attrs = bms_add_member(attrs,
							   id.attnum - FirstLowInvalidHeapAttributeNumber);
	}
	if (best_path->fdw_private != NIL)
	{
		spec->sort_attnum = linitial_int(best_path->fdw_private);
		spec->sort_desc = lsecond_int(best_path->fdw_private);
	}
	if (spec->kind == MX_SCAN_LIST)
		spec->limit = pushed_limit(root, baserel, best_path, local);

	/* every list filter is checked again locally: see deparse.c */
	return make_foreignscan(tlist,
							extract_actual_clauses(checked, false),
							baserel->relid,
							fdw_exprs,
							list_make2(mx_spec_to_list(spec),
									   attrs_to_list(attrs)),
							NIL, NIL, outer_plan);
}

/* ---------- execution ---------- */

/*
 * mixpeekBeginForeignScan
 *		Prepare a scan: read the plan's fdw_private, make the memory
 *		contexts, resolve where requests go and with which key.
 *
 * Nothing is sent yet: the first request goes out on the first row asked
 * for, so a scan that is never read costs no request.  With EXPLAIN
 * (without ANALYZE) no key is looked up at all.
 */
static void
mixpeekBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	Relation	relation = node->ss.ss_currentRelation;
	MxScanState *s = palloc0(sizeof(MxScanState));
	List	   *attrs = lsecond(plan->fdw_private);
	ListCell   *lc;
	int			i = 0;

	node->fdw_state = s;
	s->rel = mx_fdw_relation(RelationGetRelid(relation),
							 RelationGetDescr(relation));
	s->spec = mx_spec_from_list(linitial(plan->fdw_private));
	foreach(lc, attrs)
		s->attrs_used = bms_add_member(s->attrs_used, lfirst_int(lc));
	s->nexprs = list_length(plan->fdw_exprs);
	s->values = palloc0(sizeof(Datum) * Max(s->nexprs, 1));
	s->isnull = palloc0(sizeof(bool) * Max(s->nexprs, 1));
	s->types = palloc0(sizeof(Oid) * Max(s->nexprs, 1));
	foreach(lc, plan->fdw_exprs)
		s->types[i++] = exprType(lfirst(lc));
	s->request_limit = s->spec->limit > 0 ? s->spec->limit
		: page_size_of(s->rel);

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;

	s->target = mx_fdw_target(s->rel->serverid,
							  mx_foreign_scan_user(plan, node->ss.ps.state),
							  s->rel->namespace);
	s->conv = mx_converter_create(s->rel);
	s->expr_states = ExecInitExprList(plan->fdw_exprs, (PlanState *) node);
	s->scan_cxt = CurrentMemoryContext;
	s->request_cxt = AllocSetContextCreate(s->scan_cxt, "mixpeek_fdw values",
										   ALLOCSET_DEFAULT_SIZES);
	s->gets_cxt = AllocSetContextCreate(s->scan_cxt, "mixpeek_fdw requests",
										ALLOCSET_SMALL_SIZES);
	s->page_cxt[0] = AllocSetContextCreate(s->scan_cxt, "mixpeek_fdw page",
										   ALLOCSET_DEFAULT_SIZES);
	s->page_cxt[1] = AllocSetContextCreate(s->scan_cxt, "mixpeek_fdw page",
										   ALLOCSET_DEFAULT_SIZES);
	s->tuple_cxt = AllocSetContextCreate(s->scan_cxt, "mixpeek_fdw row",
										 ALLOCSET_DEFAULT_SIZES);
}

/*
 * The batch lives in a context of its own, made after the contexts that
 * hold its requests.  mx_batch_create() ties the batch's clean-up to that
 * context, and the clean-up reads the requests still running.  When an
 * error throws the query's memory away, a context's children go youngest
 * first: this one before the pages and requests, so they are still there
 * when the clean-up needs them.
 */
static MxBatch *
scan_batch(MxScanState *s)
{
	MemoryContext old;

	if (s->batch != NULL)
		return s->batch;
	s->batch_cxt = AllocSetContextCreate(s->scan_cxt, "mixpeek_fdw batch",
										 ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(s->batch_cxt);
	s->batch = mx_api_batch(s->target, mx_max_concurrency, &s->stats);
	MemoryContextSwitchTo(old);
	return s->batch;
}

/* Forget the batch and what it still runs; its memory goes with it. */
static void
drop_batch(MxScanState *s)
{
	if (s->batch_cxt != NULL)
		MemoryContextDelete(s->batch_cxt);	/* its callback ends the batch */
	s->batch_cxt = NULL;
	s->batch = NULL;
}

/*
 * A subtransaction's abort takes apart the batches made in it (http.c),
 * but a cursor declared before the savepoint lives on, and so does its
 * scan: its requests are lost and must be sent again.
 */
static bool
batch_lost(MxScanState *s)
{
	return s->batch != NULL && mx_batch_lost(s->batch);
}

/* The scan's id value: one, or the elements of an array. */
static void
id_values(MxScanState *s, Datum **elems, bool **nulls, int *n, Oid *typid)
{
	ArrayType  *array;
	int16		elemlen;
	bool		elembyval;
	char		elemalign;

	if (s->spec->kind == MX_SCAN_GET)
	{
		*elems = &s->values[0];
		*nulls = &s->isnull[0];
		*n = 1;
		*typid = s->types[0];
		return;
	}
	array = DatumGetArrayTypeP(s->values[0]);
	*typid = ARR_ELEMTYPE(array);
	get_typlenbyvalalign(*typid, &elemlen, &elembyval, &elemalign);
	deconstruct_array(array, *typid, elemlen, elembyval, elemalign,
					  elems, nulls, n);
}

/* The ids to GET, without NULLs, empty strings and duplicates. */
static void
collect_ids(MxScanState *s)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	Oid			typid;
	int			i;

	if (s->isnull[0])
		return;
	id_values(s, &elems, &nulls, &n, &typid);
	s->ids = palloc(sizeof(char *) * Max(n, 1));
	s->nids = 0;
	for (i = 0; i < n; i++)
	{
		char	   *id;

		if (nulls[i])
			continue;
		/* text, varchar or name (text's family compares all three) */
		id = mx_output_text(elems[i], typid);
		if (id[0] != '\0')
			s->ids[s->nids++] = id;
	}
	s->nids = mx_api_distinct_ids(s->ids, s->nids);
	s->answered = palloc0(sizeof(bool) * Max(s->nids, 1));
}

/*
 * Evaluate the scan's values (parameters may have changed since the last
 * scan) and what they make of the request.  Filters that can never be true
 * (a comparison with NULL) leave nothing to ask for.
 */
static void
start_scan(ForeignScanState *node, MxScanState *s)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	MemoryContext old = MemoryContextSwitchTo(s->request_cxt);
	ListCell   *lc;
	int			i = 0;

	foreach(lc, s->expr_states)
	{
		s->values[i] = ExecEvalExpr(lfirst(lc), econtext, &s->isnull[i]);
		i++;
	}
	if (s->spec->kind == MX_SCAN_LIST)
	{
		s->body = mx_list_body(s->rel, s->spec, s->values, s->isnull,
							   s->types, NULL);
		s->empty = (s->body == NULL);
		s->seen_cursors = mx_cursor_set_create();
	}
	if (s->spec->kind != MX_SCAN_LIST)
		collect_ids(s);
	MemoryContextSwitchTo(old);
	s->evaluated = true;
}

static void
queue_page(MxScanState *s, const char *cursor)
{
	MemoryContext old = MemoryContextSwitchTo(s->page_cxt[1 - s->cur]);
	char	   *body = cursor ? mx_body_with_cursor(s->body, cursor) : s->body;
	MxHttpRequest *req = mx_api_list_documents(s->target, s->rel->collection,
											   s->request_limit, body);

	mx_batch_add(scan_batch(s), req);
	mx_batch_poll(s->batch);
	s->page_pending = true;
	s->sent_cursor = cursor ? pstrdup(cursor) : NULL;
	MemoryContextSwitchTo(old);
}

static void
read_page(MxScanState *s, MxHttpRequest *req)
{
	Jsonb	   *page = mx_api_object_result(req);
	JsonbValue *results = mx_json_get(&page->root, "results");
	JsonbValue *pagination = mx_json_get(&page->root, "pagination");
	JsonbValue *cursor = NULL;

	if (results == NULL || results->type == jbvNull)
		s->nresults = 0;
	else if (results->type == jbvBinary &&
			 JsonContainerIsArray(results->val.binary.data))
	{
		s->results = results->val.binary.data;
		s->nresults = JsonContainerSize(s->results);
	}
	else
		mx_api_report_unexpected(req, "\"results\" is not an array.");
	s->next = 0;
	if (pagination != NULL && pagination->type == jbvBinary &&
		JsonContainerIsObject(pagination->val.binary.data))
		cursor = mx_json_get(pagination->val.binary.data, "next_cursor");
	s->cursor = cursor ? mx_json_string(cursor) : NULL;
	s->pages++;
	/* a cursor seen before would page forever */
	if (s->cursor != NULL && !mx_cursor_set_add(s->seen_cursors, s->cursor))
		mx_api_report_unexpected(req, "The next cursor was already followed in this scan.");
}

/*
 * Make the next page current.  The pending request lives in the other
 * page context; the current page's context is emptied first.
 */
static bool
next_page(MxScanState *s)
{
	MxHttpRequest *req;
	MemoryContext old;

	if (!s->page_pending && s->cursor != NULL && s->spec->limit > 0)
		queue_page(s, s->cursor);
	if (!s->page_pending)
		return false;

	MemoryContextReset(s->page_cxt[s->cur]);
	s->page_req = NULL;
	s->results = NULL;
	s->nresults = 0;
	s->cursor = NULL;
	s->cur = 1 - s->cur;

	req = mx_batch_next(s->batch);
	if (req == NULL)
		elog(ERROR, "mixpeek_fdw: list request vanished from its batch");
	s->page_pending = false;
	s->page_req = req;
	old = MemoryContextSwitchTo(s->page_cxt[s->cur]);
	read_page(s, req);
	MemoryContextSwitchTo(old);

	/* without a pushed LIMIT, every page will be wanted: ask now */
	if (s->cursor != NULL && s->spec->limit == 0)
		queue_page(s, s->cursor);
	return true;
}

static JsonbValue *
next_listed_document(MxScanState *s)
{
	for (;;)
	{
		if (s->results != NULL && s->next < s->nresults)
		{
			JsonbValue *v = getIthJsonbValueFromContainer(s->results, s->next++);

			if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
				mx_api_report_unexpected(s->page_req,
										 "An element of \"results\" is not an object.");
			if (s->page_pending)
				mx_batch_poll(s->batch);
			return v;
		}
		if (!s->started)
		{
			s->started = true;
			queue_page(s, NULL);
		}
		if (!next_page(s))
			return NULL;
	}
}

/* A GET request and what it is for. */
typedef struct MxGet
{
	MemoryContext cxt;			/* the request's, and its document's */
	int			index;			/* into ids */
} MxGet;

static void
queue_get(MxScanState *s, int index)
{
	MemoryContext cxt = AllocSetContextCreate(s->gets_cxt,
											  "mixpeek_fdw document",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MxGet	   *get = palloc(sizeof(MxGet));
	MxHttpRequest *req = mx_api_get_document(s->target, s->rel->collection,
											 s->ids[index],
											 s->spec->return_url,
											 s->spec->return_vectors);

	get->cxt = cxt;
	get->index = index;
	req->arg = get;
	mx_batch_add(scan_batch(s), req);
	s->in_flight++;
	MemoryContextSwitchTo(old);
}

/* Keep up to twice the concurrency queued, so the batch never idles. */
static void
queue_gets(MxScanState *s)
{
	for (;;)
	{
		while (s->next_id < s->nids && s->answered[s->next_id])
			s->next_id++;
		if (s->next_id >= s->nids || s->in_flight >= 2 * mx_max_concurrency)
			break;
		queue_get(s, s->next_id++);
	}
	if (s->batch)
		mx_batch_poll(s->batch);
}

static JsonbValue *
next_fetched_document(MxScanState *s)
{
	for (;;)
	{
		MxHttpRequest *req;
		Jsonb	   *doc;
		MemoryContext old;

		if (s->row_cxt != NULL)
		{
			MemoryContextDelete(s->row_cxt);
			s->row_cxt = NULL;
		}
		queue_gets(s);
		if (s->in_flight == 0)
			return NULL;
		req = mx_batch_next(s->batch);
		if (req == NULL)
			elog(ERROR, "mixpeek_fdw: GET requests vanished from their batch");
		s->in_flight--;
		s->row_cxt = ((MxGet *) req->arg)->cxt;
		s->row_id = s->ids[((MxGet *) req->arg)->index];
		s->answered[((MxGet *) req->arg)->index] = true;
		old = MemoryContextSwitchTo(s->row_cxt);
		doc = mx_api_document_result(req);
		MemoryContextSwitchTo(old);
		if (doc != NULL)
		{
			queue_gets(s);
			s->document.type = jbvBinary;
			s->document.val.binary.data = &doc->root;
			s->document.val.binary.len = VARSIZE(doc) - VARHDRSZ;
			return &s->document;
		}
	}
}

/*
 * The batch was taken apart by the abort of a subtransaction the scan
 * outlives: send again what was lost with it, the page in flight or the
 * ids not answered yet.
 */
static void
resend_lost_requests(MxScanState *s)
{
	drop_batch(s);
	if (s->spec->kind != MX_SCAN_LIST)
	{
		MemoryContextReset(s->gets_cxt);
		s->row_cxt = NULL;
		s->next_id = 0;
		s->in_flight = 0;
	}
	else if (s->page_pending)
	{
		char	   *cursor = NULL;

		/* the cursor lives with the lost request: keep it with this page */
		if (s->sent_cursor != NULL)
			cursor = MemoryContextStrdup(s->page_cxt[s->cur], s->sent_cursor);
		MemoryContextReset(s->page_cxt[1 - s->cur]);
		queue_page(s, cursor);
	}
}

/*
 * Does the document a GET returned hold the id it was asked for?  Then the
 * lookup's condition holds: its collation is deterministic, where equal
 * means byte for byte.  It is not checked again locally, where an id
 * array costs a comparison per element for every row, and a document that
 * another id led to (an API that matched more loosely) cannot come twice.
 */
static bool
is_requested_document(MxScanState *s, TupleTableSlot *slot)
{
	int			i = s->spec->id_attnum - 1;
	text	   *id;

	if (slot->tts_isnull[i])
		return false;
	id = DatumGetTextPP(slot->tts_values[i]);
	return VARSIZE_ANY_EXHDR(id) == strlen(s->row_id) &&
		memcmp(VARDATA_ANY(id), s->row_id, VARSIZE_ANY_EXHDR(id)) == 0;
}

/*
 * mixpeekIterateForeignScan
 *		Return the next row, or an empty slot at the end.
 *
 * Rows come from the current list page, or from the GET responses in the
 * order they arrive; each document is converted in a per-row context that
 * the next call resets.  A document a GET returned counts only when it
 * holds the id it was asked for.
 */
static TupleTableSlot *
mixpeekIterateForeignScan(ForeignScanState *node)
{
	MxScanState *s = node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	JsonbValue *doc;
	MemoryContext old;

	ExecClearTuple(slot);
	MemoryContextReset(s->tuple_cxt);
	if (batch_lost(s))
		resend_lost_requests(s);
	if (!s->evaluated)
		start_scan(node, s);
	if (s->empty)
		return slot;

	old = MemoryContextSwitchTo(s->tuple_cxt);
	for (;;)
	{
		bool		listed = (s->spec->kind == MX_SCAN_LIST);

		doc = listed ? next_listed_document(s) : next_fetched_document(s);
		if (doc == NULL)
			break;
		mx_convert_document(s->conv, doc, s->attrs_used,
							slot->tts_values, slot->tts_isnull);
		if (listed || is_requested_document(s, slot))
		{
			ExecStoreVirtualTuple(slot);
			break;
		}
	}
	MemoryContextSwitchTo(old);
	return slot;
}

/*
 * mixpeekReScanForeignScan
 *		Restart the scan, as for each outer row of a nested loop.
 *
 * The values may have changed, so the next row evaluates them again;
 * requests of the previous scan still running are dropped with their
 * memory rather than waited for.
 */
static void
mixpeekReScanForeignScan(ForeignScanState *node)
{
	MxScanState *s = node->fdw_state;

	/* requests of the previous scan may still be running: drop them */
	if (s->batch != NULL && (batch_lost(s) || mx_batch_pending(s->batch) > 0))
		drop_batch(s);
	MemoryContextReset(s->request_cxt);
	MemoryContextReset(s->gets_cxt);
	MemoryContextReset(s->page_cxt[0]);
	MemoryContextReset(s->page_cxt[1]);
	s->row_cxt = NULL;
	s->evaluated = false;
	s->started = false;
	s->empty = false;
	s->body = NULL;
	s->page_pending = false;
	s->page_req = NULL;
	s->results = NULL;
	s->nresults = s->next = 0;
	s->cursor = NULL;
	s->sent_cursor = NULL;
	s->ids = NULL;
	s->answered = NULL;
	s->nids = s->next_id = s->in_flight = 0;
}

/*
 * mixpeekEndForeignScan
 *		End the scan: stop its requests.  The memory goes with the query's.
 */
static void
mixpeekEndForeignScan(ForeignScanState *node)
{
	MxScanState *s = node->fdw_state;

	if (s != NULL)
		drop_batch(s);
}

/* ---------- EXPLAIN ---------- */

/* The plan's values: constants as they are, others as SQL text. */
static const char **
explain_values(ForeignScanState *node, MxScanState *s, ExplainState *es)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	const char **shown = palloc0(sizeof(char *) * Max(s->nexprs, 1));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, plan->fdw_exprs)
	{
		Node	   *expr = lfirst(lc);

		if (IsA(expr, Const))
		{
			s->values[i] = ((Const *) expr)->constvalue;
			s->isnull[i] = ((Const *) expr)->constisnull;
		}
		else
			shown[i] = deparse_expression(expr, es->deparse_cxt,
										  es->verbose, false);
		i++;
	}
	return shown;
}

/* id NULL: a placeholder, shown as such rather than percent-encoded */
static char *
document_request_text(MxScanState *s, const char *id)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (id != NULL)
		appendStringInfo(&buf, "GET %s",
						 mx_api_document_path(s->rel->collection, id));
	else
		appendStringInfo(&buf, "GET /v1/collections/%s/documents/{document_id}",
						 mx_api_escape_segment(s->rel->collection));
	if (s->spec->return_url)
		appendStringInfoString(&buf, "?return_url=true&return_presigned_urls=true");
	if (s->spec->return_vectors)
		appendStringInfo(&buf, "%sreturn_vectors=true",
						 s->spec->return_url ? "&" : "?");
	return buf.data;
}

static void
explain_gets(ForeignScanState *node, MxScanState *s, const char **shown,
			 ExplainState *es)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	Node	   *expr = linitial(plan->fdw_exprs);

	if (s->spec->kind == MX_SCAN_GET && IsA(expr, Const) && !s->isnull[0])
	{
		char	   *id = mx_output_text(s->values[0], s->types[0]);

		ExplainPropertyText("Remote Request", document_request_text(s, id), es);
		return;
	}
	ExplainPropertyText("Remote Request",
						document_request_text(s, NULL), es);
	ExplainPropertyText(s->spec->kind == MX_SCAN_GET ? "Remote Document Id"
						: "Remote Document Ids",
						shown[0] ? shown[0]
						: deparse_expression(expr, es->deparse_cxt, false, false),
						es);
}

static void
explain_list(MxScanState *s, const char **shown, ExplainState *es)
{
	char	   *filters,
			   *sort,
			   *select;

	mx_explain_parts(s->rel, s->spec, s->values, s->isnull, s->types, shown,
					 &filters, &sort, &select);
	ExplainPropertyText("Remote Request",
						psprintf("POST %s",
								 mx_api_list_path(s->rel->collection,
												  s->request_limit)),
						es);
	if (filters)
		ExplainPropertyText("Remote Filters", filters, es);
	if (sort)
		ExplainPropertyText("Remote Sort", sort, es);
	if (s->spec->limit > 0)
		ExplainPropertyInteger("Remote Limit", NULL, s->spec->limit, es);
	if (select)
		ExplainPropertyText("Remote Select", select, es);
	if (s->spec->return_url || s->spec->return_vectors)
		ExplainPropertyText("Remote Returns",
							s->spec->return_url && s->spec->return_vectors
							? "urls, vectors"
							: s->spec->return_url ? "urls" : "vectors",
							es);
}

/*
 * mixpeekExplainForeignScan
 *		Show what the scan sends (VERBOSE) and what it cost (ANALYZE).
 *
 * The request, filters, sort, limit and selected fields as Mixpeek gets
 * them, so that a user can see what was pushed down; with ANALYZE the
 * requests, retries, pages and bytes it took.
 */
static void
mixpeekExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	MxScanState *s = node->fdw_state;

	if (es->verbose)
	{
		const char **shown = explain_values(node, s, es);

		if (s->spec->kind == MX_SCAN_LIST)
			explain_list(s, shown, es);
		else
			explain_gets(node, s, shown, es);
	}
	if (es->analyze)
	{
		ExplainPropertyUInteger("Remote Requests", NULL, s->stats.requests, es);
		ExplainPropertyUInteger("Remote Retries", NULL, s->stats.retries, es);
		ExplainPropertyUInteger("Remote Pages", NULL, s->pages, es);
		ExplainPropertyUInteger("Remote Bytes", NULL, s->stats.bytes, es);
		/* only when it happened: timings would make plans differ run to run */
		if (s->stats.budget_wait_ms > 0)
			ExplainPropertyFloat("Remote Budget Wait", "ms",
								 s->stats.budget_wait_ms, 3, es);
	}
}

/* ---------- handler ---------- */

PG_FUNCTION_INFO_V1(mixpeek_fdw_handler);

/*
 * mixpeek_fdw_handler
 *		The foreign-data wrapper's handler: its callbacks.
 */
Datum
mixpeek_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	routine->GetForeignRelSize = mixpeekGetForeignRelSize;
	routine->AnalyzeForeignTable = mx_analyze_foreign_table;
	routine->GetForeignPaths = mixpeekGetForeignPaths;
	routine->GetForeignPlan = mixpeekGetForeignPlan;
	routine->BeginForeignScan = mixpeekBeginForeignScan;
	routine->IterateForeignScan = mixpeekIterateForeignScan;
	routine->ReScanForeignScan = mixpeekReScanForeignScan;
	routine->EndForeignScan = mixpeekEndForeignScan;
	routine->ExplainForeignScan = mixpeekExplainForeignScan;
	routine->ImportForeignSchema = mx_import_foreign_schema;

	/*
	 * No IsForeignScanParallelSafe: a parallel safe scan could run in every
	 * worker of a parallel plan (as the inner side of a hash join that each
	 * worker builds on its own), sending every request once per worker.
	 */

	PG_RETURN_POINTER(routine);
}
