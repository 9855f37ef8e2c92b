/*-------------------------------------------------------------------------
 *
 * batch_join.c
 *		A batched nested loop: local rows joined with a collection's
 *		documents by id, the ids of many rows in each list request.
 *
 * For "inner.document_id = <an expression of the outer rows>" against a
 * collection table, a nested loop of GETs costs a request per outer row,
 * and a hash join over the whole collection a request per page of it.
 * This join (a CustomScan, "MixpeekBatchJoin") reads a batch of outer rows
 * (MX_BATCH_JOIN_ROWS_PER_REQUEST for each request mixpeek.max_concurrency
 * lets run at once), hands the text[] of their distinct ids to its inner
 * side and rescans it: a foreign scan of the collection that looks that
 * array up as it does "document_id = ANY($1)" (id_fetch.c), 1,000 ids a
 * list request.  The array goes by mx_scan_set_batch_ids(), not by a
 * PARAM_EXEC: the planner checks that every such parameter of a subplan
 * comes from a node it knows to set it, and a custom node is none.  The
 * documents that come back go into a hash table by id; then each outer row
 * of the batch, in its order, gives its joined rows: INNER one per
 * matching document that passes the join's other clauses, SEMI the outer
 * row once if one does, LEFT also the outer row with NULLs when none does,
 * ANTI the outer row alone when none does.  Ids match byte for byte, which
 * is what equality of text under a deterministic collation is (the only id
 * clause deparse.c accepts).
 *
 * Offered for INNER, SEMI (EXISTS), LEFT and ANTI (NOT EXISTS) joins of
 * SELECT statements without row locks, when the inner relation is a collection table that
 * does not look its documents up by id already, and the outer side needs
 * no parameter; costed so that the planner takes it over a scan of the
 * whole collection only while its rounds of concurrent requests are fewer
 * than the pages of that scan.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "commands/explain.h"
#if PG_VERSION_NUM >= 180000
#include "commands/explain_format.h"
#include "commands/explain_state.h"
#endif
#include "common/hashfn.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/restrictinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/ruleutils.h"

#include "batch_join.h"
#include "fdw_private.h"
#include "id_fetch.h"
#include "mixpeek_fdw.h"
#include "mixpeek_limits.h"
#include "settings.h"

#define BATCH_JOIN_NAME "MixpeekBatchJoin"

/* A document of the current batch, by its id. */
typedef struct BatchMatch
{
	const char *id;				/* the key: points into the batch */
	List	   *rows;			/* MinimalTuples of the inner plan */
} BatchMatch;

typedef struct BatchJoinState
{
	CustomScanState css;
	PlanState  *outer;
	PlanState  *inner;
	ExprState  *id_expr;		/* the outer rows' document id */
	ExprState  *join_qual;		/* the join's other clauses */
	JoinType	jointype;
	int			inner_id;		/* the inner plan's document_id column */
	int			nsources;
	int		   *sources;		/* see MxBatchPlanSources */
	int			batch_rows;		/* outer rows per batch */
	TupleTableSlot *outer_slot; /* a buffered outer row */
	TupleTableSlot *inner_slot; /* a kept document's row */

	MemoryContext batch_cxt;	/* the rows, ids and documents of a batch */
	MinimalTuple *rows;			/* the batch's outer rows */
	char	  **row_ids;		/* their ids, NULL for none */
	int			nrows;
	HTAB	   *matches;		/* BatchMatch by id */
	bool		outer_done;

	/* where the output has got to */
	int			row;			/* the outer row being joined */
	ListCell   *match;			/* its next document, or NULL */
	List	   *match_rows;		/* its documents */
	bool		row_started;
	bool		row_matched;	/* a document passed the join's clauses */

	/* EXPLAIN ANALYZE */
	uint64		batches;
	uint64		ids_sent;
} BatchJoinState;

static set_join_pathlist_hook_type prev_join_pathlist_hook = NULL;

static Plan *plan_batch_join(PlannerInfo *root, RelOptInfo *rel,
							 CustomPath *best_path, List *tlist,
							 List *clauses, List *custom_plans);
