/*-------------------------------------------------------------------------
 *
 * retriever.c
 *		Foreign tables of Mixpeek retrievers: a scan is one search.
 *
 * A retriever table has a "retriever" option instead of "collection".  Its
 * input columns (column option "input") are given by "=" conditions, as
 * Steampipe's key columns are: the values go to the retriever as its
 * inputs, and every row shows them.  A condition against another table's
 * column makes a parameterized path: one search per outer row of a nested
 * loop.  "input = ANY(array)" (or IN) makes one search per element, their
 * pages in flight together on one batch.  Result columns read the result documents as a collection table's
 * columns read documents; "rank" is the position of the result.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/table.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/explain.h"
#if PG_VERSION_NUM >= 180000
#include "commands/explain_format.h"
#include "commands/explain_state.h"
#endif
#include "executor/executor.h"
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
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

#include "compat.h"
#include "fdw_private.h"
#include "mixpeek_fdw.h"
#include "search.h"
#include "settings.h"

/* Marks the fdw_private of a retriever scan's plan (fdw.c dispatches on it). */
#define RETRIEVER_PLAN_TAG "mixpeek retriever"

/* What the planner keeps in baserel->fdw_private. */
typedef struct MxRetrieverInfo
{
	MxRelation *rel;
	Bitmapset  *given;			/* attnums given by restrictions */
	bool		has_any;		/* one of them by = ANY: several searches */
	Bitmapset  *attrs_used;
} MxRetrieverInfo;

typedef struct MxRetrieverScan
{
	MxRelation *rel;
	MxConverter *conv;
	Bitmapset  *attrs_used;
	MxTarget   *target;			/* NULL for EXPLAIN without ANALYZE */
	List	   *inputs;			/* attnums */
	int			limit;
	List	   *expr_states;
	Datum	   *values;
	bool	   *isnull;
	Oid		   *types;
	MemoryContext scan_cxt;
	MemoryContext values_cxt;	/* this search's input values */
	MemoryContext tuple_cxt;
	MemoryContext searches_cxt; /* the searches' contexts, older than any
								 * batch they share */
	MxHttpStats stats;
	uint64		pages;
	bool		started;

	/* the input given by = ANY (index into inputs, or -1), its elements */
	int			many;
	Datum	   *elems;
	int			nelems;
	Oid			elem_type;

	/* one search per element (or one), read in turn */
	MxSearch  **searches;
	int			nsearches;
	int			cur;
	int			started_upto;	/* searches [cur, started_upto) are sent */
	MemoryContext batch_cxt;	/* their shared batch, made after them */
	MxBatch    *batch;
} MxRetrieverScan;

/* Is the foreign table a retriever's (option "retriever")? */
bool
mx_is_retriever_table(Oid relid)
{
	return mx_fdw_option(GetForeignTable(relid)->options, "retriever") != NULL;
}

/* Is the plan a retriever scan's?  Its fdw_private starts with a String. */
bool
mx_is_retriever_plan(ForeignScan *plan)
{
	return plan->fdw_private != NIL && IsA(linitial(plan->fdw_private), String);
}

/* ---------- planning ---------- */

