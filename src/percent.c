/*-------------------------------------------------------------------------
 *
 * percent.c
 *		Percent-encoding of one URL path segment, in plain C.
 *
 * Collection names and document ids are user input placed in a URL path;
 * encoding every byte outside the unreserved set means no id can add a
 * path step, a query or a fragment, and so cannot reach another endpoint.
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>

#include "percent.h"

size_t
mx_percent_encode_segment(const char *src, size_t len, char *dst)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *) src;
	const unsigned char *end = p + len;
	bool		only_dots = true;
	char	   *out = dst;

	for (; p < end; p++)
		if (*p != '.')
		{
			only_dots = false;
			break;
		}
	for (p = (const unsigned char *) src; p < end; p++)
	{
		bool		keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '~' ||
			(*p == '.' && !only_dots);

		if (keep)
			*out++ = (char) *p;
		else
		{
			*out++ = '%';
			*out++ = hex[*p >> 4];
			*out++ = hex[*p & 15];
		}
	}
	*out = '\0';
	return (size_t) (out - dst);
}
