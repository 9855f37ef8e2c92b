/*-------------------------------------------------------------------------
 *
 * upper.c
 *		Aggregates sent to POST /v1/collections/{c}/documents/aggregate:
 *		one request for a GROUP BY query instead of a scan of every document.
 *
 * A grouping is sent only when the API's answer is PostgreSQL's for the
 * same documents (README, "Aggregates"); anything else keeps the normal
 * scan, with PostgreSQL aggregating locally.  What decides it:
 * - the scan's WHERE clauses must all be sent, each exact: an equality or
 *   IN on a text, integer or boolean field, or a range on an int2/int4
 *   one, at the safe level (list filters may otherwise let through more
 *   documents than the clause accepts, which a scan rechecks locally and
 *   an aggregate cannot);
 * - every column grouped, aggregated or filtered has one location in the
 *   documents: a standard column that reads the flat root or _internal
 *   cannot be grouped by one field;
 * - every column grouped or aggregated is known never to be null or
 *   missing (document_id, collection_id, a NOT NULL column, or one with an
 *   exact condition): the API does not document how it groups or counts
 *   missing fields, and may leave them out of every group;
 * - only what stays exact whatever the API computes in: count(*),
 *   count(col), count(DISTINCT col) and min/max of int2/int4 and of text
 *   under the C collation; sum and avg of integers, which the API may add
 *   in doubles, are sent with the group's count, min and max, and accepted
 *   only when count * max(|min|, |max|) shows every partial sum a double
 *   holds exactly (else an ERROR, never an inexact sum); sum and avg of
 *   double precision, whose order of addition PostgreSQL itself leaves
 *   open; a sum may be of a column with nulls (min and max tell a group
 *   without a number), an avg needs every document's value;
 * - date_trunc of a timestamptz column to a unit from year to second, as
 *   a group key, only while the session's time zone is UTC's: the API
 *   truncates in UTC, PostgreSQL in the session's zone (a plan run later
 *   in another zone is an ERROR);
 * - HAVING only as comparisons of a pushed count with a constant, and only
 *   with GROUP BY (without it, no group in the answer could be no
 *   document or a group the HAVING removed);
 * - on top of a grouping sent, an ORDER BY of one output column that the
 *   API sorts as PostgreSQL does, and a constant LIMIT without OFFSET.
 * As with list filters, a field is assumed to hold the JSON type of its
 * column (strings for text, numbers for integers).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/tlist.h"
#include "parser/parsetree.h"
#include "parser/scansup.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/pg_locale.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/selfuncs.h"

#if PG_VERSION_NUM >= 180000
#include "commands/explain_format.h"
#include "commands/explain_state.h"
#endif

#include "compat.h"
#include "mixpeek_fdw.h"
#include "settings.h"

/* The slots of an aggregate plan's fdw_private. */
enum MxUpperPrivate
{
	UP_RELID,					/* the foreign table */
	UP_RTINDEX,					/* its range table index */
	UP_SPEC,					/* MxScanSpec of its filters */
	UP_BODY,					/* group_by, aggregations, having */
	UP_ALIASES,					/* per output column: its alias */
	UP_GROUPED,					/* per output column: its MxUpperOutput */
	UP_NOGROUP,					/* no GROUP BY: one row even for none */
	UP_EXPRS,					/* the path's only: the filters' values,
								 * the plan's fdw_exprs */
	UP_TLIST					/* the path's only: the grouping's output
								 * columns, the plan's fdw_scan_tlist */
};

/*
 * What an output column is read from.  A sum or an average comes from
 * four metrics: the API's sum, count, min and max (its alias, and the
 * alias followed by n, l, h).
 */
typedef enum MxUpperOutput
{
	OUT_METRIC = 0,				/* a metric as it comes */
	OUT_GROUP = 1,				/* a group key as it comes */
	OUT_GROUP_UTC,				/* a group key truncated in UTC */
	OUT_SUM_INT,				/* sum of integers: exact, or an ERROR */
	OUT_AVG_INT,				/* their avg: numeric sum / count */
	OUT_SUM_FLOAT,				/* sum of doubles */
	OUT_AVG_FLOAT				/* their avg: sum / count */
} MxUpperOutput;

/*
 * What the planner learnt of a grouping, an ordering or a final LIMIT of
 * it (the fdw_private of the upper relation): an ORDER BY and a LIMIT are
 * sent only on top of a grouping that is sent.
 */
typedef struct MxUpperState
{
	bool		sent;			/* a path that sends it was added */
	UpperRelationKind stage;
	List	   *priv;			/* that path's fdw_private */
	double		rows;
	bool		sorted;			/* an ORDER BY is sent */
} MxUpperState;

/* What a grouping sends, while it is being looked at. */
typedef struct MxUpperBuild
{
	Oid			table;			/* the foreign table */
	MxRelation *rel;
	TupleDesc	desc;			/* with its NOT NULL constraints */
	Index		relid;			/* its range table index */
	MxScanSpec *spec;
	StringInfoData group_by;
	StringInfoData aggs;
	StringInfoData having;
	List	   *aggrefs;		/* Aggref * sent, alias "a<n>" by position */
	List	   *aliases;
	List	   *grouped;
	List	   *exprs;			/* the output columns */
	int			ngroups;
} MxUpperBuild;

/* The column a Var is, if every use of it is exact (see the header). */
static MxColumn *
single_column(MxUpperBuild *b, Node *node)
{
	Var		   *var;
	MxColumn   *col;

	if (node == NULL || !IsA(node, Var))
		return NULL;
	var = (Var *) node;
	if (var->varno != b->relid || var->varlevelsup != 0 ||
		var->varattno <= 0 || var->varattno > b->rel->natts)
		return NULL;
	col = &b->rel->columns[var->varattno - 1];
	if (col->name == NULL || col->whole_document || col->nlocations != 1 ||
		!col->locations[0].remote_ok ||
		col->locations[0].blob_urls != MX_BLOB_URLS_NONE)
		return NULL;
	return col;
}

static bool
exact_type(Oid typid, bool ranges)
{
	if (typid == INT2OID || typid == INT4OID)
		return true;
	return !ranges && (typid == TEXTOID || typid == VARCHAROID ||
					   typid == BOOLOID);
}

