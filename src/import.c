/*-------------------------------------------------------------------------
 *
 * import.c
 *		IMPORT FOREIGN SCHEMA for mixpeek_fdw: one foreign table per
 *		collection of POST /v1/collections/list (SPEC §4).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "foreign/foreign.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"

#include "json.h"
#include "mixpeek_fdw.h"

/* Standard columns of every imported table, in this order. */
static const char *const standard_columns[][2] = {
	{"document_id", "text"},
	{"collection_id", "text"},
	{"root_object_id", "text"},
	{"root_bucket_id", "text"},
	{"source_type", "text"},
	{"source_collection_id", "text"},
	{"source_document_id", "text"},
	{"source_object_id", "text"},
	{"lineage_path", "text"},
	{"lineage_chain", "jsonb"},
	{"source_blobs", "jsonb"},
	{"document_blobs", "jsonb"},
	{"internal_metadata", "jsonb"},
	{"created_at", "timestamptz"},
	{"updated_at", "timestamptz"},
	{"modality", "text"},
	{"mime_type", "text"},
	{"vector", "real[]"},
	{"presigned_url", "text"},
	{"presigned_urls", "jsonb"},
	{"document", "jsonb"},
	{NULL, NULL}
};

/* output_schema types (SPEC §4); anything else becomes jsonb */
static const char *const type_map[][2] = {
	{"string", "text"},
	{"text", "text"},
	{"integer", "bigint"},
	{"number", "double precision"},
	{"float", "double precision"},
	{"boolean", "boolean"},
	{"date", "date"},
	{"datetime", "timestamptz"},
	{"object", "jsonb"},
	{"array", "jsonb"},
	{"image", "text"},
	{"audio", "text"},
	{"video", "text"},
	{"pdf", "text"},
	{"excel", "text"},
	{NULL, NULL}
};

static const char *
column_type(const char *schema_type)
{
	int			i;

	for (i = 0; schema_type && type_map[i][0]; i++)
	{
		if (strcmp(type_map[i][0], schema_type) == 0)
			return type_map[i][1];
	}
	return "jsonb";
}

static bool
is_standard_column(const char *name)
{
	int			i;

	for (i = 0; standard_columns[i][0]; i++)
	{
		if (strcmp(standard_columns[i][0], name) == 0)
			return true;
	}
	return false;
}

static bool
wanted(ImportForeignSchemaStmt *stmt, const char *name)
{
	ListCell   *lc;
	bool		listed = false;

	if (stmt->list_type == FDW_IMPORT_SCHEMA_ALL)
		return true;
	foreach(lc, stmt->table_list)
	{
		if (strcmp(((RangeVar *) lfirst(lc))->relname, name) == 0)
			listed = true;
	}
	return stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO ? listed : !listed;
}

static JsonbContainer *
object_of(JsonbValue *v)
{
	if (v == NULL || v->type != jbvBinary ||
		!JsonContainerIsObject(v->val.binary.data))
		return NULL;
	return v->val.binary.data;
}

/*
 * The output_schema field names of each collection in the order the API
 * lists them, which jsonb does not keep (it sorts keys): read from the raw
 * body with the JSON parser, at results[i].output_schema.properties.
 */
#define MX_IMPORT_MAX_DEPTH 8

typedef struct MxSchemaOrder
{
	int			depth;			/* objects open */
	char	   *fields[MX_IMPORT_MAX_DEPTH];	/* field name at each depth */
	List	   *names;			/* per collection: List of names */
} MxSchemaOrder;

static bool
at_field(MxSchemaOrder *st, int depth, const char *name)
{
	return st->fields[depth] != NULL && strcmp(st->fields[depth], name) == 0;
}

static void
order_object_start(void *state)
{
	MxSchemaOrder *st = state;

	st->depth++;
	if (st->depth < MX_IMPORT_MAX_DEPTH)
		st->fields[st->depth] = NULL;
}

static void
order_object_end(void *state)
{
	((MxSchemaOrder *) state)->depth--;
}

static void
order_field_start(void *state, char *fname, bool isnull)
{
	MxSchemaOrder *st = state;

	if (st->depth >= MX_IMPORT_MAX_DEPTH)
		return;
	st->fields[st->depth] = fname;
	/* {"results": [{"output_schema": {"properties": {fname: ...}}}]} */
	if (st->depth == 4 && st->names != NIL && at_field(st, 1, "results") &&
		at_field(st, 2, "output_schema") && at_field(st, 3, "properties"))
		llast(st->names) = lappend(llast(st->names), fname);
}

static void
order_element_start(void *state, bool isnull)
{
	MxSchemaOrder *st = state;

	if (st->depth == 1 && at_field(st, 1, "results"))
		st->names = lappend(st->names, NIL);
}

