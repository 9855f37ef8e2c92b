/*-------------------------------------------------------------------------
 *
 * connection.c
 *		Where a mixpeek_fdw scan sends its requests, and with which key.
 *
 * The key comes from the user mapping of the role (then PUBLIC).  Without
 * one, the mixpeek.api_key setting is used, but only for servers that do
 * not set their own base_url: that key belongs to mixpeek.base_url, and any
 * role that can create a server could otherwise point it at a host of its
 * own and collect the superuser's key.
 *
 * The options are checked again here, not only by the validator: they may
 * have been stored by an older version, and mixpeek.allowed_hosts may have
 * changed since.  A server's base_url outside the allow-list is used only
 * when the server's owner is a superuser: the owner stands behind the
 * options, and a role that is not a superuser could only have set such a
 * URL while the allow-list said otherwise.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "catalog/pg_user_mapping.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "mixpeek_fdw.h"
#include "settings.h"

/*
 * The options of the user mapping of userid (or PUBLIC), or NIL.  *found
 * says whether there is a mapping, *whose whose it is (InvalidOid: PUBLIC).
 */
static List *
user_mapping_options_of(Oid userid, Oid serverid, bool *found, Oid *whose)
{
	HeapTuple	tp;
	List	   *options = NIL;
	Datum		datum;
	bool		isnull;

	*found = false;
	*whose = userid;
	tp = SearchSysCache2(USERMAPPINGUSERSERVER,
						 ObjectIdGetDatum(userid),
						 ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tp))
	{
		*whose = InvalidOid;
		tp = SearchSysCache2(USERMAPPINGUSERSERVER,
							 ObjectIdGetDatum(InvalidOid),
							 ObjectIdGetDatum(serverid));
	}
	if (!HeapTupleIsValid(tp))
		return NIL;
	*found = true;

	datum = SysCacheGetAttr(USERMAPPINGUSERSERVER, tp,
							Anum_pg_user_mapping_umoptions, &isnull);
	if (!isnull)
		options = untransformRelOptions(datum);
	ReleaseSysCache(tp);
	return options;
}

static List *
user_mapping_options(Oid userid, Oid serverid)
{
	bool		found;
	Oid			whose;

	return user_mapping_options_of(userid, serverid, &found, &whose);
}

/*
 * A stored option (of the server, its user mapping or the foreign table)
 * that does not pass the validator's rules.
 */
static void
check_stored(ForeignServer *server, const char *option, const char *problem)
{
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\" in a request to foreign server \"%s\"",
						option, server->servername),
				 errdetail("%s", problem),
				 errhint("Set the option again with ALTER SERVER, ALTER USER MAPPING or ALTER FOREIGN TABLE.")));
}

static void
check_server_url(ForeignServer *server, const char *url)
{
	check_stored(server, "base_url", mx_base_url_problem(url));
	if (!mx_host_allowed(url) && !superuser_arg(server->owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("foreign server \"%s\" points at a host that is not allowed",
						server->servername),
				 errdetail("The host is neither that of mixpeek.base_url nor in mixpeek.allowed_hosts, and the server's owner is not a superuser."),
				 errhint("A superuser can add the host to mixpeek.allowed_hosts.")));
}

static MxTarget *
fdw_target(Oid serverid, Oid userid, const char *table_namespace,
		   bool require_namespace)
{
	ForeignServer *server = GetForeignServer(serverid);
	const char *server_url = mx_fdw_option(server->options, "base_url");
	const char *key;
	const char *namespace;

	if (server_url != NULL)
		check_server_url(server, server_url);
	key = mx_fdw_option(user_mapping_options(userid, serverid), "api_key");
	if (key != NULL)
		check_stored(server, "api_key", mx_api_key_problem(key));
	if (key == NULL && server_url == NULL)
		key = mx_settings_api_key();
	if (key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("no Mixpeek API key for foreign server \"%s\"",
						server->servername),
				 server_url != NULL
				 ? errdetail("The server sets its own base_url, so the mixpeek.api_key setting is not sent to it.")
				 : 0,
				 errhint("Create a user mapping with the key: CREATE USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (api_key '...')%s.",
						 quote_identifier(server->servername),
						 server_url == NULL
						 ? ", or have a superuser set mixpeek.api_key with \"mixpeek\" in shared_preload_libraries"
						 : "")));

	namespace = table_namespace;
	if (namespace == NULL)
		namespace = mx_fdw_option(server->options, "namespace");
	if (namespace == NULL)
		namespace = mx_namespace;
	check_stored(server, "namespace", mx_namespace_problem(namespace));
	if (require_namespace)
		mx_require_namespace(namespace, server->servername);
	return mx_api_target(mx_normalize_base_url(server_url ? server_url : mx_base_url),
						 key, namespace, userid, serverid);
}

/*
 * The target of a scan (table_namespace: the foreign table's option, or
 * NULL) or of IMPORT FOREIGN SCHEMA: raises 28000 without a key and 22023
 * without a namespace, before any request.
 */
MxTarget *
mx_fdw_target(Oid serverid, Oid userid, const char *table_namespace)
{
	return fdw_target(serverid, userid, table_namespace, true);
}

/* The same without the namespace requirement: mixpeek_check() reports it. */
MxTarget *
mx_fdw_target_for_check(Oid serverid, Oid userid)
{
	return fdw_target(serverid, userid, NULL, false);
}

/*
 * Where mx_fdw_target() takes userid's key for the server from, by the same
 * rules, as a phrase for mixpeek_check(); NULL when there is no key.  The
 * key itself is not looked at beyond its presence.
 */
char *
mx_fdw_key_source(Oid serverid, Oid userid)
{
	ForeignServer *server = GetForeignServer(serverid);
	bool		found;
	Oid			whose;
	List	   *options = user_mapping_options_of(userid, serverid,
												  &found, &whose);

	if (mx_fdw_option(options, "api_key") != NULL)
	{
		if (!OidIsValid(whose))
			return psprintf("the user mapping for PUBLIC of server %s",
							quote_identifier(server->servername));
		return psprintf("the user mapping for role %s of server %s",
						quote_identifier(GetUserNameFromId(whose, false)),
						quote_identifier(server->servername));
	}
	if (mx_fdw_option(server->options, "base_url") == NULL &&
		mx_settings_api_key() != NULL)
		return pstrdup("the mixpeek.api_key setting");
	return NULL;
}
