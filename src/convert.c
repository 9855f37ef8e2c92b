/*-------------------------------------------------------------------------
 *
 * convert.c
 *		Documents (jsonb) to the columns of a mixpeek_fdw row.
 *
 * Scalars go through the column type's input function, so every type that
 * can be written as text works, domains and enums included; JSON arrays
 * fill array columns element by element; json/jsonb columns take any value
 * as JSON.  A value that does not convert is reported with the column, the
 * document id and the value, keeping the input function's SQLSTATE.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/sysattr.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "columns.h"
#include "compat.h"
#include "json.h"
#include "mixpeek_fdw.h"
#include "mixpeek_limits.h"

/* How a column's value is made. */
typedef enum MxConvKind
{
	MX_CONV_JSONB,				/* jsonb: the value itself */
	MX_CONV_JSON_TEXT,			/* json or a domain over json(b): JSON text */
	MX_CONV_TEXT,				/* text: strings as is, others as JSON */
	MX_CONV_ARRAY,				/* array type: element by element */
	MX_CONV_SCALAR				/* anything else: the input function */
} MxConvKind;

typedef struct MxTypeInput
{
	Oid			typid;
	int32		typmod;
	FmgrInfo	input;
	Oid			ioparam;
} MxTypeInput;

typedef struct MxColumnConverter
{
	MxColumn   *col;
	MxConvKind	kind;
	MxTypeInput type;
	/* for arrays */
	MxTypeInput elem;
	int16		elemlen;
	bool		elembyval;
	char		elemalign;
	void	   *domain_extra;	/* domain over an array type */
} MxColumnConverter;

struct MxConverter
{
	MxRelation *rel;
	char	   *relname;		/* for the error context */
	MxColumnConverter *columns;

	/* where mx_convert_document() is, for the error context */
	MxColumn   *col;
	JsonbContainer *document;
};

static void
init_type_input(MxTypeInput *ti, Oid typid, int32 typmod)
{
	Oid			func;

	ti->typid = typid;
	ti->typmod = typmod;
	getTypeInputInfo(typid, &func, &ti->ioparam);
	fmgr_info(func, &ti->input);
}

static void
init_column(MxColumnConverter *cc, MxColumn *col)
{
	Oid			base = getBaseType(col->typid);
	Oid			elemtype = get_element_type(base);

	cc->col = col;
	init_type_input(&cc->type, col->typid, col->typmod);
	if (col->typid == JSONBOID)
		cc->kind = MX_CONV_JSONB;
	else if (base == JSONBOID || base == JSONOID)
		cc->kind = MX_CONV_JSON_TEXT;
	else if (col->typid == TEXTOID)
		cc->kind = MX_CONV_TEXT;
	else if (OidIsValid(elemtype))
	{
		cc->kind = MX_CONV_ARRAY;
		/* element typmod: the column's, as array_in passes it */
		init_type_input(&cc->elem, elemtype, col->typmod);
		get_typlenbyvalalign(elemtype, &cc->elemlen, &cc->elembyval,
							 &cc->elemalign);
	}
	else
		cc->kind = MX_CONV_SCALAR;
}

MxConverter *
mx_converter_create(MxRelation *rel)
{
	MxConverter *conv = palloc0(sizeof(MxConverter));
	int			i;

	conv->rel = rel;
	conv->relname = get_rel_name(rel->relid);
	conv->columns = palloc0(sizeof(MxColumnConverter) * rel->natts);
	for (i = 0; i < rel->natts; i++)
	{
		if (rel->columns[i].name != NULL)
			init_column(&conv->columns[i], &rel->columns[i]);
	}
	return conv;
}

/*
 * The presigned URLs on an array of document blobs: the first, or all of
 * them as a JSON array; NULL when no blob has one (the API adds them only
 * when asked to return URLs).
 */