static Node *create_batch_join_state(CustomScan *cscan);
static void begin_batch_join(CustomScanState *node, EState *estate,
							 int eflags);
static TupleTableSlot *exec_batch_join(CustomScanState *node);
static void end_batch_join(CustomScanState *node);
static void rescan_batch_join(CustomScanState *node);
static void explain_batch_join(CustomScanState *node, List *ancestors,
							   ExplainState *es);

static const CustomPathMethods batch_path_methods = {
	.CustomName = BATCH_JOIN_NAME,
	.PlanCustomPath = plan_batch_join,
};

static const CustomScanMethods batch_scan_methods = {
	.CustomName = BATCH_JOIN_NAME,
	.CreateCustomScanState = create_batch_join_state,
};

static const CustomExecMethods batch_exec_methods = {
	.CustomName = BATCH_JOIN_NAME,
	.BeginCustomScan = begin_batch_join,
	.ExecCustomScan = exec_batch_join,
	.EndCustomScan = end_batch_join,
	.ReScanCustomScan = rescan_batch_join,
	.ExplainCustomScan = explain_batch_join,
};

/* Outer rows per batch: enough ids for every request allowed in flight. */
static int
batch_rows(void)
{
	return MX_BATCH_JOIN_ROWS_PER_REQUEST * Max(1, mx_max_concurrency);
}

/* ---------- planning ---------- */

/*
 * The join clause "inner.document_id = <outer expression>" among quals,
 * taken out of them: *value is the outer expression, *column the inner
 * side.  Not for a pseudoconstant clause anywhere (it would need a gating
 * plan), nor for a LEFT join's clause from WHERE.
 */
static bool
find_id_clause(PlannerInfo *root, RelOptInfo *joinrel, RelOptInfo *outerrel,
			   RelOptInfo *innerrel, MxRelation *rel, JoinType jointype,
			   List **quals, RestrictInfo **id_clause, Expr **value,
			   Expr **column)
{
	ListCell   *lc;

	*id_clause = NULL;
	foreach(lc, *quals)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		MxIdLookup	id;
		OpExpr	   *op;

		if (ri->pseudoconstant)
			return false;
		if (*id_clause != NULL || !IsA(ri->clause, OpExpr) ||
			((jointype == JOIN_LEFT || jointype == JOIN_ANTI) &&
			 RINFO_IS_PUSHED_DOWN(ri, joinrel->relids)) ||
			!mx_is_id_condition(rel, innerrel->relid, ri->clause, &id) ||
			id.many ||
			!bms_is_subset(pull_varnos(root, (Node *) id.value),
						   outerrel->relids))
			continue;
		op = (OpExpr *) ri->clause;
		*id_clause = ri;
		*value = id.value;
		*column = (linitial(op->args) == (void *) id.value)
			? lsecond(op->args) : linitial(op->args);
	}
	if (*id_clause == NULL)
		return false;
	*quals = list_delete_ptr(list_copy(*quals), *id_clause);
	return true;
}

/*
 * What the join costs: the outer side, a request per round of
 * mixpeek.max_concurrency requests of 1,000 ids, the documents fetched
 * (each outer row's at most, the collection's at most) and the join's own
 * clauses.  The first batch is read before the first row comes out.
 */
static void
batch_join_costs(PlannerInfo *root, RelOptInfo *joinrel, RelOptInfo *innerrel,
				 Path *outer_path, List *quals, Cost *startup, Cost *total)
{
	double		outer_rows = outer_path->rows;
	double		requests = mx_id_fetch_requests(outer_rows);
	double		rounds = Max(1.0, ceil(requests / Max(1, mx_max_concurrency)));
	double		fetched = Min(outer_rows, innerrel->tuples);
	double		first = Min(1.0, batch_rows() / Max(outer_rows, 1.0));
	QualCost	join_cost;
	QualCost	inner_cost;

	cost_qual_eval(&join_cost, quals, root);
	cost_qual_eval(&inner_cost, innerrel->baserestrictinfo, root);
	*startup = outer_path->startup_cost +
		(outer_path->total_cost - outer_path->startup_cost) * first +
		MX_COST_REQUEST + join_cost.startup + inner_cost.startup;
	*total = outer_path->total_cost + MX_COST_REQUEST * rounds +
		join_cost.startup + inner_cost.startup +
		outer_rows * (cpu_tuple_cost + join_cost.per_tuple) +
		fetched * (cpu_tuple_cost + MX_COST_ROW + inner_cost.per_tuple) +
		joinrel->rows * cpu_tuple_cost +
		joinrel->reltarget->cost.per_tuple * joinrel->rows;
}

