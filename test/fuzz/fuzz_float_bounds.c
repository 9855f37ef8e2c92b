/*
 * libFuzzer harness for src/float_bounds.c: the bounds deparse.c sends for
 * a comparison on a double precision column ("x = d" becomes
 * "below < x < above").
 *
 * For d taken from the input twice (its first 8 bytes as a double's bits,
 * and the whole input as text through strtod, as deparse.c reads a value),
 * checked for each side:
 *  - a bound is "" exactly when the neighbour is not finite;
 *  - otherwise it is a JSON number (strict RFC 8259 grammar: no "inf",
 *    "nan" or hex), and reads back as exactly the neighbour;
 *  - it lies strictly beyond the midpoint between d and the neighbour, so
 *    no decimal that rounds to d is excluded (midpoints are exact in long
 *    double, and rounding the bound to long double cannot move it across);
 *  - d itself lies strictly between the bounds.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "float_bounds.h"

#define CHECK(cond) \
	do { if (!(cond)) { fprintf(stderr, "check failed: %s (line %d) for d = %.17g\n", #cond, __LINE__, d); abort(); } } while (0)

static int
json_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return 0;
	if (*s == '.')
	{
		s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E')
	{
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

static void
check_side(double d, const char *text, double toward)
{
	double		n = nextafter(d, toward);
	long double mid = ((long double) d + (long double) n) / 2;
	long double b;

	if (!isfinite(n))
	{
		CHECK(text[0] == '\0');
		return;
	}
	CHECK(strlen(text) < MX_DOUBLE_TEXT_SIZE);
	CHECK(json_number(text));
	CHECK(strtod(text, NULL) == n);
	b = strtold(text, NULL);
	if (toward < 0)
	{
		CHECK(b < mid);
		CHECK(b < (long double) d);
	}
	else
	{
		CHECK(b > mid);
		CHECK(b > (long double) d);
	}
}

static void
check_double(double d)
{
	char		below[MX_DOUBLE_TEXT_SIZE];
	char		above[MX_DOUBLE_TEXT_SIZE];

	if (!isfinite(d))
		return;					/* deparse.c never sends those */
	memset(below, 'x', sizeof(below));
	memset(above, 'x', sizeof(above));
	mx_double_neighbours(d, below, above);
	CHECK(memchr(below, '\0', sizeof(below)) != NULL);
	CHECK(memchr(above, '\0', sizeof(above)) != NULL);
	check_side(d, below, -INFINITY);
	check_side(d, above, INFINITY);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *text;

	if (size >= sizeof(double))
	{
		double		d;

		memcpy(&d, data, sizeof(d));
		check_double(d);
	}
	text = malloc(size + 1);
	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	check_double(strtod(text, NULL));
	free(text);
	return 0;
}
