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
 * A list page is not parsed whole: one pass over its bytes (the same
 * checks, and the members other than the documents parsed) finds where
 * each document's text starts and ends, and each document is parsed alone
 * when it is read.  Parsing a large page into one jsonb first costs more
 * per byte than its documents do one by one, and it would hold up the
 * request for the next page.
 *
 * An aggregate answer is read in one pass too, without building jsonb:
 * only its scalars are wanted, and building a jsonb of a 100,000-group
 * answer (to look up two members of each group) costs several times the
 * scan.  Strings with escapes, numbers with exponents and any unusual
 * shape go to the whole parse, which judges them as it always did.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "json.h"
#include "json_depth.h"
#include "mixpeek_limits.h"

/*
 * jsonb_in on UTF-8 text already checked for encoding and depth, its data
 * errors returned as *why.
 */
static Jsonb *
parse_checked(const char *data, size_t len, char **why)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *volatile text = NULL;
	Jsonb	   *volatile result = NULL;

	PG_TRY();
	{
		/* the body arrives as UTF-8; the server may use another encoding */
		text = pg_any_to_server(data, (int) len, PG_UTF8);
		/* jsonb_in reads up to a NUL: an element is part of a body */
		if (text == data && data[len] != '\0')
			text = pnstrdup(data, len);
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
	if (text != NULL && text != data)
		pfree(text);
	return result;
}

Jsonb *
mx_json_parse(const char *data, size_t len, char **why)
{
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
	return parse_checked(data, len, why);
}

Jsonb *
mx_json_parse_element(const char *text, int len, char **why)
{
	*why = NULL;
	return parse_checked(text, (size_t) len, why);
}

/* ---------- a list page split without parsing its documents ---------- */

/* Where a scan of the body is, and how deep it went. */
typedef struct SplitScan
{
	const char *p;
	const char *end;
	int			deepest;		/* nesting below the member being read */
} SplitScan;

static void
skip_space(SplitScan *sc)
{
	while (sc->p < sc->end &&
		   (*sc->p == ' ' || *sc->p == '\n' || *sc->p == '\r' || *sc->p == '\t'))
		sc->p++;
}

static bool
at(SplitScan *sc, char c)
{
	return sc->p < sc->end && *sc->p == c;
}

/*
 * Past the string that starts at sc->p, by memchr to each quote: one that
 * an odd run of backslashes precedes is escaped.  False when unterminated.
 */
static bool
skip_string(SplitScan *sc)
{
	const char *q = sc->p + 1;

	for (;;)
	{
		const char *b;

		q = memchr(q, '"', sc->end - q);
		if (q == NULL)
			return false;
		for (b = q; b[-1] == '\\'; b--)
			;
		q++;
		if ((q - 1 - b) % 2 == 0)
			break;
	}
	sc->p = q;
	return true;
}

/*
 * Past the value at sc->p, noting how deeply it nests.  Only its extent is
 * found here: whoever parses it checks it, and a value whose brackets do
 * not match is refused then.
 */
static bool
skip_value(SplitScan *sc)
{
	int			depth = 0;

	if (at(sc, '"'))
		return skip_string(sc);
	if (!at(sc, '{') && !at(sc, '['))
	{
		while (sc->p < sc->end && strchr(" \t\r\n,]}", *sc->p) == NULL)
			sc->p++;
		return true;
	}
	while (sc->p < sc->end)
	{
		switch (*sc->p)
		{
			case '"':
				if (!skip_string(sc))
					return false;
				continue;
			case '{':
			case '[':
				if (++depth > sc->deepest)
					sc->deepest = depth;
				if (depth > MX_JSON_MAX_DEPTH)
					return false;
				break;
			case '}':
			case ']':
				if (--depth == 0)
				{
					sc->p++;
					return true;
				}
				break;
		}
		sc->p++;
	}
	return false;
}

/*
 * The elements of the "results" array at sc->p, into page.  An element's
 * own text is parsed when it is read (mx_json_parse_element).
 */