static MxColumn *
input_column(MxRelation *rel, Index relid, Node *node)
{
	Var		   *var;

	while (IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	if (!IsA(node, Var))
		return NULL;
	var = (Var *) node;
	if (var->varno != relid || var->varlevelsup != 0 || var->varattno <= 0 ||
		var->varattno > rel->natts)
		return NULL;
	return rel->columns[var->varattno - 1].input ?
		&rel->columns[var->varattno - 1] : NULL;
}

static bool
is_scan_value(PlannerInfo *root, Index relid, Node *value)
{
	return !bms_is_member(relid, pull_varnos(root, value)) &&
		!contain_volatile_functions(value);
}

/* "input = ANY(array)" (IN lists too): the input and the array. */
static MxColumn *
input_any_condition(PlannerInfo *root, MxRelation *rel, Index relid,
					ScalarArrayOpExpr *saop, Expr **value)
{
	MxColumn   *col;

	if (!saop->useOr || list_length(saop->args) != 2 ||
		(!op_mergejoinable(saop->opno, exprType(linitial(saop->args))) &&
		 !op_hashjoinable(saop->opno, exprType(linitial(saop->args)))))
		return NULL;
	col = input_column(rel, relid, linitial(saop->args));
	if (col == NULL || !is_scan_value(root, relid, lsecond(saop->args)))
		return NULL;
	*value = lsecond(saop->args);
	return col;
}

/*
 * "input = value" (either way round) with an equality operator, the value
 * free of this table's columns and of volatile functions: the input and
 * its value.  With many not NULL, "input = ANY(array)" too, and *many
 * says which it is.
 */
static MxColumn *
input_condition(PlannerInfo *root, MxRelation *rel, Index relid, Expr *clause,
				Expr **value, bool *many)
{
	OpExpr	   *op;
	MxColumn   *col;
	int			side;

	if (many != NULL)
		*many = IsA(clause, ScalarArrayOpExpr);
	if (many != NULL && *many)
		return input_any_condition(root, rel, relid,
								   (ScalarArrayOpExpr *) clause, value);
	if (!IsA(clause, OpExpr) || list_length(((OpExpr *) clause)->args) != 2)
		return NULL;
	op = (OpExpr *) clause;
	if (!op_mergejoinable(op->opno, exprType(linitial(op->args))) &&
		!op_hashjoinable(op->opno, exprType(linitial(op->args))))
		return NULL;
	for (side = 0; side < 2; side++)
	{
		Node	   *other = list_nth(op->args, 1 - side);

		col = input_column(rel, relid, list_nth(op->args, side));
		if (col == NULL || !is_scan_value(root, relid, other))
			continue;
		*value = (Expr *) other;
		return col;
	}
	return NULL;
}

static Bitmapset *
inputs_of(PlannerInfo *root, MxRelation *rel, Index relid, List *clauses,
		  bool *has_any)
{
	Bitmapset  *given = NULL;
	ListCell   *lc;

	foreach(lc, clauses)
	{
		Expr	   *value;
		bool		many;
		MxColumn   *col = input_condition(root, rel, relid,
										  lfirst_node(RestrictInfo, lc)->clause,
										  &value, &many);

		if (col != NULL)
			given = bms_add_member(given, col->attnum);
		if (col != NULL && many)
			*has_any = true;
	}
	return given;
}

/* The required inputs that given lacks, as a list of their column names. */
static char *
missing_inputs(MxRelation *rel, Bitmapset *given)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < rel->natts; i++)
	{
		MxColumn   *col = &rel->columns[i];

		if (col->name != NULL && col->input_required &&
			!bms_is_member(col->attnum, given))
			appendStringInfo(&buf, "%s%s", buf.len ? ", " : "",
							 quote_identifier(col->name));
	}
	return buf.len ? buf.data : NULL;
}

/*
 * mx_retriever_rel_size
 *		GetForeignRelSize of a retriever table: its options, the inputs the
 *		restrictions give, the columns used.  A search returns about
 *		MX_SEARCH_DEFAULT_ROWS results, narrowed by the conditions.
 */
void
mx_retriever_rel_size(PlannerInfo *root, RelOptInfo *baserel,
					  Oid foreigntableid)
{
	MxRetrieverInfo *info = palloc0(sizeof(MxRetrieverInfo));
	Relation	relation = table_open(foreigntableid, NoLock);
	ListCell   *lc;

	info->rel = mx_fdw_relation(foreigntableid, RelationGetDescr(relation));
	table_close(relation, NoLock);
	baserel->fdw_private = info;
	info->given = inputs_of(root, info->rel, baserel->relid,
							baserel->baserestrictinfo, &info->has_any);
	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid,
				   &info->attrs_used);
	foreach(lc, baserel->baserestrictinfo)
		pull_varattnos((Node *) lfirst_node(RestrictInfo, lc)->clause,
					   baserel->relid, &info->attrs_used);
	baserel->tuples = MX_SEARCH_DEFAULT_ROWS;
	baserel->rows = clamp_row_est(MX_SEARCH_DEFAULT_ROWS *
								  clauselist_selectivity(root,
														 baserel->baserestrictinfo,
														 baserel->relid,
														 JOIN_INNER, NULL));
}

