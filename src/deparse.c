/*-------------------------------------------------------------------------
 *
 * deparse.c
 *		What a mixpeek_fdw scan asks the API for: which WHERE clauses can be
 *		sent as list filters, the sort, the select list, and the request
 *		bodies and their EXPLAIN text.
 *
 * Exactness.  Every clause sent as a filter is also checked locally, so a
 * filter may let through more documents than the clause accepts, never
 * fewer (a document id lookup is checked by the scan, see fdw.c).  That is
 * what decides what is sent:
 * - a standard column reads its first non-null location, so a comparison
 *   is sent as an OR over its locations (a superset), IS NULL as an AND;
 * - the API compares strings byte by byte, so text ranges and sorts are
 *   sent only under the C collation, equality only under a deterministic
 *   one, and always with case_sensitive: true;
 * - numbers: the API compares decimals exactly (the mock does), or as
 *   doubles (a search engine may): what is sent holds under both.  Values
 *   keep every digit; a double precision column compares the document's
 *   number rounded to a double, so equality becomes the interval of
 *   decimals that round to it; on numeric and bigint, two values that
 *   differ may tie as doubles, so strict bounds become non-strict and <>
 *   / NOT IN are not sent (see add_comparison);
 * - anything whose remote comparison follows other rules than the column
 *   type's (timestamptz, uuid, jsonb, ...) is not sent, except IS [NOT]
 *   NULL, which does not depend on the type.
 * - a text column shows numbers and booleans as their JSON text: equality
 *   also asks for the number or boolean, and what the API cannot match
 *   that way is not sent (see append_string_candidates).
 * Ranges and sorts assume a field holds the JSON type that matches its
 * column (strings for text, numbers for numeric types, booleans for
 * boolean).
 *
 * Certainty.  The API does not document its filter rules; the lenient
 * ones (any operator on any type, is_null true for missing fields) and
 * strict, Qdrant-like ones (is_null for explicit nulls only, ranges on
 * numbers and datetimes only, no exact match on floats, sorts on indexed
 * fields only) differ.  Each condition and sort is classified once, here,
 * with the least mixpeek.pushdown that sends it (op_level, mx_sort_level):
 * safe when exact under both rule sets, all when exact under the lenient
 * ones only.  What the API refuses anyway is retried without (fdw.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "access/sysattr.h"
#include "catalog/pg_am.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "common/shortest_dec.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/pg_locale.h"

#include "utils/json.h"

#include "columns.h"
#include "compat.h"
#include "float_bounds.h"
#include "mixpeek_fdw.h"
#include "settings.h"

/* How the value of a condition is sent, from the column type. */
typedef enum MxValueKind
{
	MX_VALUE_NONE,				/* cannot be compared remotely */
	MX_VALUE_STRING,
	MX_VALUE_INTEGER,
	MX_VALUE_NUMBER,
	MX_VALUE_BOOLEAN
} MxValueKind;

static MxValueKind
value_kind(Oid typid)
{
	switch (typid)
	{
		case TEXTOID:
		case VARCHAROID:
			return MX_VALUE_STRING;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return MX_VALUE_INTEGER;
		case FLOAT8OID:
		case NUMERICOID:
			return MX_VALUE_NUMBER;
		case BOOLOID:
			return MX_VALUE_BOOLEAN;
		default:
			return MX_VALUE_NONE;
	}
}

/*
 * Types whose values may round when the API reads them as doubles: two
 * different values can compare equal remotely.
 */
static bool
rounds_remotely(Oid typid)
{
	return typid == NUMERICOID || typid == INT8OID;
}

/*
 * mx_column_of
 *		The column a node refers to, if it is a plain column of this
 *		relation whose every location the API can filter on; else NULL.
 */
MxColumn *
mx_column_of(MxRelation *rel, Index relid, Node *node)
{
	Var		   *var;
	MxColumn   *col;
	int			i;

	while (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	if (node == NULL || !IsA(node, Var))
		return NULL;
	var = (Var *) node;
	if (var->varno != relid || var->varlevelsup != 0 ||
		var->varattno <= 0 || var->varattno > rel->natts)
		return NULL;
	col = &rel->columns[var->varattno - 1];
	if (col->name == NULL || col->whole_document || col->nlocations == 0)
		return NULL;
	for (i = 0; i < col->nlocations; i++)
	{
		/* a URL taken from the blobs is not a field the API can filter on */
		if (!col->locations[i].remote_ok ||
			col->locations[i].blob_urls != MX_BLOB_URLS_NONE)
			return NULL;
	}
	return col;
}

static bool
refers_to_rel_walker(Node *node, Index *relid)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;

		return var->varno == *relid && var->varlevelsup == 0;
	}
	return expression_tree_walker(node, refers_to_rel_walker, relid);
}

/*
 * Can the executor compute this expression once per scan, before the
 * first request?  Outer references of a parameterized path become Params.
 */
static bool
is_scan_value(Index relid, Node *expr)
{
	return !refers_to_rel_walker(expr, &relid) &&
		!contain_volatile_functions(expr) &&
		!contain_subplans(expr);
}

static Oid
btree_family(Oid typid)
{
	Oid			opclass = GetDefaultOpClass(typid, BTREE_AM_OID);

	return OidIsValid(opclass) ? get_opclass_family(opclass) : InvalidOid;
}

/* Reverse a comparison, for "value op column". */
static MxCondOp
commute(MxCondOp op)
{
	switch (op)
	{
		case MX_OP_LT:
			return MX_OP_GT;
		case MX_OP_LE:
			return MX_OP_GE;
		case MX_OP_GT:
			return MX_OP_LT;
		case MX_OP_GE:
			return MX_OP_LE;
		default:
			return op;
	}
}

/* The comparison an operator makes in the column type's btree family. */
static bool
comparison_of(Oid opno, Oid family, MxCondOp *op)
{
	Oid			negator;

	switch (get_op_opfamily_strategy(opno, family))
	{
		case BTLessStrategyNumber:
			*op = MX_OP_LT;
			return true;
		case BTLessEqualStrategyNumber:
			*op = MX_OP_LE;
			return true;
		case BTEqualStrategyNumber:
			*op = MX_OP_EQ;
			return true;
		case BTGreaterEqualStrategyNumber:
			*op = MX_OP_GE;
			return true;
		case BTGreaterStrategyNumber:
			*op = MX_OP_GT;
			return true;
		default:
			break;
	}
	negator = get_negator(opno);
	if (OidIsValid(negator) &&
		get_op_opfamily_strategy(negator, family) == BTEqualStrategyNumber)
	{
		*op = MX_OP_NE;
		return true;
	}
	return false;
}