/*
 * The join path hook: offer the batched join for outerrel joined with a
 * collection table on its document id.
 */
static void
batch_join_paths(PlannerInfo *root, RelOptInfo *joinrel,
				 RelOptInfo *outerrel, RelOptInfo *innerrel,
				 JoinType jointype, JoinPathExtraData *extra)
{
	MxRelation *rel;
	Path	   *outer_path = outerrel->cheapest_total_path;
	Path	   *inner_path;
	List	   *quals = extra->restrictlist;
	RestrictInfo *id_clause;
	Expr	   *value;
	Expr	   *column;
	CustomPath *path;
	Cost		startup,
				total;

	if (prev_join_pathlist_hook)
		prev_join_pathlist_hook(root, joinrel, outerrel, innerrel, jointype,
								extra);
	if (!mx_batch_join || !mx_pushdown ||
		(jointype != JOIN_INNER && jointype != JOIN_SEMI &&
		 jointype != JOIN_LEFT && jointype != JOIN_ANTI) ||
		root->parse->commandType != CMD_SELECT || root->rowMarks != NIL ||
		outer_path == NULL || PATH_REQ_OUTER(outer_path) != NULL ||
		!bms_is_empty(innerrel->lateral_relids) ||
		(rel = mx_batch_inner_relation(root, innerrel)) == NULL ||
		!find_id_clause(root, joinrel, outerrel, innerrel, rel, jointype,
						&quals, &id_clause, &value, &column))
		return;

	inner_path = mx_batch_inner_path(root, innerrel, column,
									 ((OpExpr *) id_clause->clause)->inputcollid,
									 Min(outer_path->rows, batch_rows()));
	if (inner_path == NULL)
		return;
	batch_join_costs(root, joinrel, innerrel, outer_path, quals,
					 &startup, &total);

	path = makeNode(CustomPath);
	path->path.pathtype = T_CustomScan;
	path->path.parent = joinrel;
	path->path.pathtarget = joinrel->reltarget;
	path->path.param_info = NULL;
	path->path.parallel_aware = false;
	/* one process sends the requests: see mixpeek_fdw_handler */
	path->path.parallel_safe = false;
	path->path.parallel_workers = 0;
	path->path.rows = joinrel->rows;
#if PG_VERSION_NUM >= 180000
	path->path.disabled_nodes = outer_path->disabled_nodes +
		inner_path->disabled_nodes;
#endif
	path->path.startup_cost = startup;
	path->path.total_cost = total;
	/* outer rows come out in their order */
	path->path.pathkeys = build_join_pathkeys(root, joinrel, jointype,
											  outer_path->pathkeys);
#ifdef CUSTOMPATH_SUPPORT_PROJECTION
	path->flags = CUSTOMPATH_SUPPORT_PROJECTION;
#endif
	path->custom_paths = list_make2(outer_path, inner_path);
	path->custom_private = list_make4(value, column, quals,
									  makeInteger(jointype));
	Assert(list_length(path->custom_private) == MxBatchPathCount);
	path->methods = &batch_path_methods;
	add_path(joinrel, &path->path);
}

/*
 * PostgreSQL 16 on: copies of nodes with the nulling of their Vars and
 * PlaceHolderVars taken from the first of like that is the same column,
 * or (like NIL) forgotten.  A LEFT join's output names the inner columns
 * as nulled by it, its ON clause as they come from the inner plan; both
 * read the same column of the scan tuple, which holds NULLs there exactly
 * when the join supplies them.
 */
