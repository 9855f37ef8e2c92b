/*-------------------------------------------------------------------------
 *
 * control.c
 *		Reading the API's error envelopes and the fields of collection
 *		lists with jansson (see control.h).
 *
 * Plain C and malloc: a failed allocation leaves a field NULL rather than
 * raising anything, and nothing here may longjmp.  The error's type and
 * message are kept as the API wrote them; the other strings (the details)
 * keep at most a bounded number of bytes, cut at a character boundary,
 * with control characters shown as spaces, so that the caller can put them
 * in a message as they are (after masking the key).
 *
 *-------------------------------------------------------------------------
 */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "json_depth.h"

/* Length of s cut to at most max bytes, not inside a UTF-8 sequence. */
static size_t
cut_length(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	len = max;
	while (len > 0 && ((unsigned char) s[len] & 0xc0) == 0x80)
		len--;
	return len;
}

/* A bounded copy of s[0..len) with control characters as spaces. */
static char *
bounded_copy(const char *s, size_t len, size_t max)
{
	size_t		n = cut_length(s, len, max);
	char	   *out = malloc(n + 1);
	size_t		i;

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) s[i];

		out[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char) c;
	}
	out[n] = '\0';
	return out;
}

/*
 * A string as it is, else NULL: the error's type and message, shown as
 * the API wrote them (jansson refuses \u0000, so the copy is whole).
 */