static bool
split_results(SplitScan *sc, MxListPage *page)
{
	int			room = 64;

	page->doc_text = palloc(sizeof(char *) * room);
	page->doc_len = palloc(sizeof(int) * room);
	page->nresults = 0;
	sc->p++;
	skip_space(sc);
	if (at(sc, ']'))
	{
		sc->p++;
		return true;
	}
	for (;;)
	{
		const char *start = sc->p;

		if (!skip_value(sc) || sc->p == start)
			return false;
		if (page->nresults == room)
		{
			room *= 2;
			page->doc_text = repalloc(page->doc_text, sizeof(char *) * room);
			page->doc_len = repalloc(page->doc_len, sizeof(int) * room);
		}
		page->doc_text[page->nresults] = start;
		page->doc_len[page->nresults++] = (int) (sc->p - start);
		skip_space(sc);
		if (at(sc, ']'))
		{
			sc->p++;
			return true;
		}
		if (!at(sc, ','))
			return false;
		sc->p++;
		skip_space(sc);
	}
}

/*
 * A member of the body's object: "results" is split, any other value is
 * parsed (and "pagination" kept).  False for what only parsing the whole
 * body judges right: a key with escapes or control characters (it might
 * spell "results"), a member twice, "results" neither an array nor null.
 */
static bool
split_member(SplitScan *sc, MxListPage *page, bool *seen_results)
{
	const char *key = sc->p + 1;
	size_t		keylen;
	const char *value;
	const char *k;
	Jsonb	   *jb;
	char	   *why;

	if (!at(sc, '"') || !skip_string(sc))
		return false;
	keylen = sc->p - 1 - key;
	for (k = key; k < sc->p - 1; k++)
		if (*k == '\\' || (unsigned char) *k < 0x20)
			return false;
	skip_space(sc);
	if (!at(sc, ':'))
		return false;
	sc->p++;
	skip_space(sc);
	value = sc->p;
	if (keylen == 7 && memcmp(key, "results", 7) == 0)
	{
		if (*seen_results)
			return false;
		*seen_results = true;
		if (at(sc, '['))
		{
			bool		ok = split_results(sc, page);

			sc->deepest++;		/* the array around the documents */
			return ok;
		}
		if (sc->end - value < 4 || memcmp(value, "null", 4) != 0)
			return false;
	}
	if (!skip_value(sc) || sc->p == value)
		return false;
	jb = parse_checked(value, sc->p - value, &why);
	if (jb == NULL)
		return false;
	if (keylen == 10 && memcmp(key, "pagination", 10) == 0)
	{
		if (page->pagination != NULL)
			return false;
		page->pagination = palloc(sizeof(JsonbValue));
		if (!JsonbExtractScalar(&jb->root, page->pagination))
		{
			page->pagination->type = jbvBinary;
			page->pagination->val.binary.data = &jb->root;
			page->pagination->val.binary.len = VARSIZE(jb) - VARHDRSZ;
		}
	}
	return true;
}

/* mx_json_split_list_page, which leaves page empty when this fails */
static bool
split_body(const char *data, size_t len, MxListPage *page)
{
	SplitScan	sc = {data, data + len, 0};
	bool		seen_results = false;
	int			deepest = 0;

	if (len == 0 || !pg_verify_mbstr(PG_UTF8, data, (int) len, true))
		return false;
	skip_space(&sc);
	if (!at(&sc, '{'))
		return false;
	sc.p++;
	skip_space(&sc);
	if (at(&sc, '}'))
		sc.p++;
	else
	{
		for (;;)
		{
			sc.deepest = 0;
			if (!split_member(&sc, page, &seen_results))
				return false;
			deepest = Max(deepest, sc.deepest);
			skip_space(&sc);
			if (at(&sc, '}'))
			{
				sc.p++;
				break;
			}
			if (!at(&sc, ','))
				return false;
			sc.p++;
			skip_space(&sc);
		}
	}
	skip_space(&sc);
	/* the body's own object is one level more */
	return sc.p == sc.end && deepest + 1 <= MX_JSON_MAX_DEPTH;
}

/* ---------- an aggregate answer read without building jsonb ---------- */

/* room doubled, for arrays of a body of at most 1 GB */
static int
doubled(int room)
{
	if (room > INT_MAX / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("aggregate answer has too many members")));
	return Max(16, room * 2);
}

/* A new member of pool, which grows by doubling; obj counts it. */
static MxJsonMember *
new_member(MxJsonPool *pool, MxJsonObject *obj)
{
	if (pool->n == pool->room)
	{
		pool->room = doubled(pool->room);
		pool->members = pool->members == NULL
			? palloc(pool->room * sizeof(MxJsonMember))
			: repalloc_huge(pool->members, pool->room * sizeof(MxJsonMember));
	}
	obj->n++;
	return &pool->members[pool->n++];
}

