/*-------------------------------------------------------------------------
 *
 * settings.c
 *		The mixpeek.* configuration parameters and the API key rules.
 *
 * The key may live in a setting, but PostgreSQL shows stored settings to
 * every role in places we do not control: pg_db_role_setting (ALTER ROLE /
 * DATABASE ... SET), pg_proc.proconfig (a function's SET clause), and, in a
 * session that has not loaded this library, SHOW of a placeholder.  So the
 * key is refused from the first group, and taken from the configuration
 * file or ALTER SYSTEM only when the library is preloaded, which makes the
 * parameter exist (and be hidden) from a session's first statement on.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "settings.h"

char	   *mx_api_key = NULL;
char	   *mx_namespace = NULL;
char	   *mx_base_url = NULL;
int			mx_timeout_ms = 30000;
int			mx_connect_timeout_ms = 10000;
int			mx_max_retries = 2;
int			mx_max_concurrency = 8;
int			mx_page_size = 100;
int			mx_max_response_kb = 256 * 1024;
bool		mx_pushdown = true;

/* Did this backend load the library through a preload setting? */
static bool mx_preloaded = false;

static const char *preload_hint =
"Add \"mixpeek\" to shared_preload_libraries or session_preload_libraries, "
"or use a user mapping of a mixpeek_fdw server.";

/* Keys shorter than this are not masked in log lines (no real key is). */
#define MX_MIN_MASKED_KEY 8

static emit_log_hook_type prev_emit_log_hook = NULL;

/*
 * text with every occurrence of key replaced by "[redacted]", palloc'd; text
 * itself when there is none.
 */
char *
mx_mask_key(char *text, const char *key)
{
	size_t		keylen = key ? strlen(key) : 0;
	StringInfoData out;
	char	   *p = text;
	char	   *hit;

	if (text == NULL || keylen == 0 || strstr(text, key) == NULL)
		return text;
	initStringInfo(&out);
	while ((hit = strstr(p, key)) != NULL)
	{
		appendBinaryStringInfo(&out, p, hit - p);
		appendStringInfoString(&out, "[redacted]");
		p = hit + keylen;
	}
	appendStringInfoString(&out, p);
	return out.data;
}

/*
 * PostgreSQL itself logs 'parameter "mixpeek.api_key" changed to "..."'
 * when a reload changes the key, as when it is rotated with ALTER SYSTEM.
 * With the library preloaded the new value is ours by then, so mask it in
 * every message on its way to the log.
 */
static void
mask_key_in_log(ErrorData *edata)
{
	size_t		keylen = mx_api_key ? strlen(mx_api_key) : 0;

	if (keylen >= MX_MIN_MASKED_KEY)
	{
		edata->message = mx_mask_key(edata->message, mx_api_key);
		edata->detail = mx_mask_key(edata->detail, mx_api_key);
		edata->detail_log = mx_mask_key(edata->detail_log, mx_api_key);
		edata->hint = mx_mask_key(edata->hint, mx_api_key);
		edata->context = mx_mask_key(edata->context, mx_api_key);
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

static bool
listed_in(const char *setting_name)
{
	const char *value = GetConfigOption(setting_name, true, false);
	char	   *copy;
	List	   *names;
	ListCell   *lc;
	bool		found = false;

	if (value == NULL || value[0] == '\0')
		return false;
	copy = pstrdup(value);
	if (!SplitDirectoriesString(copy, ',', &names))
		return false;
	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		const char *base = strrchr(name, '/');

		base = base ? base + 1 : name;
		if (strcmp(base, "mixpeek") == 0 || strcmp(base, "mixpeek.so") == 0)
			found = true;
	}
	return found;
}

static bool
check_api_key(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;

	/*
	 * PGC_S_TEST is how ALTER ROLE/DATABASE ... SET and a function's SET
	 * clause validate; the other three apply such stored values.
	 */
	if (source == PGC_S_TEST || source == PGC_S_DATABASE ||
		source == PGC_S_USER || source == PGC_S_DATABASE_USER)
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("mixpeek.api_key cannot be stored in a role, database or function setting");
		GUC_check_errdetail("Such settings are readable by every role.");
		GUC_check_errhint("Set it in postgresql.conf or with ALTER SYSTEM with the library preloaded, or use a user mapping.");
		return false;
	}

	if ((source == PGC_S_FILE || source == PGC_S_GLOBAL ||
		 source == PGC_S_DYNAMIC_DEFAULT || source == PGC_S_ENV_VAR ||
		 source == PGC_S_ARGV) && !mx_preloaded)
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("mixpeek.api_key is stored in the server configuration but the mixpeek library is not preloaded");
		GUC_check_errdetail("Without preloading, sessions that have not loaded the library show the stored key to every role.");
		GUC_check_errhint("%s", preload_hint);
		return false;
	}
	return true;
}