/*
 * The certainty of a comparison on this column under this collation: the
 * least mixpeek.pushdown that sends it, or -1 when no level may (the API
 * could drop a row PostgreSQL keeps).  See the README's table:
 * - safe: what keeps every matching row under the lenient rules and under
 *   the strict (Qdrant-like) ones: ranges only on numbers, exact matches
 *   on strings, integers and booleans, never on floats;
 * - all: what the strict rules refuse (400) or narrow: ranges on strings,
 *   matches on double precision and numeric values, starts_with.
 */
static int
op_level(MxColumn *col, MxCondOp op, Oid collid)
{
	bool		range = (op == MX_OP_LT || op == MX_OP_LE ||
						 op == MX_OP_GT || op == MX_OP_GE);

	switch (value_kind(col->typid))
	{
		case MX_VALUE_STRING:
			if (!OidIsValid(collid))
				return -1;
			if (range)
				return mx_collation_is_c(collid) ? MX_PUSHDOWN_ALL : -1;
			if (!get_collation_isdeterministic(collid))
				return -1;
			return op == MX_OP_PREFIX ? MX_PUSHDOWN_ALL : MX_PUSHDOWN_SAFE;
		case MX_VALUE_INTEGER:
		case MX_VALUE_NUMBER:
			if (op == MX_OP_PREFIX)
				return -1;
			if (op == MX_OP_NE || op == MX_OP_NIN)
			{
				if (rounds_remotely(col->typid))
					return -1;
				return col->typid == FLOAT8OID ? MX_PUSHDOWN_ALL : MX_PUSHDOWN_SAFE;
			}
			/* equality on a double is an interval: see add_comparison */
			if (op == MX_OP_IN && col->typid == FLOAT8OID)
				return -1;
			/* a numeric value may be a float, which strict rules refuse */
			if (op == MX_OP_IN && col->typid == NUMERICOID)
				return MX_PUSHDOWN_ALL;
			return MX_PUSHDOWN_SAFE;
		case MX_VALUE_BOOLEAN:
			return (op == MX_OP_EQ || op == MX_OP_NE) ? MX_PUSHDOWN_SAFE : -1;
		case MX_VALUE_NONE:
			break;
	}
	return -1;
}

/* A comparison that can be sent: the condition and its value. */
static bool
accept_comparison(MxColumn *col, MxCondOp op, Oid collid, Node *arg,
				  MxCond *cond, Expr **value)
{
	cond->level = op_level(col, op, collid);
	if (cond->level < 0)
		return false;
	cond->attnum = col->attnum;
	cond->op = op;
	*value = (Expr *) arg;
	return true;
}

static bool
classify_opexpr(MxRelation *rel, Index relid, OpExpr *expr, MxCond *cond,
				Expr **value)
{
	Node	   *left,
			   *right;
	MxColumn   *col;
	bool		swapped = false;
	MxCondOp	op;

	if (list_length(expr->args) != 2)
		return false;
	left = linitial(expr->args);
	right = lsecond(expr->args);
	col = mx_column_of(rel, relid, left);
	if (col == NULL)
	{
		col = mx_column_of(rel, relid, right);
		swapped = true;
		right = left;
	}
	if (col == NULL || !is_scan_value(relid, right))
		return false;
	if (value_kind(col->typid) == MX_VALUE_NONE)
		return false;

	if (!comparison_of(expr->opno, btree_family(col->typid), &op))
		return false;
	if (swapped)
		op = commute(op);
	return accept_comparison(col, op, expr->inputcollid, right, cond, value);
}

/*
 * LIKE 'prefix%' (no other wildcard) is starts_with; a pattern without
 * wildcards is equality.
 */
static bool
classify_like(MxRelation *rel, Index relid, OpExpr *expr, MxCond *cond,
			  Expr **value)
{
	MxColumn   *col;
	Const	   *pattern;
	char	   *pat;
	StringInfoData prefix;
	char	   *p;

	if (expr->opfuncid != F_TEXTLIKE || list_length(expr->args) != 2)
		return false;
	col = mx_column_of(rel, relid, linitial(expr->args));
	if (col == NULL || value_kind(col->typid) != MX_VALUE_STRING ||
		!IsA(lsecond(expr->args), Const))
		return false;
	pattern = lsecond_node(Const, expr->args);
	if (pattern->constisnull || op_level(col, MX_OP_EQ, expr->inputcollid) < 0)
		return false;

	pat = TextDatumGetCString(pattern->constvalue);
	initStringInfo(&prefix);
	for (p = pat; *p && *p != '%' && *p != '_'; p++)
	{
		if (*p == '\\')
		{
			p++;
			if (*p == '\0')
				return false;	/* LIKE raises an error for this */
		}
		appendStringInfoChar(&prefix, *p);
	}
	if (*p == '\0')
		cond->op = MX_OP_EQ;
	else
	{
		/* only trailing %s may follow the prefix */
		for (; *p == '%'; p++)
			;
		if (*p != '\0' || prefix.len == 0)
			return false;
		cond->op = MX_OP_PREFIX;
	}
	cond->level = op_level(col, cond->op, expr->inputcollid);
	cond->attnum = col->attnum;
	*value = (Expr *) makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
								CStringGetTextDatum(prefix.data), false, false);
	return true;
}

static bool
classify_saop(MxRelation *rel, Index relid, ScalarArrayOpExpr *expr,
			  MxCond *cond, Expr **value)
{
	MxColumn   *col;
	Node	   *array;
	MxCondOp	op;

	if (list_length(expr->args) != 2)
		return false;
	col = mx_column_of(rel, relid, linitial(expr->args));
	array = lsecond(expr->args);
	if (col == NULL || !is_scan_value(relid, array) ||
		value_kind(col->typid) == MX_VALUE_NONE)
		return false;
	if (!comparison_of(expr->opno, btree_family(col->typid), &op))
		return false;
	if (op == MX_OP_EQ && expr->useOr)
		op = MX_OP_IN;
	else if (op == MX_OP_NE && !expr->useOr)
		op = MX_OP_NIN;
	else
		return false;
	return accept_comparison(col, op, expr->inputcollid, array, cond, value);
}

static bool
classify_nulltest(MxRelation *rel, Index relid, NullTest *test, MxCond *cond)
{
	MxColumn   *col = mx_column_of(rel, relid, (Node *) test->arg);

	if (col == NULL || test->argisrow)
		return false;
	cond->attnum = col->attnum;
	cond->op = test->nulltesttype == IS_NULL ? MX_OP_IS_NULL : MX_OP_NOT_NULL;
	/* strict rules: is_null matches explicit nulls only, not missing fields */
	cond->level = cond->op == MX_OP_IS_NULL ? MX_PUSHDOWN_ALL : MX_PUSHDOWN_SAFE;
	return true;
}

