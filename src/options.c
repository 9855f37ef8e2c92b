/*-------------------------------------------------------------------------
 *
 * options.c
 *		mixpeek_fdw option validation and lookup.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mixpeek_fdw.h"

PG_FUNCTION_INFO_V1(mixpeek_fdw_validator);

Datum
mixpeek_fdw_validator(PG_FUNCTION_ARGS)
{
	PG_RETURN_VOID();
}
