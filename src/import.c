/*-------------------------------------------------------------------------
 *
 * import.c
 *		IMPORT FOREIGN SCHEMA for mixpeek_fdw: one foreign table per
 *		collection of POST /v1/collections/list.
 *
 * The list comes from a server we do not control, so nothing in it may
 * make the import run forever, grow without bound, or fail as a whole: a
 * collection or field that PostgreSQL cannot take is skipped or renamed
 * with a NOTICE, and the rest is imported.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/heap.h"
#include "foreign/foreign.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "columns.h"
#include "compat.h"
#include "control.h"
#include "cursor_set.h"
#include "json.h"
#include "mixpeek_fdw.h"
#include "mixpeek_limits.h"
#include "settings.h"

/* How extractors name the vectors they output (is_embedding()). */
#define MX_EMBEDDING_SUFFIX "_embedding"

/* output_schema types (README, "IMPORT FOREIGN SCHEMA"); anything else becomes jsonb */
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

/* One import: what it has built so far, kept across pages. */
typedef struct MxImport
{
	ImportForeignSchemaStmt *stmt;
	ForeignServer *server;
	MemoryContext cxt;			/* lives as long as the import */
	HTAB	   *tables;			/* MxNameEntry: table names taken */
	int			position;		/* collections of the list met so far */
	List	   *commands;		/* CREATE FOREIGN TABLE statements */
} MxImport;

/* One collection's table as it is built. */
typedef struct MxTableDef
{
	const char *label;			/* the collection, quoted for messages */
	JsonbContainer *properties; /* output_schema.properties, or NULL */
	List	   *sortable;		/* String: fields with a range payload index */
	HTAB	   *names;			/* MxNameEntry: column names */
	int			ncolumns;
	int			nfields;		/* distinct fields given a column or skipped */
	const char *first_left_out; /* the first field past the column limit */
	StringInfoData sql;
} MxTableDef;

/*
 * A table or column name (at most NAMEDATALEN - 1 bytes, as PostgreSQL
 * keeps it), and the fields of the list whose own name comes out as it.
 */
typedef struct MxNameEntry
{
	char		name[NAMEDATALEN];	/* the hash key */
	bool		in_use;			/* a table or column has this name */
	List	   *fields;			/* full field names */
} MxNameEntry;

