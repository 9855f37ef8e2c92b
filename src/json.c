/*-------------------------------------------------------------------------
 *
 * json.c
 *		Response bodies to jsonb, and lookups inside jsonb values.
 *
 * jsonb_in is PostgreSQL's own parser, so numbers keep every digit.  It
 * raises errors for bad input; mx_json_parse turns those into a returned
 * reason so that callers can report the documented SQLSTATE, and checks
 * beforehand what jsonb_in would not: valid UTF-8 without NUL bytes (a
 * NUL would silently cut the text short) and a sane nesting depth (which
 * would otherwise end in a stack depth error).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "json.h"
#include "json_depth.h"
#include "mixpeek_limits.h"

Jsonb *
mx_json_parse(const char *data, size_t len, char **why)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *text;
	Jsonb	   *volatile result = NULL;

	*why = NULL;
	if (len == 0)
	{
		*why = pstrdup("The body is empty.");
		return NULL;
	}
	if (!pg_verify_mbstr(PG_UTF8, data, (int) len, true))
	{
		*why = pstrdup("The body is not valid UTF-8.");
		return NULL;
	}
	if (mx_json_nesting_depth(data, len, MX_JSON_MAX_DEPTH) > MX_JSON_MAX_DEPTH)
	{
		*why = psprintf("The body nests arrays and objects more than %d levels deep.",
						MX_JSON_MAX_DEPTH);
		return NULL;
	}

	text = (char *) data;
	PG_TRY();
	{
		/* the body arrives as UTF-8; the server may use another encoding */
		text = pg_any_to_server(data, (int) len, PG_UTF8);
		result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													CStringGetDatum(text)));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION &&
			edata->sqlerrcode != ERRCODE_PROGRAM_LIMIT_EXCEEDED)
			PG_RE_THROW();
		FlushErrorState();
		*why = edata->detail ?
			psprintf("%s: %s", edata->message, edata->detail) :
			pstrdup(edata->message);
		FreeErrorData(edata);
		result = NULL;
	}
	PG_END_TRY();
	if (text != data)
		pfree(text);
	return result;
}

JsonbValue *
mx_json_get(JsonbContainer *container, const char *key)
{
	if (container == NULL || !JsonContainerIsObject(container))
		return NULL;
	return getKeyJsonValueFromContainer(container, key, strlen(key), NULL);
}

JsonbValue *
mx_json_get_keys(JsonbContainer *container, char **keys, int nkeys)
{
	JsonbValue *v = NULL;
	int			i;

	for (i = 0; i < nkeys; i++)
	{
		if (i > 0)
		{
			if (v->type != jbvBinary)
				return NULL;
			container = v->val.binary.data;
		}
		v = mx_json_get(container, keys[i]);
		if (v == NULL)
			return NULL;
	}
	return v;
}

JsonbValue *
mx_json_get_path(JsonbContainer *container, const char *dotted_path)
{
	char	   *copy = pstrdup(dotted_path);
	char	   *keys[64];
	int			nkeys = 0;
	char	   *p = copy;
	JsonbValue *v;

	for (;;)
	{
		char	   *dot = strchr(p, '.');

		if (nkeys == lengthof(keys))
			return NULL;
		keys[nkeys++] = p;
		if (dot == NULL)
			break;
		*dot = '\0';
		p = dot + 1;
	}
	v = mx_json_get_keys(container, keys, nkeys);
	pfree(copy);
	return v;
}

char *
mx_json_string(JsonbValue *v)
{
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}
