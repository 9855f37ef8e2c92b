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
 * file or ALTER SYSTEM only when the library is preloaded in every session,
 * which makes the parameter exist (and be hidden) from each session's first
 * statement on.
 *
 * Every value that ends up in a request's URL or headers is checked here
 * too, so that no role can add a header (CR/LF in mixpeek.namespace) or
 * redirect a request (a query string or user info in a base_url).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/formatting.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/varlena.h"

#include "compat.h"
#include "settings.h"

char	   *mx_api_key = NULL;
char	   *mx_namespace = NULL;
char	   *mx_base_url = NULL;
int			mx_timeout_ms = MX_DEFAULT_TIMEOUT_MS;
int			mx_connect_timeout_ms = MX_DEFAULT_CONNECT_TIMEOUT_MS;
int			mx_max_retries = MX_DEFAULT_MAX_RETRIES;
int			mx_max_concurrency = MX_DEFAULT_CONCURRENCY;
int			mx_page_size = MX_DEFAULT_PAGE_SIZE;
int			mx_max_response_kb = MX_DEFAULT_MAX_RESPONSE_KB;
int			mx_count_cache_ms = MX_DEFAULT_COUNT_CACHE_MS;
int			mx_pushdown = MX_PUSHDOWN_SAFE;
bool		mx_aggregate_pushdown = true;
bool		mx_batch_join = true;
char	   *mx_allowed_hosts = NULL;

/*
 * Why a key stored in the server configuration cannot be used in this
 * backend (a sentence for errdetail), or NULL when the library is loaded in
 * every session.  Set once, when the library is loaded.
 */
static const char *file_key_problem = NULL;

static const char *preload_hint =
"Add \"mixpeek\" to shared_preload_libraries, or to session_preload_libraries in postgresql.conf, "
"or use a user mapping of a mixpeek_fdw server.";

static emit_log_hook_type prev_emit_log_hook = NULL;

/* "on" and the other boolean spellings of 0.1 stay valid, hidden */
static const struct config_enum_entry pushdown_options[] = {
	{"off", MX_PUSHDOWN_OFF, false},
	{"safe", MX_PUSHDOWN_SAFE, false},
	{"all", MX_PUSHDOWN_ALL, false},
	{"on", MX_PUSHDOWN_SAFE, true},
	{"true", MX_PUSHDOWN_SAFE, true},
	{"false", MX_PUSHDOWN_OFF, true},
	{"yes", MX_PUSHDOWN_SAFE, true},
	{"no", MX_PUSHDOWN_OFF, true},
	{"1", MX_PUSHDOWN_SAFE, true},
	{"0", MX_PUSHDOWN_OFF, true},
	{NULL, 0, false}
};

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

	if (keylen >= MX_MIN_KEY_BYTES)
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

bool
mx_library_listed_in(const char *setting_name)
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

/*
 * Where the current value of a built-in setting comes from.  PostgreSQL has
 * no function for it (pg_settings.source is computed from the same field),
 * so the setting's record is looked up.
 */
static GucSource
setting_source(const char *name)
{
#ifdef MX_GUC_FIND_OPTION
	struct config_generic *record = find_option(name, false, true, ERROR);

	return record ? record->source : PGC_S_DEFAULT;
#else
	struct config_generic **records = get_guc_variables();
	int			n = GetNumConfigOptions();
	int			i;

	for (i = 0; i < n; i++)
	{
		if (strcmp(records[i]->name, name) == 0)
			return records[i]->source;
	}
	return PGC_S_DEFAULT;
#endif
}

/*
 * A session that has not loaded the library shows a stored key to every
 * role, as a placeholder.  The library is loaded in every session when it
 * is in shared_preload_libraries, or in a session_preload_libraries that
 * comes from the configuration file or the server's command line.  Set by
 * ALTER DATABASE or ALTER ROLE, session_preload_libraries loads it only in
 * that database or for that role, and the key shows everywhere else.
 */