static JsonbValue *
blob_urls_value(JsonbValue *blobs, MxBlobUrls how)
{
	JsonbParseState *state = NULL;
	JsonbValue *result = NULL;
	int			found = 0;
	int			n;
	int			i;

	if (blobs->type != jbvBinary || !JsonContainerIsArray(blobs->val.binary.data))
		return NULL;
	n = JsonContainerSize(blobs->val.binary.data);
	for (i = 0; i < n; i++)
	{
		JsonbValue *blob = getIthJsonbValueFromContainer(blobs->val.binary.data, i);
		JsonbValue *url;

		if (blob->type != jbvBinary || !JsonContainerIsObject(blob->val.binary.data))
			continue;
		url = mx_json_get(blob->val.binary.data, "presigned_url");
		if (url == NULL || url->type != jbvString)
			continue;
		if (how == MX_BLOB_URL_FIRST)
			return url;
		if (found++ == 0)
			pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		pushJsonbValue(&state, WJB_ELEM, url);
	}
	if (found > 0)
	{
		Jsonb	   *array = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_ARRAY, NULL));

		result = palloc(sizeof(JsonbValue));
		result->type = jbvBinary;
		result->val.binary.data = &array->root;
		result->val.binary.len = VARSIZE(array) - VARHDRSZ;
	}
	return result;
}

/* The first non-null location of a column, or NULL. */
static JsonbValue *
column_value(MxColumn *col, JsonbContainer *document)
{
	int			i;

	for (i = 0; i < col->nlocations; i++)
	{
		MxLocation *loc = &col->locations[i];
		JsonbValue *v = mx_json_get_keys(document, loc->keys, loc->nkeys);

		if (v != NULL && loc->blob_urls != MX_BLOB_URLS_NONE)
			v = blob_urls_value(v, loc->blob_urls);
		if (v != NULL && v->type != jbvNull)
			return v;
	}
	return NULL;
}

/* A JSON value as JSON text. */
static char *
json_text(JsonbValue *v)
{
	Jsonb	   *jb = JsonbValueToJsonb(v);

	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

/* A JSON value as the text handed to an input function. */
static char *
scalar_text(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			return json_text(v);
	}
}

static char *
shown_value(const char *text)
{
	if (strlen(text) <= MX_SHOWN_VALUE_LEN)
		return pstrdup(text);
	return psprintf("%.*s...", pg_mbcliplen(text, strlen(text), MX_SHOWN_VALUE_LEN),
					text);
}

/*
 * The error context of a conversion, as postgres_fdw gives it: the column
 * and table, and the document the value comes from.  No catalog lookup:
 * the transaction may be failing already.
 */
static void
conversion_error_callback(void *arg)
{
	MxConverter *conv = arg;
	char	   *id;

	if (conv->col == NULL)
		return;
	id = mx_json_string(mx_json_get(conv->document, MX_DOCUMENT_ID_FIELD));
	if (id != NULL)
		errcontext("column \"%s\" of foreign table \"%s\", document \"%s\"",
				   conv->col->name, conv->relname, id);
	else
		errcontext("column \"%s\" of foreign table \"%s\", document without \"%s\"",
				   conv->col->name, conv->relname, MX_DOCUMENT_ID_FIELD);
}

/*
 * The ERROR for a value that its column's input function refused: the
 * value, cut short, with the input function's SQLSTATE and its message as
 * the detail; the context says where the value comes from.
 */
mx_noreturn static void
report_input_error(MxTypeInput *ti, char *text, ErrorData *edata)
{
	ereport(ERROR,
			(errcode(edata->sqlerrcode),
			 errmsg("cannot convert value \"%s\" to type %s",
					shown_value(text), format_type_be(ti->typid)),
			 errdetail("%c%s.", pg_toupper((unsigned char) edata->message[0]),
					   edata->message + 1)));
}

#ifdef MX_SOFT_INPUT_ERRORS

/*
 * Call an input function; bad input comes back as a soft error, which
 * costs nothing when the value is good (every value of a scan passes
 * here).  An input function that cannot report softly raises its own
 * ERROR, as it would for COPY.
 */
static Datum
input_value(MxTypeInput *ti, char *text)
{
	ErrorSaveContext escontext = {T_ErrorSaveContext};
	Datum		result;

	escontext.details_wanted = true;
	if (!InputFunctionCallSafe(&ti->input, text, ti->ioparam, ti->typmod,
							   (Node *) &escontext, &result))
		report_input_error(ti, text, escontext.error_data);
	return result;
}

#else

