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
 *   documents, except one standard column that reads the flat root or
 *   _internal, grouped or aggregated: its documents are split between
 *   requests by the presence of the flat field (split_filter), each
 *   grouping on one location, and the answers are merged by group key;
 * - every column grouped or aggregated is known never to be null or
 *   missing (document_id, collection_id, a NOT NULL column, or one with an
 *   exact condition): the API does not document how it groups or counts
 *   missing fields, and may leave them out of every group.  Except: the
 *   split column as a group key (one more request groups the documents
 *   with neither location), one group key of one location without a split
 *   column (split the same way, find_null_key), and count(DISTINCT col),
 *   which then groups on col and counts the non-null groups;
 * - only what stays exact whatever the API computes in: count(*),
 *   count(col), count(DISTINCT col) and min/max of int2/int4 and of text
 *   under the C collation; sum and avg of integers, which the API may add
 *   in doubles, are sent with the group's count, min and max, and accepted
 *   only when count * max(|min|, |max|) shows every partial sum a double
 *   holds exactly (else an ERROR, never an inexact sum); sum and avg of
 *   double precision, whose order of addition PostgreSQL itself leaves
 *   open; a sum may be of a column with nulls (min and max tell a group
 *   without a number), an avg of integers needs every document's value, an
 *   avg of doubles with nulls counts its values from the API's sum and avg
 *   (values_counted); split answers merge integer sums exactly, never
 *   doubles (which a scan adds in document order across both shapes);
 * - date_trunc of a timestamptz column to a unit from year to second (not
 *   week: PostgreSQL's are ISO weeks), as a group key, only while the
 *   session's time zone is UTC's: the API truncates in UTC, PostgreSQL in
 *   the session's zone (a plan run later in another zone is an ERROR);
 * - HAVING only as comparisons of a pushed count with a constant, and only
 *   with GROUP BY (without it, no group in the answer could be no
 *   document or a group the HAVING removed); on answers merged, the scan
 *   checks any HAVING of sent aggregates on the merged groups instead;
 * - on top of a grouping sent in one answer, an ORDER BY of one output
 *   column that the API sorts as PostgreSQL does, and a constant LIMIT
 *   without OFFSET.
 * As with list filters, a field is assumed to hold the JSON type of its
 * column (strings for text, numbers for integers).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/table.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "common/hashfn.h"
#include "common/int.h"
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
	UP_MERGE,					/* NIL, or the answers' local merge
								 * (MxUpperMerge) */
	UP_UTC,						/* 1: a group truncates dates, which the
								 * API does in UTC (see utc_session) */
	UP_EXPRS,					/* the path's only: the filters' values,
								 * the plan's fdw_exprs */
	UP_TLIST,					/* the path's only: the grouping's output
								 * columns, the plan's fdw_scan_tlist */
	UP_QUALS					/* the path's only: a HAVING checked on
								 * the groups of answers merged locally */
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
	OUT_SUM_INT,				/* sum of integers: exact, or an ERROR */
	OUT_AVG_INT,				/* their avg: numeric sum / count */
	OUT_SUM_FLOAT,				/* sum of doubles */
	OUT_AVG_FLOAT,				/* their avg: sum / count */
	OUT_AVG_VALUES				/* avg of doubles with nulls: sum / the
								 * number of values, found from the API's
								 * avg (alias followed by v) */
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
	MxColumn   *split;			/* the one column read from two locations */
	int			loc;			/* the MxSplitPart this body groups */
	int			null_key;		/* the output column of split as a group
								 * key that may be null, or -1 */
	bool		split_aggregated;	/* an aggregate reads split */
	bool		utc;			/* a group key is a date_trunc */
	List	   *local_having;	/* HAVING clauses checked by the scan */
	MxColumn   *distinct;		/* count(DISTINCT) counted locally */
	List	   *kinds;			/* per aggregate sent: its MxMergeKind */
} MxUpperBuild;

/*
 * How the answers' rows merge into one per group key when a grouping is
 * merged locally: the requests' groups can share a key (the same day in
 * flat and in nested documents), or several of them make one group (the
 * values of a count(DISTINCT) counted locally).
 */
typedef enum MxMergeKind
{
	MX_MERGE_KEY,				/* a group key: part of the merged key */
	MX_MERGE_SUM,				/* count: added up */
	MX_MERGE_MIN,
	MX_MERGE_MAX,
	MX_MERGE_SUMS,				/* sum or avg of integers: the parts of each
								 * answer's sum added */
	MX_MERGE_DISTINCT,			/* the distinct non-null values of "d1" */
	MX_MERGE_NONE				/* cannot be merged (count_distinct, ...) */
} MxMergeKind;

/* The slots of UP_MERGE. */
enum MxUpperMerge
{
	UM_KINDS,					/* per output column: its MxMergeKind */
	UM_HEADS,					/* the body_head of each request after the
								 * first (split_filter says which documents
								 * each one groups) */
	UM_FIELDS,					/* the split column's flat and nested
								 * locations, or NIL */
	UM_NULL_KEY					/* the output column of the split column
								 * as a group key that may be null, or -1 */
};

/*
 * The requests of a split grouping, by the location they group on: the
 * last one, for a split group key that may be null, groups the documents
 * that have neither location.
 */
enum MxSplitPart
{
	SP_FLAT,
	SP_NESTED,
	SP_NEITHER
};

/* The group alias of a count(DISTINCT) argument counted locally. */
#define DISTINCT_ALIAS "d1"

/* agg_function's name of a count(DISTINCT) counted locally. */
#define LOCAL_DISTINCT "local_distinct"

/* The column a Var is, if every use of it is exact (see the header). */
static MxColumn *
single_column(MxUpperBuild *b, Node *node)
{
	MxColumn   *col;

	if (node == NULL || !IsA(node, Var))
		return NULL;
	col = mx_column_of(b->rel, b->relid, node);
	if (col == NULL || (col->nlocations != 1 && col != b->split))
		return NULL;
	return col;
}

/*
 * The field a body sends for a column: a column with two locations (see
 * find_split) groups on the flat one in the first request, on the nested
 * one in the second.
 */
static const char *
column_field(MxUpperBuild *b, MxColumn *col)
{
	Assert(col != b->split || b->loc != SP_NEITHER);
	return col->locations[col == b->split ? b->loc : 0].dotted;
}

/*
 * The one standard column with two locations that the grouping reads, if
 * any: its documents are split in two requests by the presence of the
 * flat location (see split_filter), each grouping on one location.  Two
 * such columns would need both partitions to agree, which nothing in the
 * API promises, so a query reading two of them is not sent.
 */