/* "WHERE flag" and "WHERE NOT flag" on a boolean column. */
static bool
classify_boolean(MxRelation *rel, Index relid, Expr *clause, MxCond *cond,
				 Expr **value)
{
	bool		negated = false;
	MxColumn   *col;

	if (is_notclause(clause))
	{
		clause = get_notclausearg(clause);
		negated = true;
	}
	col = mx_column_of(rel, relid, (Node *) clause);
	if (col == NULL || col->typid != BOOLOID)
		return false;
	cond->attnum = col->attnum;
	cond->op = MX_OP_EQ;
	cond->level = MX_PUSHDOWN_SAFE;
	*value = (Expr *) makeBoolConst(!negated, false);
	return true;
}

static MxCond *classify_clause(MxRelation *rel, Index relid, Expr *clause,
								List **values);

/*
 * An OR whose every argument can be sent, or an AND (inside an OR) with
 * the arguments that can be sent at this mixpeek.pushdown: leaving out a
 * member of an AND only widens what it asks for, leaving out one of an OR
 * would narrow it.
 */
static MxCond *
classify_bool_expr(MxRelation *rel, Index relid, BoolExpr *expr, List **values)
{
	MxCond	   *cond = palloc0(sizeof(MxCond));
	int			nvalues = list_length(*values);
	bool		is_and = (expr->boolop == AND_EXPR);
	ListCell   *lc;

	cond->op = is_and ? MX_OP_AND : MX_OP_OR;
	cond->expr_index = -1;
	cond->level = MX_PUSHDOWN_SAFE;
	foreach(lc, expr->args)
	{
		int			before = list_length(*values);
		MxCond	   *arg = classify_clause(rel, relid, lfirst(lc), values);

		if (is_and && (arg == NULL || arg->level > mx_pushdown))
		{
			*values = list_truncate(*values, before);
			continue;
		}
		if (arg == NULL)
		{
			*values = list_truncate(*values, nvalues);
			return NULL;
		}
		cond->level = Max(cond->level, arg->level);
		cond->args = lappend(cond->args, arg);
	}
	if (cond->args == NIL)
		return NULL;			/* an AND with nothing to send */
	return cond;
}

/*
 * Can this clause be sent as a list filter?  Its values' expressions are
 * appended to *values, which the condition refers to by position.
 */
static MxCond *
classify_clause(MxRelation *rel, Index relid, Expr *clause, List **values)
{
	MxCond		cond = {0};
	MxCond	   *result;
	Expr	   *value = NULL;
	bool		ok;

	if (is_orclause(clause) || is_andclause(clause))
		return classify_bool_expr(rel, relid, (BoolExpr *) clause, values);
	switch (nodeTag(clause))
	{
		case T_OpExpr:
			ok = classify_like(rel, relid, (OpExpr *) clause, &cond, &value) ||
				classify_opexpr(rel, relid, (OpExpr *) clause, &cond, &value);
			break;
		case T_ScalarArrayOpExpr:
			ok = classify_saop(rel, relid, (ScalarArrayOpExpr *) clause,
							   &cond, &value);
			break;
		case T_NullTest:
			ok = classify_nulltest(rel, relid, (NullTest *) clause, &cond);
			break;
		default:
			ok = classify_boolean(rel, relid, clause, &cond, &value);
			break;
	}
	if (!ok)
		return NULL;
	result = palloc(sizeof(MxCond));
	*result = cond;
	result->expr_index = -1;
	if (value != NULL)
	{
		result->expr_index = list_length(*values);
		*values = lappend(*values, value);
	}
	return result;
}

/* The column that holds the document id, if any. */
static bool
is_id_column(MxColumn *col)
{
	return col != NULL && col->nlocations == 1 &&
		strcmp(col->locations[0].dotted, MX_DOCUMENT_ID_FIELD) == 0 &&
		value_kind(col->typid) == MX_VALUE_STRING;
}

bool
mx_is_id_expr(MxRelation *rel, Index relid, Expr *expr)
{
	return is_id_column(mx_column_of(rel, relid, (Node *) expr));
}

/*
 * document_id = value, or document_id = ANY(array): answered by GETs.
 * Fills in *id, all but its clause.
 */
bool
mx_is_id_condition(MxRelation *rel, Index relid, Expr *clause,
				   MxIdLookup *id)
{
	MxCond		cond;
	Expr	   *value = NULL;
	bool		ok = false;

	if (IsA(clause, OpExpr))
		ok = classify_opexpr(rel, relid, (OpExpr *) clause, &cond, &value);
	else if (IsA(clause, ScalarArrayOpExpr))
		ok = classify_saop(rel, relid, (ScalarArrayOpExpr *) clause, &cond,
						   &value);
	if (!ok || (cond.op != MX_OP_EQ && cond.op != MX_OP_IN) ||
		!is_id_column(&rel->columns[cond.attnum - 1]))
		return false;
	id->value = value;
	id->many = (cond.op == MX_OP_IN);
	id->batched = false;
	id->attnum = cond.attnum;
	return true;
}

/*
 * Sort clauses into those sent as filters (remote) and the others
 * (local); both are RestrictInfo lists.  Each remote clause's condition is
 * kept in *classified (MxRemoteClause, in the order of *remote), so that
 * the plan is built from this one classification.  A document_id lookup,
 * if any, is returned in *id (a single-id lookup preferred over an array).
 */
void
mx_classify_conditions(PlannerInfo *root, RelOptInfo *baserel,
					   MxRelation *rel, List *clauses, MxIdLookup *id,
					   List **remote, List **local, List **classified)
{
	ListCell   *lc;

	memset(id, 0, sizeof(MxIdLookup));
	*remote = NIL;
	*local = NIL;
	*classified = NIL;
	foreach(lc, clauses)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		List	   *values = NIL;
		MxIdLookup	candidate;
		MxCond	   *cond;

		if (!mx_pushdown || ri->pseudoconstant)
		{
			*local = lappend(*local, ri);
			continue;
		}
		if (mx_is_id_condition(rel, baserel->relid, ri->clause, &candidate) &&
			(id->value == NULL || (id->many && !candidate.many)))
		{
			*id = candidate;
			id->clause = ri;
		}
		cond = classify_clause(rel, baserel->relid, ri->clause, &values);
		if (cond != NULL && cond->level <= mx_pushdown)
		{
			MxRemoteClause *rc = palloc(sizeof(MxRemoteClause));

			rc->ri = ri;
			rc->cond = cond;
			rc->values = values;
			*remote = lappend(*remote, ri);
			*classified = lappend(*classified, rc);
		}
		else
			*local = lappend(*local, ri);
	}
}

/*
 * A copy of cond whose values are found offset positions further on: a
 * clause's values come after those of the clauses before it in fdw_exprs.
 */
static MxCond *
cond_shifted(MxCond *cond, int offset)
{
	MxCond	   *copy = palloc(sizeof(MxCond));
	ListCell   *lc;

	*copy = *cond;
	if (cond->expr_index >= 0)
		copy->expr_index += offset;
	copy->args = NIL;
	foreach(lc, cond->args)
		copy->args = lappend(copy->args, cond_shifted(lfirst(lc), offset));
	return copy;
}

