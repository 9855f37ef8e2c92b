/*-------------------------------------------------------------------------
 *
 * fdw.c
 *		mixpeek_fdw handler and planner/executor callbacks.
 *
 * A scan is one of three kinds (deparse.c decides): a GET for
 * "document_id = v" (also once per outer row of a nested loop), list
 * requests filtered by the ids for "document_id = ANY(...)" or for the ids
 * a batched join hands over (batch_join.c; all through id_fetch.c), or a
 * list request followed page by page, along the cursor
 * or by offset (paging.c, which also refuses a list that ends short of the
 * total it reported).  List pages are pipelined: once a page is split
 * into its documents' text (api.c) the next one is requested, and
 * mx_batch_poll() moves it along while the documents of the current page
 * are parsed one by one and returned as rows.  Only the current page and
 * the one in flight are in memory: they alternate between two contexts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/table.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_operator.h"
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
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/selfuncs.h"
#include "utils/tuplesort.h"
#include "utils/typcache.h"

#include "analyze.h"
#include "compat.h"
#include "fdw_private.h"
#include "id_fetch.h"
#include "json.h"
#include "mixpeek_fdw.h"
#include "paging.h"
#include "settings.h"

/* What the planner keeps in baserel->fdw_private. */
typedef struct MxPlanInfo
{
	MxRelation *rel;
	List	   *remote_conds;	/* RestrictInfos sent as filters */
	List	   *local_conds;	/* RestrictInfos that cannot be */
	List	   *remote_clauses; /* MxRemoteClause of each remote_conds */
	MxIdLookup	id;				/* document_id lookup, if any */
	Bitmapset  *attrs_used;
	double		fetched;		/* documents the API sends back */
} MxPlanInfo;

typedef struct MxScanState
{
	MxRelation *rel;
	MxScanSpec *spec;
	MxConverter *conv;
	Bitmapset  *attrs_used;
	MxTarget   *target;			/* NULL for EXPLAIN without ANALYZE */
	int			sent_limit;		/* limit of the list request last sent */

	/* fdw_exprs, evaluated at the start of each scan */
	List	   *expr_states;
	int			nexprs;
	Datum	   *values;
	bool	   *isnull;
	Oid		   *types;

	MemoryContext scan_cxt;		/* the query's: state */
	MemoryContext request_cxt;	/* this scan's values, body, ids, lookup */
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
	MxListPage *page;			/* the current page's documents */
	int			nresults;
	int			next;
	MxPaging	paging;			/* what follows the current page */
	char	   *sent_cursor;	/* cursor of the request in flight */
	int64		sent_offset;	/* its offset, when it pages by offset */

	/* a list request refused (400, 422): retried once without the part */
	MxScanSpec *planned;		/* the spec before, for EXPLAIN */
	char	   *retried_without;	/* what was left out, for EXPLAIN */
	bool		sort_locally;	/* the sort was left out: sort here */
	Tuplesortstate *sorter;		/* this scan's rows, when sorted here */
	TupleTableSlot *sorted_slot;	/* a row out of the sorter */
	bool		sorted;			/* sorter holds every row, sorted */

	/* a top-N scan (MxScanSpec.limit_ties) */
	int64		kept;			/* rows returned that pass the quals */
	bool		bound_null;		/* the limit-th row's sort value is null */
	double		bound;			/* else that value as a double */
	bool		top_n_done;		/* a row past the tie group came */

	/* id scans */
	char	  **ids;
	int			nids;
	MxIdFetch  *fetch;			/* in request_cxt, once started */
	const char *row_id;			/* the id the current row was asked for */

	/* a batched join's inner scan: its ids, for the next scan */
	bool		batched;
	Datum		batch_ids;		/* text[], or 0 before the first */
} MxScanState;

/* ---------- planning ---------- */

static int
page_size_of(MxRelation *rel)
{
	return rel->page_size > 0 ? rel->page_size : mx_page_size;
}

/*
 * The limit of a scan's list requests: a pushed LIMIT, one more row for a
 * top-N scan (to see whether the tie group goes on without asking for
 * another page), else the page size; when ties are expected, the first
 * page planned for them (expected_ties_page).
 */
static int
request_limit_of(MxScanSpec *spec, MxRelation *rel)
{
	if (spec->limit <= 0)
		return page_size_of(rel);
	if (spec->limit_ties == MX_TIES_EXPECTED)
		return spec->first_page;
	if (spec->limit_ties)
		return Min(spec->limit + 1, MX_PAGE_SIZE_MAX);
	return spec->limit;
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
	MxPlanInfo *info;
	Relation	relation;
	Selectivity remote_sel;

	if (mx_is_retriever_table(foreigntableid))
	{
		mx_retriever_rel_size(root, baserel, foreigntableid);
		return;
	}
	info = palloc0(sizeof(MxPlanInfo));
	relation = table_open(foreigntableid, NoLock);
	info->rel = mx_fdw_relation(foreigntableid, RelationGetDescr(relation));
	table_close(relation, NoLock);
	baserel->fdw_private = info;

	mx_classify_conditions(root, baserel, info->rel, baserel->baserestrictinfo,
						   &info->id, &info->remote_conds, &info->local_conds,
						   &info->remote_clauses);
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

/*
 * The requests of a scan: id lists, or list pages as they will be asked
 * for (growing from the first page unless the table fixes page_size; see
 * queue_next_page).
 */
static double
requests_of(MxPlanInfo *info)
{
	int			page = page_size_of(info->rel);
	double		left = info->fetched;
	double		requests = 1;

	if (info->id.value != NULL)
		return mx_id_fetch_requests(info->fetched);
	if (info->rel->page_size > 0)
		return Max(ceil(left / page), 1);
	while ((left -= page) > 0 && page < MX_PAGE_SIZE_MAX)
	{
		requests++;
		page = mx_paging_next_limit(page);
	}
	return left > 0 ? requests + ceil(left / MX_PAGE_SIZE_MAX) : requests;
}

/*
 * Does some pathkey-sorted list path make sense, and on which column?  The
 * API sorts on one field: the query's first sort key.
 */
static bool
sortable_query_pathkey(PlannerInfo *root, RelOptInfo *baserel,
					   MxPlanInfo *info, AttrNumber *attnum, bool *desc,
					   bool *coarse)
{
	PathKey    *pk;
	ListCell   *lc;

	if (!mx_pushdown || info->id.value != NULL || info->local_conds != NIL ||
		root->query_pathkeys == NIL)
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
							 attnum, coarse))
			return true;
	}
	return false;
}

