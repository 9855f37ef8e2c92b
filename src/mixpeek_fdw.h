/*-------------------------------------------------------------------------
 *
 * mixpeek_fdw.h
 *		Declarations shared by the modules of the mixpeek_fdw foreign-data
 *		wrapper (fdw.c, deparse.c, options.c, connection.c, convert.c,
 *		import.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_FDW_H
#define MIXPEEK_FDW_H

#include "fmgr.h"

#endif							/* MIXPEEK_FDW_H */
