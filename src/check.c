/*-------------------------------------------------------------------------
 *
 * check.c
 *		mixpeek_check(): one row per check of a setup, for first contact.
 *
 * Each check that fails is a row with status "error" (or "warning"), never
 * an ERROR: a user setting up an account wants every problem at once, not
 * the first one.  So the steps that raise their usual ERROR (resolving the
 * target, reading the answer) run in a subtransaction, as PL/pgSQL's
 * EXCEPTION blocks do, and the error's message and hint become the row's.
 * The messages are those of any other use of the same setup, which already
 * mask the key; the rows are masked once more all the same.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "api.h"
#include "mixpeek_fdw.h"
#include "settings.h"

PG_FUNCTION_INFO_V1(mixpeek_check);

extern Datum mixpeek_fdw_handler(PG_FUNCTION_ARGS);

typedef struct CheckState
{
	ReturnSetInfo *rsinfo;
	const char *api_key;		/* to mask in every row; NULL if none */
} CheckState;

static void
add_row(CheckState *st, const char *check, const char *status,
		const char *detail, const char *hint)
{
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	const char *texts[4] = {check, status, detail, hint};
	int			i;

	for (i = 0; i < 4; i++)
	{
		if (texts[i] == NULL)
		{
			nulls[i] = true;
			values[i] = (Datum) 0;
			continue;
		}
		values[i] = CStringGetTextDatum(mx_mask_key(pstrdup(texts[i]),
													st->api_key));
	}
	tuplestore_putvalues(st->rsinfo->setResult, st->rsinfo->setDesc,
						 values, nulls);
}

typedef void (*CheckStep) (void *arg);

/*
 * Run step; if it raises an ERROR, return the error instead (a cancel is
 * raised again: the user asked to stop).  What step allocates lives in the
 * caller's memory context either way.
 */
static ErrorData *
try_step(CheckStep step, void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		step(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
	}
	PG_END_TRY();
	return edata;
}

/* An error's message and detail, as one row's detail. */
static char *
error_detail(ErrorData *edata)
{
	if (edata->detail == NULL)
		return edata->message;
	return psprintf("%s. %s", edata->message, edata->detail);
}

/* ---------- the steps that may raise ---------- */

typedef struct TargetStep
{
	ForeignServer *server;		/* NULL: the settings' target */
	MxTarget   *target;			/* result */
} TargetStep;

static void
resolve_target(void *arg)
{
	TargetStep *ts = arg;

	if (ts->server != NULL)
		ts->target = mx_fdw_target_for_check(ts->server->serverid, GetUserId());
	else
		ts->target = mx_settings_target_for_check();
}

static void
read_answer(void *arg)
{
	(void) mx_api_object_result((MxHttpRequest *) arg);
}

/* ---------- the checks ---------- */

static void
check_preload(CheckState *st)
{
	if (mx_library_listed_in("shared_preload_libraries"))
		add_row(st, "preload", "ok", "The library is in shared_preload_libraries.",
				NULL);
	else if (mx_library_listed_in("session_preload_libraries"))
		add_row(st, "preload", "warning",
				"The library is in session_preload_libraries only, so mixpeek_stats counts nothing.",
				"Add \"mixpeek\" to shared_preload_libraries and restart the server.");
	else
		add_row(st, "preload", "warning",
				"The library is not preloaded: a mixpeek.api_key in the configuration file is not used, and mixpeek_stats counts nothing.",
				"Add \"mixpeek\" to shared_preload_libraries and restart the server, or keep keys in user mappings.");
}

static void
check_key_source(CheckState *st, ForeignServer *server, ErrorData *target_error)
{
	char	   *source;

	if (server != NULL)
		source = mx_fdw_key_source(server->serverid, GetUserId());
	else
		source = mx_settings_api_key() ? pstrdup("the mixpeek.api_key setting") : NULL;

	if (source != NULL)
		add_row(st, "api_key", "ok", psprintf("The key comes from %s.", source),
				NULL);
	else if (target_error != NULL &&
			 target_error->sqlerrcode == ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION)
		add_row(st, "api_key", "error", error_detail(target_error),
				target_error->hint);
	else
		add_row(st, "api_key", "error", "No API key is available.", NULL);
}