/*
 * A path's fdw_private (see fdw_private.h): the API's sort, if any, and
 * the document id lookup of a parameterized path, if any.
 */
static List *
path_private(AttrNumber sort_attnum, bool sort_desc, MxTies ties,
			 MxIdLookup *id)
{
	List	   *private = NIL;

	private = lappend(private, makeInteger(sort_attnum));
	private = lappend(private, makeBoolean(sort_desc));
	private = lappend(private, makeInteger(ties));
	private = lappend(private, id ? id->clause : NULL);
	private = lappend(private, id ? id->value : NULL);
	private = lappend(private, makeInteger(id ? id->attnum : 0));
	private = lappend(private, makeBoolean(id ? id->batched : false));
	Assert(list_length(private) == MxPathPrivateCount);
	return private;
}

/* The id lookup a path's fdw_private holds; false when none. */
static bool
path_id_lookup(List *private, MxIdLookup *id)
{
	if (private == NIL || list_nth(private, MxPathPrivateIdClause) == NULL)
		return false;
	memset(id, 0, sizeof(MxIdLookup));
	id->clause = list_nth_node(RestrictInfo, private, MxPathPrivateIdClause);
	id->value = list_nth(private, MxPathPrivateIdValue);
	id->attnum = intVal(list_nth(private, MxPathPrivateIdAttnum));
	id->batched = boolVal(list_nth(private, MxPathPrivateIdBatched));
	id->many = id->batched;
	return true;
}

static bool
id_member_matches(PlannerInfo *root, RelOptInfo *rel, EquivalenceClass *ec,
				  EquivalenceMember *em, void *arg)
{
	MxPlanInfo *info = arg;

	return mx_is_id_expr(info->rel, rel->relid, em->em_expr);
}

/*
 * The join clauses a parameterized path of baserel could use: those of
 * equivalence classes whose member of baserel matches (inner joins), and
 * the movable ones of joininfo (outer joins).
 */
List *
mx_join_clauses(PlannerInfo *root, RelOptInfo *baserel,
				ec_matches_callback_type matches, void *arg)
{
	List	   *clauses;
	ListCell   *lc;

	clauses = generate_implied_equalities_for_column(root, baserel,
													 matches, arg,
													 baserel->lateral_referencers);
	foreach(lc, baserel->joininfo)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);

		if (join_clause_is_movable_to(ri, baserel))
			clauses = lappend(clauses, ri);
	}
	return clauses;
}

/*
 * Is relids in the list?  Not list_member(): a Bitmapset is a Node only
 * from PostgreSQL 16 on, and equal() refuses it before.
 */
static bool
relids_listed(List *list, Relids relids)
{
	ListCell   *lc;

	foreach(lc, list)
	{
		if (bms_equal(lfirst(lc), relids))
			return true;
	}
	return false;
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
	List	   *clauses = mx_join_clauses(root, baserel, id_member_matches, info);
	List	   *done = NIL;
	ListCell   *lc;

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
		id.clause = ri;
		required_outer = bms_union(ri->clause_relids, baserel->lateral_relids);
		required_outer = bms_del_member(required_outer, baserel->relid);
		if (bms_is_empty(required_outer) || relids_listed(done, required_outer))
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
											required_outer, NULL,
											path_private(0, false, MX_TIES_NONE,
														 &id)));
	}
}

/*
 * The rows a query reads for "ORDER BY x LIMIT n" when nothing else stands
 * between this scan and the LIMIT: no other relation, no condition left
 * to check locally, no parameter; 0 when that is not the case.
 */
static int
query_limit(PlannerInfo *root, RelOptInfo *baserel, List *local_conds,
			ParamPathInfo *param_info)
{
	if (!mx_pushdown || root->limit_tuples <= 0 || local_conds != NIL ||
		param_info != NULL ||
		bms_membership(root->all_baserels) != BMS_SINGLETON)
		return 0;
	return (int) Min(ceil(root->limit_tuples), (double) INT_MAX);
}

/* Can top_n_key compare values of this type? */
static bool
top_n_key_type(Oid typid)
{
	return typid == INT2OID || typid == INT4OID || typid == INT8OID ||
		typid == FLOAT8OID || typid == NUMERICOID;
}

/*
 * Top-N through a sort the API does more coarsely than PostgreSQL (bigint
 * and numeric compared as doubles), or on the first of several sort keys:
 * the scan asks for the API's order and the first n rows, and reads on
 * until the n-th row's tie group is complete (MxScanSpec.limit_ties); a
 * Sort above puts them in the exact order.  The path claims no order, so
 * that Sort is planned.  Only when the rows to read stay within what one
 * list query may return, and the first key is a number (ties are found by
 * comparing values as doubles, see top_n_key).
 */
static void
add_top_n_path(PlannerInfo *root, RelOptInfo *baserel, MxPlanInfo *info,
			   AttrNumber sort_attnum, bool sort_desc, MxTies ties)
{
	int			n = query_limit(root, baserel, info->local_conds, NULL);
	double		fetched;
	Cost		startup,
				total;

	if (n <= 0 || n >= MX_LIST_MAX_RESULTS ||
		!top_n_key_type(info->rel->columns[sort_attnum - 1].typid))
		return;
	fetched = Min(info->fetched, n + 1);
	estimate_costs(root, baserel, info, fetched,
				   ceil(fetched / Min(n + 1, MX_PAGE_SIZE_MAX)),
				   baserel->baserestrictinfo, &startup, &total);
	add_path(baserel, (Path *)
			 mx_create_foreignscan_path(root, baserel, NULL, baserel->rows,
										startup, total, NIL, NULL, NULL,
										path_private(sort_attnum, sort_desc,
													 ties, NULL)));
}

/*
 * mixpeekGetForeignPaths
 *		Create the possible scan paths for the foreign table.
 *
 * The plain path; a path sorted by the API when the query's ORDER BY is
 * one column it can sort on (so the sort costs nothing locally), or, when
 * the API sorts that column more coarsely, a top-N path for ORDER BY ...
 * LIMIT; and, with pushdown on, a parameterized path per join clause on
 * the document id, for a nested loop that GETs one document per outer row.
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
	bool		coarse;

	if (mx_is_retriever_table(foreigntableid))
	{
		mx_retriever_paths(root, baserel, foreigntableid);
		return;
	}
	estimate_costs(root, baserel, info, info->fetched, requests_of(info),
				   baserel->baserestrictinfo, &startup, &total);
	add_path(baserel, (Path *)
			 mx_create_foreignscan_path(root, baserel, NULL, baserel->rows,
										startup, total, NIL, NULL, NULL, NIL));

	if (sortable_query_pathkey(root, baserel, info, &sort_attnum, &sort_desc,
							   &coarse))
	{
		if (list_length(root->query_pathkeys) > 1)
			add_top_n_path(root, baserel, info, sort_attnum, sort_desc,
						   MX_TIES_EXPECTED);
		else if (coarse)
			add_top_n_path(root, baserel, info, sort_attnum, sort_desc,
						   MX_TIES_RARE);
		else
			add_path(baserel, (Path *)
					 mx_create_foreignscan_path(root, baserel, NULL,
												baserel->rows,
												startup, total + 1.0,
												root->query_pathkeys,
												NULL, NULL,
												path_private(sort_attnum,
															 sort_desc,
															 MX_TIES_NONE,
															 NULL)));
	}

	if (mx_pushdown)
		add_parameterized_paths(root, baserel, info);
}

/* ---------- the inner side of a batched join (batch_join.c) ---------- */

