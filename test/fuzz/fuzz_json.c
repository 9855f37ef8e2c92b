/*
 * libFuzzer harness for the checks src/json.c makes before a response body
 * reaches jsonb_in.
 *
 * 1. mx_json_nesting_depth() (src/json_depth.c) against a strict reference
 *    JSON parser written here, which stops at the first error as
 *    PostgreSQL's parser does: the scan never reports less depth than the
 *    parser reaches on the way (else a body could get past the pre-check
 *    and hit the stack depth limit inside jsonb_in), it equals the depth of
 *    every complete JSON text, and with a limit it stops at limit + 1.
 * 2. The UTF-8 check json.c makes, pg_verify_mbstr(PG_UTF8, ..., noError),
 *    is PostgreSQL's per-encoding verifier (src/common/wchar.c, linked here
 *    from libpgcommon as pg_encoding_verifymbstr): it must accept exactly
 *    RFC 3629 UTF-8 without NUL bytes, checked against a validator written
 *    here.  (json.c relies on it for both.)
 */
#include "postgres_fe.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mb/pg_wchar.h"

#include "json_depth.h"

#define CHECK(cond) \
	do { if (!(cond)) { fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); abort(); } } while (0)

/* ---------- reference parser: RFC 8259, stops at the first error ---------- */

typedef struct Parser
{
	const unsigned char *s;
	size_t		len;
	size_t		pos;
	int			depth;
	int			deepest;
} Parser;

static int	parse_value(Parser *p);

static void
skip_ws(Parser *p)
{
	while (p->pos < p->len &&
		   (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
			p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static int
is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int
parse_string(Parser *p)
{
	p->pos++;					/* the opening quote */
	while (p->pos < p->len)
	{
		unsigned char c = p->s[p->pos++];

		if (c == '"')
			return 1;
		if (c == '\\')
		{
			if (p->pos >= p->len)
				return 0;
			c = p->s[p->pos++];
			if (c == 'u')
			{
				int			i;

				for (i = 0; i < 4; i++)
					if (p->pos >= p->len || !is_hex(p->s[p->pos++]))
						return 0;
			}
			else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0')
				return 0;
		}
		else if (c < 0x20)
			return 0;
	}
	return 0;
}

static int
digits(Parser *p)
{
	size_t		start = p->pos;

	while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
		p->pos++;
	return p->pos > start;
}

static int
parse_number(Parser *p)
{
	if (p->s[p->pos] == '-')
		p->pos++;
	if (p->pos < p->len && p->s[p->pos] == '0')
		p->pos++;
	else if (!digits(p))
		return 0;
	if (p->pos < p->len && p->s[p->pos] == '.')
	{
		p->pos++;
		if (!digits(p))
			return 0;
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
	{
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (!digits(p))
			return 0;
	}
	return 1;
}

static int
parse_literal(Parser *p, const char *word)
{
	size_t		n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return 0;
	p->pos += n;
	return 1;
}

static int
open_container(Parser *p)
{
	p->pos++;
	if (++p->depth > p->deepest)
		p->deepest = p->depth;
	skip_ws(p);
	return p->pos < p->len;
}

static int
parse_array(Parser *p)
{
	if (!open_container(p))
		return 0;
	if (p->s[p->pos] != ']')
	{
		for (;;)
		{
			if (!parse_value(p))
				return 0;
			skip_ws(p);
			if (p->pos >= p->len)
				return 0;
			if (p->s[p->pos] == ']')
				break;
			if (p->s[p->pos] != ',')
				return 0;
			p->pos++;
		}
	}
	p->pos++;
	p->depth--;
	return 1;
}

static int
parse_object(Parser *p)
{
	if (!open_container(p))
		return 0;
	if (p->s[p->pos] != '}')
	{
		for (;;)
		{
			skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != '"' || !parse_string(p))
				return 0;
			skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
				return 0;
			p->pos++;
			if (!parse_value(p))
				return 0;
			skip_ws(p);
			if (p->pos >= p->len)
				return 0;
			if (p->s[p->pos] == '}')
				break;
			if (p->s[p->pos] != ',')
				return 0;
			p->pos++;
		}
	}
	p->pos++;
	p->depth--;
	return 1;
}

static int
parse_value(Parser *p)
{
	skip_ws(p);
	if (p->pos >= p->len)
		return 0;
	switch (p->s[p->pos])
	{
		case '{':
			return parse_object(p);
		case '[':
			return parse_array(p);
		case '"':
			return parse_string(p);
		case 't':
			return parse_literal(p, "true");
		case 'f':
			return parse_literal(p, "false");
		case 'n':
			return parse_literal(p, "null");
		default:
			if (p->s[p->pos] == '-' || (p->s[p->pos] >= '0' && p->s[p->pos] <= '9'))
				return parse_number(p);
			return 0;
	}
}

/* ---------- reference UTF-8 validator: RFC 3629, NUL refused ---------- */

static int
utf8_valid(const unsigned char *s, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = s[i];
		unsigned char lo = 0x80,
					hi = 0xBF;
		int			more;
		int			k;

		if (c == 0)
			return 0;
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			more = 1;
		else if (c >= 0xE0 && c <= 0xEF)
		{
			more = 2;
			if (c == 0xE0)
				lo = 0xA0;		/* no overlong forms */
			if (c == 0xED)
				hi = 0x9F;		/* no surrogates */
		}
		else if (c >= 0xF0 && c <= 0xF4)
		{
			more = 3;
			if (c == 0xF0)
				lo = 0x90;
			if (c == 0xF4)
				hi = 0x8F;		/* nothing above U+10FFFF */
		}
		else
			return 0;
		if (len - i <= (size_t) more)
			return 0;
		for (k = 1; k <= more; k++)
		{
			unsigned char cc = s[i + k];

			if (k == 1 ? (cc < lo || cc > hi) : (cc < 0x80 || cc > 0xBF))
				return 0;
		}
		i += more + 1;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int limits[] = {0, 1, 2, 7, 512};
	Parser		p = {data, size, 0, 0, 0};
	int			complete;
	int			full;
	size_t		i;

	/* the scan without an effective limit */
	full = mx_json_nesting_depth((const char *) data, size, INT32_MAX - 1);
	CHECK(full >= 0);

	complete = parse_value(&p);
	if (complete)
	{
		skip_ws(&p);
		complete = (p.pos == p.len);
	}
	CHECK(full >= p.deepest);
	if (complete)
		CHECK(full == p.deepest);

	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
	{
		int			got = mx_json_nesting_depth((const char *) data, size, limits[i]);

		if (full > limits[i])
			CHECK(got == limits[i] + 1);
		else
			CHECK(got == full);
	}

	if (size < INT32_MAX)
	{
		int			pg = pg_encoding_verifymbstr(PG_UTF8, (const char *) data, (int) size);

		CHECK((pg == (int) size) == utf8_valid(data, size));
	}
	return 0;
}
