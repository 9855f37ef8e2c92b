/*-------------------------------------------------------------------------
 *
 * retry_after.h
 *		Reading response headers (Retry-After, X-RateLimit-*), in plain C.
 *
 * No PostgreSQL here, so that test/fuzz/ can exercise it on its own;
 * http.c calls it from its header callback and its back-off.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_RETRY_AFTER_H
#define MIXPEEK_RETRY_AFTER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/*
 * If line (n bytes, not NUL-terminated, as libcurl hands over header
 * lines) is a Retry-After header, store its value in dst (dstsize > 0
 * bytes, always NUL-terminated; leading blanks and the line end dropped,
 * cut to fit) and return true.  Otherwise leave dst alone, return false.
 */
extern bool mx_retry_after_header(const char *line, size_t n,
								  char *dst, size_t dstsize);

/*
 * The same for any header: name is its lower-case name without the colon.
 */
extern bool mx_header_value(const char *line, size_t n, const char *name,
							char *dst, size_t dstsize);

/*
 * The rate-limit headers Mixpeek sends (lower case), in the order of the
 * rate_limit array of a request (http.h).
 */
#define MX_RATE_LIMIT_NHEADERS 4
extern const char *const mx_rate_limit_headers[MX_RATE_LIMIT_NHEADERS];

/*
 * Milliseconds to wait that a Retry-After value asks for: delay-seconds,
 * or an HTTP-date taken relative to now; never more than cap_ms, never
 * negative.  -1 when the value is empty or unreadable, so that the caller
 * falls back to its own back-off rather than retrying at once.
 */
extern long mx_retry_after_ms(const char *value, time_t now, long cap_ms);

#endif							/* MIXPEEK_RETRY_AFTER_H */