/*
 * mx_batch_inner_relation
 *		The columns of rel when it is a collection table scanned here that
 *		does not look its documents up by id already; else NULL.
 */
MxRelation *
mx_batch_inner_relation(PlannerInfo *root, RelOptInfo *rel)
{
	MxPlanInfo *info;

	if (rel->reloptkind != RELOPT_BASEREL || rel->rtekind != RTE_RELATION ||
		rel->fdwroutine == NULL ||
		rel->fdwroutine->GetForeignRelSize != mixpeekGetForeignRelSize ||
		mx_is_retriever_table(planner_rt_fetch(rel->relid, root)->relid))
		return NULL;
	info = rel->fdw_private;
	if (info == NULL || info->id.value != NULL)
		return NULL;
	return info->rel;
}

/*
 * mx_batch_inner_path
 *		A scan of rel's documents whose ids are a text[] that the join gives
 *		before each rescan (mx_scan_set_batch_ids): the lookup of
 *		"id_column = ANY(ids)", classified as any such condition is, so that
 *		GetForeignPlan sends it through id_fetch.c.  nids ids a scan; NULL
 *		when the condition is no id lookup.
 */
Path *
mx_batch_inner_path(PlannerInfo *root, RelOptInfo *rel, Expr *id_column,
					Oid collid, double nids)
{
	MxPlanInfo *info = rel->fdw_private;
	ScalarArrayOpExpr *any = makeNode(ScalarArrayOpExpr);
	MxIdLookup	id;
	double		fetched = clamp_row_est(Min(nids, rel->tuples));
	Cost		startup,
				total;
	Path	   *path;

	if (exprType((Node *) id_column) != TEXTOID)
		id_column = (Expr *) makeRelabelType(id_column, TEXTOID, -1, collid,
											 COERCE_IMPLICIT_CAST);
	any->opno = TextEqualOperator;
	any->opfuncid = get_opcode(TextEqualOperator);
	any->useOr = true;
	any->inputcollid = collid;
	/* the array is no expression of the plan: see mx_scan_set_batch_ids */
	any->args = list_make2(id_column,
						   makeNullConst(TEXTARRAYOID, -1, InvalidOid));
	any->location = -1;
	if (!mx_is_id_condition(info->rel, rel->relid, (Expr *) any, &id) ||
		!id.many)
		return NULL;
	id.batched = true;
	id.clause = make_simple_restrictinfo(root, (Expr *) any);

	estimate_costs(root, rel, info, fetched, mx_id_fetch_requests(fetched),
				   rel->baserestrictinfo, &startup, &total);
	path = (Path *) mx_create_foreignscan_path(root, rel, NULL,
											   clamp_row_est(fetched * rel->rows /
															 Max(rel->tuples, 1)),
											   startup, total, NIL, NULL, NULL,
											   path_private(0, false, MX_TIES_NONE,
															&id));
	path->parallel_safe = false;
	return path;
}

/*
 * Ask the API for no more than LIMIT rows per page when nothing else
 * stands between this scan and the query's LIMIT (query_limit), and either
 * no ORDER BY or the API's sort.  Later pages are only requested if rows
 * are still wanted.  A top-N scan keeps the whole LIMIT: it decides itself
 * where to stop.
 */
static int
pushed_limit(PlannerInfo *root, RelOptInfo *baserel, ForeignPath *path,
			 List *local_conds, MxTies ties)
{
	int			n = query_limit(root, baserel, local_conds,
								path->path.param_info);

	if (n <= 0 || ties)
		return n;
	if (root->query_pathkeys != NIL &&
		!pathkeys_contained_in(root->query_pathkeys, path->path.pathkeys))
		return 0;
	return Min(n, MX_PAGE_SIZE_MAX);
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
 * The remote clauses other than lookups by id, which go with the ids of
 * an id lookup (the lookup's own ids are its chunks').
 */
static List *
without_id_conditions(MxPlanInfo *info, RelOptInfo *baserel, List *remote)
{
	List	   *others = NIL;
	ListCell   *lc;

	foreach(lc, remote)
	{
		MxRemoteClause *rc = lfirst(lc);
		MxIdLookup	id;

		if (!mx_is_id_condition(info->rel, baserel->relid, rc->ri->clause, &id))
			others = lappend(others, rc);
	}
	return others;
}

/* What an id scan whose conditions were refused shows it left out. */
#define ID_CONDITIONS_DROPPED "the conditions sent with the ids"

/* The classification of a clause sent as a filter, or NULL */
static MxRemoteClause *
remote_clause_of(MxPlanInfo *info, RestrictInfo *ri)
{
	ListCell   *lc;

	foreach(lc, info->remote_clauses)
	{
		MxRemoteClause *rc = lfirst(lc);

		if (rc->ri == ri)
			return rc;
	}
	return NULL;
}

/*
 * scan_clauses without the lookup's clause.  A parameterized path's join
 * clause is the one of its ParamPathInfo, which the equivalence class
 * normally hands out again; should it be a copy, perhaps with its sides
 * swapped (PostgreSQL 15 builds it anew from the class), it is the clause
 * that looks up the same value.
 */
static List *
clauses_without(List *scan_clauses, MxRelation *rel, Index relid,
				MxIdLookup *lookup)
{
	ListCell   *lc;

	foreach(lc, scan_clauses)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		MxIdLookup	other;

		if (ri == lookup->clause || equal(ri->clause, lookup->clause->clause) ||
			(mx_is_id_condition(rel, relid, ri->clause, &other) &&
			 other.many == lookup->many && equal(other.value, lookup->value)))
			return list_delete_ptr(list_copy(scan_clauses), ri);
	}
	return scan_clauses;
}