/* A sent condition that keeps exactly the documents the clause keeps. */
static bool
exact_condition(MxUpperBuild *b, MxCond *cond)
{
	MxColumn   *col;

	if (cond->level != MX_PUSHDOWN_SAFE || cond->attnum <= 0)
		return false;
	col = &b->rel->columns[cond->attnum - 1];
	if (col->nlocations != 1)
		return false;
	switch (cond->op)
	{
		case MX_OP_EQ:
		case MX_OP_IN:
			return exact_type(col->typid, false);
		case MX_OP_LT:
		case MX_OP_LE:
		case MX_OP_GT:
		case MX_OP_GE:
			return exact_type(col->typid, true);
		default:
			return false;
	}
}

/* Is the column never null or missing in the documents counted? */
static bool
never_null(MxUpperBuild *b, MxColumn *col)
{
	const MxStandardColumn *std = mx_standard_location(col->locations[0].dotted);
	ListCell   *lc;

	if (std != NULL && std->nested == NULL && std->flat != NULL)
		return true;			/* document_id, collection_id */
	if (TupleDescAttr(b->desc, col->attnum - 1)->attnotnull)
		return true;
	foreach(lc, b->spec->conds)
	{
		if (((MxCond *) lfirst(lc))->attnum == col->attnum)
			return true;		/* every exact condition is strict */
	}
	return false;
}

static void
append_sep(StringInfo buf)
{
	if (buf->len > 0)
		appendStringInfoChar(buf, ',');
}

/* An output column of the scan, from a group of the answer or its metrics. */
static void
add_column(MxUpperBuild *b, Expr *expr, char *alias, MxUpperOutput kind)
{
	b->exprs = lappend(b->exprs, expr);
	b->aliases = lappend(b->aliases, makeString(alias));
	b->grouped = lappend_int(b->grouped, kind);
}

/* A group key: a column whose values group as PostgreSQL's equality does. */
static bool
add_group_key(MxUpperBuild *b, Expr *expr)
{
	MxColumn   *col = single_column(b, (Node *) expr);
	char	   *alias;

	if (col == NULL || !exact_type(col->typid, false) || !never_null(b, col))
		return false;
	if (OidIsValid(col->collid) &&
		!get_collation_isdeterministic(exprCollation((Node *) expr)))
		return false;
	alias = psprintf("g%d", ++b->ngroups);
	append_sep(&b->group_by);
	appendStringInfoString(&b->group_by, "{\"field\":");
	escape_json(&b->group_by, col->locations[0].dotted);
	appendStringInfo(&b->group_by, ",\"alias\":\"%s\"}", alias);
	add_column(b, expr, alias, OUT_GROUP);
	return true;
}

/* How an aggregate's value is read from the metrics of a group. */
static MxUpperOutput
output_kind(Aggref *agg)
{
	switch (agg->aggfnoid)
	{
		case F_SUM_INT2:
		case F_SUM_INT4:
		case F_SUM_INT8:
			return OUT_SUM_INT;
		case F_AVG_INT2:
		case F_AVG_INT4:
		case F_AVG_INT8:
			return OUT_AVG_INT;
		case F_SUM_FLOAT8:
			return OUT_SUM_FLOAT;
		case F_AVG_FLOAT8:
			return OUT_AVG_FLOAT;
		default:
			return OUT_METRIC;
	}
}

/*
 * Does the session's time zone truncate as UTC does?  Only a zone that
 * never had an offset (UTC, Etc/UTC, GMT, ...) does.
 */
static bool
zone_is_utc(void)
{
	long		offset;

	return pg_get_timezone_offset(session_timezone, &offset) && offset == 0;
}

/*
 * The API's date_trunc unit for a constant unit of PostgreSQL's, read as
 * date_trunc reads it; NULL for a unit the API lacks or truncates
 * otherwise (week: the API does not say which day starts it).
 */
static const char *
trunc_unit(Node *node)
{
	char	   *unit;
	int			val;

	if (!IsA(node, Const) || ((Const *) node)->constisnull ||
		((Const *) node)->consttype != TEXTOID)
		return NULL;
	unit = TextDatumGetCString(((Const *) node)->constvalue);
	unit = downcase_truncate_identifier(unit, strlen(unit), false);
	if (DecodeUnits(0, unit, &val) != UNITS)
		return NULL;
	switch (val)
	{
		case DTK_YEAR:
			return "year";
		case DTK_MONTH:
			return "month";
		case DTK_DAY:
			return "day";
		case DTK_HOUR:
			return "hour";
		case DTK_MINUTE:
			return "minute";
		case DTK_SECOND:
			return "second";
		default:
			return NULL;
	}
}

/*
 * A group key date_trunc('unit', col) of a timestamptz column, sent while
 * the session's time zone is UTC's; the API's group value ("2024-01-01T
 * 00:00:00Z") is read by timestamptz's input.
 */
static bool
add_trunc_key(MxUpperBuild *b, Expr *expr)
{
	FuncExpr   *fn = (FuncExpr *) expr;
	MxColumn   *col;
	const char *unit;
	char	   *alias;

	if (!IsA(expr, FuncExpr) ||
		fn->funcid != F_DATE_TRUNC_TEXT_TIMESTAMPTZ || !zone_is_utc())
		return false;
	unit = trunc_unit(linitial(fn->args));
	col = single_column(b, lsecond(fn->args));
	if (unit == NULL || col == NULL || col->typid != TIMESTAMPTZOID ||
		!never_null(b, col))
		return false;
	alias = psprintf("g%d", ++b->ngroups);
	append_sep(&b->group_by);
	appendStringInfoString(&b->group_by, "{\"field\":");
	escape_json(&b->group_by, col->locations[0].dotted);
	appendStringInfo(&b->group_by, ",\"alias\":\"%s\",\"date_trunc\":\"%s\"}",
					 alias, unit);
	add_column(b, expr, alias, OUT_GROUP_UTC);
	return true;
}