static const char *
preload_problem(void)
{
	if (process_shared_preload_libraries_in_progress)
		return NULL;
	if (!mx_library_listed_in("session_preload_libraries"))
		return "Without preloading, sessions that have not loaded the library show the stored key to every role.";
	if (setting_source("session_preload_libraries") > PGC_S_ARGV)
		return "session_preload_libraries names the library only through ALTER DATABASE, ALTER ROLE or "
			"connection options, so sessions that it does not apply to show the stored key to every role.";
	return NULL;
}

bool
mx_has_control_chars(const char *s)
{
	for (; *s; s++)
	{
		if ((unsigned char) *s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

const char *
mx_api_key_problem(const char *key)
{
	const char *p;

	for (p = key; *p; p++)
	{
		if ((unsigned char) *p <= ' ' || (unsigned char) *p >= 0x7f)
			return "A key consists of visible ASCII characters, without spaces.";
	}
	if (p - key < MX_MIN_KEY_BYTES)
		return "A key has at least " CppAsString2(MX_MIN_KEY_BYTES) " characters.";
	if (p - key > MX_MAX_KEY_BYTES)
		return "A key has at most " CppAsString2(MX_MAX_KEY_BYTES) " characters.";
	return NULL;
}

/* The X-Namespace header's value: HTTP would drop surrounding spaces. */
const char *
mx_namespace_problem(const char *namespace)
{
	size_t		len = strlen(namespace);

	if (mx_has_control_chars(namespace))
		return "A namespace must not contain control characters.";
	if (len > 0 && (namespace[0] == ' ' || namespace[len - 1] == ' '))
		return "A namespace must not begin or end with a space.";
	return NULL;
}

/* A host and port, as written in a URL or in mixpeek.allowed_hosts. */
typedef struct MxHostPort
{
	char	   *host;			/* lower case; an IPv6 address keeps its [] */
	int			port;			/* 0 when not written */
} MxHostPort;

static bool
is_host_char(char c, bool ipv6)
{
	if (ipv6)
		return isxdigit((unsigned char) c) || c == ':' || c == '.';
	return isalnum((unsigned char) c) || c == '-' || c == '.' || c == '_';
}

/* Read "host[:port]" from the len bytes at s; NULL or what is wrong. */
static const char *
parse_host_port(const char *s, size_t len, MxHostPort *out)
{
	const char *end = s + len;
	bool		ipv6 = (len > 0 && s[0] == '[');
	const char *host = ipv6 ? s + 1 : s;
	const char *p = host;
	long		port = 0;

	while (p < end && is_host_char(*p, ipv6))
		p++;
	if (p == host)
		return "A host name is missing.";
	if (ipv6 && (p == end || *p++ != ']'))
		return "An IPv6 address must be written in brackets, as in \"[::1]:8000\".";
	out->host = asc_tolower(s, p - s);
	out->port = 0;
	if (p == end)
		return NULL;
	if (*p != ':')
		return "A host name may contain only letters, digits, \"-\", \".\" and \"_\".";
	for (p++; p < end && isdigit((unsigned char) *p) && port <= 65535; p++)
		port = port * 10 + (*p - '0');
	if (p != end || port < 1 || port > 65535)
		return "A port is a number from 1 to 65535.";
	out->port = (int) port;
	return NULL;
}

/*
 * Check a base_url and read its host and port (the scheme's when not
 * written).  The request path is appended to the URL, so a query or a
 * fragment would swallow it, and user info would send credentials nobody
 * asked for.
 */
static const char *
parse_base_url(const char *url, MxHostPort *out)
{
	const char *rest;
	const char *p;
	size_t		authority_len;
	const char *problem;
	bool		https = false;

	if (pg_strncasecmp(url, "http://", 7) == 0)
		rest = url + 7;
	else if (pg_strncasecmp(url, "https://", 8) == 0)
	{
		rest = url + 8;
		https = true;
	}
	else
		return "The URL must start with http:// or https://.";
	if (strpbrk(url, " \"<>\\^`{|}") != NULL || mx_has_control_chars(url))
		return "The URL must not contain spaces, quotes or control characters.";
	for (p = url; *p; p++)
	{
		if ((unsigned char) *p >= 0x80)
			return "The URL must be ASCII (write an international host name in its xn-- form).";
	}
	if (strpbrk(url, "?#") != NULL)
		return "The URL must not contain \"?\" or \"#\": request paths are appended to it.";
	authority_len = strcspn(rest, "/");
	if (memchr(rest, '@', authority_len) != NULL)
		return "The URL must not contain user information (\"user:password@\").";
	if (authority_len == 0)
		return "The URL must name a host.";
	problem = parse_host_port(rest, authority_len, out);
	if (problem == NULL && out->port == 0)
		out->port = https ? 443 : 80;
	return problem;
}

/* The one rule for mixpeek.base_url and a server's base_url option. */
const char *
mx_base_url_problem(const char *url)
{
	MxHostPort hp;

	return parse_base_url(url, &hp);
}

/*
 * Call fn for each entry of the comma-separated list (spaces around
 * entries are ignored) until it returns non-NULL, and return that.
 */
static const char *
for_each_host(const char *list, const char *(*fn) (MxHostPort *, void *),
			  void *arg)
{
	const char *p = list ? list : "";

	while (*p)
	{
		size_t		len;
		MxHostPort	entry;
		const char *result;

		while (*p == ' ' || *p == ',')
			p++;
		len = strcspn(p, ",");
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (len == 0)
			break;
		result = parse_host_port(p, len, &entry);
		if (result == NULL)
			result = fn(&entry, arg);
		if (result != NULL)
			return result;
		p += len;
	}
	return NULL;
}

static const char *
accept_entry(MxHostPort *entry, void *arg)
{
	return NULL;
}

static const char host_matched[] = "matched";

/* host_matched when entry names the host of arg, and its port if written */
static const char *
match_entry(MxHostPort *entry, void *arg)
{
	MxHostPort *target = arg;

	if (strcmp(entry->host, target->host) == 0 &&
		(entry->port == 0 || entry->port == target->port))
		return host_matched;
	return NULL;
}

bool
mx_host_allowed(const char *url)
{
	MxHostPort	target;
	MxHostPort	settings;

	if (parse_base_url(url, &target) != NULL)
		return false;
	if (mx_base_url && parse_base_url(mx_base_url, &settings) == NULL &&
		strcmp(settings.host, target.host) == 0)
		return true;
	/* entries are checked when set; a bad one would end the search */
	return for_each_host(mx_allowed_hosts, match_entry, &target) == host_matched;
}

/* A check hook's answer for a value with the given problem (or none). */
static bool
guc_refuse(const char *problem)
{
	if (problem == NULL)
		return true;
	GUC_check_errdetail("%s", problem);
	return false;
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
		 source == PGC_S_ARGV) && file_key_problem != NULL)
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("mixpeek.api_key is stored in the server configuration but the mixpeek library is not preloaded");
		GUC_check_errdetail("%s", file_key_problem);
		GUC_check_errhint("%s", preload_hint);
		return false;
	}
	return guc_refuse(mx_api_key_problem(*newval));
}