static HTAB *
name_table_create(const char *what)
{
	HASHCTL		ctl;

	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(MxNameEntry);
	ctl.hcxt = CurrentMemoryContext;
	return hash_create(what, 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

static MxNameEntry *
name_entry(HTAB *names, const char *name)
{
	MxNameEntry *entry;
	bool		found;

	Assert(strlen(name) < NAMEDATALEN);
	entry = hash_search(names, name, HASH_ENTER, &found);
	if (!found)
	{
		entry->in_use = false;
		entry->fields = NIL;
	}
	return entry;
}

/* name cut to at most maxlen bytes, on a character boundary, palloc'd */
static char *
clip_name(const char *name, int maxlen)
{
	return pnstrdup(name, pg_mbcliplen(name, strlen(name), maxlen));
}

/* A name from the list as messages show it: quoted, control characters escaped. */
static char *
shown(const char *name)
{
	StringInfoData buf;

	initStringInfo(&buf);
	escape_json(&buf, name);
	return buf.data;
}

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

/*
 * Is an output_schema field an embedding?  The schema types them "array",
 * like any list; extractors name their vector outputs
 * <extractor>_<version>_embedding (the OpenAPI's collection examples), and
 * a schema may say that the items are numbers.
 */
static bool
is_embedding(const char *field, JsonbContainer *prop)
{
	const char *type = mx_json_string(mx_json_get(prop, "type"));
	const char *items_type = mx_json_string(mx_json_get_path(prop, "items.type"));
	size_t		len = strlen(field);
	size_t		suffix = strlen(MX_EMBEDDING_SUFFIX);

	if (type == NULL || strcmp(type, "array") != 0)
		return false;
	if (len > suffix && strcmp(field + len - suffix, MX_EMBEDDING_SUFFIX) == 0)
		return true;
	return items_type != NULL &&
		(strcmp(items_type, "number") == 0 || strcmp(items_type, "float") == 0);
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

/* ---------- the fields in the API's order ---------- */

/*
 * jsonb sorts an object's keys, so the order the API lists the fields in is
 * read from the raw body with jansson (control.c), which keeps it.  One
 * List of names per element of "results"; NIL if jansson cannot read the
 * body (add_field_columns then takes jsonb's order).
 */
static List *
schema_field_order(MxHttpRequest *req)
{
	MxControlSchemas schemas;
	List	   *volatile names = NIL;
	int			i;
	int			j;

	if (!mx_control_read_schemas(req->response.data, req->response.len,
								 &schemas))
	{
		mx_control_schemas_free(&schemas);
		return NIL;
	}
	PG_TRY();
	{
		for (i = 0; i < schemas.nresults; i++)
		{
			List	   *fields = NIL;

			/*
			 * The body was read into jsonb, so its text converts; the result
			 * may be the malloc'd name itself, freed below.
			 */
			for (j = 0; j < schemas.nfields[i]; j++)
				fields = lappend(fields,
								 pstrdup(pg_any_to_server(schemas.fields[i][j],
														  strlen(schemas.fields[i][j]),
														  PG_UTF8)));
			names = lappend(names, fields);
		}
	}
	PG_FINALLY();
	{
		mx_control_schemas_free(&schemas);
	}
	PG_END_TRY();
	return names;
}

/* ---------- columns ---------- */

static void
notice_field(MxTableDef *def, const char *field, const char *column,
			 const char *why)
{
	if (column == NULL)
		ereport(NOTICE,
				(errmsg("skipping field %s of collection %s",
						shown(field), def->label),
				 errdetail_internal("%s", why)));
	else
		ereport(NOTICE,
				(errmsg("field %s of collection %s is imported as column %s",
						shown(field), def->label, shown(column)),
				 errdetail_internal("%s", why)));
}

/* Why a field cannot be a column at all, or NULL. */
static char *
field_refusal(const char *field)
{
	if (field[0] == '\0')
		return pstrdup("Its name is empty.");
	if (mx_has_control_chars(field))
		return pstrdup("Its name contains control characters.");
	if (strcmp(field, MX_WHOLE_DOCUMENT_COLUMN) == 0)
		return pstrdup("The column \"" MX_WHOLE_DOCUMENT_COLUMN "\" holds the whole document.");
	if (mx_standard_column(field) != NULL)
		return psprintf("The standard column %s reads it.", shown(field));
	return NULL;
}

/* base with the first free "_<n>" suffix, within NAMEDATALEN - 1 bytes */
static char *
free_column_name(MxTableDef *def, const char *base)
{
	int			n;

	for (n = 1;; n++)
	{
		char		suffix[16];
		char	   *name;

		snprintf(suffix, sizeof(suffix), "_%d", n);
		name = psprintf("%s%s",
						clip_name(base, NAMEDATALEN - 1 - strlen(suffix)),
						suffix);
		if (!name_entry(def->names, name)->in_use &&
			SystemAttributeByName(name) == NULL)
			return name;
	}
}

/*
 * The column for a field: its own name when PostgreSQL can take it as it
 * is; otherwise another name, reading the field through the "field"
 * option; NULL to skip it.  Every departure from the field's own name is
 * told in a NOTICE.
 */
static char *
field_column(MxTableDef *def, const char *field, bool *use_option)
{
	char	   *column = clip_name(field, NAMEDATALEN - 1);
	char	   *why = field_refusal(field);
	bool		system;
	bool		taken;

	*use_option = false;
	if (why != NULL)
	{
		notice_field(def, field, NULL, why);
		return NULL;
	}
	system = SystemAttributeByName(column) != NULL;
	taken = name_entry(def->names, column)->in_use;
	if (system)
		why = psprintf("%s is the name of a system column.", shown(column));
	else if (taken)
		why = psprintf("Another field is imported as column %s.", shown(column));
	else if (strcmp(column, field) != 0)
		why = psprintf("A column name has at most %d bytes.", NAMEDATALEN - 1);
	else
		return column;

	/* the "field" option is a dotted path: it cannot name such a key */
	if (strchr(field, '.') != NULL)
	{
		notice_field(def, field, NULL,
					 psprintf("%s Its name contains \".\", so no column of another name can read it.",
							  why));
		return NULL;
	}
	if (system || taken)
		column = free_column_name(def, column);
	notice_field(def, field, column, why);
	*use_option = true;
	return column;
}

/* A field met before in this collection (a key the body repeats)? */
static bool
seen_field(MxTableDef *def, const char *field)
{
	MxNameEntry *entry = name_entry(def->names,
									clip_name(field, NAMEDATALEN - 1));
	ListCell   *lc;

	foreach(lc, entry->fields)
	{
		if (strcmp(lfirst(lc), field) == 0)
			return true;
	}
	entry->fields = lappend(entry->fields, (char *) field);
	return false;
}

/*
 * The fields the API can sort on: those of the collection's payload_indexes
 * whose index orders values (integer, float, datetime).  The vector store
 * behind the API sorts only by such an index; a keyword or text index serves
 * equality and matching, not order, so it is not taken as one.
 */
static List *
sortable_fields(JsonbContainer *collection)
{
	static const char *const range_types[] = {"integer", "float", "datetime"};
	JsonbValue *indexes = mx_json_get(collection, "payload_indexes");
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	List	   *fields = NIL;

	if (indexes == NULL || indexes->type != jbvBinary ||
		!JsonContainerIsArray(indexes->val.binary.data))
		return NIL;
	it = JsonbIteratorInit(indexes->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbContainer *index = tok == WJB_ELEM ? object_of(&v) : NULL;
		const char *name;
		const char *type;

		if (index == NULL)
			continue;
		name = mx_json_string(mx_json_get(index, "field_name"));
		type = mx_json_string(mx_json_get(index, "type"));
		if (name == NULL || type == NULL)
			continue;
		for (int i = 0; i < lengthof(range_types); i++)
		{
			if (strcmp(type, range_types[i]) == 0)
				fields = lappend(fields, makeString(pstrdup(name)));
		}
	}
	return fields;
}

/* A field column's OPTIONS: its field when the name differs, indexed when sortable. */
static void
add_column_options(MxTableDef *def, const char *field, bool use_option)
{
	bool		indexed = list_member(def->sortable, makeString((char *) field));

	if (!use_option && !indexed)
		return;
	appendStringInfoString(&def->sql, " OPTIONS (");
	if (use_option)
		appendStringInfo(&def->sql, "field %s%s", quote_literal_cstr(field),
						 indexed ? ", " : "");
	if (indexed)
		appendStringInfoString(&def->sql, "indexed 'true'");
	appendStringInfoChar(&def->sql, ')');
}

/* Add a field's column; false once the table has all it can have. */
static bool
add_field_column(MxTableDef *def, const char *field)
{
	JsonbContainer *prop;
	char	   *column;
	bool		use_option;

	CHECK_FOR_INTERRUPTS();
	if (seen_field(def, field))
		return true;
	if (def->ncolumns >= MaxHeapAttributeNumber)
	{
		def->first_left_out = field;
		return false;
	}
	def->nfields++;
	column = field_column(def, field, &use_option);
	if (column == NULL)
		return true;
	name_entry(def->names, column)->in_use = true;
	def->ncolumns++;
	prop = object_of(mx_json_get(def->properties, field));
	/* the API sends an embedding only when asked: the option makes a scan ask */
	if (prop != NULL && is_embedding(field, prop))
	{
		appendStringInfo(&def->sql, ",\n  %s real[] OPTIONS (vector %s)",
						 quote_identifier(column), quote_literal_cstr(field));
		return true;
	}
	appendStringInfo(&def->sql, ",\n  %s %s", quote_identifier(column),
					 column_type(prop ? mx_json_string(mx_json_get(prop, "type")) : NULL));
	add_column_options(def, field, use_option);
	return true;
}

/*
 * The output_schema fields as columns: in the API's order, then (should
 * the raw body and the jsonb ever disagree) any key of the jsonb not met
 * yet, so that no field goes missing without a word.
 */
static void
add_field_columns(MxTableDef *def, List *order)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	ListCell   *lc;

	if (def->properties == NULL)
		return;
	foreach(lc, order)
	{
		if (mx_json_get(def->properties, lfirst(lc)) != NULL &&
			!add_field_column(def, lfirst(lc)))
			break;
	}
	it = JsonbIteratorInit(def->properties);
	while (def->first_left_out == NULL &&
		   (tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			add_field_column(def, pnstrdup(v.val.string.val,
										   v.val.string.len));
	}
	/* jsonb counts distinct keys: the rest are the fields left out */
	if (def->first_left_out != NULL)
		ereport(NOTICE,
				(errmsg("skipping %d fields of collection %s",
						JsonContainerSize(def->properties) - def->nfields,
						def->label),
				 errdetail("A table has at most %d columns; the first field left out is %s.",
						   MaxHeapAttributeNumber, shown(def->first_left_out))));
}

static char *
create_table_sql(MxImport *imp, const char *table_name,
				 const char *collection_id, const char *label,
				 JsonbContainer *collection, List *order)
{
	MxTableDef	def = {0};
	const MxStandardColumn *std;

	def.label = label;
	def.properties = object_of(mx_json_get_path(collection,
												"output_schema.properties"));
	def.sortable = sortable_fields(collection);
	def.names = name_table_create("mixpeek import columns");
	initStringInfo(&def.sql);
	appendStringInfo(&def.sql, "CREATE FOREIGN TABLE %s (",
					 quote_identifier(table_name));
	for (std = mx_standard_columns; std->name; std++)
	{
		appendStringInfo(&def.sql, "%s\n  %s %s",
						 std > mx_standard_columns ? "," : "",
						 std->name, std->sql_type);
		name_entry(def.names, std->name)->in_use = true;
		def.ncolumns++;
	}
	add_field_columns(&def, order);
	appendStringInfo(&def.sql, "\n) SERVER %s OPTIONS (collection %s)",
					 quote_identifier(imp->server->servername),
					 quote_literal_cstr(collection_id));
	return def.sql.data;
}

/* ---------- collections ---------- */

/* what is imported: "collection", or "retriever" (IMPORT ... retrievers) */
static const char *import_kind = "collection";

static void
notice_collection(const char *label, const char *why)
{
	ereport(NOTICE,
			(errmsg("skipping %s %s", import_kind, label),
			 errdetail_internal("%s", why)));
}

/*
 * The table name of a collection, or NULL (with a NOTICE) when it cannot
 * be imported.  NULL without a word for one the statement leaves out.
 */
static char *
collection_table(MxImport *imp, const char *id, const char *name,
				 const char *label)
{
	char	   *table;
	MxNameEntry *entry;

	if (id == NULL || id[0] == '\0')
	{
		notice_collection(label, psprintf("It has no %s_id.", import_kind));
		return NULL;
	}
	if (mx_has_control_chars(id))
	{
		notice_collection(label, psprintf("Its %s_id %s contains control characters.",
										  import_kind, shown(id)));
		return NULL;
	}
	table = clip_name(name, NAMEDATALEN - 1);
	if (!wanted(imp->stmt, table))
		return NULL;
	if (mx_has_control_chars(name))
	{
		notice_collection(label, "Its name contains control characters.");
		return NULL;
	}
	entry = name_entry(imp->tables, table);
	if (entry->in_use)
	{
		notice_collection(label, psprintf("Another %s is imported as table %s.",
										  import_kind, shown(table)));
		return NULL;
	}
	entry->in_use = true;
	if (strcmp(table, name) != 0)
		ereport(NOTICE,
				(errmsg("%s %s is imported as table %s",
						import_kind, label, shown(table)),
				 errdetail("A table name has at most %d bytes.",
						   NAMEDATALEN - 1)));
	return table;
}

/*
 * An item of the list (a collection or a retriever, by import_kind): its
 * object, with its id, table name and label for messages; NULL when it is
 * not imported.
 */
static JsonbContainer *
list_item(MxImport *imp, JsonbValue *item, char **id, char **table,
		  char **label)
{
	JsonbContainer *object = object_of(item);
	char	   *name;

	imp->position++;
	if (object == NULL)
	{
		notice_collection(psprintf("%d of the list", imp->position),
						  "It is not a JSON object.");
		return NULL;
	}
	*id = mx_json_string(mx_json_get(object, psprintf("%s_id", import_kind)));
	name = mx_json_string(mx_json_get(object, psprintf("%s_name", import_kind)));
	if (name == NULL || name[0] == '\0')
		name = *id ? *id : "";
	*label = name[0] ? shown(name) : psprintf("%d of the list", imp->position);
	*table = collection_table(imp, *id, name, *label);
	return *table ? object : NULL;
}

/* The statements outlive the page they come from. */
static void
add_command(MxImport *imp, const char *sql)
{
	MemoryContext old = MemoryContextSwitchTo(imp->cxt);

	imp->commands = lappend(imp->commands, pstrdup(sql));
	MemoryContextSwitchTo(old);
}

static void
import_collection(MxImport *imp, JsonbValue *item, List *order)
{
	char	   *id;
	char	   *label;
	char	   *table;
	JsonbContainer *collection = list_item(imp, item, &id, &table, &label);

	if (collection != NULL)
		add_command(imp, create_table_sql(imp, table, id, label, collection,
										  order));
}

/* Import the collections of one page; returns its next cursor, or NULL. */
static char *
import_page(MxImport *imp, MxHttpRequest *req)
{
	Jsonb	   *page = mx_api_object_result(req);
	JsonbValue *results = mx_json_get(&page->root, "results");
	List	   *order;
	int			n;
	int			i;

	if (results == NULL || results->type != jbvBinary ||
		!JsonContainerIsArray(results->val.binary.data))
		mx_api_report_unexpected(req, "\"results\" is not an array.");
	order = schema_field_order(req);
	n = JsonContainerSize(results->val.binary.data);
	for (i = 0; i < n; i++)
	{
		import_collection(imp,
						  getIthJsonbValueFromContainer(results->val.binary.data, i),
						  i < list_length(order) ? list_nth(order, i) : NIL);
		CHECK_FOR_INTERRUPTS();
	}
	return mx_json_string(mx_json_get_path(&page->root,
										   "pagination.next_cursor"));
}

/*
 * Every page's collections stay in memory, as table definitions, until
 * the import ends: so the pages count together against the limit of one
 * response.
 */
static void
check_list_bytes(MxHttpRequest *req, uint64 *bytes)
{
	*bytes += req->response.len;
	if (*bytes > (uint64) mx_max_response_kb * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
				 errmsg("Mixpeek's collection list is larger than mixpeek.max_response_bytes"),
				 errdetail("Its pages count together, since every collection they list is kept until the import ends."),
				 errhint("A superuser can raise mixpeek.max_response_bytes.")));
}

/* Is there a page after this one that we may ask for? */
static bool
follow_cursor(MxHttpRequest *req, const char *next, int page,
			  MxCursorSet *seen)
{
	if (next == NULL)
		return false;
	/* a cursor met before would page forever */
	if (!mx_cursor_set_add(seen, next))
		mx_api_report_unexpected(req, "The next cursor was already followed in this import.");
	if (page >= MX_IMPORT_MAX_PAGES)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("Mixpeek's collection list has more than %d pages",
						MX_IMPORT_MAX_PAGES),
				 errdetail("Each page handed back a new cursor; IMPORT FOREIGN SCHEMA follows at most %d pages.",
						   MX_IMPORT_MAX_PAGES)));
	return true;
}