/* The API function of an aggregate, or NULL when it cannot be sent. */
static const char *
agg_function(MxUpperBuild *b, Aggref *agg, MxColumn **col)
{
	Oid			fn = agg->aggfnoid;

	*col = NULL;
	if (agg->aggfilter != NULL || agg->aggorder != NIL ||
		agg->aggkind != AGGKIND_NORMAL || agg->aggvariadic ||
		agg->agglevelsup != 0 || agg->aggsplit != AGGSPLIT_SIMPLE)
		return NULL;
	if (fn == F_COUNT_)
		return "count";
	if (list_length(agg->args) != 1)
		return NULL;
	*col = single_column(b, (Node *) ((TargetEntry *) linitial(agg->args))->expr);
	if (*col == NULL || (!never_null(b, *col) &&
						 output_kind(agg) != OUT_SUM_INT &&
						 output_kind(agg) != OUT_SUM_FLOAT))
		return NULL;
	if (fn == F_COUNT_ANY)
	{
		if (agg->aggdistinct == NIL)
			return "count";
		/* distinct as the API's equality: bytes for text */
		if (!exact_type((*col)->typid, false) ||
			(OidIsValid(agg->inputcollid) &&
			 !get_collation_isdeterministic(agg->inputcollid)))
			return NULL;
		return "count_distinct";
	}
	if (agg->aggdistinct != NIL)
		return NULL;
	if (output_kind(agg) != OUT_METRIC)
		return "sum";			/* and add_sum_parts */
	if (fn == F_MIN_INT2 || fn == F_MIN_INT4 ||
		(fn == F_MIN_TEXT && mx_collation_is_c(agg->inputcollid)))
		return "min";
	if (fn == F_MAX_INT2 || fn == F_MAX_INT4 ||
		(fn == F_MAX_TEXT && mx_collation_is_c(agg->inputcollid)))
		return "max";
	return NULL;
}

/* The alias of an aggregate sent already, or NULL. */
static char *
sent_alias(MxUpperBuild *b, Aggref *agg)
{
	ListCell   *lc;
	int			i = 0;

	foreach(lc, b->aggrefs)
	{
		i++;
		if (equal(lfirst(lc), agg))
			return psprintf("a%d", i);
	}
	return NULL;
}

/*
 * What a sum or an average needs besides the API's sum: the group's count
 * (of documents), and min and max of the field (null for no number).
 */
static void
add_sum_parts(MxUpperBuild *b, const char *alias, MxColumn *col)
{
	static const char *const parts[][2] = {{"min", "l"}, {"max", "h"}};
	int			i;

	appendStringInfo(&b->aggs, ",{\"function\":\"count\",\"alias\":\"%sn\"}",
					 alias);
	for (i = 0; i < lengthof(parts); i++)
	{
		appendStringInfo(&b->aggs,
						 ",{\"function\":\"%s\",\"alias\":\"%s%s\",\"field\":",
						 parts[i][0], alias, parts[i][1]);
		escape_json(&b->aggs, col->locations[0].dotted);
		appendStringInfoChar(&b->aggs, '}');
	}
}

/*
 * The alias of a sum or an average of the same column sent already: one
 * sum, count, min and max serve both.
 */
static char *
summed_alias(MxUpperBuild *b, Aggref *agg)
{
	ListCell   *lc;

	foreach(lc, b->aggrefs)
	{
		Aggref	   *sent = lfirst(lc);

		if (output_kind(sent) != OUT_METRIC && equal(sent->args, agg->args))
			return psprintf("a%d", foreach_current_index(lc) + 1);
	}
	return NULL;
}

/* Send an aggregate (once however often it is used); its alias or NULL. */
static char *
add_aggregate(MxUpperBuild *b, Aggref *agg)
{
	MxColumn   *col;
	const char *fn;
	char	   *alias = sent_alias(b, agg);

	if (alias != NULL)
		return alias;
	fn = agg_function(b, agg, &col);
	if (fn == NULL)
		return NULL;
	if (output_kind(agg) != OUT_METRIC && (alias = summed_alias(b, agg)) != NULL)
		return alias;
	b->aggrefs = lappend(b->aggrefs, agg);
	alias = psprintf("a%d", list_length(b->aggrefs));
	append_sep(&b->aggs);
	appendStringInfo(&b->aggs, "{\"function\":\"%s\",\"alias\":\"%s\"",
					 fn, alias);
	if (col != NULL)
	{
		appendStringInfoString(&b->aggs, strcmp(fn, "count_distinct") == 0
							   ? ",\"distinct_field\":" : ",\"field\":");
		escape_json(&b->aggs, col->locations[0].dotted);
	}
	appendStringInfoChar(&b->aggs, '}');
	if (output_kind(agg) != OUT_METRIC)
		add_sum_parts(b, alias, col);
	return alias;
}

/* HAVING count(...) op constant, as a HavingCondition. */
static bool
add_having(MxUpperBuild *b, Expr *clause)
{
	static const char *const names[] = {"lt", "lte", "eq", "gte", "gt"};
	OpExpr	   *op;
	Node	   *left,
			   *right;
	int			strategy;
	Oid			negator;
	const char *name;
	char	   *alias;
	int64		value;

	if (!IsA(clause, OpExpr) || list_length(((OpExpr *) clause)->args) != 2)
		return false;
	op = (OpExpr *) clause;
	left = linitial(op->args);
	right = lsecond(op->args);
	if (!IsA(left, Aggref) || !IsA(right, Const) ||
		((Const *) right)->constisnull || exprType(left) != INT8OID)
		return false;
	/* the API would compare its own sum, unchecked and 0 for no number */
	if (output_kind((Aggref *) left) != OUT_METRIC)
		return false;
	switch (((Const *) right)->consttype)
	{
		case INT8OID:
			value = DatumGetInt64(((Const *) right)->constvalue);
			break;
		case INT4OID:
			value = DatumGetInt32(((Const *) right)->constvalue);
			break;
		case INT2OID:
			value = DatumGetInt16(((Const *) right)->constvalue);
			break;
		default:
			return false;
	}
	strategy = get_op_opfamily_strategy(op->opno, INTEGER_BTREE_FAM_OID);
	negator = get_negator(op->opno);
	if (strategy >= BTLessStrategyNumber && strategy <= BTGreaterStrategyNumber)
		name = names[strategy - 1];
	else if (OidIsValid(negator) &&
			 get_op_opfamily_strategy(negator, INTEGER_BTREE_FAM_OID) ==
			 BTEqualStrategyNumber)
		name = "ne";
	else
		return false;
	alias = add_aggregate(b, (Aggref *) left);
	if (alias == NULL)
		return false;
	append_sep(&b->having);
	appendStringInfo(&b->having,
					 "{\"field\":\"%s\",\"operator\":\"%s\",\"value\":" INT64_FORMAT "}",
					 alias, name, value);
	return true;
}

/*
 * An output expression computed from aggregates (count(*) * 2, or the
 * aggregate alone) and group keys: each aggregate becomes a column of the
 * scan, PostgreSQL computes the rest from the scan's columns.
 */