/*
 * The first page of a top-N scan on the first of several keys, where ties
 * are expected and each further page is a round trip: the table's
 * page_size (at least n + 1 rows), else n + 1 rows and MX_TIES_MARGIN
 * times the tie group that the column's statistics expect (its rows / its
 * distinct values), else, when nothing is known of the column, as many as
 * the API gives.
 */
static int
expected_ties_page(PlannerInfo *root, RelOptInfo *baserel, MxRelation *rel,
				   MxScanSpec *spec)
{
	MxColumn   *col = &rel->columns[spec->sort_attnum - 1];
	int			n1 = Min(spec->limit + 1, MX_PAGE_SIZE_MAX);
	Var		   *var;
	VariableStatData vardata;
	bool		isdefault;
	double		ndistinct;

	if (rel->page_size > 0)
		return Max(n1, rel->page_size);
	var = makeVar(baserel->relid, col->attnum, col->typid, col->typmod,
				  InvalidOid, 0);
	examine_variable(root, (Node *) var, 0, &vardata);
	ndistinct = get_variable_numdistinct(&vardata, &isdefault);
	ReleaseVariableStats(vardata);
	if (isdefault || ndistinct < 1)
		return MX_PAGE_SIZE_MAX;
	return (int) Min(n1 + MX_TIES_MARGIN * ceil(baserel->rows / ndistinct),
					 (double) MX_PAGE_SIZE_MAX);
}

/*
 * mixpeekGetForeignPlan
 *		Create a ForeignScan plan node for the chosen path.
 *
 * Nothing is classified again: scan_clauses are sorted by whether
 * GetForeignRelSize found them remote, and a parameterized path's join
 * clause (the only thing scan_clauses add) is the lookup the path was made
 * for.  What the scan sends travels in fdw_private as a List (copyObject
 * must work on plans); the values it depends on are fdw_exprs, evaluated
 * at execution.  Every list filter is also checked locally, so the scan's
 * result never depends on how Mixpeek compares.
 */
static ForeignScan *
mixpeekGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
					  Oid foreigntableid, ForeignPath *best_path,
					  List *tlist, List *scan_clauses, Plan *outer_plan)
{
	MxPlanInfo *info = baserel->fdw_private;
	List	   *private = best_path->fdw_private;
	List	   *remote = NIL;
	List	   *local = NIL;
	MxIdLookup	id;
	MxIdLookup	path_id;
	Bitmapset  *attrs;
	List	   *fdw_exprs = NIL;
	MxScanSpec *spec;
	List	   *checked = scan_clauses;
	MxTies		ties = MX_TIES_NONE;
	ListCell   *lc;

	if (IS_UPPER_REL(baserel))
		return mx_upper_plan(root, baserel, best_path, tlist, outer_plan);
	if (mx_is_retriever_table(foreigntableid))
		return mx_retriever_plan(root, baserel, foreigntableid, best_path,
								 tlist, scan_clauses, outer_plan);
	/* only now is fdw_private a collection table's: upper rels keep theirs */
	id = info->id;
	foreach(lc, scan_clauses)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		MxRemoteClause *rc = remote_clause_of(info, ri);

		if (rc != NULL)
			remote = lappend(remote, rc);
		else
			local = lappend(local, ri);
	}
	attrs = bms_copy(info->attrs_used);
	collect_attrs(baserel->relid, scan_clauses, &attrs);
	/* a single-id lookup of the relation's own is preferred to the path's */
	if (path_id_lookup(private, &path_id) && (id.value == NULL || id.many))
		id = path_id;

	spec = mx_build_scan_spec(root, baserel, info->rel,
							  id.value != NULL ? without_id_conditions(info, baserel, remote)
							  : remote,
							  &id, attrs, &fdw_exprs);
	if (id.value != NULL)
	{
		/* the scan checks the lookup itself: see is_requested_document */
		checked = clauses_without(scan_clauses, info->rel, baserel->relid, &id);
		attrs = bms_add_member(attrs,
							   id.attnum - FirstLowInvalidHeapAttributeNumber);
	}
	if (private != NIL)
	{
		spec->sort_attnum = intVal(list_nth(private, MxPathPrivateSortAttnum));
		spec->sort_desc = boolVal(list_nth(private, MxPathPrivateSortDesc));
		ties = intVal(list_nth(private, MxPathPrivateSortTies));
	}
	if (spec->kind == MX_SCAN_LIST)
	{
		spec->limit = pushed_limit(root, baserel, best_path, local, ties);
		spec->limit_ties = spec->limit > 0 ? ties : MX_TIES_NONE;
		if (spec->limit_ties == MX_TIES_EXPECTED)
			spec->first_page = expected_ties_page(root, baserel, info->rel,
												  spec);
		/* a top-N scan reads the column it sorts on: see top_n_key */
		if (spec->limit_ties)
			attrs = bms_add_member(attrs, spec->sort_attnum -
								   FirstLowInvalidHeapAttributeNumber);
	}

	/* every list filter is checked again locally: see deparse.c */
	return make_foreignscan(tlist,
							extract_actual_clauses(checked, false),
							baserel->relid,
							fdw_exprs,
							list_make3(mx_spec_to_list(spec),
									   attrs_to_list(attrs),
									   makeBoolean(id.batched)),
							NIL, NIL, outer_plan);
}

/* ---------- execution ---------- */

/*
 * Room for the values of a plan's fdw_exprs, and their types; returns how
 * many there are.
 */
int
mx_scan_values(ForeignScan *plan, Datum **values, bool **isnull, Oid **types)
{
	int			n = list_length(plan->fdw_exprs);
	ListCell   *lc;
	int			i = 0;

	*values = palloc0(sizeof(Datum) * Max(n, 1));
	*isnull = palloc0(sizeof(bool) * Max(n, 1));
	*types = palloc0(sizeof(Oid) * Max(n, 1));
	foreach(lc, plan->fdw_exprs)
		(*types)[i++] = exprType(lfirst(lc));
	return n;
}

/*
 * Evaluate a scan's fdw_exprs into the room mx_scan_values made, in the
 * current memory context: parameters may change between rescans.
 */
void
mx_scan_evaluate(ForeignScanState *node, List *expr_states, Datum *values,
				 bool *isnull)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	ListCell   *lc;
	int			i = 0;

	foreach(lc, expr_states)
	{
		values[i] = ExecEvalExpr(lfirst(lc), econtext, &isnull[i]);
		i++;
	}
}

/*
 * What a scan that is to run (not EXPLAIN alone) resolves first: where its
 * requests go with which key, its converter, its fdw_exprs' states.
 */