/*
 * Which fields does the scan need?  NIL means whole documents: for the
 * whole row, the "document" column, or a location the API cannot address.
 * Only the columns used ask for vectors and URLs, so that "document" holds
 * the document as sent without them.  Two columns of one field ask once.
 */
static List *
select_list(MxRelation *rel, Bitmapset *attrs_used, bool *vectors, bool *urls)
{
	List	   *select = list_make1(makeString(pstrdup(MX_DOCUMENT_ID_FIELD)));
	bool		all_columns = bms_is_member(0 - FirstLowInvalidHeapAttributeNumber,
											attrs_used);
	bool		whole = all_columns;
	int			i;

	*vectors = false;
	*urls = false;
	for (i = 0; i < rel->natts; i++)
	{
		MxColumn   *col = &rel->columns[i];
		int			j;

		if (col->name == NULL ||
			(!all_columns &&
			 !bms_is_member(col->attnum - FirstLowInvalidHeapAttributeNumber,
							attrs_used)))
			continue;
		*vectors |= col->needs_vectors;
		*urls |= col->needs_url;
		if (col->whole_document)
			whole = true;
		for (j = 0; j < col->nlocations; j++)
		{
			MxLocation *loc = &col->locations[j];

			if (!loc->remote_ok)
				whole = true;
			else if (strcmp(loc->dotted, MX_DOCUMENT_ID_FIELD) != 0)
				select = list_append_unique(select,
											makeString(pstrdup(loc->dotted)));
		}
	}
	return whole ? NIL : select;
}

/*
 * The scan the planner chose, with its values' expressions appended to
 * *fdw_exprs.  remote_clauses are the MxRemoteClauses that
 * mx_classify_conditions() made of the clauses sent, in the order to send
 * them.
 */
MxScanSpec *
mx_build_scan_spec(PlannerInfo *root, RelOptInfo *baserel, MxRelation *rel,
				   List *remote_clauses, MxIdLookup *id,
				   Bitmapset *attrs_used, List **fdw_exprs)
{
	MxScanSpec *spec = palloc0(sizeof(MxScanSpec));
	ListCell   *lc;

	spec->select = select_list(rel, attrs_used, &spec->return_vectors,
							   &spec->return_url);
	if (id->value != NULL)
	{
		spec->kind = id->many ? MX_SCAN_GET_MANY : MX_SCAN_GET;
		spec->id_attnum = id->attnum;
		*fdw_exprs = lappend(*fdw_exprs, id->value);
		/* a GET has no filters; id lists carry the others (id_fetch.c) */
		if (!id->many)
			return spec;
	}
	else
		spec->kind = MX_SCAN_LIST;
	foreach(lc, remote_clauses)
	{
		MxRemoteClause *rc = lfirst(lc);

		spec->conds = lappend(spec->conds,
							  cond_shifted(rc->cond, list_length(*fdw_exprs)));
		*fdw_exprs = list_concat(*fdw_exprs, rc->values);
	}
	return spec;
}

/*
 * Can ORDER BY this expression (pathkey opfamily, direction, nulls) be
 * left to the API?  It sorts one field, strings by bytes, numbers as
 * doubles, nulls and missing fields last ascending and first descending.
 * *coarse is set when the API's order is only a coarsening of
 * PostgreSQL's: bigint and numeric values that differ may tie as doubles,
 * so the rows come in PostgreSQL's order only up to such ties (fdw.c
 * sorts them again, see its top-N path).
 */
bool
mx_sort_pushable(MxRelation *rel, Index relid, Expr *expr, Oid opfamily,
				 Oid collation, bool nulls_first, bool desc,
				 AttrNumber *attnum, bool *coarse)
{
	MxColumn   *col = mx_column_of(rel, relid, (Node *) expr);

	if (col == NULL || col->nlocations != 1 || nulls_first != desc)
		return false;
	if (opfamily != btree_family(col->typid) ||
		mx_sort_level(rel, col->attnum) > mx_pushdown)
		return false;
	*coarse = false;
	switch (col->typid)
	{
		case TEXTOID:
		case VARCHAROID:
			if (!OidIsValid(collation) || !mx_collation_is_c(collation))
				return false;
			break;
		case INT2OID:
		case INT4OID:
		case FLOAT8OID:
			break;
		case INT8OID:
			*coarse = true;
			break;
		case NUMERICOID:

			/*
			 * A typmod rounds the document's value: two values that tie as
			 * doubles could round apart, out of the API's order.
			 */
			if (col->typmod >= 0)
				return false;
			*coarse = true;
			break;
		default:
			return false;
	}
	*attnum = col->attnum;
	return true;
}

/*
 * The certainty of a sort: strict rules sort only on a field with a payload
 * index, which the column option "indexed" vouches for.
 */
int
mx_sort_level(MxRelation *rel, AttrNumber attnum)
{
	return rel->columns[attnum - 1].indexed ? MX_PUSHDOWN_SAFE : MX_PUSHDOWN_ALL;
}

/* ---------- the spec in a plan ---------- */

static List *
cond_to_list(MxCond *cond)
{
	List	   *args = NIL;
	ListCell   *lc;

	foreach(lc, cond->args)
		args = lappend(args, cond_to_list(lfirst(lc)));
	return list_make5(makeInteger(cond->op), makeInteger(cond->attnum),
					  makeInteger(cond->expr_index), args,
					  makeInteger(cond->level));
}

static MxCond *
cond_from_list(List *item)
{
	MxCond	   *cond = palloc0(sizeof(MxCond));
	ListCell   *lc;

	cond->op = intVal(linitial(item));
	cond->attnum = intVal(lsecond(item));
	cond->expr_index = intVal(lthird(item));
	foreach(lc, (List *) lfourth(item))
		cond->args = lappend(cond->args, cond_from_list(lfirst(lc)));
	cond->level = intVal(list_nth(item, 4));
	return cond;
}

List *
mx_spec_to_list(MxScanSpec *spec)
{
	List	   *conds = NIL;
	ListCell   *lc;

	foreach(lc, spec->conds)
		conds = lappend(conds, cond_to_list(lfirst(lc)));
	return list_make5(makeInteger(spec->kind),
					  conds,
					  lappend_int(lappend_int(list_make5_int(spec->sort_attnum,
															 spec->sort_desc,
															 spec->return_vectors,
															 spec->return_url,
															 spec->id_attnum),
											  spec->limit_ties),
								  spec->first_page),
					  makeInteger(spec->limit),
					  spec->select);
}

