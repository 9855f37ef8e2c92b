/*-------------------------------------------------------------------------
 *
 * retry_after.c
 *		Reading response headers (Retry-After, X-RateLimit-*), in plain C.
 *
 * The header comes from the server, so anything may be in it: no length is
 * trusted, numbers are clamped before they are scaled (a far-off date must
 * not overflow into a negative wait), and the comparison of the header name
 * is ASCII-only, whatever the backend's locale.
 *
 *-------------------------------------------------------------------------
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "retry_after.h"

const char *const mx_rate_limit_headers[MX_RATE_LIMIT_NHEADERS] = {
	"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
	"x-ratelimit-window"
};

static char
ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char) (c + ('a' - 'A')) : c;
}

bool
mx_header_value(const char *line, size_t n, const char *name,
				char *dst, size_t dstsize)
{
	size_t		namelen = strlen(name);
	size_t		i;
	const char *v;
	const char *end;
	size_t		vlen;

	if (n < namelen + 1)
		return false;
	for (i = 0; i < namelen; i++)
		if (ascii_lower(line[i]) != name[i])
			return false;
	if (line[namelen] != ':')
		return false;
	namelen++;
	v = line + namelen;
	end = line + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
					   end[-1] == ' ' || end[-1] == '\t'))
		end--;
	vlen = (size_t) (end - v);
	if (vlen > dstsize - 1)
		vlen = dstsize - 1;
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
	return true;
}

bool
mx_retry_after_header(const char *line, size_t n, char *dst, size_t dstsize)
{
	return mx_header_value(line, n, "retry-after", dst, dstsize);
}

long
mx_retry_after_ms(const char *value, time_t now, long cap_ms)
{
	const char *v = value;
	time_t		when;

	while (*v == ' ' || *v == '\t')
		v++;
	if (*v == '\0' || *v == '\r' || *v == '\n')
		return -1;
	if (*v >= '0' && *v <= '9')
	{
		/* delay-seconds; strtol saturates at LONG_MAX on overflow */
		long		secs = strtol(v, NULL, 10);

		return (secs >= cap_ms / 1000) ? cap_ms : secs * 1000;
	}
	when = curl_getdate(v, NULL);
	if (when == -1)
		return -1;
	if (when <= now)
		return 0;
	/* compare in seconds first: (when - now) * 1000 may not fit */
	if (when - now >= (time_t) (cap_ms / 1000))
		return cap_ms;
	return (long) (when - now) * 1000;
}