/*
 * Start an import; returns the context for one page of the list at a time
 * (a page's body and its parse go once the page is imported).
 */
static MemoryContext
import_begin(MxImport *imp, ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	imp->stmt = stmt;
	imp->server = GetForeignServer(serverOid);
	imp->cxt = CurrentMemoryContext;
	imp->tables = name_table_create("mixpeek import tables");
	return AllocSetContextCreate(CurrentMemoryContext, "mixpeek import page",
								 ALLOCSET_DEFAULT_SIZES);
}

/* ---------- retrievers ---------- */

/*
 * A retriever's table: a column per input (input_schema, in key order),
 * given by "=" in queries; rank and score; then the standard columns of
 * the result documents.  An input whose name is taken, too long or has
 * control characters leaves the retriever out: it could not be searched.
 */
static char *
retriever_table_sql(MxImport *imp, const char *table_name, const char *id,
					const char *label, JsonbContainer *retriever)
{
	MxTableDef	def = {0};
	JsonbContainer *inputs = object_of(mx_json_get(retriever, "input_schema"));
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	const MxStandardColumn *std;

	def.names = name_table_create("mixpeek import columns");
	name_entry(def.names, "rank")->in_use = true;
	name_entry(def.names, "score")->in_use = true;
	for (std = mx_standard_columns; std->name; std++)
		name_entry(def.names, std->name)->in_use = true;
	initStringInfo(&def.sql);
	appendStringInfo(&def.sql, "CREATE FOREIGN TABLE %s (",
					 quote_identifier(table_name));
	it = inputs ? JsonbIteratorInit(inputs) : NULL;
	while (it != NULL && (tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *name;
		JsonbContainer *field;
		JsonbValue *required;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(v.val.string.val, v.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		field = object_of(&v);
		if (strlen(name) == 0 || strlen(name) >= NAMEDATALEN ||
			mx_has_control_chars(name) || name_entry(def.names, name)->in_use)
		{
			notice_collection(label, psprintf("Its input %s cannot be a column of its own.",
											  shown(name)));
			return NULL;
		}
		name_entry(def.names, name)->in_use = true;
		required = field ? mx_json_get(field, "required") : NULL;
		appendStringInfo(&def.sql, "\n  %s %s OPTIONS (input %s%s),",
						 quote_identifier(name),
						 column_type(field ? mx_json_string(mx_json_get(field, "type")) : NULL),
						 quote_literal_cstr(name),
						 required && required->type == jbvBool && required->val.boolean
						 ? "" : ", required 'false'");
	}
	appendStringInfoString(&def.sql, "\n  rank integer,\n  score double precision");
	for (std = mx_standard_columns; std->name; std++)
		appendStringInfo(&def.sql, ",\n  %s %s", std->name, std->sql_type);
	appendStringInfo(&def.sql, "\n) SERVER %s OPTIONS (retriever %s)",
					 quote_identifier(imp->server->servername),
					 quote_literal_cstr(id));
	return def.sql.data;
}

static void
import_retriever(MxImport *imp, JsonbValue *item)
{
	char	   *id;
	char	   *label;
	char	   *table;
	JsonbContainer *retriever = list_item(imp, item, &id, &table, &label);
	char	   *sql;

	if (retriever == NULL)
		return;
	sql = retriever_table_sql(imp, table, id, label, retriever);
	if (sql != NULL)
		add_command(imp, sql);
}

/*
 * IMPORT FOREIGN SCHEMA retrievers: a table per retriever of the list.
 * Its reply (ListRetrieversResponse) has no cursor but a total: pages go
 * by offset until the total is reached or a page comes back short.
 */
static List *
import_retrievers(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	MxImport	imp = {0};
	MxTarget   *target = mx_fdw_target(serverOid, GetUserId(), NULL);
	MxBatch    *batch = mx_api_batch(target, 1, NULL);
	MemoryContext page_cxt;
	int			page;
	uint64		bytes = 0;

	import_kind = "retriever";
	page_cxt = import_begin(&imp, stmt, serverOid);
	for (page = 0; page < MX_IMPORT_MAX_PAGES; page++)
	{
		MemoryContext old = MemoryContextSwitchTo(page_cxt);
		MxHttpRequest *req = mx_api_list_retrievers(target, imp.position);
		Jsonb	   *reply;
		JsonbValue *results;
		JsonbValue *total;
		int			n;
		int			i;

		mx_batch_add(batch, req);
		req = mx_batch_next(batch);
		check_list_bytes(req, &bytes);
		reply = mx_api_object_result(req);
		results = mx_json_get(&reply->root, "results");
		if (results == NULL || results->type != jbvBinary ||
			!JsonContainerIsArray(results->val.binary.data))
			mx_api_report_unexpected(req, "\"results\" is not an array.");
		n = JsonContainerSize(results->val.binary.data);
		for (i = 0; i < n; i++)
			import_retriever(&imp,
							 getIthJsonbValueFromContainer(results->val.binary.data, i));
		total = mx_json_get(&reply->root, "total");
		MemoryContextSwitchTo(old);
		MemoryContextReset(page_cxt);
		if (n < MX_IMPORT_PAGE_SIZE ||
			(total != NULL && total->type == jbvNumeric &&
			 imp.position >= DatumGetInt64(DirectFunctionCall1(numeric_int8,
															   NumericGetDatum(total->val.numeric)))))
			break;
		CHECK_FOR_INTERRUPTS();
	}
	if (page >= MX_IMPORT_MAX_PAGES)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("Mixpeek's retriever list has more than %d pages",
						MX_IMPORT_MAX_PAGES)));
	mx_batch_destroy(batch);
	MemoryContextDelete(page_cxt);
	import_kind = "collection";
	return imp.commands;
}

