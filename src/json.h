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