static void
add_search_path(PlannerInfo *root, RelOptInfo *baserel, Relids required_outer,
				List *pathkeys)
{
	Cost		startup = MX_COST_REQUEST;
	Cost		total = startup + MX_SEARCH_DEFAULT_ROWS * (cpu_tuple_cost + MX_COST_ROW);

	add_path(baserel, (Path *)
			 mx_create_foreignscan_path(root, baserel, NULL, baserel->rows,
										startup, total, pathkeys,
										required_outer, NULL, NIL));
}

/*
 * Is the query's ORDER BY the rank ascending?  One search returns its
 * results in that order (several, for = ANY, do not), so the scan's rows
 * need no sort, and a LIMIT can be sent.  Only for a numeric rank column:
 * as text, "10" sorts before "2".
 */
static bool
rank_order_wanted(PlannerInfo *root, RelOptInfo *baserel,
				  MxRetrieverInfo *info)
{
	PathKey    *pk;
	ListCell   *lc;

	if (info->has_any || list_length(root->query_pathkeys) != 1)
		return false;
	pk = linitial_node(PathKey, root->query_pathkeys);
	if (!mx_pathkey_is_asc(pk) || pk->pk_nulls_first)
		return false;
	foreach(lc, pk->pk_eclass->ec_members)
	{
		EquivalenceMember *em = lfirst(lc);
		Var		   *var = (Var *) em->em_expr;
		MxColumn   *col;

		if (!IsA(var, Var) || var->varno != baserel->relid ||
			var->varlevelsup != 0 || var->varattno <= 0 ||
			var->varattno > info->rel->natts)
			continue;
		col = &info->rel->columns[var->varattno - 1];
		if (col->is_rank &&
			(col->typid == INT2OID || col->typid == INT4OID ||
			 col->typid == INT8OID || col->typid == NUMERICOID) &&
			pk->pk_opfamily ==
			get_opclass_family(GetDefaultOpClass(col->typid, BTREE_AM_OID)))
			return true;
	}
	return false;
}

static bool
input_member_matches(PlannerInfo *root, RelOptInfo *rel, EquivalenceClass *ec,
					 EquivalenceMember *em, void *arg)
{
	MxRetrieverInfo *info = arg;

	return input_column(info->rel, rel->relid, (Node *) em->em_expr) != NULL;
}

/*
 * A path per join clause that gives an input (with the restrictions, the
 * required inputs), and one with all of them: a nested loop then runs one
 * search per outer row.  Without any path, the required inputs are
 * missing: an error that names them.
 */
void
mx_retriever_paths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	MxRetrieverInfo *info = baserel->fdw_private;
	List	   *clauses;
	Relids		all_outer = NULL;
	Bitmapset  *all_given = bms_copy(info->given);
	bool		any = false;
	char	   *missing;
	ListCell   *lc;

	if (missing_inputs(info->rel, info->given) == NULL)
	{
		add_search_path(root, baserel, NULL, NIL);
		if (rank_order_wanted(root, baserel, info))
			add_search_path(root, baserel, NULL, root->query_pathkeys);
		any = true;
	}
	clauses = mx_join_clauses(root, baserel, input_member_matches, info);
	foreach(lc, clauses)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		Expr	   *value;
		MxColumn   *col = input_condition(root, info->rel, baserel->relid,
										  ri->clause, &value, NULL);
		Relids		outer;

		if (col == NULL)
			continue;
		outer = bms_del_member(bms_union(ri->clause_relids,
										 baserel->lateral_relids),
							   baserel->relid);
		if (bms_is_empty(outer))
			continue;
		all_outer = bms_union(all_outer, outer);
		all_given = bms_add_member(all_given, col->attnum);
		if (missing_inputs(info->rel,
						   bms_add_member(bms_copy(info->given), col->attnum)) == NULL)
		{
			add_search_path(root, baserel, outer, NIL);
			any = true;
		}
	}
	if (!any && all_outer != NULL &&
		missing_inputs(info->rel, all_given) == NULL)
	{
		add_search_path(root, baserel, all_outer, NIL);
		any = true;
	}
	missing = missing_inputs(info->rel, all_given);
	if (!any)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_EXECUTION),
				 errmsg("a search of foreign table \"%s\" needs a value for %s",
						get_rel_name(foreigntableid),
						missing ? missing : "its inputs"),
				 errdetail("Input columns of a retriever table are the retriever's inputs: they must be given with \"=\"."),
				 errhint("Add WHERE %s = ... (a value, a parameter or a column of another table).",
						 missing ? missing : "input")));
}