static char *
exact_string(json_t *v)
{
	return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

/* A string member as a bounded copy, else NULL. */
static char *
string_of(json_t *v, size_t max)
{
	if (!json_is_string(v))
		return NULL;
	return bounded_copy(json_string_value(v), json_string_length(v), max);
}

/* Any value as text: a string as is, anything else as compact JSON. */
static char *
text_of(json_t *v, size_t max)
{
	char	   *dumped;
	char	   *out;

	if (json_is_string(v))
		return string_of(v, max);
	dumped = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (dumped == NULL)
		return NULL;
	out = bounded_copy(dumped, strlen(dumped), max);
	free(dumped);
	return out;
}

/* FastAPI's loc, ["body", "filters", 0], as body.filters.0 */
static char *
location_of(json_t *loc, size_t max)
{
	char	   *joined;
	char	   *out;
	size_t		used = 0;
	size_t		i;
	json_t	   *part;

	if (!json_is_array(loc))
		return text_of(loc, max);
	/* parts of at most max bytes each are joined until max is passed */
	joined = malloc(2 * (max + 1));
	if (joined == NULL)
		return NULL;
	joined[0] = '\0';
	json_array_foreach(loc, i, part)
	{
		char	   *part_text = text_of(part, max);

		if (part_text == NULL)
			continue;
		used += sprintf(joined + used, "%s%s", used > 0 ? "." : "", part_text);
		free(part_text);
		if (used > max)
			break;
	}
	out = bounded_copy(joined, used, max);
	free(joined);
	return out;
}

/* Keep one details line, "location: message", or count it as left out. */
static void
add_detail(MxControlError *err, const char *location, const char *message)
{
	char		buf[2 * MX_ERROR_DETAIL_BYTES + 3];

	if (err->ndetails >= MX_ERROR_DETAILS_MAX)
	{
		err->more_details++;
		return;
	}
	snprintf(buf, sizeof(buf), "%s%s%s", location ? location : "",
			 location ? ": " : "", message ? message : "(no message)");
	err->details[err->ndetails] = bounded_copy(buf, strlen(buf),
											   MX_ERROR_DETAIL_BYTES);
	if (err->details[err->ndetails] != NULL)
		err->ndetails++;
}

/* A validation error: {"loc"|"field", "msg"|"message", ...} */
static void
add_validation_error(MxControlError *err, json_t *entry)
{
	json_t	   *loc = json_object_get(entry, "loc");
	json_t	   *msg = json_object_get(entry, "msg");
	char	   *location;
	char	   *message;

	if (err->ndetails >= MX_ERROR_DETAILS_MAX)
	{
		err->more_details++;	/* not shown: not read */
		return;
	}
	if (loc == NULL)
		loc = json_object_get(entry, "field");
	if (msg == NULL)
		msg = json_object_get(entry, "message");
	if (!json_is_object(entry))
	{
		message = text_of(entry, MX_ERROR_DETAIL_BYTES);
		add_detail(err, NULL, message);
		free(message);
		return;
	}
	location = loc ? location_of(loc, MX_ERROR_DETAIL_BYTES) : NULL;
	message = msg ? text_of(msg, MX_ERROR_DETAIL_BYTES) : NULL;
	add_detail(err, location, message);
	free(location);
	free(message);
}

static void
add_validation_errors(MxControlError *err, json_t *array)
{
	size_t		i;
	json_t	   *entry;

	json_array_foreach(array, i, entry)
		add_validation_error(err, entry);
}

/* Members of error.details that identify a resource, not a fault. */
static bool
is_resource_member(const char *key)
{
	return strcmp(key, "resource") == 0 || strcmp(key, "id") == 0 ||
		strcmp(key, "document_id") == 0;
}

/* Mixpeek's error.details: validation_errors[], or its members. */
static void
read_details(MxControlError *err, json_t *details)
{
	const char *key;
	json_t	   *value;
	json_t	   *id;

	if (json_is_array(details))
	{
		add_validation_errors(err, details);
		return;
	}
	if (!json_is_object(details))
		return;
	err->resource = string_of(json_object_get(details, "resource"),
							  MX_ERROR_DETAIL_BYTES);
	err->field = string_of(json_object_get(details, "field"),
						   MX_ERROR_DETAIL_BYTES);
	err->operator = string_of(json_object_get(details, "operator"),
							  MX_ERROR_DETAIL_BYTES);
	id = json_object_get(details, "document_id");
	err->has_document_id = (id != NULL && !json_is_null(id));
	json_object_foreach(details, key, value)
	{
		char	   *value_text;

		if (is_resource_member(key))
			continue;
		if (strcmp(key, "validation_errors") == 0 && json_is_array(value))
		{
			add_validation_errors(err, value);
			continue;
		}
		if (err->ndetails >= MX_ERROR_DETAILS_MAX)
		{
			err->more_details++;
			continue;
		}
		value_text = text_of(value, MX_ERROR_DETAIL_BYTES);
		add_detail(err, key, value_text);
		free(value_text);
	}
}

/* The first validation error's msg, with its loc as JSON: "msg (at [...])" */
static char *
first_message(json_t *first)
{
	json_t	   *loc = json_object_get(first, "loc");
	char	   *msg = exact_string(json_object_get(first, "msg"));
	char	   *where;
	char	   *out;
	size_t		size;

	if (msg == NULL || !(json_is_array(loc) || json_is_object(loc)))
		return msg;
	where = json_dumps(loc, JSON_ENCODE_ANY);
	if (where == NULL)
		return msg;
	size = strlen(msg) + strlen(where) + sizeof(" (at )");
	out = malloc(size);
	if (out != NULL)
		snprintf(out, size, "%s (at %s)", msg, where);
	free(where);
	if (out == NULL)
		return msg;
	free(msg);
	return out;
}

/* FastAPI: {"detail": "text"} or {"detail": [validation errors]} */
static void
read_fastapi(MxControlError *err, json_t *detail)
{
	json_t	   *first;

	if (json_is_string(detail))
	{
		err->is_envelope = true;
		err->message = exact_string(detail);
		return;
	}
	if (!json_is_array(detail) || json_array_size(detail) == 0)
		return;
	first = json_array_get(detail, 0);
	if (!json_is_object(first) && !json_is_array(first))
		return;
	err->is_envelope = true;
	if (!json_is_object(first))
		return;
	err->type = exact_string(json_object_get(first, "type"));
	err->message = first_message(first);
	add_validation_errors(err, detail);
}

/*
 * The body as jansson reads it, or NULL.  Nesting deeper than jsonb takes
 * (json.c) is refused here too, and so is a NUL byte (not JSON, which
 * jansson reads past), so that both readers see the same bodies.
 */
static json_t *
load_body(const char *body, size_t len)
{
	json_error_t jerr;

	if (body == NULL || memchr(body, '\0', len) != NULL ||
		mx_json_nesting_depth(body, len, MX_JSON_MAX_DEPTH) > MX_JSON_MAX_DEPTH)
		return NULL;
	return json_loadb(body, len, 0, &jerr);
}

bool
mx_control_read_error(const char *body, size_t len, MxControlError *err)
{
	json_t	   *root;
	json_t	   *error;

	memset(err, 0, sizeof(*err));
	root = load_body(body, len);
	if (root == NULL)
		return false;
	error = json_object_get(root, "error");
	if (json_is_object(error) || json_is_array(error))
	{
		err->is_envelope = true;
		err->is_mixpeek = true;
		err->type = exact_string(json_object_get(error, "type"));
		err->message = exact_string(json_object_get(error, "message"));
		read_details(err, json_object_get(error, "details"));
	}
	else if (json_is_object(root) && json_object_get(root, "detail") != NULL)
		read_fastapi(err, json_object_get(root, "detail"));
	json_decref(root);
	return err->is_envelope;
}

void
mx_control_error_free(MxControlError *err)
{
	int			i;

	free(err->type);
	free(err->message);
	free(err->resource);
	free(err->field);
	free(err->operator);
	for (i = 0; i < err->ndetails; i++)
		free(err->details[i]);
	memset(err, 0, sizeof(*err));
}

/* One collection's field names, in the body's order; false when out of memory. */
static bool
read_schema(json_t *collection, int *nfields, char ***fields)
{
	json_t	   *properties = json_object_get(json_object_get(collection,
															 "output_schema"),
											 "properties");
	const char *key;
	json_t	   *value;
	int			n = 0;

	*nfields = 0;
	*fields = NULL;
	if (!json_is_object(properties) || json_object_size(properties) == 0)
		return true;
	*fields = calloc(json_object_size(properties), sizeof(char *));
	if (*fields == NULL)
		return false;
	json_object_foreach(properties, key, value)
	{
		(*fields)[n] = strdup(key);
		if ((*fields)[n] == NULL)
			break;
		n++;
	}
	*nfields = n;
	return n == (int) json_object_size(properties);
}

bool
mx_control_read_schemas(const char *body, size_t len, MxControlSchemas *out)
{
	json_t	   *root;
	json_t	   *results;
	size_t		i;
	bool		ok = true;

	memset(out, 0, sizeof(*out));
	root = load_body(body, len);
	if (root == NULL)
		return false;
	results = json_object_get(root, "results");
	if (!json_is_array(results) || json_array_size(results) > (size_t) INT_MAX)
	{
		json_decref(root);
		return false;
	}
	out->nfields = calloc(json_array_size(results) + 1, sizeof(int));
	out->fields = calloc(json_array_size(results) + 1, sizeof(char **));
	if (out->nfields == NULL || out->fields == NULL)
		ok = false;
	for (i = 0; ok && i < json_array_size(results); i++)
	{
		out->nresults++;
		ok = read_schema(json_array_get(results, i), &out->nfields[i],
						 &out->fields[i]);
	}
	json_decref(root);
	if (!ok)
		mx_control_schemas_free(out);
	return ok;
}

void
mx_control_schemas_free(MxControlSchemas *out)
{
	int			i;
	int			j;

	for (i = 0; i < out->nresults; i++)
	{
		for (j = 0; out->fields[i] != NULL && j < out->nfields[i]; j++)
			free(out->fields[i][j]);
		if (out->fields[i] != NULL)
			free(out->fields[i]);
	}
	free(out->nfields);
	free(out->fields);
	memset(out, 0, sizeof(*out));
}