static Node *
nulling_like_mutator(Node *node, List *like)
{
	if (node == NULL)
		return NULL;
#if PG_VERSION_NUM >= 160000
	if (IsA(node, Var) || IsA(node, PlaceHolderVar))
	{
		Node	   *copy = copyObject(node);
		Bitmapset  *nulling = NULL;
		ListCell   *lc;

		foreach(lc, like)
		{
			Node	   *l = lfirst(lc);

			if (IsA(node, Var) && IsA(l, Var) &&
				((Var *) l)->varno == ((Var *) node)->varno &&
				((Var *) l)->varattno == ((Var *) node)->varattno &&
				((Var *) l)->varlevelsup == ((Var *) node)->varlevelsup)
			{
				nulling = ((Var *) l)->varnullingrels;
				break;
			}
			if (IsA(node, PlaceHolderVar) && IsA(l, PlaceHolderVar) &&
				((PlaceHolderVar *) l)->phid == ((PlaceHolderVar *) node)->phid)
			{
				nulling = ((PlaceHolderVar *) l)->phnullingrels;
				break;
			}
		}
		if (IsA(copy, Var))
			((Var *) copy)->varnullingrels = bms_copy(nulling);
		else
			((PlaceHolderVar *) copy)->phnullingrels = bms_copy(nulling);
		return copy;
	}
#endif
	return expression_tree_mutator(node, nulling_like_mutator, like);
}

/* The column of tlist that computes expr, from 0; -1 when none does. */
static int
input_column(List *tlist, Node *expr)
{
	Node	   *bare = nulling_like_mutator(expr, NIL);
	ListCell   *lc;

	foreach(lc, tlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (equal(nulling_like_mutator((Node *) tle->expr, NIL), bare))
			return foreach_current_index(lc);
	}
	return -1;
}

/*
 * The scan tuple: every column of the outer plan, then every column of the
 * inner plan as the join's output names it (or a LEFT join's WHERE
 * clauses, other_quals, which read inner columns nulled by the join too,
 * even one the output does not hold), so that any projection the planner
 * puts on this node finds its columns.  *sources says where each comes
 * from (MxBatchPlanSources); *like holds its expressions.
 */
static List *
scan_tlist(RelOptInfo *rel, Plan *outer_plan, Plan *inner_plan,
		   List *other_quals, List **sources, List **like)
{
	List	   *tlist = NIL;
	List	   *output = list_concat(pull_var_clause((Node *) rel->reltarget->exprs,
													 PVC_INCLUDE_PLACEHOLDERS),
									 pull_var_clause((Node *) other_quals,
													 PVC_INCLUDE_PLACEHOLDERS));
	ListCell   *lc;

	*sources = NIL;
	*like = NIL;
	foreach(lc, outer_plan->targetlist)
	{
		*sources = lappend(*sources,
						   makeInteger(foreach_current_index(lc)));
		*like = lappend(*like, lfirst_node(TargetEntry, lc)->expr);
	}
	foreach(lc, inner_plan->targetlist)
	{
		Node	   *expr = (Node *) lfirst_node(TargetEntry, lc)->expr;

		*sources = lappend(*sources,
						   makeInteger(-1 - foreach_current_index(lc)));
		*like = lappend(*like, nulling_like_mutator(expr, output));
	}
	/* one column per source, duplicates included: they hold equal values */
	foreach(lc, *like)
		tlist = lappend(tlist,
						makeTargetEntry(lfirst(lc),
										foreach_current_index(lc) + 1,
										NULL, false));
	return tlist;
}

/*
 * The CustomScan of a batched join.  Its scan tuple holds the columns of
 * both inputs (custom_scan_tlist); custom_exprs are the outer id
 * expression, then the join clauses that decide a match; plan.qual holds
 * a LEFT join's clauses from WHERE, checked on every row it returns.
 */