static bool
add_aggregates_of(MxUpperBuild *b, Expr *expr, List **vars)
{
	ListCell   *lc;

	foreach(lc, pull_var_clause((Node *) expr, PVC_INCLUDE_AGGREGATES))
	{
		Node	   *node = lfirst(lc);
		char	   *alias;

		if (!IsA(node, Aggref))
		{
			*vars = lappend(*vars, node);	/* must be a group key */
			continue;
		}
		if (list_member(b->exprs, node))
			continue;
		alias = add_aggregate(b, (Aggref *) node);
		if (alias == NULL)
			return false;
		add_column(b, (Expr *) node, alias, output_kind((Aggref *) node));
	}
	return true;
}

/* Each output column: a group key or computed from sent aggregates. */
static bool
add_outputs(PlannerInfo *root, MxUpperBuild *b, PathTarget *target)
{
	ListCell   *lc;
	List	   *vars = NIL;
	int			i = 0;

	foreach(lc, target->exprs)
	{
		Expr	   *expr = lfirst(lc);
		Index		ref = get_pathtarget_sortgroupref(target, i++);

		if (ref != 0 &&
			get_sortgroupref_clause_noerr(ref, root->parse->groupClause))
		{
			if (!add_group_key(b, expr) && !add_trunc_key(b, expr))
				return false;
		}
		else if (contain_volatile_functions((Node *) expr) ||
				 !add_aggregates_of(b, expr, &vars))
			return false;
	}
	foreach(lc, vars)
	{
		if (!list_member(b->exprs, lfirst(lc)))
			return false;
	}
	return b->ngroups == list_length(root->parse->groupClause);
}

/*
 * The scan's filters, if all of them are sent and exact; fdw_exprs gets
 * their values.
 */
static MxScanSpec *
exact_filters(PlannerInfo *root, RelOptInfo *input_rel, MxUpperBuild *b,
			  List **fdw_exprs)
{
	MxIdLookup	id;
	List	   *remote;
	List	   *local;
	List	   *classified;
	MxScanSpec *spec;
	ListCell   *lc;

	mx_classify_conditions(root, input_rel, b->rel,
						   input_rel->baserestrictinfo, &id, &remote, &local,
						   &classified);
	/*
	 * An id lookup is left to the scan, which batches the ids (an array of
	 * them may be longer than one request should carry).
	 */
	if (local != NIL || id.value != NULL)
		return NULL;
	spec = mx_build_scan_spec(root, input_rel, b->rel, classified, &id, NULL,
							  fdw_exprs);
	foreach(lc, spec->conds)
	{
		if (!exact_condition(b, lfirst(lc)))
			return NULL;
	}
	return spec;
}

/* Is the grouping of this relation one to consider at all? */
static bool
groupable(PlannerInfo *root, RelOptInfo *input_rel, GroupPathExtraData *extra)
{
	RangeTblEntry *rte;

	if (mx_pushdown == MX_PUSHDOWN_OFF || !mx_aggregate_pushdown ||
		input_rel->reloptkind != RELOPT_BASEREL ||
		input_rel->rtekind != RTE_RELATION)
		return false;
	if (root->parse->groupingSets != NIL ||
		extra->patype != PARTITIONWISE_AGGREGATE_NONE)
		return false;
	rte = planner_rt_fetch(input_rel->relid, root);
	return !mx_is_retriever_table(rte->relid);
}

/* The fdw_private of a path that sends the grouping (enum MxUpperPrivate). */
static List *
upper_private(MxUpperBuild *b, bool nogroup, List *fdw_exprs)
{
	StringInfoData body;
	List	   *priv;

	initStringInfo(&body);
	appendStringInfo(&body, "\"group_by\":[%s],\"aggregations\":[%s]",
					 nogroup ? "{\"field\":\"collection_id\",\"alias\":\"g0\"}"
					 : b->group_by.data, b->aggs.data);
	if (b->having.len > 0)
		appendStringInfo(&body, ",\"having\":[%s]", b->having.data);
	priv = list_make5(makeInteger((int) b->table), makeInteger((int) b->relid),
					  mx_spec_to_list(b->spec), makeString(body.data),
					  b->aliases);
	priv = lappend(priv, b->grouped);
	priv = lappend(priv, makeInteger(nogroup));
	priv = lappend(priv, fdw_exprs);
	return lappend(priv, b->exprs);
}

/*
 * Whether everything the grouping computes can be sent, filling b and the
 * filters' values.
 */
static bool
build_grouping(PlannerInfo *root, RelOptInfo *input_rel,
			   RelOptInfo *output_rel, GroupPathExtraData *extra,
			   MxUpperBuild *b, List **fdw_exprs)
{
	Oid			relid = planner_rt_fetch(input_rel->relid, root)->relid;
	Relation	relation = table_open(relid, NoLock);
	List	   *having = (List *) extra->havingQual;
	ListCell   *lc;

	memset(b, 0, sizeof(MxUpperBuild));
	b->table = relid;
	b->desc = CreateTupleDescCopyConstr(RelationGetDescr(relation));
	b->rel = mx_fdw_relation(relid, RelationGetDescr(relation));
	table_close(relation, NoLock);
	b->relid = input_rel->relid;
	initStringInfo(&b->group_by);
	initStringInfo(&b->aggs);
	initStringInfo(&b->having);

	b->spec = exact_filters(root, input_rel, b, fdw_exprs);
	if (b->spec == NULL || b->rel->collection == NULL ||
		!add_outputs(root, b, output_rel->reltarget))
		return false;
	if (having != NIL && !IsA(having, List))
		having = list_make1(having);
	foreach(lc, having)
	{
		if (!add_having(b, lfirst(lc)))
			return false;
	}
	/*
	 * Without GROUP BY there is one group even for no document, which a
	 * HAVING may remove: the API's answer of no group could mean either.
	 */
	if (having != NIL && root->parse->groupClause == NIL)
		return false;
	/* the API needs an aggregation: a GROUP BY alone asks for a count */
	if (b->aggrefs == NIL)
		appendStringInfoString(&b->aggs, "{\"function\":\"count\",\"alias\":\"a0\"}");
	return true;
}

