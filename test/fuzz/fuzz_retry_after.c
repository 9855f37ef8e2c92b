/*
 * libFuzzer harness for src/retry_after.c: the Retry-After header as a
 * server may send it (header line -> stored value -> milliseconds to wait).
 *
 * Checked for every input:
 *  - mx_retry_after_header() recognises exactly the lines whose name is
 *    "Retry-After" in any ASCII case, never writes past the value buffer
 *    (its size is taken from the input, 1 to 64 bytes, and the buffer is
 *    exactly that big for AddressSanitizer), and stores a trimmed copy of
 *    the value's start;
 *  - mx_retry_after_ms() returns -1 or a wait in [0, cap], for several
 *    "now"s, and agrees with an independent reading: delay-seconds are
 *    min(seconds, cap); a date is what libcurl's curl_getdate() makes of
 *    it, relative to now and clamped in wide arithmetic; unreadable is -1.
 * UndefinedBehaviorSanitizer catches any overflow on the way.
 */
#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retry_after.h"

#define CHECK(cond) \
	do { if (!(cond)) { fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); abort(); } } while (0)

#define CAP_MS 60000L

static int
is_retry_after_line(const uint8_t *line, size_t n)
{
	static const char name[] = "retry-after:";
	size_t		i;

	if (n < sizeof(name) - 1)
		return 0;
	for (i = 0; i < sizeof(name) - 1; i++)
	{
		int			c = line[i];

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != name[i])
			return 0;
	}
	return 1;
}

/* What the wait should be, computed another way. */
static long
expected_ms(const char *value, time_t now, long cap)
{
	const char *v = value;
	__int128	ms;
	time_t		when;

	while (*v == ' ' || *v == '\t')
		v++;
	if (*v == '\0' || *v == '\r' || *v == '\n')
		return -1;
	if (*v >= '0' && *v <= '9')
	{
		__int128	secs = 0;

		/* digits until the first non-digit, saturating well above the cap */
		while (*v >= '0' && *v <= '9')
		{
			secs = secs * 10 + (*v - '0');
			if (secs > (__int128) 1 << 80)
				secs = (__int128) 1 << 80;
			v++;
		}
		ms = secs * 1000;
		return ms > cap ? cap : (long) ms;
	}
	when = curl_getdate(v, NULL);
	if (when == -1)
		return -1;
	ms = ((__int128) when - (__int128) now) * 1000;
	if (ms < 0)
		return 0;
	/* the code under test clamps in whole seconds */
	if ((__int128) when - now >= cap / 1000)
		return cap;
	return (long) ms;
}

static void
check_value(const char *value)
{
	static const time_t nows[] = {0, 1700000000, 4102444800LL /* 2100 */ };
	size_t		i;

	for (i = 0; i < sizeof(nows) / sizeof(nows[0]); i++)
	{
		long		got = mx_retry_after_ms(value, nows[i], CAP_MS);
		long		want = expected_ms(value, nows[i], CAP_MS);

		CHECK(got == -1 || (got >= 0 && got <= CAP_MS));
		if (got != want)
		{
			fprintf(stderr, "value \"%s\" now %lld: got %ld, want %ld\n",
					value, (long long) nows[i], got, want);
			abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t		dstsize;
	char	   *dst;
	char	   *copy;
	int			is_line;
	int			got;

	if (size == 0)
		return 0;
	dstsize = 1 + data[0] % 64;
	data++;
	size--;

	/* the whole input as a header line */
	dst = malloc(dstsize);
	CHECK(dst != NULL);
	memset(dst, 'Z', dstsize);
	is_line = is_retry_after_line(data, size);
	got = mx_retry_after_header((const char *) data, size, dst, dstsize);
	CHECK(got == is_line);
	if (got)
	{
		size_t		len = strnlen(dst, dstsize);
		const uint8_t *v = data + 12;
		const uint8_t *end = data + size;

		CHECK(len < dstsize);
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		/* a prefix of the value (up to an embedded NUL or the cut) */
		CHECK((size_t) (end - v) >= len);
		CHECK(memcmp(dst, v, len) == 0);
		if (len > 0)
			CHECK(dst[0] != ' ' && dst[0] != '\t');
		if ((size_t) (end - v) > len && len < dstsize - 1 &&
			memchr(v, '\0', (size_t) (end - v)) == NULL)
		{
			/* not cut and no NUL inside: only trailing blanks / CRLF dropped */
			const uint8_t *p;

			for (p = v + len; p < end; p++)
				CHECK(*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n');
		}
		check_value(dst);
	}
	else
		CHECK(dst[0] == 'Z');	/* untouched */
	free(dst);

	/* the whole input as a value, as if from a header of any length */
	copy = malloc(size + 1);
	CHECK(copy != NULL);
	memcpy(copy, data, size);
	copy[size] = '\0';
	check_value(copy);
	free(copy);
	return 0;
}
