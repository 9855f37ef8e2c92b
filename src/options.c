/*-------------------------------------------------------------------------
 *
 * options.c
 *		mixpeek_fdw option validation, and what the options of a foreign
 *		table mean: its collection and where each column's value lives.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_type.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "analyze.h"
#include "columns.h"
#include "compat.h"
#include "mixpeek_fdw.h"
#include "settings.h"

typedef struct MxOption
{
	const char *name;
	Oid			context;		/* catalog the option belongs to */
} MxOption;

static const MxOption valid_options[] = {
	{"base_url", ForeignServerRelationId},
	{"namespace", ForeignServerRelationId},
	{"api_key", UserMappingRelationId},
	{"collection", ForeignTableRelationId},
	{"retriever", ForeignTableRelationId},
	{"namespace", ForeignTableRelationId},
	{"page_size", ForeignTableRelationId},
	{"updatable", ForeignServerRelationId},
	{"updatable", ForeignTableRelationId},
	{"batch_size", ForeignServerRelationId},
	{"batch_size", ForeignTableRelationId},
	{"rows", ForeignTableRelationId},
	{"use_remote_estimate", ForeignServerRelationId},
	{"use_remote_estimate", ForeignTableRelationId},
	{"field", AttributeRelationId},
	{"vector", AttributeRelationId},
	{"input", AttributeRelationId},
	{"required", AttributeRelationId},
	{"indexed", AttributeRelationId},
	{NULL, InvalidOid}
};

/* The value is shown, except a key's. */
mx_noreturn static void
invalid_value(DefElem *def, const char *detail)
{
	if (strcmp(def->defname, "api_key") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"api_key\""),
				 errdetail("%s", detail)));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"%s\": \"%s\"",
					def->defname, defGetString(def)),
			 errdetail("%s", detail)));
}

static void
check_value(DefElem *def, const char *problem)
{
	if (problem != NULL)
		invalid_value(def, problem);
}

/*
 * A host outside the allow-list only by a superuser: anyone else could make
 * the backend send requests to, and show the replies of, internal services.
 * The current user is the server's owner, or a superuser acting for it.
 */
static void
check_base_url(DefElem *def)
{
	const char *url = defGetString(def);

	check_value(def, mx_base_url_problem(url));
	if (!superuser() && !mx_host_allowed(url))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to point a foreign server at \"%s\"", url),
				 errdetail("Only superusers may use a host that is neither the host of mixpeek.base_url nor in mixpeek.allowed_hosts."),
				 errhint("A superuser can add the host to mixpeek.allowed_hosts.")));
}

/* Decimal digits only, 1 to max; 0 when the value is not that. */
static int
parse_count(const char *value, int max)
{
	int			n = 0;
	const char *p;

	for (p = value; *p >= '0' && *p <= '9' && n <= max; p++)
		n = n * 10 + (*p - '0');
	if (p == value || *p != '\0' || n < 1 || n > max)
		return 0;
	return n;
}

/*
 * The one reading of a page_size option, for the validator and the scan:
 * digits only, 1 to MX_PAGE_SIZE_MAX; 0 when the value is not that.
 */
int
mx_parse_page_size(const char *value)
{
	return parse_count(value, MX_PAGE_SIZE_MAX);
}

static const char page_size_rule[] =
"The page size must be an integer between 1 and " CppAsString2(MX_PAGE_SIZE_MAX) ", written in decimal digits.";

static void
check_page_size(DefElem *def)
{
	if (mx_parse_page_size(defGetString(def)) == 0)
		invalid_value(def, page_size_rule);
}

/*
 * The one reading of a batch_size option: digits only, 1 to
 * MX_WRITE_BATCH_MAX (the API's limit per batch request); 0 when the value
 * is not that.
 */
int
mx_parse_batch_size(const char *value)
{
	return parse_count(value, MX_WRITE_BATCH_MAX);
}

static void
check_batch_size(DefElem *def)
{
	if (mx_parse_batch_size(defGetString(def)) == 0)
		invalid_value(def, "The batch size must be an integer between 1 and "
					  CppAsString2(MX_WRITE_BATCH_MAX) ", written in decimal digits.");
}

static void
check_boolean(DefElem *def)
{
	bool		b;

	if (!parse_bool(defGetString(def), &b))
		invalid_value(def, "The value must be a Boolean: true or false.");
}

static void
check_field(DefElem *def)
{
	const char *path = defGetString(def);
	size_t		len = strlen(path);

	if (len == 0 || path[0] == '.' || path[len - 1] == '.' ||
		strstr(path, "..") != NULL)
		invalid_value(def, "A field is a dotted path of non-empty keys, such as \"metadata.title\".");
	if (mx_has_control_chars(path))
		invalid_value(def, "A field must not contain control characters.");
}

/* Values that end up in HTTP headers or paths: no empty strings, no CR/LF. */
static void
check_plain_string(DefElem *def)
{
	const char *value = defGetString(def);

	if (value[0] == '\0')
		invalid_value(def, "The value must not be empty.");
	if (mx_has_control_chars(value))
		invalid_value(def, "The value must not contain control characters.");
}