MxTarget *
mx_scan_prepare(ForeignScanState *node, MxRelation *rel, MxConverter **conv,
				List **expr_states)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	MxTarget   *target = mx_fdw_target(rel->serverid,
									   mx_foreign_scan_user(plan, node->ss.ps.state),
									   rel->namespace);

	*conv = mx_converter_create(rel);
	*expr_states = ExecInitExprList(plan->fdw_exprs, (PlanState *) node);
	return target;
}

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
	MxScanState *s;
	List	   *attrs;
	ListCell   *lc;

	if (mx_is_upper_plan(plan))
	{
		mx_upper_begin(node, eflags);
		return;
	}
	if (mx_is_retriever_plan(plan))
	{
		mx_retriever_begin(node, eflags);
		return;
	}
	s = palloc0(sizeof(MxScanState));
	node->fdw_state = s;
	s->rel = mx_fdw_relation(RelationGetRelid(relation),
							 RelationGetDescr(relation));
	s->spec = mx_spec_from_list(list_nth(plan->fdw_private,
										 MxScanPrivateSpec));
	attrs = list_nth(plan->fdw_private, MxScanPrivateAttrs);
	s->batched = boolVal(list_nth(plan->fdw_private, MxScanPrivateBatched));
	foreach(lc, attrs)
		s->attrs_used = bms_add_member(s->attrs_used, lfirst_int(lc));
	s->nexprs = mx_scan_values(plan, &s->values, &s->isnull, &s->types);

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;

	s->target = mx_scan_prepare(node, s->rel, &s->conv, &s->expr_states);
	s->scan_cxt = CurrentMemoryContext;
	s->request_cxt = AllocSetContextCreate(s->scan_cxt, "mixpeek_fdw values",
										   ALLOCSET_DEFAULT_SIZES);
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
	if (s->batch == NULL)
		s->batch = mx_api_batch_in(s->target, mx_max_concurrency, &s->stats,
								   s->scan_cxt, &s->batch_cxt);
	return s->batch;
}

/* Forget the batch and what it still runs; its memory goes with it. */
static void
drop_batch(MxScanState *s)
{
	mx_api_batch_drop(&s->batch_cxt);
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

/* The ids to look up, without NULLs, empty strings and duplicates. */
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
}

/*
 * Evaluate the scan's values (parameters may have changed since the last
 * scan) and what they make of the request.  Filters that can never be true
 * (a comparison with NULL) leave nothing to ask for.
 */
static void
start_scan(ForeignScanState *node, MxScanState *s)
{
	MemoryContext old = MemoryContextSwitchTo(s->request_cxt);

	mx_scan_evaluate(node, s->expr_states, s->values, s->isnull);
	if (s->batched)
	{
		s->values[0] = s->batch_ids;
		s->isnull[0] = (s->batch_ids == (Datum) 0);
	}
	if (s->spec->kind == MX_SCAN_LIST)
	{
		s->body = mx_list_body(s->rel, s->spec, s->values, s->isnull,
							   s->types, NULL);
		s->empty = (s->body == NULL);
		mx_paging_start(&s->paging);
	}
	if (s->spec->kind != MX_SCAN_LIST)
		collect_ids(s);
	MemoryContextSwitchTo(old);
	s->evaluated = true;
}

/*
 * Ask for a page of limit documents: the one after cursor, else the one
 * at offset.  The first page (neither) asks for the total, which every
 * later page is checked against (paging.c).
 */
static void
queue_page(MxScanState *s, const char *cursor, int64 offset, int limit)
{
	MemoryContext old = MemoryContextSwitchTo(s->page_cxt[1 - s->cur]);
	char	   *body = cursor ? mx_body_with_cursor(s->body, cursor) : s->body;
	MxHttpRequest *req = mx_api_list_page(s->target, s->rel->collection,
										  limit, body,
										  cursor == NULL && offset == 0,
										  cursor ? 0 : offset);

	mx_batch_add(scan_batch(s), req);
	mx_batch_poll(s->batch);
	s->page_pending = true;
	s->sent_cursor = cursor ? pstrdup(cursor) : NULL;
	s->sent_offset = cursor ? 0 : offset;
	s->sent_limit = limit;
	MemoryContextSwitchTo(old);
}

/*
 * Ask for the scan's first page: the pushed LIMIT (one more for a top-N
 * scan's tie), else the table's page_size, else mixpeek.page_size
 * (mx_paging_next_limit says how the pages after it grow).
 */
static void
queue_first_page(MxScanState *s)
{
	queue_page(s, NULL, 0, request_limit_of(s->spec, s->rel));
}

/*
 * Ask for the page that follows the current one.  Pages of a scan without
 * a pushed LIMIT grow, and so do those of a top-N scan reading on through
 * a tie group of unknown size; not when the table has a page_size.
 */
static void
queue_next_page(MxScanState *s)
{
	bool		grows = ((s->spec->limit == 0 || s->spec->limit_ties) &&
						 s->rel->page_size == 0);

	queue_page(s, s->paging.cursor, mx_paging_offset(&s->paging),
			   grows ? mx_paging_next_limit(s->sent_limit) : s->sent_limit);
}

/*
 * Take in a page: its documents are found but not yet parsed, so the next
 * page is asked for (next_page) before they are.
 */
static void
read_page(MxScanState *s, MxHttpRequest *req)
{
	s->page = mx_api_list_result(req);
	s->nresults = s->page->nresults;
	s->next = 0;
	s->pages++;
	mx_paging_read_page(&s->paging, req, s->page);
}

static TupleTableSlot *next_row(ForeignScanState *node);
static TupleTableSlot *next_top_n_row(ForeignScanState *node,
									  MxScanState *s);
static TupleTableSlot *next_sorted_row(ForeignScanState *node,
									   MxScanState *s);

/*
 * A first page refused as invalid (400, 422) is asked for once more
 * without the filter or sort the API names, or, when it names none,
 * without every condition above safe and the sort.  Only the first page:
 * no row of the scan has been returned yet, and every condition is
 * checked locally, so the rows stay the same.  Returns true when the new
 * first page is on its way.
 */
