/*-------------------------------------------------------------------------
 *
 * analyze.h
 *		Sizes the planner can trust: row counts of foreign tables and
 *		ANALYZE.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_ANALYZE_H
#define MIXPEEK_ANALYZE_H

#include "foreign/fdwapi.h"

#include "mixpeek_fdw.h"

/*
 * Rows in the collection behind rel, for GetForeignRelSize: the "rows"
 * option, else document_count when use_remote_estimate is on (cached for
 * mixpeek.count_cache_ms), else what ANALYZE stored, else MX_DEFAULT_ROWS.
 */
extern double mx_estimate_tuples(PlannerInfo *root, RelOptInfo *baserel,
								 MxRelation *rel);

/* The AnalyzeForeignTable callback. */
extern bool mx_analyze_foreign_table(Relation relation,
									 AcquireSampleRowsFunc *func,
									 BlockNumber *totalpages);

/* What is wrong with a "rows" option's value, or NULL. */
extern const char *mx_rows_problem(const char *value);

#endif							/* MIXPEEK_ANALYZE_H */