MxScanSpec *
mx_spec_from_list(List *list)
{
	MxScanSpec *spec = palloc0(sizeof(MxScanSpec));
	List	   *flags = lthird(list);
	ListCell   *lc;

	spec->kind = intVal(linitial(list));
	foreach(lc, (List *) lsecond(list))
		spec->conds = lappend(spec->conds, cond_from_list(lfirst(lc)));
	spec->sort_attnum = linitial_int(flags);
	spec->sort_desc = lsecond_int(flags);
	spec->return_vectors = lthird_int(flags);
	spec->return_url = lfourth_int(flags);
	spec->id_attnum = list_nth_int(flags, 4);
	spec->limit_ties = list_nth_int(flags, 5);
	spec->first_page = list_nth_int(flags, 6);
	spec->limit = intVal(lfourth(list));
	spec->select = (List *) list_nth(list, 4);
	return spec;
}

/* ---------- request bodies ---------- */

/*
 * Bodies are written with escape_json rather than jansson: jansson keeps
 * numbers as doubles, and a filter value must keep every digit of a numeric
 * (the API compares decimals).  A writer on a StringInfo also cannot leak
 * when an output function raises an error halfway.
 */

/* One test of a condition, per location: operator and JSON value. */
typedef struct MxTest
{
	const char *op;
	char	   *value;
} MxTest;

/*
 * What a condition amounts to once its values are known: something to
 * send, nothing (it cannot be expressed: leaving it out only widens the
 * filter), or never true (a comparison with NULL).
 */
typedef enum MxTruth
{
	MX_SEND,
	MX_UNKNOWN,
	MX_NEVER
} MxTruth;

typedef struct MxPreparedCond
{
	MxTruth		truth;
	MxCondOp	op;
	List	   *args;			/* MxPreparedCond * of an AND/OR to send */
	MxColumn   *col;
	bool		all_locations;	/* IS NULL: every location must match */
	int			ntests;
	MxTest		tests[MX_MAX_LOCATIONS];
} MxPreparedCond;

static const char *const operator_names[] = {
	[MX_OP_EQ] = "eq",
	[MX_OP_NE] = "ne",
	[MX_OP_LT] = "lt",
	[MX_OP_LE] = "lte",
	[MX_OP_GT] = "gt",
	[MX_OP_GE] = "gte",
	[MX_OP_IN] = "in",
	[MX_OP_NIN] = "nin",
	[MX_OP_IS_NULL] = "is_null",
	[MX_OP_NOT_NULL] = "is_null",
	[MX_OP_PREFIX] = "starts_with"
};

/* ---------- doing without what the API refused ---------- */

/* Could a condition with this operator be sent as the API's operator name? */
static bool
op_sends(MxCondOp op, const char *name)
{
	switch (op)
	{
		case MX_OP_EQ:
			/* strings may go as "in", numbers as an interval */
			return strcmp(name, "eq") == 0 || strcmp(name, "in") == 0 ||
				strcmp(name, "gt") == 0 || strcmp(name, "lt") == 0 ||
				strcmp(name, "gte") == 0 || strcmp(name, "lte") == 0;
		case MX_OP_LT:
		case MX_OP_LE:
			return strcmp(name, "lt") == 0 || strcmp(name, "lte") == 0;
		case MX_OP_GT:
		case MX_OP_GE:
			return strcmp(name, "gt") == 0 || strcmp(name, "gte") == 0;
		default:
			return strcmp(name, operator_names[op]) == 0;
	}
}

static bool
is_name_char(char c)
{
	return isalnum((unsigned char) c) || c == '_';
}

/*
 * Do words mention word as a whole: not inside a longer dotted name made
 * of letters, digits and '_' (a '.' that ends a sentence ends the name)?
 */
static bool
mentions_word(const char *words, const char *word)
{
	size_t		len = strlen(word);
	const char *p;

	for (p = strstr(words, word); p != NULL; p = strstr(p + 1, word))
	{
		bool		before = (p > words && (is_name_char(p[-1]) || p[-1] == '.'));
		bool		after = (is_name_char(p[len]) ||
							 (p[len] == '.' && is_name_char(p[len + 1])));

		if (!before && !after)
			return true;
	}
	return false;
}

/* Does the rejection name this field (and the operator, when it gives one)? */
static bool
names_field(const MxRejection *rej, const char *field, MxCondOp op)
{
	if (rej->field != NULL)
		return strcmp(rej->field, field) == 0 &&
			(rej->operator == NULL || (op != MX_OP_AND && op_sends(op, rej->operator)));
	return rej->words != NULL && mentions_word(rej->words, field);
}

/* Does the rejection name a comparison of this condition? */
static bool
names_condition(MxRelation *rel, MxCond *cond, const MxRejection *rej)
{
	ListCell   *lc;
	MxColumn   *col;
	int			i;

	if (cond->op == MX_OP_AND || cond->op == MX_OP_OR)
	{
		foreach(lc, cond->args)
		{
			if (names_condition(rel, lfirst(lc), rej))
				return true;
		}
		return false;
	}
	col = &rel->columns[cond->attnum - 1];
	for (i = 0; i < col->nlocations; i++)
	{
		if (names_field(rej, col->locations[i].dotted, cond->op))
			return true;
	}
	return false;
}

/* "column" operator, for each comparison of a condition */
static void
describe_condition(StringInfo buf, MxRelation *rel, MxCond *cond)
{
	ListCell   *lc;

	if (cond->op == MX_OP_AND || cond->op == MX_OP_OR)
	{
		foreach(lc, cond->args)
			describe_condition(buf, rel, lfirst(lc));
		return;
	}
	appendStringInfo(buf, "%s\"%s\" %s", buf->len > 0 ? ", " : "",
					 rel->columns[cond->attnum - 1].name,
					 operator_names[cond->op]);
}

/*
 * The scan without the parts a refusal names: the conditions with a
 * comparison on the field it names (an AND of the scan's conditions loses
 * members, which only widens what is asked for), or the sort.  A refusal
 * that names none of them costs every condition above safe and the sort.
 * Returns NULL when nothing would be left out; else the new spec, and in
 * *dropped what it leaves out, for a message.  Without the sort, the scan
 * sorts its rows itself (fdw.c); without a condition, it asks for whole
 * pages, as the limit would no longer hold.
 */
