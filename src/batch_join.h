/*-------------------------------------------------------------------------
 *
 * batch_join.h
 *		The batched join of local rows with a collection's documents by id
 *		(a CustomScan, "MixpeekBatchJoin").
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_BATCH_JOIN_H
#define MIXPEEK_BATCH_JOIN_H

/*
 * Register the custom scan and offer its paths to the planner, after any
 * join path hook installed before; once per process, from _PG_init.
 */
extern void mx_batch_join_init(void);

#endif							/* MIXPEEK_BATCH_JOIN_H */
