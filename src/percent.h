/*-------------------------------------------------------------------------
 *
 * percent.h
 *		Percent-encoding of one URL path segment, in plain C.
 *
 * No PostgreSQL here, so that test/fuzz/ can exercise it on its own;
 * api.c wraps it in palloc.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_PERCENT_H
#define MIXPEEK_PERCENT_H

#include <stddef.h>

/* Room mx_percent_encode_segment() needs for len input bytes, NUL included. */
#define MX_PERCENT_ENCODED_SIZE(len) (3 * (size_t) (len) + 1)

/*
 * Encode src[0..len) into dst (at least MX_PERCENT_ENCODED_SIZE(len)
 * bytes): RFC 3986 unreserved characters are kept, every other byte
 * becomes %XX.  A segment made of dots only has its dots encoded too, as
 * "." and ".." would be taken for relative path steps.  Returns the
 * length written, not counting the terminating NUL.
 */
extern size_t mx_percent_encode_segment(const char *src, size_t len, char *dst);

#endif							/* MIXPEEK_PERCENT_H */
