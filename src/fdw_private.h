/*-------------------------------------------------------------------------
 *
 * fdw_private.h
 *		The layout of the fdw_private lists of mixpeek_fdw's paths and
 *		plans.  Plans must survive copyObject, so they carry Lists of
 *		nodes; each element is read by its name here, never by position.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_FDW_PRIVATE_H
#define MIXPEEK_FDW_PRIVATE_H

/* fdw_private of a ForeignScan plan of a collection table */
enum MxFdwScanPrivateIndex
{
	MxScanPrivateSpec,			/* the MxScanSpec, from mx_spec_to_list() */
	MxScanPrivateAttrs,			/* attrs_used, as offset attnums */
	MxScanPrivateBatched		/* Boolean: the ids of a batched join's inner
								 * scan, given before each rescan
								 * (mx_scan_set_batch_ids), not fdw_exprs */
};

/*
 * fdw_private of a ForeignPath of a collection table; NIL for the plain
 * scan.  What the path was made for, so that the plan is not worked out
 * again.
 */
enum MxFdwPathPrivateIndex
{
	MxPathPrivateSortAttnum,	/* Integer: the column the API sorts on, or 0 */
	MxPathPrivateSortDesc,		/* Boolean: descending */
	MxPathPrivateSortTies,		/* Integer MxTies: the API's order is
								 * coarser than the query's
								 * (MxScanSpec.limit_ties) */
	MxPathPrivateIdClause,		/* RestrictInfo: document_id = an outer
								 * value, of a parameterized path, or NULL */
	MxPathPrivateIdValue,		/* Expr: that outer value */
	MxPathPrivateIdAttnum,		/* Integer: the document_id column */
	MxPathPrivateIdBatched,		/* Boolean: the ids are a batched join's
								 * (batch_join.c), an array */
	MxPathPrivateCount
};

/* custom_private of a batched join's CustomPath (batch_join.c) */
enum MxBatchPathPrivateIndex
{
	MxBatchPathIdValue,			/* Expr: the outer side of the id clause */
	MxBatchPathIdColumn,		/* Expr: its inner side, the document_id */
	MxBatchPathQuals,			/* RestrictInfos the join checks itself */
	MxBatchPathJoinType,		/* Integer: JOIN_INNER, JOIN_SEMI, JOIN_LEFT */
	MxBatchPathCount
};

/* custom_private of a batched join's CustomScan plan */
enum MxBatchPlanPrivateIndex
{
	MxBatchPlanJoinType,		/* Integer: JOIN_INNER, JOIN_SEMI, JOIN_LEFT */
	MxBatchPlanInnerId,			/* Integer: the inner plan's output column
								 * of document_id, from 0 */
	MxBatchPlanSources,			/* Integers: for each column of the scan
								 * tuple, the input column it copies: i >= 0
								 * the outer plan's i, else the inner plan's
								 * -1 - i */
	MxBatchPlanCount
};

/* fdw_private of a retriever scan's plan (retriever.c) */
enum MxRetrieverPrivate
{
	RP_TAG,						/* String RETRIEVER_PLAN_TAG */
	RP_INPUTS,					/* attnums of the inputs, as fdw_exprs */
	RP_LIMIT,					/* Integer: max results, 0 for all */
	RP_ATTRS,					/* attrs_used, offset attnums */
	RP_MANY						/* Integer: the input given by = ANY, or -1 */
};

#endif							/* MIXPEEK_FDW_PRIVATE_H */