static bool
retry_without_rejected(MxScanState *s, MxHttpRequest *req)
{
	MxRejection *rej;
	MxScanSpec *spec;
	char	   *dropped;
	MemoryContext old;

	if (s->retried_without != NULL || s->paging.pages > 0 ||
		(rej = mx_api_rejection(req)) == NULL)
		return false;
	old = MemoryContextSwitchTo(s->scan_cxt);
	spec = mx_spec_without(s->rel, s->spec, rej, &dropped);
	if (spec == NULL)
	{
		MemoryContextSwitchTo(old);
		return false;
	}
	s->planned = s->spec;
	s->spec = spec;
	s->retried_without = dropped;
	/* a top-N scan is sorted above it: see next_top_n_row */
	s->sort_locally = (s->planned->sort_attnum > 0 && spec->sort_attnum == 0 &&
					   !s->planned->limit_ties);
	MemoryContextSwitchTo(old);

	ereport(NOTICE,
			(errmsg("Mixpeek refused the request with HTTP %ld, retrying without %s",
					rej->status, dropped),
			 rej->words ? errdetail_internal("%s", rej->words) : 0,
			 mx_pushdown == MX_PUSHDOWN_ALL ?
			 errhint("Set mixpeek.pushdown to \"safe\" to send only what strict filter rules accept.") : 0));

	/* fewer conditions cannot make the filters never true */
	old = MemoryContextSwitchTo(s->request_cxt);
	s->body = mx_list_body(s->rel, s->spec, s->values, s->isnull,
						   s->types, NULL);
	MemoryContextSwitchTo(old);
	Assert(s->body != NULL);
	queue_first_page(s);
	return true;
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

	if (!s->page_pending && s->paging.more && s->spec->limit > 0)
		queue_next_page(s);
	if (!s->page_pending)
		return false;

	MemoryContextReset(s->page_cxt[s->cur]);
	s->page_req = NULL;
	s->page = NULL;
	s->nresults = 0;
	s->paging.more = false;
	s->paging.cursor = NULL;
	s->cur = 1 - s->cur;

	req = mx_batch_next(s->batch);
	if (req == NULL)
		elog(ERROR, "mixpeek_fdw: list request vanished from its batch");
	s->page_pending = false;
	if (retry_without_rejected(s, req))
		return next_page(s);
	s->page_req = req;
	old = MemoryContextSwitchTo(s->page_cxt[s->cur]);
	read_page(s, req);
	MemoryContextSwitchTo(old);

	/* without a pushed LIMIT, every page will be wanted: ask now */
	if (s->paging.more && s->spec->limit == 0)
		queue_next_page(s);
	return true;
}

static JsonbValue *
next_listed_document(MxScanState *s)
{
	for (;;)
	{
		if (s->page != NULL && s->next < s->nresults)
		{
			JsonbValue *v = mx_api_list_document(s->page_req, s->page,
												 s->next++);

			if (s->page_pending)
				mx_batch_poll(s->batch);
			return v;
		}
		if (!s->started)
		{
			s->started = true;
			queue_first_page(s);
		}
		if (!next_page(s))
			return NULL;
	}
}

/*
 * The next document of an id scan, from id_fetch.c, which owns its
 * requests (and sends again what a rolled-back savepoint lost).  The
 * lookup lives in request_cxt, so a rescan's reset ends it; conditions
 * refused once are not sent again by the lookups of later rescans.
 */
static JsonbValue *
next_fetched_document(MxScanState *s)
{
	JsonbValue *doc;

	if (s->fetch == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(s->request_cxt);
		bool		never;
		char	   *filters = mx_spec_filters(s->rel, s->spec, s->values,
											  s->isnull, s->types, NULL,
											  &never);

		/* conditions that can never be true leave no id to ask for */
		s->fetch = mx_id_fetch_begin(s->target, s->rel->collection,
									 s->ids, never ? 0 : s->nids,
									 s->spec->return_url,
									 s->spec->return_vectors,
									 mx_spec_select(s->spec),
									 s->retried_without ? NULL : filters,
									 &s->stats, &s->pages);
		MemoryContextSwitchTo(old);
	}
	doc = mx_id_fetch_next(s->fetch, &s->row_id);
	if (s->retried_without == NULL && mx_id_fetch_dropped_filters(s->fetch))
		s->retried_without = (char *) ID_CONDITIONS_DROPPED;
	return doc;
}

/*
 * The batch was taken apart by the abort of a subtransaction the scan
 * outlives: send again what was lost with it, the page in flight (an id
 * scan's lookup does the same for its own requests).
 */
static void
resend_lost_requests(MxScanState *s)
{
	drop_batch(s);
	if (s->page_pending)
	{
		char	   *cursor = NULL;

		/* the cursor lives with the lost request: keep it with this page */
		if (s->sent_cursor != NULL)
			cursor = MemoryContextStrdup(s->page_cxt[s->cur], s->sent_cursor);
		MemoryContextReset(s->page_cxt[1 - s->cur]);
		queue_page(s, cursor, s->sent_offset, s->sent_limit);
	}
}

/*
 * Does the row of a document an id lookup returned hold the id it was
 * asked for?  id_fetch.c compared the document's field; the column is what
 * the query sees (a name column cuts long ids).  Then the lookup's
 * condition holds: its collation is deterministic, where equal means byte
 * for byte.  It is not checked again locally, where an id array costs a
 * comparison per element for every row.
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
 * A scan whose sort the API refused sorts its rows itself, as the plan
 * relies on their order: every row goes into a tuplesort (spilling to disk
 * past work_mem) before the first is returned.  The order is the one the
 * API was asked for, which is PostgreSQL's (mx_sort_pushable).
 */
static TupleTableSlot *
sort_rows(ForeignScanState *node, MxScanState *s, TupleTableSlot *slot)
{
	MxColumn   *col = &s->rel->columns[s->planned->sort_attnum - 1];
	bool		desc = s->planned->sort_desc;
	TypeCacheEntry *tc = lookup_type_cache(col->typid,
										   TYPECACHE_LT_OPR | TYPECACHE_GT_OPR);
	Oid			sortop = desc ? tc->gt_opr : tc->lt_opr;
	Oid			collation = OidIsValid(col->collid) ? C_COLLATION_OID : InvalidOid;
	AttrNumber	attnum = col->attnum;
	MemoryContext old = MemoryContextSwitchTo(s->request_cxt);

	s->sorter = tuplesort_begin_heap(RelationGetDescr(node->ss.ss_currentRelation),
									 1, &attnum, &sortop, &collation, &desc,
									 work_mem, NULL, TUPLESORT_NONE);
	MemoryContextSwitchTo(old);
	if (s->sorted_slot == NULL)
	{
		old = MemoryContextSwitchTo(s->scan_cxt);
		s->sorted_slot = MakeSingleTupleTableSlot(slot->tts_tupleDescriptor,
												  &TTSOpsMinimalTuple);
		MemoryContextSwitchTo(old);
	}
	while (!TupIsNull(slot))
	{
		tuplesort_puttupleslot(s->sorter, slot);
		slot = next_row(node);
	}
	tuplesort_performsort(s->sorter);
	s->sorted = true;
	return next_sorted_row(node, s);
}

