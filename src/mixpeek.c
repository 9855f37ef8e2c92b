/*-------------------------------------------------------------------------
 *
 * mixpeek.c
 *		Module entry point of pg_mixpeek.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "batch_join.h"
#include "http.h"
#include "mixpeek_fdw.h"
#include "settings.h"
#include "stats.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	mx_settings_init();
	mx_http_init();
	mx_stats_init();
	mx_modify_init();
	mx_batch_join_init();
}
