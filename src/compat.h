/*-------------------------------------------------------------------------
 *
 * compat.h
 *		What differs between the PostgreSQL majors pg_mixpeek builds on
 *		(15 to 18), behind one name each, so that the modules are free of
 *		version switches.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_COMPAT_H
#define MIXPEEK_COMPAT_H

/*
 * Most of this is macros, expanded where the headers they refer to
 * (optimizer/pathnode.h, ...) are included already.
 */

/*
 * A function that never returns.  PostgreSQL 18 replaced the attribute
 * pg_attribute_noreturn(), written after a declaration, by the specifier
 * pg_noreturn, written before it; before 18, the attribute is accepted in
 * front as well, so this goes first everywhere:
 *
 *		mx_noreturn extern void f(void);
 */
#if PG_VERSION_NUM >= 180000
#define mx_noreturn pg_noreturn
#else
#define mx_noreturn pg_attribute_noreturn()
#endif

/*
 * Foreign paths.  PostgreSQL 17 added fdw_restrictinfo (the conditions a
 * join or upper path checks remotely, for EvalPlanQual) after
 * fdw_outerpath, and 18 disabled_nodes after rows.  Paths made here have
 * neither: no condition is enforced for a join or upper relation, and
 * nothing is disabled.
 */
#if PG_VERSION_NUM >= 180000
#define mx_create_foreignscan_path(root, rel, target, rows, startup, total, \
								   pathkeys, required_outer, outerpath, private) \
	create_foreignscan_path((root), (rel), (target), (rows), 0, (startup), \
							(total), (pathkeys), (required_outer), \
							(outerpath), NIL, (private))
#define mx_create_foreign_join_path(root, rel, target, rows, startup, total, \
									pathkeys, required_outer, outerpath, private) \
	create_foreign_join_path((root), (rel), (target), (rows), 0, (startup), \
							 (total), (pathkeys), (required_outer), \
							 (outerpath), NIL, (private))
#define mx_create_foreign_upper_path(root, rel, target, rows, startup, total, \
									 pathkeys, outerpath, private) \
	create_foreign_upper_path((root), (rel), (target), (rows), 0, (startup), \
							  (total), (pathkeys), (outerpath), NIL, (private))
#elif PG_VERSION_NUM >= 170000
#define mx_create_foreignscan_path(root, rel, target, rows, startup, total, \
								   pathkeys, required_outer, outerpath, private) \
	create_foreignscan_path((root), (rel), (target), (rows), (startup), \
							(total), (pathkeys), (required_outer), \
							(outerpath), NIL, (private))
#define mx_create_foreign_join_path(root, rel, target, rows, startup, total, \
									pathkeys, required_outer, outerpath, private) \
	create_foreign_join_path((root), (rel), (target), (rows), (startup), \
							 (total), (pathkeys), (required_outer), \
							 (outerpath), NIL, (private))
#define mx_create_foreign_upper_path(root, rel, target, rows, startup, total, \
									 pathkeys, outerpath, private) \
	create_foreign_upper_path((root), (rel), (target), (rows), (startup), \
							  (total), (pathkeys), (outerpath), NIL, (private))
#else
#define mx_create_foreignscan_path create_foreignscan_path
#define mx_create_foreign_join_path create_foreign_join_path
#define mx_create_foreign_upper_path create_foreign_upper_path
#endif

/*
 * The direction of a sort pathkey: a comparison type from PostgreSQL 18
 * on, a btree strategy number before.
 */
#if PG_VERSION_NUM >= 180000
#define mx_pathkey_is_asc(pk) ((pk)->pk_cmptype == COMPARE_LT)
#define mx_pathkey_is_desc(pk) ((pk)->pk_cmptype == COMPARE_GT)
#else
#define mx_pathkey_is_asc(pk) ((pk)->pk_strategy == BTLessStrategyNumber)
#define mx_pathkey_is_desc(pk) ((pk)->pk_strategy == BTGreaterStrategyNumber)
#endif

/*
 * The role a foreign scan runs as (the view owner's for a scan inside a
 * view).  PostgreSQL 16 moved it from the range table entry (checkAsUser,
 * now in RTEPermissionInfo) to the ForeignScan plan node.
 */
#if PG_VERSION_NUM >= 160000
#define mx_foreign_scan_user(fsplan, estate) \
	(OidIsValid((fsplan)->checkAsUser) ? (fsplan)->checkAsUser : GetUserId())
#else
#define mx_foreign_scan_user(fsplan, estate) \
	(OidIsValid(exec_rt_fetch((fsplan)->scan.scanrelid, (estate))->checkAsUser) ? \
	 exec_rt_fetch((fsplan)->scan.scanrelid, (estate))->checkAsUser : GetUserId())
#endif

/*
 * The role a write to a foreign table runs as, and the columns an UPDATE
 * sets (generated ones included): PostgreSQL 16 moved both out of the
 * range table entry.
 */
#if PG_VERSION_NUM >= 160000
#define mx_result_rel_user(rinfo, estate) \
	ExecGetResultRelCheckAsUser((rinfo), (estate))
#define mx_updated_cols(root, rti, rte) \
	get_rel_all_updated_cols((root), find_base_rel((root), (rti)))
#else
/* a partition that rows are routed to has no range table entry: its root's */
#define mx_result_rel_rte(rinfo, estate) \
	exec_rt_fetch(((rinfo)->ri_RangeTableIndex != 0 ? (rinfo) : \
				   (rinfo)->ri_RootResultRelInfo)->ri_RangeTableIndex, (estate))
#define mx_result_rel_user(rinfo, estate) \
	(OidIsValid(mx_result_rel_rte(rinfo, estate)->checkAsUser) ? \
	 mx_result_rel_rte(rinfo, estate)->checkAsUser : GetUserId())
#define mx_updated_cols(root, rti, rte) \
	bms_union((rte)->updatedCols, (rte)->extraUpdatedCols)
#endif

/*
 * Does a collation sort bytewise?  PostgreSQL 18 dropped lc_collate_is_c()
 * for the collation's cached locale.
 */
#if PG_VERSION_NUM >= 180000
#define mx_collation_is_c(collid) \
	(pg_newlocale_from_collation(collid)->collate_is_c)
#else
#define mx_collation_is_c(collid) lc_collate_is_c(collid)
#endif

/*
 * Input functions report bad input as a soft error from PostgreSQL 16 on
 * (InputFunctionCallSafe with an ErrorSaveContext), which costs nothing
 * when the value is good; before 16, conversion catches the ERROR.
 */
#if PG_VERSION_NUM >= 160000
#define MX_SOFT_INPUT_ERRORS 1
#include "nodes/miscnodes.h"
#endif

/*
 * The wait event shown while waiting on Mixpeek: custom wait events
 * (WaitEventExtensionNew) exist from PostgreSQL 17 on; before that, only
 * the generic PG_WAIT_EXTENSION.
 */
#if PG_VERSION_NUM >= 170000
#define MX_CUSTOM_WAIT_EVENTS 1
#endif

/*
 * find_option(), the lookup of a setting's record, is exported from
 * PostgreSQL 16 on; before, the records are searched.
 */
#if PG_VERSION_NUM >= 160000
#define MX_GUC_FIND_OPTION 1
#endif

/* PostgreSQL 16 renamed SetSingleFuncCall() */
#if PG_VERSION_NUM < 160000
#define InitMaterializedSRF SetSingleFuncCall
#endif

#endif							/* MIXPEEK_COMPAT_H */