/*
 * Call an input function; before PostgreSQL 16 bad input is an ERROR,
 * caught here to say where it comes from.  A cancel passes through.
 */
static Datum
input_value(MxTypeInput *ti, char *text)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	Datum		result = (Datum) 0;

	PG_TRY();
	{
		result = InputFunctionCall(&ti->input, text, ti->ioparam, ti->typmod);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			PG_RE_THROW();
		FlushErrorState();
		report_input_error(ti, text, edata);
	}
	PG_END_TRY();
	return result;
}

#endif							/* MX_SOFT_INPUT_ERRORS */

static Datum
convert_array(MxColumnConverter *cc, JsonbValue *v)
{
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	int			n = 0;
	int			size = JsonContainerSize(v->val.binary.data);
	Datum	   *elems = palloc(sizeof(Datum) * Max(size, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(size, 1));
	int			dims[1];
	int			lbs[1] = {1};
	Datum		result;

	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		nulls[n] = (elem.type == jbvNull);
		elems[n] = nulls[n] ? (Datum) 0
			: input_value(&cc->elem, scalar_text(&elem));
		n++;
	}
	dims[0] = n;
	result = PointerGetDatum(construct_md_array(elems, nulls, n > 0 ? 1 : 0,
												dims, lbs, cc->elem.typid,
												cc->elemlen, cc->elembyval,
												cc->elemalign));
	if (cc->type.typid != getBaseType(cc->type.typid))
		domain_check(result, false, cc->type.typid, &cc->domain_extra,
					 CurrentMemoryContext);
	return result;
}

static bool
is_json_array(JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data) &&
		!JsonContainerIsScalar(v->val.binary.data);
}

static Datum
convert_value(MxColumnConverter *cc, JsonbValue *v)
{
	switch (cc->kind)
	{
		case MX_CONV_JSONB:
			return JsonbPGetDatum(JsonbValueToJsonb(v));
		case MX_CONV_JSON_TEXT:
			return input_value(&cc->type, json_text(v));
		case MX_CONV_TEXT:
			return PointerGetDatum(cstring_to_text(scalar_text(v)));
		case MX_CONV_ARRAY:
			if (is_json_array(v))
				return convert_array(cc, v);
			/* a scalar may still be an array literal such as "{1,2}" */
			return input_value(&cc->type, scalar_text(v));
		case MX_CONV_SCALAR:
			break;
	}
	return input_value(&cc->type, scalar_text(v));
}


/* The columns of one document, in attribute order. */
static void
convert_columns(MxConverter *conv, JsonbValue *document,
				Bitmapset *attrs_used, Datum *values, bool *isnull)
{
	MxRelation *rel = conv->rel;
	bool		all = bms_is_member(0 - FirstLowInvalidHeapAttributeNumber,
									attrs_used);
	int			i;

	for (i = 0; i < rel->natts; i++)
	{
		MxColumnConverter *cc = &conv->columns[i];
		JsonbValue *v;

		conv->col = cc->col;
		isnull[i] = true;
		values[i] = (Datum) 0;
		if (cc->col == NULL ||
			(!all && !bms_is_member(i + 1 - FirstLowInvalidHeapAttributeNumber,
									attrs_used)))
			continue;
		if (cc->col->whole_document)
		{
			values[i] = convert_value(cc, document);
			isnull[i] = false;
			continue;
		}
		v = column_value(cc->col, document->val.binary.data);
		if (v == NULL)
			continue;
		values[i] = convert_value(cc, v);
		isnull[i] = false;
	}
}

/*
 * Fill values/isnull for one document (a jbvBinary object).  Columns not
 * in attrs_used (offsets by FirstLowInvalidHeapAttributeNumber, as
 * pull_varattnos makes them) are left NULL; a whole-row reference uses
 * them all.  An error names the column and the document in its context.
 */
void
mx_convert_document(MxConverter *conv, JsonbValue *document,
					Bitmapset *attrs_used,
					Datum *values, bool *isnull)
{
	ErrorContextCallback errcb;

	errcb.callback = conversion_error_callback;
	errcb.arg = conv;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	conv->document = document->val.binary.data;
	convert_columns(conv, document, attrs_used, values, isnull);
	conv->col = NULL;
	error_context_stack = errcb.previous;
}