/* A path of an upper relation: all its rows arrive in one answer. */
static void
add_upper_path(PlannerInfo *root, RelOptInfo *rel, PathTarget *target,
			   double rows, List *pathkeys, MxUpperState *state)
{
	Cost		cost = MX_COST_AGGREGATE_REQUEST + rows * cpu_tuple_cost;

	state->sent = true;
	state->rows = rows;
	add_path(rel, (Path *) mx_create_foreign_upper_path(root, rel, target,
														rows, cost, cost,
														pathkeys, NULL,
														state->priv));
}

/* The grouping, with a body that asks for more (sort, limit). */
static List *
private_asking(List *priv, const char *more)
{
	priv = list_copy(priv);
	list_nth_cell(priv, UP_BODY)->ptr_value =
		makeString(psprintf("%s%s", strVal(list_nth(priv, UP_BODY)), more));
	return priv;
}

static void
grouping_paths(PlannerInfo *root, RelOptInfo *input_rel,
			   RelOptInfo *grouped_rel, GroupPathExtraData *extra,
			   MxUpperState *state)
{
	MxUpperBuild b;
	List	   *fdw_exprs = NIL;
	bool		nogroup = root->parse->groupClause == NIL;
	double		rows;

	if (!groupable(root, input_rel, extra) ||
		!build_grouping(root, input_rel, grouped_rel, extra, &b, &fdw_exprs))
		return;
	rows = nogroup ? 1 :
		estimate_num_groups(root,
							get_sortgrouplist_exprs(root->parse->groupClause,
													extra->targetList),
							input_rel->rows, NULL, NULL);
	state->priv = upper_private(&b, nogroup, fdw_exprs);
	add_upper_path(root, grouped_rel, grouped_rel->reltarget, rows, NIL,
				   state);
}

/* The position of an equal node in a list, or -1. */
static int
list_index_of(List *list, void *node)
{
	ListCell   *lc;

	foreach(lc, list)
	{
		if (equal(lfirst(lc), node))
			return foreach_current_index(lc);
	}
	return -1;
}

/*
 * The alias an ORDER BY of the groups sorts on, when Mixpeek sorts as
 * PostgreSQL does: one key, an output column never null (group keys and
 * sent aggregates are), integers, booleans, or text in the C collation.
 */
static char *
sort_alias(PlannerInfo *root, MxUpperState *grouping, bool *desc)
{
	PathKey    *pk;
	List	   *exprs = list_nth(grouping->priv, UP_TLIST);
	ListCell   *lm;

	if (list_length(root->sort_pathkeys) != 1 ||
		intVal(list_nth(grouping->priv, UP_NOGROUP)))
		return NULL;
	pk = linitial_node(PathKey, root->sort_pathkeys);
	if (pk->pk_eclass->ec_has_volatile ||
		(!mx_pathkey_is_asc(pk) && !mx_pathkey_is_desc(pk)))
		return NULL;
	*desc = mx_pathkey_is_desc(pk);
	foreach(lm, pk->pk_eclass->ec_members)
	{
		Expr	   *em = ((EquivalenceMember *) lfirst(lm))->em_expr;
		Oid			type = exprType((Node *) em);
		int			i;

		if (type != INT2OID && type != INT4OID && type != INT8OID &&
			type != BOOLOID &&
			!((type == TEXTOID || type == VARCHAROID) &&
			  mx_collation_is_c(pk->pk_eclass->ec_collation)))
			continue;
		i = list_index_of(exprs, em);
		/* not on a sum: the API's own, unchecked, 0 for no number */
		if (i >= 0 &&
			list_nth_int(list_nth(grouping->priv, UP_GROUPED), i) <= OUT_GROUP)
			return strVal(list_nth(list_nth(grouping->priv, UP_ALIASES), i));
	}
	return NULL;
}

/*
 * The state of an upper relation below whose path sends it, else NULL (a
 * base relation's fdw_private is the scan's own).
 */
static MxUpperState *
sent_below(RelOptInfo *rel)
{
	MxUpperState *state = rel->fdw_private;

	if (rel->reloptkind != RELOPT_UPPER_REL || state == NULL || !state->sent)
		return NULL;
	return state;
}

/* ORDER BY on the groups of a grouping that is sent. */
static void
ordered_paths(PlannerInfo *root, RelOptInfo *grouped_rel,
			  RelOptInfo *ordered_rel, MxUpperState *state)
{
	MxUpperState *grouping = sent_below(grouped_rel);
	char	   *alias;
	bool		desc;

	if (grouping == NULL || grouping->stage != UPPERREL_GROUP_AGG ||
		root->parse->hasTargetSRFs ||
		(alias = sort_alias(root, grouping, &desc)) == NULL)
		return;
	state->priv = private_asking(grouping->priv,
								 psprintf(",\"sort_by\":\"%s\",\"sort_direction\":\"%s\"",
										  alias, desc ? "desc" : "asc"));
	state->sorted = true;
	add_upper_path(root, ordered_rel, root->upper_targets[UPPERREL_ORDERED],
				   grouping->rows, root->sort_pathkeys, state);
}

/* A LIMIT (without OFFSET) on the groups, sorted by the API or not. */
static void
final_paths(PlannerInfo *root, RelOptInfo *input_rel, RelOptInfo *final_rel,
			FinalPathExtraData *extra, MxUpperState *state)
{
	Query	   *parse = root->parse;
	MxUpperState *below = sent_below(input_rel);
	Const	   *count = (Const *) parse->limitCount;
	int64		limit;

	if (below == NULL || !extra->limit_needed ||
		parse->commandType != CMD_SELECT || parse->rowMarks != NIL ||
		parse->hasTargetSRFs || parse->limitOption != LIMIT_OPTION_COUNT ||
		parse->limitOffset != NULL || count == NULL || !IsA(count, Const) ||
		count->constisnull || count->consttype != INT8OID ||
		intVal(list_nth(below->priv, UP_NOGROUP)))
		return;
	limit = DatumGetInt64(count->constvalue);
	if (limit <= 0 || limit > MX_AGGREGATE_LIMIT_MAX)
		return;
	state->priv = private_asking(below->priv,
								 psprintf(",\"limit\":" INT64_FORMAT, limit));
	add_upper_path(root, final_rel, root->upper_targets[UPPERREL_FINAL],
				   Min(below->rows, limit),
				   below->sorted ? root->sort_pathkeys : NIL, state);
}

/*
 * mx_upper_paths
 *		GetForeignUpperPaths: a path that sends a GROUP BY (or a plain
 *		aggregate) of a collection table to the aggregate endpoint, and on
 *		top of it the ORDER BY and the LIMIT of the groups.
 */