/* A string without escapes or control characters, pointing into the text. */
static bool
scan_plain_string(SplitScan *sc, JsonbValue *v)
{
	const char *q;

	for (q = sc->p + 1; q < sc->end && *q != '"'; q++)
		if (*q == '\\' || (unsigned char) *q < 0x20)
			return false;
	if (q == sc->end)
		return false;
	v->type = jbvString;
	v->val.string.val = (char *) sc->p + 1;
	v->val.string.len = (int) (q - sc->p - 1);
	sc->p = q + 1;
	return true;
}

static bool
scan_literal(SplitScan *sc, const char *word, int len)
{
	if (sc->end - sc->p < len || memcmp(sc->p, word, len) != 0)
		return false;
	sc->p += len;
	return true;
}

static const char *
scan_digits(const char *p, const char *end)
{
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return p;
}

/*
 * Past the exponent of a number at p, if any: NULL when it is not JSON's
 * or has more than MX_JSON_FAST_EXPONENT_DIGITS digits.
 */
static const char *
scan_exponent(const char *p, const char *end)
{
	const char *digits;

	if (p == end || (*p != 'e' && *p != 'E'))
		return p;
	p++;
	if (p < end && (*p == '+' || *p == '-'))
		p++;
	digits = p;
	p = scan_digits(digits, end);
	return p == digits || p - digits > MX_JSON_FAST_EXPONENT_DIGITS ? NULL : p;
}

/* A number of JSON's grammar, as numeric_in reads it (as jsonb_in does). */
static bool
scan_number(SplitScan *sc, JsonbValue *v)
{
	const char *p = sc->p;
	char		text[MX_JSON_FAST_NUMBER_LEN + 1];

	if (p < sc->end && *p == '-')
		p++;
	if (p == sc->end || *p < '0' || *p > '9')
		return false;
	p = *p == '0' ? p + 1 : scan_digits(p, sc->end);
	if (p < sc->end && *p == '.')
	{
		const char *digits = p + 1;

		p = scan_digits(digits, sc->end);
		if (p == digits)
			return false;
	}
	p = scan_exponent(p, sc->end);
	if (p == NULL || p - sc->p > MX_JSON_FAST_NUMBER_LEN)
		return false;
	memcpy(text, sc->p, p - sc->p);
	text[p - sc->p] = '\0';
	v->type = jbvNumeric;
	v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
														 CStringGetDatum(text),
														 ObjectIdGetDatum(InvalidOid),
														 Int32GetDatum(-1)));
	sc->p = p;
	return true;
}

static bool
scan_scalar(SplitScan *sc, JsonbValue *v)
{
	if (at(sc, '"'))
		return scan_plain_string(sc, v);
	if (scan_literal(sc, "true", 4))
	{
		v->type = jbvBool;
		v->val.boolean = true;
		return true;
	}
	if (scan_literal(sc, "false", 5))
	{
		v->type = jbvBool;
		v->val.boolean = false;
		return true;
	}
	if (scan_literal(sc, "null", 4))
	{
		v->type = jbvNull;
		return true;
	}
	return scan_number(sc, v);
}

/* A member's key and the colon after it; *key its text. */
static bool
scan_key(SplitScan *sc, JsonbValue *key)
{
	if (!at(sc, '"') || !scan_plain_string(sc, key))
		return false;
	skip_space(sc);
	if (!at(sc, ':'))
		return false;
	sc->p++;
	skip_space(sc);
	return true;
}

/*
 * Past the ',' or the closing bracket after a member or an element: *done
 * when it was the bracket.
 */
static bool
scan_next(SplitScan *sc, char close, bool *done)
{
	skip_space(sc);
	*done = at(sc, close);
	if (!*done && !at(sc, ','))
		return false;
	sc->p++;
	skip_space(sc);
	return true;
}

/* Past an opening bracket; *done when the object or array is empty. */
static bool
scan_open(SplitScan *sc, char open, char close, bool *done)
{
	if (!at(sc, open))
		return false;
	sc->p++;
	skip_space(sc);
	*done = at(sc, close);
	if (*done)
		sc->p++;
	return true;
}

static bool
is_key(JsonbValue *key, const char *word)
{
	return key->val.string.len == (int) strlen(word) &&
		memcmp(key->val.string.val, word, key->val.string.len) == 0;
}

/* What reads the value of one member of an object, after its key. */
typedef bool (*MemberScan) (SplitScan *sc, JsonbValue *key, void *arg);