MxScanSpec *
mx_spec_without(MxRelation *rel, MxScanSpec *spec, const MxRejection *rej,
				char **dropped)
{
	MxScanSpec *out = palloc(sizeof(MxScanSpec));
	StringInfoData what;
	List	   *named = NIL;
	bool		sort_named = false;
	ListCell   *lc;

	*out = *spec;
	out->conds = NIL;
	foreach(lc, spec->conds)
	{
		if (names_condition(rel, lfirst(lc), rej))
			named = lappend(named, lfirst(lc));
	}
	if (spec->sort_attnum > 0)
		sort_named = names_field(rej, rel->columns[spec->sort_attnum - 1].locations[0].dotted,
								 MX_OP_AND) ||
			(named == NIL && rej->words != NULL && mentions_word(rej->words, "sort"));
	if (named == NIL && !sort_named)
	{
		foreach(lc, spec->conds)
		{
			if (((MxCond *) lfirst(lc))->level > MX_PUSHDOWN_SAFE)
				named = lappend(named, lfirst(lc));
		}
		sort_named = (spec->sort_attnum > 0);
	}
	if (named == NIL && !sort_named)
		return NULL;

	initStringInfo(&what);
	foreach(lc, spec->conds)
	{
		if (list_member_ptr(named, lfirst(lc)))
			describe_condition(&what, rel, lfirst(lc));
		else
			out->conds = lappend(out->conds, lfirst(lc));
	}
	if (named != NIL)
		out->limit = 0;
	if (sort_named)
	{
		appendStringInfo(&what, "%sthe sort on \"%s\"", what.len > 0 ? ", " : "",
						 rel->columns[spec->sort_attnum - 1].name);
		out->sort_attnum = 0;
		out->limit = 0;
	}
	*dropped = what.data;
	return out;
}

/* ---------- writing bodies ---------- */

static char *
json_string_of(const char *text)
{
	StringInfoData buf;
	char	   *utf8 = (char *) pg_server_to_any(text, strlen(text), PG_UTF8);

	initStringInfo(&buf);
	escape_json(&buf, utf8);
	return buf.data;
}

static bool
is_json_number(const char *s)
{
	const char *p = s;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (isdigit((unsigned char) *p))
			p++;
	else
		return false;
	if (*p == '.')
	{
		if (!isdigit((unsigned char) *++p))
			return false;
		while (isdigit((unsigned char) *p))
			p++;
	}
	if (*p == 'e' || *p == 'E')
	{
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char) *p))
			return false;
		while (isdigit((unsigned char) *p))
			p++;
	}
	return *p == '\0';
}

/*
 * A text column shows a number, boolean, object or array as its JSON text,
 * and the API never finds such a value equal to a string.  So equality
 * with "12" or "true" also asks for the number or boolean (the API's
 * decimal equality is at least as wide as equal text), and equality with
 * what could be an object's or array's text, or a float's, cannot be sent.
 * Appends the JSON candidates for a string; false when it cannot be sent.
 */
static bool
append_string_candidates(StringInfo buf, const char *text)
{
	if (text[0] == '{' || text[0] == '[')
		return false;
	/* a match with a float: strict rules refuse it (op_level) */
	if (is_json_number(text) && strpbrk(text, ".eE") != NULL)
		return false;
	if (buf->len > 1)
		appendStringInfoChar(buf, ',');
	appendStringInfoString(buf, json_string_of(text));
	if (is_json_number(text) || strcmp(text, "true") == 0 ||
		strcmp(text, "false") == 0)
		appendStringInfo(buf, ",%s", text);
	return true;
}

/* Could a number's or boolean's JSON text start with this prefix? */
static bool
prefix_only_strings(const char *prefix)
{
	size_t		len = strlen(prefix);

	return strchr("-0123456789{[", prefix[0]) == NULL &&
		strncmp("true", prefix, len) != 0 && strncmp("false", prefix, len) != 0;
}

/* A value as its type's output function writes it. */
char *
mx_output_text(Datum value, Oid typid)
{
	Oid			outfunc;
	bool		varlena;

	getTypeOutputInfo(typid, &outfunc, &varlena);
	return OidOutputFunctionCall(outfunc, value);
}

/*
 * A number's exact text.  float8out would do for doubles only with
 * extra_float_digits > 0, a setting of the session, so the shortest text
 * that reads back as the same double is written here.  A real compared
 * with a double precision column (float84 operators) is compared as the
 * double it widens to: 0.15::real is 0.15000000596046448, not 0.15.
 */
static char *
number_text(Datum value, Oid typid)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN];
	double		d;

	if (typid == FLOAT4OID)
		d = (double) DatumGetFloat4(value);
	else if (typid == FLOAT8OID)
		d = DatumGetFloat8(value);
	else
		return mx_output_text(value, typid);
	double_to_shortest_decimal_buf(d, buf);
	return pstrdup(buf);
}

/*
 * A value as JSON for a column: strings for text, the exact decimal text
 * for numbers, true/false.  NULL when JSON cannot carry it (NaN, infinity).
 */
static char *
json_value_of(MxColumn *col, Datum value, Oid typid)
{
	char	   *text;

	switch (value_kind(col->typid))
	{
		case MX_VALUE_STRING:
			return json_string_of(mx_output_text(value, typid));
		case MX_VALUE_BOOLEAN:
			return pstrdup(DatumGetBool(value) ? "true" : "false");
		case MX_VALUE_INTEGER:
		case MX_VALUE_NUMBER:
			text = number_text(value, typid);
			if (!isfinite(strtod(text, NULL)))
				return NULL;
			return text;
		case MX_VALUE_NONE:
			break;
	}
	return NULL;
}

/*
 * A retriever input's value: json and jsonb as they are, strings, numbers
 * and booleans as in list filters, anything else as its text.  Infinite
 * and NaN numbers, which JSON cannot carry, are an error.
 */
char *
mx_input_json(Datum value, Oid typid)
{
	MxColumn	col = {0};
	char	   *json;

	if (typid == JSONOID || typid == JSONBOID)
		return mx_output_text(value, typid);
	col.typid = typid;
	if (value_kind(typid) == MX_VALUE_NONE)
		return json_string_of(mx_output_text(value, typid));
	json = json_value_of(&col, value, typid);
	if (json == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retriever input \"%s\" cannot be sent as JSON",
						mx_output_text(value, typid))));
	return json;
}

/*
 * A JSON array of the non-null elements.  A NULL element never matches,
 * so leaving it out changes nothing; an element JSON cannot carry makes
 * "in" unsendable (its match would be lost) and is left out of "nin".
 */