static void
check_base_url(CheckState *st, ForeignServer *server)
{
	const char *option = server ? mx_fdw_option(server->options, "base_url") : NULL;
	const char *url = option ? option : mx_base_url;
	const char *problem = mx_base_url_problem(url);
	char	   *where;

	where = option
		? psprintf("the base_url option of server %s",
				   quote_identifier(server->servername))
		: pstrdup("mixpeek.base_url");
	if (problem != NULL)
	{
		add_row(st, "base_url", "error",
				psprintf("The URL in %s is not valid. %s", where, problem),
				option ? "Set the option again with ALTER SERVER." : NULL);
		return;
	}
	url = mx_normalize_base_url(url);
	if (pg_strncasecmp(url, "https://", 8) == 0)
		add_row(st, "base_url", "ok", psprintf("%s (%s), over TLS.", url, where),
				NULL);
	else
		add_row(st, "base_url", "warning",
				psprintf("%s (%s) is plain HTTP: the key travels in clear text.",
						 url, where),
				"Use an https:// URL.");

	if (option == NULL)
		add_row(st, "host", "ok", "The host of mixpeek.base_url.", NULL);
	else if (mx_host_allowed(url))
		add_row(st, "host", "ok",
				"The host is that of mixpeek.base_url or in mixpeek.allowed_hosts.",
				NULL);
	else if (superuser_arg(server->owner))
		add_row(st, "host", "warning",
				"The host is neither that of mixpeek.base_url nor in mixpeek.allowed_hosts; it is used because the server's owner is a superuser, and its replies are not quoted in errors.",
				"A superuser can add the host to mixpeek.allowed_hosts.");
	else
		add_row(st, "host", "error",
				"The host is neither that of mixpeek.base_url nor in mixpeek.allowed_hosts, and the server's owner is not a superuser.",
				"A superuser can add the host to mixpeek.allowed_hosts.");
}

/* The namespace the requests would carry, and where it comes from. */
static const char *
namespace_of(ForeignServer *server, char **where)
{
	const char *ns = server ? mx_fdw_option(server->options, "namespace") : NULL;

	if (ns != NULL)
	{
		*where = psprintf("the namespace option of server %s",
						  quote_identifier(server->servername));
		return ns;
	}
	*where = pstrdup("mixpeek.namespace");
	return mx_namespace;
}

static void
check_namespace(CheckState *st, ForeignServer *server,
				const char *unknown_detail)
{
	char	   *where;
	const char *ns = namespace_of(server, &where);

	if (unknown_detail != NULL)
		add_row(st, "namespace", "error",
				psprintf("Mixpeek has no namespace \"%s\" (%s) for this key: %s",
						 ns ? ns : "", where, unknown_detail),
				"Check the namespace's name or id in the Mixpeek dashboard.");
	else if (ns == NULL || ns[0] == '\0')
		add_row(st, "namespace", "warning",
				"No namespace is set; the Mixpeek API requires one, so every call raises an ERROR before any request.",
				server
				? psprintf("ALTER SERVER %s OPTIONS (ADD namespace '...'), or SET mixpeek.namespace = '...'.",
						   quote_identifier(server->servername))
				: "SET mixpeek.namespace = '...', or set it in postgresql.conf or with ALTER ROLE ... SET.");
	else
		add_row(st, "namespace", "ok", psprintf("\"%s\" (%s).", ns, where), NULL);
}

/* Are all bytes of s visible ASCII or spaces? */
static bool
is_plain_text(const char *s)
{
	for (; *s; s++)
	{
		if ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f)
			return false;
	}
	return true;
}

static void
check_rate_limit(CheckState *st, MxHttpRequest *req, bool shown)
{
	static const char *const names[MX_RATE_LIMIT_NHEADERS] = {
		"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
		"X-RateLimit-Window"
	};
	StringInfoData detail;
	const char *hint = NULL;
	int			i;

	if (req == NULL || req->outcome != MX_HTTP_DONE)
	{
		add_row(st, "rate_limit", "warning",
				"Not known: no answer came to read them from.", NULL);
		return;
	}
	if (!shown)
	{
		add_row(st, "rate_limit", "ok",
				"Not shown: the host is neither that of mixpeek.base_url nor in mixpeek.allowed_hosts.",
				NULL);
		return;
	}
	initStringInfo(&detail);
	for (i = 0; i < MX_RATE_LIMIT_NHEADERS; i++)
	{
		const char *v = req->rate_limit[i];

		if (v[0] == '\0')
			continue;
		appendStringInfo(&detail, "%s%s: %s", detail.len ? ", " : "",
						 names[i], is_plain_text(v) ? v : "(unreadable)");
		if (i == 1 && strcmp(v, "0") == 0)
			hint = "No requests are left in this window: wait for the reset, or lower mixpeek.max_concurrency.";
	}
	add_row(st, "rate_limit", "ok", detail.len ? detail.data : "not sent", hint);
}