/*
 * The query's LIMIT, when nothing else stands between the scan and it (no
 * other table, no condition checked locally, no ORDER BY but the rank):
 * then no more results are asked for than it lets through.
 */
static int
search_limit(PlannerInfo *root, RelOptInfo *baserel, ForeignPath *path,
			 List *local)
{
	if (root->limit_tuples <= 0 || local != NIL ||
		path->path.param_info != NULL ||
		bms_membership(root->all_baserels) != BMS_SINGLETON)
		return 0;
	if (root->query_pathkeys != NIL &&
		!pathkeys_contained_in(root->query_pathkeys, path->path.pathkeys))
		return 0;
	return (int) Min(ceil(root->limit_tuples), (double) INT_MAX);
}

/*
 * mx_retriever_plan
 *		GetForeignPlan of a retriever scan: the inputs' values become
 *		fdw_exprs (the join clause's too, for a parameterized path), every
 *		other condition is checked locally, and a LIMIT that nothing else
 *		stands before becomes the results asked for.
 */
ForeignScan *
mx_retriever_plan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
				  ForeignPath *best_path, List *tlist, List *scan_clauses,
				  Plan *outer_plan)
{
	MxRetrieverInfo *info = baserel->fdw_private;
	Bitmapset  *given = NULL;
	Bitmapset  *attrs = bms_copy(info->attrs_used);
	List	   *inputs = NIL;
	List	   *exprs = NIL;
	List	   *local = NIL;
	List	   *attr_list = NIL;
	ListCell   *lc;
	int			x = -1;
	int			many_index = -1;

	/*
	 * An input given twice is sent once; the other condition is checked. One
	 * input at most is given by = ANY: more would multiply searches.
	 */
	foreach(lc, scan_clauses)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		Expr	   *value;
		bool		many;
		MxColumn   *col = input_condition(root, info->rel, baserel->relid,
										  ri->clause, &value, &many);

		if (col != NULL && !bms_is_member(col->attnum, given) &&
			!(many && many_index >= 0))
		{
			if (many)
				many_index = list_length(inputs);
			given = bms_add_member(given, col->attnum);
			inputs = lappend_int(inputs, col->attnum);
			exprs = lappend(exprs, value);
			continue;
		}
		local = lappend(local, ri);
		pull_varattnos((Node *) ri->clause, baserel->relid, &attrs);
	}
	while ((x = bms_next_member(attrs, x)) >= 0)
		attr_list = lappend_int(attr_list, x);
	return make_foreignscan(tlist, extract_actual_clauses(local, false),
							baserel->relid, exprs,
							list_make5(makeString(pstrdup(RETRIEVER_PLAN_TAG)),
									   inputs,
									   makeInteger(search_limit(root, baserel,
																best_path, local)),
									   attr_list,
									   makeInteger(many_index)),
							NIL, NIL, outer_plan);
}

/* ---------- execution ---------- */

/*
 * mx_retriever_begin
 *		BeginForeignScan of a retriever scan: read the plan, resolve key and
 *		namespace (not for EXPLAIN alone).  Nothing is sent before the first
 *		row is asked for.
 */