void
mx_upper_paths(PlannerInfo *root, UpperRelationKind stage,
			   RelOptInfo *input_rel, RelOptInfo *output_rel, void *extra)
{
	MxUpperState *state;

	/* as postgres_fdw, each upper relation is looked at once */
	if ((stage != UPPERREL_GROUP_AGG && stage != UPPERREL_ORDERED &&
		 stage != UPPERREL_FINAL) || output_rel->fdw_private != NULL)
		return;
	state = palloc0(sizeof(MxUpperState));
	state->stage = stage;
	output_rel->fdw_private = state;
	if (stage == UPPERREL_GROUP_AGG)
		grouping_paths(root, input_rel, output_rel, extra, state);
	else if (stage == UPPERREL_ORDERED)
		ordered_paths(root, input_rel, output_rel, state);
	else
		final_paths(root, input_rel, output_rel, extra, state);
}

/*
 * mx_upper_plan
 *		GetForeignPlan of an aggregate path: a scan of no relation whose
 *		rows are the grouping's output columns (the order of the aliases);
 *		the plan's own target list is computed from them.
 */
ForeignScan *
mx_upper_plan(PlannerInfo *root, RelOptInfo *rel, ForeignPath *best_path,
			  List *tlist, Plan *outer_plan)
{
	List	   *priv = best_path->fdw_private;
	List	   *scan_tlist = NIL;
	ListCell   *lc;

	foreach(lc, (List *) list_nth(priv, UP_TLIST))
		scan_tlist = lappend(scan_tlist,
							 makeTargetEntry(copyObject(lfirst(lc)),
											 list_length(scan_tlist) + 1,
											 NULL, false));
	return make_foreignscan(tlist, NIL, 0, list_nth(priv, UP_EXPRS),
							list_truncate(list_copy(priv), UP_EXPRS),
							scan_tlist, NIL, outer_plan);
}

/* A scan of no relation is an aggregate's: nothing else is planned so. */
bool
mx_is_upper_plan(ForeignScan *plan)
{
	return plan->scan.scanrelid == 0;
}

typedef struct MxUpperScan
{
	MxRelation *rel;
	MxScanSpec *spec;
	const char *body_head;
	List	   *aliases;
	List	   *grouped;
	bool		nogroup;
	bool		utc;			/* a group key truncated in UTC */
	List	   *tlist;			/* the output columns' expressions */
	int			nexprs;
	Datum	   *values;
	bool	   *isnull;
	Oid		   *types;
	List	   *expr_states;
	MxTarget   *target;
	MemoryContext cxt;			/* the answer's, emptied by a rescan */
	MemoryContext batch_cxt;
	MxHttpStats stats;
	MxHttpRequest *req;			/* the answer's request, for messages */
	bool		fetched;
	JsonbContainer *results;	/* NULL: no group */
	int			nresults;
	int			next;
} MxUpperScan;

/* The role whose user mapping the requests use. */
static Oid
upper_user(ForeignScan *plan, EState *estate)
{
#if PG_VERSION_NUM >= 160000
	(void) estate;
	return OidIsValid(plan->checkAsUser) ? plan->checkAsUser : GetUserId();
#else
	RangeTblEntry *rte = exec_rt_fetch(intVal(list_nth(plan->fdw_private,
														UP_RTINDEX)), estate);

	return OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
#endif
}

/*
 * mx_upper_begin
 *		BeginForeignScan of an aggregate: nothing is sent before the first
 *		row is asked for; EXPLAIN alone resolves no key.
 */
void
mx_upper_begin(ForeignScanState *node, int eflags)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	MxUpperScan *s = palloc0(sizeof(MxUpperScan));
	Oid			relid = (Oid) intVal(list_nth(plan->fdw_private, UP_RELID));
	Relation	relation = table_open(relid, NoLock);

	node->fdw_state = s;
	s->rel = mx_fdw_relation(relid, RelationGetDescr(relation));
	table_close(relation, NoLock);
	s->spec = mx_spec_from_list(list_nth(plan->fdw_private, UP_SPEC));
	s->body_head = strVal(list_nth(plan->fdw_private, UP_BODY));
	s->aliases = list_nth(plan->fdw_private, UP_ALIASES);
	s->grouped = list_nth(plan->fdw_private, UP_GROUPED);
	s->nogroup = intVal(list_nth(plan->fdw_private, UP_NOGROUP)) != 0;
	s->utc = list_member_int(s->grouped, OUT_GROUP_UTC);
	s->tlist = plan->fdw_scan_tlist;
	s->nexprs = mx_scan_values(plan, &s->values, &s->isnull, &s->types);
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	s->target = mx_fdw_target(s->rel->serverid,
							  upper_user(plan, node->ss.ps.state),
							  s->rel->namespace);
	s->expr_states = ExecInitExprList(plan->fdw_exprs, (PlanState *) node);
	s->cxt = AllocSetContextCreate(CurrentMemoryContext,
								   "mixpeek_fdw aggregate",
								   ALLOCSET_DEFAULT_SIZES);
}

/* The request body, with the filters' values (or, for EXPLAIN, shown). */
static char *
upper_body(MxUpperScan *s, const char **shown, bool *none)
{
	char	   *filters,
			   *sort,
			   *select;
	StringInfoData body;

	*none = shown == NULL &&
		mx_list_body(s->rel, s->spec, s->values, s->isnull, s->types,
					 NULL) == NULL;
	mx_explain_parts(s->rel, s->spec, s->values, s->isnull, s->types, shown,
					 &filters, &sort, &select);
	initStringInfo(&body);
	appendStringInfo(&body, "{%s", s->body_head);
	if (filters != NULL)
		appendStringInfo(&body, ",\"filters\":%s", filters);
	appendStringInfoChar(&body, '}');
	return body.data;
}

/* A JSON object's member, or an error naming the request. */
static JsonbValue *
member_of(MxUpperScan *s, JsonbContainer *object, const char *key,
		  enum jbvType type)
{
	JsonbValue	k;
	JsonbValue *v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = object == NULL || !JsonContainerIsObject(object) ? NULL
		: findJsonbValueFromContainer(object, JB_FOBJECT, &k);
	if (v == NULL || (type != jbvNull && v->type != type))
		mx_api_report_unexpected(s->req,
								 psprintf("The aggregate answer has no valid \"%s\".",
										  key));
	return v;
}