static char *
json_array_of(MxColumn *col, Datum value, MxCondOp op)
{
	ArrayType  *array = DatumGetArrayTypeP(value);
	Oid			elemtype = ARR_ELEMTYPE(array);
	int16		elemlen;
	bool		elembyval;
	char		elemalign;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	StringInfoData buf;

	get_typlenbyvalalign(elemtype, &elemlen, &elembyval, &elemalign);
	deconstruct_array(array, elemtype, elemlen, elembyval, elemalign,
					  &elems, &nulls, &n);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < n; i++)
	{
		char	   *v;

		if (nulls[i])
			continue;
		if (op == MX_OP_IN && value_kind(col->typid) == MX_VALUE_STRING)
		{
			if (!append_string_candidates(&buf,
										  mx_output_text(elems[i], elemtype)))
				return NULL;
			continue;
		}
		v = json_value_of(col, elems[i], elemtype);
		if (v == NULL)
		{
			if (op == MX_OP_IN)
				return NULL;
			continue;
		}
		if (buf.len > 1)
			appendStringInfoChar(&buf, ',');
		appendStringInfoString(&buf, v);
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

static void
add_test(MxPreparedCond *pc, const char *op, char *value)
{
	pc->tests[pc->ntests].op = op;
	pc->tests[pc->ntests].value = value;
	pc->ntests++;
}

/*
 * Comparisons on a column the API compares differently:
 * - double precision: PostgreSQL compares the document's number rounded to
 *   a double, the API as a decimal.  Every decimal that rounds to d lies
 *   strictly between d's neighbours, so "= d" becomes that open interval
 *   and the non-strict bounds reach out to the neighbour;
 * - numeric, bigint: the API may compare as doubles, where values tie
 *   that differ here; strict bounds become non-strict.  Equality on a
 *   numeric is the closed interval [v, v]: strict rules refuse an exact
 *   match with a float, never a range on numbers.
 */
static void
add_comparison(MxPreparedCond *pc, MxCondOp op, char *value)
{
	Oid			typid = pc->col->typid;

	if (typid == FLOAT8OID && op != MX_OP_NE && op != MX_OP_NIN)
	{
		char		below[MX_DOUBLE_TEXT_SIZE];
		char		above[MX_DOUBLE_TEXT_SIZE];

		/* "" past the largest double: no bound there, which only widens */
		mx_double_neighbours(strtod(value, NULL), below, above);
		switch (op)
		{
			case MX_OP_EQ:
				if (below[0] != '\0')
					add_test(pc, "gt", pstrdup(below));
				if (above[0] != '\0')
					add_test(pc, "lt", pstrdup(above));
				return;
			case MX_OP_GE:
				if (below[0] != '\0')
					add_test(pc, "gt", pstrdup(below));
				return;
			case MX_OP_LE:
				if (above[0] != '\0')
					add_test(pc, "lt", pstrdup(above));
				return;
			default:
				break;
		}
	}
	else if (typid == NUMERICOID && op == MX_OP_EQ)
	{
		add_test(pc, "gte", value);
		add_test(pc, "lte", value);
		return;
	}
	else if (rounds_remotely(typid))
	{
		if (op == MX_OP_LT)
			op = MX_OP_LE;
		else if (op == MX_OP_GT)
			op = MX_OP_GE;
	}
	add_test(pc, operator_names[op], value);
}

/* The values of a scan: evaluated fdw_exprs, or their SQL text for EXPLAIN. */
typedef struct MxValues
{
	Datum	   *values;
	bool	   *isnull;
	Oid		   *types;
	const char **shown;
} MxValues;

/* Equality or prefix on a text column (see append_string_candidates). */
static void
prepare_string_match(MxPreparedCond *pc, MxCondOp op, const char *text)
{
	StringInfoData buf;

	if (op == MX_OP_PREFIX)
	{
		if (prefix_only_strings(text))
			add_test(pc, "starts_with", json_string_of(text));
		else
			pc->truth = MX_UNKNOWN;
		return;
	}
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	if (!append_string_candidates(&buf, text))
	{
		pc->truth = MX_UNKNOWN;
		return;
	}
	if (buf.len == 1 + strlen(json_string_of(text)))
		add_test(pc, "eq", buf.data + 1);	/* the string alone */
	else
	{
		appendStringInfoChar(&buf, ']');
		add_test(pc, "in", buf.data);
	}
}

static void
prepare_comparison(MxPreparedCond *pc, MxCond *cond, MxValues *vals)
{
	int			e = cond->expr_index;
	char	   *json;

	pc->truth = MX_SEND;
	pc->all_locations = (cond->op == MX_OP_IS_NULL);
	if (cond->op == MX_OP_IS_NULL || cond->op == MX_OP_NOT_NULL)
	{
		add_test(pc, "is_null", pstrdup(cond->op == MX_OP_IS_NULL ? "true" : "false"));
		return;
	}
	if (vals->shown != NULL && vals->shown[e] != NULL)
	{
		add_test(pc, operator_names[cond->op], json_string_of(vals->shown[e]));
		return;
	}
	if (vals->isnull[e])
	{
		/* every operator sent is strict */
		pc->truth = MX_NEVER;
		return;
	}
	if (value_kind(pc->col->typid) == MX_VALUE_STRING &&
		(cond->op == MX_OP_EQ || cond->op == MX_OP_PREFIX))
	{
		prepare_string_match(pc, cond->op,
							 mx_output_text(vals->values[e], vals->types[e]));
		return;
	}
	if (cond->op == MX_OP_IN || cond->op == MX_OP_NIN)
		json = json_array_of(pc->col, vals->values[e], cond->op);
	else
		json = json_value_of(pc->col, vals->values[e], vals->types[e]);
	if (json == NULL)
		pc->truth = MX_UNKNOWN;
	else if (cond->op == MX_OP_IN || cond->op == MX_OP_NIN)
		add_test(pc, operator_names[cond->op], json);
	else
		add_comparison(pc, cond->op, json);
	if (pc->ntests == 0)
		pc->truth = MX_UNKNOWN;
}

static MxPreparedCond *prepare_condition(MxRelation *rel, MxCond *cond,
										 MxValues *vals);

/*
 * AND: never if one argument is never true; arguments that cannot be sent
 * are left out.  OR: unknown if one argument is; arguments that are never
 * true are left out.
 */
static void
prepare_logical(MxPreparedCond *pc, MxRelation *rel, List *conds,
				MxValues *vals)
{
	bool		is_and = (pc->op == MX_OP_AND);
	ListCell   *lc;

	pc->truth = MX_SEND;
	foreach(lc, conds)
	{
		MxPreparedCond *arg = prepare_condition(rel, lfirst(lc), vals);

		if (arg->truth == MX_SEND)
			pc->args = lappend(pc->args, arg);
		else if (arg->truth == (is_and ? MX_NEVER : MX_UNKNOWN))
		{
			pc->truth = arg->truth;
			return;
		}
	}
	if (pc->args == NIL)
		pc->truth = is_and ? MX_UNKNOWN : MX_NEVER;
}

static MxPreparedCond *
prepare_condition(MxRelation *rel, MxCond *cond, MxValues *vals)
{
	MxPreparedCond *pc = palloc0(sizeof(MxPreparedCond));

	pc->op = cond->op;
	if (cond->op == MX_OP_AND || cond->op == MX_OP_OR)
		prepare_logical(pc, rel, cond->args, vals);
	else
	{
		pc->col = &rel->columns[cond->attnum - 1];
		prepare_comparison(pc, cond, vals);
	}
	return pc;
}

/* The scan's conditions, ANDed. */
static MxPreparedCond *
prepare_filters(MxRelation *rel, MxScanSpec *spec, MxValues *vals)
{
	MxPreparedCond *pc = palloc0(sizeof(MxPreparedCond));

	pc->op = MX_OP_AND;
	prepare_logical(pc, rel, spec->conds, vals);
	return pc;
}

static void
append_group_start(StringInfo buf, const char *logical)
{
	appendStringInfo(buf, "{\"%s\":[", logical);
}

static void
append_group_end(StringInfo buf)
{
	appendStringInfoString(buf, "],\"case_sensitive\":true}");
}

static void
append_test(StringInfo buf, const char *field, MxTest *test)
{
	appendStringInfoString(buf, "{\"field\":");
	appendStringInfoString(buf, json_string_of(field));
	appendStringInfo(buf, ",\"operator\":\"%s\",\"value\":%s}",
					 test->op, test->value);
}

/* The tests of a condition on one location, ANDed. */
static void
append_location(StringInfo buf, MxPreparedCond *pc, const char *field)
{
	int			i;

	if (pc->ntests == 1)
	{
		append_test(buf, field, &pc->tests[0]);
		return;
	}
	append_group_start(buf, "AND");
	for (i = 0; i < pc->ntests; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		append_test(buf, field, &pc->tests[i]);
	}
	append_group_end(buf);
}

/*
 * A comparison over the column's locations: ORed (the value is the first
 * non-null location, so some location holds it), ANDed for IS NULL (every
 * location must be empty).
 */
static void
append_comparison(StringInfo buf, MxPreparedCond *pc)
{
	MxColumn   *col = pc->col;
	int			i;

	if (col->nlocations == 1)
	{
		append_location(buf, pc, col->locations[0].dotted);
		return;
	}
	append_group_start(buf, pc->all_locations ? "AND" : "OR");
	for (i = 0; i < col->nlocations; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		append_location(buf, pc, col->locations[i].dotted);
	}
	append_group_end(buf);
}

static void append_condition(StringInfo buf, MxPreparedCond *pc);

/* The conditions of an AND or OR, comma-separated. */
static void
append_members(StringInfo buf, MxPreparedCond *pc)
{
	ListCell   *lc;

	foreach(lc, pc->args)
	{
		if (lc != list_head(pc->args))
			appendStringInfoChar(buf, ',');
		append_condition(buf, lfirst(lc));
	}
}

static void
append_condition(StringInfo buf, MxPreparedCond *pc)
{
	if (pc->op != MX_OP_AND && pc->op != MX_OP_OR)
	{
		append_comparison(buf, pc);
		return;
	}
	append_group_start(buf, pc->op == MX_OP_AND ? "AND" : "OR");
	append_members(buf, pc);
	append_group_end(buf);
}

/* The filters object, or NULL when nothing is sent. */
static char *
filters_text(MxPreparedCond *filters)
{
	StringInfoData buf;

	if (filters->truth != MX_SEND)
		return NULL;
	initStringInfo(&buf);
	append_condition(&buf, filters);
	return buf.data;
}

static char *
sort_text(MxRelation *rel, MxScanSpec *spec)
{
	if (spec->sort_attnum <= 0)
		return NULL;
	return psprintf("{\"field\":%s,\"direction\":\"%s\"}",
					json_string_of(rel->columns[spec->sort_attnum - 1].locations[0].dotted),
					spec->sort_desc ? "desc" : "asc");
}

static char *
select_text(List *select)
{
	StringInfoData buf;
	ListCell   *lc;

	if (select == NIL)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	foreach(lc, select)
	{
		if (buf.len > 1)
			appendStringInfoChar(&buf, ',');
		appendStringInfoString(&buf, json_string_of(strVal(lfirst(lc))));
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

static void
append_member(StringInfo buf, const char *name, const char *json)
{
	if (json == NULL)
		return;
	appendStringInfo(buf, "%s\"%s\":%s", buf->len > 1 ? "," : "", name, json);
}

/*
 * The body of a list request (without cursor), or NULL when its filters
 * can never be true.  values/isnull/types are the evaluated fdw_exprs.
 */
char *
mx_list_body(MxRelation *rel, MxScanSpec *spec, Datum *values, bool *isnull,
			 Oid *types, const char **shown)
{
	MxValues	vals = {values, isnull, types, shown};
	MxPreparedCond *filters = prepare_filters(rel, spec, &vals);
	StringInfoData buf;

	if (filters->truth == MX_NEVER)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	append_member(&buf, "filters", filters_text(filters));
	append_member(&buf, "sort", sort_text(rel, spec));
	append_member(&buf, "select", select_text(spec->select));
	/* both names of the flag: deployments read one or the other */
	append_member(&buf, "return_url", spec->return_url ? "true" : NULL);
	append_member(&buf, "return_presigned_urls",
				  spec->return_url ? "true" : NULL);
	append_member(&buf, "return_vectors", spec->return_vectors ? "true" : NULL);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* A body for a later page: the cursor from the API, passed back as is. */
char *
mx_body_with_cursor(const char *body, const char *cursor)
{
	StringInfoData buf;
	size_t		len = strlen(body);

	Assert(len >= 2 && body[len - 1] == '}');
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, body, len - 1);
	appendStringInfoString(&buf, len > 2 ? ",\"cursor\":" : "\"cursor\":");
	escape_json(&buf, cursor);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * The scan's conditions to send, comma-separated (the members of its
 * filters' AND), or NULL when there are none; *never when they can never
 * be true.  For id lists, which AND them with the ids.
 */
char *
mx_spec_filters(MxRelation *rel, MxScanSpec *spec, Datum *values,
				bool *isnull, Oid *types, const char **shown, bool *never)
{
	MxValues	vals = {values, isnull, types, shown};
	MxPreparedCond *filters = prepare_filters(rel, spec, &vals);
	StringInfoData buf;

	*never = (filters->truth == MX_NEVER);
	if (filters->truth != MX_SEND)
		return NULL;
	Assert(filters->op == MX_OP_AND);
	initStringInfo(&buf);
	append_members(&buf, filters);
	return buf.data;
}

/* The fields a scan asks for, as a JSON array, or NULL: whole documents. */
char *
mx_spec_select(MxScanSpec *spec)
{
	return select_text(spec->select);
}

/*
 * Parts of a list body for EXPLAIN, each NULL when absent; shown[i], when
 * not NULL, stands for value i (a parameter, known only at run time).
 */
void
mx_explain_parts(MxRelation *rel, MxScanSpec *spec, Datum *values,
				 bool *isnull, Oid *types, const char **shown,
				 char **filters, char **sort, char **select)
{
	MxValues	vals = {values, isnull, types, shown};

	*filters = filters_text(prepare_filters(rel, spec, &vals));
	*sort = sort_text(rel, spec);
	*select = select_text(spec->select);
}
