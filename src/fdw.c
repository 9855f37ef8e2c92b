/*-------------------------------------------------------------------------
 *
 * fdw.c
 *		mixpeek_fdw handler and planner/executor callbacks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "foreign/fdwapi.h"

#include "mixpeek_fdw.h"

PG_FUNCTION_INFO_V1(mixpeek_fdw_handler);

Datum
mixpeek_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	PG_RETURN_POINTER(routine);
}