/* The answer a member goes to, and the object or result it is in. */
typedef struct ScanTarget
{
	MxAggAnswer *answer;
	void	   *into;
} ScanTarget;

/* The object at sc->p, each member read by scan. */
static bool
scan_object(SplitScan *sc, MemberScan scan, void *arg)
{
	bool		done;

	if (!scan_open(sc, '{', '}', &done))
		return false;
	while (!done)
	{
		JsonbValue	key;

		if (!scan_key(sc, &key) || !scan(sc, &key, arg) ||
			!scan_next(sc, '}', &done))
			return false;
	}
	return true;
}

/* A member of a group or metrics: a scalar, kept. */
static bool
scalar_member(SplitScan *sc, JsonbValue *key, void *arg)
{
	ScanTarget *t = arg;
	MxJsonMember *m = new_member(&t->answer->pool, t->into);

	m->key = key->val.string.val;
	m->keylen = key->val.string.len;
	return scan_scalar(sc, &m->value);
}

/* An object of scalars (a result's "group" or "metrics") into obj. */
static bool
scan_scalars(SplitScan *sc, MxAggAnswer *a, MxJsonObject *obj)
{
	ScanTarget	t = {a, obj};

	obj->first = a->pool.n;
	obj->n = 0;
	return scan_object(sc, scalar_member, &t);
}

/* A member of a result: "group" or "metrics", each once, nothing else. */
static bool
result_member(SplitScan *sc, JsonbValue *key, void *arg)
{
	ScanTarget *t = arg;
	MxAggResult *r = t->into;
	MxJsonObject *obj = is_key(key, "group") ? &r->group
		: is_key(key, "metrics") ? &r->metrics : NULL;

	return obj != NULL && obj->n < 0 && scan_scalars(sc, t->answer, obj);
}

static bool
scan_result(SplitScan *sc, MxAggAnswer *a, MxAggResult *r)
{
	ScanTarget	t = {a, r};

	r->object = true;
	r->group.n = r->metrics.n = -1;
	r->group.first = r->metrics.first = 0;
	return scan_object(sc, result_member, &t);
}

/* The "results" array at sc->p. */
static bool
scan_results(SplitScan *sc, MxAggAnswer *a)
{
	int			room = 64;
	bool		done;

	a->results = palloc(room * sizeof(MxAggResult));
	a->nresults = 0;
	if (!scan_open(sc, '[', ']', &done))
		return false;
	while (!done)
	{
		if (a->nresults == room)
		{
			room = doubled(room);
			a->results = repalloc_huge(a->results, room * sizeof(MxAggResult));
		}
		if (!scan_result(sc, a, &a->results[a->nresults++]) ||
			!scan_next(sc, ']', &done))
			return false;
	}
	return true;
}

/*
 * A member of the body's object: "results" read, a scalar kept, anything
 * else checked by parsing it (as a list page's members are) and kept as
 * a nested value.
 */
static bool
top_member(SplitScan *sc, JsonbValue *key, void *arg)
{
	MxAggAnswer *a = arg;
	MxJsonMember *m;
	const char *value;
	char	   *why;

	if (is_key(key, "results"))
		return a->nresults == MX_AGG_RESULTS_ABSENT && scan_results(sc, a);
	m = new_member(&a->top_pool, &a->top);
	m->key = key->val.string.val;
	m->keylen = key->val.string.len;
	value = sc->p;
	if (!at(sc, '{') && !at(sc, '['))
		return scan_scalar(sc, &m->value);
	sc->deepest = 0;
	m->value.type = jbvBinary;
	m->value.val.binary.data = NULL;
	/* the body's own object is one level more */
	return skip_value(sc) && sc->deepest + 1 <= MX_JSON_MAX_DEPTH &&
		parse_checked(value, sc->p - value, &why) != NULL;
}

static void
fix_object(MxJsonPool *pool, MxJsonObject *obj)
{
	obj->members = obj->n > 0 ? pool->members + obj->first : NULL;
}

/* Point each object at its members, now that the pool is whole. */
static void
fix_members(MxAggAnswer *a)
{
	int			i;

	fix_object(&a->top_pool, &a->top);
	for (i = 0; i < a->nresults; i++)
	{
		fix_object(&a->pool, &a->results[i].group);
		fix_object(&a->pool, &a->results[i].metrics);
	}
}