mx_noreturn static void
report_invalid_option(DefElem *def, Oid context)
{
	StringInfoData buf;
	const MxOption *opt;

	if (strcmp(def->defname, "api_key") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("option \"api_key\" is only allowed in a user mapping"),
				 errhint("Store the key with CREATE USER MAPPING FOR role SERVER server OPTIONS (api_key '...'); "
						 "user mapping options are hidden from other roles.")));

	initStringInfo(&buf);
	for (opt = valid_options; opt->name; opt++)
	{
		if (opt->context == context)
			appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", opt->name);
	}
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
			 errmsg("invalid option \"%s\"", def->defname),
			 buf.len > 0
			 ? errhint("Valid options in this context are: %s.", buf.data)
			 : errhint("There are no valid options in this context.")));
}

static bool
is_valid_option(const char *name, Oid context)
{
	const MxOption *opt;

	for (opt = valid_options; opt->name; opt++)
	{
		if (opt->context == context && strcmp(opt->name, name) == 0)
			return true;
	}
	return false;
}

static void
check_option_value(DefElem *def)
{
	if (strcmp(def->defname, "base_url") == 0)
		check_base_url(def);
	else if (strcmp(def->defname, "page_size") == 0)
		check_page_size(def);
	else if (strcmp(def->defname, "field") == 0)
		check_field(def);
	else if (strcmp(def->defname, "batch_size") == 0)
		check_batch_size(def);
	else if (strcmp(def->defname, "rows") == 0)
		check_value(def, mx_rows_problem(defGetString(def)));
	else if (strcmp(def->defname, "updatable") == 0 ||
			 strcmp(def->defname, "required") == 0 ||
			 strcmp(def->defname, "indexed") == 0 ||
			 strcmp(def->defname, "use_remote_estimate") == 0)
		check_boolean(def);
	else
	{
		check_plain_string(def);
		if (strcmp(def->defname, "api_key") == 0)
			check_value(def, mx_api_key_problem(defGetString(def)));
		else if (strcmp(def->defname, "namespace") == 0)
			check_value(def, mx_namespace_problem(defGetString(def)));
	}
}

PG_FUNCTION_INFO_V1(mixpeek_fdw_validator);

/*
 * Called with the complete option list of an object on CREATE and ALTER,
 * so a missing "collection" is caught here as well.
 */
Datum
mixpeek_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			context = PG_GETARG_OID(1);
	bool		have_collection = false;
	bool		have_retriever = false;
	DefElem    *field = NULL;
	DefElem    *vector = NULL;
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (!is_valid_option(def->defname, context))
			report_invalid_option(def, context);
		check_option_value(def);
		if (strcmp(def->defname, "collection") == 0)
			have_collection = true;
		else if (strcmp(def->defname, "retriever") == 0)
			have_retriever = true;
		else if (strcmp(def->defname, "field") == 0)
			field = def;
		else if (strcmp(def->defname, "vector") == 0)
			vector = def;
	}

	/* each names where the column reads its value: one place only */
	if (field != NULL && vector != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("options \"field\" and \"vector\" cannot be used together"),
				 errdetail("A column with option \"vector\" reads the embedding of that name."),
				 errhint("Keep \"vector\" for an embedding, which the scan asks Mixpeek to send, or \"field\" for any other value.")));

	if (have_collection && have_retriever)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("options \"collection\" and \"retriever\" cannot be used together"),
				 errhint("A foreign table reads either a collection or a retriever's results.")));
	if (context == ForeignTableRelationId && !have_collection && !have_retriever)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("option \"collection\" is required for a mixpeek_fdw foreign table"),
				 errhint("Add OPTIONS (collection 'col_...') with the collection's id or name.")));

	PG_RETURN_VOID();
}

/* Value of an option in a DefElem list, or NULL. */
char *
mx_fdw_option(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, name) == 0)
			return defGetString(def);
	}
	return NULL;
}

static void
set_location(MxLocation *loc, const char *path, bool dotted)
{
	loc->dotted = pstrdup(path);
	loc->remote_ok = true;
	if (!dotted)
	{
		/* a column name is one key, even if it contains dots */
		loc->nkeys = 1;
		loc->keys = palloc(sizeof(char *));
		loc->keys[0] = loc->dotted;
		loc->remote_ok = (strchr(path, '.') == NULL);
		return;
	}
	{
		char	   *copy = pstrdup(path);
		char	   *key;
		char	   *save = NULL;

		loc->nkeys = 0;
		loc->keys = palloc(sizeof(char *) * (strlen(path) + 1));
		for (key = strtok_r(copy, ".", &save); key; key = strtok_r(NULL, ".", &save))
		{
			/*
			 * Past the root, a key of digits may name an array's element to
			 * the API, which the column does not read: such a path is read
			 * from whole documents and nothing is sent about it.
			 */
			if (loc->nkeys > 0 && strspn(key, "0123456789") == strlen(key))
				loc->remote_ok = false;
			loc->keys[loc->nkeys++] = key;
		}
	}
}

