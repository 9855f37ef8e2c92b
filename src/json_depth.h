/*-------------------------------------------------------------------------
 *
 * json_depth.h
 *		How deeply a JSON text nests, in plain C.
 *
 * No PostgreSQL here, so that test/fuzz/ can exercise it on its own;
 * json.c uses it before handing a body to jsonb_in.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_JSON_DEPTH_H
#define MIXPEEK_JSON_DEPTH_H

#include <stddef.h>

/*
 * Deepest nesting of arrays and objects in data[0..len), brackets inside
 * strings not counted.  Stops as soon as the depth passes limit and then
 * returns limit + 1.  For any input, no JSON parser reading it from the
 * start can nest deeper than this before it finds an error.
 */
extern int	mx_json_nesting_depth(const char *data, size_t len, int limit);

#endif							/* MIXPEEK_JSON_DEPTH_H */
