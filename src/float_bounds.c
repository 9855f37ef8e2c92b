/*-------------------------------------------------------------------------
 *
 * float_bounds.c
 *		The bounds that carry a double precision comparison to the API, in
 *		plain C.
 *
 * PostgreSQL compares a document's number as the double it rounds to, the
 * API as the decimal it is.  So "x = d" is sent as "below < x < above" with
 * d's neighbours: 17 significant digits make each bound read back as the
 * neighbour exactly, and put it far closer to the neighbour than to the
 * midpoint between it and d, so no decimal that rounds to d is cut off.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>

#include "float_bounds.h"

static void
bound_text(double neighbour, char *out)
{
	if (isfinite(neighbour))
		snprintf(out, MX_DOUBLE_TEXT_SIZE, "%.17g", neighbour);
	else
		out[0] = '\0';
}

void
mx_double_neighbours(double d, char *below, char *above)
{
	bound_text(nextafter(d, -INFINITY), below);
	bound_text(nextafter(d, INFINITY), above);
}
