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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

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