/*
 * A refused aggregate (400, 422) is an ERROR rather than a scan retried
 * without it: the rows of a scan would need the aggregation the plan has
 * left out.
 */
static void
check_refusal(MxHttpRequest *req)
{
	MxRejection *rej = mx_api_rejection(req);
	ErrorContextCallback errcb;

	if (rej == NULL)
		return;
	mx_api_enter_request(&errcb, req);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("Mixpeek refused the aggregate request with HTTP %ld",
					rej->status),
			 rej->words ? errdetail_internal("%s", rej->words) : 0,
			 errhint("Set mixpeek.aggregate_pushdown to \"off\" to aggregate the documents locally.")));
}

/* Send the aggregate request and keep its results. */
static void
fetch_groups(ForeignScanState *node, MxUpperScan *s)
{
	MemoryContext old = MemoryContextSwitchTo(s->cxt);
	bool		none;
	char	   *body;
	MxBatch    *batch;
	Jsonb	   *answer;
	JsonbValue *v;

	mx_scan_evaluate(node, s->expr_states, s->values, s->isnull);
	body = upper_body(s, NULL, &none);
	s->fetched = true;
	s->results = NULL;
	s->nresults = 0;
	s->next = 0;
	if (!none)
	{
		batch = mx_api_batch_in(s->target, 1, &s->stats, s->cxt,
								&s->batch_cxt);
		s->req = mx_api_aggregate(s->target, s->rel->collection, body);
		mx_batch_add(batch, s->req);
		s->req = mx_batch_next(batch);
		check_refusal(s->req);
		answer = mx_api_object_result(s->req);
		v = member_of(s, &answer->root, "results", jbvBinary);
		if (!JsonContainerIsArray(v->val.binary.data))
			mx_api_report_unexpected(s->req, "The aggregate answer's \"results\" is not an array.");
		s->results = v->val.binary.data;
		s->nresults = JsonContainerSize(s->results);
		v = member_of(s, &answer->root, "total_groups", jbvNumeric);
		/* never silently partial: every group the API counted, or none */
		if (DatumGetInt64(DirectFunctionCall1(numeric_int8,
											  NumericGetDatum(v->val.numeric))) != s->nresults ||
			(s->nogroup && s->nresults > 1))
			mx_api_report_unexpected(s->req, "The aggregate answer does not hold every group it counts.");
		mx_api_batch_drop(&s->batch_cxt);
	}
	MemoryContextSwitchTo(old);
}

/* A column's value from its JSON value, through the type's input. */
static void
column_value(JsonbValue *v, Form_pg_attribute att, Datum *value, bool *isnull)
{
	char	   *text;
	Oid			typinput,
				typioparam;

	*isnull = v->type == jbvNull;
	if (*isnull)
		return;
	switch (v->type)
	{
		case jbvString:
			text = pnstrdup(v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			text = DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
			break;
		case jbvBool:
			text = v->val.boolean ? "true" : "false";
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("aggregate value of column \"%s\" is not a JSON scalar",
							NameStr(att->attname))));
	}
	getTypeInputInfo(att->atttypid, &typinput, &typioparam);
	*value = OidInputFunctionCall(typinput, text, typioparam, att->atttypmod);
}

/* A metric that must be an integer (a count, or of an integer column). */
static int64
integral_metric(MxUpperScan *s, JsonbValue *v, const char *alias)
{
	Datum		n;

	if (v->type == jbvNumeric)
	{
		n = NumericGetDatum(v->val.numeric);
		if (DatumGetBool(DirectFunctionCall2(numeric_eq, n,
											 DirectFunctionCall2(numeric_trunc, n,
																 Int32GetDatum(0)))))
			return DatumGetInt64(DirectFunctionCall1(numeric_int8, n));
	}
	mx_api_report_unexpected(s->req,
							 psprintf("The aggregate answer's \"%s\" is not an integer.",
									  alias));
}

/* The column a sum or an average sent adds, for messages. */
static const char *
summed_column(MxUpperScan *s, int i)
{
	Aggref	   *agg = (Aggref *) ((TargetEntry *) list_nth(s->tlist, i))->expr;
	Var		   *var = (Var *) ((TargetEntry *) linitial(agg->args))->expr;

	return s->rel->columns[var->varattno - 1].name;
}

/*
 * The API's sum of integers, taken only when it is exact however the API
 * added: every partial sum within 2^53, which count * max(|min|, |max|)
 * bounds (count counts documents, a bound for the values too).
 */
static int64
exact_sum(MxUpperScan *s, int i, const char *alias, JsonbValue *sum,
		  int64 count, JsonbValue *min, JsonbValue *max)
{
	int64		lo = integral_metric(s, min, psprintf("%sl", alias));
	int64		hi = integral_metric(s, max, psprintf("%sh", alias));
	uint64		most = Max(lo < 0 ? -(uint64) lo : (uint64) lo,
						   hi < 0 ? -(uint64) hi : (uint64) hi);

	if (most > (uint64) MX_AGGREGATE_EXACT_SUM / (uint64) count)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("sum of column \"%s\" is too large for Mixpeek to add exactly",
						summed_column(s, i)),
				 errdetail("A group of " INT64_FORMAT " documents has values of up to " UINT64_FORMAT " in magnitude; a sum in double precision is exact only while their product is at most 2^53.",
						   count, most),
				 errhint("Set mixpeek.aggregate_pushdown to \"off\" to aggregate the documents locally.")));
	return integral_metric(s, sum, alias);
}

/*
 * Output column i, a sum or an average, from the metrics of its alias, as
 * PostgreSQL computes it: sum(int2/int4) bigint, sum(int8) numeric,
 * avg(integers) numeric_div(sum, count) as int8_avg does; for doubles the
 * sum, and sum / count as float8_avg (the API's avg may be computed
 * otherwise).  No number: null (the API's sum of none may be 0).
 */
