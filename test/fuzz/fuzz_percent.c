/*
 * libFuzzer harness for src/percent.c: percent-encoding of a URL path
 * segment (collection names and document ids).
 *
 * Checked for every input:
 *  - the output fits MX_PERCENT_ENCODED_SIZE and the returned length is right
 *    (AddressSanitizer watches an exactly-sized output buffer);
 *  - it holds only unreserved characters and well-formed %XX escapes, so it
 *    can carry no '/', '?', '#' or other delimiter into the URL;
 *  - it is never "." or "..", which a server would take as a path step;
 *  - decoding it gives the input back, byte for byte;
 *  - outside the all-dots case it equals libcurl's own curl_easy_escape().
 */
#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "percent.h"

#define CHECK(cond) \
	do { if (!(cond)) { fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); abort(); } } while (0)

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;					/* lower case is not what we emit */
}

static int
unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '_' || c == '~' || c == '.';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t		room = MX_PERCENT_ENCODED_SIZE(size);
	char	   *out = malloc(room);
	unsigned char *decoded = malloc(size + 1);
	size_t		n;
	size_t		i;
	size_t		d = 0;
	int			only_dots = 1;

	CHECK(out != NULL && decoded != NULL);
	n = mx_percent_encode_segment((const char *) data, size, out);
	CHECK(n < room);
	CHECK(out[n] == '\0');
	CHECK(strlen(out) == n);

	for (i = 0; i < size; i++)
		if (data[i] != '.')
			only_dots = 0;
	if (size > 0)
		CHECK(n > 0);
	CHECK(strcmp(out, ".") != 0 && strcmp(out, "..") != 0);

	for (i = 0; i < n;)
	{
		unsigned char c = (unsigned char) out[i];

		if (c == '%')
		{
			int			hi,
						lo;

			CHECK(i + 2 < n + 1);
			hi = hexval(out[i + 1]);
			lo = hexval(out[i + 2]);
			CHECK(hi >= 0 && lo >= 0);
			decoded[d++] = (unsigned char) (hi * 16 + lo);
			i += 3;
		}
		else
		{
			CHECK(unreserved(c));
			/* a dot stays a dot only next to something else */
			CHECK(c != '.' || !only_dots);
			decoded[d++] = c;
			i++;
		}
	}
	CHECK(d == size);
	CHECK(size == 0 || memcmp(decoded, data, size) == 0);

	if (!only_dots && size > 0 && size < (size_t) 1 << 30)
	{
		char	   *curl = curl_easy_escape(NULL, (const char *) data, (int) size);

		CHECK(curl != NULL);
		CHECK(strcmp(curl, out) == 0);
		curl_free(curl);
	}
	free(out);
	free(decoded);
	return 0;
}