/* mx_json_read_aggregate, on a copy of the text it may point into */
static bool
scan_aggregate(SplitScan *sc, MxAggAnswer *a)
{
	if (!scan_object(sc, top_member, a))
		return false;
	skip_space(sc);
	return sc->p == sc->end;
}

/*
 * The answer's text, pools and numbers go in a context of their own,
 * deleted when the answer is not of the usual shape, so that the whole
 * parse does not come on top of them.
 */
bool
mx_json_read_aggregate(const char *data, size_t len, MxAggAnswer *a)
{
	MemoryContext cxt;
	MemoryContext old;
	char	   *text;
	SplitScan	sc;
	bool		ok;

	memset(a, 0, sizeof(MxAggAnswer));
	a->nresults = MX_AGG_RESULTS_ABSENT;
	if (len == 0 || GetDatabaseEncoding() != PG_UTF8 ||
		!pg_verify_mbstr(PG_UTF8, data, (int) len, true))
		return false;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "mixpeek aggregate answer",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	text = palloc_extended(len + 1, MCXT_ALLOC_HUGE);
	memcpy(text, data, len);
	text[len] = '\0';
	sc.p = text;
	sc.end = text + len;
	sc.deepest = 0;
	skip_space(&sc);
	ok = scan_aggregate(&sc, a);
	MemoryContextSwitchTo(old);
	if (!ok)
	{
		MemoryContextDelete(cxt);
		memset(a, 0, sizeof(MxAggAnswer));
		return false;
	}
	fix_members(a);
	return true;
}

/* The members of object container c, into pool as obj. */
static void
add_members(MxJsonPool *pool, JsonbContainer *c, MxJsonObject *obj)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;
	JsonbIteratorToken tok;

	obj->first = pool->n;
	obj->n = 0;
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		MxJsonMember *m;

		if (tok != WJB_KEY)
			continue;
		m = new_member(pool, obj);
		m->key = v.val.string.val;
		m->keylen = v.val.string.len;
		(void) JsonbIteratorNext(&it, &m->value, true);
	}
}

/* The members of v into pool as obj, when v is an object. */
static void
add_object(MxJsonPool *pool, JsonbValue *v, MxJsonObject *obj)
{
	obj->n = -1;
	obj->first = 0;
	if (v != NULL && v->type == jbvBinary &&
		JsonContainerIsObject(v->val.binary.data))
		add_members(pool, v->val.binary.data, obj);
}

void
mx_json_aggregate_whole(Jsonb *body, MxAggAnswer *a)
{
	JsonbValue *results = mx_json_get(&body->root, "results");
	int			i;

	memset(a, 0, sizeof(MxAggAnswer));
	add_members(&a->top_pool, &body->root, &a->top);
	a->nresults = results == NULL || results->type != jbvBinary
		? MX_AGG_RESULTS_ABSENT
		: !JsonContainerIsArray(results->val.binary.data)
		? MX_AGG_RESULTS_NOT_ARRAY
		: (int) JsonContainerSize(results->val.binary.data);
	if (a->nresults > 0)
		a->results = palloc_extended(a->nresults * sizeof(MxAggResult),
									 MCXT_ALLOC_HUGE);
	for (i = 0; i < a->nresults; i++)
	{
		JsonbValue *r = getIthJsonbValueFromContainer(results->val.binary.data, i);
		JsonbContainer *c = r->type == jbvBinary ? r->val.binary.data : NULL;

		a->results[i].object = c != NULL && JsonContainerIsObject(c);
		add_object(&a->pool, a->results[i].object ? mx_json_get(c, "group") : NULL,
				   &a->results[i].group);
		add_object(&a->pool, a->results[i].object ? mx_json_get(c, "metrics") : NULL,
				   &a->results[i].metrics);
	}
	fix_members(a);
}

/* A linear search: groups and metrics hold a few members each. */
JsonbValue *
mx_json_member(MxJsonObject *obj, const char *key)
{
	int			len = strlen(key);
	int			i;

	for (i = obj->n - 1; i >= 0; i--)
		if (obj->members[i].keylen == len &&
			memcmp(obj->members[i].key, key, len) == 0)
			return &obj->members[i].value;
	return NULL;
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

bool
mx_json_split_list_page(const char *data, size_t len, MxListPage *page)
{
	memset(page, 0, sizeof(MxListPage));
	if (split_body(data, len, page))
		return true;
	/* what a member read before the failure set is not the body's */
	memset(page, 0, sizeof(MxListPage));
	return false;
}