static bool
find_split(MxUpperBuild *b, List *exprs)
{
	ListCell   *lc;

	foreach(lc, pull_var_clause((Node *) exprs, PVC_RECURSE_AGGREGATES |
								PVC_RECURSE_PLACEHOLDERS))
	{
		MxColumn   *col = mx_column_of(b->rel, b->relid, lfirst(lc));

		if (col == NULL || col->nlocations != 2)
			continue;
		if (b->split != NULL && b->split != col)
			return false;
		b->split = col;
	}
	return true;
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

/*
 * Is the session's time zone UTC (a fixed offset of zero)?  Only then does
 * PostgreSQL's date_trunc of a timestamptz truncate as the API does.
 */
static bool
utc_session(void)
{
	long int	gmtoff;

	return pg_get_timezone_offset(session_timezone, &gmtoff) && gmtoff == 0;
}

/*
 * The API's date_trunc unit for a constant unit of PostgreSQL's, read as
 * date_trunc reads it; NULL for a unit the API lacks or truncates
 * otherwise (week: PostgreSQL's weeks are ISO weeks, the API does not
 * say which day starts its own).
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
 * date_trunc('unit', col) of a timestamptz column, as the API's group_by
 * date_trunc, in a UTC session (the plan checks it again on every row):
 * the column, and the API's unit in *unit (trunc_unit); else NULL.
 */
static MxColumn *
date_trunc_column(MxUpperBuild *b, Expr *expr, const char **unit)
{
	FuncExpr   *fn = (FuncExpr *) expr;
	MxColumn   *col;

	if (!IsA(expr, FuncExpr) || fn->funcid != F_DATE_TRUNC_TEXT_TIMESTAMPTZ ||
		!utc_session())
		return NULL;
	*unit = trunc_unit(linitial(fn->args));
	col = single_column(b, lsecond(fn->args));
	if (*unit == NULL || col == NULL || col->typid != TIMESTAMPTZOID)
		return NULL;
	b->utc = true;
	return col;
}

/*
 * Without a column with two locations, the one group key (a column, or a
 * date_trunc of it) that may be null becomes b->split: the API leaves the
 * documents without the field out of every group, so they are grouped in
 * a request of their own (SP_NEITHER) whose group key is null, the others
 * in one filtered to those with a value.  Two such keys: none, and the
 * grouping is not sent.
 */
static void
find_null_key(PlannerInfo *root, MxUpperBuild *b, PathTarget *target)
{
	MxColumn   *found = NULL;
	ListCell   *lc;

	foreach(lc, target->exprs)
	{
		Index		ref = get_pathtarget_sortgroupref(target,
													  foreach_current_index(lc));
		const char *unit;
		MxColumn   *col;

		if (ref == 0 ||
			!get_sortgroupref_clause_noerr(ref, root->parse->groupClause))
			continue;
		col = single_column(b, lfirst(lc));
		if (col == NULL)
			col = date_trunc_column(b, lfirst(lc), &unit);
		if (col == NULL || never_null(b, col))
			continue;
		if (found != NULL && found != col)
			return;
		found = col;
	}
	b->split = found;
}

/*
 * A group key: a column whose values group as PostgreSQL's equality does,
 * or a date_trunc of a timestamptz column.
 */
static bool
add_group_key(MxUpperBuild *b, Expr *expr)
{
	MxColumn   *col = single_column(b, (Node *) expr);
	const char *unit = NULL;
	char	   *alias;

	if (col == NULL)
		col = date_trunc_column(b, expr, &unit);
	if (col == NULL || !(unit != NULL || exact_type(col->typid, false)) ||
		!(never_null(b, col) || col == b->split))
		return false;
	if (OidIsValid(col->collid) &&
		!get_collation_isdeterministic(exprCollation((Node *) expr)))
		return false;
	alias = psprintf("g%d", ++b->ngroups);
	if (col == b->split && !never_null(b, col))
	{
		/* its null group is the documents without it: a request of its own */
		b->null_key = list_length(b->exprs);
		if (b->loc == SP_NEITHER)
		{
			add_column(b, expr, alias, OUT_GROUP);
			return true;
		}
	}
	append_sep(&b->group_by);
	appendStringInfoString(&b->group_by, "{\"field\":");
	escape_json(&b->group_by, column_field(b, col));
	if (unit != NULL)
		appendStringInfo(&b->group_by, ",\"date_trunc\":\"%s\"", unit);
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
 * count(DISTINCT col): the API's count_distinct when col is never null in
 * one request (it counts a missing value as one more); else col becomes a
 * group key and the scan counts its non-null values (LOCAL_DISTINCT).
 * Such a grouping's groups are values, not documents, so the count is
 * then the only aggregate (checked once all are known).
 */
static const char *
distinct_function(MxUpperBuild *b, Aggref *agg, MxColumn *col)
{
	/* distinct as the API's equality: bytes for text */
	if (!exact_type(col->typid, false) ||
		(OidIsValid(agg->inputcollid) &&
		 !get_collation_isdeterministic(agg->inputcollid)))
		return NULL;
	if (b->split == NULL && never_null(b, col))
		return "count_distinct";
	if (b->distinct != NULL)
		return NULL;
	b->distinct = col;
	return LOCAL_DISTINCT;
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
	if (*col != NULL && fn == F_COUNT_ANY && agg->aggdistinct != NIL)
		return distinct_function(b, agg, *col);
	/* a sum reads no null, and avg(double) counts the values (sum_parts) */
	if (*col == NULL || (!never_null(b, *col) &&
						 output_kind(agg) != OUT_SUM_INT &&
						 output_kind(agg) != OUT_SUM_FLOAT &&
						 output_kind(agg) != OUT_AVG_FLOAT))
		return NULL;
	if (fn == F_COUNT_ANY)
	{
		if (agg->aggdistinct == NIL)
			return "count";
		return NULL;
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
 * (of documents), min and max of the field (null for no number), and for
 * doubles with nulls the API's avg, from which sum_parts finds the number
 * of values (the API counts documents).
 */
static void
add_sum_parts(MxUpperBuild *b, const char *alias, MxColumn *col)
{
	static const char *const parts[][2] = {{"min", "l"}, {"max", "h"},
	{"avg", "v"}};
	int			nparts = col->typid == FLOAT8OID && !never_null(b, col) ? 3 : 2;
	int			i;

	appendStringInfo(&b->aggs, ",{\"function\":\"count\",\"alias\":\"%sn\"}",
					 alias);
	for (i = 0; i < nparts; i++)
	{
		appendStringInfo(&b->aggs,
						 ",{\"function\":\"%s\",\"alias\":\"%s%s\",\"field\":",
						 parts[i][0], alias, parts[i][1]);
		escape_json(&b->aggs, column_field(b, col));
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

/*
 * How the answers' values of an aggregate merge (MxMergeKind).  A sum of
 * doubles is not merged from answers that may share a group (the two
 * locations of a column): two answers' sums added are not the sum a scan
 * adds in document order, nor within a bound the way integers are.
 */
static int
merge_kind(MxUpperBuild *b, Aggref *agg, const char *fn)
{
	if (output_kind(agg) == OUT_SUM_INT || output_kind(agg) == OUT_AVG_INT)
		return MX_MERGE_SUMS;
	/* a nullable key's two answers never share a group: nothing added */
	if (output_kind(agg) != OUT_METRIC)
		return b->split != NULL && b->split->nlocations == 1
			? MX_MERGE_SUMS : MX_MERGE_NONE;
	if (strcmp(fn, "count") == 0)
		return MX_MERGE_SUM;
	if (strcmp(fn, "min") == 0)
		return MX_MERGE_MIN;
	if (strcmp(fn, "max") == 0)
		return MX_MERGE_MAX;
	if (strcmp(fn, LOCAL_DISTINCT) == 0)
		return MX_MERGE_DISTINCT;
	return MX_MERGE_NONE;
}

/* The argument of a count(DISTINCT) counted locally, as the last key. */
static void
add_distinct_key(MxUpperBuild *b, MxColumn *col)
{
	append_sep(&b->group_by);
	appendStringInfoString(&b->group_by, "{\"field\":");
	escape_json(&b->group_by, column_field(b, col));
	appendStringInfoString(&b->group_by, ",\"alias\":\"" DISTINCT_ALIAS "\"}");
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
	b->split_aggregated |= col != NULL && col == b->split;
	b->kinds = lappend_int(b->kinds, merge_kind(b, agg, fn));
	if (strcmp(fn, LOCAL_DISTINCT) == 0)
	{
		add_distinct_key(b, col);
		return alias;
	}
	append_sep(&b->aggs);
	appendStringInfo(&b->aggs, "{\"function\":\"%s\",\"alias\":\"%s\"",
					 fn, alias);
	if (col != NULL)
	{
		appendStringInfoString(&b->aggs, strcmp(fn, "count_distinct") == 0
							   ? ",\"distinct_field\":" : ",\"field\":");
		escape_json(&b->aggs, column_field(b, col));
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

/* How an output column of a sent aggregate is read (MxUpperOutput). */
static MxUpperOutput
read_kind(MxUpperBuild *b, Aggref *agg)
{
	Node	   *arg;

	if (output_kind(agg) != OUT_AVG_FLOAT)
		return output_kind(agg);
	arg = (Node *) ((TargetEntry *) linitial(agg->args))->expr;
	return never_null(b, single_column(b, arg)) ? OUT_AVG_FLOAT : OUT_AVG_VALUES;
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
		add_column(b, (Expr *) node, alias, read_kind(b, (Aggref *) node));
	}
	return true;
}

/*
 * A HAVING clause on groups merged locally: each aggregate it reads
 * becomes a column of the scan, which checks the clause on the merged
 * groups (mx_upper_plan).
 */
static bool
add_local_having(MxUpperBuild *b, Expr *clause)
{
	List	   *vars = NIL;
	ListCell   *lc;

	if (contain_volatile_functions((Node *) clause) ||
		!add_aggregates_of(b, clause, &vars))
		return false;
	foreach(lc, vars)
	{
		if (!list_member(b->exprs, lfirst(lc)))
			return false;
	}
	b->local_having = lappend(b->local_having, clause);
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
			if (!add_group_key(b, expr))
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

/*
 * The body's group_by, aggregations and having.  Without GROUP BY the
 * documents group on collection_id (one group), or on the argument of a
 * count(DISTINCT) counted locally.
 */
static char *
body_head(MxUpperBuild *b, bool nogroup)
{
	StringInfoData body;

	initStringInfo(&body);
	appendStringInfo(&body, "\"group_by\":[%s],\"aggregations\":[%s]",
					 b->group_by.len == 0
					 ? "{\"field\":\"collection_id\",\"alias\":\"g0\"}"
					 : b->group_by.data, b->aggs.data);
	if (b->having.len > 0)
		appendStringInfo(&body, ",\"having\":[%s]", b->having.data);
	return body.data;
}

/* UM_FIELDS: the split column's locations, one or two. */
static List *
split_fields(MxColumn *split)
{
	List	   *fields = list_make1(makeString(split->locations[0].dotted));

	if (split->nlocations == 2)
		fields = lappend(fields, makeString(split->locations[1].dotted));
	return fields;
}

/*
 * The UP_MERGE slot (enum MxUpperMerge) of a grouping merged locally, or
 * NIL; parts are the groupings built for the requests after the first
 * (enum MxSplitPart).
 */
static List *
merge_private(MxUpperBuild *b, MxUpperBuild *parts, int nparts,
			  bool nogroup)
{
	List	   *kinds = NIL;
	List	   *heads = NIL;
	ListCell   *la,
			   *lg;
	int			i;

	if (b->split == NULL && b->distinct == NULL)
		return NIL;
	forboth(la, b->aliases, lg, b->grouped)
	{
		/* an aggregate's alias is "a<n>", n its position in b->aggrefs */
		kinds = lappend_int(kinds, lfirst_int(lg) == OUT_GROUP ? MX_MERGE_KEY :
							list_nth_int(b->kinds,
										 atoi(strVal(lfirst(la)) + 1) - 1));
	}
	for (i = 0; i < nparts; i++)
		heads = lappend(heads, makeString(body_head(&parts[i], nogroup)));
	return list_make4(kinds, heads,
					  b->split == NULL ? NIL : split_fields(b->split),
					  makeInteger(b->null_key));
}

/* The fdw_private of a path that sends the grouping (enum MxUpperPrivate). */
static List *
upper_private(MxUpperBuild *b, bool nogroup, List *fdw_exprs)
{
	List	   *priv;

	priv = list_make5(makeInteger((int) b->table), makeInteger((int) b->relid),
					  mx_spec_to_list(b->spec),
					  makeString(body_head(b, nogroup)), b->aliases);
	priv = lappend(priv, b->grouped);
	priv = lappend(priv, makeInteger(nogroup));
	priv = lappend(priv, NIL);	/* UP_MERGE, set by grouping_paths */
	priv = lappend(priv, makeInteger(b->utc));
	priv = lappend(priv, fdw_exprs);
	priv = lappend(priv, b->exprs);
	return lappend(priv, b->local_having);
}

/*
 * Can the answers of a grouping merged locally (split in two requests, or
 * with a count(DISTINCT) counted locally) be merged?  A HAVING sent would
 * apply to each answer's part of a group, not to the group: the scan
 * checks it on the merged groups instead (add_local_having).
 * A count(DISTINCT) counted locally groups on its argument, which leaves
 * out the documents without one: no other aggregate can be computed from
 * those groups.  Only counts, min and max add up across answers.
 */
static bool
mergeable(MxUpperBuild *b)
{
	if (b->split == NULL && b->distinct == NULL)
		return true;
	/* the documents without the split column have no value to aggregate */
	if (b->having.len > 0 || (b->null_key >= 0 && b->split_aggregated) ||
		list_member_int(b->kinds, MX_MERGE_NONE))
		return false;
	return b->distinct == NULL || list_length(b->aggrefs) == 1;
}

/*
 * Whether everything the grouping computes can be sent, filling b and the
 * filters' values.
 */
static bool
build_grouping(PlannerInfo *root, RelOptInfo *input_rel,
			   RelOptInfo *output_rel, GroupPathExtraData *extra,
			   MxUpperBuild *b, List **fdw_exprs, int loc)
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
	b->loc = loc;
	b->null_key = -1;
	if (!find_split(b, output_rel->reltarget->exprs))
		return false;

	b->spec = exact_filters(root, input_rel, b, fdw_exprs);
	if (b->spec == NULL || b->rel->collection == NULL)
		return false;
	if (b->split == NULL)
		find_null_key(root, b, output_rel->reltarget);
	if (!add_outputs(root, b, output_rel->reltarget))
		return false;
	if (having != NIL && !IsA(having, List))
		having = list_make1(having);
	foreach(lc, having)
	{
		if (!(b->split != NULL || b->distinct != NULL ?
			  add_local_having(b, lfirst(lc)) : add_having(b, lfirst(lc))))
			return false;
	}
	/*
	 * Without GROUP BY there is one group even for no document, which a
	 * HAVING may remove: the API's answer of no group could mean either.
	 */
	if (having != NIL && root->parse->groupClause == NIL)
		return false;
	if (!mergeable(b))
		return false;
	/* the API needs an aggregation: a GROUP BY alone asks for a count */
	if (b->aggs.len == 0)
		appendStringInfoString(&b->aggs, "{\"function\":\"count\",\"alias\":\"a0\"}");
	return true;
}

/* The requests a grouping makes: two or three when split between locations. */
static int
upper_requests(List *priv)
{
	List	   *merge = list_nth(priv, UP_MERGE);

	return merge == NIL ? 1 : 1 + list_length(list_nth(merge, UM_HEADS));
}

/* A path of an upper relation: all its rows arrive in one or two answers. */
static void
add_upper_path(PlannerInfo *root, RelOptInfo *rel, PathTarget *target,
			   double rows, List *pathkeys, MxUpperState *state)
{
	Cost		cost = MX_COST_AGGREGATE_REQUEST +
		MX_COST_AGGREGATE_SPLIT * (upper_requests(state->priv) - 1) +
		rows * cpu_tuple_cost;

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
	MxUpperBuild parts[SP_NEITHER];
	int			nparts = 0;
	int			first = SP_NESTED;
	List	   *fdw_exprs = NIL;
	List	   *unused = NIL;
	bool		nogroup = root->parse->groupClause == NIL;
	double		rows;
	int			i;

	if (!groupable(root, input_rel, extra) ||
		!build_grouping(root, input_rel, grouped_rel, extra, &b, &fdw_exprs,
						SP_FLAT))
		return;
	/*
	 * The same grouping on the other location, and on neither if need be; a
	 * nullable key of one location has only the latter.
	 */
	if (b.split != NULL)
	{
		first = b.split->nlocations == 2 ? SP_NESTED : SP_NEITHER;
		nparts = (b.null_key >= 0 ? SP_NEITHER : SP_NESTED) - first + 1;
	}
	for (i = 0; i < nparts; i++)
	{
		if (!build_grouping(root, input_rel, grouped_rel, extra, &parts[i],
							&unused, first + i))
			return;
	}
	rows = nogroup ? 1 :
		estimate_num_groups(root,
							get_sortgrouplist_exprs(root->parse->groupClause,
													extra->targetList),
							input_rel->rows, NULL, NULL);
	state->priv = upper_private(&b, nogroup, fdw_exprs);
	list_nth_cell(state->priv, UP_MERGE)->ptr_value =
		merge_private(&b, parts, nparts, nogroup);
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
	/* the groups of answers merged locally are sorted and cut locally */
	if (list_nth(state->priv, UP_MERGE) != NIL)
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
 * A name for a column of the scan tuple, which messages about its values
 * use: the table column of a group key, else the function computing it.
 */
static char *
output_name(PlannerInfo *root, Expr *expr)
{
	if (IsA(expr, Var))
		return get_attname(planner_rt_fetch(((Var *) expr)->varno, root)->relid,
						   ((Var *) expr)->varattno, true);
	if (IsA(expr, Aggref))
		return get_func_name(((Aggref *) expr)->aggfnoid);
	if (IsA(expr, FuncExpr))
		return get_func_name(((FuncExpr *) expr)->funcid);
	return NULL;
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
											 output_name(root, lfirst(lc)),
											 false));
	/* a HAVING checked locally, on the scan's columns (setrefs.c) */
	return make_foreignscan(tlist, copyObject(list_nth(priv, UP_QUALS)), 0,
							list_nth(priv, UP_EXPRS),
							list_truncate(list_copy(priv), UP_EXPRS),
							scan_tlist, NIL, outer_plan);
}

/* A scan of no relation is an aggregate's: nothing else is planned so. */
bool
mx_is_upper_plan(ForeignScan *plan)
{
	return plan->scan.scanrelid == 0;
}

/* What a sum or an average is computed from (sum_parts). */
typedef struct MxSumParts
{
	bool		none;			/* no number in the group */
	int64		count;			/* documents */
	int64		total;			/* integers: the exact sum */
	uint64		most;			/* integers: max(|min|, |max|) */
	float8		sum;			/* doubles: the API's sum */
	float8		avg;			/* OUT_AVG_VALUES: the API's avg */
} MxSumParts;

/* One group of an answer to be merged with the others of its key. */
typedef struct MxMergeRow
{
	char	   *key;			/* its group keys, canonical */
	int			keylen;
	uint64		hash;			/* of key, which the merge compares first */
	char	   *dkey;			/* its DISTINCT_ALIAS value, canonical; NULL
								 * when null or none */
	int			dkeylen;
	uint64		dhash;
	JsonbValue **values;		/* per output column (NULL: a distinct count
								 * or a sum) */
	MxSumParts *sums;			/* per output column: a sum's parts */
} MxMergeRow;

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
	MxAggAnswer *answer;		/* NULL: no group */
	int			nresults;
	int			next;
	List	   *kinds;			/* answers merged locally: UM_KINDS, else NIL */
	List	   *heads;			/* UM_HEADS */
	const char *flat_field;		/* the split column's locations, or NULL */
	const char *nested_field;
	int			null_key;		/* UM_NULL_KEY */
	MxMergeRow *merged;			/* per merged group */
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

/* What the UP_MERGE slot says of the answers' merge (enum MxUpperMerge). */
static void
begin_merge(MxUpperScan *s, List *merge)
{
	List	   *fields;

	if (merge == NIL)
		return;
	fields = list_nth(merge, UM_FIELDS);
	s->kinds = list_nth(merge, UM_KINDS);
	s->heads = list_nth(merge, UM_HEADS);
	if (fields != NIL)
	{
		s->flat_field = strVal(linitial(fields));
		s->nested_field = list_length(fields) == 2 ? strVal(lsecond(fields)) : NULL;
	}
	s->null_key = intVal(list_nth(merge, UM_NULL_KEY));
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
	s->utc = intVal(list_nth(plan->fdw_private, UP_UTC)) != 0;
	s->tlist = plan->fdw_scan_tlist;
	begin_merge(s, list_nth(plan->fdw_private, UP_MERGE));
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

/* A filter keeping the documents where field is present and not null. */
static char *
has_value(const char *field)
{
	StringInfoData f;

	initStringInfo(&f);
	appendStringInfoString(&f, "{\"AND\":[{\"field\":");
	escape_json(&f, field);
	appendStringInfoString(&f, ",\"operator\":\"exists\",\"value\":true},"
						   "{\"NOT\":[{\"field\":");
	escape_json(&f, field);
	appendStringInfoString(&f, ",\"operator\":\"is_null\",\"value\":true}]}]}");
	return f.data;
}

/*
 * The MxSplitPart of request k: a split column of one location (a nullable
 * group key) has no SP_NESTED request.
 */
static int
request_part(MxUpperScan *s, int k)
{
	return k > 0 && s->nested_field == NULL ? SP_NEITHER : k;
}

/*
 * The filter that gives part k of a split grouping its documents,
 * exactly as a scan reads the column (its flat location holding a value
 * that is not null, else its nested one, else null): SP_FLAT has a value
 * in the flat location; SP_NESTED the others, with a value in the nested
 * location when SP_NEITHER asks for the rest.  Each part is the negation
 * of the ones before it, so that whatever the API makes of exists and
 * is_null, the parts never overlap and miss no document.
 */
static char *
split_filter(MxUpperScan *s, int k)
{
	char	   *flat = has_value(s->flat_field);

	if (k == SP_FLAT)
		return flat;
	if (k == SP_NEITHER && s->nested_field == NULL)
		return psprintf("{\"NOT\":[%s]}", flat);
	if (k == SP_NEITHER)
		return psprintf("{\"NOT\":[%s,%s]}", flat,
						has_value(s->nested_field));
	if (s->null_key < 0)
		return psprintf("{\"NOT\":[%s]}", flat);
	return psprintf("{\"AND\":[{\"NOT\":[%s]},%s]}", flat,
					has_value(s->nested_field));
}

/*
 * The body of request k (0, or the MxSplitPart of a split grouping), with
 * the filters' values (or, for EXPLAIN, shown).
 */
static char *
upper_body(MxUpperScan *s, const char **shown, bool *none, int k)
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
	appendStringInfo(&body, "{%s",
					 k == 0 ? s->body_head : strVal(list_nth(s->heads, k - 1)));
	if (s->flat_field != NULL)
		filters = filters == NULL ? split_filter(s, request_part(s, k))
			: psprintf("{\"AND\":[%s,%s]}", filters,
					   split_filter(s, request_part(s, k)));
	if (filters != NULL)
		appendStringInfo(&body, ",\"filters\":%s", filters);
	appendStringInfoChar(&body, '}');
	return body.data;
}

/* The ERROR for an aggregate answer without a valid key. */
mx_noreturn static void
no_valid(MxUpperScan *s, const char *key)
{
	mx_api_report_unexpected(s->req,
							 psprintf("The aggregate answer has no valid \"%s\".",
									  key));
}

/* A JSON object's member, or an error naming the request. */
static JsonbValue *
member_of(MxUpperScan *s, MxJsonObject *object, const char *key,
		  enum jbvType type)
{
	JsonbValue *v = object->n < 0 ? NULL : mx_json_member(object, key);

	if (v == NULL || (type != jbvNull && v->type != type))
		no_valid(s, key);
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

/*
 * The answer to s->req, after the errors of a refusal, an answer that is
 * not one, or one that does not hold every group it counts (never silently
 * partial).
 */
static MxAggAnswer *
answer_results(MxUpperScan *s, int *n)
{
	MxAggAnswer *answer;
	JsonbValue *v;

	check_refusal(s->req);
	answer = mx_api_aggregate_result(s->req);
	if (answer->nresults == MX_AGG_RESULTS_ABSENT)
		no_valid(s, "results");
	if (answer->nresults == MX_AGG_RESULTS_NOT_ARRAY)
		mx_api_report_unexpected(s->req, "The aggregate answer's \"results\" is not an array.");
	*n = answer->nresults;
	v = member_of(s, &answer->top, "total_groups", jbvNumeric);
	if (DatumGetInt64(DirectFunctionCall1(numeric_int8,
										  NumericGetDatum(v->val.numeric))) != *n)
		mx_api_report_unexpected(s->req, "The aggregate answer does not hold every group it counts.");
	return answer;
}

/* Send the aggregate request and keep its results. */
static void
fetch_groups(ForeignScanState *node, MxUpperScan *s)
{
	MemoryContext old = MemoryContextSwitchTo(s->cxt);
	bool		none;
	char	   *body;
	MxBatch    *batch;

	mx_scan_evaluate(node, s->expr_states, s->values, s->isnull);
	body = upper_body(s, NULL, &none, 0);
	s->fetched = true;
	s->answer = NULL;
	s->nresults = 0;
	s->next = 0;
	if (!none)
	{
		batch = mx_api_batch_in(s->target, 1, &s->stats, s->cxt,
								&s->batch_cxt);
		s->req = mx_api_aggregate(s->target, s->rel->collection, body);
		mx_batch_add(batch, s->req);
		s->req = mx_batch_next(batch);
		s->answer = answer_results(s, &s->nresults);
		if (s->nogroup && s->nresults > 1)
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

/* A metric that must be a number, as a double. */
static float8
float_metric(JsonbValue *v)
{
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8,
											  NumericGetDatum(v->val.numeric)));
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
 * A sum of integers is taken only when it is exact however the API added:
 * every partial sum within 2^53, which count * max(|min|, |max|) bounds
 * (count counts documents, a bound for the values too).  Checked on each
 * answer and on the totals of answers merged, so that a split grouping
 * fails exactly when one request would.
 */
static void
check_exact(MxUpperScan *s, int i, int64 count, uint64 most)
{
	if (most > (uint64) MX_AGGREGATE_EXACT_SUM / (uint64) count)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("sum of column \"%s\" is too large for Mixpeek to add exactly",
						summed_column(s, i)),
				 errdetail("A group of " INT64_FORMAT " documents has values of up to " UINT64_FORMAT " in magnitude; a sum in double precision is exact only while their product is at most 2^53.",
						   count, most),
				 errhint("Set mixpeek.aggregate_pushdown to \"off\" to aggregate the documents locally.")));
}

/* |v|, which for INT64_MIN an int64 cannot hold. */
static uint64
magnitude(int64 v)
{
	return v < 0 ? -(uint64) v : (uint64) v;
}

/*
 * The parts of output column i, a sum or an average, in one group of an
 * answer: integers checked exact, and for an avg of doubles with nulls
 * the API's avg.  No number: none (the API's sum of none may be 0).
 */
static void
sum_parts(MxUpperScan *s, MxJsonObject *metrics, int i, MxSumParts *p)
{
	MxUpperOutput kind = list_nth_int(s->grouped, i);
	const char *alias = strVal(list_nth(s->aliases, i));
	JsonbValue *sum = member_of(s, metrics, alias, jbvNull);
	JsonbValue *min = member_of(s, metrics, psprintf("%sl", alias), jbvNull);
	JsonbValue *max = member_of(s, metrics, psprintf("%sh", alias), jbvNull);
	char	   *count_alias = psprintf("%sn", alias);
	JsonbValue *avg = NULL;

	memset(p, 0, sizeof(MxSumParts));
	p->count = integral_metric(s, member_of(s, metrics, count_alias,
											jbvNumeric), count_alias);
	if (kind == OUT_AVG_VALUES)
		avg = member_of(s, metrics, psprintf("%sv", alias), jbvNull);
	p->none = min->type == jbvNull || max->type == jbvNull;
	if (p->none && (avg == NULL || avg->type == jbvNull))
		return;
	if (p->none || sum->type != jbvNumeric || min->type != jbvNumeric ||
		max->type != jbvNumeric || (avg != NULL && avg->type != jbvNumeric) ||
		p->count <= 0)
		mx_api_report_unexpected(s->req,
								 psprintf("The aggregate answer's \"%s\" is not a sum of numbers.",
										  alias));
	if (kind == OUT_SUM_FLOAT || kind == OUT_AVG_FLOAT || kind == OUT_AVG_VALUES)
	{
		p->sum = float_metric(sum);
		if (avg != NULL)
			p->avg = float_metric(avg);
		return;
	}
	p->most = Max(magnitude(integral_metric(s, min, psprintf("%sl", alias))),
				  magnitude(integral_metric(s, max, psprintf("%sh", alias))));
	check_exact(s, i, p->count, p->most);
	p->total = integral_metric(s, sum, alias);
}

/*
 * The number of values an avg of doubles with nulls was taken over: the
 * API's count counts documents, but its avg is sum / N, so N is
 * rint(sum / avg), exact while N * 2^-52 is far below 0.5 (N is at most
 * the count, bounded by MX_AGGREGATE_AVG_VALUES_MAX).  A sum and an avg
 * of zero give 1: the result is then the sum, a zero of its sign, as
 * sum / N would be whatever N.
 */
static float8
values_counted(MxUpperScan *s, int i, MxSumParts *p)
{
	const char *alias = strVal(list_nth(s->aliases, i));
	float8		n;

	if (p->sum == 0 && p->avg == 0)
		return 1;
	if (p->count > MX_AGGREGATE_AVG_VALUES_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("average of column \"%s\" is over too many documents to count its values exactly",
						summed_column(s, i)),
				 errdetail("A group of " INT64_FORMAT " documents has values missing in some; their number is found from Mixpeek's sum and average only up to " INT64_FORMAT " documents.",
						   p->count, MX_AGGREGATE_AVG_VALUES_MAX),
				 errhint("Set mixpeek.aggregate_pushdown to \"off\" to aggregate the documents locally.")));
	n = p->avg != 0 ? rint(p->sum / p->avg) : 0;
	if (!(n >= 1 && n <= p->count) ||
		fabs(p->sum / n - p->avg) > MX_AGGREGATE_AVG_ULPS * DBL_EPSILON * fabs(p->avg))
		mx_api_report_unexpected(s->req,
								 psprintf("The aggregate answer's \"%sv\" is not the average of \"%s\" over a whole number of values.",
										  alias, alias));
	return n;
}

/*
 * Output column i, a sum or an average, from its parts, as PostgreSQL
 * computes it: sum(int2/int4) bigint, sum(int8) numeric, avg(integers)
 * numeric_div(sum, count) as int8_avg does; for doubles the sum, and sum
 * / number of values as float8_avg (the API's avg may be computed
 * otherwise).  No number: null.
 */
static void
sum_result(MxUpperScan *s, int i, MxSumParts *p, Oid type, Datum *value,
		   bool *isnull)
{
	*isnull = p->none;
	if (*isnull)
		return;
	switch ((MxUpperOutput) list_nth_int(s->grouped, i))
	{
		case OUT_SUM_FLOAT:
			*value = Float8GetDatum(p->sum);
			break;
		case OUT_AVG_FLOAT:
			*value = Float8GetDatum(p->sum / (float8) p->count);
			break;
		case OUT_AVG_VALUES:
			*value = Float8GetDatum(p->sum / values_counted(s, i, p));
			break;
		case OUT_AVG_INT:
			*value = DirectFunctionCall2(numeric_div,
										 NumericGetDatum(int64_to_numeric(p->total)),
										 NumericGetDatum(int64_to_numeric(p->count)));
			break;
		default:
			*value = type == INT8OID ? Int64GetDatum(p->total)
				: NumericGetDatum(int64_to_numeric(p->total));
	}
}

/* The group and metrics of result k of an answer (s->req's). */
static void
result_parts(MxUpperScan *s, MxAggAnswer *answer, int k,
			 MxJsonObject **group, MxJsonObject **metrics)
{
	MxAggResult *result = &answer->results[k];

	if (!result->object)
		mx_api_report_unexpected(s->req, "An aggregate result is not an object.");
	if (result->group.n < 0)
		no_valid(s, "group");
	if (result->metrics.n < 0)
		no_valid(s, "metrics");
	*group = &result->group;
	*metrics = &result->metrics;
}

/* Fill the slot from group k. */
static void
store_group(MxUpperScan *s, TupleTableSlot *slot, int k)
{
	MxJsonObject *group,
			   *metrics;
	ErrorContextCallback errcb;
	ListCell   *la,
			   *lg;
	int			i = 0;

	result_parts(s, s->answer, k, &group, &metrics);
	mx_api_enter_request(&errcb, s->req);
	forboth(la, s->aliases, lg, s->grouped)
	{
		Form_pg_attribute att = TupleDescAttr(slot->tts_tupleDescriptor, i);
		MxSumParts parts;

		if (lfirst_int(lg) >= OUT_SUM_INT)
		{
			sum_parts(s, metrics, i, &parts);
			sum_result(s, i, &parts, att->atttypid, &slot->tts_values[i],
					   &slot->tts_isnull[i]);
		}
		else
			column_value(member_of(s, lfirst_int(lg) ? group : metrics,
								   strVal(lfirst(la)), jbvNull),
						 att, &slot->tts_values[i], &slot->tts_isnull[i]);
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

typedef struct MxMergeRows
{
	MxMergeRow *rows;
	int			n;
	int			size;
} MxMergeRows;

/*
 * A value of a count(DISTINCT) argument as text that is equal for equal
 * values only, as the API groups them (by JSON type and value): strings
 * length-prefixed, numbers normalized.  Its column holds text, integers
 * or booleans, whose equality this is.
 */
static void
append_canonical(MxUpperScan *s, StringInfo buf, JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			appendStringInfoChar(buf, 'z');
			break;
		case jbvString:
			appendStringInfo(buf, "s%d:", v->val.string.len);
			appendBinaryStringInfo(buf, v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			appendStringInfo(buf, "n%s;", numeric_normalize(v->val.numeric));
			break;
		case jbvBool:
			appendStringInfoChar(buf, v->val.boolean ? 't' : 'f');
			break;
		default:
			mx_api_report_unexpected(s->req, "An aggregate group value is not a JSON scalar.");
	}
}

/*
 * A group key as text that is equal for keys PostgreSQL finds equal: the
 * output of the column's type (so that "2024-01-01T00:00:00Z" and
 * "2024-01-01T00:00:00.000Z" from two answers make one group), the
 * key's bytes for text (deterministic collations only are grouped).
 */
static void
append_key(StringInfo buf, JsonbValue *v, Form_pg_attribute att)
{
	Datum		value;
	bool		isnull;
	Oid			typoutput;
	bool		varlena;
	char	   *text;

	column_value(v, att, &value, &isnull);
	if (isnull)
	{
		appendStringInfoChar(buf, 'z');
		return;
	}
	getTypeOutputInfo(att->atttypid, &typoutput, &varlena);
	text = OidOutputFunctionCall(typoutput, value);
	appendStringInfo(buf, "v%zu:%s", strlen(text), text);
}

/* A canonical key kept in cxt, and its hash. */
static char *
copy_key(MemoryContext cxt, StringInfo buf, int *len, uint64 *hash)
{
	char	   *copy = MemoryContextAlloc(cxt, buf->len + 1);

	memcpy(copy, buf->data, buf->len + 1);
	*len = buf->len;
	*hash = hash_bytes_extended((const unsigned char *) buf->data, buf->len, 0);
	return copy;
}

/* A new row of all, in CurrentMemoryContext. */
static MxMergeRow *
new_row(MxMergeRows *all, int ncols)
{
	MxMergeRow *row;

	if (all->n == all->size)
	{
		all->size = Max(64, all->size * 2);
		all->rows = all->rows == NULL ? palloc(all->size * sizeof(MxMergeRow))
			: repalloc_huge(all->rows, all->size * sizeof(MxMergeRow));
	}
	row = &all->rows[all->n++];
	memset(row, 0, sizeof(MxMergeRow));
	row->values = palloc0(ncols * sizeof(JsonbValue *));
	return row;
}

/*
 * The groups of one answer (s->req's), added to all; neither: the answer
 * for the documents without the split column, whose group key is null.
 * desc: the scan's output columns.  What a row's keys are made from (the
 * values through their types' input and output) is thrown away with each
 * row: an answer may hold 100,000 groups.
 */
static void
collect_rows(MxUpperScan *s, MxAggAnswer *answer, int n, MxMergeRows *all,
			 bool neither, TupleDesc desc)
{
	MemoryContext keep = CurrentMemoryContext;
	MemoryContext scratch = AllocSetContextCreate(keep, "mixpeek merge keys",
												  ALLOCSET_SMALL_SIZES);
	ErrorContextCallback errcb;
	/* the rows keep pointing at it after this returns */
	static JsonbValue null_value = {.type = jbvNull};
	int			ncols = list_length(s->kinds);
	bool		sums = list_member_int(s->kinds, MX_MERGE_SUMS);
	StringInfoData buf;
	StringInfoData dbuf;
	int			i;

	initStringInfo(&buf);
	initStringInfo(&dbuf);
	for (i = 0; i < n; i++)
	{
		MxJsonObject *group,
				   *metrics;
		MxMergeRow *row = new_row(all, ncols);
		ListCell   *la,
				   *lk;
		int			c = 0;

		CHECK_FOR_INTERRUPTS();
		result_parts(s, answer, i, &group, &metrics);
		if (sums)
			row->sums = palloc0(ncols * sizeof(MxSumParts));
		mx_api_enter_request(&errcb, s->req);
		resetStringInfo(&buf);
		resetStringInfo(&dbuf);
		MemoryContextSwitchTo(scratch);
		forboth(la, s->aliases, lk, s->kinds)
		{
			int			kind = lfirst_int(lk);
			JsonbValue *v;

			if (kind == MX_MERGE_DISTINCT)
			{
				v = member_of(s, group, DISTINCT_ALIAS, jbvNull);
				/* a null group (a lenient API's) counts no value */
				if (v->type != jbvNull && dbuf.len == 0)
					append_canonical(s, &dbuf, v);
			}
			else if (kind == MX_MERGE_SUMS)
				sum_parts(s, metrics, c, &row->sums[c]);
			else
			{
				v = neither && c == s->null_key ? &null_value :
					member_of(s, kind == MX_MERGE_KEY ? group : metrics,
							  strVal(lfirst(la)), jbvNull);
				row->values[c] = v;
				if (kind == MX_MERGE_KEY)
					append_key(&buf, v, TupleDescAttr(desc, c));
			}
			c++;
		}
		MemoryContextSwitchTo(keep);
		MemoryContextReset(scratch);
		error_context_stack = errcb.previous;
		row->key = copy_key(keep, &buf, &row->keylen, &row->hash);
		if (dbuf.len > 0)
			row->dkey = copy_key(keep, &dbuf, &row->dkeylen, &row->dhash);
	}
	MemoryContextDelete(scratch);
}

static int
compare_bytes(const char *a, int alen, const char *b, int blen)
{
	int			c = memcmp(a, b, Min(alen, blen));

	return c != 0 ? c : (alen > blen) - (alen < blen);
}

/*
 * The order that brings rows of one key together: by the key's hash, then
 * its bytes (the groups' order does not matter: the rows go up to
 * PostgreSQL, which sorts them if asked).
 */
static int
compare_keys(const MxMergeRow *x, const MxMergeRow *y)
{
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return compare_bytes(x->key, x->keylen, y->key, y->keylen);
}

/* qsort order of merged rows: by key, then distinct value (none first). */
static int
compare_rows(const void *a, const void *b)
{
	const MxMergeRow *x = a;
	const MxMergeRow *y = b;
	int			c = compare_keys(x, y);

	if (c != 0)
		return c;
	if (x->dkey == NULL || y->dkey == NULL)
		return (x->dkey != NULL) - (y->dkey != NULL);
	if (x->dhash != y->dhash)
		return x->dhash < y->dhash ? -1 : 1;
	return compare_bytes(x->dkey, x->dkeylen, y->dkey, y->dkeylen);
}

static JsonbValue *
int_value(int64 n)
{
	JsonbValue *v = palloc(sizeof(JsonbValue));

	v->type = jbvNumeric;
	v->val.numeric = int64_to_numeric(n);
	return v;
}

/* Does v come before best in min's order (numbers, or strings by bytes)? */
static bool
precedes(MxUpperScan *s, JsonbValue *v, JsonbValue *best)
{
	if (v->type == jbvNumeric && best->type == jbvNumeric)
		return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
												 NumericGetDatum(v->val.numeric),
												 NumericGetDatum(best->val.numeric))) < 0;
	if (v->type == jbvString && best->type == jbvString)
		return compare_bytes(v->val.string.val, v->val.string.len,
							 best->val.string.val, best->val.string.len) < 0;
	mx_api_report_unexpected(s->req, "The aggregate answers mix value types in one group.");
}

/* Column c of the group merged from rows[first .. last - 1]. */
static JsonbValue *
merge_value(MxUpperScan *s, MxMergeRow *rows, int first, int last, int c,
			int kind)
{
	JsonbValue *best = NULL;
	int64		total = 0;
	int			r;

	if (kind == MX_MERGE_KEY)
		return rows[first].values[c];
	for (r = first; r < last; r++)
	{
		JsonbValue *v = rows[r].values[c];

		if (kind == MX_MERGE_DISTINCT)
			total += rows[r].dkey != NULL &&
				(r == first || compare_rows(&rows[r - 1], &rows[r]) != 0);
		else if (kind == MX_MERGE_SUM)
		{
			if (v->type != jbvNumeric ||
				pg_add_s64_overflow(total,
									DatumGetInt64(DirectFunctionCall1(numeric_int8,
																	  NumericGetDatum(v->val.numeric))),
									&total))
				mx_api_report_unexpected(s->req, "An aggregate count is not a number.");
		}
		else if (v->type != jbvNull &&
				 (best == NULL || precedes(s, v, best) == (kind == MX_MERGE_MIN)))
			best = v;
	}
	if (kind == MX_MERGE_MIN || kind == MX_MERGE_MAX)
		return best != NULL ? best : rows[first].values[c];
	return int_value(total);
}

/*
 * The parts of sum column c of the group merged from rows[first .. last -
 * 1]: integers added exactly, the total checked as one answer's would be;
 * doubles come from one answer (merge_kind).
 */
static void
merge_sums(MxUpperScan *s, MxMergeRow *rows, int first, int last, int c,
		   MxSumParts *out)
{
	int			r;

	memset(out, 0, sizeof(MxSumParts));
	out->none = true;
	for (r = first; r < last; r++)
	{
		MxSumParts *p = &rows[r].sums[c];

		out->count += p->count;
		if (p->none)
			continue;
		if (!out->none && list_nth_int(s->grouped, c) >= OUT_SUM_FLOAT)
			mx_api_report_unexpected(s->req, "The aggregate answers hold one group twice.");
		out->none = false;
		out->sum = p->sum;
		out->avg = p->avg;
		out->most = Max(out->most, p->most);
		out->total += p->total;
	}
	if (!out->none)
		check_exact(s, c, out->count, out->most);
}

/* One group per key from the rows of every answer, in s->merged. */
static void
merge_rows(MxUpperScan *s, MxMergeRows *all)
{
	int			ncols = list_length(s->kinds);
	int			first = 0;

	if (all->n > 1)
		qsort(all->rows, all->n, sizeof(MxMergeRow), compare_rows);
	s->merged = palloc(Max(all->n, 1) * sizeof(MxMergeRow));
	while (first < all->n)
	{
		int			last = first + 1;
		MxMergeRow *out = &s->merged[s->nresults++];
		ListCell   *lk;

		while (last < all->n && compare_keys(&all->rows[first], &all->rows[last]) == 0)
			last++;
		out->values = palloc0(ncols * sizeof(JsonbValue *));
		out->sums = palloc0(ncols * sizeof(MxSumParts));
		foreach(lk, s->kinds)
		{
			int			c = foreach_current_index(lk);

			if (lfirst_int(lk) == MX_MERGE_SUMS)
				merge_sums(s, all->rows, first, last, c, &out->sums[c]);
			else
				out->values[c] = merge_value(s, all->rows, first, last, c,
											 lfirst_int(lk));
		}
		first = last;
	}
}

/*
 * Send the requests of a grouping merged locally together (one batch)
 * and merge their answers; any failure is an ERROR, never some groups.
 */
static void
fetch_merged(ForeignScanState *node, MxUpperScan *s)
{
	MemoryContext old = MemoryContextSwitchTo(s->cxt);
	int			nrequests = 1 + list_length(s->heads);
	MxMergeRows all = {0};
	bool		none;
	int			k;

	mx_scan_evaluate(node, s->expr_states, s->values, s->isnull);
	s->fetched = true;
	s->merged = NULL;
	s->nresults = 0;
	s->next = 0;
	(void) upper_body(s, NULL, &none, 0);
	if (!none)
	{
		MxBatch    *batch = mx_api_batch_in(s->target, nrequests, &s->stats,
											s->cxt, &s->batch_cxt);

		for (k = 0; k < nrequests; k++)
		{
			MxHttpRequest *req = mx_api_aggregate(s->target, s->rel->collection,
												  upper_body(s, NULL, &none, k));

			req->arg = (void *) (intptr_t) request_part(s, k);
			mx_batch_add(batch, req);
		}
		for (k = 0; k < nrequests; k++)
		{
			MxAggAnswer *answer;
			int			n;

			s->req = mx_batch_next(batch);
			answer = answer_results(s, &n);
			collect_rows(s, answer, n, &all,
						 s->req->arg == (void *) (intptr_t) SP_NEITHER,
						 node->ss.ss_ScanTupleSlot->tts_tupleDescriptor);
		}
		mx_api_batch_drop(&s->batch_cxt);
		merge_rows(s, &all);
	}
	MemoryContextSwitchTo(old);
}

/* Fill the slot from merged group k. */
static void
store_merged(MxUpperScan *s, TupleTableSlot *slot, int k)
{
	ErrorContextCallback errcb;
	int			i;

	mx_api_enter_request(&errcb, s->req);
	for (i = 0; i < list_length(s->kinds); i++)
	{
		Form_pg_attribute att = TupleDescAttr(slot->tts_tupleDescriptor, i);

		if (list_nth_int(s->kinds, i) == MX_MERGE_SUMS)
			sum_result(s, i, &s->merged[k].sums[i], att->atttypid,
					   &slot->tts_values[i], &slot->tts_isnull[i]);
		else
			column_value(s->merged[k].values[i], att, &slot->tts_values[i],
						 &slot->tts_isnull[i]);
	}
	error_context_stack = errcb.previous;
}

/*
 * A plan that groups by a date_trunc sent while the time zone was UTC's,
 * run (or a cursor of it fetched) in another zone, where PostgreSQL's
 * truncation differs: an ERROR, never the UTC groups.
 */
static void
check_zone(void)
{
	if (!utc_session())
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
	if (!s->fetched && s->kinds != NIL)
		fetch_merged(node, s);
	else if (!s->fetched)
		fetch_groups(node, s);
	ExecClearTuple(slot);
	empty_row = s->nogroup && s->nresults == 0 && s->next == 0;
	if (s->next >= s->nresults && !empty_row)
		return slot;
	if (empty_row)
		store_empty(slot, s->grouped);
	else if (s->merged != NULL)
		store_merged(s, slot, s->next);
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
	int			k;

	if (es->verbose)
	{
		const char **shown = mx_explain_values(node, s->values, s->isnull,
											   s->nexprs, es);

		ExplainPropertyText("Remote Request",
							psprintf("POST %s",
									 mx_api_aggregate_path(s->rel->collection)),
							es);
		ExplainPropertyText("Remote Body", upper_body(s, shown, &none, 0), es);
		for (k = 1; k <= list_length(s->heads); k++)
			ExplainPropertyText(psprintf("Remote Body %d", k + 1),
								upper_body(s, shown, &none, k), es);
		if (s->kinds != NIL)
			ExplainPropertyText("Local Merge", s->heads != NIL
								? "the groups of every answer by key"
								: "the distinct values of the groups", es);
	}
	if (es->analyze)
	{
		ExplainPropertyUInteger("Remote Requests", NULL, s->stats.requests, es);
		ExplainPropertyUInteger("Remote Retries", NULL, s->stats.retries, es);
		ExplainPropertyUInteger("Remote Bytes", NULL, s->stats.bytes, es);
	}
}