void
mx_retriever_begin(ForeignScanState *node, int eflags)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	Relation	relation = node->ss.ss_currentRelation;
	MxRetrieverScan *s = palloc0(sizeof(MxRetrieverScan));
	ListCell   *lc;

	node->fdw_state = s;
	s->rel = mx_fdw_relation(RelationGetRelid(relation),
							 RelationGetDescr(relation));
	s->inputs = list_nth(plan->fdw_private, RP_INPUTS);
	s->limit = intVal(list_nth(plan->fdw_private, RP_LIMIT));
	s->many = intVal(list_nth(plan->fdw_private, RP_MANY));
	foreach(lc, (List *) list_nth(plan->fdw_private, RP_ATTRS))
		s->attrs_used = bms_add_member(s->attrs_used, lfirst_int(lc));
	mx_scan_values(plan, &s->values, &s->isnull, &s->types);
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;

	s->target = mx_scan_prepare(node, s->rel, &s->conv, &s->expr_states);
	s->scan_cxt = CurrentMemoryContext;
	s->values_cxt = AllocSetContextCreate(s->scan_cxt, "mixpeek_fdw inputs",
										  ALLOCSET_SMALL_SIZES);
	s->tuple_cxt = AllocSetContextCreate(s->scan_cxt, "mixpeek_fdw row",
										 ALLOCSET_DEFAULT_SIZES);
	s->searches_cxt = AllocSetContextCreate(s->scan_cxt, "mixpeek_fdw searches",
											ALLOCSET_SMALL_SIZES);
}

/*
 * The inputs object: each input's name and the JSON (or, for EXPLAIN,
 * SQL) text that value() gives for the i-th value; NULL when value()
 * gives NULL for one (a NULL input, with which no row matches).
 */