static bool
check_namespace(char **newval, void **extra, GucSource source)
{
	return *newval == NULL || guc_refuse(mx_namespace_problem(*newval));
}

/* The rule of a server's base_url option too: sql/base_url.sql compares them. */
static bool
check_base_url(char **newval, void **extra, GucSource source)
{
	return guc_refuse(mx_base_url_problem(*newval ? *newval : ""));
}

static bool
check_allowed_hosts(char **newval, void **extra, GucSource source)
{
	return *newval == NULL ||
		guc_refuse(for_each_host(*newval, accept_entry, NULL));
}

void
mx_settings_init(void)
{
	file_key_problem = preload_problem();

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
							   PGC_USERSET, 0, check_namespace, NULL, NULL);
	DefineCustomStringVariable("mixpeek.base_url",
							   "Root URL of the Mixpeek API.",
							   NULL, &mx_base_url, MX_DEFAULT_BASE_URL,
							   PGC_SUSET, 0, check_base_url, NULL, NULL);
	DefineCustomStringVariable("mixpeek.allowed_hosts",
							   "Hosts, besides that of mixpeek.base_url, that foreign servers of roles that are not superusers may point at.",
							   "A comma-separated list of host or host:port.",
							   &mx_allowed_hosts, "",
							   PGC_SUSET, GUC_LIST_INPUT, check_allowed_hosts, NULL, NULL);
	DefineCustomIntVariable("mixpeek.timeout_ms",
							"Time limit of one Mixpeek request.",
							NULL, &mx_timeout_ms, MX_DEFAULT_TIMEOUT_MS, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("mixpeek.connect_timeout_ms",
							"Time limit for connecting to Mixpeek.",
							NULL, &mx_connect_timeout_ms,
							MX_DEFAULT_CONNECT_TIMEOUT_MS, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("mixpeek.max_retries",
							"Retries of a request on 429, 502, 503, 504 and connection failures.",
							NULL, &mx_max_retries, MX_DEFAULT_MAX_RETRIES,
							0, MX_MAX_RETRIES_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mixpeek.max_concurrency",
							"Mixpeek requests in flight at once in one session.",
							NULL, &mx_max_concurrency, MX_DEFAULT_CONCURRENCY,
							1, MX_CONCURRENCY_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mixpeek.page_size",
							"Documents asked for per list request.",
							NULL, &mx_page_size, MX_DEFAULT_PAGE_SIZE,
							1, MX_PAGE_SIZE_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mixpeek.count_cache_ms",
							"How long a collection's document_count is reused for planning.",
							"0 asks at every planning of a foreign table with use_remote_estimate.",
							&mx_count_cache_ms, MX_DEFAULT_COUNT_CACHE_MS,
							0, INT_MAX, PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("mixpeek.max_response_bytes",
							"Largest response body accepted, after decompression.",
							NULL, &mx_max_response_kb,
							MX_DEFAULT_MAX_RESPONSE_KB, 1, MX_MAX_RESPONSE_KB_MAX,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomEnumVariable("mixpeek.pushdown",
							 "What foreign scans send to Mixpeek: filters, sort and limit.",
							 "off sends none; safe what is exact whatever the API's filter rules; "
							 "all also what is exact only under lenient rules.",
							 &mx_pushdown, MX_PUSHDOWN_SAFE, pushdown_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("mixpeek.aggregate_pushdown",
							 "Sends exact aggregates of a foreign table to Mixpeek's aggregate endpoint.",
							 "Off: foreign scans return the documents and PostgreSQL aggregates them.",
							 &mx_aggregate_pushdown, true,
							 PGC_USERSET, 0, NULL, NULL, NULL);

	DefineCustomBoolVariable("mixpeek.batch_join",
							 "Joins local rows with a foreign table's documents by id in batched list requests.",
							 "Off: such joins scan the collection or look up one document per row.",
							 &mx_batch_join, true,
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

void
mx_require_namespace(const char *namespace, const char *servername)
{
	if (namespace != NULL && namespace[0] != '\0')
		return;
	if (servername != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no Mixpeek namespace is set for foreign server \"%s\"",
						servername),
				 errdetail("The Mixpeek API requires an X-Namespace header; no request was sent."),
				 errhint("Set the namespace option of the foreign table or of the server (ALTER SERVER %s OPTIONS (ADD namespace '...')), or SET mixpeek.namespace = '...'.",
						 quote_identifier(servername))));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("no Mixpeek namespace is set"),
			 errdetail("The Mixpeek API requires an X-Namespace header; no request was sent."),
			 errhint("SET mixpeek.namespace = '...', or set it in postgresql.conf or with ALTER ROLE ... SET.")));
}

static MxTarget *
settings_target(bool require_namespace)
{
	const char *key = mx_settings_api_key();

	if (key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("no Mixpeek API key is configured"),
				 errhint("A superuser can set mixpeek.api_key in postgresql.conf or with ALTER SYSTEM, with \"mixpeek\" in shared_preload_libraries.")));
	if (require_namespace)
		mx_require_namespace(mx_namespace, NULL);
	return mx_api_target(mx_normalize_base_url(mx_base_url), key, mx_namespace,
						 GetUserId(), InvalidOid);
}

MxTarget *
mx_settings_target(void)
{
	return settings_target(true);
}

MxTarget *
mx_settings_target_for_check(void)
{
	return settings_target(false);
}
