/*-------------------------------------------------------------------------
 *
 * json.h
 *		Response bodies to jsonb, and small lookups inside jsonb values.
 *
 * Bodies are parsed by PostgreSQL's own jsonb input so that numbers keep
 * every digit.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_JSON_H
#define MIXPEEK_JSON_H

#include "utils/jsonb.h"

/*
 * Parse a response body.  Returns NULL (and sets *why) when the body is
 * not valid UTF-8 JSON that jsonb can hold; never raises for bad input.
 */
extern Jsonb *mx_json_parse(const char *data, size_t len, char **why);

/*
 * A page of a document list: its "results" elements and "pagination".
 * Split from the text, each document stays text until it is wanted
 * (doc_text, doc_len); a body of an unusual shape is parsed whole instead
 * (results).  pagination is NULL when absent.
 */
typedef struct MxListPage
{
	int			nresults;
	const char **doc_text;
	int		   *doc_len;
	JsonbContainer *results;
	JsonbValue *pagination;
} MxListPage;

/*
 * Split a list page's body without parsing its documents: true when the
 * body is valid UTF-8 without NUL, nests within MX_JSON_MAX_DEPTH, and is
 * an object whose members other than the documents are valid JSON, with
 * "results" an array or null and neither it nor "pagination" twice.
 * False, with page left empty, when the body is to be parsed whole, which
 * reports what is wrong with it.
 */
extern bool mx_json_split_list_page(const char *data, size_t len,
									MxListPage *page);

/*
 * Parse one element that mx_json_split_list_page found (the body's
 * encoding and depth are checked already).  NULL (and *why) when it is not
 * JSON that jsonb can hold.
 */
extern Jsonb *mx_json_parse_element(const char *text, int len, char **why);

/* Value of key in an object container, or NULL. */
extern JsonbValue *mx_json_get(JsonbContainer *container, const char *key);

/*
 * Follow a dotted path ("a.b.c") through nested objects; NULL when any
 * step is missing or not an object.
 */
extern JsonbValue *mx_json_get_path(JsonbContainer *container,
									const char *dotted_path);

/* Same with the path already split. */
extern JsonbValue *mx_json_get_keys(JsonbContainer *container,
									char **keys, int nkeys);

/* A string value as a palloc'd C string, or NULL if not a string. */
extern char *mx_json_string(JsonbValue *v);

#endif							/* MIXPEEK_JSON_H */