static Plan *
plan_batch_join(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
				List *tlist, List *clauses, List *custom_plans)
{
	List	   *private = best_path->custom_private;
	Expr	   *value = list_nth(private, MxBatchPathIdValue);
	Node	   *column = list_nth(private, MxBatchPathIdColumn);
	List	   *quals = list_nth(private, MxBatchPathQuals);
	JoinType	jointype = intVal(list_nth(private, MxBatchPathJoinType));
	Plan	   *outer_plan = linitial(custom_plans);
	Plan	   *inner_plan = lsecond(custom_plans);
	CustomScan *cscan = makeNode(CustomScan);
	List	   *join_quals;
	List	   *other_quals = NIL;
	List	   *sources;
	List	   *like;
	int			inner_id;

	if (jointype == JOIN_LEFT || jointype == JOIN_ANTI)
		extract_actual_join_clauses(quals, rel->relids, &join_quals,
									&other_quals);
	else
		join_quals = extract_actual_clauses(quals, false);
	while (IsA(column, RelabelType))
		column = (Node *) ((RelabelType *) column)->arg;
	inner_id = input_column(inner_plan->targetlist, column);
	if (inner_id < 0)
		elog(ERROR, "mixpeek: the document id is not among the columns of a batched join's inner scan");

	cscan->scan.plan.targetlist = tlist;
	cscan->scan.plan.qual = other_quals;
	cscan->scan.scanrelid = 0;
	cscan->flags = best_path->flags;
	cscan->custom_plans = custom_plans;
	cscan->custom_scan_tlist = scan_tlist(rel, outer_plan, inner_plan,
										  other_quals, &sources, &like);
	cscan->custom_exprs = (List *)
		nulling_like_mutator((Node *) lcons(value, join_quals), like);
	cscan->custom_private = list_make3(makeInteger(jointype),
									   makeInteger(inner_id),
									   sources);
	Assert(list_length(cscan->custom_private) == MxBatchPlanCount);
	cscan->methods = &batch_scan_methods;
	return &cscan->scan.plan;
}

/* ---------- execution ---------- */

/* CreateCustomScanState: the node's state, filled in by BeginCustomScan */
static Node *
create_batch_join_state(CustomScan *cscan)
{
	BatchJoinState *state = palloc0(sizeof(BatchJoinState));

	NodeSetTag(state, T_CustomScanState);
	state->css.methods = &batch_exec_methods;
	return (Node *) state;
}

/*
 * BeginCustomScan: start both inputs and the expressions of the join.
 * Neither input is asked for a row yet.
 */
static void
begin_batch_join(CustomScanState *node, EState *estate, int eflags)
{
	BatchJoinState *state = (BatchJoinState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	List	   *private = cscan->custom_private;
	List	   *sources = list_nth(private, MxBatchPlanSources);
	ListCell   *lc;

	eflags &= ~(EXEC_FLAG_BACKWARD | EXEC_FLAG_MARK);
	state->outer = ExecInitNode(linitial(cscan->custom_plans), estate, eflags);
	state->inner = ExecInitNode(lsecond(cscan->custom_plans), estate, eflags);
	node->custom_ps = list_make2(state->outer, state->inner);

	state->jointype = intVal(list_nth(private, MxBatchPlanJoinType));
	state->inner_id = intVal(list_nth(private, MxBatchPlanInnerId));
	state->nsources = list_length(sources);
	state->sources = palloc(sizeof(int) * Max(state->nsources, 1));
	foreach(lc, sources)
		state->sources[foreach_current_index(lc)] = intVal(lfirst(lc));

	state->id_expr = ExecInitExpr(linitial(cscan->custom_exprs), &node->ss.ps);
	state->join_qual = ExecInitQual(list_copy_tail(cscan->custom_exprs, 1),
									&node->ss.ps);
	state->outer_slot = ExecInitExtraTupleSlot(estate,
											   ExecGetResultType(state->outer),
											   &TTSOpsMinimalTuple);
	state->inner_slot = ExecInitExtraTupleSlot(estate,
											   ExecGetResultType(state->inner),
											   &TTSOpsMinimalTuple);
	state->batch_rows = batch_rows();
	state->batch_cxt = AllocSetContextCreate(CurrentMemoryContext,
											 "mixpeek batched join",
											 ALLOCSET_DEFAULT_SIZES);
	state->row = 0;
}

/*
 * Fill the scan tuple from an outer row and a document's row, or NULLs
 * for the inner columns when inner is NULL.
 */
static TupleTableSlot *
scan_tuple(BatchJoinState *state, TupleTableSlot *outer, TupleTableSlot *inner)
{
	TupleTableSlot *slot = state->css.ss.ss_ScanTupleSlot;
	int			i;

	ExecClearTuple(slot);
	slot_getallattrs(outer);
	if (inner != NULL)
		slot_getallattrs(inner);
	for (i = 0; i < state->nsources; i++)
	{
		int			src = state->sources[i];

		if (src >= 0)
		{
			slot->tts_values[i] = outer->tts_values[src];
			slot->tts_isnull[i] = outer->tts_isnull[src];
		}
		else if (inner != NULL)
		{
			slot->tts_values[i] = inner->tts_values[-1 - src];
			slot->tts_isnull[i] = inner->tts_isnull[-1 - src];
		}
		else
		{
			slot->tts_values[i] = (Datum) 0;
			slot->tts_isnull[i] = true;
		}
	}
	return ExecStoreVirtualTuple(slot);
}

/* The id of an outer row, as text in the batch's memory; NULL for none. */
static char *
outer_id(BatchJoinState *state, TupleTableSlot *outer)
{
	ExprContext *econtext = state->css.ss.ps.ps_ExprContext;
	Datum		value;
	bool		isnull;
	char	   *id;

	ResetExprContext(econtext);
	econtext->ecxt_scantuple = scan_tuple(state, outer, NULL);
	value = ExecEvalExprSwitchContext(state->id_expr, econtext, &isnull);
	if (isnull)
		return NULL;
	id = mx_output_text(value, exprType((Node *) state->id_expr->expr));
	/* no document has an empty id: nothing to ask for (see id_fetch.c) */
	return id[0] != '\0' ? id : NULL;
}

static uint32
match_hash(const void *key, Size keysize)
{
	const char *id = *(const char *const *) key;

	return hash_bytes((const unsigned char *) id, strlen(id));
}

static int
match_compare(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(const char *const *) key1, *(const char *const *) key2);
}