/*
 * The authenticated call and what its answer says about the key; sets
 * *unknown_namespace to the error's text when the answer is Mixpeek's 404
 * for the namespace (Mixpeek checks the key first: the key is fine then).
 */
static void
check_request(CheckState *st, MxHttpRequest *req, long ms,
			  char **unknown_namespace)
{
	ErrorData  *edata = try_step(read_answer, req);
	const char *resource;

	*unknown_namespace = NULL;
	if (edata == NULL)
	{
		add_row(st, "authentication", "ok",
				psprintf("The key was accepted: %s %s answered HTTP %ld in %ld ms.",
						 req->method, req->path, req->status, ms),
				NULL);
		return;
	}
	resource = mx_api_error_resource(req);
	if (req->outcome == MX_HTTP_DONE && req->status == 404 &&
		resource != NULL && strcmp(resource, "namespace") == 0)
	{
		add_row(st, "authentication", "ok",
				"The key was accepted; the namespace was not (see the namespace check).",
				NULL);
		*unknown_namespace = error_detail(edata);
		return;
	}
	add_row(st, "authentication",
			(req->outcome == MX_HTTP_DONE && req->status == 429) ? "warning" : "error",
			psprintf("%s %s: %s", req->method, req->path, error_detail(edata)),
			edata->hint);
}

Datum
mixpeek_check(PG_FUNCTION_ARGS)
{
	CheckState	st;
	TargetStep	ts = {NULL, NULL};
	ErrorData  *target_error;
	MxHttpRequest *req = NULL;
	char	   *unknown_namespace = NULL;

	if (!PG_ARGISNULL(0))
	{
		FmgrInfo	handler;
		ForeignDataWrapper *fdw;

		ts.server = GetForeignServerByName(NameStr(*PG_GETARG_NAME(0)), false);
		fdw = GetForeignDataWrapper(ts.server->fdwid);
		if (OidIsValid(fdw->fdwhandler))
			fmgr_info(fdw->fdwhandler, &handler);
		if (!OidIsValid(fdw->fdwhandler) || handler.fn_addr != mixpeek_fdw_handler)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("foreign server \"%s\" is not a server of mixpeek_fdw",
							ts.server->servername)));
	}

	InitMaterializedSRF(fcinfo, 0);
	st.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	st.api_key = mx_settings_api_key();

	check_preload(&st);
	target_error = try_step(resolve_target, &ts);
	if (ts.target != NULL)
		st.api_key = ts.target->api_key;
	check_key_source(&st, ts.server, target_error);
	check_base_url(&st, ts.server);

	if (ts.target != NULL &&
		(ts.target->namespace == NULL || ts.target->namespace[0] == '\0'))
		add_row(&st, "authentication", "warning",
				"No request was made: no namespace is set, and the Mixpeek API requires one (see the namespace check).",
				NULL);
	else if (ts.target != NULL)
	{
		MxBatch    *batch = mx_api_batch(ts.target, 1, NULL);
		TimestampTz start = GetCurrentTimestamp();
		long		secs;
		int			usecs;

		mx_batch_add(batch, mx_api_check_request(ts.target));
		req = mx_batch_next(batch);
		TimestampDifference(start, GetCurrentTimestamp(), &secs, &usecs);
		/* read the answer while the batch still knows the key to mask */
		check_request(&st, req, secs * 1000 + usecs / 1000, &unknown_namespace);
		mx_batch_destroy(batch);
	}
	else
		add_row(&st, "authentication", "error",
				psprintf("No request was made: %s", error_detail(target_error)),
				target_error->hint);

	check_namespace(&st, ts.server, unknown_namespace);
	check_rate_limit(&st, req,
					 ts.target != NULL && mx_host_allowed(ts.target->base_url));
	return (Datum) 0;
}