/*
 * mx_import_foreign_schema
 *		The ImportForeignSchema callback: a CREATE FOREIGN TABLE statement
 *		per collection of the server's namespace.
 *
 * The collection list is paged along its cursor, each page in a context of
 * its own, so memory holds the statements and one page at a time.  The
 * remote schema name is not used: a namespace has no schemas.
 */
List *
mx_import_foreign_schema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	MxImport	imp = {0};
	MxTarget   *target;
	MxBatch    *batch;
	MxCursorSet *seen;
	MemoryContext page_cxt;
	char	   *cursor = NULL;
	int			page = 0;
	uint64		bytes = 0;

	import_kind = "collection";
	if (strcmp(stmt->remote_schema, "retrievers") == 0)
		return import_retrievers(stmt, serverOid);
	target = mx_fdw_target(serverOid, GetUserId(), NULL);
	batch = mx_api_batch(target, 1, NULL);
	seen = mx_cursor_set_create();
	page_cxt = import_begin(&imp, stmt, serverOid);
	for (;;)
	{
		MemoryContext old = MemoryContextSwitchTo(page_cxt);
		MxHttpRequest *req = mx_api_list_collections(target, cursor);
		char	   *next;

		mx_batch_add(batch, req);
		req = mx_batch_next(batch);
		check_list_bytes(req, &bytes);
		next = import_page(&imp, req);
		MemoryContextSwitchTo(old);
		if (cursor != NULL)
			pfree(cursor);
		if (!follow_cursor(req, next, ++page, seen))
			break;
		cursor = pstrdup(next);
		MemoryContextReset(page_cxt);
		CHECK_FOR_INTERRUPTS();
	}

	mx_batch_destroy(batch);
	MemoryContextDelete(page_cxt);
	return imp.commands;
}