/*
 * Look the batch's distinct ids up: hand their array to the inner side,
 * rescan it and keep every document it returns, by its id, in the
 * batch's memory.
 */
static void
fetch_documents(BatchJoinState *state)
{
	char	  **ids = MemoryContextAlloc(state->batch_cxt,
										 sizeof(char *) * Max(state->nrows, 1));
	Datum	   *elems;
	HASHCTL		ctl;
	MemoryContext old;
	int			nids = 0;
	int			i;

	for (i = 0; i < state->nrows; i++)
		if (state->row_ids[i] != NULL)
			ids[nids++] = state->row_ids[i];
	nids = mx_api_distinct_ids(ids, nids);

	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(BatchMatch);
	ctl.hash = match_hash;
	ctl.match = match_compare;
	ctl.hcxt = state->batch_cxt;
	state->matches = hash_create("mixpeek batched join documents",
								 Max(nids, 16), &ctl,
								 HASH_ELEM | HASH_FUNCTION | HASH_COMPARE |
								 HASH_CONTEXT);
	if (nids == 0)
		return;

	old = MemoryContextSwitchTo(state->batch_cxt);
	elems = palloc(sizeof(Datum) * nids);
	for (i = 0; i < nids; i++)
		elems[i] = CStringGetTextDatum(ids[i]);
	mx_scan_set_batch_ids((ForeignScanState *) state->inner,
						  PointerGetDatum(construct_array(elems, nids,
														  TEXTOID, -1, false,
														  TYPALIGN_INT)));
	MemoryContextSwitchTo(old);
	ExecReScan(state->inner);
	state->batches++;
	state->ids_sent += nids;

	for (;;)
	{
		TupleTableSlot *slot = ExecProcNode(state->inner);
		bool		isnull;
		Datum		id;
		char	   *key;
		BatchMatch *match;
		bool		found;

		if (TupIsNull(slot))
			break;
		id = slot_getattr(slot, state->inner_id + 1, &isnull);
		if (isnull)
			continue;
		old = MemoryContextSwitchTo(state->batch_cxt);
		key = TextDatumGetCString(id);
		match = hash_search(state->matches, &key, HASH_ENTER, &found);
		if (!found)
		{
			match->id = key;
			match->rows = NIL;
		}
		match->rows = lappend(match->rows, ExecCopySlotMinimalTuple(slot));
		MemoryContextSwitchTo(old);
	}
}