static bool
check_base_url(char **newval, void **extra, GucSource source)
{
	const char *v = *newval;

	if (v == NULL || (pg_strncasecmp(v, "http://", 7) != 0 &&
					  pg_strncasecmp(v, "https://", 8) != 0))
	{
		GUC_check_errmsg("mixpeek.base_url must start with \"http://\" or \"https://\"");
		return false;
	}
	return true;
}

void
mx_settings_init(void)
{
	mx_preloaded = process_shared_preload_libraries_in_progress ||
		listed_in("shared_preload_libraries") ||
		listed_in("session_preload_libraries");

	DefineCustomStringVariable("mixpeek.api_key",
							   "API key sent to mixpeek.base_url.",
							   "Hidden from roles that are not superusers.",
							   &mx_api_key, "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							   check_api_key, NULL, NULL);
	DefineCustomStringVariable("mixpeek.namespace",
							   "Mixpeek namespace sent as X-Namespace.",
							   NULL, &mx_namespace, "",
							   PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("mixpeek.base_url",
							   "Root URL of the Mixpeek API.",
							   NULL, &mx_base_url, MIXPEEK_DEFAULT_BASE_URL,
							   PGC_SUSET, 0, check_base_url, NULL, NULL);
	DefineCustomIntVariable("mixpeek.timeout_ms",
							"Time limit of one Mixpeek request.",
							NULL, &mx_timeout_ms, 30000, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("mixpeek.connect_timeout_ms",
							"Time limit for connecting to Mixpeek.",
							NULL, &mx_connect_timeout_ms, 10000, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("mixpeek.max_retries",
							"Retries of a request on 429, 502, 503, 504 and connection failures.",
							NULL, &mx_max_retries, 2, 0, 100,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mixpeek.max_concurrency",
							"Mixpeek requests in flight at once in one session.",
							NULL, &mx_max_concurrency, 8, 1, 64,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mixpeek.page_size",
							"Documents asked for per list request.",
							NULL, &mx_page_size, 100, 1, 1000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mixpeek.max_response_bytes",
							"Largest response body accepted, after decompression.",
							NULL, &mx_max_response_kb, 256 * 1024, 1, INT_MAX / 2,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomBoolVariable("mixpeek.pushdown",
							 "Send filters, sort and limit of foreign scans to Mixpeek.",
							 NULL, &mx_pushdown, true,
							 PGC_USERSET, 0, NULL, NULL, NULL);

	MarkGUCPrefixReserved("mixpeek");

	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = mask_key_in_log;
}

char *
mx_normalize_base_url(const char *url)
{
	char	   *copy = pstrdup(url);
	size_t		len = strlen(copy);

	while (len > 0 && copy[len - 1] == '/')
		copy[--len] = '\0';
	return copy;
}

const char *
mx_settings_api_key(void)
{
	if (mx_api_key == NULL || mx_api_key[0] == '\0')
		return NULL;
	return mx_api_key;
}

MxTarget *
mx_settings_target(void)
{
	MxTarget   *target = palloc0(sizeof(MxTarget));

	target->api_key = mx_settings_api_key();
	if (target->api_key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("no Mixpeek API key is configured"),
				 errhint("A superuser can set mixpeek.api_key in postgresql.conf or with ALTER SYSTEM, with \"mixpeek\" in shared_preload_libraries.")));
	target->base_url = mx_normalize_base_url(mx_base_url);
	target->namespace = mx_namespace;
	return target;
}