static TupleTableSlot *
next_sorted_row(ForeignScanState *node, MxScanState *s)
{
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;

	/* the sorter hands out minimal tuples; the scan's slot is virtual */
	if (tuplesort_gettupleslot(s->sorter, true, false, s->sorted_slot, NULL))
		return ExecCopySlot(slot, s->sorted_slot);
	return ExecClearTuple(slot);
}

/*
 * The value a top-N scan sorts on, as the API compares it: as a double
 * (bigint or unconstrained numeric, see mx_sort_pushable; smallint,
 * integer and double precision are exact as doubles).  A numeric too large
 * for a double is infinite, as it is to a reader of JSON numbers.
 */
static bool
top_n_key(MxScanState *s, TupleTableSlot *slot, double *key)
{
	MxColumn   *col = &s->rel->columns[s->spec->sort_attnum - 1];
	Datum		value = slot->tts_values[col->attnum - 1];
	MemoryContext old;

	if (slot->tts_isnull[col->attnum - 1])
		return false;
	switch (col->typid)
	{
		case INT2OID:
			*key = (double) DatumGetInt16(value);
			return true;
		case INT4OID:
			*key = (double) DatumGetInt32(value);
			return true;
		case INT8OID:
			*key = (double) DatumGetInt64(value);
			return true;
		case FLOAT8OID:
			*key = DatumGetFloat8(value);
			return true;
	}
	/* the conversion's text goes with the row */
	old = MemoryContextSwitchTo(s->tuple_cxt);
	*key = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
											  value));
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * The next row of a top-N scan.  The API sorts as doubles, more coarsely
 * than PostgreSQL: the query's first n rows are among the API's first n
 * and those that tie with the n-th as doubles, which the Sort above puts
 * in order.  Rows are counted once they pass the quals (the filters sent
 * may let more through); the first row after the n-th that does not tie
 * ends the scan, and no later page is asked for.  When the first page was
 * retried without the sort or a filter, every row is returned.
 */
static TupleTableSlot *
next_top_n_row(ForeignScanState *node, MxScanState *s)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	TupleTableSlot *slot;
	double		key = 0;
	bool		null;

	if (s->top_n_done)
		return ExecClearTuple(node->ss.ss_ScanTupleSlot);
	for (;;)
	{
		slot = next_row(node);
		if (TupIsNull(slot) || !s->spec->limit_ties || s->spec->limit == 0 ||
			s->spec->sort_attnum == 0)
			return slot;
		null = !top_n_key(s, slot, &key);
		if (s->kept >= s->spec->limit &&
			(null != s->bound_null ||
			 (!null && key != s->bound && !(isnan(key) && isnan(s->bound)))))
		{
			s->top_n_done = true;
			return ExecClearTuple(slot);
		}
		econtext->ecxt_scantuple = slot;
		ResetExprContext(econtext);
		if (!ExecQual(node->ss.ps.qual, econtext))
		{
			/* as ExecScan would have: EXPLAIN ANALYZE counts it */
			InstrCountFiltered1(node, 1);
			continue;
		}
		if (++s->kept == s->spec->limit)
		{
			s->bound_null = null;
			s->bound = key;
		}
		return slot;
	}
}

/*
 * mixpeekIterateForeignScan
 *		Return the next row, or an empty slot at the end.
 *
 * Rows come from the current list page, or from the id lookup's replies
 * in the order they arrive; each document is converted in a per-row
 * context that the next call resets.  A document an id lookup returned
 * counts only when it holds the id it was asked for.
 */
static TupleTableSlot *
mixpeekIterateForeignScan(ForeignScanState *node)
{
	MxScanState *s = node->fdw_state;
	TupleTableSlot *slot;

	/* a retriever scan's state is its own (retriever.c) */
	if (mx_is_upper_plan((ForeignScan *) node->ss.ps.plan))
		return mx_upper_iterate(node);
	if (mx_is_retriever_plan((ForeignScan *) node->ss.ps.plan))
		return mx_retriever_iterate(node);
	if (s->sorted)
		return next_sorted_row(node, s);
	slot = s->spec->limit_ties ? next_top_n_row(node, s) : next_row(node);
	if (s->sort_locally)
		return sort_rows(node, s, slot);
	return slot;
}

/* The next row as the API sends it (see mixpeekIterateForeignScan). */
static TupleTableSlot *
next_row(ForeignScanState *node)
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
 * mx_scan_set_batch_ids
 *		The ids the next scan of a batched join's inner side looks up: a
 *		text[] that outlives that scan, given before the join rescans it.
 *		Not a Param: a value set by a node the planner does not know of
 *		fails SS_finalize_plan's check of a subplan's parameters.
 */
void
mx_scan_set_batch_ids(ForeignScanState *node, Datum ids)
{
	MxScanState *s = node->fdw_state;

	Assert(s->batched);
	s->batch_ids = ids;
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

	if (mx_is_upper_plan((ForeignScan *) node->ss.ps.plan))
	{
		mx_upper_rescan(node);
		return;
	}
	if (mx_is_retriever_plan((ForeignScan *) node->ss.ps.plan))
	{
		mx_retriever_rescan(node);
		return;
	}
	/* requests of the previous scan may still be running: drop them */
	if (s->batch != NULL && (batch_lost(s) || mx_batch_pending(s->batch) > 0))
		drop_batch(s);
	if (s->sorter != NULL)
		tuplesort_end(s->sorter);
	s->sorter = NULL;
	s->sorted = false;
	s->kept = 0;
	s->top_n_done = false;
	MemoryContextReset(s->request_cxt);	/* ends the id lookup, if any */
	MemoryContextReset(s->page_cxt[0]);
	MemoryContextReset(s->page_cxt[1]);
	s->fetch = NULL;
	s->evaluated = false;
	s->started = false;
	s->empty = false;
	s->body = NULL;
	s->page_pending = false;
	s->page_req = NULL;
	s->page = NULL;
	s->nresults = s->next = 0;
	s->paging.more = false;
	s->paging.cursor = NULL;
	s->sent_cursor = NULL;
	s->sent_offset = 0;
	s->sent_limit = 0;
	s->ids = NULL;
	s->nids = 0;
}

/*
 * mixpeekEndForeignScan
 *		End the scan: stop its requests.  The memory goes with the query's.
 */