/*
 * The presigned URLs of a current document are on its blobs, at the root
 * or under _internal: read after the flat shape's own fields.
 */
static void
add_blob_locations(MxColumn *col, MxBlobUrls how)
{
	int			i;

	for (i = 0; i < lengthof(mx_blob_locations); i++)
	{
		MxLocation *loc = &col->locations[col->nlocations++];

		set_location(loc, mx_blob_locations[i], true);
		loc->blob_urls = how;
	}
}

/*
 * Where a column reads its value: its "vector" option (an embedding,
 * which the API sends at the root under the feature's name when asked to
 * return vectors), its "field" option, a standard column's locations, or
 * the root key of its own name.
 */
static void
set_column_source(MxColumn *col, const char *field, const char *vector)
{
	const MxStandardColumn *std;

	if (vector != NULL)
	{
		col->nlocations = 1;
		set_location(&col->locations[0], vector, false);
		col->needs_vectors = true;
		return;
	}
	if (field != NULL)
	{
		col->nlocations = 1;
		set_location(&col->locations[0], field, true);
		/* a field that names a standard location needs what it needs */
		std = mx_standard_location(field);
		if (std != NULL)
		{
			col->needs_vectors = std->needs_vectors;
			col->needs_url = std->needs_url;
		}
		return;
	}

	std = mx_standard_column(col->name);
	if (std != NULL && std->flat == NULL &&
		(col->typid == JSONBOID || col->typid == JSONOID))
	{
		col->whole_document = true;
		return;
	}

	/* any other column reads the key of its own name */
	if (std == NULL || std->flat == NULL)
	{
		col->nlocations = 1;
		set_location(&col->locations[0], col->name, false);
		return;
	}
	col->nlocations = 0;
	set_location(&col->locations[col->nlocations++], std->flat, true);
	if (std->nested)
		set_location(&col->locations[col->nlocations++], std->nested, true);
	if (std->blob_urls != MX_BLOB_URLS_NONE)
		add_blob_locations(col, std->blob_urls);
	col->needs_vectors = std->needs_vectors;
	col->needs_url = std->needs_url;
}

/*
 * In a retriever table, a column with an "input" option gives that input
 * (required unless "required 'false'"), and a column named "rank" without
 * a "field" option holds the result's position; any other column reads
 * the result document, as in a collection table ("score" is the field of
 * that name the API sets on each result).
 */
static void
set_retriever_column(MxColumn *col, List *options)
{
	ListCell   *lc;

	col->input = mx_fdw_option(options, "input");
	col->input_required = (col->input != NULL);
	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (col->input != NULL && strcmp(def->defname, "required") == 0)
			col->input_required = defGetBoolean(def);
	}
	col->is_rank = (col->input == NULL &&
					mx_fdw_option(options, "field") == NULL &&
					strcmp(col->name, "rank") == 0);
}

/*
 * Everything the planner and executor need to know about a foreign table,
 * read from the catalogs.
 */
/* The column option "indexed": the API can sort on the field. */
static bool
column_indexed(List *options)
{
	char	   *value = mx_fdw_option(options, "indexed");
	bool		indexed;

	return value != NULL && parse_bool(value, &indexed) && indexed;
}

MxRelation *
mx_fdw_relation(Oid relid, TupleDesc tupdesc)
{
	ForeignTable *table = GetForeignTable(relid);
	MxRelation *rel = palloc0(sizeof(MxRelation));
	char	   *page_size;
	int			i;

	rel->relid = relid;
	rel->serverid = table->serverid;
	rel->collection = mx_fdw_option(table->options, "collection");
	rel->retriever = mx_fdw_option(table->options, "retriever");
	rel->namespace = mx_fdw_option(table->options, "namespace");
	page_size = mx_fdw_option(table->options, "page_size");
	if (page_size != NULL)
	{
		rel->page_size = mx_parse_page_size(page_size);
		/* stored by an older version that read it differently */
		if (rel->page_size == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for option \"page_size\" of foreign table \"%s\": \"%s\"",
							get_rel_name(relid), page_size),
					 errdetail("%s", page_size_rule)));
	}
	if (rel->collection == NULL && rel->retriever == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("foreign table \"%s\" has no \"collection\" option",
						get_rel_name(relid))));

	rel->natts = tupdesc->natts;
	rel->columns = palloc0(sizeof(MxColumn) * tupdesc->natts);
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		MxColumn   *col = &rel->columns[i];
		List	   *options;

		if (att->attisdropped)
			continue;
		col->attnum = att->attnum;
		col->name = pstrdup(NameStr(att->attname));
		col->typid = att->atttypid;
		col->typmod = att->atttypmod;
		col->collid = att->attcollation;
		options = GetForeignColumnOptions(relid, att->attnum);
		set_column_source(col, mx_fdw_option(options, "field"),
						  mx_fdw_option(options, "vector"));
		col->indexed = column_indexed(options);
		if (rel->retriever != NULL)
			set_retriever_column(col, options);
	}
	return rel;
}