/* One List of names per element of "results"; NIL if the body is odd. */
static List *
schema_field_order(MxHttpRequest *req)
{
	MxSchemaOrder st = {0};
	JsonSemAction sem = {0};
	JsonLexContext *lex;

	sem.semstate = &st;
	sem.object_start = order_object_start;
	sem.object_end = order_object_end;
	sem.object_field_start = order_field_start;
	sem.array_element_start = order_element_start;
	lex = makeJsonLexContextCstringLen(req->response.data, req->response.len,
									   PG_UTF8, true);
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS)
		return NIL;
	return st.names;
}

/* The output_schema fields as column definitions, in the API's order. */
static void
append_field_columns(StringInfo buf, JsonbContainer *collection, List *names)
{
	JsonbContainer *properties;
	ListCell   *lc;

	properties = object_of(mx_json_get_path(collection, "output_schema.properties"));
	if (properties == NULL)
		return;
	foreach(lc, names)
	{
		char	   *name = lfirst(lc);
		JsonbContainer *prop = object_of(mx_json_get(properties, name));
		char	   *type = prop ? mx_json_string(mx_json_get(prop, "type")) : NULL;

		if (name[0] == '\0' || is_standard_column(name))
			continue;
		appendStringInfo(buf, ",\n  %s %s", quote_identifier(name),
						 column_type(type));
		/* a longer name would be truncated: keep the whole key */
		if (strlen(name) >= NAMEDATALEN && strchr(name, '.') == NULL)
			appendStringInfo(buf, " OPTIONS (field %s)", quote_literal_cstr(name));
	}
}

static char *
create_table_sql(ForeignServer *server, const char *table_name,
				 const char *collection_id, JsonbContainer *collection,
				 List *names)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfo(&buf, "CREATE FOREIGN TABLE %s (", quote_identifier(table_name));
	for (i = 0; standard_columns[i][0]; i++)
		appendStringInfo(&buf, "%s\n  %s %s", i > 0 ? "," : "",
						 standard_columns[i][0], standard_columns[i][1]);
	append_field_columns(&buf, collection, names);
	appendStringInfo(&buf, "\n) SERVER %s OPTIONS (collection %s)",
					 quote_identifier(server->servername),
					 quote_literal_cstr(collection_id));
	return buf.data;
}

static List *
import_page(ImportForeignSchemaStmt *stmt, ForeignServer *server,
			JsonbContainer *page, List *order, List *commands)
{
	JsonbValue *results = mx_json_get(page, "results");
	int			n;
	int			i;

	if (results == NULL || results->type != jbvBinary ||
		!JsonContainerIsArray(results->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
				 errmsg("unexpected response from Mixpeek for POST /v1/collections/list"),
				 errdetail("\"results\" is not an array.")));
	n = JsonContainerSize(results->val.binary.data);
	for (i = 0; i < n; i++)
	{
		JsonbValue *item = getIthJsonbValueFromContainer(results->val.binary.data, i);
		JsonbContainer *collection = object_of(item);
		char	   *id;
		char	   *name;

		if (collection == NULL)
			continue;
		id = mx_json_string(mx_json_get(collection, "collection_id"));
		name = mx_json_string(mx_json_get(collection, "collection_name"));
		if (id == NULL || id[0] == '\0')
			continue;
		if (name == NULL || name[0] == '\0')
			name = id;
		if (wanted(stmt, name))
			commands = lappend(commands,
							   create_table_sql(server, name, id, collection,
												i < list_length(order)
												? list_nth(order, i) : NIL));
	}
	return commands;
}

List *
mx_import_foreign_schema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	ForeignServer *server = GetForeignServer(serverOid);
	MxTarget   *target = mx_fdw_target(serverOid, GetUserId(), NULL);
	MxBatch    *batch = mx_api_batch(target, 1, NULL);
	List	   *commands = NIL;
	char	   *cursor = NULL;

	do
	{
		MxHttpRequest *req = mx_api_list_collections(target, cursor);
		char	   *sent = cursor;
		Jsonb	   *page;

		mx_batch_add(batch, req);
		req = mx_batch_next(batch);
		page = mx_api_object_result(req);
		commands = import_page(stmt, server, &page->root,
							   schema_field_order(req), commands);
		cursor = mx_json_string(mx_json_get_path(&page->root,
												 "pagination.next_cursor"));
		/* the same cursor again would page forever */
		if (cursor != NULL && sent != NULL && strcmp(cursor, sent) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
					 errmsg("unexpected response from Mixpeek for %s %s",
							req->method, req->path),
					 errdetail("The next cursor is the cursor of the request.")));
		CHECK_FOR_INTERRUPTS();
	} while (cursor != NULL);

	mx_batch_destroy(batch);
	return commands;
}