static void
sum_value(MxUpperScan *s, JsonbContainer *metrics, int i, MxUpperOutput kind,
		  Oid type, Datum *value, bool *isnull)
{
	const char *alias = strVal(list_nth(s->aliases, i));
	JsonbValue *sum = member_of(s, metrics, alias, jbvNull);
	JsonbValue *min = member_of(s, metrics, psprintf("%sl", alias), jbvNull);
	JsonbValue *max = member_of(s, metrics, psprintf("%sh", alias), jbvNull);
	char	   *count_alias = psprintf("%sn", alias);
	int64		count = integral_metric(s, member_of(s, metrics, count_alias,
													  jbvNumeric), count_alias);
	int64		total;

	*isnull = min->type == jbvNull || max->type == jbvNull;
	if (*isnull)
		return;
	if (sum->type != jbvNumeric || min->type != jbvNumeric ||
		max->type != jbvNumeric || count <= 0)
		mx_api_report_unexpected(s->req,
								 psprintf("The aggregate answer's \"%s\" is not a sum of numbers.",
										  alias));
	if (kind == OUT_SUM_FLOAT || kind == OUT_AVG_FLOAT)
	{
		float8		x = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
														   NumericGetDatum(sum->val.numeric)));

		*value = Float8GetDatum(kind == OUT_SUM_FLOAT ? x : x / (float8) count);
		return;
	}
	total = exact_sum(s, i, alias, sum, count, min, max);
	if (kind == OUT_AVG_INT)
		*value = DirectFunctionCall2(numeric_div,
									 NumericGetDatum(int64_to_numeric(total)),
									 NumericGetDatum(int64_to_numeric(count)));
	else if (type == INT8OID)
		*value = Int64GetDatum(total);
	else
		*value = NumericGetDatum(int64_to_numeric(total));
}

/* Fill the slot from group k. */
static void
store_group(MxUpperScan *s, TupleTableSlot *slot, int k)
{
	JsonbValue *result = getIthJsonbValueFromContainer(s->results, k);
	JsonbContainer *group,
			   *metrics;
	ErrorContextCallback errcb;
	ListCell   *la,
			   *lg;
	int			i = 0;

	if (result == NULL || result->type != jbvBinary)
		mx_api_report_unexpected(s->req, "An aggregate result is not an object.");
	group = member_of(s, result->val.binary.data, "group", jbvBinary)->val.binary.data;
	metrics = member_of(s, result->val.binary.data, "metrics", jbvBinary)->val.binary.data;
	mx_api_enter_request(&errcb, s->req);
	forboth(la, s->aliases, lg, s->grouped)
	{
		Form_pg_attribute att = TupleDescAttr(slot->tts_tupleDescriptor, i);
		JsonbValue *v;

		if (lfirst_int(lg) >= OUT_SUM_INT)
			sum_value(s, metrics, i, lfirst_int(lg), att->atttypid,
					  &slot->tts_values[i], &slot->tts_isnull[i]);
		else
		{
			v = member_of(s, lfirst_int(lg) ? group : metrics,
						  strVal(lfirst(la)), jbvNull);
			column_value(v, att, &slot->tts_values[i], &slot->tts_isnull[i]);
		}
		i++;
	}
	error_context_stack = errcb.previous;
}

/*
 * Without GROUP BY, no document is still one row: the counts (the only
 * bigint metrics as they come) are 0, min, max, sum and avg null.
 */
static void
store_empty(TupleTableSlot *slot, List *kinds)
{
	int			i;

	for (i = 0; i < slot->tts_tupleDescriptor->natts; i++)
	{
		bool		count = TupleDescAttr(slot->tts_tupleDescriptor, i)->atttypid == INT8OID &&
			list_nth_int(kinds, i) == OUT_METRIC;

		slot->tts_values[i] = Int64GetDatum(0);
		slot->tts_isnull[i] = !count;
	}
}

/*
 * A plan that groups by a date_trunc sent while the time zone was UTC's,
 * run (or a cursor of it fetched) in another zone, where PostgreSQL's
 * truncation differs: an ERROR, never the UTC groups.
 */
static void
check_zone(void)
{
	if (!zone_is_utc())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("date_trunc was sent to Mixpeek to truncate in UTC, but the time zone is now \"%s\"",
						pg_get_timezone_name(session_timezone)),
				 errdetail("The plan was made while the session's time zone had no offset from UTC; Mixpeek truncates timestamps in UTC."),
				 errhint("Set the time zone back, plan the query again (DEALLOCATE a prepared statement), or set mixpeek.aggregate_pushdown to \"off\" before planning it.")));
}

/*
 * mx_upper_iterate
 *		IterateForeignScan of an aggregate: the first call sends the
 *		request, each call returns one group.
 */
TupleTableSlot *
mx_upper_iterate(ForeignScanState *node)
{
	MxUpperScan *s = node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	bool		empty_row;

	if (s->utc)
		check_zone();
	if (!s->fetched)
		fetch_groups(node, s);
	ExecClearTuple(slot);
	empty_row = s->nogroup && s->nresults == 0 && s->next == 0;
	if (s->next >= s->nresults && !empty_row)
		return slot;
	if (empty_row)
		store_empty(slot, s->grouped);
	else
		store_group(s, slot, s->next);
	s->next++;
	return ExecStoreVirtualTuple(slot);
}

/* mx_upper_rescan: the next row asked for sends the request again. */
void
mx_upper_rescan(ForeignScanState *node)
{
	MxUpperScan *s = node->fdw_state;

	mx_api_batch_drop(&s->batch_cxt);
	MemoryContextReset(s->cxt);
	s->fetched = false;
	s->req = NULL;
}

/* mx_upper_end: end whatever still runs. */
void
mx_upper_end(ForeignScanState *node)
{
	MxUpperScan *s = node->fdw_state;

	if (s != NULL && s->target != NULL)
		mx_api_batch_drop(&s->batch_cxt);
}

/*
 * mx_upper_explain
 *		The request and its body (values of parameters shown as their
 *		expressions), and with ANALYZE the requests made.
 */
void
mx_upper_explain(ForeignScanState *node, ExplainState *es)
{
	MxUpperScan *s = node->fdw_state;
	bool		none;

	if (es->verbose)
	{
		const char **shown = mx_explain_values(node, s->values, s->isnull,
											   s->nexprs, es);

		ExplainPropertyText("Remote Request",
							psprintf("POST %s",
									 mx_api_aggregate_path(s->rel->collection)),
							es);
		ExplainPropertyText("Remote Body", upper_body(s, shown, &none), es);
	}
	if (es->analyze)
	{
		ExplainPropertyUInteger("Remote Requests", NULL, s->stats.requests, es);
		ExplainPropertyUInteger("Remote Retries", NULL, s->stats.retries, es);
		ExplainPropertyUInteger("Remote Bytes", NULL, s->stats.bytes, es);
	}
}