static void
mixpeekEndForeignScan(ForeignScanState *node)
{
	MxScanState *s = node->fdw_state;

	if (mx_is_upper_plan((ForeignScan *) node->ss.ps.plan))
	{
		mx_upper_end(node);
		return;
	}
	if (mx_is_retriever_plan((ForeignScan *) node->ss.ps.plan))
	{
		mx_retriever_end(node);
		return;
	}
	if (s == NULL)
		return;
	drop_batch(s);
	mx_id_fetch_end(s->fetch);
	s->fetch = NULL;
	if (s->sorter != NULL)
		tuplesort_end(s->sorter);	/* and its temporary files */
	s->sorter = NULL;
	if (s->sorted_slot != NULL)
		ExecDropSingleTupleTableSlot(s->sorted_slot);
	s->sorted_slot = NULL;
}

/* ---------- EXPLAIN ---------- */

/*
 * The plan's values for EXPLAIN: constants into values/isnull as they are,
 * the others as SQL text in the array returned.
 */
const char **
mx_explain_values(ForeignScanState *node, Datum *values, bool *isnull,
				  int nexprs, ExplainState *es)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	const char **shown = palloc0(sizeof(char *) * Max(nexprs, 1));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, plan->fdw_exprs)
	{
		Node	   *expr = lfirst(lc);

		if (IsA(expr, Const))
		{
			values[i] = ((Const *) expr)->constvalue;
			isnull[i] = ((Const *) expr)->constisnull;
		}
		else
			shown[i] = deparse_expression(expr, es->deparse_cxt,
										  es->verbose, false);
		i++;
	}
	return shown;
}

static const char **
explain_values(ForeignScanState *node, MxScanState *s, ExplainState *es)
{
	return mx_explain_values(node, s->values, s->isnull, s->nexprs, es);
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
explain_returns(MxScanState *s, ExplainState *es)
{
	if (s->spec->return_url || s->spec->return_vectors)
		ExplainPropertyText("Remote Returns",
							s->spec->return_url && s->spec->return_vectors
							? "urls, vectors"
							: s->spec->return_url ? "urls" : "vectors",
							es);
}

/*
 * An id array: list requests with the ids as filter (the ids themselves
 * when the array is a constant that fits one request), or the one GET of
 * a constant array that holds a single id (id_fetch.c).
 */
static void
explain_id_lists(MxScanState *s, bool known, const char *ids_text,
				 const char **shown, ExplainState *es)
{
	bool		never;
	char	   *also = mx_spec_filters(s->rel, s->spec, s->values, s->isnull,
									   s->types, shown, &never);

	/* parameters are shown by name, but once evaluated they are known */
	if (s->evaluated && !never)
		(void) mx_spec_filters(s->rel, s->spec, s->values, s->isnull,
							   s->types, NULL, &never);
	if (never)
	{
		ExplainPropertyText("Remote Request",
							"none (the conditions can never be true)", es);
		return;
	}

	if (known)
		collect_ids(s);
	if (known && s->nids == 1)
	{
		ExplainPropertyText("Remote Request",
							document_request_text(s, s->ids[0]), es);
		return;
	}
	ExplainPropertyText("Remote Request",
						psprintf("POST %s",
								 mx_api_list_path(s->rel->collection,
												  MX_IDS_PER_REQUEST)),
						es);
	ExplainPropertyText("Remote Filters",
						mx_id_fetch_filters(known && s->nids <= MX_IDS_PER_REQUEST
											? s->ids : NULL, s->nids, also),
						es);
	if (mx_spec_select(s->spec) != NULL)
		ExplainPropertyText("Remote Select", mx_spec_select(s->spec), es);
	ExplainPropertyText("Remote Document Ids", ids_text, es);
	ExplainPropertyInteger("Remote Ids Per Request", NULL,
						   MX_IDS_PER_REQUEST, es);
	explain_returns(s, es);
}

static void
explain_gets(ForeignScanState *node, MxScanState *s, const char **shown,
			 ExplainState *es)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	Node	   *expr = linitial(plan->fdw_exprs);

	if (s->spec->kind == MX_SCAN_GET_MANY)
	{
		explain_id_lists(s, !s->batched && IsA(expr, Const) && !s->isnull[0],
						 s->batched ? "the outer rows', a batch at a time"
						 : shown[0] ? shown[0]
						 : deparse_expression(expr, es->deparse_cxt, false, false),
						 shown, es);
		return;
	}
	if (IsA(expr, Const) && !s->isnull[0])
	{
		char	   *id = mx_output_text(s->values[0], s->types[0]);

		ExplainPropertyText("Remote Request", document_request_text(s, id), es);
		return;
	}
	ExplainPropertyText("Remote Request",
						document_request_text(s, NULL), es);
	ExplainPropertyText("Remote Document Id",
						shown[0] ? shown[0]
						: deparse_expression(expr, es->deparse_cxt, false, false),
						es);
}

static void
explain_list(MxScanState *s, const char **shown, ExplainState *es)
{
	MxScanSpec *spec = s->planned ? s->planned : s->spec;
	char	   *filters,
			   *sort,
			   *select;

	mx_explain_parts(s->rel, spec, s->values, s->isnull, s->types, shown,
					 &filters, &sort, &select);
	ExplainPropertyText("Remote Request",
						psprintf("POST %s",
								 mx_api_list_path(s->rel->collection,
												  request_limit_of(spec, s->rel))),
						es);
	if (filters)
		ExplainPropertyText("Remote Filters", filters, es);
	if (sort)
		ExplainPropertyText("Remote Sort", sort, es);
	if (spec->limit > 0)
		ExplainPropertyInteger("Remote Limit", NULL, spec->limit, es);
	if (spec->limit_ties)
		ExplainPropertyText("Remote Limit Ties",
							"read on while equal as doubles, sorted locally",
							es);
	if (select)
		ExplainPropertyText("Remote Select", select, es);
	explain_returns(s, es);
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

	if (mx_is_upper_plan((ForeignScan *) node->ss.ps.plan))
	{
		mx_upper_explain(node, es);
		return;
	}
	if (mx_is_retriever_plan((ForeignScan *) node->ss.ps.plan))
	{
		mx_retriever_explain(node, es);
		return;
	}
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
		if (s->retried_without != NULL)
			ExplainPropertyText("Remote Retried Without", s->retried_without, es);
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
	routine->GetForeignUpperPaths = mx_upper_paths;
	mx_modify_routine(routine);

	/*
	 * No IsForeignScanParallelSafe: a parallel safe scan could run in every
	 * worker of a parallel plan (as the inner side of a hash join that each
	 * worker builds on its own), sending every request once per worker.
	 */

	PG_RETURN_POINTER(routine);
}
