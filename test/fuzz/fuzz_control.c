/*
 * libFuzzer harness for src/control.c: error replies and the fields of
 * collection lists, read with jansson.
 *
 * Checked for every input:
 *  - mx_control_read_error() returns is_envelope and leaves everything
 *    empty for a body that is not an envelope;
 *  - every string it keeps is valid UTF-8; all but type and message (the
 *    API's own) are without control characters and within their bound
 *    (MX_ERROR_DETAIL_BYTES), and at most MX_ERROR_DETAILS_MAX lines are
 *    kept, the rest counted;
 *  - reading the same body twice gives the same result (no state kept);
 *  - mx_control_error_free() releases everything (LeakSanitizer);
 *  - mx_control_read_schemas(): when it reads the body, every field name
 *    is there, valid UTF-8, and none comes twice in one collection; when
 *    it does not, nothing is left; mx_control_schemas_free() releases all.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

#define CHECK(cond) \
	do { if (!(cond)) { fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); abort(); } } while (0)

/* RFC 3629 UTF-8; with controls false, no C0 controls or DEL. */
static int
valid_utf8(const char *s, int controls)
{
	const unsigned char *p = (const unsigned char *) s;

	while (*p)
	{
		int			n;
		unsigned int cp;
		int			i;

		if (*p < 0x80)
		{
			if (!controls && (*p < 0x20 || *p == 0x7f))
				return 0;
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0)
			n = 2, cp = *p & 0x1f;
		else if ((*p & 0xf0) == 0xe0)
			n = 3, cp = *p & 0x0f;
		else if ((*p & 0xf8) == 0xf0)
			n = 4, cp = *p & 0x07;
		else
			return 0;
		for (i = 1; i < n; i++)
		{
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
			(n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
			(cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += n;
	}
	return 1;
}

static void
check_string(const char *s, size_t max)
{
	if (s == NULL)
		return;
	CHECK(strlen(s) <= max);
	CHECK(valid_utf8(s, 0));
}

static int
same_string(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void
check_schemas(const uint8_t *data, size_t size)
{
	MxControlSchemas s;
	int			i;
	int			j;
	int			k;

	if (!mx_control_read_schemas((const char *) data, size, &s))
	{
		CHECK(s.nresults == 0 && s.nfields == NULL && s.fields == NULL);
		return;
	}
	CHECK(s.nresults >= 0);
	for (i = 0; i < s.nresults; i++)
	{
		CHECK(s.nfields[i] >= 0);
		CHECK(s.nfields[i] == 0 || s.fields[i] != NULL);
		for (j = 0; j < s.nfields[i]; j++)
		{
			CHECK(s.fields[i][j] != NULL && valid_utf8(s.fields[i][j], 1));
			/* quadratic, but the input is at most a few kB */
			for (k = 0; k < j; k++)
				CHECK(strcmp(s.fields[i][j], s.fields[i][k]) != 0);
		}
	}
	mx_control_schemas_free(&s);
	CHECK(s.nresults == 0 && s.fields == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MxControlError a;
	MxControlError b;
	int			ra;
	int			rb;
	int			i;

	ra = mx_control_read_error((const char *) data, size, &a);
	CHECK(ra == a.is_envelope);
	if (!ra)
		CHECK(a.type == NULL && a.message == NULL && a.resource == NULL &&
			  a.field == NULL && a.operator == NULL && a.ndetails == 0 &&
			  a.more_details == 0 && !a.is_mixpeek);
	CHECK(a.type == NULL || valid_utf8(a.type, 1));
	CHECK(a.message == NULL || valid_utf8(a.message, 1));
	check_string(a.resource, MX_ERROR_DETAIL_BYTES);
	check_string(a.field, MX_ERROR_DETAIL_BYTES);
	check_string(a.operator, MX_ERROR_DETAIL_BYTES);
	CHECK(a.ndetails >= 0 && a.ndetails <= MX_ERROR_DETAILS_MAX);
	CHECK(a.more_details >= 0);
	CHECK(a.more_details == 0 || a.ndetails == MX_ERROR_DETAILS_MAX);
	for (i = 0; i < a.ndetails; i++)
	{
		CHECK(a.details[i] != NULL);
		check_string(a.details[i], MX_ERROR_DETAIL_BYTES);
	}

	rb = mx_control_read_error((const char *) data, size, &b);
	CHECK(ra == rb && a.is_mixpeek == b.is_mixpeek &&
		  a.has_document_id == b.has_document_id &&
		  a.ndetails == b.ndetails && a.more_details == b.more_details);
	CHECK(same_string(a.type, b.type) && same_string(a.message, b.message) &&
		  same_string(a.resource, b.resource));
	for (i = 0; i < a.ndetails; i++)
		CHECK(strcmp(a.details[i], b.details[i]) == 0);
	mx_control_error_free(&a);
	mx_control_error_free(&b);
	CHECK(a.type == NULL && a.ndetails == 0);
	check_schemas(data, size);
	return 0;
}
