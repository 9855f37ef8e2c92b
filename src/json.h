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

/*
 * An aggregate answer read without building jsonb: the members of its
 * objects that matter, in one pool.  An object is a run of members (n -1:
 * absent or not an object); a value is a scalar, or jbvBinary for a nested
 * one (val.binary.data NULL on the fast read), which no reader accepts.
 */
typedef struct MxJsonMember
{
	const char *key;
	int			keylen;
	JsonbValue	value;
} MxJsonMember;

typedef struct MxJsonObject
{
	int			n;
	int			first;			/* in the pool, while it may still move */
	MxJsonMember *members;
} MxJsonObject;

typedef struct MxAggResult
{
	bool		object;			/* the result is an object */
	MxJsonObject group;
	MxJsonObject metrics;
} MxAggResult;

#define MX_AGG_RESULTS_ABSENT (-2)	/* "results" absent, null or a scalar */
#define MX_AGG_RESULTS_NOT_ARRAY (-1)

typedef struct MxJsonPool
{
	MxJsonMember *members;
	int			n;
	int			room;
} MxJsonPool;

typedef struct MxAggAnswer
{
	MxJsonObject top;			/* the body's members ("total_groups", ...) */
	int			nresults;		/* or MX_AGG_RESULTS_* */
	MxAggResult *results;
	MxJsonPool	top_pool;
	MxJsonPool	pool;			/* the results' members */
} MxAggAnswer;

/*
 * Read an aggregate answer in one pass over its text, where it has the
 * usual shape: valid UTF-8 in a UTF-8 database, an object whose "results"
 * (once) is an array of objects with only "group" and "metrics", objects
 * of scalars (strings without escapes, numbers of at most
 * MX_JSON_FAST_NUMBER_LEN characters); the body's other members valid
 * JSON.  False, with answer empty, for anything else:
 * mx_json_aggregate_whole then reads the parsed body, which reports what
 * is wrong with it.  The strings point into a copy of the text in a child
 * of CurrentMemoryContext.  One difference: an answer too large for jsonb
 * (its 256 MB, some 3 million groups) is read here, where the whole parse
 * fails.
 */
extern bool mx_json_read_aggregate(const char *data, size_t len,
								   MxAggAnswer *answer);

/* The same from a body parsed whole (an object). */
extern void mx_json_aggregate_whole(Jsonb *body, MxAggAnswer *answer);

/* The value of key in obj (its last, as jsonb keeps), or NULL. */
extern JsonbValue *mx_json_member(MxJsonObject *obj, const char *key);

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