/*
 * Read the next batch of outer rows, with their ids, and the documents of
 * those ids.  False when the outer side has no more rows.  The inputs run
 * in the query's memory, as they expect (a scan sets itself up there on
 * its first row); only the copies of their rows go in the batch's.
 */
static bool
next_batch(BatchJoinState *state)
{
	MemoryContext old;

	MemoryContextReset(state->batch_cxt);
	state->matches = NULL;
	state->nrows = 0;
	state->row = 0;
	state->row_started = false;
	if (state->outer_done)
		return false;

	state->rows = MemoryContextAlloc(state->batch_cxt,
									 sizeof(MinimalTuple) * state->batch_rows);
	state->row_ids = MemoryContextAlloc(state->batch_cxt,
										sizeof(char *) * state->batch_rows);
	while (state->nrows < state->batch_rows)
	{
		TupleTableSlot *slot = ExecProcNode(state->outer);

		if (TupIsNull(slot))
		{
			state->outer_done = true;
			break;
		}
		old = MemoryContextSwitchTo(state->batch_cxt);
		state->rows[state->nrows] = ExecCopySlotMinimalTuple(slot);
		state->row_ids[state->nrows] = outer_id(state, slot);
		MemoryContextSwitchTo(old);
		state->nrows++;
	}
	if (state->nrows > 0)
		fetch_documents(state);
	return state->nrows > 0;
}

/* Does the row of an outer row and a document pass the join's clauses? */
static bool
passes_join(BatchJoinState *state, TupleTableSlot *scan)
{
	ExprContext *econtext = state->css.ss.ps.ps_ExprContext;

	ResetExprContext(econtext);
	econtext->ecxt_scantuple = scan;
	return ExecQual(state->join_qual, econtext);
}

/*
 * A joined row, if it passes a LEFT or anti join's clauses from WHERE:
 * then it is the node's next row, projected.
 */
static TupleTableSlot *
emit(BatchJoinState *state, TupleTableSlot *scan)
{
	ExprContext *econtext = state->css.ss.ps.ps_ExprContext;
	ExprState  *qual = state->css.ss.ps.qual;

	ResetExprContext(econtext);
	econtext->ecxt_scantuple = scan;
	if (qual != NULL && !ExecQual(qual, econtext))
	{
		InstrCountFiltered1(&state->css.ss.ps, 1);
		return NULL;
	}
	if (state->css.ss.ps.ps_ProjInfo != NULL)
		return ExecProject(state->css.ss.ps.ps_ProjInfo);
	return scan;
}

/*
 * The next joined row of the current outer row, or NULL when it has no
 * more: INNER and LEFT its documents that pass the join's clauses, SEMI
 * the row at the first such document; then LEFT the row with NULLs and
 * ANTI the row alone, when there was none.
 */
static TupleTableSlot *
next_of_row(BatchJoinState *state)
{
	TupleTableSlot *outer = state->outer_slot;
	TupleTableSlot *result;

	if (!state->row_started)
	{
		const char *id = state->row_ids[state->row];
		BatchMatch *match = NULL;

		if (id != NULL)
			match = hash_search(state->matches, &id, HASH_FIND, NULL);
		state->match_rows = match ? match->rows : NIL;
		state->match = list_head(state->match_rows);
		state->row_started = true;
		state->row_matched = false;
	}
	ExecStoreMinimalTuple(state->rows[state->row], outer, false);
	while (state->match != NULL)
	{
		TupleTableSlot *scan;

		ExecStoreMinimalTuple(lfirst(state->match), state->inner_slot, false);
		state->match = lnext(state->match_rows, state->match);
		scan = scan_tuple(state, outer, state->inner_slot);
		if (!passes_join(state, scan))
			continue;
		state->row_matched = true;
		/* one document decides a semi or anti join */
		if (state->jointype == JOIN_SEMI || state->jointype == JOIN_ANTI)
			state->match = NULL;
		if (state->jointype == JOIN_ANTI)
			break;
		result = emit(state, scan);
		if (result != NULL)
			return result;
	}
	if ((state->jointype == JOIN_LEFT || state->jointype == JOIN_ANTI) &&
		!state->row_matched)
	{
		state->row_matched = true;
		return emit(state, scan_tuple(state, outer, NULL));
	}
	return NULL;
}

