/*-------------------------------------------------------------------------
 *
 * connection.c
 *		Where a mixpeek_fdw scan sends its requests, and with which key.
 *
 * The key comes from the user mapping of the role (then PUBLIC).  Without
 * one, the mixpeek.api_key setting is used, but only for servers that do
 * not set their own base_url: that key belongs to mixpeek.base_url, and any
 * role that can create a server could otherwise point it at a host of its
 * own and collect the superuser's key (SPEC section 6).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "catalog/pg_user_mapping.h"
#include "foreign/foreign.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "mixpeek_fdw.h"
#include "settings.h"

/* The options of the user mapping of userid (or PUBLIC), or NIL. */
static List *
user_mapping_options(Oid userid, Oid serverid)
{
	HeapTuple	tp;
	List	   *options = NIL;
	Datum		datum;
	bool		isnull;

	tp = SearchSysCache2(USERMAPPINGUSERSERVER,
						 ObjectIdGetDatum(userid),
						 ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tp))
		tp = SearchSysCache2(USERMAPPINGUSERSERVER,
							 ObjectIdGetDatum(InvalidOid),
							 ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tp))
		return NIL;

	datum = SysCacheGetAttr(USERMAPPINGUSERSERVER, tp,
							Anum_pg_user_mapping_umoptions, &isnull);
	if (!isnull)
		options = untransformRelOptions(datum);
	ReleaseSysCache(tp);
	return options;
}

MxTarget *
mx_fdw_target(Oid serverid, Oid userid, const char *table_namespace)
{
	ForeignServer *server = GetForeignServer(serverid);
	MxTarget   *target = palloc0(sizeof(MxTarget));
	const char *server_url = mx_fdw_option(server->options, "base_url");
	const char *key;

	key = mx_fdw_option(user_mapping_options(userid, serverid), "api_key");
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

	target->api_key = key;
	target->base_url = mx_normalize_base_url(server_url ? server_url : mx_base_url);
	target->namespace = table_namespace;
	if (target->namespace == NULL)
		target->namespace = mx_fdw_option(server->options, "namespace");
	if (target->namespace == NULL)
		target->namespace = mx_namespace;
	return target;
}