static char *
inputs_text(MxRetrieverScan *s, char *(*value) (MxRetrieverScan *s, int i,
												void *arg),
			void *arg)
{
	StringInfoData buf;
	ListCell   *lc;
	int			i = 0;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	foreach(lc, s->inputs)
	{
		MxColumn   *col = &s->rel->columns[lfirst_int(lc) - 1];
		char	   *text = value(s, i, arg);

		if (text == NULL)
			return NULL;
		if (i++ > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, col->input);
		appendStringInfoString(&buf, ": ");
		appendStringInfoString(&buf, text);
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* Input i of search k: the k-th element of the = ANY array, or its value. */
static Datum
input_value(MxRetrieverScan *s, int i, int k, Oid *type)
{
	if (i == s->many)
	{
		*type = s->elem_type;
		return s->elems[k];
	}
	*type = s->types[i];
	return s->values[i];
}

/* Input i of search *arg, as sent. */
static char *
evaluated_input(MxRetrieverScan *s, int i, void *arg)
{
	Oid			type;
	Datum		value;

	if (s->isnull[i])
		return NULL;
	value = input_value(s, i, *(int *) arg, &type);
	return mx_input_json(value, type);
}

/*
 * The elements of the = ANY array: without NULLs (which match nothing)
 * and repeats (one search each, as IN matches a row once), in order.
 */
static void
collect_elements(MxRetrieverScan *s)
{
	ArrayType  *array = DatumGetArrayTypeP(s->values[s->many]);
	int16		typlen;
	bool		byval;
	char		align;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	s->elem_type = ARR_ELEMTYPE(array);
	get_typlenbyvalalign(s->elem_type, &typlen, &byval, &align);
	deconstruct_array(array, s->elem_type, typlen, byval, align,
					  &elems, &nulls, &n);
	s->elems = palloc(sizeof(Datum) * Max(n, 1));
	s->nelems = 0;
	for (i = 0; i < n; i++)
	{
		char	   *text;
		int			j;

		if (nulls[i])
			continue;
		text = mx_input_json(elems[i], s->elem_type);

		for (j = 0; j < s->nelems; j++)
			if (strcmp(text, mx_input_json(s->elems[j], s->elem_type)) == 0)
				break;
		if (j == s->nelems)
			s->elems[s->nelems++] = elems[i];
	}
}

/*
 * Evaluate the inputs (parameters change between rescans) and count the
 * searches: one, or one per element of the = ANY array, those on a batch
 * they share (made after the context of their contexts).
 */
static void
start_search(ForeignScanState *node, MxRetrieverScan *s)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	MemoryContext old = MemoryContextSwitchTo(s->values_cxt);
	ListCell   *lc;
	int			n = 1;
	int			i = 0;

	s->started = true;
	foreach(lc, s->expr_states)
	{
		int16		typlen;
		bool		byval;

		s->values[i] = ExecEvalExpr(lfirst(lc), econtext, &s->isnull[i]);
		get_typlenbyval(s->types[i], &typlen, &byval);
		if (!s->isnull[i])
			s->values[i] = datumCopy(s->values[i], byval, typlen);
		else
			n = 0;				/* a NULL input: no row matches */
		i++;
	}
	if (n > 0 && s->many >= 0)
	{
		collect_elements(s);
		n = s->nelems;
	}
	s->searches = palloc0(sizeof(MxSearch *) * Max(n, 1));
	MemoryContextSwitchTo(old);
	s->nsearches = n;
	s->cur = s->started_upto = 0;
	if (n > 1)
		s->batch = mx_api_batch_in(s->target, mx_max_concurrency, &s->stats,
								   s->scan_cxt, &s->batch_cxt);
}

/*
 * Search k, made when it is about to be sent: only the searches in flight
 * and the current one take memory, however long the = ANY array.
 */
static MxSearch *
search_at(MxRetrieverScan *s, int k)
{
	if (s->searches[k] == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(s->values_cxt);
		char	   *inputs = inputs_text(s, evaluated_input, &k);

		MemoryContextSwitchTo(old);
		s->searches[k] = mx_search_begin(s->searches_cxt, s->target,
										 s->rel->retriever, inputs,
										 s->limit > 0 ? s->limit : -1,
										 s->rel->page_size > 0 ? s->rel->page_size
										 : mx_page_size,
										 &s->stats);
		if (s->batch != NULL)
			mx_search_share_batch(s->searches[k], s->batch);
	}
	return s->searches[k];
}

/*
 * Keep the first pages of the next searches in flight, as many as the
 * batch runs at once; a batch lost with a rolled-back savepoint is made
 * again and what it ran sent again.
 */
static void
keep_searches_ahead(MxRetrieverScan *s)
{
	int			k;

	if (s->batch == NULL)
		return;
	if (mx_batch_lost(s->batch))
	{
		mx_api_batch_drop(&s->batch_cxt);
		s->batch = mx_api_batch_in(s->target, mx_max_concurrency, &s->stats,
								   s->scan_cxt, &s->batch_cxt);
		for (k = s->cur; k < s->nsearches; k++)
			if (s->searches[k] != NULL)
				mx_search_resend(s->searches[k], s->batch);
	}
	while (s->started_upto < s->nsearches &&
		   s->started_upto < s->cur + mx_max_concurrency)
		mx_search_start(search_at(s, s->started_upto++));
}

/* A value for a column through the column type's input function. */
static Datum
column_value(MxColumn *col, const char *text)
{
	Oid			infunc;
	Oid			ioparam;

	getTypeInputInfo(col->typid, &infunc, &ioparam);
	return OidInputFunctionCall(infunc, (char *) text, ioparam, col->typmod);
}

/* The rank and the inputs given: not in the documents, set by the scan. */
static void
set_scan_columns(MxRetrieverScan *s, MxSearchRow *row, TupleTableSlot *slot)
{
	ListCell   *lc;
	int			i = 0;
	int			a;

	for (a = 0; a < s->rel->natts; a++)
	{
		MxColumn   *col = &s->rel->columns[a];

		if (col->name == NULL)
			continue;
		if (col->is_rank)
		{
			slot->tts_values[a] = column_value(col, psprintf(INT64_FORMAT, row->rank));
			slot->tts_isnull[a] = false;
		}
		else if (col->input != NULL)
			slot->tts_isnull[a] = true;
	}
	foreach(lc, s->inputs)
	{
		Oid			type;
		Datum		value = input_value(s, i++, s->cur, &type);

		a = lfirst_int(lc) - 1;
		slot->tts_isnull[a] = false;
		slot->tts_values[a] = type == s->rel->columns[a].typid ? value
			: column_value(&s->rel->columns[a], mx_output_text(value, type));
	}
}

/* Forget search k; its requests are answered, its memory goes. */
static void
end_one_search(MxRetrieverScan *s, int k)
{
	s->pages += s->searches[k]->pages;
	mx_search_end(s->searches[k]);
	s->searches[k] = NULL;
}

/*
 * mx_retriever_iterate
 *		IterateForeignScan: the next row of the current search, then of the
 *		next ones.
 */
TupleTableSlot *
mx_retriever_iterate(ForeignScanState *node)
{
	MxRetrieverScan *s = node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	MxSearchRow row;
	MemoryContext old;

	ExecClearTuple(slot);
	MemoryContextReset(s->tuple_cxt);
	if (!s->started)
		start_search(node, s);
	old = MemoryContextSwitchTo(s->tuple_cxt);
	while (s->cur < s->nsearches)
	{
		keep_searches_ahead(s);
		if (mx_search_next(search_at(s, s->cur), &row))
		{
			mx_convert_document(s->conv, &row.document, s->attrs_used,
								slot->tts_values, slot->tts_isnull);
			set_scan_columns(s, &row, slot);
			ExecStoreVirtualTuple(slot);
			break;
		}
		end_one_search(s, s->cur++);
	}
	MemoryContextSwitchTo(old);
	return slot;
}

/* Stop every search and their batch (first: it reads their requests). */
static void
end_searches(MxRetrieverScan *s)
{
	int			k;

	mx_api_batch_drop(&s->batch_cxt);
	s->batch = NULL;
	for (k = 0; k < s->nsearches; k++)
		if (s->searches[k] != NULL)
			end_one_search(s, k);
	s->nsearches = s->cur = s->started_upto = 0;
	s->searches = NULL;
}

/*
 * mx_retriever_rescan
 *		ReScanForeignScan: the inputs may have changed (a nested loop's next
 *		outer row); searches still in flight are dropped, not waited for.
 */
void
mx_retriever_rescan(ForeignScanState *node)
{
	MxRetrieverScan *s = node->fdw_state;

	end_searches(s);
	MemoryContextReset(s->values_cxt);
	s->started = false;
}

/* mx_retriever_end: EndForeignScan, stopping what is still in flight. */
void
mx_retriever_end(ForeignScanState *node)
{
	MxRetrieverScan *s = node->fdw_state;

	if (s != NULL && s->target != NULL)
		end_searches(s);
}

/* ---------- EXPLAIN ---------- */

/* The i-th input of the plan: a constant as sent, another value as SQL. */
static char *
planned_input(MxRetrieverScan *s, int i, void *arg)
{
	ForeignScanState *node = ((void **) arg)[0];
	ExplainState *es = ((void **) arg)[1];
	Node	   *expr = list_nth(((ForeignScan *) node->ss.ps.plan)->fdw_exprs, i);

	if (i == s->many)
		return psprintf("each of %s",
						deparse_expression(expr, es->deparse_cxt, es->verbose,
										   false));
	if (IsA(expr, Const) && ((Const *) expr)->constisnull)
		return "null";
	if (IsA(expr, Const))
		return mx_input_json(((Const *) expr)->constvalue,
							 ((Const *) expr)->consttype);
	return deparse_expression(expr, es->deparse_cxt, es->verbose, false);
}

/*
 * mx_retriever_explain
 *		ExplainForeignScan: the request and its inputs (VERBOSE), and what
 *		the searches cost (ANALYZE).
 */
void
mx_retriever_explain(ForeignScanState *node, ExplainState *es)
{
	MxRetrieverScan *s = node->fdw_state;
	void	   *arg[2] = {node, es};

	if (es->verbose)
	{
		ExplainPropertyText("Remote Request",
							psprintf("POST %s",
									 mx_api_execute_path(s->rel->retriever)),
							es);
		ExplainPropertyText("Remote Inputs",
							inputs_text(s, planned_input, arg), es);
		if (s->limit > 0)
			ExplainPropertyInteger("Remote Limit", NULL, s->limit, es);
	}
	if (es->analyze)
	{
		uint64		pages = s->pages;
		int			k;

		for (k = s->cur; k < s->nsearches; k++)
			pages += s->searches[k] ? s->searches[k]->pages : 0;

		ExplainPropertyUInteger("Remote Requests", NULL, s->stats.requests, es);
		ExplainPropertyUInteger("Remote Retries", NULL, s->stats.retries, es);
		ExplainPropertyUInteger("Remote Pages", NULL, pages, es);
		ExplainPropertyUInteger("Remote Bytes", NULL, s->stats.bytes, es);
	}
}