/*
 * ExecCustomScan: the joined rows of the batch's outer rows in their
 * order, then those of the next batch.
 */
static TupleTableSlot *
exec_batch_join(CustomScanState *node)
{
	BatchJoinState *state = (BatchJoinState *) node;

	CHECK_FOR_INTERRUPTS();
	for (;;)
	{
		TupleTableSlot *result;

		if (state->row >= state->nrows)
		{
			if (!next_batch(state))
				return ExecClearTuple(node->ss.ps.ps_ResultTupleSlot);
			continue;
		}
		result = next_of_row(state);
		if (result != NULL)
			return result;
		state->row++;
		state->row_started = false;
	}
}

/*
 * ReScanCustomScan: start again from the first outer row.  Parameters
 * that changed reach the inputs, which are not the node's lefttree and
 * righttree that ExecReScan passes them to.
 */
static void
rescan_batch_join(CustomScanState *node)
{
	BatchJoinState *state = (BatchJoinState *) node;

	MemoryContextReset(state->batch_cxt);
	state->matches = NULL;
	state->nrows = 0;
	state->row = 0;
	state->row_started = false;
	state->outer_done = false;
	if (node->ss.ps.chgParam != NULL)
	{
		UpdateChangedParamSet(state->outer, node->ss.ps.chgParam);
		UpdateChangedParamSet(state->inner, node->ss.ps.chgParam);
	}
	/* with parameters changed, the next ExecProcNode rescans it */
	if (state->outer->chgParam == NULL)
		ExecReScan(state->outer);
}

/* EndCustomScan: end both inputs; the memory goes with the query's. */
static void
end_batch_join(CustomScanState *node)
{
	BatchJoinState *state = (BatchJoinState *) node;

	ExecEndNode(state->outer);
	ExecEndNode(state->inner);
}

static const char *
join_type_name(JoinType jointype)
{
	switch (jointype)
	{
		case JOIN_INNER:
			return "Inner";
		case JOIN_SEMI:
			return "Semi";
		case JOIN_LEFT:
			return "Left";
		case JOIN_ANTI:
			return "Anti";
		default:
			return "?";
	}
}

/*
 * ExplainCustomScan: the join type; with VERBOSE the outer id expression,
 * the join's other clauses and the outer rows per batch; with ANALYZE the
 * batches looked up and the distinct ids they sent.
 */
static void
explain_batch_join(CustomScanState *node, List *ancestors, ExplainState *es)
{
	BatchJoinState *state = (BatchJoinState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	JoinType	jointype = intVal(list_nth(cscan->custom_private,
										   MxBatchPlanJoinType));

	ExplainPropertyText("Join Type", join_type_name(jointype), es);
	if (es->verbose)
	{
		List	   *context = set_deparse_context_plan(es->deparse_cxt,
													   &cscan->scan.plan,
													   ancestors);
		List	   *quals = list_copy_tail(cscan->custom_exprs, 1);

		ExplainPropertyText("Outer Document Id",
							deparse_expression(linitial(cscan->custom_exprs),
											   context, true, false),
							es);
		if (quals != NIL)
			ExplainPropertyText("Join Filter",
								deparse_expression((Node *) make_ands_explicit(quals),
												   context, true, false),
								es);
		ExplainPropertyInteger("Batch Size", "rows", state->batch_rows, es);
	}
	if (es->analyze)
	{
		ExplainPropertyUInteger("Batches", NULL, state->batches, es);
		ExplainPropertyUInteger("Ids Sent", NULL, state->ids_sent, es);
	}
}

/*
 * mx_batch_join_init
 *		Register the custom scan (plans are found by its name when copied
 *		or read back) and chain the join path hook.
 */
void
mx_batch_join_init(void)
{
	RegisterCustomScanMethods(&batch_scan_methods);
	prev_join_pathlist_hook = set_join_pathlist_hook;
	set_join_pathlist_hook = batch_join_paths;
}
